# Every target installs what it needs: a venv with pinned packages under .venv/.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv models test test-fast run up down deploy bench clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

# Shipped service models (stock botocore + our patch), usable as AWS_DATA_PATH.
models: venv
	$(PY) -m chalicelib.protocol.models --out build/models

# The whole suite: unit, API (boto3 against the app), workflows, end to end.
test: venv models
	$(PY) -m pytest -q tests

test-fast: venv models
	$(PY) -m pytest -q tests -m "not e2e"

clean:
	rm -rf build .pytest_cache .hypothesis
