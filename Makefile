# Two commands a newcomer needs: `make demo` and `make test`. Both build .venv on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# The torch/torchvision pair is pinned because timm needs torchvision and this pair is known to work together.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
# Development installs every extra (pyproject.toml; `pip install synthsight` alone is the scan-only base).
# onnxruntime (in the base) and onnxruntime-gpu share one import folder: with both installed the CPU build wins
# and CUDAExecutionProvider disappears (microsoft/onnxruntime#26996). A venv that has the GPU package keeps it:
# KEEP_GPU_ORT removes the CPU package the base pulled in and puts the GPU one's files back.
EXTRAS = $(shell $(PIP) show onnxruntime-gpu >/dev/null 2>&1 && echo all,dev,gpu || echo all,dev)
KEEP_GPU_ORT = if $(PIP) show onnxruntime-gpu >/dev/null 2>&1 && $(PIP) show onnxruntime >/dev/null 2>&1; then \
		$(PIP) uninstall --yes --quiet onnxruntime && \
		$(PIP) install --quiet --force-reinstall --no-deps 'onnxruntime-gpu>=1.20'; \
	fi

# make gpu-check [GPU_ROWS=engine,ort-trt,ort-cuda,torch] [OFFLINE=1 PYTHON=/path/to/python3 [WHEELS=dir]]
# GPU_ROWS: the rows that must run (all by default); a row left out is reported as excluded, never skipped.
# OFFLINE=1: no package registry. A venv (.venv-offline) over PYTHON's site folders (an existing CUDA build of
# torch), synthsight run from this checkout; with WHEELS, only the packages the wanted rows need and lack are
# installed from that folder (docs/gpu.md lists the small wheel set of the torch row). Without WHEELS,
# gpucheck components names each missing package on its own line.
GPU_ROWS ?= engine,ort-trt,ort-cuda,torch
OFFLINE  ?=
WHEELS   ?=
ifeq ($(OFFLINE),1)
GPU_VENV := .venv-offline
else
GPU_VENV := $(VENV)
endif
GPU_PY  := $(GPU_VENV)/bin/python
# The test files that hold GPU tests (found when the step runs): only they are collected, so a module that
# imports what the GPU image need not have (selenium, ray, ...) cannot fail the GPU check at collection.
GPU_TESTS = $$(grep -l 'mark\.gpu' tests/test_*.py)
GPU_PIP := $(GPU_PY) -m pip

.PHONY: install test demo bench lint gpu-check gpu-env clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_PINS)
	$(PIP) install --quiet -e '.[$(EXTRAS)]'
	$(KEEP_GPU_ORT)
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

# The preflight runs first, with $(PYTHON)'s standard library and nvidia-smi only: without a CUDA device it
# exits 2 with one line before anything is installed. Then every wanted row must really run: a missing
# component, a GPU test that skips or a benchmark row that does not run fails the target.
gpu-check:
	$(PYTHON) -m synthsight.gpucheck device
	$(MAKE) --no-print-directory gpu-env
	@status=0; \
	$(GPU_PY) -m synthsight.gpucheck components --rows '$(GPU_ROWS)' || status=1; \
	SYNTHSIGHT_GPU_CHECK=1 GPU_ROWS='$(GPU_ROWS)' $(GPU_PY) -m pytest -q -m gpu $(GPU_TESTS) || status=1; \
	$(GPU_PY) benchmarks/bench_gpu.py --rows '$(GPU_ROWS)' || status=1; \
	if [ $$status -ne 0 ]; then echo "gpu-check FAILED: see the rows, tests and benchmark rows above"; fi; \
	exit $$status

gpu-env:
ifeq ($(OFFLINE),1)
	test -x $(GPU_PY) || $(PYTHON) -m venv --system-site-packages $(GPU_VENV)
	@# PYTHON's own site folders (a venv or conda Python's are not what --system-site-packages shows) and this
	@# checkout go in .pth files: the image's CUDA torch is seen, and synthsight runs with no build backend.
	@site="$$($(GPU_PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" && \
	$(PYTHON) -m synthsight.gpucheck site > "$$site/synthsight-base-site.pth" && \
	echo '$(CURDIR)' > "$$site/synthsight-source.pth"
ifneq ($(WHEELS),)
	@# Only what the wanted rows need and does not import yet, from WHEELS (gpucheck needs prints the names).
	@needs="$$($(GPU_PY) -m synthsight.gpucheck needs --rows '$(GPU_ROWS)')" || exit 2; \
	if [ -n "$$needs" ]; then echo "installing from $(WHEELS):" $$needs; \
	$(GPU_PIP) install --no-index --find-links '$(WHEELS)' $$needs; fi
endif
else
	$(MAKE) --no-print-directory install EXTRAS=all,dev,gpu
	$(PIP) install --quiet -e '.[gpu,dev]'
	$(KEEP_GPU_ORT)
	$(PY) -c "import onnxruntime as o, sys; p = o.get_available_providers(); \
	sys.exit(0 if 'CUDAExecutionProvider' in p else f'onnxruntime lists no CUDAExecutionProvider: {p}')"
endif

clean:
	rm -rf $(VENV) .venv-offline build *.egg-info
