"""Scan a model's weights for condition numbers: which tensors, in what order, cached, split across ranks.

Eligible tensors (the spec's rules): parameters with ndim >= 2 whose dimensions are all <= ``max_dim`` (this keeps
large-vocabulary embeddings and lm_head out); tied weights once (``named_parameters`` yields a shared tensor under
its first name); fused MoE weights of ndim 3 (experts, out, in) get the mean kappa of their experts, as peft does.

Same-shape matrices go to one batched eigensolve (:func:`infopo.kappa.condition.condition_numbers`), on the device
the weights live on, so a GPU does the work when the model is there. Under ``torch.distributed`` each rank computes
1/world of the tensors and every rank returns the same dict; under DeepSpeed ZeRO-3 each partitioned parameter is
gathered (a collective, on all ranks) before its owner computes it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from infopo.distributed import is_zero3_partitioned
from infopo.errors import InfopoConfigError
from infopo.kappa.bounds import kappa_lower_bounds
from infopo.kappa.condition import DEFAULT_EPS, condition_numbers
from infopo.kappa.select import check_budget, select_by_condition

CACHE_VERSION = 1


def group_size(device: torch.device) -> int:
    """Same-shape matrices per batched eigensolve: 8 on an accelerator, where batching pays; 1 on a CPU, where it
    gains nothing (measured) and would only hold more float64 copies in memory."""
    return 1 if device.type == "cpu" else 8


def full_shape(param: torch.Tensor) -> tuple[int, ...]:
    """The parameter's shape, also when DeepSpeed ZeRO-3 has partitioned it (``ds_shape``)."""
    return tuple(getattr(param, "ds_shape", param.shape))


def eligible_parameters(model: nn.Module, max_dim: int = 16384) -> list[tuple[str, torch.Tensor]]:
    """(name, parameter) pairs the scan covers, in ``named_parameters`` order."""
    eligible = []
    for name, param in model.named_parameters():
        shape = full_shape(param)
        matrix_dims = shape[1:] if len(shape) == 3 else shape
        if len(shape) >= 2 and max(matrix_dims) <= max_dim:
            eligible.append((name, param))
    return eligible


def _gathered(param: torch.Tensor):
    if not is_zero3_partitioned(param):
        return nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters([param], modifier_rank=None)


def content_hash(tensor: torch.Tensor) -> str:
    """A short digest of the tensor's bytes (dtype and values): changes whenever the weight does."""
    data = tensor.detach().contiguous().cpu()
    digest = hashlib.blake2b(str(data.dtype).encode(), digest_size=16)
    digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


class KappaCache:
    """A JSON file of condition numbers keyed by parameter name, valid while shape and content hash match."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.entries: dict[str, dict] = {}
        if self.path.is_file():
            data = json.loads(self.path.read_text())
            if data.get("version") == CACHE_VERSION:
                self.entries = data["entries"]

    def get(self, name: str, shape: tuple[int, ...], digest: str) -> float | None:
        entry = self.entries.get(name)
        if entry and tuple(entry["shape"]) == tuple(shape) and entry["hash"] == digest:
            return math.inf if entry["kappa"] == "inf" else float(entry["kappa"])
        return None

    def put(self, name: str, shape: tuple[int, ...], digest: str, kappa: float) -> None:
        self.entries[name] = {"shape": list(shape), "hash": digest, "kappa": "inf" if math.isinf(kappa) else kappa}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "entries": self.entries}, indent=1))
        os.replace(tmp, self.path)


def _kappas_of_group(tensors: list[torch.Tensor], eps: float) -> list[float]:
    """kappa per tensor of one shape: matrices directly, 3-D MoE weights as the mean over their experts."""
    if tensors[0].ndim == 3:
        return [sum(values) / len(values) for values in (condition_numbers(list(t), eps) for t in tensors)]
    return condition_numbers(tensors, eps)


def _bounds_of_group(tensors: list[torch.Tensor]) -> list[float]:
    """A certified lower bound on kappa per tensor of one shape (3-D MoE weights: the mean of their experts')."""
    if tensors[0].ndim == 3:
        return [sum(values) / len(values) for values in (kappa_lower_bounds(list(t)) for t in tensors)]
    return kappa_lower_bounds(tensors)


def _world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from rich.progress import Progress

    progress = Progress(transient=False)
    progress.start()
    return progress, progress.add_task("condition numbers", total=total)


def _eligible(model: nn.Module, max_dim: int) -> list[tuple[str, torch.Tensor]]:
    params = eligible_parameters(model, max_dim)
    quantized = [name for name, param in params if not param.is_floating_point()]
    if quantized:
        raise InfopoConfigError(
            f"cannot scan quantized weights ({quantized[0]}: {dict(params)[quantized[0]].dtype}); scan the unquantized "
            "model with `infopo kappa scan` and train from its unfrozen_parameters.yaml (kappa_unfrozen_yaml)"
        )
    return params


def _map_parameters(
    params, compute, *, group: int | None = None, store: KappaCache | None = None, progress: bool = False
) -> dict[str, float]:
    """``compute`` (a list of same-shape tensors -> one value each) over ``params``; every rank returns every value.

    Under ``torch.distributed`` each rank computes 1/world of the tensors; under ZeRO-3 each partitioned parameter
    is gathered first (a collective: every rank enters it, for every parameter). Same-shape tensors go to ``compute``
    in groups of ``group`` (default: :func:`group_size`). ``store``: exact values read from and written to a cache.
    """
    rank, world = _world()
    mine: dict[str, float] = {}
    pending: dict[tuple, list[tuple[str, torch.Tensor, str | None]]] = defaultdict(list)
    bar = _progress(len(params), progress and rank == 0)

    def flush(shape):
        entries = pending.pop(shape)
        for (name, _, digest), value in zip(entries, compute([t for _, t, _ in entries]), strict=True):
            mine[name] = value
            if store is not None:
                store.put(name, shape, digest, value)
        if bar:
            bar[0].advance(bar[1], len(entries) * world)

    for index, (name, param) in enumerate(params):
        with _gathered(param):  # collective under ZeRO-3: every rank enters it for every parameter
            if index % world != rank:
                continue
            shape = tuple(param.shape)
            digest = content_hash(param) if store is not None else None
            cached = store.get(name, shape, digest) if store is not None else None
            if cached is not None:
                mine[name] = cached
                if bar:
                    bar[0].advance(bar[1], world)
                continue
            # A partitioned parameter is only whole inside the context: keep a copy of it.
            pending[shape].append(
                (name, param.detach().clone() if is_zero3_partitioned(param) else param.detach(), digest)
            )
            if len(pending[shape]) == (group or group_size(param.device)):
                flush(shape)
    for shape in list(pending):
        flush(shape)
    if bar:
        bar[0].stop()
    if world > 1:
        gathered: list = [None] * world
        torch.distributed.all_gather_object(gathered, (mine, store.entries if store else {}))
        mine = {k: v for part, _ in gathered for k, v in part.items()}
        if store is not None:
            for _, entries in gathered:
                store.entries.update(entries)
    return mine


def scan_condition_numbers(
    model: nn.Module,
    *,
    max_dim: int = 16384,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    eps: float = DEFAULT_EPS,
) -> dict[str, float]:
    """The exact kappa of every eligible tensor of ``model``, keyed by parameter name, in ``named_parameters`` order.

    ``cache``: a JSON file; entries whose name, shape and content hash match skip their computation, the rest are
    computed and written back (by rank 0). ``progress``: a progress bar on rank 0. A selection needs far fewer exact
    values: see :func:`select_lowest_condition`.
    """
    params = _eligible(model, max_dim)
    store = KappaCache(cache) if cache is not None else None
    kappas = _map_parameters(params, lambda tensors: _kappas_of_group(tensors, eps), store=store, progress=progress)
    if store is not None and _world()[0] == 0:
        store.save()
    return {name: kappas[name] for name, _ in params}


@dataclass
class KappaSelection:
    """A lowest-kappa selection and what it was decided from.

    ``names``: the selected tensors, by kappa ascending (ties by name); ``kappas``: the exact kappa of every tensor
    the decision needed, the selected ones included; ``lower_bounds``: a certified lower bound on every scanned
    tensor's kappa, in model order (exact values where known).
    """

    names: list[str]
    kappas: dict[str, float]
    lower_bounds: dict[str, float]


def select_lowest_condition(
    model: nn.Module,
    *,
    top_p: float | None = None,
    num: int | None = None,
    threshold: float | None = None,
    max_dim: int = 16384,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    eps: float = DEFAULT_EPS,
) -> KappaSelection:
    """The tensors :func:`~infopo.kappa.select.select_by_condition` would pick from the exact scan (lowest kappa),
    computing exact values only where certified lower bounds (:mod:`infopo.kappa.bounds`) cannot decide.

    Every tensor gets a lower bound. ``threshold`` t: exact values for the tensors whose bound is <= t (the others
    are above it). ``num``/``top_p`` (k tensors of the N scanned): exact values in increasing order of bound (one per
    process at a time), while the next bound is at most T, the k-th smallest exact value so far (an upper bound on
    the selection's cut, falling as values come in). A tensor left out has kappa >= its bound > T, so it cannot be
    among the k smallest: the selection equals the exact scan's, names and order. ``progress``: a bar over the
    bounds, which cost the most.
    """
    check_budget(top_p, num, threshold)
    params = _eligible(model, max_dim)
    if not params:
        return KappaSelection([], {}, {})
    store = KappaCache(cache) if cache is not None else None
    known = {}
    if store is not None:  # cached exact values stand for themselves and need no bound
        known = {name: value for name, param in params if (value := _cached(store, name, param)) is not None}
    rest = [(name, param) for name, param in params if name not in known]
    bounds = {**known, **_map_parameters(rest, _bounds_of_group, group=8, progress=progress)}
    exact = dict(known)

    def compute(names: set[str]) -> None:
        todo = [(name, param) for name, param in params if name in names and name not in exact]
        exact.update(_map_parameters(todo, lambda tensors: _kappas_of_group(tensors, eps), store=store))

    by_bound = sorted(bounds, key=lambda name: (bounds[name], name))
    if threshold is not None:
        compute({name for name in by_bound if bounds[name] <= threshold})
        names = select_by_condition(exact, threshold=threshold)
    else:
        k = num if num is not None else max(1, int(len(params) * top_p))
        world = _world()[1]
        pending = [name for name in by_bound if name not in exact]
        while pending:  # in bound order, a process's worth at a time, while a bound can still be below the cut
            cut = sorted(exact.values())[k - 1] if len(exact) >= k else math.inf
            batch = [name for name in pending[:world] if bounds[name] <= cut]
            if not batch:
                break
            compute(set(batch))
            pending = pending[len(batch) :]
        names = select_by_condition(exact, num=k)
    if store is not None and _world()[0] == 0:
        store.save()
    return KappaSelection(
        names, {name: exact[name] for name, _ in params if name in exact}, {name: bounds[name] for name, _ in params}
    )


def _cached(store: KappaCache, name: str, param: torch.Tensor) -> float | None:
    if is_zero3_partitioned(param):
        return None  # hashing needs the whole weight: left to the exact pass, which gathers it
    return store.get(name, tuple(param.shape), content_hash(param))
