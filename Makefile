# Two commands matter: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Development credentials for `make run` / `make demo` only; production sets its own.
QBWC_USERNAME ?= qbwc-demo
QBWC_PASSWORD ?= demo-password-123
# The operator page's password (any name at sign-in); production sets OPS_PASSWORD_HASH instead.
OPS_PASSWORD ?= demo-ops-password
PORT ?= 8080

.PHONY: setup codegen check-codegen test test-ts test-py lint run demo bench soak clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (found %d.%d)" % sys.version_info[:2])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

codegen: node_modules/.installed
	npx convex codegen --system-udfs --typecheck enable

# Fails when convex/_generated/ is not what the functions generate.
check-codegen: codegen
	@git diff --exit-code --stat -- convex/_generated || { echo "convex/_generated is stale: run 'make codegen' and commit it"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- convex/_generated)" || { echo "convex/_generated has uncommitted files: run 'make codegen' and commit them"; exit 1; }

test: setup test-ts lint test-py

test-ts: node_modules/.installed
	npx tsc --noEmit -p .
	npx vitest run

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-py: $(VENV)/.installed node_modules/.installed
	$(BIN)/pytest

run: setup
	@echo "Serving the bridge at http://localhost:$(PORT)/qbwc (user $(QBWC_USERNAME), password $(QBWC_PASSWORD))"
	@echo "Operator page at http://localhost:$(PORT)/ops (your name, password $(OPS_PASSWORD))"
	QBWC_USERNAME='$(QBWC_USERNAME)' QBWC_PASSWORD='$(QBWC_PASSWORD)' OPS_PASSWORD='$(OPS_PASSWORD)' \
		LOG_FORMAT=$${LOG_FORMAT:-console} \
		$(BIN)/qbwc-bridge serve --sample-data --host 127.0.0.1 --port $(PORT)

demo: setup
	$(BIN)/python tests/python/demo.py

bench: setup
	npx vitest run tests/convex/scale.test.ts
	$(BIN)/python tests/bench/run_all.py

# Not part of `make test`: 60 s of abuse against a bridge while a Web Connector syncs.
soak: setup
	$(BIN)/python tests/soak/soak.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
