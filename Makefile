# Two commands on a fresh machine: `make run` and `make test`. Every target sets
# up what it needs and is safe to repeat.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test services stop migrate schema schema-check bench bench-quick clean-local

$(STAMP): pyproject.toml sdk/pyproject.toml
	@echo "setting up the virtual environment in $(VENV) ..."
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@mkdir -p .local
	@( $(PY) -m pip install -q --upgrade pip && $(PY) -m pip install -q -e ".[dev]" -e ./sdk ) \
		> .local/pip.log 2>&1 || (cat .local/pip.log; exit 1)
	@touch $(STAMP)

services:
	@bash scripts/postgres.sh start
	@bash scripts/kafka.sh start

migrate: $(STAMP) services
	@$(PY) manage.py migrate --noinput -v 0

run: migrate
	@bash scripts/run.sh

test: $(STAMP) services
	@$(PY) -m pytest

schema: $(STAMP)
	@$(PY) manage.py spectacular --validate --fail-on-warn --file openapi/schema.yaml

stop:
	@bash scripts/kafka.sh stop
	@bash scripts/postgres.sh stop

clean-local: stop
	rm -rf .local
