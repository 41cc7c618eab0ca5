# Two commands do all the set-up on a fresh machine (Python 3.11+ on PATH):
#   make demo   - create .venv, install churnml, run the pipeline end to end on generated data
#   make test   - create .venv, install churnml with its dev extra, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,spark]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/churnml demo

test: $(STAMP)
	$(BIN)/python -m pytest -n auto

bench: $(STAMP)
	$(BIN)/python bench/generator.py
	$(BIN)/python bench/features.py
	$(BIN)/python bench/trainer.py
	$(BIN)/python bench/explain.py
	$(BIN)/python bench/scoring.py
	$(BIN)/python bench/analytics.py
	$(BIN)/python bench/spark.py

clean:
	rm -rf $(VENV) data/demo mlflow.db mlruns
