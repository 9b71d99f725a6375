"""``DIDDPOTrainer``: TRL's DPO with differential-information metrics, from the log-probs DPO already computes.

No extra forward pass: forward hooks on the policy (and on the reference model, when there is one) record the
per-token log-probs of TRL's own two passes; with the completion mask they give the sequence log-probs, chosen rows
first. A LoRA policy's reference pass goes through the same module with the adapter off, so the same hook sees it;
with ``precompute_ref_log_probs`` the reference log-probs come with the batch. Every logging step, averaged over the
steps and gathered over ranks:

- ``did/logratio_chosen``, ``did/logratio_rejected``: mean l(y) = log pi_theta(y) - log pi_ref(y);
- ``did/margin_policy``, ``did/margin_ref``: mean log-margins m = log pi(y_w) - log pi(y_l);
- ``did/ordered_frac``: share of pairs with m_policy >= m_ref (the observable log-margin ordering);
- ``did/displacement_frac``: share of pairs whose chosen log-prob fell below the reference's;
- ``did/pair_entropy``: mean binary entropy of q restricted to the pair, q_w = sigmoid(l_w - l_l);
- every ``did_entropy_steps``: ``did/entropy`` (self-normalised estimate from K policy samples, in nats over whole
  sequences), ``did/entropy_k`` (K), ``did/sample_length`` (mean tokens of the samples, EOS included) and
  ``did/entropy_per_token`` (the estimate divided by that length). The DID lives on whole sequences, so its entropy
  grows with their length (up to about length x log(vocabulary)): compare runs by the per-token value, at equal K.

l is the plain sum of completion-token log-ratios, also when TRL's ``ld_alpha`` (LD-DPO) reweights the loss's
log-probs.
"""

from __future__ import annotations

import torch
from transformers import TrainerCallback

from infopo.did.config import DIDDPOConfig
from infopo.did.info import did_entropy_snis, log_margin_ordered, pair_did_entropy
from infopo.errors import InfopoConfigError
from infopo.model_card import final_metrics, metric_table
from infopo.papers import DID as DID_PAPER
from infopo.scoring import completion_logps, sample_completions
from infopo.trainers import InfopoDPOTrainer


class _EntropyCallback(TrainerCallback):
    def __init__(self, trainer: DIDDPOTrainer):
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % args.did_entropy_steps == 0:
            estimate, k, length = self.trainer.estimate_did_entropy()
            metrics = self.trainer._metrics["train"]
            metrics["did/entropy"].append(estimate)
            metrics["did/entropy_k"].append(k)
            metrics["did/sample_length"].append(length)
            metrics["did/entropy_per_token"].append(estimate / length)


class DIDDPOTrainer(InfopoDPOTrainer):
    """TRL's ``DPOTrainer`` (constructor unchanged) with the ``did/*`` metrics; configure with ``DIDDPOConfig``."""

    infopo_method = "did-dpo"
    config_class = DIDDPOConfig
    _tag_names = ["trl", "dpo", "did", "infopo"]
    _name = "DID-DPO"
    _paper = DID_PAPER

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if getattr(self.args, "did_entropy_steps", 0):
            if self.ref_model is None and not self._policy_is_peft():
                raise InfopoConfigError(
                    "did_entropy_steps needs a reference model during training; with precompute_ref_log_probs use a "
                    "LoRA policy (reference = adapter off) or set did_entropy_steps: 0"
                )
            count = min(self.args.did_entropy_prompts, len(self.train_dataset))
            self._did_prompts = [list(self.train_dataset[i]["prompt_ids"]) for i in range(count)]
            self.add_callback(_EntropyCallback(self))

    def _policy_is_peft(self) -> bool:
        return hasattr(self.accelerator.unwrap_model(self.model), "disable_adapter")

    def _compute_loss(self, model, inputs, return_outputs):
        captured: list[torch.Tensor] = []

        def record(module, args, kwargs, output):
            captured.append(output.log_probs.detach())

        # ``self.model`` is the unwrapped policy (``model`` may be its DDP/DeepSpeed wrapper, which calls into it).
        modules = {id(m): m for m in (self.model, self._reference_module()) if m is not None}
        handles = [m.register_forward_hook(record, with_kwargs=True) for m in modules.values()]
        try:
            result = super()._compute_loss(model, inputs, return_outputs)
        finally:
            for handle in handles:
                handle.remove()
        self._record_did_metrics(captured, inputs)
        return result

    def _reference_module(self):
        """The reference model under its DeepSpeed engine, if any (``unwrap_model`` is too slow for every step)."""
        if self.ref_model is None or self.precompute_ref_logps:
            return None
        return getattr(self.ref_model, "module", self.ref_model)

    def _record_did_metrics(self, captured: list[torch.Tensor], inputs: dict) -> None:
        mask = inputs["completion_mask"][..., 1:].float()
        policy = (captured[0][:, -mask.shape[1] :] * mask).sum(-1)
        chosen, rejected = policy.chunk(2)
        if self.precompute_ref_logps:
            ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            ref_chosen, ref_rejected = (captured[1][:, -mask.shape[1] :] * mask).sum(-1).chunk(2)
        l_chosen, l_rejected = chosen - ref_chosen, rejected - ref_rejected
        m_policy, m_ref = chosen - rejected, ref_chosen - ref_rejected
        per_pair = torch.stack(
            [
                l_chosen,
                l_rejected,
                m_policy,
                m_ref,
                log_margin_ordered(None, m_ref, m_policy).float(),
                (chosen < ref_chosen).float(),
                pair_did_entropy(l_chosen, l_rejected),
            ],
            dim=1,
        )
        means = self.accelerator.gather_for_metrics(per_pair.float()).mean(0).tolist()
        names = (
            "logratio_chosen",
            "logratio_rejected",
            "margin_policy",
            "margin_ref",
            "ordered_frac",
            "displacement_frac",
            "pair_entropy",
        )
        mode = "train" if self.model.training else "eval"
        for name, value in zip(names, means, strict=True):
            self._metrics[mode][f"did/{name}"].append(value)

    @torch.no_grad()
    def estimate_did_entropy(self) -> tuple[float, int, float]:
        """Mean over the fixed prompts of the self-normalised DID entropy estimate, gathered over ranks; K; and the
        samples' mean length in tokens (EOS included).

        Completions are sampled from the policy as it is (temperature 1, no top-k/top-p), scored under the policy and
        the reference. Completions cut at ``did_entropy_max_new_tokens`` count as sampled (their prefix log-prob).
        """
        policy = self.accelerator.unwrap_model(self.model)
        was_training = policy.training
        policy.eval()
        eos = self.processing_class.eos_token_id
        pad = self.processing_class.pad_token_id if self.processing_class.pad_token_id is not None else eos
        k = self.args.did_entropy_k
        estimates, lengths = [], []
        for prompt_ids in self._did_prompts:
            sequences, mask = sample_completions(policy, prompt_ids, k, self.args.did_entropy_max_new_tokens, eos, pad)
            lengths.append(mask.sum(-1).float().mean())
            policy_logps = completion_logps(policy, sequences, len(prompt_ids), mask)
            if self.ref_model is not None:
                ref_logps = completion_logps(
                    self.accelerator.unwrap_model(self.ref_model), sequences, len(prompt_ids), mask
                )
            else:
                with policy.disable_adapter():
                    ref_logps = completion_logps(policy, sequences, len(prompt_ids), mask)
            estimates.append(did_entropy_snis(policy_logps, ref_logps)[0])
        policy.train(was_training)
        local = torch.stack([torch.stack(estimates).mean(), torch.stack(lengths).mean().to(estimates[0])])
        entropy, length = self.accelerator.gather_for_metrics(local.reshape(1, 2)).mean(0).tolist()
        return entropy, k, length

    def _card_sections(self) -> list[tuple[str, str]]:
        args, metrics = self.args, final_metrics(self.state.log_history)
        entropy = (
            f"every {args.did_entropy_steps} steps on {args.did_entropy_prompts} fixed prompts from K = "
            f"{args.did_entropy_k} policy samples of up to {args.did_entropy_max_new_tokens} tokens"
            if args.did_entropy_steps
            else "not estimated (did_entropy_steps: 0)"
        )
        body = "\n".join(
            [
                f"DPO with beta {args.beta:g}; differential-information metrics from the log-probs DPO computes, every "
                f"logging step. DID entropy: {entropy}. Reading: `did/ordered_frac` is the share of pairs with the "
                "policy's log-margin at least the reference's (the observable log-margin ordering), "
                "`did/displacement_frac` the share whose chosen response lost likelihood, `did/pair_entropy` the entropy "
                "of the DID restricted to each pair (0 to log 2 = 0.693). `did/entropy` is in nats over whole sequences, "
                "so it grows with their length: `did/entropy_per_token` divides it by the samples' mean length "
                "(`did/sample_length`); the estimate is biased at small K (`did/entropy_k`).",
                "",
                *metric_table(metrics, [key for key in metrics if key.startswith("did/")]),
            ]
        )
        return [*super()._card_sections(), ("Differential information (DID)", body)]
