VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: install test test-fast lint demo bench bench-profile reliability clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(PY) -m pytest -n 2 -q

# The tests that need no PostgreSQL (scanner, config, plan, file checks, properties): seconds.
test-fast: install
	$(PY) -m pytest -q -m "not database"

lint: install
	$(VENV)/bin/ruff check sqlmig tests bench
	$(VENV)/bin/ruff format --check sqlmig tests bench
	$(VENV)/bin/mypy

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

# Not a test: prints ratios to psql (and to bare imports) measured in the same run; see README.
bench: $(BENCH_STAMP)
	$(PY) bench/run.py --readme README.md

bench-profile: $(BENCH_STAMP)
	$(PY) bench/profile.py

demo: install
	$(VENV)/bin/sqlmig migrate
	$(VENV)/bin/sqlmig seed
	$(VENV)/bin/sqlmig status

# The table is printed even when a test failed (it shows which family), and then the failure is
# the target's exit status: a red reliability run must not look green.
reliability: install
	SQLMIG_RELIABILITY_REPORT=.reliability.json SQLMIG_HYPOTHESIS=explore SQLMIG_CORPUS_EXAMPLES=150 $(PY) -m pytest -q -p no:xdist -m reliability tests/ ; \
	status=$$?; $(PY) -m tests.reliability_report .reliability.json && exit $$status

# The embedded server lives in .sqlmig: stop it first, or it would run on without its folder.
clean:
	if [ -x $(VENV)/bin/sqlmig ]; then $(VENV)/bin/sqlmig embedded stop; fi
	rm -rf $(VENV) .sqlmig .pytest_cache .mypy_cache .ruff_cache
