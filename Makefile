# Two set-up commands work on a fresh machine: `make demo` and `make test`.
# Everything they need is installed into the repo itself (.venv, node_modules).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# checkov pins many packages of its own, so it gets its own venv, not .venv.
CHECKOV_VERSION := 3.3.30
CHECKOV := .tools/checkov/bin/checkov
CHECKOV_STAMP := .tools/checkov/.installed-$(CHECKOV_VERSION)
# pip-audit too: scripts/audit.py runs it over requirements.lock with PyPI as the source.
PIP_AUDIT_VERSION := 2.10.1
PIP_AUDIT_STAMP := .tools/pip-audit/.installed-$(PIP_AUDIT_VERSION)

.PHONY: install test test-fast lint format demo bench clean

install: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHECKOV_STAMP):
	test -x .tools/checkov/bin/python || $(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

# Static checks of the Bicep, offline: no platform download, no update check; a file checkov
# cannot parse fails the run instead of being skipped silently.
.PHONY: infra-check
infra-check: $(CHECKOV_STAMP)
	CI=true BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true CKV_PARSE_ERROR_FAIL=true \
		$(CHECKOV) -d infra --framework bicep --quiet --compact --skip-download

$(PIP_AUDIT_STAMP):
	test -x .tools/pip-audit/bin/python || $(PYTHON) -m venv .tools/pip-audit
	.tools/pip-audit/bin/python -m pip install --quiet 'pip-audit==$(PIP_AUDIT_VERSION)'
	touch $@

# Known vulnerabilities in the locked runtime dependencies fail the build; so does no answer
# from PyPI (a pin behind the latest release is checked against its advisories, with a warning).
.PHONY: audit
audit: $(PIP_AUDIT_STAMP)
	.tools/pip-audit/bin/python scripts/audit.py -r requirements.lock --strict --no-deps \
		--disable-pip --progress-spinner off --vulnerability-service pypi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install lint infra-check audit
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m 'not slow' -x -q

demo: install
	$(BIN)/python -m hrupload.dev.demo

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .hypothesis .demo .bench
