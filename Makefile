# Two commands do everything on a fresh machine:
#   make repro   create .venv (pinned, CPU torch) and run `dvc repro` with the committed params
#   make test    create .venv and run the tests (offline, CPU)
#   make cost    what the LLM stages would send and cost with the current params (sends nothing)
# Here (no internet) point the data at the local copy: SYNEG_BEIR_DIR=../shared/data/beir make repro

PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
RUN    := env PATH="$(BIN):$$PATH" HF_HUB_OFFLINE=1 DVC_NO_ANALYTICS=1

.PHONY: setup repro test bench cost clean-cache

$(VENV)/.installed: requirements/constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c requirements/constraints.txt -e '.[test]'
	touch $@

setup: $(VENV)/.installed

repro: setup
	$(RUN) dvc repro

test: setup
	$(RUN) python -m pytest -q -ra

bench: setup
	$(RUN) python benchmarks/run.py

cost: setup
	$(RUN) dvc repro mine
	$(RUN) python stages/synthesize.py --dry-run

clean-cache:
	rm -rf .cache/syneg
