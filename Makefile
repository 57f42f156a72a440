# hugetmpfs — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint format corpus bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: the main job, the built-in default scenario (outputs under out/)
run: $(STAMP)
	$(BIN)/hugetmpfs run

## test: the whole suite (lint, layer contract, unit, property, differential against the kernel)
test: $(STAMP) lint
	$(BIN)/pytest -n 2 -q

## lint: ruff (format and lint) and the import-layer contract
lint: $(STAMP)
	$(BIN)/ruff format --check src tests benchmarks corpus
	$(BIN)/ruff check src tests benchmarks corpus
	$(BIN)/lint-imports

## format: rewrite the sources with ruff
format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks corpus
	$(BIN)/ruff check --fix src tests benchmarks corpus

## corpus: regenerate the trace corpus and the kernel's results beside it (root)
corpus: $(STAMP)
	$(BIN)/python corpus/generate.py
	$(BIN)/python corpus/record.py

## bench: model vs kernel benchmarks (benchmarks/README.md; root for the kernel figures; slow)
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache .hypothesis
