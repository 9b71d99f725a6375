"""The probe's forward with an attention kernel that honours its 4-D mask, whatever kernel the model was loaded with.

The packed probe (:mod:`infopo.igpo.probe`) hands the model a (B, 1, L, L) mask in which answer copy t sees only
X[:b_t] and itself. transformers passes a 4-D mask to the kernel as it is (``masking_utils._preprocess_mask_arguments``
returns it early), and then it depends on the kernel: SDPA and eager apply it; flash attention (``flash_attention_2``,
``flash_attention_3``, hub kernels) takes no dense mask and attends causally over the whole packed row, so copy t would
see the rest of the trajectory and the other copies: wrong values, silently. Paged and flex kernels expect their own
mask objects.

:func:`mask_honouring_attention` switches every config of the model whose ``_attn_implementation`` is not one of
:data:`MASK_HONOURING` to SDPA (eager where the model does not support SDPA or soft-caps its attention scores, which
SDPA refuses) for the duration of the probe's forward, and restores each one afterwards, also when the forward
raises. transformers 5 dispatches on ``config._attn_implementation`` at every forward (``ALL_ATTENTION_FUNCTIONS``,
and the mask functions), so the switch takes effect without reloading; it is what
``PreTrainedModel.set_attn_implementation`` writes (``config._attn_implementation_internal``), set directly so that
restoring a hub kernel neither re-checks nor re-downloads it. The weights are untouched: the values are those of an
SDPA or eager model (exact, not approximate).
"""

from __future__ import annotations

from contextlib import contextmanager

MASK_HONOURING = frozenset({None, "sdpa", "eager"})
"""Attention implementations that apply a dense 4-D mask as given (None: transformers' eager default)."""


def model_configs(model) -> list:
    """Every config the model's attention may read: its own, its sub-configs (at any depth) and those of its
    sub-models, each once (configs are compared by identity: a CausalLM and its inner model share one)."""
    found, pending = {}, [model.config] + [module.config for module in model.modules() if hasattr(module, "config")]
    while pending:
        config = pending.pop()
        if id(config) in found or not hasattr(config, "_attn_implementation_internal"):
            continue
        found[id(config)] = config
        pending.extend(getattr(config, key) for key in getattr(config, "sub_configs", {}) if getattr(config, key, None))
    return list(found.values())


def probe_kernel(model) -> str:
    """The kernel the probe runs a model on whose kernel ignores the mask: SDPA (memory-efficient with a boolean mask
    on GPU), or eager when the model class does not support SDPA or soft-caps attention scores (Gemma 2)."""
    if not getattr(model, "_supports_sdpa", False) or getattr(model.config, "attn_logit_softcapping", None):
        return "eager"
    return "sdpa"


@contextmanager
def mask_honouring_attention(model):
    """Within the block, every config of ``model`` whose kernel is not in :data:`MASK_HONOURING` uses
    :func:`probe_kernel`; afterwards each config has its own implementation back, whatever happened in the block."""
    saved = [(config, config._attn_implementation_internal) for config in model_configs(model)]
    if all(value in MASK_HONOURING for _, value in saved):
        yield
        return
    kernel = probe_kernel(model)
    try:
        for config, value in saved:
            if value not in MASK_HONOURING:
                config._attn_implementation_internal = kernel
        yield
    finally:
        for config, value in saved:
            config._attn_implementation_internal = value
