"""GPU check: each real-scale recipe, shrunk to a few steps on a random-init ~0.5B model in bf16, on one GPU.

    bash scripts/gpu_check.sh                 # on a machine with a GPU (under 8 minutes on one H200)
    python scripts/gpu_check.py --dry_run     # anywhere: builds and parses every command line, trains nothing

The model has the Qwen2.5-0.5B shape (hidden 896, 24 layers, vocabulary 151,936; 494M parameters), random weights
and the tiny kit's tokenizer, so nothing is downloaded; data comes from the synthetic kit. DPO, DID-DPO and SFT with
KappaTune run on DeepSpeed ZeRO-3 through ``accelerate launch`` (one process), GRPO and GRPO with GAIN-RL on ZeRO-2
without vLLM, IGPO on ZeRO-3 (the tiny recipe with transformers' generate, the 7B recipe with vLLM colocated: its
multi-turn rollouts through TRL's vLLM engine). Prints wall time, tokens per second (from the card's ``num_tokens`` and
``train_runtime``) and peak GPU memory (``nvidia-smi``, sampled every 0.2 s) per recipe. Then
``scripts/bench/igpo_rollout_engine.py`` on the GPU engine (smollm2:135m-instruct, the ``smollm2`` extra): IGPO's
rollout phase through the per-turn loop, the continuous loop and the engine's limit.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
SHAPE = dict(
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    vocab_size=151936,
    max_position_embeddings=2048,
    tie_word_embeddings=True,
)
COMMON = [
    "--max_steps",
    "3",
    "--num_train_epochs",
    "1",
    "--logging_steps",
    "1",
    "--save_strategy",
    "no",
    "--eval_strategy",
    "no",
    "--report_to",
    "none",
    "--per_device_train_batch_size",
    "4",
    "--gradient_accumulation_steps",
    "1",
    "--use_cpu",
    "false",
    "--bf16",
    "true",
    "--synthetic_rows",
    "64",
]
RUNS = [
    ("sft", "sft_qwen2.5-7b.yaml", "zero3", ["--dataset_name", "synthetic:arithmetic_sft", "--kappa_cache", "KAPPA"]),
    ("dpo", "dpo_qwen2.5-7b.yaml", "zero3", ["--dataset_name", "synthetic:arithmetic_preference"]),
    (
        "did-dpo",
        "did-dpo_qwen2.5-7b.yaml",
        "zero3",
        ["--dataset_name", "synthetic:arithmetic_preference", "--did_entropy_steps", "2"],
    ),
    (
        "grpo",
        "grpo_qwen2.5-0.5b.yaml",
        "zero2",
        [
            "--dataset_name",
            "synthetic:arithmetic_prompts",
            "--reward_funcs",
            "answer_match",
            "--use_vllm",
            "false",
            "--num_generations",
            "4",
            "--max_completion_length",
            "64",
        ],
    ),
    (
        "grpo",
        "grpo_gainrl_qwen2.5-0.5b.yaml",
        "zero2",
        [
            "--dataset_name",
            "synthetic:arithmetic_prompts",
            "--reward_funcs",
            "answer_match",
            "--use_vllm",
            "false",
            "--num_generations",
            "4",
            "--max_completion_length",
            "64",
            "--gainrl_samples_per_epoch",
            "8",
            "--gainrl_scores",
            "SCORES",
        ],
    ),
    ("igpo", "igpo_tiny.yaml", "zero3", ["--max_turns", "3"]),
    (
        "igpo",
        "igpo_qwen2.5-7b.yaml",
        "zero3",
        [
            "--dataset_name",
            "synthetic:lookup_held_out_questions",
            "--conversational",
            "true",
            "--answer_column",
            "answer",
            "--corpus",
            "synthetic:lookup_corpus",
            "--corpus_text_field",
            "text",
            "--max_turns",
            "3",
            "--max_turn_tokens",
            "48",
            "--max_completion_length",
            "512",
            "--num_generations",
            "4",
            "--vllm_max_model_length",
            "2048",
        ],
    ),
]


def build_model(folder: Path) -> Path:
    from infopo.tiny import save_tiny

    if not (folder / "config.json").is_file():
        save_tiny(folder, arch="qwen2", **SHAPE)
    return folder


def _fill(extra: list[str], out: Path) -> list[str]:
    paths = {"SCORES": str(out / "scores.json"), "KAPPA": str(out / "kappa_cache.json")}
    return [paths.get(item, item) for item in extra]


def command_line(command, recipe, model, dataset_args, out) -> list[str]:
    return [
        command,
        "--config",
        str(RECIPES / recipe),
        "--model_name_or_path",
        str(model),
        *COMMON,
        *dataset_args,
        "--output_dir",
        str(out / f"{command}-{Path(recipe).stem}"),
    ]


class PeakMemory:
    """Largest ``memory.used`` nvidia-smi reports while the block runs (MiB)."""

    def __enter__(self):
        self.peak, self.running = 0, True
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        return self

    def _poll(self):
        while self.running:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
            ).stdout.split()
            self.peak = max([self.peak] + [int(v) for v in out if v.isdigit()])
            time.sleep(0.2)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()


def dry_run(out: Path) -> None:
    from infopo.cli.dpo import DID_DPO, DPO
    from infopo.cli.grpo import GRPO
    from infopo.cli.igpo import IGPO
    from infopo.cli.parsing import parse_recipe
    from infopo.cli.sft import SFT

    commands = {"sft": SFT, "dpo": DPO, "did-dpo": DID_DPO, "grpo": GRPO, "igpo": IGPO}
    for command, recipe, _, extra in RUNS:
        argv = command_line(command, recipe, "MODEL", _fill(extra, out), out)[1:]
        argv += ["--use_cpu", "true", "--bf16", "false"]  # parse as this machine can
        parse_recipe(commands[command].dataclass_types, argv, f"infopo {command}")
        print(f"ok  {command:8s} {recipe}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="outputs/gpu_check")
    parser.add_argument("--dry_run", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    if args.dry_run:
        dry_run(out)
        return
    model = build_model(out / "model-0.5b")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "infopo",
            "gainrl",
            "score",
            "--model",
            str(model),
            "--dataset",
            "synthetic:arithmetic_prompts",
            "--synthetic_rows",
            "64",
            "--out",
            str(out / "scores.json"),
        ],
        check=True,
    )
    rows = []
    for command, recipe, zero, extra in RUNS:
        argv = command_line(command, recipe, model, _fill(extra, out), out)
        launch = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(RECIPES / "accelerate" / f"{zero}.yaml"),
            "--num_processes",
            "1",
            "-m",
            "infopo",
            *argv,
        ]
        started = time.perf_counter()
        with PeakMemory() as memory:
            result = subprocess.run(launch, capture_output=True, text=True)
        wall = time.perf_counter() - started
        card = Path(argv[argv.index("--output_dir") + 1]) / "README.md"
        text = card.read_text() if card.is_file() else ""
        tokens = re.search(r"\| num_tokens \| ([\d.e+]+) \|", text)
        runtime = re.search(r"\| train_runtime \| ([\d.e+]+) \|", text)
        speed = float(tokens.group(1)) / float(runtime.group(1)) if tokens and runtime else float("nan")
        status = "ok" if result.returncode == 0 else f"FAILED ({result.returncode})"
        rows.append((f"{command} {recipe}", zero, status, wall, speed, memory.peak))
        if result.returncode:
            print(result.stderr[-3000:], file=sys.stderr)
    print(f"{'recipe':45s} {'zero':6s} {'status':12s} {'wall s':>7s} {'tokens/s':>9s} {'peak MiB':>9s}")
    for name, zero, status, wall, speed, peak in rows:
        print(f"{name:45s} {zero:6s} {status:12s} {wall:7.1f} {speed:9.0f} {peak:9d}")
    # IGPO's rollout phase on the GPU engine: per-turn loop, continuous loop, engine limit (issue 35's measurement).
    bench = [sys.executable, str(REPO / "scripts" / "bench" / "igpo_rollout_engine.py"), "--rounds", "3"]
    engine = subprocess.run(bench, capture_output=True, text=True, timeout=600)
    print(engine.stdout[-2000:] if engine.returncode == 0 else f"igpo_rollout_engine FAILED\n{engine.stderr[-3000:]}")
    sys.exit(0 if all(row[2] == "ok" for row in rows) and engine.returncode == 0 else 1)


if __name__ == "__main__":
    main()
