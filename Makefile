# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8080
KEYS   ?= examples/dev-keys.json

.PHONY: run test venv assets bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

# Leaflet and Swagger UI from the npm registry (pinned by package-lock.json) into api/static/vendor: no CDN.
assets:
	scripts/ensure-assets.sh

run: $(STAMP) assets
	@echo "map page http://$(HOST):$(PORT)/ and API docs /docs; demo keys in $(KEYS). Another port: make run PORT=8081"
	$(VENV)/bin/maas serve --dev --host $(HOST) --port $(PORT) --keys $(KEYS)

test: $(STAMP) assets
	scripts/ensure-chromium.sh
	# numba's cache filled before the tests (a cold compile takes minutes on a busy machine, in a child, as a
	# server's start-up does it): no test's time limit then includes it
	$(PY) -m maas.platform.kernels
	# a private AOF Redis and a private 3-master Redis Cluster (+3 replicas), both stopped after
	PYTHON=$(PY) scripts/ensure-redis.sh run scripts/ensure-redis-cluster.sh run $(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .redis .redis-cluster .pytest_cache .cache node_modules api/static/vendor
