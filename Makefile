# The only entry points: make run, make test, make bench, make lint.
# Every target sets up its own virtual environment on first use, so a fresh clone just works.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench chaos soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/wess serve

test: $(STAMP)
	$(BIN)/python -m pytest
	$(BIN)/behave --format progress tests/features

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# bench: every figure of docs/PERFORMANCE.md (P1-P7), about 4 minutes; never part of `make test`.
# Its own environment holds the comparators' and the plots' packages, never .venv.
BENCH_VENV  := .bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	touch $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP)
	@command -v wrk >/dev/null 2>&1 || { \
	    if [ "$$(id -u)" = 0 ]; then \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y wrk || \
	        { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }; \
	    else \
	        echo "make bench needs wrk (Debian package wrk): sudo apt-get install -y wrk" >&2; \
	        exit 1; \
	    fi; }
	$(BENCH_VENV)/bin/python bench/run_all.py --python $(BIN)/python

# chaos: the full destruction suite (tests/chaos with WESS_CHAOS=full: 50 kills, every
# corruption, hostile inputs, 1,000 hostile calls, fuzzing), then a short Locust run
# (smoke and spike), then docs/RELIABILITY.md rewritten from their figures (about 30 min).
# `make test` runs the same suite short. soak: 10 minutes of the realistic mix, then the
# report again. Figures go to docs/reliability/; never part of `make test`.
CHAOS_RESULTS := docs/reliability/chaos.jsonl

chaos: $(STAMP) $(BENCH_STAMP)
	mkdir -p docs/reliability
	rm -f $(CHAOS_RESULTS).new
	WESS_CHAOS=full WESS_CHAOS_RESULTS=$(CURDIR)/$(CHAOS_RESULTS).new \
	    $(BIN)/python -m pytest --durations=15 tests/chaos
	mv $(CHAOS_RESULTS).new $(CHAOS_RESULTS)
	$(BIN)/python bench/load.py --profile smoke
	$(BIN)/python bench/load.py --profile spike
	$(BENCH_VENV)/bin/python bench/reliability.py

soak: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python bench/load.py --profile soak
	$(BENCH_VENV)/bin/python bench/reliability.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
