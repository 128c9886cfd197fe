# The README's two commands: `make demo` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

BROWSER := $(VENV)/.browser
# The screening clients the tests run unchanged, in their own environment (tests/clients).
CLIENTS := .venv-clients/.installed

.PHONY: demo serve test lint bench bench-registry bench-service bench-oracle clean

$(STAMP): pyproject.toml scripts/system-packages.sh
	./scripts/system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	touch $(STAMP)

# The browser tests drive Debian's Chromium (installed here, not downloaded by Playwright).
$(BROWSER): $(STAMP) scripts/system-packages.sh
	./scripts/system-packages.sh test
	touch $(BROWSER)

$(CLIENTS): tests/clients/requirements.txt
	$(PYTHON) -m venv .venv-clients
	.venv-clients/bin/python -m pip install --quiet --upgrade pip
	.venv-clients/bin/python -m pip install --quiet -r tests/clients/requirements.txt
	touch $(CLIENTS)

# Builds the synthetic city into demo-out/, then serves the API and the portal; prints the
# portal's address and a demo credential for every role. `PORT=8001 make demo` serves on 8001.
PORT ?= 8000

demo: $(STAMP)
	$(BIN)/socialcredit demo --out demo-out --serve --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two workers (this machine's two cores), a test file per worker at a time: module fixtures
# (one Spark session, one demo city) stay shared within their file. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2

test: lint $(BROWSER) $(CLIENTS)
	$(BIN)/pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-registry: $(STAMP)
	$(BIN)/python bench/registry.py ingest --records 2000000 --parts 2
	$(BIN)/python bench/registry.py online --records 1000000 --subjects 20000
	$(BIN)/python bench/registry.py evaluate --records 20000000 --subjects 2000000 --repeat 2

bench-service: $(STAMP)
	./scripts/system-packages.sh bench
	$(BIN)/python bench/service.py

bench-oracle: $(STAMP)
	$(BIN)/python bench/oracle.py

clean:
	rm -rf $(VENV) .venv-clients demo-out .pytest_cache .mypy_cache .ruff_cache .hypothesis
