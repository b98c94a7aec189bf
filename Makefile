# Lookout: `make run` starts everything locally, `make test` runs every test tier.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
N ?= 300000
# Test processes (pytest-xdist, one module per process at a time, each with its own embedded
# stack). Most integration tests wait on wall time (idle timeouts, outages, paced input), so two
# processes halve `make test` on a 2-core machine. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2

.PHONY: install native browser prometheus run test lint typecheck unit agents integration chaos bench clean help

help:
	@echo "make run    - install, start the embedded stack, migrations, a worker and the simulator"
	@echo "make test   - install, lint, type-check, then unit + agent + integration tests"
	@echo "make chaos  - failure scenarios (broker, worker faults); writes docs/RELIABILITY.md"
	@echo "make native - compile the window core with mypyc (make run and make test do it too)"
	@echo "make bench  - benchmark (N=... records per workload, default 300000)"
	@echo "make clean  - remove the virtualenv and local data"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[stack,dev]'
	@touch $(STAMP)

# The native window core (app/native.py): compiled with mypyc when its sources changed, else
# a check of their digests (well under a second). LOOKOUT_NATIVE=0 runs the Python sources.
install: $(STAMP)
	@$(BIN)/python -m devtools.native build --quiet

native: $(STAMP)
	$(BIN)/python -m devtools.native build

# The browser test drives Debian's Chromium with playwright-core (never a downloaded browser).
BROWSER := tests/browser/node_modules/.package-lock.json

$(BROWSER): tests/browser/package.json tests/browser/package-lock.json
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	npm ci --prefix tests/browser --no-audit --no-fund
	@touch $(BROWSER)

browser: $(BROWSER)

# Lookout's own alert rules and the scrape test run Debian's Prometheus (2.42, with promtool);
# its packaged service is not used (the tests start their own on a free port).
prometheus:
	@test -x /usr/bin/prometheus -a -x /usr/bin/promtool || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus)

run: install
	$(BIN)/lookout run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q tests/unit

agents: install
	$(BIN)/pytest -q tests/agents

integration: install browser prometheus
	$(BIN)/pytest -q tests/integration

test: install lint typecheck browser prometheus
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile tests/unit tests/agents tests/integration

# Not part of `make test`: each scenario runs minutes on a stack of its own.
CHAOS_RESULTS := tests/artifacts/chaos/results.jsonl

chaos: install
	rm -f $(CHAOS_RESULTS)
	CHAOS_RESULTS=$(CHAOS_RESULTS) $(BIN)/pytest -q -p no:cacheprovider -m chaos tests/chaos; \
	  status=$$?; $(BIN)/python -m tests.chaos.render $(CHAOS_RESULTS) docs/RELIABILITY.md; exit $$status

bench: install
	$(BIN)/python -m pip install -q -e '.[bench]' || echo "bench extra (quixstreams) not installed; Quix baseline skipped"
	$(BIN)/lookout bench --count $(N)

clean:
	rm -rf $(VENV) app/_native .lookout lookout-data .pytest_cache .mypy_cache .ruff_cache tests/browser/node_modules tests/artifacts
