# fedloom developer entry points. Each target sets up .venv itself on a fresh machine.
PY      ?= python3
VENV    ?= .venv
EXTRAS  ?= dev,nn,bert,server,ray
comma   := ,
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: setup demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

setup: $(STAMP)

## The main job: upload the bundled breast tables, then intersection -> hetero LR (Paillier) ->
## evaluation, guest, host and arbiter as three processes over loopback gRPC; tables and job
## folders go under ~/.fedloom.
demo: $(STAMP)
	$(BIN)/fedloom --version
	$(BIN)/fedloom demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

test: lint typecheck unit

bench: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/fedloom bench paillier --json

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
