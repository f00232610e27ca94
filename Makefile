# Two commands matter: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast install dev lint typecheck bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[llama]'
	touch $@

# confseq (a dev dependency, the tests' independent check of the confidence sequences) ships no
# wheel for Python 3.11 and its sdist asks for pybind11~=2.6, whose headers do not compile against
# 3.11 (PyFrameObject became opaque): build it first against a current pybind11, without isolation.
CONFSEQ_BUILD := setuptools wheel scikit-build cmake ninja 'pybind11>=2.10'

# The dev install includes the llama extra, so `make demo` can reuse it.
$(VENV)/.dev-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(CONFSEQ_BUILD)
	$(PY) -m pip install --quiet --no-build-isolation 'confseq==0.0.11'
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

demo: install
	$(VENV)/bin/gapbench demo

# lint-imports checks the layers of docs/architecture.md ([tool.importlinter] in pyproject.toml).
lint: dev
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports --no-cache --no-logo

typecheck: dev
	$(PY) -m mypy

test: lint typecheck
	$(PY) -m pytest -q

# The edit-test loop: everything but the tests marked slow (real models through llama.cpp,
# its server or transformers), without lint and typecheck.
test-fast: dev
	$(PY) -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
