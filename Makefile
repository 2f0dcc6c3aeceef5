# Cunxiang: `make demo` runs a sample township; `make test` runs the test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= demo-data

.PHONY: demo test test-db lint format bench bootstrap clean

demo:
	scripts/bootstrap.sh
	$(VENV)/bin/cunxiang --data-dir $(DATA) demo

# Test modules are spread over JOBS processes (each module stays in one): most tests wait
# on mosquitto, espeak-ng, ffmpeg or the browser, so two processes on two cores halve the time.
JOBS ?= 2

test:
	scripts/bootstrap.sh --test
	$(PY) -m pytest -n $(JOBS) --dist loadfile

# The database-backed tests again, against the server in CUNXIANG_TEST_DATABASE_URL.
test-db:
	scripts/bootstrap.sh --test
	@test -n "$$CUNXIANG_TEST_DATABASE_URL" || { echo "set CUNXIANG_TEST_DATABASE_URL"; exit 2; }
	$(PY) -m pytest tests/integration -m db -n $(JOBS) --dist loadfile

lint:
	scripts/bootstrap.sh --test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench:
	scripts/bootstrap.sh --test
	$(PY) -m bench

clean:
	rm -rf $(DATA) .pytest_cache .mypy_cache .ruff_cache
