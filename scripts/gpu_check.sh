#!/usr/bin/env bash
# GPU check: every real-scale recipe shrunk to 3 steps on a random-init 0.5B model, bf16, one GPU (see gpu_check.py).
# Prints tokens/s and peak memory per recipe, then IGPO's rollout-engine benchmark; exits non-zero if any run fails.
# Under 8 minutes on one H200 before the benchmark was added (not yet run on a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TRL_EXPERIMENTAL_SILENCE=1 TOKENIZERS_PARALLELISM=false
timeout 570 python scripts/gpu_check.py "$@"
