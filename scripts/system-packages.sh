#!/usr/bin/env bash
# Debian packages the project needs beyond Python. For PDF reports (WeasyPrint):
#   fonts-noto-cjk       Noto Sans CJK: Chinese names and text (found through fontconfig)
#   libharfbuzz-subset0  HarfBuzz's font subsetter: WeasyPrint embeds only the glyphs used;
#                        without it WeasyPrint falls back to fontTools, 15 times slower on a
#                        CJK font, and warns that future versions require it.
# For FollowTheMoney (the public lists' FtM export): its dependency PyICU is built from source
# against ICU, so ICU's headers, pkg-config and a C++ compiler:
#   libicu-dev pkg-config g++
# With the argument `test`, also what the browser tests drive: Debian's Chromium and its driver
# (Playwright launches /usr/bin/chromium; its own browser downloads are not used). With `bench`,
# also the HTTP load generator wrk.
# Installs only what is missing; needs root (or sudo) when it installs.
set -euo pipefail

missing=()
case "${1:-}" in
    test)
        [ -x /usr/bin/chromium ] || missing+=(chromium)
        [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
        ;;
    bench)
        command -v wrk >/dev/null || missing+=(wrk)
        ;;
esac
# (grep reads all its input: with -q, the writer could die of SIGPIPE and fail the pipeline)
fc-list 2>/dev/null | grep "Noto Sans CJK SC" >/dev/null || missing+=(fonts-noto-cjk)
ldconfig -p 2>/dev/null | grep "libharfbuzz-subset.so.0" >/dev/null || missing+=(libharfbuzz-subset0)
pkg-config --exists icu-uc 2>/dev/null || missing+=(libicu-dev pkg-config)
command -v g++ >/dev/null || missing+=(g++)
# The Spark engine (the extra socialcredit[spark]) runs on a Java 17+ runtime.
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
[ "${java_major:-0}" -ge 17 ] || missing+=(openjdk-17-jre-headless)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing Debian packages: ${missing[*]}" >&2
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to install ${missing[*]}" >&2; exit 1; }
    as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { "${as_root[@]}" apt-get update -qq && \
         "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
