# DataCompact task runner: demo, test, lint, bench.
# Only Python 3.11+ and make are needed; everything else goes into .venv.

VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& { echo $$p; break; }; done)

.PHONY: demo test test-fast check lint format bench docs clean

# Test workers (pytest-xdist): one per core. Every test writes under its own
# tmp_path and PostgreSQL database, so any count works; --dist loadfile keeps a
# module on one worker, so a module-scoped fixture (the permission matrix's
# world, the Spark session) is built once.
WORKERS ?= auto
XDIST := -n $(WORKERS) --dist loadfile
# Test files go to a tmpfs where there is one: the SQLite stores under test
# fsync every commit (synchronous=FULL), and on a busy disk those waits were
# most of the suite's time (the permission matrix ran 4x faster in memory).
# What the durability tests do, killing a process, loses nothing either way.
TEST_TMPDIR ?= $(or $(wildcard /dev/shm),$(TMPDIR),/tmp)
# More pytest arguments, e.g. make test-fast PYTEST_ARGS="tests/api -x".
PYTEST_ARGS ?=

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "需要 Python 3.11+ / Python 3.11 or newer is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.runtime

# The demo city, served at http://127.0.0.1:$(PORT); SCALE sizes its datasets
# (1 = 1.1 million rows, 0.01 for a quick look), e.g. make demo PORT=8080 SCALE=0.01.
PORT ?= 8000
SCALE ?= 1
demo: $(VENV)/.runtime
	$(BIN)/datacompact demo --port $(PORT) --scale $(SCALE)

# The whole suite; on PostgreSQL too when DATACOMPACT_TEST_DATABASE_URL is set.
# The slowest 20 tests are listed at the end (CI keeps an eye on them).
test: $(VENV)/.dev
	TMPDIR=$(TEST_TMPDIR) $(BIN)/python -m pytest $(XDIST) --durations=20 $(PYTEST_ARGS)

# The inner loop: SQLite only, without the tests marked slow (servers,
# subprocesses, a JVM, more than ~3 s).
test-fast: $(VENV)/.dev
	env -u DATACOMPACT_TEST_DATABASE_URL TMPDIR=$(TEST_TMPDIR) \
		$(BIN)/python -m pytest $(XDIST) -q -m "not slow and not postgres" $(PYTEST_ARGS)

# Before each commit: the linters and the fast tests.
check: lint test-fast

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy src/datacompact tests
	@$(BIN)/python -c 'import tomllib; c = tomllib.load(open("pyproject.toml", "rb")); \
		print("layers, highest first:"); \
		[print("  " + layer) for layer in c["tool"]["importlinter"]["contracts"][0]["layers"]]'
	$(BIN)/lint-imports --no-cache --no-logo

format: $(VENV)/.dev
	$(BIN)/ruff check --fix src tests benchmarks scripts
	$(BIN)/ruff format src tests benchmarks scripts

docs: $(VENV)/.dev
	$(BIN)/python scripts/cli_reference.py > docs/cli.md
	$(BIN)/python scripts/openapi_reference.py > tests/api/openapi.json

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
