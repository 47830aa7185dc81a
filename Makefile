# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check bench bench-summaries bench-memory catalogs clean synapse axe

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The Matrix tests' homeserver: matrix-synapse (AGPL) in its own environment, run as a separate
# process by tests/synapse.py and never imported by Guardian.
SYNAPSE := .cache/synapse
SYNAPSE_VERSION := 1.163.2

$(SYNAPSE)/.installed:
	$(PYTHON) -m venv $(SYNAPSE)
	$(SYNAPSE)/bin/pip install --quiet --upgrade pip
	$(SYNAPSE)/bin/pip install --quiet 'matrix-synapse==$(SYNAPSE_VERSION)'
	touch $@

synapse: $(SYNAPSE)/.installed

# axe-core (MPL-2.0), which the browser tests load into each page from this copy (never a CDN):
# npm installs the version pinned in tests/browser/package-lock.json. Without npm the
# accessibility checks skip (and fail in CI, where .ci/run installs npm).
AXE := tests/browser/node_modules/axe-core/axe.min.js

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund
	touch $@

axe: $(AXE)

run: $(STAMP)
	mkdir -p var
	$(BIN)/guardian serve

lint: $(STAMP)
	$(BIN)/ruff check guardian plugins tests benchmarks
	$(BIN)/ruff format --check guardian plugins tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory axe; \
	  else echo "npm is missing: the axe-core accessibility checks will be skipped"; fi
	timeout --signal=INT --kill-after=30 1800 $(BIN)/pytest --durations=15 $(PYTEST_ARGS)

# After changing a message in the code: refresh guardian/locale/ (see docs/translating.md).
catalogs: $(STAMP)
	$(BIN)/python -m guardian.catalogs

# Figures, never pass/fail (docs/performance.md). wrk is used when installed: apt-get install wrk.
# Options go in BENCH_ARGS, e.g. make bench BENCH_ARGS="--seconds 10 --load held-50".
bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py $(BENCH_ARGS)

bench-summaries: $(STAMP)
	$(BIN)/python benchmarks/summaries.py $(BENCH_ARGS)

bench-memory: $(STAMP)
	$(BIN)/python benchmarks/ingest.py --memory $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache tests/browser/node_modules
