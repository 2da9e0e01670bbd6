#!/usr/bin/env bash
# The Airflow the tests start keeps its metadata in PostgreSQL, as deployed
# (tests/support/postgres.py starts a private server from these binaries). Use Debian's
# postgresql if present, install it where the system allows (Debian/Ubuntu as root, or
# with password-less sudo), else say in one line what to install. Never fails: without
# it the Airflow tests run on SQLite, and the backfill test skips, saying why.
set -uo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1; then exit 0; fi

if command -v apt-get >/dev/null 2>&1; then
  if [[ "$(id -u)" == "0" ]]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
  if [[ "$SUDO" != "none" ]]; then
    echo "lakesight: installing postgresql for the Airflow tests' metadata database ..." >&2
    if { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        $SUDO apt-get install -y -qq postgresql; } >/tmp/lakesight-apt-postgres.log 2>&1; then
      exit 0
    fi
    echo "lakesight: apt-get install postgresql failed (see /tmp/lakesight-apt-postgres.log); the Airflow tests will use SQLite" >&2
    exit 0
  fi
fi
echo "lakesight: the Airflow tests' metadata database wants PostgreSQL (Debian: apt-get install postgresql); they will use SQLite" >&2
exit 0
