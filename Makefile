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

# Debian packages, installed when missing (CI runs as root on a clean machine): `apt-get update`
# once, then one install. Each entry is `package` (installed when no binary has its name),
# `package:binary` (when that binary is missing) or `package:-` (a package without a binary: when
# dpkg does not list it as installed). redis-server for the stack and every integration test,
# chromium for the Collection page's browser tests (Playwright drives the system browser),
# docker-compose (Compose 1.29, no engine needed) to parse and resolve docker-compose.yml in the
# tests, rsyslog and its GnuTLS driver for the syslog destination's tests.
define debian_packages
	@missing=""; for entry in $(1); do name=$${entry%%:*}; check=$${entry#*:}; \
	  if [ "$$check" = "-" ]; then dpkg -s $$name 2>/dev/null | grep -q '^Status: install ok installed' \
	    || missing="$$missing $$name"; \
	  else command -v $$check >/dev/null 2>&1 || missing="$$missing $$name"; fi; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update && $(SUDO) apt-get install -y $$missing; fi
endef

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy core simulator cli api worker tasks bench

# The suite starts a few hundred Python processes (workers, APIs, simulators, the CLI): the
# project's modules are compiled once here, for where PYTHONDONTWRITEBYTECODE keeps imports from
# caching them. `--dist loadgroup` (pyproject) keeps a module's shared stack on one xdist worker.
test: $(STAMP) lint types
	$(call debian_packages,redis-server chromium docker-compose rsyslog:rsyslogd rsyslog-gnutls:-)
	$(BIN)/python -m compileall -q core worker tasks api cli simulator tests
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
