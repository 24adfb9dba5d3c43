# The two commands of the README: `make run` and `make test`. CI runs `make test` (.ci/run).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run install dev system-deps test test-fast lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llama-cpp-python compiled once with the instruction sets a smoke test showed this machine runs,
# then cached; a cached build is smoke-tested again before it is installed.
$(VENV)/.llama-cpp: tools/install_llama_cpp.py $(wildcard tools/llama_install/*.py) causerie/engine/smoke.py | $(BIN)/python
	$(BIN)/python tools/install_llama_cpp.py
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.llama-cpp
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/causerie serve

dev: $(VENV)/.dev

system-deps:
	sh tools/install_system_deps.sh

# Lint first: a change that breaks formatting, ruff's rules or mypy --strict fails the suite.
# Two pytest-xdist workers, a test file each at a time, handed out in the order of the files (not
# by test count: the scheduler's six long tests then ran last, alone); each worker has its own
# Postgres, servers and browser, and its engines use half the CPUs (tests/helpers.py:
# ENGINE_THREADS).
# Bytecode is written even where the environment says not to: pytest then keeps the test and
# plugin modules it rewrites (some 400), instead of rewriting them in every worker at each start.
TEST_WORKERS ?= 2
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: lint system-deps
	$(PYTEST)

# The fast loop while developing: the in-process tier and the unit tests, no server process and
# no browser (Postgres is still started for the tests parametrised on it).
test-fast: dev system-deps
	CAUSERIE_TEST_FAST=1 $(PYTEST) -m "not slow" -q

lint: dev
	$(BIN)/ruff check causerie tests tools benchmarks
	$(BIN)/ruff format --check causerie tests tools benchmarks
	$(BIN)/mypy

bench: dev
	$(BIN)/python benchmarks/decode.py
