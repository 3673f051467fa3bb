# `make demo` and `make test` each do their own set-up on a fresh machine: the virtual
# environment, the project with its dev extra, and the local stack (unless
# RISKSTREAM_KAFKA_BOOTSTRAP / RISKSTREAM_REDIS_URL name a cluster of yours).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: system system-tests install stack demo test unit integration lint bench bench-smoke down clean

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

stack: install
	$(BIN)/riskstream stack up

demo: stack
	$(BIN)/riskstream demo

test: system-tests stack
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

integration: stack
	$(BIN)/pytest tests/integration

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: stack
	$(BIN)/python -m bench.run

bench-smoke: stack
	$(BIN)/python -m bench.run --smoke --out /tmp/riskstream-bench-smoke

down:
	@test -x $(BIN)/riskstream && $(BIN)/riskstream stack down || true

clean: down
	rm -rf $(VENV) .riskstream
