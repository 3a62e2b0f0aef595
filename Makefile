# Quick start: `make demo` and `make test`. Both create .venv with a Python >= 3.12
# when it is missing and install the project into it. Override the interpreter
# with `make demo PYTHON=/path/to/python3.12`.

SHELL := /bin/bash
VENV  := .venv
VPY   := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The first Python >= 3.12 on PATH, else one that pyenv has installed.
PYTHON ?= $(shell for c in python3.14 python3.13 python3.12 python3 python; do \
	  p=$$(command -v $$c 2>/dev/null) && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; exit 0; }; \
	done; \
	if command -v pyenv >/dev/null 2>&1; then \
	  for v in $$(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])' | sort -rV); do \
	    p=$$(pyenv prefix $$v 2>/dev/null)/bin/python3; [ -x $$p ] && { echo $$p; exit 0; }; \
	  done; \
	fi)

SCENARIO ?= scenarios/pilot-summer-day.toml
OUT ?= results/pilot-summer-day

.PHONY: demo test lint bench venv clean

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "make: no Python >= 3.12 found on PATH or through pyenv; pass PYTHON=/path/to/python3.12" >&2; exit 2; fi
	@if [ -x $(VPY) ] && ! $(VPY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	  echo "$(VENV) has a Python older than 3.12: recreating it"; rm -rf $(VENV); fi
	@if [ ! -x $(VPY) ]; then echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); fi
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/twin run $(SCENARIO) --out $(OUT)
	@echo "Results are in $(abspath $(OUT)) (report.html, summary.json, timeseries.parquet, packs.parquet, overview.png, network.json, scenario.toml)"

# Test files are spread over TEST_WORKERS processes (pytest-xdist; one file stays on one process, so
# module fixtures that run a scenario run once). TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2

# The linter, the formatter's check and the type checker first (seconds), then the suite.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(VPY) -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)
	$(VPY) -m benchmarks.bench

clean:
	rm -rf results .pytest_cache
