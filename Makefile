# Two commands do everything: `make run` and `make test`. Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed

.PHONY: setup run demo test check versioned lint typecheck unit clean chromium chaos load bench package lock

# The Python and Node installs side by side (each waits on downloads and unpacking, not on the other).
setup:
	@$(MAKE) --no-print-directory -j2 $(STAMP_PY) $(STAMP_NODE)
	@$(MAKE) --no-print-directory local.settings.json

# requirements-dev.txt is a lock (the app's pins and the dev tools', each with its hashes): exactly those files.
$(STAMP_PY): requirements.txt requirements-dev.txt requirements-worker-sdk.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is required")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	# The project itself, editable and with nothing more (the lock above has it all): `from switchboard.client
	# import ...` and `python -m switchboard` then work from any folder with this .venv's python.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --no-index -e .
	# The SDK Core Tools' worker bundles, kept beside (not installed): tests index the app with it.
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
	  -r requirements-worker-sdk.txt -d $(VENV)/worker-sdk
	@touch $@

$(STAMP_NODE): package.json package-lock.json
	@command -v node >/dev/null || { echo "Node.js 20 or newer is required (Azurite, twilio-node)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The first copy gets a random LOCAL_FUNCTION_KEY: the example's key is published.
local.settings.json:
	$(PYTHON) -m tools.localkey local.settings.json.example $@

# Azurite + the Twilio emulator (unless real Twilio is configured) + the app: Core Tools when present,
# otherwise the project's local host (a dev tool, not the Functions host).
PORT ?= 7071

run: setup
	@if command -v func >/dev/null; then \
	  $(PY) -m tools.devhost.stack --no-app & trap "kill $$! 2>/dev/null" EXIT; \
	  . $(VENV)/bin/activate && func start --port $(PORT); \
	else \
	  exec $(PY) -m tools.devhost.stack --port $(PORT); \
	fi

# The whole loop on a private stack (free ports, Azurite in memory): never clashes with `make run`.
demo: setup
	$(PY) -m tools.devhost.demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

# The suite runs on pytest-xdist workers, one more than the cores: much of it waits on processes, queues and
# timers, and a third worker keeps two cores busy (on 2 cores: 235 s with 2 workers, 202 s with 3, 204 s with 4).
# Each worker starts its own Azurite on free ports, and the leak guard (tests/leakguard.py) gathers every
# worker's findings. A module whose fixture starts processes runs on one worker (tests/tiers.py, ONE_WORKER).
# `make unit WORKERS=0` (or `pytest -n 0`) runs it in one process.
WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))

unit: setup chromium
	$(PY) -m pytest -n $(WORKERS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

test: lint typecheck unit

# The quick tier, under a minute: ruff, mypy and the tests that need no Azurite and are not slow. A test needs
# Azurite when its fixtures do (tests/tiers.py derives the marker); `make test` runs everything.
check: lint typecheck
	$(PY) -m pytest -n $(WORKERS) -m "not azurite and not slow"

# What can differ between Python versions (azure-functions 1.x up to 3.12, 2.x on 3.13): the quick tier plus the
# tests marked `versioned` (tests/tiers.py). .ci/run runs it on 3.13: make VENV=.venv-py3.13 PYTHON=python3.13 versioned
versioned: setup
	$(PY) -m pytest -n $(WORKERS) -m "versioned or (not azurite and not slow)"

clean:
	rm -rf $(VENV) node_modules .azurite .run .dist .pytest_cache .mypy_cache .ruff_cache test-artifacts

# Debian's chromium for the operator page's browser tests: installed only when missing and we are root;
# otherwise those tests skip with the reason.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium (Debian package) for the browser tests"; \
	  apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 chromium >/dev/null 2>&1 \
	  || { apt-get update -qq -o DPkg::Lock::Timeout=300 >/dev/null 2>&1 \
	       && apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 chromium >/dev/null 2>&1; } \
	  || echo "chromium could not be installed: the browser tests will be skipped"; \
	fi

# Fault injection (N = 1,000, every fault on, three local hosts on the same queues) and a 60 s webhook load run;
# see docs/reliability.md.
chaos: setup
	$(PY) -m chaos --n 1000 --kills 5
	$(PY) -m chaos --scenario limits

load: setup
	$(PY) -m chaos.load --seconds 60

# The deployment artifact: .dist/switchboard.zip and its unpacked tree .dist/app (azure.yaml's prepackage hook
# runs the same command). Only Python and git: no setup, no Node.
package:
	$(PYTHON) -m tools.package

# Pin requirements.in and requirements-dev.in into the hashed locks (uv, from requirements-dev.in; needs the index).
lock: setup
	$(PY) -m tools.lock

# Benchmarks (not part of `make test`): starts its own Azurite and Twilio emulator on free ports,
# writes bench/results.json, bench/RESULTS.md and bench/scaling.png. 7 to 13 minutes on 2 cores (399 s, 654 s and 738 s seen).
bench: setup
	$(PY) -m bench
