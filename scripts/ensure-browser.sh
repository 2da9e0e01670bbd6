#!/usr/bin/env bash
# The explorer's browser tests drive Debian's chromium through its chromedriver: use them
# if present, install them where the system allows (Debian/Ubuntu as root, or with
# password-less sudo), else say in one line what to install. Never fails: without a
# browser the browser tests skip, saying why.
set -uo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then exit 0; fi

if command -v apt-get >/dev/null 2>&1; then
  if [[ "$(id -u)" == "0" ]]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
  if [[ "$SUDO" != "none" ]]; then
    echo "lakesight: installing chromium and chromium-driver for the explorer's browser tests ..." >&2
    if { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        $SUDO apt-get install -y -qq chromium chromium-driver; } >/tmp/lakesight-apt-browser.log 2>&1; then
      exit 0
    fi
    echo "lakesight: apt-get install chromium chromium-driver failed (see /tmp/lakesight-apt-browser.log); the browser tests will skip" >&2
    exit 0
  fi
fi
echo "lakesight: the explorer's browser tests need chromium and chromedriver (Debian: apt-get install chromium chromium-driver); they will skip" >&2
exit 0
