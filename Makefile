# Two set-up commands work on a fresh machine: `make demo` and `make test`.
# Everything they need is installed into the repo itself (.venv, node_modules).
# The Python the Function app runs on (pythonVersion in infra/main.bicep): .venv, where the full
# suite runs, is made with it, and requirements.txt is resolved with it (make lock).
DEPLOY_PYTHON := $(shell sed -n "s/^param pythonVersion string = '\([0-9.]*\)'.*/\1/p" infra/main.bicep)
PYTHON ?= $(shell command -v python$(DEPLOY_PYTHON) || echo python3)
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# checkov pins many packages of its own, so it gets its own venv, not .venv.
CHECKOV_VERSION := 3.3.30
CHECKOV_PYTHON := .tools/checkov/bin/python
CHECKOV_STAMP := .tools/checkov/.installed-$(CHECKOV_VERSION)
# pip-audit too: scripts/audit.py runs it over requirements.txt (the pinned set Azure's remote
# build installs, written by `make lock`) with PyPI as the source.
PIP_AUDIT_VERSION := 2.10.1
PIP_AUDIT_STAMP := .tools/pip-audit/.installed-$(PIP_AUDIT_VERSION)

.PHONY: install lock test test-fast test-py313 lint format demo bench clean browser

install: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(0 if v == "$(DEPLOY_PYTHON)" else "$(VENV) runs Python " + v + "; the app deploys with $(DEPLOY_PYTHON) (infra/main.bicep): remove $(VENV) and run make install with PYTHON=python$(DEPLOY_PYTHON)")'
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.txt -e '.[dev,telemetry]'
	touch $@

# requirements.txt, the deployed set, pinned: pyproject's ranges resolved on the app's Python.
lock:
	$(PYTHON) scripts/lock.py

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHECKOV_STAMP):
	test -x .tools/checkov/bin/python || $(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

# Static checks of the Bicep, offline: no platform download, no update check; a file checkov
# cannot parse fails the run instead of being skipped silently. Twice, on temporary copies of
# infra/: as deployed by default and with vnetEnabled (private networking), each with the
# `vnetEnabled ? A : B` expressions resolved, which checkov cannot do (scripts/infra_check.py).
.PHONY: infra-check
infra-check: $(CHECKOV_STAMP)
	CI=true BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true CKV_PARSE_ERROR_FAIL=true \
		$(CHECKOV_PYTHON) scripts/infra_check.py --framework bicep --quiet --compact --skip-download

# azure-functions-doctor: its own venv too (it pins typer, pydantic and more).
FUNC_DOCTOR_VERSION := 0.23.1
FUNC_DOCTOR := .tools/func-doctor/bin/azure-functions-doctor
FUNC_DOCTOR_STAMP := .tools/func-doctor/.installed-$(FUNC_DOCTOR_VERSION)

$(FUNC_DOCTOR_STAMP):
	test -x .tools/func-doctor/bin/python || $(PYTHON) -m venv .tools/func-doctor
	.tools/func-doctor/bin/python -m pip install --quiet 'azure-functions-doctor==$(FUNC_DOCTOR_VERSION)'
	touch $@

# The app and infra/ read as Azure will run them, on Flex Consumption: a failure or a warning
# fails the build (rules skipped for a reason are in pyproject.toml). VIRTUAL_ENV names the
# app's venv, which the doctor looks for; it runs offline.
.PHONY: func-doctor
func-doctor: $(FUNC_DOCTOR_STAMP) $(PY_STAMP)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(FUNC_DOCTOR) doctor --path . --hosting-plan flex-consumption \
		--summary-json .tools/func-doctor/summary.json
	@$(BIN)/python -c 'import json, sys; n = json.load(open(".tools/func-doctor/summary.json"))["warned"]; \
	sys.exit("azure-functions-doctor: %d warning(s) above: fix each, or skip its rule in pyproject.toml with the reason" % n if n else 0)'

$(PIP_AUDIT_STAMP):
	test -x .tools/pip-audit/bin/python || $(PYTHON) -m venv .tools/pip-audit
	.tools/pip-audit/bin/python -m pip install --quiet 'pip-audit==$(PIP_AUDIT_VERSION)'
	touch $@

# Known vulnerabilities in the locked runtime dependencies fail the build; so does no answer
# from PyPI (a pin behind the latest release is checked against its advisories, with a warning).
.PHONY: audit
audit: $(PIP_AUDIT_STAMP)
	.tools/pip-audit/bin/python scripts/audit.py -r requirements.txt --strict --no-deps \
		--disable-pip --progress-spinner off --vulnerability-service pypi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install browser lint infra-check audit func-doctor test-py313
	$(BIN)/python -m pytest

# The newest Python the package allows (requires-python = ">=3.11"; 3.13 is the newest here):
# its own venv, every pin of requirements.txt installed, then the fast suite. The oldest
# (3.11, the Function app's) is the main .venv above.
# azure-functions is the one pin left out: the lock's 1.x (for the Function app on 3.11)
# declares Requires-Python <3.13, so 3.13 gets the 2.x that pyproject allows.
PY313_VENV := .tools/py313
PY313_UNLOCKED := azure-functions
PY313_STAMP := $(PY313_VENV)/.installed

$(PY313_STAMP): pyproject.toml requirements.txt
	@py=$$(ls -d $$HOME/.pyenv/versions/3.13.*/bin/python 2>/dev/null | sort -V | tail -n 1); \
	if [ -z "$$py" ]; then py=$$(command -v python3.13 || true); fi; \
	if [ -z "$$py" ] || ! "$$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' \
		>/dev/null 2>&1; then \
		echo "make test-py313: no Python 3.13 found (looked for ~/.pyenv/versions/3.13.*/bin/python and python3.13 on PATH); install one, e.g. 'pyenv install 3.13'" >&2; \
		exit 1; \
	fi; \
	echo "test-py313: using $$py"; \
	rm -rf $(PY313_VENV) && "$$py" -m venv $(PY313_VENV)
	grep -v -E '^($(PY313_UNLOCKED))==' requirements.txt > $(PY313_VENV)/lock.txt
	$(PY313_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PY313_VENV)/bin/python -m pip install --quiet -r $(PY313_VENV)/lock.txt
	$(PY313_VENV)/bin/python -m pip install --quiet -c $(PY313_VENV)/lock.txt -e '.[dev,telemetry]'
	touch $@

test-py313: $(PY313_STAMP) $(NODE_STAMP)
	$(PY313_VENV)/bin/python -m pytest -m 'not slow' -q -p no:cacheprovider

# Headless Chromium for the web page's browser tests (tests/plugins/browser.py drives it with
# Playwright from PyPI). Debian's own package, never `playwright install` (a download from a
# CDN). Installed with apt-get where it is missing and apt-get is there (as root, or through
# sudo without a password); otherwise say how. In CI (CI=true) the browser tests fail without it.
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)

browser:
	@if [ -n "$(CHROMIUM)" ]; then \
		echo "browser: using $(CHROMIUM)"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "browser: no chromium on PATH and no apt-get; install Chromium with your package manager (the browser tests skip without it, and fail with CI=true)"; \
	else \
		if [ "$$(id -u)" = 0 ]; then sudo=; \
		elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
		else echo "browser: no chromium on PATH; run 'sudo apt-get install chromium' (the browser tests skip without it, and fail with CI=true)"; exit 0; fi; \
		echo "browser: installing Debian's chromium with apt-get"; \
		$$sudo apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null && \
		echo "browser: installed $$(command -v chromium)" || \
		echo "browser: apt-get could not install chromium (offline?); the browser tests skip without it, and fail with CI=true"; \
	fi

test-fast: install
	$(BIN)/python -m pytest -m 'not slow' -x -q

# WEB=1: the web page stays open for a browser at the end, until Enter.
demo: install
	$(BIN)/python -m hrupload_dev.demo $(if $(WEB),--web)

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .hypothesis .demo .bench
