# Two entry points: `make demo` and `make test`. Both create or reuse .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.deps-installed

.PHONY: demo test test-rust test-python build bench clean wheel test-wheel test-sdist

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

# ---- release: `make wheel` (manylinux2014 abi3 wheel + sdist in dist/), `make test-wheel` (smoke test)
# Only the release tools go into .venv here (no extras): maturin, zig from PyPI (ziglang: links
# against glibc 2.17 symbols, so no manylinux container is needed), twine, auditwheel.
RELEASE_STAMP := $(VENV)/.release-tools-installed
# Own target dir: zig's linker flags would otherwise invalidate `make build`'s incremental build.
WHEEL_TARGET_DIR ?= target/wheel

$(RELEASE_STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q 'maturin>=1.8,<2' ziglang twine auditwheel
	touch $(RELEASE_STAMP)

wheel: $(RELEASE_STAMP)
	rm -f dist/mcgip_fast-*
	PATH="$(abspath $(VENV))/bin:$$PATH" CARGO_TARGET_DIR=$(WHEEL_TARGET_DIR) $(VENV)/bin/maturin build --release --locked \
		--zig --compatibility manylinux2014 --out dist
	$(VENV)/bin/maturin sdist --out dist
	$(VENV)/bin/twine check --strict dist/mcgip_fast-*
	$(VENV)/bin/auditwheel show dist/mcgip_fast-*.whl > $(WHEEL_TARGET_DIR)/auditwheel.txt
	grep -q '"manylinux_2_17_' $(WHEEL_TARGET_DIR)/auditwheel.txt || { cat $(WHEEL_TARGET_DIR)/auditwheel.txt; exit 1; }
	@echo "wheel: $$(ls dist/*.whl) needs at most $$(grep -o 'GLIBC_[0-9.]*[0-9]' $(WHEEL_TARGET_DIR)/auditwheel.txt | sort -uV | tail -1)"

# Installs the wheel into a fresh venv (no Rust on PATH, run outside the tree) and runs the CLI on it.
test-wheel: wheel
	$(PY) .ci/wheel_smoke.py 'dist/mcgip_fast-*.whl'

# Not in CI (compiles the crate: minutes): the sdist builds with cargo offline from its Cargo.lock.
test-sdist: wheel
	$(PY) .ci/wheel_smoke.py 'dist/mcgip_fast-*.tar.gz' --extras ''

clean:
	rm -rf target dist $(VENV) python/mcgip_fast/_core*.so
