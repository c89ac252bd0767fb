#!/usr/bin/env bash
# Make sure Debian's chromium is at /usr/bin/chromium for the browser tests (tests/test_map_page.py drives it with
# playwright's client; we never download a browser build). Installs it with apt-get when missing and we may; when it
# cannot be installed, says so and exits 0: the browser tests then skip with that reason.
set -uo pipefail
[ -x /usr/bin/chromium ] && exit 0
sudo_=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo_="sudo"; else
    echo "chromium is missing and apt-get needs root: browser tests will skip" >&2; exit 0; fi
fi
echo "installing Debian's chromium for the browser tests ..." >&2
if ! { $sudo_ apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq chromium; } >&2; then
  echo "could not install chromium: browser tests will skip" >&2
fi
exit 0
