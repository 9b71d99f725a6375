"""A stand-in for TRL's vLLM generation object (``trl.generation.vllm_generation.VLLMGeneration``): the one test
double of the suite, since vLLM does not run on this CPU.

It has the attributes and methods GRPOTrainer uses (``sync_weights``, ``generate``, ``max_completion_length``,
``generation_kwargs``, ``temperature``, the colocated engine's ``max_model_len``), records what it is sent on every
call (the decoded prompts, the stop strings, the token limit, the temperature, the number of generations) and answers
each prompt from a script: a function of the prompt's text that returns the completion's text. Like vLLM in colocate
mode, it returns one completion per prompt and one log-prob list per completion token.
"""

from __future__ import annotations

from types import SimpleNamespace


class ScriptedVLLM:
    def __init__(self, tokenizer, script, max_completion_length: int = 256):
        self.tokenizer, self.script = tokenizer, script
        self.max_completion_length = max_completion_length
        self.temperature = 1.0
        self.generation_kwargs: dict = {}
        self.calls: list[dict] = []
        self.weight_syncs = 0
        # TRL's tool loop reads the colocated engine's context length
        self.llm = SimpleNamespace(llm_engine=SimpleNamespace(model_config=SimpleNamespace(max_model_len=4096)))

    def sync_weights(self) -> None:
        self.weight_syncs += 1

    def generate(self, prompts, images, num_generations, profiler=None):
        texts = [self.tokenizer.decode(ids, skip_special_tokens=False) for ids in prompts]
        self.calls.append(
            {
                "prompts": texts,
                "stop": self.generation_kwargs.get("stop"),
                "include_stop": self.generation_kwargs.get("include_stop_str_in_output"),
                "max_tokens": self.max_completion_length,
                "temperature": self.temperature,
                "n": num_generations,
            }
        )
        # as in colocate mode: one completion per prompt (the batch already repeats each prompt per generation)
        completions = [
            self.tokenizer(self.script(text), add_special_tokens=False)["input_ids"][: self.max_completion_length]
            for text in texts
        ]
        logprobs = [[[-0.25] for _ in ids] for ids in completions]
        return [list(ids) for ids in prompts], completions, logprobs, None


def install(trainer, script) -> ScriptedVLLM:
    """Make ``trainer`` generate through a :class:`ScriptedVLLM` (as ``use_vllm=True`` would through vLLM)."""
    stand_in = ScriptedVLLM(trainer.processing_class, script)
    trainer.use_vllm, trainer.vllm_generation, trainer._last_loaded_step = True, stand_in, -1
    return stand_in
