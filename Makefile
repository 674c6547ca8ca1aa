# Two commands do everything: `make run` (set up + run the quickstart build) and
# `make test` (set up + run the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= configs/quickstart.yaml

.PHONY: run test install clean

run: $(VENV)/.installed
	$(BIN)/stylectl run $(CONFIG)

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

install: $(VENV)/.installed

# One pip run with the constraints file: the verified set only resolves together.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e .
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info
