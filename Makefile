# DIEF Forum — `make run` and `make test` work on a fresh clone with Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.run-installed

## Serve the demo on http://127.0.0.1:8080 on the embedded PostgreSQL.
run: $(VENV)/.run-installed
	DIEF_DEMO=true $(BIN)/dief serve --with-demo

## Lint, type-check and run the whole test suite.
test: $(VENV)/.test-installed lint typecheck pytest

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy

pytest: $(VENV)/.test-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(VENV)/.bench-installed: pyproject.toml | $(VENV)/.test-installed
	$(BIN)/python -m pip install --quiet -e '.[test,speed]'
	touch $@

## Benchmarks (not part of `make test`): docs/performance.md. BENCH_ARGS e.g. --scale 1m.
bench: $(VENV)/.bench-installed
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/login_storm.py
	$(BIN)/python bench/crypto_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
