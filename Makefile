# lakesight: the two commands a fresh machine needs are `make demo` and `make test`.
# Both create .venv and install everything (including Java, where allowed) first.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Python >= 3.11: the first of these that exists.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
            command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            && { command -v $$p; break; }; done)
# Airflow and Spark keep their state under var/ (never in ~/airflow).
export AIRFLOW_HOME ?= $(CURDIR)/var/airflow
export AIRFLOW__CORE__DAGS_FOLDER ?= $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER ?= $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False

.PHONY: setup java browser demo test lint format constraints clean help

help:
	@echo "make demo   run image_features end to end on embedded defaults (local Spark, var/lake)"
	@echo "make test   lint + the whole test suite"
	@echo "make setup  create .venv and install lakesight with the train and dev extras"

# Spark needs Java 17/21: recipes that start Spark export the JDK ensure-java.sh found
# when the machine's default java is another version.
WITH_JAVA = JH="$$(scripts/ensure-java.sh)" || exit 1; if [ -n "$$JH" ]; then export JAVA_HOME="$$JH"; fi;

java:
	@scripts/ensure-java.sh >/dev/null

# The explorer's browser tests: Debian's chromium + chromedriver, installed where apt may.
browser:
	@scripts/ensure-browser.sh

setup: java $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@if [ -z "$(PYTHON)" ]; then echo "lakesight: Python 3.11+ is required (python3.11 not found)" >&2; exit 1; fi
	@echo "lakesight: creating $(VENV) with $(PYTHON) and installing (a few minutes the first time) ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	@# torch 2.13.0 (train extra) is the CPU build; constraints.txt pins everything else.
	@$(BIN)/python -m pip install -q -c constraints.txt -e '.[train,dev,peers]'
	@touch $@
	@echo "lakesight: setup done"

demo: setup
	@$(WITH_JAVA) $(BIN)/lakesight demo

test: setup browser lint
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
