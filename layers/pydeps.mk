# Shared by the dependency layers' Makefiles (sam build, Metadata BuildMethod: makefile).
# No Docker and no python3.13 needed: pip cross-installs binary wheels for the
# python3.13/arm64 runtime. A layer's Makefile sets LAYER and includes this file;
# its requirements-lock.txt says what to install and its prune.txt what to delete after.
#
# The lock (`make lock`, from pyproject.toml's ranges) pins every package with its hashes,
# resolved for python3.13/arm64: --require-hashes refuses any other file, and --no-deps
# keeps pip from resolving again, because pip evaluates environment markers for the
# Python running it (3.11 here), not for --python-version.
#
# sam build's cache key is a hash of the layer's ContentUri only (following symlinks), so
# everything this recipe reads lives there: each layer folder links this file in as
# pydeps.mk (tests/component/template/test_layer_cache.py checks every input is covered).
#
# pip would byte-compile with the interpreter running it (wrong version), so
# --no-compile; if a working Python 3.13 is at hand, precompile for the runtime
# with unchecked hashes (see layers/common/Makefile). Override: PYTHON313=...
# Lambda cannot write .pyc under /opt, so a layer without them is compiled again on
# every cold start (and on every SnapStart snapshot: the MCP handler's import takes
# about twice as long without them; make bench).
#
# After installing, drop dead weight: byte-code caches, console scripts (their
# shebang is this machine's Python), packages' own test suites, and the paths in
# prune.txt (tests/component/template/test_layers.py proves the functions still import
# and run without them). dist-info stays (importlib.metadata reads it).
#
# Shared objects are shipped with their symbol tables (cryptography's is 3 MB);
# llvm-strip (any target) drops what no dynamic link needs, if it is installed.
#
# A layer with hot-modules.txt precompiles only those modules (what its function
# imports on a cold start and its first requests: tests/component/template/test_layers.py
# keeps the list current; the authorizer's artifact has a 6 MB budget); others
# precompile everything.
# The interpreter itself, not a pyenv shim: `sam build` (parallel = true) runs several pip
# installs at once, and pyenv's shim rehashes after each `pip install`, racing the others
# ("pyenv: cannot rehash") and failing the build.
PYTHON ?= $(shell python3 -c 'import sys; print(sys.executable)')
PYTHON313 ?= python3.13
PIP_TARGET = $(ARTIFACTS_DIR)/python
STRIP ?= llvm-strip

.PHONY: build-$(LAYER)

build-$(LAYER):
	rm -rf "$(PIP_TARGET)"
	mkdir -p "$(PIP_TARGET)"
	"$(PYTHON)" -m pip install --quiet --disable-pip-version-check --no-compile \
		--platform manylinux2014_aarch64 --implementation cp --python-version 3.13 \
		--only-binary=:all: --require-hashes --no-deps --target "$(PIP_TARGET)" \
		-r "$(HERE)/requirements-lock.txt"
	find "$(PIP_TARGET)" -name __pycache__ -type d -prune -exec rm -rf {} +
	find "$(PIP_TARGET)" -name '*.py[co]' -delete
	rm -rf "$(PIP_TARGET)/bin" "$(PIP_TARGET)"/*/tests
	grep -vE '^\s*(#|$$)' "$(HERE)/prune.txt" | while read -r path; do rm -rf "$(PIP_TARGET)/$$path"; done
	@if command -v "$(STRIP)" >/dev/null 2>&1; then \
		echo "stripping shared objects of $(LAYER) with $(STRIP)"; \
		find "$(PIP_TARGET)" -name '*.so' -exec "$(STRIP)" --strip-unneeded {} +; \
	fi
	@if "$(PYTHON313)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; then \
		echo "precompiling $(LAYER) with $(PYTHON313)"; \
		if [ -f "$(HERE)/hot-modules.txt" ]; then \
			cd "$(PIP_TARGET)" && grep -vE '^\s*(#|$$)' "$(HERE)/hot-modules.txt" \
				| while read -r f; do [ -f "$$f" ] && echo "$$f"; done \
				| "$(PYTHON313)" -m compileall -q --invalidation-mode unchecked-hash -i -; \
		else \
			"$(PYTHON313)" -m compileall -q --invalidation-mode unchecked-hash "$(PIP_TARGET)"; \
		fi; \
	fi
