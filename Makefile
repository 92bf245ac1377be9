# carewatch — the two set-up commands are `make demo` and `make test`; both install what they need.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime
AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js

.PHONY: demo test lint typecheck bench system-packages clean oracle demand-model

# The demo needs only the runtime packages; the tests add the dev extra (test tools, linters) on top.
demo: $(RUNTIME)
	$(VENV)/bin/carewatch demo

ASYNCAPI_TOOL := tests/tools/asyncapi

test: $(STAMP) system-packages $(ASYNCAPI_TOOL)/node_modules $(AXE) .venv-oracle/.installed .venv-demand/.installed
	$(PY) -m pytest -q

# The official AsyncAPI parser (pinned by package-lock.json) that tests/unit/test_asyncapi.py runs.
$(ASYNCAPI_TOOL)/node_modules: $(ASYNCAPI_TOOL)/package-lock.json
	cd $(ASYNCAPI_TOOL) && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check carewatch schemas services

typecheck: $(STAMP)
	$(VENV)/bin/mypy schemas services/rules/core services/board/core

bench: $(STAMP)
	for script in bench/*.py; do $(PY) $$script; done

$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The DfE SSDA903 validator (pins pandas<2) in an environment of its own, used by the SSDA903 tests and
# `carewatch return-health`.
oracle: .venv-oracle/.installed

.venv-oracle/.installed:
	$(PYTHON) -m venv .venv-oracle
	.venv-oracle/bin/pip install -q csc-validator-be-903
	touch .venv-oracle/.installed

# Social Finance's demand model (pins rich<13 and pandas<2), the independent count of children looked after on a
# day that tests/e2e/test_ssda903_demand_model.py compares with carewatch's.
DEMAND_MODEL := cs-demand-model==0.5.1
demand-model: .venv-demand/.installed

.venv-demand/.installed:
	$(PYTHON) -m venv .venv-demand
	.venv-demand/bin/pip install -q '$(DEMAND_MODEL)'
	touch .venv-demand/.installed

# axe-core (accessibility checks in the browser tests), pinned by tests/e2e/axe/package-lock.json.
$(AXE): tests/e2e/axe/package-lock.json
	cd tests/e2e/axe && npm ci --no-audit --no-fund

# Debian packages the tests use: chromium (browser tests), prometheus (promtool), npm (axe-core); only the
# missing ones are installed (a Node.js that ships its own npm conflicts with Debian's npm package).
system-packages:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

clean:
	rm -rf $(VENV) .venv-oracle .venv-demand var .pytest_cache .mypy_cache .ruff_cache
