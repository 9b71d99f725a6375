"""The DID entropy in every infopo trainer, and the log-margin ordering of an RL update (arXiv 2505.23761).

:class:`DIDEntropyMixin` (SFT, DPO, GRPO, IGPO) estimates, every ``did_entropy_steps`` steps, the entropy of the
differential information distribution q(y) proportional to pi_theta(y) / pi_ref(y) on fixed prompts, from K policy
samples (:func:`~infopo.did.info.did_entropy_snis`): ``did/entropy`` (nats over whole sequences), ``did/entropy_k``,
``did/sample_length`` (mean tokens of the samples, EOS included) and ``did/entropy_per_token`` (the estimate over that
length: compare runs by it, at equal K). Nothing in it is DPO's: the paper's reading (low entropy: the update
sharpened the policy, knowledge-like; high: it smoothed it, instruction-following-like) applies to any update.

:class:`DIDRolloutMixin` (GRPO, IGPO) adds, every training batch, the ordering of log-margins with the rewards as the
labels: in every group, y_w is the best rollout and y_l the worst (:func:`~infopo.did.info.group_extremes`; ties
are left out), m = log pi(y_w) - log pi(y_l) over the policy's own tokens (tool observations excluded), and
``did/ordered_frac`` is the share of groups with m_policy >= m_ref, as ``DIDDPOTrainer`` logs it for labelled pairs;
with ``did/margin_policy`` and ``did/margin_ref``. Log-probs are at temperature 1 (the policy itself, not TRL's
temperature-scaled sampling distribution).

The reference (:meth:`DIDEntropyMixin.did_reference`): the trainer's own reference model when it has one; a LoRA
policy with its adapters off (TRL's ``ref`` adapter when one is loaded); otherwise a frozen copy of the starting
weights, made before any other infopo hook is registered, refused under ZeRO-3 (it would not be sharded).
"""

from __future__ import annotations

import copy
import itertools
import math
from contextlib import contextmanager

import torch
from transformers import TrainerCallback
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

from infopo.did.analyze import sampled_did_entropy
from infopo.did.info import group_extremes, log_margin_ordered
from infopo.distributed import max_over_processes, zero3_collectives_active
from infopo.errors import InfopoConfigError
from infopo.model_card import final_metrics, metric_table
from infopo.papers import DID as DID_PAPER
from infopo.scoring import encode_prompt, prompt_of, sequence_logps


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model``'s weights that training leaves alone, in eval mode, without gradients.

    A forward patched onto a module instance is dropped from the copy: TRL's ``add_fused_lm_head`` (SFT, GRPO) sets
    ``model.forward`` to a method whose closure calls the *original* model's forward, so a plain deep copy would
    keep scoring with the policy's weights as they train (found on the tiny model: the copy's logits drifted from
    the starting weights' by 1.0 after four SFT steps while its parameters stayed equal).
    """
    frozen = copy.deepcopy(model)
    for module in frozen.modules():
        module.__dict__.pop("forward", None)
    return frozen.eval().requires_grad_(False)


class DIDEntropyCallback(TrainerCallback):
    """Runs the estimate at the end of every ``did_entropy_steps``-th step (after the update, before logging)."""

    def __init__(self, trainer: DIDEntropyMixin):
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % args.did_entropy_steps == 0:
            estimate, k, length = self.trainer.estimate_did_entropy()
            metrics = self.trainer._metrics["train"]
            metrics["did/entropy"].append(estimate)
            metrics["did/entropy_k"].append(k)
            metrics["did/sample_length"].append(length)
            metrics["did/entropy_per_token"].append(estimate / length)


class DIDEntropyMixin:
    """The ``did_entropy_*`` fields of infopo's configs (:class:`~infopo.did.arguments.DIDEntropyArguments`)."""

    did_reference_kind: str | None = None
    """Which reference the estimate uses: 'reference model', 'adapters off' or 'frozen copy' (None: off)."""

    def __init__(self, *args, **kwargs):
        dataset = kwargs.get("train_dataset")
        super().__init__(*args, **kwargs)
        self._did_frozen = None
        if not getattr(self.args, "did_entropy_steps", 0):
            return
        self._did_prompts = self._did_fixed_prompts(dataset)
        policy = self.accelerator.unwrap_model(self.model)
        if getattr(self, "ref_model", None) is not None:
            self.did_reference_kind = "reference model"
        elif hasattr(policy, "disable_adapter"):
            self.did_reference_kind = "adapters off"
        elif is_deepspeed_zero3_enabled() or zero3_collectives_active(policy):
            raise InfopoConfigError(
                "did_entropy_steps under ZeRO-3 needs a reference of the trainer's own (GRPO and IGPO with beta > 0, "
                "DPO without precompute_ref_log_probs, or a LoRA policy: its adapters go off): the frozen copy of the "
                "starting weights it would keep otherwise is not sharded; set did_entropy_steps: 0 or use ZeRO-2"
            )
        else:
            self.did_reference_kind = "frozen copy"
            self._did_frozen = frozen_copy(policy)
        self.add_callback(DIDEntropyCallback(self))

    def _did_fixed_prompts(self, dataset) -> list[list[int]]:
        """Token ids of the first ``did_entropy_prompts`` training prompts, encoded as TRL feeds them."""
        count = self.args.did_entropy_prompts
        rows = list(itertools.islice(iter(dataset), count)) if dataset is not None else []
        prompts = [prompt_of(row) for row in rows]
        if not rows or any(prompt is None for prompt in prompts):
            columns = ", ".join(getattr(dataset, "column_names", None) or []) or "none"
            raise InfopoConfigError(
                f"did_entropy_steps needs prompts to sample from: train_dataset rows with a 'prompt' column or "
                f"conversational 'messages' (columns: {columns}); set did_entropy_steps: 0 for plain text"
            )
        return [encode_prompt(self.processing_class, prompt) for prompt in prompts]

    @contextmanager
    def did_reference(self):
        """The reference model to score (and, unwrapped, to read) log pi_ref with, for the duration of the block."""
        if self._did_frozen is not None:
            yield self._did_frozen
        elif self.did_reference_kind == "reference model":
            yield self.ref_model
        else:
            from trl.trainer.utils import use_adapter

            policy = self.accelerator.unwrap_model(self.model)
            with use_adapter(policy, adapter_name="ref" if "ref" in policy.peft_config else None):
                yield self.model

    @contextmanager
    def _did_unwrapped_reference(self):
        with self.did_reference() as reference:
            yield self.accelerator.unwrap_model(reference)

    @torch.no_grad()
    def estimate_did_entropy(self) -> tuple[float, int, float]:
        """Mean over the fixed prompts of the self-normalised DID entropy estimate, K, and the samples' mean length in
        tokens (EOS included), gathered over ranks (each takes every world-size-th prompt; under ZeRO-3 every rank
        makes as many generation calls, a rank short of prompts repeating one with weight 0).

        Completions are sampled from the policy as it is (temperature 1, no top-k/top-p), scored under the policy and
        the reference. Completions cut at ``did_entropy_max_new_tokens`` count as sampled (their prefix log-prob).
        """
        policy = self.accelerator.unwrap_model(self.model)
        was_training = policy.training
        policy.eval()
        tokenizer = getattr(self.processing_class, "tokenizer", self.processing_class)
        k, rank, world = self.args.did_entropy_k, self.accelerator.process_index, self.accelerator.num_processes
        mine = self._did_prompts[rank::world]
        calls = math.ceil(len(self._did_prompts) / world)
        totals = torch.zeros(3, dtype=torch.float64)  # sum of estimates, sum of mean lengths, prompts
        for call in range(calls):
            prompt_ids = mine[call] if call < len(mine) else self._did_prompts[0]
            entropy, length = sampled_did_entropy(
                policy, self._did_unwrapped_reference, tokenizer, prompt_ids, k, self.args.did_entropy_max_new_tokens
            )
            if call < len(mine):
                totals += torch.tensor([entropy, length, 1.0], dtype=torch.float64)
        policy.train(was_training)
        summed = self.accelerator.gather(totals.to(self.accelerator.device).reshape(1, 3)).sum(0).tolist()
        return summed[0] / summed[2], k, summed[1] / summed[2]

    # ---- card ---------------------------------------------------------------------------------------------------

    def _did_entropy_description(self) -> str:
        args = self.args
        if not getattr(args, "did_entropy_steps", 0):
            return "not estimated (did_entropy_steps: 0)"
        return (
            f"every {args.did_entropy_steps} steps on {args.did_entropy_prompts} fixed prompts from K = "
            f"{args.did_entropy_k} policy samples of up to {args.did_entropy_max_new_tokens} tokens, against the "
            f"{self.did_reference_kind} as the reference"
        )

    def _did_section(self) -> str | None:
        """The card's DID section (None: none); ``DIDDPOTrainer`` writes its own."""
        if not getattr(self.args, "did_entropy_steps", 0):
            return None
        metrics = final_metrics(self.state.log_history)
        return "\n".join(
            [
                f"DID entropy {self._did_entropy_description()}. Reading (arXiv 2505.23761): the entropy of "
                "q(y) proportional to pi_theta(y) / pi_ref(y) is low when the update sharpened the policy (few "
                "responses gained: knowledge-like) and high when it smoothed it (instruction-following-like). "
                "`did/entropy` is in nats over whole sequences; compare runs by `did/entropy_per_token`, at equal "
                "`did/entropy_k` (the estimate is biased at small K)." + self._did_extra_reading(),
                "",
                *metric_table(metrics, [key for key in metrics if key.startswith("did/")]),
            ]
        )

    def _did_extra_reading(self) -> str:
        return ""

    def _card_sections(self) -> list[tuple[str, str]]:
        section = self._did_section()
        return [*super()._card_sections(), *([("Differential information (DID)", section)] if section else [])]

    def _card_papers(self) -> list[dict]:
        papers = super()._card_papers()
        if getattr(self.args, "did_entropy_steps", 0) and DID_PAPER["id"] not in {p["id"] for p in papers}:
            papers.append(DID_PAPER)
        return papers

    def _card_tags(self) -> list[str]:
        tags = super()._card_tags()
        return [*tags, "did"] if getattr(self.args, "did_entropy_steps", 0) and "did" not in tags else tags


class DIDRolloutMixin(DIDEntropyMixin):
    """GRPO and IGPO: :class:`DIDEntropyMixin` and the log-margin ordering between each group's best and worst
    rollout, every training batch (see the module docstring)."""

    def _did_rollout_scores(self, output: dict) -> torch.Tensor:
        """Every rollout's score, over all processes in TRL's global order: GRPO's advantages, which order a group's
        rollouts as its total rewards do (IGPO: the outcome rewards)."""
        return self.accelerator.gather(output["advantages"]).float().cpu()

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if getattr(self.args, "did_entropy_steps", 0) and self.model.training:
            self._record_did_ordering(output)
        return output

    @torch.no_grad()
    def _record_did_ordering(self, output: dict) -> None:
        best, worst = group_extremes(self._did_rollout_scores(output), self.num_generations)
        local_count = output["completion_ids"].shape[0]
        start = self.accelerator.process_index * local_count
        wanted = torch.cat([best, worst])
        rows = sorted({int(i) - start for i in wanted if start <= int(i) < start + local_count})
        padded = rows or [0]  # every rank makes the same forwards (collective under ZeRO-3)
        if zero3_collectives_active(self.accelerator.unwrap_model(self.model)):
            padded = padded + [padded[0]] * (max_over_processes(len(padded)) - len(padded))
        index = torch.tensor(padded, device=output["completion_ids"].device)
        loss_mask = (
            output["completion_mask"] * output["tool_mask"] if "tool_mask" in output else output["completion_mask"]
        )
        batch = (
            output["prompt_ids"][index],
            output["prompt_mask"][index],
            output["completion_ids"][index],
            output["completion_mask"][index],
            loss_mask[index],
        )
        chunk = self.args.per_device_train_batch_size
        policy = sequence_logps(self.model, *batch, batch_size=chunk)
        with self.did_reference() as reference:
            ref = sequence_logps(reference, *batch, batch_size=chunk)
        local = torch.full((local_count, 2), float("nan"), dtype=torch.float64, device=policy.device)
        local[index[: len(rows)]] = torch.stack([policy, ref], 1)[: len(rows)].double()
        values = self.accelerator.gather(local).cpu()
        if not len(best):
            return  # no group preferred one rollout over another: nothing to order
        m_policy = values[best, 0] - values[worst, 0]
        m_ref = values[best, 1] - values[worst, 1]
        metrics = self._metrics["train"]
        metrics["did/ordered_frac"].append(log_margin_ordered(None, m_ref, m_policy).double().mean().item())
        metrics["did/margin_policy"].append(m_policy.mean().item())
        metrics["did/margin_ref"].append(m_ref.mean().item())

    def _did_extra_reading(self) -> str:
        return (
            " `did/ordered_frac` is the share of groups whose best rollout (by reward) gained on their worst against "
            "the reference: m_policy >= m_ref for m = log pi(best) - log pi(worst), every training batch."
        )
