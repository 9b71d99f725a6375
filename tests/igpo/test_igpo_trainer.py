"""IGPOTrainer: the tag loop through transformers' generate on a warm-started tiny model, through vLLM (a stand-in for
TRL's vLLM generation object), TRL's own tool loop, user rewards and rollout functions (real runs)."""

import random
import re

import pytest
import torch
from datasets import Dataset
from helpers.scripted_vllm import install

from infopo import IGPOConfig, IGPOTrainer
from infopo.data.lookup import lookup_context_questions, lookup_questions
from infopo.errors import InfopoConfigError
from infopo.igpo.environment import ContextSearchEnvironment, ContextSearchTools

pytestmark = pytest.mark.slow

CPU = dict(
    use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no", disable_tqdm=True
)


def _config(tmp_path, **fields):
    base = dict(
        output_dir=str(tmp_path / "igpo"),
        per_device_train_batch_size=8,
        num_generations=4,
        max_turns=3,
        max_turn_tokens=24,
        max_completion_length=160,
        learning_rate=1e-3,
        logging_steps=1,
        max_steps=2,
        seed=0,
        **CPU,
    )
    return IGPOConfig(**{**base, **fields})


def _check_turn_structure(trainer, output, group_size):
    """Every turn's tokens carry one advantage, observations carry none and are out of the loss; with gamma = 1 and
    joint normalisation the z-scored turn rewards of a group sum to zero."""
    advantages, tool_mask, rollouts = output["advantages"], output["tool_mask"], trainer._rollouts
    assert advantages.shape == output["completion_ids"].shape == tool_mask.shape
    width = advantages.shape[1]
    for row, spans in enumerate(rollouts["spans"]):
        assistant = torch.zeros(width, dtype=torch.bool)
        for start, end in spans:
            assistant[start:end] = True
            assert torch.all(advantages[row, start:end] == advantages[row, start])
        length = len(rollouts["completion_ids"][row])
        observation = ~assistant[:length]
        assert torch.all(tool_mask[row, :length][observation] == 0) and torch.all(
            advantages[row, :length][observation] == 0
        )
        assert torch.all(tool_mask[row, :length][assistant[:length]] == 1)
    for group in range(0, len(rollouts["spans"]), group_size):
        total = 0.0
        for row in range(group, group + group_size):
            values = [advantages[row, start].item() for start, _ in rollouts["spans"][row]]
            total += sum(a - b for a, b in zip(values, values[1:] + [0.0], strict=True))
        assert total == pytest.approx(0.0, abs=1e-4)


def test_outcome_credit_gives_grpos_advantages_of_the_outcome_without_the_probe(tmp_path, warm_model):
    """``credit: outcome``: the same rollouts and outcome reward, TRL's sequence-level GRPO advantages (sample
    std, eps 1e-4), and no probe forward."""
    torch.manual_seed(0)
    trainer = IGPOTrainer(
        model=warm_model, args=_config(tmp_path, credit="outcome"), train_dataset=lookup_questions(16, seed=3)
    )

    def no_probe(rows):
        raise AssertionError("the probe ran under credit: outcome")

    trainer._probe = no_probe
    trainer.model.train()
    question = lookup_questions(2, seed=5, two_hop_share=1.0)
    output = trainer._generate_and_score_completions([question[0]] * 4 + [question[1]] * 4)
    outcomes = trainer._outcomes.float().view(2, 4)
    mean, std = outcomes.mean(dim=1, keepdim=True), outcomes.std(dim=1, keepdim=True)  # TRL's nanstd: n - 1
    assert output["advantages"].shape == (8,)
    assert torch.allclose(output["advantages"], ((outcomes - mean) / (std + 1e-4)).flatten(), atol=1e-5)
    assert trainer.rollouts_generated == 8 and "igpo/turns" in trainer._metrics["train"]
    with pytest.raises(ValueError, match="credit must be one of info_gain, counterfactual_gain, outcome"):
        _config(tmp_path, credit="gain")


def test_counterfactual_credit_scores_each_search_turn_against_random_documents(tmp_path, warm_model):
    """``credit: counterfactual_gain``: one extra probe row per search turn, whose observation is ``search_top_k``
    random corpus documents in the real one's format; a turn's gain is v_t minus that row's value, checked against
    the probe run on the same trajectory alone."""
    torch.manual_seed(0)
    trainer = IGPOTrainer(
        model=warm_model, args=_config(tmp_path, credit="counterfactual_gain"), train_dataset=lookup_questions(16)
    )
    calls, logged = [], []
    probe_logps, log_igpo = trainer._probe_logps, trainer._log_igpo

    def record_probe(rows, *rest):
        calls.append(list(rows))
        return probe_logps(rows, *rest)

    def record_gains(gains, *rest):
        logged.append(gains)
        return log_igpo(gains, *rest)

    trainer._probe_logps, trainer._log_igpo = record_probe, record_gains
    trainer.model.train()
    question = lookup_questions(2, seed=5, two_hop_share=1.0)
    trainer._generate_and_score_completions([question[0]] * 4 + [question[1]] * 4)
    spans = trainer._rollouts["spans"]
    multi = [row for row, turns in enumerate(spans) if len(turns) > 1]
    assert multi and calls[0] == multi and calls[1] == [row for row in multi for _ in range(len(spans[row]) - 1)]
    row = multi[0]
    probes = trainer._probe([row])[row]
    rollouts, seed = trainer._rollouts, f"0-0-0-{row}-0"
    observation = trainer._random_observation(random.Random(seed))
    text = trainer.processing_class.decode(observation)
    assert text.strip().startswith("<information>") and text.count(" .") == 3  # top_k random documents
    end = spans[row][0][1]
    alone = rollouts["prompt_ids"][row] + rollouts["completion_ids"][row][:end] + observation
    baseline = trainer._probe_values([row], trainer._probe_logps([row], [alone], [[len(alone)]]))[row]
    assert logged[0][row][0] == pytest.approx((probes[1] - baseline[0]).item(), abs=1e-6)
    with pytest.raises(InfopoConfigError, match="credit counterfactual_gain draws random documents"):
        IGPOTrainer(
            model=warm_model,
            args=_config(tmp_path, credit="counterfactual_gain"),
            train_dataset=lookup_questions(16),
            rollout_func=lambda prompts, trainer: None,
        )


def test_tag_loop_through_transformers_generate(tmp_path, warm_model):
    torch.manual_seed(0)
    trainer = IGPOTrainer(model=warm_model, args=_config(tmp_path), train_dataset=lookup_questions(16, seed=3))
    question = lookup_questions(2, seed=5, two_hop_share=1.0)
    output = trainer._generate_and_score_completions([question[0]] * 4 + [question[1]] * 4)
    assert max(len(spans) for spans in trainer._rollouts["spans"]) >= 2  # the warm policy searches before answering
    for ids in trainer._rollouts["completion_ids"]:  # a turn ends at its closing tag: no padding or text after it
        text = trainer.processing_class.decode(ids)
        assert "<|endoftext|>" not in text and not re.search(r"</search>\S", text)
    _check_turn_structure(trainer, output, group_size=4)


def test_short_igpo_run_logs_its_metrics(tmp_path, warm_model):
    trainer = IGPOTrainer(model=warm_model, args=_config(tmp_path), train_dataset=lookup_questions(16, seed=3))
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "igpo/turns" in entry]
    assert len(logged) == 2
    for entry in logged:
        assert {
            "igpo/outcome",
            "igpo/success",
            "igpo/squad_em",
            "igpo/format_error_frac",
            "igpo/tool_error_frac",
            "reward",
            "rewards/outcome/mean",
        } <= set(entry)
        assert 1 <= entry["igpo/turns"] <= 3
    assert any("igpo/info_gain" in entry and "igpo/probe_last" in entry for entry in logged)


def test_a_retrieval_server_serves_the_tag_loop_and_its_failures_are_tool_errors(tmp_path, warm_model):
    """retriever_url: one turn's searches of a process reach a real local server (Search-R1's protocol) as one
    request; once the server is gone, the searches become error observations (igpo/tool_error_frac), no crash."""
    from infopo.data.lookup import lookup_corpus
    from infopo.igpo.retrieval import BM25Retriever
    from infopo.igpo.retrieval_server import running_server

    requests = []

    class Counting(BM25Retriever):
        def retrieve_scored(self, queries, k):
            requests.append(len(queries))
            return super().retrieve_scored(queries, k)

    retriever = Counting.from_documents(lookup_corpus()["text"])
    questions = lookup_questions(2, seed=5, two_hop_share=1.0)
    batch = [questions[0]] * 4 + [questions[1]] * 4
    with running_server(retriever) as url:
        torch.manual_seed(0)
        trainer = IGPOTrainer(
            model=warm_model,
            args=_config(tmp_path, retriever_url=url, search_time_limit_s=2.0),
            train_dataset=lookup_questions(16, seed=3),
        )
        assert requests == [1]  # the start-up check
        trainer._generate_and_score_completions(batch)
        assert sum(trainer._rollouts["tool_errors"]) == 0 and len(requests) >= 2
        assert max(requests[1:]) > 1  # a turn's searches went out together
        assert "retriever " + url in trainer._rollout_source
    trainer._generate_and_score_completions(batch)  # the server is gone
    errors = trainer._metrics["train" if trainer.model.training else "eval"]["igpo/tool_error_frac"][-1]
    assert sum(trainer._rollouts["tool_errors"]) > 0 and errors > 0


def test_a_failed_search_shows_a_neutral_text_and_its_rollout_leaves_the_loss(tmp_path, warm_model):
    """A server that fails one request of several (its second turn's): the policy reads SEARCH_FAILED, never the
    server's address or status; those rollouts get no advantage and no loss tokens, igpo/tool_error_frac counts
    them; the others train as usual."""
    from infopo.data.lookup import lookup_corpus
    from infopo.igpo.environment import SEARCH_FAILED
    from infopo.igpo.retrieval import BM25Retriever
    from infopo.igpo.retrieval_server import running_server

    calls = []

    class FailsOnce(BM25Retriever):
        def retrieve_scored(self, queries, k):
            calls.append(len(queries))
            if len(calls) == 3:  # the start-up check, turn 1, then turn 2 fails
                raise RuntimeError("index shard unavailable")
            return super().retrieve_scored(queries, k)

    questions = lookup_questions(2, seed=5, two_hop_share=1.0)
    batch = [questions[0]] * 4 + [questions[1]] * 4
    with running_server(FailsOnce.from_documents(lookup_corpus()["text"])) as url:
        torch.manual_seed(0)
        trainer = IGPOTrainer(
            model=warm_model,
            args=_config(tmp_path, retriever_url=url, search_time_limit_s=5.0),
            train_dataset=lookup_questions(16, seed=3),
        )
        output = trainer._generate_and_score_completions(batch)
    failed = [row for row, errors in enumerate(trainer._rollouts["tool_errors"]) if errors]
    assert failed and len(calls) >= 3
    for row in range(len(batch)):
        text = trainer.processing_class.decode(trainer._rollouts["completion_ids"][row])
        assert "http" not in text and "500" not in text and "shard" not in text
        if row in failed:
            assert SEARCH_FAILED in text
            assert not output["completion_mask"][row].any() and not output["advantages"][row].any()
        else:
            assert output["completion_mask"][row].any()
    mode = "train" if trainer.model.training else "eval"
    assert trainer._metrics[mode]["igpo/tool_error_frac"][-1] > 0


def test_gainrl_schedules_igpo_questions(tmp_path, warm_model):
    """GAIN-RL in IGPO: the sampler draws M questions per epoch, acc comes from IGPO's outcome reward."""
    config = _config(tmp_path, max_steps=4, gainrl_samples_per_epoch=4, gainrl_order="length")
    trainer = IGPOTrainer(model=warm_model, args=config, train_dataset=lookup_questions(16, seed=3))
    trainer.train()
    logs = trainer.state.log_history
    assert sum("gainrl/delta" in entry for entry in logs) == 2  # 4 questions x 4 rollouts / 8 per step: 2 epochs
    assert all(0.0 <= entry["gainrl/acc"] <= 1.0 for entry in logs if "gainrl/acc" in entry)
    assert trainer.gainrl_state.epoch == 2


def _context_script(text: str) -> str:
    """Searches the question's entity and relation, then answers from the retrieved fact; the text after the closing
    tag stands for what a backend may return past a stop string."""
    relation, entity = re.findall(r"what is the (\w+) of (\w+)\?", text)[-1]
    if "<information>" not in text:
        return f" <search> {entity} {relation}</search> and more"
    found = re.findall(rf"{entity} {relation} (\w+) \.", text.split("<information>")[-1])
    return f" <answer> {found[0] if found else 'none'}</answer> done"


def test_tag_loop_through_vllm_with_stateful_episodes(tmp_path, tiny_qwen2):
    """Each turn goes to TRL's vLLM generation with the closing tags as stop strings and max_turn_tokens; each
    rollout has its own ContextSearchEnvironment, reset with its row, so it searches its own question's documents."""
    data = lookup_context_questions(8, seed=1, two_hop_share=0.0)
    trainer = IGPOTrainer(
        model=tiny_qwen2,
        args=_config(tmp_path, max_turn_tokens=20),
        train_dataset=data,
        environment_factory=lambda: ContextSearchEnvironment(top_k=2),
    )
    stand_in = install(trainer, _context_script)
    inputs = [data[0]] * 4 + [data[1]] * 4
    output = trainer._generate_and_score_completions(inputs)
    assert len(stand_in.calls) == 2 and stand_in.weight_syncs == 1
    for call in stand_in.calls:
        assert call["stop"] == ["</search>", "</answer>"] and call["include_stop"] and call["max_tokens"] == 20
        assert call["n"] == 1 and len(call["prompts"]) == 8
    assert all("<information>" in prompt for prompt in stand_in.calls[1]["prompts"])  # turn 2 sees turn 1's result
    assert trainer._rollouts["predictions"] == [row["answer"] for row in inputs]  # its own documents, every rollout
    assert all(len(spans) == 2 for spans in trainer._rollouts["spans"])
    for ids in trainer._rollouts["completion_ids"]:
        assert "and more" not in trainer.processing_class.decode(ids)  # cut after the stop string
    assert torch.isfinite(output["importance_sampling_ratio"]).all()  # vLLM log-probs reached TRL's correction
    assert trainer.vllm_generation.generation_kwargs == {} and stand_in.max_completion_length == 256  # restored
    assert all(call["temperature"] == 1.0 for call in stand_in.calls)
    scores = trainer.evaluate_greedily(data, count=4)
    assert scores["success"] == 1.0 and scores["questions"] == 4
    assert [call["temperature"] for call in stand_in.calls[2:]] == [0.0, 0.0] and stand_in.temperature == 1.0


def _tool_script(text: str) -> str:
    """TRL's tool loop: call the search tool first, then answer from the tool response."""
    relation, entity = re.findall(r"what is the (\w+) of (\w+)\?", text)[-1]
    if "<tool_response>" not in text:
        call = f'{{"name": "search", "arguments": {{"query": "{entity} {relation}"}}}}'
        return f"<tool_call>\n{call}\n</tool_call><|im_end|>"
    found = re.findall(rf"{entity} {relation} (\w+)", text.split("<tool_response>")[-1])
    return f"<answer> {found[0] if found else 'none'}</answer><|im_end|>"


def test_trl_tool_loop_turns_come_from_the_tool_mask(tmp_path, tiny_qwen2):
    data = lookup_context_questions(8, seed=2, conversational=True, two_hop_share=0.0)
    trainer = IGPOTrainer(
        model=tiny_qwen2,
        args=_config(tmp_path, max_completion_length=200, max_turn_tokens=64),
        train_dataset=data,
        environment_factory=lambda: ContextSearchTools(top_k=1),
    )
    stand_in = install(trainer, _tool_script)
    trainer.model.train()  # as in a training step: train-mode metrics
    inputs = [data[0]] * 4 + [data[1]] * 4
    output = trainer._generate_and_score_completions(inputs)
    assert len(stand_in.calls) == 2 and stand_in.calls[0]["stop"] is None  # TRL's own loop: no per-turn stop strings
    assert all(len(spans) == 2 for spans in trainer._rollouts["spans"])
    assert trainer._rollouts["predictions"] == [row["answer"] for row in inputs]
    _check_turn_structure(trainer, output, group_size=4)
    assert any(key.startswith("tools/") for key in trainer._metrics["train"])


def test_user_rewards_are_the_outcome(tmp_path, tiny_qwen2):
    data = lookup_context_questions(8, seed=1, two_hop_share=0.0)

    def constant(completions, **kwargs):
        return [-100.0] * len(completions)

    trainer = IGPOTrainer(
        model=tiny_qwen2,
        reward_funcs=[constant],
        args=_config(tmp_path),
        train_dataset=data,
        environment_factory=lambda: ContextSearchEnvironment(top_k=2),
    )
    install(trainer, _context_script)
    trainer.model.train()
    trainer._generate_and_score_completions([data[0]] * 4 + [data[1]] * 4)
    assert trainer._outcomes.tolist() == [-100.0] * 8
    assert trainer._metrics["train"]["igpo/outcome"][-1] == -100.0


def test_a_user_rollout_func_is_honoured_and_needs_an_env_mask(tmp_path, tiny_qwen2):
    calls = []

    def rollout(prompts, trainer):
        calls.append(len(prompts))
        tokenizer = trainer.processing_class
        turn, observation, answer = (
            tokenizer(text, add_special_tokens=False)["input_ids"]
            for text in (" <search> x</search>", " <information> y</information>", " <answer> z</answer>")
        )
        return {
            "prompt_ids": [tokenizer(p)["input_ids"] for p in prompts],
            "logprobs": None,
            "completion_ids": [turn + observation + answer] * len(prompts),
            "env_mask": [[1] * len(turn) + [0] * len(observation) + [1] * len(answer)] * len(prompts),
        }

    data = Dataset.from_dict({"prompt": ["who?"] * 4, "answer": ["z", "z", "q", "q"]})
    trainer = IGPOTrainer(
        model=tiny_qwen2,
        args=_config(tmp_path, per_device_train_batch_size=4),
        train_dataset=data,
        rollout_func=rollout,
    )
    trainer._generate_and_score_completions([dict(row) for row in data])
    assert calls == [4] and all(len(spans) == 2 for spans in trainer._rollouts["spans"])
    assert trainer._outcomes.tolist() == [1.0, 1.0, 0.0, 0.0]

    def no_mask(prompts, trainer):
        output = rollout(prompts, trainer)
        del output["env_mask"]
        return output

    trainer = IGPOTrainer(
        model=tiny_qwen2,
        args=_config(tmp_path, per_device_train_batch_size=4),
        train_dataset=data,
        rollout_func=no_mask,
    )
    with pytest.raises(InfopoConfigError, match="must return 'env_mask'"):
        trainer._generate_and_score_completions([dict(row) for row in data])


def test_bad_input_is_refused_before_training(tmp_path, tiny_qwen2):
    with pytest.raises(InfopoConfigError, match="needs the answer column 'answer'"):
        IGPOTrainer(model=tiny_qwen2, args=_config(tmp_path), train_dataset=Dataset.from_dict({"prompt": ["q"]}))
    with pytest.raises(InfopoConfigError, match="1 rows of train_dataset have an empty 'answer'"):
        IGPOTrainer(
            model=tiny_qwen2,
            args=_config(tmp_path),
            train_dataset=Dataset.from_dict({"prompt": ["q", "r"], "answer": ["a", " "]}),
        )
    with pytest.raises(InfopoConfigError, match="corpus not found: .*none.jsonl"):
        IGPOTrainer(
            model=tiny_qwen2,
            args=_config(tmp_path, corpus=str(tmp_path / "none.jsonl")),
            train_dataset=lookup_questions(4),
        )
    with pytest.raises(InfopoConfigError, match="tools= runs TRL's tool loop"):
        IGPOTrainer(
            model=tiny_qwen2,
            args=_config(tmp_path),
            train_dataset=lookup_questions(4),
            environment_factory=lambda: ContextSearchEnvironment(),
            tools=[len],
        )
    with pytest.raises(ValueError, match="norm_mode must be one of joint, separate"):
        _config(tmp_path, norm_mode="both")


def test_a_list_of_documents_is_a_corpus(tmp_path, tiny_qwen2):
    trainer = IGPOTrainer(
        model=tiny_qwen2,
        args=_config(tmp_path, corpus=["kaba capital zolo", "zolo mayor pibe"]),
        train_dataset=lookup_questions(4),
    )
    assert trainer._episodes(1)[0].search("kaba")[0] == "kaba capital zolo"
