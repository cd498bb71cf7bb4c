# Two commands do everything from a fresh clone:  `make run` (the main job), `make test` (the tests).
# Each creates .venv and installs what it needs first.
#
# torch: TORCH_SPEC pins the CPU build that lies on these machines' disk. A GPU user installs a
# CUDA build instead, e.g.
#   make install TORCH_SPEC="torch" TORCH_INDEX="--index-url https://download.pytorch.org/whl/cu124"
PYTHON      ?= python3.11
VENV        ?= .venv
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
SWEEP       ?= sweeps/configs/quick.yaml
OUT         ?= results/quick

BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/lola-arena sweep $(SWEEP) --out $(OUT)
	$(BIN)/lola-arena report $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) results .pytest_cache
