# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
ADAPTERS := $(sort $(dir $(wildcard adapters/*/pyproject.toml)))
ADAPTER_PACKAGES := $(sort $(wildcard adapters/*/src/miroflow_*))

.PHONY: install test lint typecheck pytest demo spec bench clean

$(VENV)/.installed: pyproject.toml $(wildcard adapters/*/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check \
		-e '.[testing,dev]' $(foreach a,$(ADAPTERS),-e ./$(a))
	touch $@

install: $(VENV)/.installed

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy src/miroflow $(ADAPTER_PACKAGES) tests/typing benchmarks specs/generate.py examples

pytest: install
	$(VENV)/bin/pytest -q

test: lint typecheck pytest

demo: install
	$(PY) examples/demo.py

spec: install
	$(PY) specs/generate.py

bench: install
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV)
