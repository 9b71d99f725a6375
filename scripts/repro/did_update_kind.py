"""Does the DID entropy tell what kind of update a run made? SmolLM2 after two short SFTs, and the IGPO demo.

The DID paper (arXiv 2505.23761) reads the entropy of q(y) proportional to pi_theta(y) / pi_ref(y) as the kind of
update: low when it sharpened the policy (knowledge-like: few responses gain), high when it smoothed it
(instruction-following-like). Here, ``smollm2:135m-instruct`` (the Q4_1 GGUF weights dequantized: a lossy copy of the
published model) is fine-tuned twice from the same start, with the same steps, batch and learning rate:

- **arithmetic answers** (knowledge-like): ``synthetic:arithmetic_sft``, conversational, "the answer is N.";
- **free-form instructions** (instruction-following-like): "In a sentence or two, explain what `json.dump` does in
  Python." answered by the first paragraph of that object's docstring, for about 300 standard-library objects (the
  only free-form English text on this offline machine; docstring style, not human chat data).

During each run ``InfopoSFTTrainer`` logs ``did/entropy_per_token`` every ``--did_steps`` steps on 8 training prompts
(against a frozen copy of the starting weights). After them, ``infopo.did.analyze.prompt_did_entropies`` estimates the
DID entropy per token of each policy against the start on held-out prompts of both kinds, and of the start against
itself (l = 0: q is uniform over what the policy samples, the estimate's no-update ceiling). The IGPO demo's update
(``outputs/igpo_tiny`` against ``outputs/igpo_warmstart_tiny``, from ``make demo``) is read the same way on held-out
questions, when those folders exist.

    python scripts/repro/did_update_kind.py [--steps 60] [--k 8] [--prompts 8] [--out docs/repro]

Writes did_update_kind.json, .md and .png. K is fixed for every row: the estimate is biased at small K.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import random
import tempfile
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from infopo import InfopoSFTConfig, InfopoSFTTrainer
from infopo.data.synthetic import arithmetic_sft, lookup_held_out_questions_task
from infopo.did.analyze import prompt_did_entropies, summarize_prompt_entropies
from infopo.models import resolve_model

MODULES = (
    "json", "os.path", "re", "math", "itertools", "functools", "collections", "string", "random", "statistics",
    "textwrap", "shutil", "pathlib", "datetime", "heapq", "bisect", "csv", "glob", "fnmatch", "difflib", "base64",
    "hashlib", "zlib", "gzip", "tarfile", "zipfile", "urllib.parse", "uuid", "copy", "operator", "time", "calendar",
    "html", "decimal", "fractions", "secrets", "argparse", "logging", "pprint", "tempfile", "unicodedata", "struct",
    "enum", "dataclasses", "typing", "contextlib", "abc", "io",
)  # fmt: skip
CPU = dict(
    use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no", disable_tqdm=True
)


def instruction_rows(seed: int = 0) -> list[dict]:
    """Conversational prompt/completion rows: explain a standard-library object; the answer is its docstring's first
    paragraph (60 to 300 characters, not a signature line)."""
    rows = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, value in sorted(vars(module).items()):
            doc = inspect.getdoc(value) if callable(value) and not name.startswith("_") else None
            first = doc.split("\n\n")[0].replace("\n", " ").strip() if doc else ""
            if 60 < len(first) < 300 and not first.startswith(name + "("):
                prompt = f"In a sentence or two, explain what `{module_name}.{name}` does in Python."
                rows.append(
                    {
                        "prompt": [{"role": "user", "content": prompt}],
                        "completion": [{"role": "assistant", "content": first}],
                    }
                )
    random.Random(seed).shuffle(rows)
    return rows


def fine_tune(base: str, data: Dataset, folder: str, args) -> tuple[str, list[dict]]:
    print(f"fine-tuning on {len(data)} rows into {folder}", flush=True)
    config = InfopoSFTConfig(
        output_dir=folder, max_steps=args.steps, per_device_train_batch_size=8, learning_rate=args.learning_rate,
        logging_steps=args.did_steps, did_entropy_steps=args.did_steps, did_entropy_prompts=8, did_entropy_k=args.k,
        did_entropy_max_new_tokens=args.max_new_tokens, seed=0, **CPU,
    )  # fmt: skip
    trainer = InfopoSFTTrainer(model=base, args=config, train_dataset=data)
    trainer.train()
    trainer.save_model(folder)
    curve = [
        {"step": entry["step"], "entropy_per_token": entry["did/entropy_per_token"], "loss": entry.get("loss")}
        for entry in trainer.state.log_history
        if "did/entropy_per_token" in entry
    ]
    return folder, curve


def read(policy_path: str, ref_path: str, tokenizer, prompts: list, args) -> dict:
    print(f"reading {policy_path} against {ref_path} on {len(prompts)} prompts", flush=True)
    policy = AutoModelForCausalLM.from_pretrained(policy_path).eval()
    reference = AutoModelForCausalLM.from_pretrained(ref_path).eval()
    torch.manual_seed(0)
    rows = prompt_did_entropies(policy, reference, tokenizer, prompts, args.k, args.max_new_tokens)
    return summarize_prompt_entropies(rows, args.k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--learning_rate", type=float, default=2e-5)
    parser.add_argument("--did_steps", type=int, default=20)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max_new_tokens", type=int, default=24)
    parser.add_argument("--prompts", type=int, default=8, help="held-out prompts of each kind")
    parser.add_argument("--out", default="docs/repro")
    args = parser.parse_args()
    started = time.time()
    base = resolve_model("smollm2:135m-instruct")
    tokenizer = AutoTokenizer.from_pretrained(base)
    instructions = instruction_rows()
    held_instructions, train_instructions = instructions[: args.prompts], instructions[args.prompts :]
    arithmetic = arithmetic_sft(len(train_instructions), seed=0, conversational=True)
    held_prompts = {
        "arithmetic": arithmetic_sft(args.prompts, seed=101, conversational=True)["prompt"],
        "instructions": [row["prompt"] for row in held_instructions],
    }
    result = {
        "settings": vars(args),
        "date": time.strftime("%Y-%m-%d"),
        "train_rows": len(train_instructions),
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        result["runs"]["no update (start vs start)"] = {
            kind: read(base, base, tokenizer, prompts, args) for kind, prompts in held_prompts.items()
        }
        for name, data in (
            ("SFT on arithmetic answers", arithmetic),
            ("SFT on free-form instructions", Dataset.from_list(train_instructions)),
        ):
            path, curve = fine_tune(base, data, f"{folder}/{len(result['runs'])}", args)
            result["runs"][name] = {kind: read(path, base, tokenizer, p, args) for kind, p in held_prompts.items()}
            result["runs"][name]["during training (8 training prompts)"] = curve
    demo, warm = Path("outputs/igpo_tiny"), Path("outputs/igpo_warmstart_tiny")
    if (demo / "config.json").exists() and (warm / "config.json").exists():
        questions = lookup_held_out_questions_task(3200, seed=0)["prompt"][: args.prompts]
        demo_tokenizer = AutoTokenizer.from_pretrained(str(demo))
        result["igpo_demo"] = {
            "IGPO demo vs its warm start": read(str(demo), str(warm), demo_tokenizer, questions, args),
            "no update (warm start vs itself)": read(str(warm), str(warm), demo_tokenizer, questions, args),
        }
    result["seconds"] = round(time.time() - started)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "did_update_kind.json").write_text(json.dumps(result, indent=1))
    (out / "did_update_kind.md").write_text(markdown(result))
    plot(result, out / "did_update_kind.png")
    print(markdown(result))


def markdown(result: dict) -> str:
    settings = result["settings"]
    lines = [
        "# DID entropy per token of three updates",
        "",
        f"Written by `scripts/repro/did_update_kind.py` on {result['date']} on a 2-core CPU (shared with other jobs); "
        "SmolLM2-135M-Instruct is a Q4_1 copy. The reading: [DID](../methods/did.md#did-in-every-trainer).",
        "",
        f"K = {settings['k']} samples of up to {settings['max_new_tokens']} tokens on {settings['prompts']} held-out "
        f"prompts of each kind; SFT {settings['steps']} steps x 8 rows at learning rate {settings['learning_rate']:g} "
        f"({result['train_rows']} training rows of each kind). Nats per token (mean, std over prompts).",
        "",
        "| update | arithmetic prompts | instruction prompts |",
        "| --- | ---: | ---: |",
    ]
    for name, run in result["runs"].items():
        cells = [f"{run[k]['did_entropy_per_token_mean']:.3f} ({run[k]['did_entropy_per_token_std']:.3f})"
                 for k in ("arithmetic", "instructions")]  # fmt: skip
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    for name, run in result["runs"].items():
        if "during training (8 training prompts)" in run:
            curve = ", ".join(
                f"{p['step']}: {p['entropy_per_token']:.3f}" for p in run["during training (8 training prompts)"]
            )
            lines.append(f"\n{name}, `did/entropy_per_token` during training (step: value): {curve}")
    if "igpo_demo" in result:
        lines += ["", "| IGPO demo (tiny:llama-1m), lookup questions | nats per token |", "| --- | ---: |"]
        for name, summary in result["igpo_demo"].items():
            lines.append(
                f"| {name} | {summary['did_entropy_per_token_mean']:.3f} ({summary['did_entropy_per_token_std']:.3f}) |"
            )
    return "\n".join(lines + ["", f"{result['seconds']} s on this machine.", ""])


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (bars, curves) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(result["runs"])
    for offset, kind in ((-0.2, "arithmetic"), (0.2, "instructions")):
        means = [result["runs"][n][kind]["did_entropy_per_token_mean"] for n in names]
        spreads = [result["runs"][n][kind]["did_entropy_per_token_std"] for n in names]
        bars.bar([i + offset for i in range(len(names))], means, 0.4, yerr=spreads, label=f"{kind} prompts")
    bars.set_xticks(range(len(names)), [n.replace(" (", "\n(").replace(" on ", "\non ") for n in names], fontsize=8)
    bars.set_ylabel("DID entropy per token (nats)")
    bars.set_title("held-out prompts, against the start")
    bars.legend()
    for name in names:
        curve = result["runs"][name].get("during training (8 training prompts)")
        if curve:
            curves.plot([p["step"] for p in curve], [p["entropy_per_token"] for p in curve], marker="o", label=name)
    curves.set_xlabel("step")
    curves.set_ylabel("did/entropy_per_token")
    curves.set_title("during training (InfopoSFTTrainer)")
    curves.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    main()
