# The course's commands. Every target installs what it needs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# nbgrader calls `alembic` by bare name: the venv's bin/ must come first on PATH.
export PATH := $(BIN):$(PATH)
STAMP := $(VENV)/.installed

.PHONY: help install test demo train release lab bench system-deps

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

# Debian packages: bubblewrap (the grading sandbox), libseccomp2 (its system-call filter, also
# the Landlock backend's, through pyseccomp), chromium (the browser
# tests; Playwright never downloads a browser here) and postgresql (the
# PostgreSQL gradebook test starts a throwaway server).
system-deps:
	@missing=""; \
	command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2 ' || missing="$$missing libseccomp2"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=25

train: $(STAMP)
	$(BIN)/python -m assignment train

# The instructor's whole flow on the example submissions, in a scratch course.
demo: $(STAMP) system-deps
	$(BIN)/python -m assignment demo

# Regenerate release/mlp with the stock command (the stubs and the leak check run inside it).
release: $(STAMP)
	$(BIN)/nbgrader generate_assignment mlp --force

# JupyterLab as a student sees it (FRESH=1 starts again from the release; PORT=8888).
lab: $(STAMP)
	$(BIN)/python -m assignment lab --port $(or $(PORT),8888) $(if $(FRESH),--fresh,)

bench: $(STAMP)
	$(BIN)/python bench/train_step.py
