# Two entry points: `make demo` and `make test`. Both create or reuse .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.deps-installed

.PHONY: demo test test-rust test-python build bench clean

# Create the environment and install every extra (pip's cache keeps torch between runs).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,train,distributed]'
	touch $(STAMP)

# Rebuild the Rust extension in place (incremental; the editable install picks it up).
build: $(STAMP)
	$(VENV)/bin/maturin develop --release -q

demo: build
	$(PY) -m mcgip_fast.cli.main demo

test-rust:
	cargo test -p mcgip-core --release

# pytest exits 5 when it collects nothing; that is not a failure of the code.
test-python: build
	$(PY) -m pytest tests -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

test: test-rust test-python

# Every benchmark script at a size that runs in minutes on 2 cores (the README rows name the exact
# command, and any larger size, behind each number), then the pytest-benchmark cases.
bench: build
	$(PY) benchmarks/bench_heatmaps.py
	$(PY) benchmarks/bench_multimatch.py --quick
	$(PY) benchmarks/bench_hashing.py --quick
	$(PY) benchmarks/bench_threads.py
	$(PY) benchmarks/bench_index.py --n 100000 --queries 200
	$(PY) benchmarks/bench_mining.py multimatch --n 1000
	$(PY) benchmarks/bench_mining.py dhash --n 100000
	$(PY) benchmarks/bench_train.py 1
	$(PY) benchmarks/bench_input.py --n 100 --steps 3
	$(PY) benchmarks/bench_study.py --markdown
	$(PY) benchmarks/bench_study_scale.py 200 400
	$(PY) benchmarks/bench_inspect.py --n 2000
	$(PY) -m pytest benchmarks --benchmark-enable -q; rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

clean:
	rm -rf target $(VENV) python/mcgip_fast/_core*.so
