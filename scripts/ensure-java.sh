#!/usr/bin/env bash
# Make sure Spark 4 will find Java 17 or 21: use it if present, install it where
# the system allows (Debian/Ubuntu as root, or with password-less sudo), else
# stop with one line that says what to install.
# Prints nothing when the default java will do, or the JAVA_HOME to export when
# a suitable JDK exists beside another default (the Makefile exports it).
set -euo pipefail

java_major() {
  local java="$1"
  "$java" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\)\(\.\([0-9]*\)\)\{0,1\}.*/\1 \3/p' | head -1 |
    awk '{ print ($1 == 1 ? $2 : $1) }'
}

current_java() {
  if [[ -n "${JAVA_HOME:-}" ]]; then echo "$JAVA_HOME/bin/java"; else command -v java || true; fi
}

ok() {
  local java major
  java="$(current_java)"
  [[ -n "$java" && -x "$java" ]] || return 1
  major="$(java_major "$java")"
  [[ "$major" == "17" || "$major" == "21" ]]
}

if ok; then exit 0; fi

installed_home() {
  local home
  for home in /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/java-21-openjdk-* /usr/lib/jvm/temurin-17* /usr/lib/jvm/temurin-21*; do
    if [[ -x "$home/bin/java" ]]; then echo "$home"; return 0; fi
  done
  return 1
}

if home="$(installed_home)"; then echo "$home"; exit 0; fi

if command -v apt-get >/dev/null 2>&1; then
  if [[ "$(id -u)" == "0" ]]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
  if [[ "$SUDO" != "none" ]]; then
    echo "lakesight: installing openjdk-17-jre-headless for Spark 4 ..." >&2
    if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        $SUDO apt-get install -y -qq openjdk-17-jre-headless; } >/tmp/lakesight-apt.log 2>&1; then
      echo "lakesight: apt-get install openjdk-17-jre-headless failed (see /tmp/lakesight-apt.log)" >&2
      exit 1
    fi
    if ok; then exit 0; fi
    if home="$(installed_home)"; then echo "$home"; exit 0; fi
  fi
fi
found="$(current_java)"
echo "lakesight: Spark 4 needs Java 17 or 21${found:+ (found $("$found" -version 2>&1 | head -1))}; install openjdk-17-jre-headless (Debian/Ubuntu) or temurin-17, or set JAVA_HOME" >&2
exit 1
