# medtx: two commands set everything up on a fresh machine.
#   make train   create .venv if needed, install, run TrainFlow on the built-in defaults
#   make test    create .venv if needed, install, run the default test tier (minutes)
# Slower tiers, all run by CI (.ci/run): make check docs test-flows test-slow
SHELL := /bin/bash
PYTHON_BIN ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch is installed first so pip never resolves "torch" to a multi-GB CUDA
# wheel; on a GPU machine pass e.g. TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128".
TORCH_SPEC ?= torch==2.13.0
ARGS ?=

# Metaflow refuses to run without a user name; offline by default (no hub downloads).
export USER ?= $(or $(USERNAME),$(LOGNAME),medtx)
export HF_HUB_OFFLINE ?= 1
export GX_ANALYTICS_ENABLED ?= false
export TOKENIZERS_PARALLELISM ?= true
export PYTHONUNBUFFERED := 1

.PHONY: install train deploy monitor test test-flows test-slow test-all check docs ci bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

train: install
	$(PY) flows/train_flow.py run $(ARGS)

deploy: install
	$(PY) flows/deploy_flow.py run $(ARGS)

monitor: install
	$(PY) flows/monitor_flow.py run $(ARGS)

# Tiers (markers in pyproject.toml): the default tier leaves out `flows` (extra full-flow
# variants through Metaflow's Runner) and `slow` (real data at full size, every drift shift).
# Two workers (pytest-xdist); tests/conftest.py pins tests that share a costly fixture to one.
PYTEST := $(PY) -m pytest -n $(or $(WORKERS),2) --dist loadgroup
test: install
	$(PYTEST) -m "not slow and not flows" $(ARGS)

test-flows: install
	$(PYTEST) -m "flows and not slow" $(ARGS)

test-slow: install
	$(PYTEST) -m slow $(ARGS)

check: install
	$(PY) -m ruff check src flows bench tests
	$(PY) -m mypy src

docs: install
	$(PY) -m mkdocs build --strict --site-dir build/site

# everything CI runs after `make test`
ci: check docs test-flows test-slow

test-all: install
	$(PYTEST) $(ARGS)

bench: install
	$(PY) bench/train_throughput.py $(ARGS)

clean:
	rm -rf .metaflow .medtx build *.egg-info
