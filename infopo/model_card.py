"""Model cards for infopo runs: Hub front matter, how the model was trained, and what to cite.

The card is a ``huggingface_hub.ModelCard``: YAML front matter (``base_model``, ``datasets``, ``license``, ``tags`` with
``infopo``, the method and the user's own, ``library_name: trl``) and a body: the base model and data, the method and
its paper, a quick start that fits the method, the recipe as YAML (it reruns with ``infopo <command> --config``),
the methods' own sections (KappaTune selection, GAIN-RL schedule, IGPO, DID), the final metrics, framework versions
and BibTeX citations of every method used, TRL's included, as TRL's cards do.
"""

from __future__ import annotations

import json
import math
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml
from huggingface_hub import ModelCard, ModelCardData

from infopo.recipe import without_secrets

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
FRAMEWORKS = ("infopo", "trl", "transformers", "peft", "accelerate", "datasets", "torch")


def is_hub_id(name: str | None) -> bool:
    """True for ``org/name`` strings that are not local paths: what the Hub accepts as ``base_model``/``datasets``."""
    return bool(name) and bool(_HUB_ID.match(name)) and not Path(name).exists()


def final_metrics(log_history: list[dict]) -> dict[str, float]:
    """The last logged value of every metric (later entries win), without bookkeeping keys or non-numbers."""
    merged: dict[str, float] = {}
    for entry in log_history:
        for key, value in entry.items():
            if key not in ("step", "total_flos") and isinstance(value, (int, float)) and not isinstance(value, bool):
                merged[key] = value
    return merged


def trl_citation() -> str:
    """TRL's own BibTeX entry, read from the card template TRL ships (so it stays TRL's wording)."""
    import trl

    template = (Path(trl.__file__).parent / "templates" / "lm_model_card.md").read_text()
    found = re.search(r"\{% raw %\}(.*?)\{% endraw %\}", template, flags=re.S)
    return found.group(1).strip() if found else ""


def _versions() -> list[str]:
    from infopo.machine import describe_hardware

    lines = [f"- hardware: {describe_hardware()}"]
    for package in FRAMEWORKS:
        try:
            lines.append(f"- {package}: {version(package)}")
        except PackageNotFoundError:
            continue
    return lines


def format_value(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer()):
        return str(int(value))
    return f"{value:.6g}"


def metric_table(metrics: dict[str, float], keys=None) -> list[str]:
    """A markdown table of ``metrics`` (only ``keys`` that are present, in that order, when given)."""
    rows = [(key, metrics[key]) for key in (keys if keys is not None else metrics) if key in metrics]
    return ["| metric | value |", "| --- | --- |", *(f"| {key} | {format_value(value)} |" for key, value in rows)]


def pipeline_quick_start(model_id: str, prompt) -> str:
    """Generation with transformers' pipeline on one of the training prompts (messages or text)."""
    return "\n".join(
        [
            "from transformers import pipeline",
            "",
            f'generator = pipeline("text-generation", model="{model_id}")',
            f"prompt = {json.dumps(prompt, ensure_ascii=False)}",
            'print(generator(prompt, max_new_tokens=64, return_full_text=False)[0]["generated_text"])',
        ]
    )


def build_model_card(
    *,
    command: str,
    trainer_name: str,
    base_model: str | None,
    dataset_name: str | None,
    recipe: dict,
    metrics: dict[str, float],
    quick_start: str,
    papers: list[dict] = (),
    sections: list[tuple[str, str]] = (),
    tags: list[str] = (),
    license: str | None = None,
    model_name: str | None = None,
    hub_model_id: str | None = None,
) -> ModelCard:
    """Render the card of one run.

    ``command`` is the ``infopo`` command that reruns it (``sft``, ``dpo``, ``did-dpo``, ``grpo``, ``igpo``) and the
    card's method tag; ``recipe`` the run's configuration as plain values (what a user would put in the YAML to rerun
    it); ``metrics`` the final metrics (:func:`final_metrics`); ``papers`` the methods' papers (``title``, arXiv ``id``,
    optional BibTeX ``citation``), the trainer's own first; ``sections`` (title, markdown) from the methods, placed
    before the metrics; ``tags`` extra tags (merged with infopo's, as TRL merges them). Base model and data set go into
    the front matter when they are Hub ids and into the body in any case.
    """
    all_tags = list(dict.fromkeys(["infopo", command, "trl", *tags]))
    data = ModelCardData(
        base_model=base_model if is_hub_id(base_model) else None,
        datasets=[dataset_name] if is_hub_id(dataset_name) else None,
        tags=all_tags,
        license=license,
        library_name="trl",
        pipeline_tag="text-generation",
        model_name=model_name,
    )
    title = model_name or hub_model_id or f"infopo {command} model"
    lines = [
        f"# {title}",
        "",
        f"Trained with infopo `{command}` ({trainer_name}, built on TRL).",
        "",
        f"- Base model: `{base_model or 'unknown'}`",
        f"- Training data: `{dataset_name or 'unknown'}`",
        *(f"- Method: [{paper['title']}](https://huggingface.co/papers/{paper['id']})" for paper in papers),
        "",
        "## Quick start",
        "",
        "```python",
        quick_start,
        "```",
        "",
        "## Recipe",
        "",
        f"Run it again with `infopo {command} --config recipe.yaml`, where `recipe.yaml` holds:",
        "",
        "```yaml",
        yaml.safe_dump(without_secrets(recipe), sort_keys=False).rstrip(),
        "```",
        "",
    ]
    for section_title, body in sections:
        lines += [f"## {section_title}", "", body, ""]
    lines += ["## Final metrics", ""]
    lines += metric_table(metrics) if metrics else ["No metrics were logged."]
    lines += ["", "## Framework versions", "", *_versions(), "", "## Citations", ""]
    for paper in papers:
        if paper.get("citation"):
            lines += [f"Cite {paper['title']} as:", "", "```bibtex", paper["citation"].strip(), "```", ""]
    lines += ["Cite TRL as:", "", "```bibtex", trl_citation(), "```", ""]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))
