# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
ADAPTERS := $(sort $(dir $(wildcard adapters/*/pyproject.toml)))
ADAPTER_PACKAGES := $(sort $(wildcard adapters/*/src/miroflow_*))

.PHONY: install browser test lint typecheck pytest demo spec bench clean dist smoke docs fuzz

$(VENV)/.installed: pyproject.toml $(wildcard adapters/*/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check \
		-e '.[testing,dev]' $(foreach a,$(ADAPTERS),-e ./$(a))
	touch $@

install: $(VENV)/.installed

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy src/miroflow $(ADAPTER_PACKAGES) tests/typing benchmarks specs/generate.py $(wildcard examples/*.py)
	@# Each example is an app.py of its own: one run each, or mypy sees one module "app" twice.
	@set -e; for example in $(wildcard examples/*/); do $(VENV)/bin/mypy $$example; done

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

test: lint typecheck pytest smoke docs

# The documentation site (mkdocs.yml, docs/) into build/site, with every warning an error:
# a broken link or anchor, a page missing from the nav, an error code without its page.
# Offline; NO_MKDOCS_2_WARNING quiets Material's banner about MkDocs 2. (No --quiet: it hides
# the warnings from the count that --strict fails on.)
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# Every wheel and sdist (the core's and each adapter's) into dist/, then checked: twine check,
# and what each holds (its own files, py.typed, LICENSE, one version, the adapters' pins).
dist: install
	$(PY) .ci/dist.py build dist

# The built wheels alone (their dependencies from PyPI) in a fresh venv under build/smoke:
# every import, `miroflow-simulator --help`, the pytest plugin, `miroflow --help` and
# `miroflow demo` (the whole lifecycle on SQLite against the simulator).
smoke: dist
	$(PY) .ci/dist.py smoke dist

# Coverage-guided fuzzing of the parsers (atheris, in the dev extra on Linux x86-64): each
# target of fuzz/fuzz_targets.py for FUZZ_SECONDS from its committed corpus; finds go to
# build/fuzz/, crashes fail the run. `make test` replays the committed corpus only.
FUZZ_SECONDS ?= 60

fuzz: install
	$(PY) fuzz/run.py --seconds $(FUZZ_SECONDS)

demo: install
	$(VENV)/bin/miroflow demo

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
