# Two commands on a fresh machine: `make run` and `make test`. Every target sets
# up what it needs and is safe to repeat.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test browser keys services stop migrate schema fuzz bench bench-quick clean-local

$(STAMP): pyproject.toml sdk/pyproject.toml
	@echo "setting up the virtual environment in $(VENV) ..."
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@mkdir -p .local
	@( $(PY) -m pip install -q --upgrade pip && $(PY) -m pip install -q -e ".[dev]" -e "./sdk[openfeature]" ) \
		> .local/pip.log 2>&1 || (cat .local/pip.log; exit 1)
	@touch $(STAMP)

# Debian's Chromium and its chromedriver, for the dashboard's browser tests: the
# test tools themselves never download a browser. The package lists are
# refreshed only when the install fails without it.
APT_GET := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		echo "installing Debian's chromium and chromium-driver ..."; \
		$(APT_GET) install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
		{ $(APT_GET) update -qq && $(APT_GET) install -y -qq chromium chromium-driver; }; \
	fi

# The platform's random keys and demo passwords, created once under .local/keys/:
# settings refuse to start on a missing or weak key.
keys:
	@bash scripts/keys.sh

# The venv first: scripts/kafka.sh probes the broker with its confluent-kafka.
services: $(STAMP) keys
	@bash scripts/postgres.sh start
	@bash scripts/kafka.sh start

migrate: $(STAMP) services
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py createcachetable

run: migrate
	@bash scripts/run.sh

# The whole suite, then the relay and SDK tests once more on the shared topic
# layout (KAFKA_TOPIC_LAYOUT=shared), which stays supported for compatibility.
test: $(STAMP) services browser
	@$(PY) -m pytest
	@KAFKA_TOPIC_LAYOUT=shared $(PY) -m pytest -q -m "not stops_shared_service" tests/test_relay.py tests/test_sdk_live.py

# Benchmarks (bench/README.md): their own API on 127.0.0.1:8001 (BENCH_PORT) and
# relay against the main database, stopped at the end; results in bench/results/.
bench: migrate
	@$(PY) bench/run.py --mode full

bench-quick: migrate
	@$(PY) bench/run.py --mode quick

# The schemathesis pass of `make test`, with many more examples per operation.
fuzz: $(STAMP) services
	@NOREBOOT_FUZZ_EXAMPLES=$${NOREBOOT_FUZZ_EXAMPLES:-200} \
		NOREBOOT_FUZZ_STATEFUL_EXAMPLES=$${NOREBOOT_FUZZ_STATEFUL_EXAMPLES:-100} $(PY) -m pytest tests/test_fuzz_schema.py

schema: $(STAMP) keys
	@$(PY) manage.py spectacular --validate --fail-on-warn --file openapi/schema.yaml

stop:
	@bash scripts/kafka.sh stop
	@bash scripts/postgres.sh stop

clean-local: stop
	rm -rf .local
