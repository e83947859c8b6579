# Two commands matter: `make run` and `make test`. Everything else is a convenience.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test test-postgres lint flows-check bench clean

install: $(STAMP)

# Reinstall when the project's dependencies change.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/helpline db upgrade
	$(BIN)/helpline serve

test: install
	$(BIN)/python -m pytest

# The same suite against the local PostgreSQL server (a throw-away database per run).
test-postgres: install
	HELPLINE_TEST_DATABASE_URL=$${HELPLINE_TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test} \
		$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check helpline tests migrations

flows-check: install
	$(BIN)/helpline flows check

bench: install
	$(BIN)/python tests/bench/bench_sms.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
