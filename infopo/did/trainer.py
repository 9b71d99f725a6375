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
  ``did/entropy_per_token`` (the estimate divided by that length), as in every infopo trainer
  (:class:`~infopo.did.monitor.DIDEntropyMixin`; with ``precompute_ref_log_probs`` and no LoRA, against a frozen copy
  of the starting weights). The DID lives on whole sequences, so its entropy grows with their length (up to about
  length x log(vocabulary)): compare runs by the per-token value, at equal K.

l is the plain sum of completion-token log-ratios, also when TRL's ``ld_alpha`` (LD-DPO) reweights the loss's
log-probs.
"""

from __future__ import annotations

import torch

from infopo.did.config import DIDDPOConfig
from infopo.did.info import log_margin_ordered, pair_did_entropy
from infopo.model_card import final_metrics, metric_table
from infopo.papers import DID as DID_PAPER
from infopo.trainers import InfopoDPOTrainer


class DIDDPOTrainer(InfopoDPOTrainer):
    """TRL's ``DPOTrainer`` (constructor unchanged) with the ``did/*`` metrics; configure with ``DIDDPOConfig``."""

    infopo_method = "did-dpo"
    config_class = DIDDPOConfig
    _tag_names = ["trl", "dpo", "did", "infopo"]
    _name = "DID-DPO"
    _paper = DID_PAPER

    def _compute_loss(self, model, inputs, return_outputs):
        captured: list[torch.Tensor] = []

        def record(module, args, kwargs, output):
            log_probs = getattr(output, "log_probs", None)
            if log_probs is not None:  # TRL's loss passes; not the plain forward for compute_metrics' logits after them
                captured.append(log_probs.detach())

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

    def _did_section(self) -> str:
        args, metrics = self.args, final_metrics(self.state.log_history)
        return "\n".join(
            [
                f"DPO with beta {args.beta:g}; differential-information metrics from the log-probs DPO computes, "
                f"every logging step. DID entropy: {self._did_entropy_description()}. Reading: `did/ordered_frac` is "
                "the share of pairs with the policy's log-margin at least the reference's (the observable log-margin "
                "ordering), `did/displacement_frac` the share whose chosen response lost likelihood, "
                "`did/pair_entropy` the entropy of the DID restricted to each pair (0 to log 2 = 0.693). "
                "`did/entropy` is in nats over whole sequences, so it grows with their length: "
                "`did/entropy_per_token` divides it by the samples' mean length (`did/sample_length`); the estimate "
                "is biased at small K (`did/entropy_k`).",
                "",
                *metric_table(metrics, [key for key in metrics if key.startswith("did/")]),
            ]
        )
