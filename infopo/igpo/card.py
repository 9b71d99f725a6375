"""What IGPO adds to infopo's model card: its rollout and reward settings, the greedy evaluation, its metrics, and a
quick start that runs the tag protocol."""

from __future__ import annotations

import json

from infopo.igpo.report import format_greedy
from infopo.model_card import final_metrics, metric_table


class IGPOCardMixin:
    """The model-card hooks of :class:`~infopo.igpo.trainer.IGPOTrainer` (``InfopoCardMixin``'s, extended)."""

    def _user_reward_funcs(self) -> list:
        return super()._user_reward_funcs() if self._user_rewards else []

    def _recipe_extras(self) -> tuple[dict, list[str]]:
        extras, notes = super()._recipe_extras()
        if not extras.get("reward_funcs"):
            extras.pop("reward_funcs", None)  # the built-in outcome
        if not self._rollout_source.startswith(
            tuple(f"IGPO's tag loop over SearchEnvironment episodes ({source} " for source in ("corpus", "retriever"))
        ):
            notes.append(f"The rollouts came from {self._rollout_source}, given in Python: a recipe cannot express it.")
        return extras, notes

    def _card_sections(self) -> list[tuple[str, str]]:
        args, metrics = self.args, final_metrics(self.state.log_history)
        lines = [
            f"Rollouts: {self._rollout_source}; up to {args.max_turns} turns of up to {args.max_turn_tokens} tokens. "
            f"Turn rewards: information gain of the probe ({args.info_gain_kind}, forcing prefix "
            f"{args.answer_forcing_prefix!r}) x {args.gain_weight:g} on every turn but the last, outcome "
            f"({'the reward functions' if self._user_rewards else args.outcome_metric}; format penalty "
            f"{args.format_penalty:g}) x {args.outcome_weight:g} on the last; normalised {args.norm_mode} within each "
            f"question's group of {self.num_generations}, discounted with gamma {args.gamma:g}.",
        ]
        if self.greedy_results:
            lines += ["", *(f"- {line}" for line in format_greedy(self.greedy_results).splitlines())]
        lines += ["", *metric_table(metrics, [key for key in metrics if key.startswith("igpo/")])]
        return [*super()._card_sections(), ("Information-gain policy optimization (IGPO)", "\n".join(lines))]

    def _quick_start(self, model_id: str) -> str:
        """A search loop with the tag protocol on one of the training prompts."""
        prompt = self._example_prompt or "who is the mayor of the capital of kodi?"
        return "\n".join(
            [
                "import torch",
                "from transformers import AutoModelForCausalLM, AutoTokenizer",
                "from infopo.igpo import SearchEnvironment, extract_answer",
                "",
                f'model_id = "{model_id}"',
                "tokenizer = AutoTokenizer.from_pretrained(model_id)",
                "model = AutoModelForCausalLM.from_pretrained(model_id)",
                'environment = SearchEnvironment(["kodi capital basu", "basu mayor ralo"])  # your documents',
                f"prompt = {json.dumps(prompt, ensure_ascii=False)}",
                "if isinstance(prompt, str):",
                '    context = tokenizer(prompt, return_tensors="pt")["input_ids"]',
                "else:",
                '    context = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt",',
                '                                            return_dict=True)["input_ids"]',
                f"for turn in range({self.args.max_turns}):",
                f"    output = model.generate(context, max_new_tokens={self.args.max_turn_tokens}, "
                "stop_strings=list(environment.stop_strings),",
                "                            tokenizer=tokenizer, do_sample=False)",
                "    text = tokenizer.decode(output[0, context.shape[1]:], skip_special_tokens=True)",
                "    step = environment.step(text)  # a search gets its results back; an answer ends the episode",
                "    if step.done:",
                "        break",
                "    observation = tokenizer(step.observation, add_special_tokens=False, "
                'return_tensors="pt")["input_ids"]',
                "    context = torch.cat([output, observation], dim=1)",
                "print(extract_answer(text))",
            ]
        )
