# tapcert — see README.md. Every target installs what it needs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
APT_PACKAGES := mosquitto mosquitto-clients postgresql pcscd libpcsclite-dev swig vsmartcard-vpcd pcsc-tools chromium fonts-wqy-microhei otf2bdf nats-server poppler-utils
STAMP := $(VENV)/.installed

.PHONY: help venv system node test test-fast test-full demo demo-explore bench bench-quick fuzz hil chaos scale audit clean wheel deb

help:
	@echo "make demo         run a whole district end to end on this machine"
	@echo "make demo-explore the same, then keeps running (./demo-data) until Ctrl-C"
	@echo "make test         install everything and run every test (long sweeps as a sample)"
	@echo "make test-full    the whole sweeps make test runs a sample of (full_sweep: power cuts at every flash op)"
	@echo "make hil          hardware-in-the-loop scenarios (HIL_ARGS=--target=serial:/dev/ttyACM0)"
	@echo "make bench        measure the system against its bounds (make bench-quick: < 2 min)"
	@echo "make fuzz         long fuzzing of every decoder"
	@echo "make chaos        the full chaos run (20,000 taps, 50+ faults) from three seeds"
	@echo "make scale        city failover run on a 3-node NATS cluster + scale figures"
	@echo "make audit        pip-audit over constraints.txt (exit 2: advisory service unreachable)"
	@echo "make wheel        dist/tapcert-VERSION-py3-none-any.whl (make deb: the Pi agent's .deb)"

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# Node.js and rp2040js for the rp2040 reader target (hil_tests/targets/rp2040). Debian's
# nodejs and npm are installed only when the commands are missing: a NodeSource nodejs
# (which bundles npm) conflicts with Debian's npm package.
RP2040_DIR := hil_tests/targets/rp2040
NODE_STAMP := $(RP2040_DIR)/node_modules/.installed

node:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  echo "installing system packages: nodejs npm"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm; \
	fi

$(NODE_STAMP): $(RP2040_DIR)/package.json $(RP2040_DIR)/package-lock.json | node
	npm ci --prefix $(RP2040_DIR) --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(STAMP): pyproject.toml setup.py constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP) $(NODE_STAMP)

# Two workers, one per core: most tests wait on real services and subprocesses.
# --dist loadfile keeps each file (and its one micropython run) on one worker;
# --no-loadscope-reorder keeps the order tests/conftest.py gives the files: longest first
# (tests/filetimes.json), so no long file starts last.
PYTEST_WORKERS ?= 2
PYTEST_DIST := --dist loadfile --no-loadscope-reorder

test: system venv
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_DIST) -m "not rp2040_full and not full_sweep"

test-fast: venv
	$(PY) -m pytest -q -x -n 2 $(PYTEST_DIST) -m "not slow and not rp2040_full and not full_sweep"

# What make test samples, in full (tests marked full_sweep; each says what the whole adds).
test-full: system venv
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_DIST) -m full_sweep

demo: system venv
	$(PY) -m hil_tests.demo $(DEMO_ARGS)

demo-explore: system venv
	$(PY) -m hil_tests.demo --keep-running --dir ./demo-data

hil: system venv
	$(PY) -m pytest -q hil_tests $(HIL_ARGS)
	$(if $(findstring rp2040,$(HIL_ARGS)),$(PY) -m pytest -q tests/test_rp2040 -m rp2040_full)

# Release artefacts (docs/install.md): the wheel (every program, the reader firmware, docs and
# ops/ files) and the station agent's .deb. tests/test_packaging checks both outside the checkout.
wheel: venv
	rm -rf build dist/tapcert-*.whl
	$(PY) -m pip wheel --no-deps -q -w dist .

deb: wheel
	$(PY) ops/deb/build.py --wheel $$(ls dist/tapcert-*.whl) --out dist

audit: venv
	$(PY) tools/audit_deps.py

chaos: system venv
	for seed in 1 2 3; do $(PY) -m hil_tests.chaos --seed $$seed || exit 1; done

scale: system venv
	$(PY) -m hil_tests.scale
	$(PY) -m bench.scale_bench --full

bench: system venv
	$(PY) -m bench.run --full

bench-quick: system venv
	$(PY) -m bench.run --quick

fuzz: venv
	$(PY) -m pytest -q tests -k fuzz --fuzz-examples=100000 -p no:cacheprovider

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
