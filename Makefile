# Two commands do everything: `make run` (set up + run the quickstart build) and
# `make test` (set up + run the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= configs/quickstart.yaml

.PHONY: run test install browser clean

run: $(VENV)/.installed
	$(BIN)/stylectl run $(CONFIG)

test: $(VENV)/.installed browser
	$(BIN)/python -m pytest -q

install: $(VENV)/.installed

# One pip run with the constraints file: the verified set only resolves together.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e .
	touch $@

# The report test renders report.html in headless Chromium: Debian's package, installed when
# this runs as root with apt (as in CI); elsewhere that one test is skipped, and says so.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
	  echo "note: no Chromium here; the report rendering test will be skipped"

clean:
	rm -rf $(VENV) build *.egg-info
