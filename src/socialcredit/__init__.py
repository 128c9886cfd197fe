"""socialcredit: a rule-of-law social credit registry."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("socialcredit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
