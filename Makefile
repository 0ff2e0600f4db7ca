# Two commands do all set-up: `make demo` and `make test` each create .venv and install
# the versions in constraints.txt (the ones the test suite passed with).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LATEST := .venv-latest
RUNS ?= 1

.PHONY: demo test bench test-latest lock fresh clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/descend demo

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/fit.py
	$(BIN)/python benchmarks/explore.py

# The suite against the newest releases pyproject.toml allows (no constraints), in a
# venv of its own, so that a new jax or optax that breaks descend is seen first here.
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --upgrade --quiet pip
	$(LATEST)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[test]"
	$(LATEST)/bin/python -m pip freeze --exclude-editable | grep -iE '^(jax|jaxlib|optax|numpy|matplotlib|scipy)=='
	$(LATEST)/bin/python -m pytest

# Pin what test-latest installed (run it first; commit constraints.txt if it passed).
lock:
	test -x $(LATEST)/bin/python || { echo "run 'make test-latest' first"; exit 2; }
	{ sed -n '1,3p' constraints.txt; $(LATEST)/bin/python -m pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt

# The README's two commands in fresh clones of this commit beside ../shared, with empty
# caches, as on a new machine (RUNS=3 for three in a row).
fresh:
	bash scripts/fresh.sh $(RUNS)

clean:
	rm -rf $(VENV) $(LATEST) build *.egg-info src/*.egg-info
