# The two commands: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: run test lint types bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages, installed when their binary is missing (CI runs as root on a clean machine):
# `apt-get update` once, then one install. redis-server for the stack and every integration test,
# chromium for the Collection page's browser tests (Playwright drives the system browser),
# docker-compose (Compose 1.29, no engine needed) to parse and resolve docker-compose.yml in the tests.
define debian_packages
	@missing=""; for name in $(1); do command -v $$name >/dev/null 2>&1 || missing="$$missing $$name"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update && $(SUDO) apt-get install -y $$missing; fi
endef

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy core simulator cli api worker tasks bench

test: $(STAMP) lint types
	$(call debian_packages,redis-server chromium docker-compose)
	$(BIN)/pytest -n 2

run: $(STAMP)
	$(call debian_packages,redis-server)
	$(BIN)/mimecast-source run

# Every benchmark, then the issue's targets next to the figures; a part or smaller sizes with e.g.
# `make bench BENCH_ARGS="p1 --records 30000"` or `BENCH_ARGS="targets --quick"` (see README, Benchmarks).
bench: $(STAMP)
	$(call debian_packages,redis-server)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
