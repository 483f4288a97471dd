# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
OUT    ?= demo_output

.PHONY: install dev demo test test-slow bench-toy bench-symbolic bench-speed clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# torch is installed only when missing: users may bring their own (CUDA) build.
install: $(PY)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==$(TORCH_VERSION)
	$(PY) -m pip install --quiet -e .

dev: install
	$(PY) -m pip install --quiet -e ".[dev]"

# the mission's visualization pipeline (examples/kan_visualization_demo.py), PNGs into $(OUT)/
demo: install
	mkdir -p $(OUT)
	cd $(OUT) && MPLBACKEND=Agg $(abspath $(PY)) $(abspath examples/kan_visualization_demo.py)

test: dev
	$(PY) -m pytest -q

test-slow: dev
	$(PY) -m pytest -q -m slow

bench-toy: dev
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/toy_functions.py

bench-symbolic: dev
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/symbolic.py

# one thread, then all threads (ratios to the dense-matmul bound; see BENCHMARKS.md)
bench-speed: dev
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/speed.py --threads 1
	$(PY) benchmarks/speed.py --threads 0

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info
