# `make demo` and `make test` each do their own set-up on a fresh machine: the virtual
# environment, the project with its dev extra, and the local stack (unless
# RISKSTREAM_KAFKA_BOOTSTRAP / RISKSTREAM_REDIS_URL name a cluster of yours).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The benchmark's peers (Quix Streams, Bytewax) in a venv of their own: Quix Streams pins
# dependencies older than riskstream's (bench/peers/requirements.txt).
PEERS := .venv-peers
PEERS_STAMP := $(PEERS)/.installed

.PHONY: system system-tests install peers stack demo test unit integration lint bench bench-smoke down clean

# System packages (redis-server, Java, Maven, python3-venv; chromium for the tests): installed
# with apt-get when run as root, otherwise one line naming what to install.
system:
	@$(PYTHON) riskstream/app/stack/system_deps.py

system-tests:
	@$(PYTHON) riskstream/app/stack/system_deps.py --tests

$(STAMP): pyproject.toml | system
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar off -e '.[dev]'
	@touch $@

install: $(STAMP)

$(PEERS_STAMP): bench/peers/requirements.txt pyproject.toml | system
	@test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS)/bin/python -m pip install --progress-bar off -r bench/peers/requirements.txt
	$(PEERS)/bin/python -m pip install --progress-bar off --no-deps -e .
	@touch $@

peers: $(PEERS_STAMP)

stack: install
	$(BIN)/riskstream stack up

demo: stack
	$(BIN)/riskstream demo

test: system-tests stack peers
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

integration: stack peers
	$(BIN)/pytest tests/integration

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: stack peers
	$(BIN)/python -m bench.run

bench-smoke: stack peers
	$(BIN)/python -m bench.run --smoke --out /tmp/riskstream-bench-smoke

down:
	@test -x $(BIN)/riskstream && $(BIN)/riskstream stack down || true

clean: down
	rm -rf $(VENV) $(PEERS) .riskstream
