# The two commands of the README: `make demo` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12 $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.12 python3.13 python3 2>/dev/null))
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench build clean venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -qq --upgrade pip
	@$(BIN)/python -m pip install -qq -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/eks-auditor demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

test: lint typecheck
	$(BIN)/pytest -q -n auto

bench: $(STAMP)
	@$(BIN)/python -m eks_auditor_tools.bench

build: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/sam build --template-file template.yaml

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
