# The two commands of the README: `make demo` and `make test`. Both bootstrap .venv themselves.
# Python 3.12+ explicitly: the first of these that is 3.12 or newer (a default python3 may be 3.11).
NEW_ENOUGH := import sys; sys.exit(sys.version_info < (3, 12))
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach p,$(wildcard $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python3) \
	$(shell command -v python3.13 python3.12 python3 2>/dev/null),$(shell $(p) -c '$(NEW_ENOUGH)' 2>/dev/null && echo $(p))))
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench build clean distclean venv python local-stop checkov

# A .venv made by another (older) interpreter is rebuilt, not reused.
python:
	@test -n "$(PYTHON)" && $(PYTHON) -c '$(NEW_ENOUGH)' 2>/dev/null || \
		{ echo "eks-auditor needs Python 3.12 or newer: install python3.12 (or pass PYTHON=/path/to/python3.12)" >&2; exit 1; }
	@if test -e $(VENV) && ! $(BIN)/python -c '$(NEW_ENOUGH)' 2>/dev/null; then \
		echo "rebuilding $(VENV): it was made by another interpreter"; rm -rf $(VENV); fi

$(STAMP): pyproject.toml | python
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -qq --upgrade pip
	@$(BIN)/python -m pip install -qq -e '.[dev]'
	@touch $(STAMP)

venv: python $(STAMP)

# The template security scan (tests/template/test_checkov.py). checkov pins boto3 1.35: it gets its own
# venv so that it never downgrades .venv. Installed once (about a minute), then reused.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): | python
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/python -m pip install -qq checkov==3.3.30
	@touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP)

# The demo leaves its findings in a local endpoint (127.0.0.1:4566) for the README's next commands.
demo: python $(STAMP)
	$(BIN)/eks-auditor local start
	$(BIN)/eks-auditor demo --keep

local-stop: $(STAMP)
	$(BIN)/eks-auditor local stop

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

test: lint typecheck checkov
	$(BIN)/pytest -q -n auto

# The event load is issue 14's size (5,000 CloudTrail events over 20 clusters) unless BENCH_ARGS says
# otherwise, e.g. `make bench BENCH_ARGS="--load-events 500"` or `BENCH_ARGS="--only event_load"`.
bench: $(STAMP)
	@$(BIN)/python -m eks_auditor_tools.bench $(BENCH_ARGS)

build: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/sam build --template-file template.yaml

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
	@echo "kept $(VENV) (make distclean removes it too)"

distclean: clean
	rm -rf $(VENV) $(CHECKOV_VENV) *.egg-info
