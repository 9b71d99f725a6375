# Set-up and entry points. `make demo` and `make test` create .venv and install into it on first use.
#   TORCH_SPEC: the torch requirement installed before infopo (CPU wheel here; see README for GPU machines).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,deepspeed,plot
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export TRL_EXPERIMENTAL_SILENCE := 1

.PHONY: install demo test test-fast clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/infopo sft --config recipes/sft_igpo-warmstart_tiny.yaml
	$(BIN)/infopo igpo --config recipes/igpo_tiny.yaml --model_name_or_path outputs/igpo_warmstart_tiny

test: install
	$(BIN)/python -m pytest -q tests

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" tests

clean:
	rm -rf $(VENV) outputs .pytest_cache
