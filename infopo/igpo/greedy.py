"""IGPO's greedy evaluation (``greedy_eval_questions``): exact-match success, F1 and format errors of greedy
tag-protocol rollouts on held-out questions, before and after training."""

from __future__ import annotations

import math

import torch
from transformers import TrainerCallback

from infopo.errors import InfopoConfigError
from infopo.igpo.episodes import answer_aliases
from infopo.igpo.rewards import answer_f1, exact_match, squad_exact_match, squad_f1


class GreedyEvaluation(TrainerCallback):
    """``greedy_eval_questions``: greedy success on the evaluation split when training starts and when it ends."""

    def __init__(self, trainer):
        self.trainer = trainer

    def _evaluate(self, moment: str) -> None:
        trainer = self.trainer
        result = trainer.evaluate_greedily(trainer.eval_dataset, trainer.args.greedy_eval_questions)
        trainer.greedy_results[moment] = result
        return {f"igpo/greedy_{key}_{moment}": value for key, value in result.items() if key != "questions"}

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = self._evaluate("start")
        result, floor = self.trainer.greedy_results["start"], args.greedy_min_start_success
        if result["success"] < floor:  # every rank holds the same reduced result: all stop together
            self._clear_progress_bar()  # the refusal is one line of its own, not the tail of an empty bar
            raise InfopoConfigError(
                f"the start model does not answer: greedy success {result['success']:.3f} on "
                f"{result['questions']:.0f} held-out questions (F1 {result['f1']:.3f}, format errors "
                f"{result['format_error_frac']:.3f}) is below greedy_min_start_success {floor:g}, so RL from it has "
                "no outcome signal: the warm start did not learn the task; train it longer (--max_steps) or with "
                "another --seed, or set --greedy_min_start_success 0 to train anyway"
            )

    def _clear_progress_bar(self) -> None:
        for callback in self.trainer.callback_handler.callbacks:
            bar = getattr(callback, "training_bar", None)
            if bar is not None:
                bar.leave = False
                bar.close()
                callback.training_bar = None

    def on_train_end(self, args, state, control, **kwargs):
        state.log_history.append({**self.start, **self._evaluate("end"), "step": state.global_step})


class GreedyEvaluationMixin:
    """``evaluate_greedily`` for :class:`~infopo.igpo.trainer.IGPOTrainer` (its tag loop, run greedily)."""

    @torch.no_grad()
    def evaluate_greedily(self, dataset, count: int, batch: int = 64) -> dict[str, float]:
        """Exact-match success, mean F1 and format errors of greedy tag-protocol rollouts on the first ``count``
        questions of ``dataset`` (split over processes and summed)."""
        rows = [dict(row) for row in dataset.select(range(min(count, len(dataset))))]
        mine = rows[self.accelerator.process_index :: self.accelerator.num_processes]
        chunks = math.ceil(len(rows) / self.accelerator.num_processes / batch)
        totals = torch.zeros(6, dtype=torch.float64, device=self.accelerator.device)
        was_training, self._greedy = self.model.training, True
        self.model.eval()
        try:
            for index in range(chunks):  # every rank the same number of chunks: generation stays in step
                self._inputs, self._rollouts = mine[index * batch : (index + 1) * batch], {}
                result = self._tag_rollout([row["prompt"] for row in self._inputs], self)
                self._record_rollouts(result["prompt_ids"], result["completion_ids"], result["env_mask"])
                for prediction, row in zip(self._rollouts["predictions"], self._inputs, strict=True):
                    aliases = answer_aliases(row[self.args.answer_column])
                    f1 = answer_f1(prediction, aliases, words=self.args.f1_words)
                    totals += torch.tensor(
                        [
                            exact_match(prediction, aliases),
                            f1,
                            prediction is None,
                            1.0,
                            squad_exact_match(prediction, aliases),
                            squad_f1(prediction, aliases),
                        ],
                        dtype=torch.float64,
                        device=totals.device,
                    )
        finally:
            self._greedy = False
            self.model.train(was_training)
        success, f1, errors, count, squad_em, squad_f1_sum = self.accelerator.reduce(totals, reduction="sum").tolist()
        return {
            "success": success / count,
            "f1": f1 / count,
            "format_error_frac": errors / count,
            "questions": count,
            "squad_em": squad_em / count,
            "squad_f1": squad_f1_sum / count,
        }
