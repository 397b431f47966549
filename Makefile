# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NPM_STAMP := frontend/node_modules/.installed

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml scripts/system-packages.sh
	scripts/system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,lint]'
	touch $(STAMP)

# The consoles' libraries (Leaflet, ECharts) from the npm registry, exactly as the lock file says.
$(NPM_STAMP): frontend/package.json frontend/package-lock.json scripts/system-packages.sh
	scripts/system-packages.sh
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

install: $(STAMP) $(NPM_STAMP)

run: install
	$(VENV)/bin/cityloop demo

# Two pytest processes (pytest-xdist), a test file's tests in one of them so that its module fixtures (a trained
# intake model, a started hub) are built once: most of a test's time is spent waiting on a hub or a browser, so
# two processes take ~9 minutes where one took ~15 on a 2-core box. `make test TEST_WORKERS=0` runs in one.
TEST_WORKERS ?= 2

test: install lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install
	$(VENV)/bin/cityloop bench

clean:
	rm -rf $(VENV) .cityloop frontend/node_modules
