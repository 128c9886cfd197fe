"""What every command module shares: the consoles and the common options."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

# Long lines are not wrapped when piped: a script or a log reads one message per line.
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)

Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        help=(
            "The store's URL: sqlite:///FILE or postgresql://USER@HOST/DB. Default: "
            "$SOCIALCREDIT_DATABASE_URL, else sqlite:///socialcredit.db."
        ),
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON (for scripts).")]
