#!/usr/bin/env bash
# Make sure Debian's chromium (at /usr/bin/chromium) and a Japanese font are installed for the browser tests
# (tests/test_map_page.py drives chromium with playwright's client; we never download a browser build). Installs them
# with apt-get when missing and we may; when they cannot be installed it says so and exits 0: the browser tests then
# skip with that reason.
set -uo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list 2>/dev/null | grep -qi -e ipagothic -e "noto sans cjk" || need+=(fonts-ipafont-gothic)
[ ${#need[@]} = 0 ] && exit 0
sudo_=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo_="sudo"; else
    echo "missing ${need[*]} and apt-get needs root: browser tests will skip" >&2; exit 0; fi
fi
echo "installing Debian's ${need[*]} for the browser tests ..." >&2
if ! { $sudo_ apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${need[@]}"; } >&2; then
  echo "could not install ${need[*]}: browser tests will skip" >&2
fi
exit 0
