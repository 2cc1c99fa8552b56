# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	ONESTOP_ENV=dev $(BIN)/python -m services.stack

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy shared services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy shared services

bench: $(STAMP)
	ONESTOP_ENV=dev $(BIN)/python -m tests.bench.registration_e2e

clean:
	rm -rf .data
