# Two commands a new user needs:  `make demo` (install, fetch -> convert -> info on real data)
# and `make test` (install, run the test suite).  `make help` lists the rest.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
IMUDATA := $(PYTHON) -m imudata.cli
REALDATA ?= ../shared/realdata
export IMUDATA_HOME ?= $(CURDIR)/data

.PHONY: help install demo test test-slow bench results clean

help:
	@echo "make demo       install, then fetch -> convert -> info HAPT (from $(REALDATA) when present, else the internet)"
	@echo "make test       install, then run the default test suite (fast; slow checks: make test-slow)"
	@echo "make bench      conversion throughput against a plain pandas reader"
	@echo "make results    the committed CPU training results (pretrain, align, eval on the demo manifest)"

install:
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[train,dev]"

demo: install
	@if [ -d "$(REALDATA)/hapt" ]; then \
	  echo "offline: taking the original HAPT files from $(REALDATA)/hapt"; \
	  $(IMUDATA) fetch hapt --from "$(REALDATA)/hapt"; \
	else \
	  $(IMUDATA) fetch hapt; \
	fi
	$(IMUDATA) info hapt
	$(IMUDATA) verify hapt

test: install
	$(PYTHON) -m pytest

test-slow: install
	$(PYTHON) -m pytest -m slow

bench: install
	$(PYTHON) benchmarks/convert.py

clean:
	rm -rf data runs .pytest_cache build *.egg-info
