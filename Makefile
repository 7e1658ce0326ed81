# krx-short: the two commands of the README are `make demo` and `make test`.
# Only Python 3.11+ and make are needed: uv is installed into .tools/ and the environment is
# built from uv.lock.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/warehouse/dagster
export DO_NOT_TRACK := 1
# Dagster's bookkeeping for a multi-session run (see pipelines/instance/__init__.py)
export DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS := true
export DAGSTER_EVENT_BATCH_SIZE := 1000

.PHONY: env demo test lint manifest dev clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(BIN)/krx-short: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode
	@touch $@

env: $(BIN)/krx-short

## generate the sample landing zone, build the warehouse, export Parquet, print a summary
demo: env
	$(BIN)/krx-short demo

## the dbt manifest Dagster loads (tests and CI prepare it; `dagster dev` does it itself)
manifest: env
	cd dbt_project && KRX_DUCKDB_PATH=$${KRX_DUCKDB_PATH:-$(CURDIR)/warehouse/krx_short.duckdb} \
		../$(BIN)/dbt parse --quiet --profiles-dir .

lint: env manifest
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	KRX_DUCKDB_PATH=$${KRX_DUCKDB_PATH:-$(CURDIR)/warehouse/krx_short.duckdb} \
		$(BIN)/sqlfluff lint dbt_project/models --disable-progress-bar

## ruff, sqlfluff and the whole test suite (slow tests included), on two workers (pytest-xdist;
## the tests of the shared reference build stay on one)
test: lint
	$(BIN)/pytest -q -n 2 --dist loadgroup

## the Dagster UI on http://127.0.0.1:$(PORT) (make dev PORT=3001 for another port)
PORT ?= 3000
dev: env
	$(BIN)/python -c "from pipelines.instance import ensure_dagster_home as e; e()"
	$(BIN)/dagster dev -h 127.0.0.1 -p $(PORT) -w workspace.yaml

clean:
	rm -rf $(VENV) $(TOOLS) dbt_project/target
