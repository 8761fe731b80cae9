# Sesshu Hub. `make demo` runs the demo, `make test` runs every test; both work on a fresh
# machine: they create the virtual environment and start RabbitMQ and PostgreSQL if needed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv services tools check test unit demo bench readme schema api-docs clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

services:
	scripts/services.sh

tools:
	scripts/tools.sh

check: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# pytest exits 5 when it collected no tests: that is a failure, not a pass.
test: venv services tools check
	$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

unit: venv
	$(BIN)/python -m pytest tests/unit

# The whole stack and a realistic day with a live summary; Ctrl-C stops it.
demo: venv services tools
	$(BIN)/sesshu stack demo

# What sealing adds per message at the adapters (var/bench/sealing.json), then the hub
# versus a plain aio-pika forwarder in one run; results also in var/bench/pipeline.json.
bench: venv services
	$(BIN)/python -m bench.sealing
	$(BIN)/python -m bench.pipeline

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis var

readme: venv
	$(BIN)/python scripts/readme_settings.py

# The JSON Schema files of the contract (contracts/schema/), from the models.
schema: venv
	$(BIN)/python -m contracts.schema

# The AsyncAPI document of every channel and message and the desk's OpenAPI document
# (docs/api/), from the code.
api-docs: venv
	$(BIN)/python -m stack.apidocs
