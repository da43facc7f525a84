# The two commands of the README: `make serve` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
REST_PORT ?= 8501
GRPC_PORT ?= 8500

.PHONY: setup serve test check bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[tensorflow,test,bench,gateway,examples]'
	touch $@

serve: setup
	@echo "Serving examples/models/half_plus_two. Try, from another terminal:"
	@echo "  curl http://localhost:$(REST_PORT)/v1/models/half_plus_two"
	@echo "  curl -d '{\"instances\": [[1.0], [2.0], [5.0]]}' http://localhost:$(REST_PORT)/v1/models/half_plus_two:predict"
	$(BIN)/pyserving serve --model_name=half_plus_two \
		--model_base_path=$(CURDIR)/examples/models/half_plus_two \
		--port=$(GRPC_PORT) --rest_api_port=$(REST_PORT)

test: setup
	$(BIN)/python -m pytest

# The house rules, enforced (pyproject.toml: [tool.ruff], [tool.mypy], [tool.importlinter]).
CHECKED := pyserving tests bench examples scripts
check: setup
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)
	$(BIN)/mypy pyserving
	$(BIN)/lint-imports

BENCH_ARGS ?=
bench: setup
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
