# Two commands a newcomer needs: `make demo` and `make test`. Both build .venv on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# The torch/torchvision pair is pinned because timm needs torchvision and this pair is known to work together.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: install test demo bench lint gpu-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_PINS)
	$(PIP) install --quiet -e '.[cpu,dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

lint: $(STAMP)
	$(VENV)/bin/ruff check synthsight tests benchmarks
	$(VENV)/bin/lint-imports

demo: $(STAMP)
	$(PY) -m synthsight.demo

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

gpu-check: $(STAMP)
	$(PIP) install --quiet -e '.[gpu]'
	$(PY) -m pytest -q -m gpu tests
	$(PY) benchmarks/bench_gpu.py

clean:
	rm -rf $(VENV) build *.egg-info
