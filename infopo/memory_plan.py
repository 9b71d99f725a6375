"""Memory plan of a recipe on one GPU: what each device holds at the peak of a step, estimated from shapes alone.

    python scripts/memory_plan.py --recipe recipes/igpo_qwen2.5-7b.yaml --gpu_gb 80 [--num_gpus 8]

An estimate computed from parameter counts and tensor shapes, not a GPU measurement. Sizes are in GB (1e9 bytes; an
"80 GB" card holds 80 GiB, so this errs on the safe side). Every term is a pure function below, with its formula.
The peak is the memory held all step long (ZeRO shares, reference model, vLLM, gathered weights, CUDA context) plus
the largest of the phases that do not overlap in time: the training micro-step (activations and logits), IGPO's
probe (after generation, no gradient) and DID's entropy estimate (between steps, no gradient).

Conservative choices: the logits of a micro-batch are counted as materialized (bf16 plus a float32 upcast), although
TRL 1.16's loss forward goes through its fused LM head (``add_fused_lm_head``: [4096 tokens x 32768 vocab] tiles);
the plan then still holds where the full logits are built (infopo's scoring, a soft-capped model, a kernel swap).
GRPO has no ``max_prompt_length`` in TRL 1.16: prompts are assumed to take ``PROMPT_TOKENS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from infopo.errors import InfopoConfigError

REPO = Path(__file__).resolve().parents[1]
GB = 1e9
BF16, FP32 = 2, 4
PROMPT_TOKENS = 512
"""Prompt tokens assumed for GRPO/IGPO rollouts and DID's entropy samples (no prompt limit in TRL 1.16's GRPO)."""
ANSWER_COPY_TOKENS = 32
"""Tokens of one forcing prefix + answer copy in IGPO's packed probe (one copy per turn boundary)."""
PROBE_TOKEN_BUDGET = 16384
"""Padded tokens per packed probe forward without ``probe_token_budget``: ``infopo.igpo.trainer.PROBE_TOKEN_BUDGET``
(a test keeps the two equal)."""
CUDA_OVERHEAD_GB = 3.0
"""CUDA context, NCCL and DeepSpeed communication buffers per device (assumed)."""
TRL_DEFAULTS = {
    "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "gradient_checkpointing": True,
    "max_length": 1024,
    "max_completion_length": 512,
    "use_vllm": False,
    "vllm_mode": "colocate",
    "vllm_gpu_memory_utilization": 0.3,
    "lora_r": 16,
    "max_turns": 4,
}
"""TRL 1.16's defaults of the fields the plan reads (``max_turns``: ``IGPOConfig``'s)."""
DEFAULT_BETA = {"dpo": 0.1, "did-dpo": 0.1, "grpo": 0.0, "igpo": 0.0, "sft": 0.0}


@dataclass(frozen=True)
class ModelShape:
    """A decoder-only architecture (Qwen2: biased q/k/v, SwiGLU MLP, RMSNorm), as its config.json gives it."""

    hidden: int
    layers: int
    intermediate: int
    vocab: int
    heads: int
    kv_heads: int
    tied_embeddings: bool

    @property
    def kv_dim(self) -> int:
        return self.hidden // self.heads * self.kv_heads

    def matrices(self) -> dict[str, tuple[int, int]]:
        """(out, in) of the weight matrices of one decoder layer."""
        h, kv, inter = self.hidden, self.kv_dim, self.intermediate
        return {
            "q_proj": (h, h),
            "k_proj": (kv, h),
            "v_proj": (kv, h),
            "o_proj": (h, h),
            "gate_proj": (inter, h),
            "up_proj": (inter, h),
            "down_proj": (h, inter),
        }

    def layer_parameters(self) -> int:
        """Matrices + q/k/v biases (Qwen2) + two RMSNorm weights."""
        return sum(o * i for o, i in self.matrices().values()) + self.hidden + 2 * self.kv_dim + 2 * self.hidden

    def parameters(self) -> int:
        """layers x layer + embedding (vocab x hidden) + final norm + an untied LM head (vocab x hidden)."""
        head = 0 if self.tied_embeddings else self.vocab * self.hidden
        return self.layers * self.layer_parameters() + self.vocab * self.hidden + self.hidden + head


QWEN25_7B = ModelShape(3584, 28, 18944, 152064, 28, 4, tied_embeddings=False)  # 7.62e9 parameters
QWEN25_05B = ModelShape(896, 24, 4864, 151936, 14, 2, tied_embeddings=True)  # 0.49e9 parameters
KNOWN_MODELS = {
    "Qwen/Qwen2.5-7B-Instruct": QWEN25_7B,
    "Qwen/Qwen2.5-7B": QWEN25_7B,
    "Qwen/Qwen2.5-0.5B-Instruct": QWEN25_05B,
    "Qwen/Qwen2.5-0.5B": QWEN25_05B,
}


def model_shape(name: str) -> ModelShape:
    if name not in KNOWN_MODELS:
        raise InfopoConfigError(
            f"memory plan: unknown model {name!r} (known: {', '.join(KNOWN_MODELS)}); add its "
            "shape to KNOWN_MODELS in infopo/memory_plan.py"
        )
    return KNOWN_MODELS[name]


def trainable_parameters(shape: ModelShape, fields: dict) -> tuple[int, str]:
    """Parameters that get gradients and Adam states, and what they are.

    KappaTune (``kappa_top_p``): k = max(1, int(N x top_p)) of the N scanned matrices, those with every dimension
    <= ``kappa_max_dim`` (16384: no embedding, no LM head, and for 7B no MLP); the plan takes the k largest (an
    upper bound: which ones have the lowest condition number is only known after the scan). ``kappa_mode: lora``
    puts LoRA on them instead. LoRA (``use_peft``): r x (in + out) per targeted matrix (default q_proj, v_proj).
    """
    top_p, max_dim = fields.get("kappa_top_p"), fields.get("kappa_max_dim", 16384)
    rank = fields.get("lora_r", TRL_DEFAULTS["lora_r"])
    if top_p is not None:
        scanned = [(o, i) for o, i in shape.matrices().values() if max(o, i) <= max_dim] * shape.layers
        if max(shape.vocab, shape.hidden) <= max_dim:  # the embedding, and the LM head when untied
            scanned += [(shape.vocab, shape.hidden)] * (1 if shape.tied_embeddings else 2)
        count = max(1, int(len(scanned) * top_p))
        largest = sorted(scanned, key=lambda dims: dims[0] * dims[1], reverse=True)[:count]
        if fields.get("kappa_mode", "full") == "lora":
            return sum(rank * (o + i) for o, i in largest), f"KappaTune LoRA r={rank} on {count} of {len(scanned)}"
        return sum(o * i for o, i in largest), f"KappaTune {count} of {len(scanned)} matrices (largest k)"
    if fields.get("use_peft"):
        targets = fields.get("lora_target_modules") or ["q_proj", "v_proj"]
        dims = [shape.matrices()[name] for name in targets if name in shape.matrices()]
        return shape.layers * sum(rank * (o + i) for o, i in dims), f"LoRA r={rank} on {', '.join(targets)}"
    return shape.parameters(), "full"


def zero_shares(parameters: int, trainable: int, num_gpus: int, stage: int, offload: bool = False) -> dict:
    """Bytes per device of bf16 weights (2 P), bf16 gradients (2 T) and Adam (fp32 master, m, v: 12 T).

    Stage 3 splits all three over the GPUs, stage 2 the gradients and Adam (weights whole on every GPU), stage 0
    (DDP) none; CPU offload (``zero3_offload.yaml``) moves weights and Adam off the GPU.
    """
    shards = {
        "weights": num_gpus if stage == 3 else 1,
        "gradients": num_gpus if stage >= 2 else 1,
        "adam": num_gpus if stage >= 1 else 1,
    }
    sizes = {"weights": BF16 * parameters, "gradients": BF16 * trainable, "adam": 3 * FP32 * trainable}
    return {name: 0.0 if offload and name != "gradients" else sizes[name] / shards[name] for name in sizes}


def gathered_weights_bytes(shape: ModelShape, stage: int, head_trainable: bool) -> float:
    """ZeRO-3 working set: the LM head (vocab x hidden) and two decoder layers (the current and the prefetched one)
    gathered in bf16; plus, when the head trains, its float32 gradient, which the fused head accumulates whole:
    4 x vocab x hidden."""
    gathered = BF16 * (shape.vocab * shape.hidden + 2 * shape.layer_parameters()) if stage == 3 else 0
    return gathered + (FP32 * shape.vocab * shape.hidden if head_trainable else 0)


def checkpoint_bytes(micro_batch: int, seq: int, shape: ModelShape) -> float:
    """Gradient checkpointing keeps each layer boundary's hidden state: micro_batch x seq x hidden x 2 x layers."""
    return micro_batch * seq * shape.hidden * BF16 * shape.layers


def layer_activation_bytes(micro_batch: int, seq: int, shape: ModelShape) -> float:
    """One decoder layer's activations, saved for backward and live again with their gradients in the recompute:
    2 x micro_batch x seq x (6 hidden + 2 kv_dim + 4 intermediate) x 2 bytes (input, 2 norms, q, attention and
    o_proj outputs; k, v; gate, up, act(gate), act(gate) x up). SDPA/flash attention keeps no seq x seq scores."""
    per_token = 6 * shape.hidden + 2 * shape.kv_dim + 4 * shape.intermediate
    return 2 * micro_batch * seq * per_token * BF16


def logits_bytes(micro_batch: int, seq: int, vocab: int, bytes_per_value: int = BF16) -> float:
    """Logits of one micro-batch as materialized: micro_batch x seq x vocab x 2 in bf16; the float32 upcast for the
    log-softmax is the same with 4 bytes."""
    return micro_batch * seq * vocab * bytes_per_value


def fused_head_tile_bytes(tokens: int) -> float:
    """What TRL 1.16's fused LM head holds instead: one [min(tokens, 4096), 32768] tile in bf16."""
    return min(tokens, 4096) * 32768 * BF16


def probe_tokens(token_budget: int, width: int) -> int:
    """Padded tokens of IGPO's largest probe forward: rollouts go into a forward while rows x widest <= the budget,
    and a rollout wider than the budget goes alone, so at most max(budget, width) (``infopo.igpo.probe``)."""
    return max(token_budget, width)


def probe_chunk_bytes(tokens: int, width: int, shape: ModelShape) -> float:
    """IGPO's packed probe forward (no gradient) of ``tokens`` padded tokens, rollouts at most ``width`` wide
    (trajectory + one answer copy per turn): the 4-D mask, bool and its bf16 bias in SDPA (tokens x width x 3); the
    residual stream and the layer's input (2 x tokens x hidden x 2); the MLP's act(gate), up and product (3 x tokens
    x intermediate x 2), the largest transient of a layer without gradient."""
    return tokens * width * (1 + BF16) + tokens * BF16 * (2 * shape.hidden + 3 * shape.intermediate)


def did_entropy_bytes(samples: int, prompt: int, new_tokens: int, vocab: int) -> float:
    """DID's entropy estimate scores K samples with full logits (``infopo.scoring.completion_logps``): K x (prompt +
    new) x vocab in bf16, then the completion slice in float32 and its log-softmax: K x new x vocab x 8."""
    return samples * (prompt + new_tokens) * vocab * BF16 + samples * new_tokens * vocab * 2 * FP32


def command_of(recipe: Path) -> str:
    """The infopo command a recipe is for, from its file name (``igpo_qwen2.5-7b.yaml`` -> ``igpo``)."""
    return recipe.name.split("_")[0]


def read_yaml(path: Path, what: str) -> dict:
    try:
        fields = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise InfopoConfigError(f"memory plan: cannot read {what} {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise InfopoConfigError(f"memory plan: {what} {path} is not valid YAML ({error.problem})") from None
    if not isinstance(fields, dict):
        raise InfopoConfigError(f"memory plan: {what} {path} must be a mapping of fields")
    return fields


def accelerate_config_of(recipe: Path, recipe_text: str) -> Path:
    """The accelerate config the recipe's launch line names (``--config_file ...``, relative to the folder above
    ``recipes/``, the working directory or this repository), else this repository's ZeRO-3 config."""
    named = re.search(r"--config_file\s+(\S+\.yaml)", recipe_text)
    if not named:
        return REPO / "recipes" / "accelerate" / "zero3.yaml"
    places = [Path(recipe).resolve().parent.parent, Path.cwd(), REPO]
    return next(
        (place / named.group(1) for place in places if (place / named.group(1)).is_file()), places[0] / named.group(1)
    )


def zero_setup(accelerate: dict) -> tuple[int, bool, int]:
    """(ZeRO stage, CPU offload, processes) of an accelerate config; DDP is stage 0."""
    deepspeed = accelerate.get("deepspeed_config") or {}
    stage = int(deepspeed.get("zero_stage", 0)) if accelerate.get("distributed_type") == "DEEPSPEED" else 0
    offload = deepspeed.get("offload_optimizer_device", "none") not in ("none", None)
    return stage, offload, int(accelerate.get("num_processes", 8))


def setting(fields: dict, name: str, kind: type, path: Path):
    value = fields.get(name, TRL_DEFAULTS.get(name))
    if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InfopoConfigError(f"memory plan: {path}: {name} must be a positive integer, got {value!r}")
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1):
        raise InfopoConfigError(f"memory plan: {path}: {name} must be a number in [0, 1], got {value!r}")
    return value


@dataclass
class Plan:
    rows: list[tuple[str, float, str]]  # (term, GB, how), the persistent terms first, then each phase
    persistent_gb: float
    phase_gb: dict[str, float]
    gpu_gb: float
    global_batch: int

    @property
    def peak_gb(self) -> float:
        return self.persistent_gb + max(self.phase_gb.values())

    @property
    def margin(self) -> float:
        return 1 - self.peak_gb / self.gpu_gb

    def fits(self, margin: float = 0.10) -> bool:
        return self.margin >= margin


def memory_plan(
    fields: dict,
    command: str,
    gpu_gb: float,
    num_gpus: int,
    stage: int,
    offload: bool = False,
    path: Path = Path("recipe"),
) -> Plan:
    """The plan of a recipe's ``fields`` (its YAML mapping) for ``command`` on ``num_gpus`` GPUs of ``gpu_gb``."""
    if "model_name_or_path" not in fields:
        raise InfopoConfigError(f"memory plan: {path}: model_name_or_path is missing")
    shape = model_shape(fields["model_name_or_path"])
    micro_batch = setting(fields, "per_device_train_batch_size", int, path)
    accumulation = setting(fields, "gradient_accumulation_steps", int, path)
    rl = command in ("grpo", "igpo")
    completion = setting(fields, "max_completion_length" if rl else "max_length", int, path)
    seq = PROMPT_TOKENS + completion if rl else completion
    rows_per_pass = 2 * micro_batch if command in ("dpo", "did-dpo") else micro_batch  # DPO: chosen + rejected
    scored = completion if rl else seq
    parameters = shape.parameters()
    trainable, trainable_how = trainable_parameters(shape, fields)
    head_trainable = trainable_how == "full"
    shares = zero_shares(parameters, trainable, num_gpus, stage, offload)
    zero_name = f"ZeRO-{stage}" if stage else "DDP"
    rows = [
        (f"weights ({parameters / 1e9:.2f}B params, bf16)", shares["weights"] / GB, f"{zero_name} share"),
        (
            f"gradients ({trainable / 1e9:.3f}B trainable: {trainable_how})",
            shares["gradients"] / GB,
            f"{zero_name} share",
        ),
        ("Adam states (fp32 master, m, v)", shares["adam"] / GB, f"{zero_name} share"),
    ]
    beta = fields.get("beta", DEFAULT_BETA.get(command, 0.0))
    lora = fields.get("use_peft") or fields.get("kappa_mode") == "lora"
    if command != "sft" and beta and not lora:
        rows.append(
            (
                f"reference model (beta={beta})",
                BF16 * parameters / (num_gpus if stage == 3 else 1) / GB,
                f"{zero_name} share, bf16",
            )
        )
    elif fields.get("did_entropy_steps", 0) and not lora:  # infopo.did.monitor: refused under ZeRO-3
        rows.append(("DID reference (frozen copy)", BF16 * parameters / GB, "whole, bf16"))
    use_vllm = rl and fields.get("use_vllm", TRL_DEFAULTS["use_vllm"]) is True
    if use_vllm and fields.get("vllm_mode", TRL_DEFAULTS["vllm_mode"]) == "colocate":
        utilization = setting(fields, "vllm_gpu_memory_utilization", float, path)
        rows.append(("vLLM (colocate)", utilization * gpu_gb, f"{utilization} x {gpu_gb:g} GB"))
    gathered = gathered_weights_bytes(shape, stage, head_trainable) / GB
    if gathered:
        rows.append(
            (
                "gathered weights, fp32 LM-head gradient",
                gathered,
                ("LM head + 2 layers in bf16, " if stage == 3 else "")
                + ("head gradient fp32" if head_trainable else "head frozen"),
            )
        )
    rows.append(("CUDA context, NCCL, buffers", CUDA_OVERHEAD_GB, "assumed"))
    persistent = sum(gb for _, gb, _ in rows)

    checkpointing = fields.get("gradient_checkpointing", TRL_DEFAULTS["gradient_checkpointing"])
    layer = layer_activation_bytes(rows_per_pass, seq, shape) / GB
    kept = checkpoint_bytes(rows_per_pass, seq, shape) / GB if checkpointing else layer / 2 * shape.layers
    logits_bf16 = logits_bytes(rows_per_pass, scored, shape.vocab) / GB
    logits_fp32 = logits_bytes(rows_per_pass, scored, shape.vocab, FP32) / GB
    tile = fused_head_tile_bytes(rows_per_pass * scored) / GB
    rows += [
        (
            f"[step] layer-boundary states ({rows_per_pass} x {seq} tokens)",
            kept,
            "mb x seq x hidden x 2 x layers" if checkpointing else "every layer's activations (no checkpointing)",
        ),
        (
            "[step] one layer's activations (recompute)",
            layer if checkpointing else 0.0,
            "2 x mb x seq x (6 h + 2 kv + 4 inter) x 2",
        ),
        (
            f"[step] logits bf16 ({rows_per_pass} x {scored} x {shape.vocab})",
            logits_bf16,
            f"as materialized; TRL's fused head: {tile:.2f} GB tile",
        ),
        ("[step] logits fp32 upcast (log-softmax)", logits_fp32, "mb x seq x vocab x 4"),
    ]
    phases = {"step": kept + (layer if checkpointing else 0.0) + logits_bf16 + logits_fp32}
    if command == "igpo":
        width = seq + setting(fields, "max_turns", int, path) * ANSWER_COPY_TOKENS
        budget = setting(fields, "probe_token_budget", int, path) if "probe_token_budget" in fields else None
        tokens = probe_tokens(budget or PROBE_TOKEN_BUDGET, width)
        phases["probe"] = probe_chunk_bytes(tokens, width, shape) / GB
        rows.append((f"[probe] {tokens} padded tokens, rollouts <= {width}", phases["probe"], "no gradient"))
    if fields.get("did_entropy_steps", 0):
        samples, new = int(fields.get("did_entropy_k", 16)), int(fields.get("did_entropy_max_new_tokens", 128))
        phases["did"] = did_entropy_bytes(samples, PROMPT_TOKENS, new, shape.vocab) / GB
        rows.append((f"[did] entropy scoring, K={samples} x {PROMPT_TOKENS + new}", phases["did"], "no gradient"))
    return Plan(rows, persistent, phases, gpu_gb, micro_batch * accumulation * num_gpus)


def plan_recipe(recipe: Path, gpu_gb: float, num_gpus: int | None = None) -> Plan:
    """Read a recipe and the accelerate config its launch line names, and plan it."""
    recipe = Path(recipe)
    fields = read_yaml(recipe, "recipe")
    accelerate_path = accelerate_config_of(recipe, recipe.read_text())
    stage, offload, processes = zero_setup(read_yaml(accelerate_path, "accelerate config"))
    return memory_plan(fields, command_of(recipe), gpu_gb, num_gpus or processes, stage, offload, recipe)


def format_plan(plan: Plan, title: str) -> str:
    """The plan as a Markdown table: each term, the peak (held + largest phase) and the margin left."""
    lines = [f"### {title}", "", "| term | GB | how |", "|---|---:|---|"]
    lines += [f"| {term} | {gb:.2f} | {how} |" for term, gb, how in plan.rows]
    largest = max(plan.phase_gb, key=plan.phase_gb.get)
    lines += [
        f"| **held all step** | {plan.persistent_gb:.2f} | |",
        f"| **peak** (held + largest phase: {largest}) | {plan.peak_gb:.2f} | of {plan.gpu_gb:g} GB |",
        f"| **margin** | {plan.gpu_gb - plan.peak_gb:.2f} | {plan.margin:.1%} "
        f"({'fits' if plan.fits() else 'does NOT fit'} with 10%) |",
        "",
        f"Global batch (per device x accumulation x GPUs): {plan.global_batch}.",
    ]
    return "\n".join(lines)
