"""Model cards for infopo runs: Hub front matter plus the recipe and the final metrics.

The card is a ``huggingface_hub.ModelCard``: YAML front matter (``base_model``, ``datasets``, ``tags`` with
``infopo`` and the method, ``library_name: trl``) and a body that records how the model was trained.
"""

from __future__ import annotations

import math
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml
from huggingface_hub import ModelCard, ModelCardData

from infopo.recipe import redact

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


def _versions() -> list[str]:
    lines = []
    for package in FRAMEWORKS:
        try:
            lines.append(f"- {package}: {version(package)}")
        except PackageNotFoundError:
            continue
    return lines


def _format(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer()):
        return str(int(value))
    return f"{value:.6g}"


def build_model_card(
    *,
    method: str,
    trainer_name: str,
    base_model: str | None,
    dataset_name: str | None,
    recipe: dict,
    metrics: dict[str, float],
    model_name: str | None = None,
    hub_model_id: str | None = None,
    paper: dict | None = None,
    sections: list[tuple[str, str]] = (),
) -> ModelCard:
    """Render the card of one run.

    ``recipe`` is the run's configuration as plain values (what a user would put in the YAML to reproduce it),
    ``metrics`` the final metrics (:func:`final_metrics`). Base model and data set go into the front matter when
    they are Hub ids and into the body in any case. ``paper`` (TRL's ``_paper``) gives the method paper's ``title`` and arXiv ``id``; ``sections`` are extra
    (title, markdown) sections that methods add (KappaTune's selection, say), placed before the metrics.
    """
    data = ModelCardData(
        base_model=base_model if is_hub_id(base_model) else None,
        datasets=[dataset_name] if is_hub_id(dataset_name) else None,
        tags=["infopo", method, "trl"],
        library_name="trl",
        pipeline_tag="text-generation",
        model_name=model_name,
    )
    title = model_name or hub_model_id or f"infopo {method} model"
    lines = [
        f"# {title}",
        "",
        f"Trained with infopo `{method}` ({trainer_name}, built on TRL).",
        "",
        f"- Base model: `{base_model or 'unknown'}`",
        f"- Training data: `{dataset_name or 'unknown'}`",
    ]
    if paper and paper.get("title") and paper.get("id"):
        lines.append(f"- Method: [{paper['title']}](https://huggingface.co/papers/{paper['id']})")
    lines += [
        "",
        "## Quick start",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        f'generator = pipeline("text-generation", model="{hub_model_id or "path/to/this/folder"}")',
        'print(generator([{"role": "user", "content": "what is 2 plus 3?"}], return_full_text=False)[0])',
        "```",
        "",
        "## Recipe",
        "",
        "Run it again with `infopo " + method + " --config recipe.yaml`, where `recipe.yaml` holds:",
        "",
        "```yaml",
        yaml.safe_dump(redact(recipe), sort_keys=False).rstrip(),
        "```",
        "",
    ]
    for title_text, body in sections:
        lines += [f"## {title_text}", "", body, ""]
    lines += ["## Final metrics", ""]
    if metrics:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| {key} | {_format(value)} |" for key, value in metrics.items()]
    else:
        lines.append("No metrics were logged.")
    lines += ["", "## Framework versions", "", *_versions(), ""]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))
