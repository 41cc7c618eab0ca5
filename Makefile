# Two commands do all the set-up on a fresh machine (Python 3.11+ on PATH):
#   make demo   - create .venv, install churnml and its required dependencies (no Spark, no test
#                 tools), run the pipeline end to end on generated data
#   make test   - create .venv, install churnml with its dev and spark extras (pytest, hypothesis,
#                 nbclient, pyspark: about 2.4 GB in all), run the test suite in parallel
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# what the demo needs: churnml alone
$(VENV)/.installed-core: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# what the tests and benchmarks need: the dev and spark extras too
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,spark]"
	touch $(VENV)/.installed-core $@

# what the benchmarks need beside: polars, the reference bench/features.py times churnml against
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,spark,bench]"
	touch $(VENV)/.installed-core $(VENV)/.installed-dev $@

demo: $(VENV)/.installed-core
	$(BIN)/churnml demo

# one worker per core; a test file stays on one worker, so its module fixtures (a trained
# model, a Spark session) are built once
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n auto --dist loadfile

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/generator.py
	$(BIN)/python bench/features.py
	$(BIN)/python bench/trainer.py
	$(BIN)/python bench/explain.py
	$(BIN)/python bench/scoring.py
	$(BIN)/python bench/analytics.py
	$(BIN)/python bench/report.py
	$(BIN)/python bench/monitoring.py
	$(BIN)/python bench/spark.py

clean:
	rm -rf $(VENV) data/demo mlflow.db mlruns
