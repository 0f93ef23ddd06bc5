# legato — two commands: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WHEELHOUSE := $(VENV)/wheelhouse

.PHONY: run test lint typecheck unit bench clean venv chromium

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# wheels of legato's runtime dependencies, so that the wheel test installs offline
	rm -rf $(WHEELHOUSE)
	$(BIN)/pip wheel -q --wheel-dir $(WHEELHOUSE) '.[postgres]'
	rm -f $(WHEELHOUSE)/legato-*.whl
	touch $(STAMP)

venv: $(STAMP)

## make run: set up and run the example order workflow on SQLite (retry, durable sleep, timeline),
## then serve the dashboard and the API over its database until Ctrl-C (make run ONCE=1: exit
## after the example)
run: $(STAMP)
	$(BIN)/python examples/order_fulfilment.py
ifndef ONCE
	$(BIN)/legato server examples/order_fulfilment.py --db sqlite:///legato-demo.db --port 8080
endif

## make test: set up and run every test plus ruff and mypy --strict
## (the chaos storms run last and alone: their take-over timings must not compete for CPU)
test: $(STAMP) chromium lint typecheck
	$(BIN)/python -m pytest -q -n 2 -m "not chaos" tests
	$(BIN)/python -m pytest -q -n 2 -m wallclock --legato-clock-ahead=400 tests
	$(BIN)/python -m pytest -q -m chaos tests

## the browser tests drive Debian's chromium: installed when missing if that needs no password
## (as root, or with passwordless sudo); otherwise they are skipped with one loud line
## (.ci/run installs it and fails the run without it)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then APT="apt-get"; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then APT="sudo -n apt-get"; \
	  else echo "make: no chromium, and installing it needs a password: the browser tests will be skipped (sudo apt-get install chromium)"; exit 0; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$APT install -y -q chromium || { $$APT update -q && $$APT install -y -q chromium; } \
	    || echo "make: installing chromium failed: the browser tests will be skipped"; }

lint: $(STAMP)
	$(BIN)/ruff check src tests examples bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/legato

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

## make bench: benchmarks against the raw commit rate measured in the same run
bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
