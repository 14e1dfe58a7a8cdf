# Two commands for a newcomer: `make run` and `make test`. Both create or reuse
# the virtualenv in .venv and fetch what they need (Python packages from PyPI,
# the Kafka broker from Maven Central into .cache/).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test bench typecheck clean-data browser

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(VENV)/bin/meterstream demo

test: $(STAMP) typecheck browser
	TZ=UTC $(PY) -m pytest $(PYTEST_ARGS)

# Headless Chromium for the tests that look at the report and dashboard (Debian package; needs root or sudo).
browser:
	@test -x /usr/bin/chromium || { echo "installing chromium (Debian package) for the browser tests"; \
	  $$(test "$$(id -u)" = 0 || echo sudo) sh -c 'DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null'; }

bench: $(STAMP)
	TZ=UTC $(PY) -m pytest tests/benchmarks -m benchmark -s $(PYTEST_ARGS)

typecheck: $(STAMP)
	$(VENV)/bin/mypy meterstream schemas producers stream_processors sinks infra

clean-data:
	rm -rf .data
