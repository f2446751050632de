# The two commands of the README: `make demo` and `make test`. Both build the
# virtual environment first (pinned versions, CPU torch) if it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench-etl bench-layout clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m jobs.run_pipeline --out demo

# One BLAS thread: the suite's small matrices gain nothing from threads, and
# oversubscribed BLAS threads on 2 cores slow every numpy call down.
test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider

test-all: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m ''

bench-etl: $(STAMP)
	$(PY) -m jobs.bench_etl

bench-layout: $(STAMP)
	$(PY) -m jobs.bench_layout

clean:
	rm -rf demo .pytest_cache
