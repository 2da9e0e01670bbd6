# lakesight: the two commands a fresh machine needs are `make demo` and `make test`.
# Both create .venv and install everything (including Java, where allowed) first.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The strict editable install's link tree lives in build/ (next to these two files).
MODULES := build/lakesight-modules.txt
LINKS := build/lakesight-links.stamp
# Python >= 3.11: the first of these that exists.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
            command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            && { command -v $$p; break; }; done)
# Airflow and Spark keep their state under var/ (never in ~/airflow).
export AIRFLOW_HOME ?= $(CURDIR)/var/airflow
export AIRFLOW__CORE__DAGS_FOLDER ?= $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER ?= $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False

.PHONY: setup java browser postgres demo test lint format constraints clean help FORCE

help:
	@echo "make demo   run image_features end to end on embedded defaults (local Spark, var/lake)"
	@echo "make test   lint + the whole test suite"
	@echo "make setup  create .venv and install lakesight with the train, dev and peers extras"

# Spark needs Java 17/21: recipes that start Spark export the JDK ensure-java.sh found
# when the machine's default java is another version.
WITH_JAVA = JH="$$(scripts/ensure-java.sh)" || exit 1; if [ -n "$$JH" ]; then export JAVA_HOME="$$JH"; fi;

java:
	@scripts/ensure-java.sh >/dev/null

# The explorer's browser tests: Debian's chromium + chromedriver, installed where apt may.
browser:
	@scripts/ensure-browser.sh

# The metadata database of the Airflow the tests start: Debian's postgresql, where apt may.
postgres:
	@scripts/ensure-postgres.sh

setup: java $(LINKS)

# pip as setup runs it. This machine's pip config lists local file:// indexes, and pip says
# "Location 'file:///…/NAME/' is ignored: it is neither a file nor a directory" for every
# project one of them lacks (about 250 lines on a fresh setup): those lines only are dropped,
# pip's exit status is kept. setuptools' note that an editable install was made is muted too.
PIP = set -o pipefail; PYTHONWARNINGS="$${PYTHONWARNINGS:+$$PYTHONWARNINGS,}ignore:Editable installation." \
      $(BIN)/python -m pip
PIP_NOISE = 2>&1 | { grep -v -E "^WARNING: Location 'file:[^']*' is ignored: it is neither a file nor a directory\.$$" || true; }
# Strict editable install: .venv's .pth names a tree of links to the source files under
# build/ that editors and type checkers (Pyright, mypy, jedi) follow; an import hook they do
# not run would map tasks/ to lakesight otherwise. A module file added later is not in that
# tree until the next install: $(LINKS) is redone when the list of module files changes.
EDITABLE = --config-settings editable_mode=strict

$(STAMP): pyproject.toml constraints.txt
	@if [ -z "$(PYTHON)" ]; then echo "lakesight: Python 3.11+ is required (python3.11 not found)" >&2; exit 1; fi
	@test -x $(BIN)/python || { echo "lakesight: creating $(VENV) with $(PYTHON) ..."; $(PYTHON) -m venv $(VENV); }
	@echo "lakesight: installing pip, setuptools and wheel into $(VENV) ..."
	@$(PIP) install -q --upgrade pip setuptools wheel $(PIP_NOISE)
	@# torch 2.13.0 (train extra) is the CPU build; constraints.txt pins everything else.
	@echo "lakesight: installing lakesight with the train, dev and peers extras (a few minutes the first time) ..."
	@$(PIP) install -q -c constraints.txt -e '.[train,dev,peers]' $(EDITABLE) $(PIP_NOISE)
	@touch $@

# The module files the link tree must hold, rewritten only when one appears or goes.
$(MODULES): FORCE
	@mkdir -p $(@D)
	@find tasks models plugins/lakesight_airflow -name '*.py' -not -path '*/__pycache__/*' \
	  | LC_ALL=C sort > $@.new; if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

$(LINKS): $(STAMP) $(MODULES)
	@echo "lakesight: linking $$(wc -l < $(MODULES)) module files into $(VENV) (strict editable install) ..."
	@$(PIP) install -q --no-deps --no-build-isolation -e . $(EDITABLE) $(PIP_NOISE)
	@touch $@
	@echo "lakesight: setup done"

demo: setup
	@$(WITH_JAVA) $(BIN)/lakesight demo

test: setup browser postgres lint
	@# pytest exits 5 when it collected nothing; an empty suite must never pass as green.
	@$(WITH_JAVA) $(BIN)/python -m pytest; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "lakesight: pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

format: $(STAMP)
	@$(BIN)/ruff check --fix .
	@$(BIN)/ruff format .

# Re-pin the whole dependency closure from the current .venv (after changing pyproject.toml).
constraints:
	@$(BIN)/python -m pip freeze --exclude-editable | sed -E 's/^(torch==[^+]+)\+cpu$$/\1/' > constraints.txt
	@echo "lakesight: wrote constraints.txt ($$(wc -l < constraints.txt) pins)"

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .ruff_cache spark-warehouse
