# Every target installs what it needs: a venv with pinned packages under .venv/.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv models test test-fast run up down deploy bench clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "pip<26.3"  # chalice 1.34 requires pip<26.3
	$(PY) -m pip install -q -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

# Shipped service models (stock botocore + our patch), usable as AWS_DATA_PATH.
models: venv
	$(PY) -m chalicelib.protocol.models --out build/models

# The whole suite: unit, API (boto3 against the app), workflows (on both cores), then the
# end-to-end tests, which share one deployed stack and so run in one process.
test: test-fast
	$(PY) -m pytest -q tests -m e2e

test-fast: venv models
	$(PY) -m pytest -q tests -m "not e2e" -n 2

# The embedded stack: ministack on 127.0.0.1:$(MINISTACK_PORT), state under .local/.
# `up` reuses a running emulator and skips the deploy when nothing changed;
# it writes .local/stack.env (source it) and prints a boto3 snippet.
MINISTACK_PORT ?= 4566
export MINISTACK_PORT

up: venv models
	$(PY) -m scripts.stack up

down:
	@test -x $(PY) && $(PY) -m scripts.stack down || echo "nothing to stop (no $(VENV))"

# `make up`, then the seed's Getting Started on sample data (or DATA=ratings.csv),
# then keep serving until Ctrl-C (which stops the emulator; state is kept).
DATA ?=
RECIPE ?= aws-hrnn
FRESH ?=
run: up
	$(PY) -m scripts.walkthrough --recipe $(RECIPE) --stop-on-exit $(if $(DATA),--data $(DATA)) $(if $(FRESH),--fresh)

# The same package and template on LocalStack (Docker) or AWS (your credentials).
TARGET ?= localstack
deploy: venv
	$(PY) -m scripts.stack deploy --target $(TARGET)

clean:
	rm -rf build .pytest_cache .hypothesis
