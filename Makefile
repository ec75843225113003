# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
ADAPTERS := $(sort $(dir $(wildcard adapters/*/pyproject.toml)))
ADAPTER_PACKAGES := $(sort $(wildcard adapters/*/src/miroflow_*))

.PHONY: install browser test lint typecheck pytest demo spec bench clean dist smoke

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

# Debian's chromium drives tests/e2e/test_browser.py (through Playwright, never a downloaded
# browser). Installed here when missing and this is a root shell with apt-get; elsewhere the
# browser tests skip with a reason (they fail instead under MIROFLOW_REQUIRE_SERVICES=1).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is not installed: the browser tests will skip."; \
	  fi; }

pytest: install browser
	$(VENV)/bin/pytest -q

test: lint typecheck pytest smoke

# Every wheel and sdist (the core's and each adapter's) into dist/, then checked: twine check,
# and what each holds (its own files, py.typed, LICENSE, one version, the adapters' pins).
dist: install
	$(PY) .ci/dist.py build dist

# The built wheels alone (their dependencies from PyPI) in a fresh venv under build/smoke:
# every import, `miroflow-simulator --help`, the pytest plugin, examples/demo.py on SQLite.
smoke: dist
	$(PY) .ci/dist.py smoke dist

demo: install
	$(PY) examples/demo.py

spec: install
	$(PY) specs/generate.py

# The benchmarks run in a venv of their own, from the same Python, with miroflow and the
# adapters editable plus the peer libraries and matplotlib (benchmarks/requirements.txt):
# the peers are never miroflow dependencies, and `make test` needs none of them.
BENCH_VENV := .venv-bench

$(BENCH_VENV)/.installed: pyproject.toml $(wildcard adapters/*/pyproject.toml) benchmarks/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-e . $(foreach a,$(ADAPTERS),-e ./$(a)) -r benchmarks/requirements.txt
	touch $@

# Writes BENCHMARKS.md and benchmarks/plots/*.png (Redis and PostgreSQL as for the tests).
bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python benchmarks/run.py --services --report .

clean:
	rm -rf $(VENV)
