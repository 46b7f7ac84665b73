# shellcheck shell=bash
# The browser the tests drive: Debian's chromium, launched by playwright-core from /usr/bin/chromium (never a browser
# playwright downloads). SOURCED by scripts/test-all.sh, so it never exits. Safe to source twice: it installs only
# what is missing, and needs root only for that.
#
#   source scripts/test-browser.sh
#
# Environment it reads: MLSHIP_CHROMIUM (use this executable instead, install nothing).

mlship_test_browser_setup() {
  if [ -n "${MLSHIP_CHROMIUM:-}" ]; then
    if [ -x "$MLSHIP_CHROMIUM" ]; then return 0; fi
    echo "test-browser: MLSHIP_CHROMIUM=$MLSHIP_CHROMIUM is not an executable" >&2
    return 1
  fi
  if [ -x /usr/bin/chromium ]; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    echo "test-browser: /usr/bin/chromium is missing; install it (apt-get install chromium) or set MLSHIP_CHROMIUM" >&2
    return 1
  fi
  echo "test-browser: installing chromium" >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || return 1
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >&2 || return 1
  [ -x /usr/bin/chromium ] || { echo "test-browser: chromium installed but /usr/bin/chromium is missing" >&2; return 1; }
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  mlship_test_browser_setup && echo "test-browser: $(/usr/bin/chromium --version 2>/dev/null || echo "$MLSHIP_CHROMIUM")"
else
  mlship_test_browser_setup || return 1
fi
