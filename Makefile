# tenderbridge: `make run` runs the product locally, `make test` installs and runs every check.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install lint typecheck schemas browser test test-unit run demo dlq stack-up stack-down stack-status bench quality clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## ruff, and the architecture's import rules (import-linter contracts in pyproject.toml, see services/README.md).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

schemas: install
	$(BIN)/python -m contracts.export

## Chromium, its driver and CJK fonts for the browser tests (tests/browser), from the distribution's packages, when
## absent: as root with apt-get only; otherwise it says why and the browser tests skip, saying what is missing.
BROWSER_PACKAGES := chromium chromium-driver fonts-noto-cjk
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
	    && { ! command -v dpkg >/dev/null 2>&1 || dpkg -s fonts-noto-cjk >/dev/null 2>&1; }; then \
	  echo "browser: chromium, chromedriver and fonts-noto-cjk are installed"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "browser: skipped, no apt-get here: install $(BROWSER_PACKAGES) (or your system's equivalents); the browser tests skip until then"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "browser: skipped, not root: run 'sudo apt-get install -y $(BROWSER_PACKAGES)'; the browser tests skip until then"; \
	else \
	  echo "browser: installing $(BROWSER_PACKAGES) with apt-get (Chromium and its driver for the browser tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES); \
	fi

## The whole suite: lint, types, schema drift, unit + integration + e2e + browser tests (starts the local stack it
## needs; installs Chromium first when it can: make browser).
test: lint typecheck browser
	$(BIN)/python -m contracts.export --check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: install
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

## The dead-letter topics, counted by topic, service and reason (python -m services.infra.dlq show: the letters).
dlq: install
	$(BIN)/python -m services.infra.dlq

## Local stack without Docker: noida-db (Kafka + Elasticsearch wire protocols) and an SMTP sink, data in .data/
stack-up: install
	$(BIN)/python -m localrun.stack up

stack-down: install
	$(BIN)/python -m localrun.stack down

stack-status: install
	$(BIN)/python -m localrun.stack status

## Everything, in the foreground, with demo data: Ctrl-C stops what it started.
run: install
	$(BIN)/python -m localrun run

## A bounded end-to-end run that exits with a JSON summary.
demo: install
	$(BIN)/python -m localrun demo

clean:
	rm -rf .data .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
