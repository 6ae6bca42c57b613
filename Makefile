# The course's commands. Every target installs what it needs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# nbgrader calls `alembic` by bare name: the venv's bin/ must come first on PATH.
export PATH := $(BIN):$(PATH)
STAMP := $(VENV)/.installed

.PHONY: help install test demo train release lab bench chromium

help:
	@echo "make demo     - the instructor's whole flow on the example submissions"
	@echo "make test     - install everything and run the whole test suite"
	@echo "make train    - train an MLP with the reference mytorch on the digits"
	@echo "make release  - regenerate release/mlp with nbgrader generate_assignment"
	@echo "make lab      - open the release notebooks in JupyterLab as a student"
	@echo "make bench    - run the benchmarks"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium drives the browser tests (Playwright never downloads a browser here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) chromium
	$(BIN)/python -m pytest -n 2 --dist loadgroup

train: $(STAMP)
	$(BIN)/python -m assignment train

demo: train

bench: $(STAMP)
	$(BIN)/python bench/train_step.py
