"""What the real-model premise checks share: SmolLM2-135M-Instruct, loaded once, and their figures' last steps.

The model is ``smollm2:135m-instruct``: the Q4_1 GGUF weights of the published model, dequantized (a lossy copy;
every figure says so).
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

from infopo.models import resolve_model

MODEL_LABEL = "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized)"


def load_smollm2():
    """The model in eval mode and its tokenizer."""
    path = resolve_model("smollm2:135m-instruct")
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def save_figure(figure, path: str | Path, title: str) -> None:
    """Title, layout, a 120-dpi PNG at ``path``, and the figure closed."""
    import matplotlib.pyplot as plt

    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
