# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
OUT    ?= demo_output

.PHONY: install dev demo test test-slow bench-toy bench-seeds bench-pykan bench-estimators bench-symbolic bench-speed bench-claims bench-claims-quick clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# torch is installed only when missing: users may bring their own (CUDA) build.
install: $(PY)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==$(TORCH_VERSION)
	$(PY) -m pip install --quiet -e .

dev: install
	$(PY) -m pip install --quiet -e ".[dev,timeseries]"

# the mission's visualization pipeline (examples/kan_visualization_demo.py), then `kanlab demo`
# (grid extension, and the formula recovered with a multiplication node); PNGs into $(OUT)/ and
# $(OUT)/kanlab_demo/
demo: install
	mkdir -p $(OUT)
	@start=$$(date +%s); \
	(cd $(OUT) && MPLBACKEND=Agg $(abspath $(PY)) $(abspath examples/kan_visualization_demo.py)) && \
	mid=$$(date +%s) && \
	MPLBACKEND=Agg $(PY) -m kanlab demo --out $(OUT)/kanlab_demo && \
	end=$$(date +%s) && \
	echo "make demo: the mission's script $$((mid - start)) s, kanlab demo $$((end - mid)) s (wall clock)"

test: dev
	$(PY) -m pytest -q

test-slow: dev
	$(PY) -m pytest -q -m slow

bench-toy: dev
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks.toy_functions

bench-seeds: dev
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks.seeds

bench-pykan: dev
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks.pykan_workflows
	$(PY) -m benchmarks.pykan_docstrings

bench-estimators: dev
	$(PY) -m pip install --quiet -e ".[bench]"
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.estimators

bench-symbolic: dev
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks.symbolic

# one thread, then all threads (ratios to the dense-matmul bound; see BENCHMARKS.md)
bench-speed: dev
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks.speed --threads 1
	$(PY) -m benchmarks.speed --threads 0

# the mission document's claims, KAN vs MLP on one core; rewrites CLAIMS.md's sections (~30 min)
bench-claims: dev
	$(PY) -m pip install --quiet -e ".[bench]"
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.claims_functions
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.claims_pde
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.claims_tabular

# the same in minutes, smaller budgets, printed only (CLAIMS.md untouched)
bench-claims-quick: dev
	$(PY) -m pip install --quiet -e ".[bench]"
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.claims_functions --quick --out ''
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.claims_pde --quick --out ''
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.claims_tabular --quick --out ''

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info
