"""``max_prompt_length`` on the GRPO-family configs and ``max_observation_tokens`` on IGPO's (issue 36), on
SmolLM2's real tokenizer and chat template: prompts counted as generation tokenizes them, then an error with the
count, the rows dropped, or the prompts cut from the left."""

import warnings

import pytest
from datasets import Dataset

from infopo import InfopoGRPOConfig, InfopoGRPOTrainer
from infopo.errors import InfopoConfigError
from infopo.igpo.turns import observation_ids
from infopo.prompt_length import OverlongPromptWarning

pytestmark = pytest.mark.slow

CPU = dict(use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", disable_tqdm=True)
LIMIT = 64
LONG_ROWS = (3, 7)


def prompts() -> Dataset:
    rows = []
    for index in range(10):
        text = f"Question {index}: name a colour."
        if index in LONG_ROWS:
            text = "Some context. " * 60 + text
        rows.append({"prompt": [{"role": "user", "content": text}]})
    return Dataset.from_list(rows)


def rendered(tokenizer, prompt) -> list[int]:
    return list(tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=True)["input_ids"])


def rendered_lengths(tokenizer, data: Dataset) -> list[int]:
    return [len(rendered(tokenizer, row["prompt"])) for row in data]


def colour_reward(completions, **kwargs):
    return [float("red" in str(completion)) for completion in completions]


def trainer(tmp_path, model, policy, **fields):
    args = InfopoGRPOConfig(
        output_dir=str(tmp_path),
        max_steps=1,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=4,
        max_prompt_length=LIMIT,
        overlong_prompts=policy,
        **CPU,
        **fields,
    )
    return InfopoGRPOTrainer(model=model, reward_funcs=colour_reward, args=args, train_dataset=prompts())


def test_overlong_prompts_stop_the_run_with_their_count(tmp_path, user_model, smollm2_tokenizer):
    lengths = rendered_lengths(smollm2_tokenizer, prompts())
    assert [i for i, n in enumerate(lengths) if n > LIMIT] == list(LONG_ROWS)  # the premise, on the real template
    with pytest.raises(InfopoConfigError) as raised:
        trainer(tmp_path, user_model, "error")
    assert str(raised.value) == (
        f"train_dataset: 2 prompts of 10 are longer than max_prompt_length {LIMIT} (longest {max(lengths)} tokens; "
        "rows 3, 7): raise --max_prompt_length, or set --overlong_prompts drop (leave them out) or truncate_left "
        "(keep their last tokens)"
    )


def test_overlong_prompts_are_dropped_with_one_line(tmp_path, user_model):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = trainer(tmp_path, user_model, "drop")
    lines = [str(w.message) for w in caught if w.category is OverlongPromptWarning]
    assert len(lines) == 1 and lines[0].startswith("train_dataset: 2 prompts of 10") and lines[0].endswith("dropped")
    assert len(run.train_dataset) == 8 and all(len(row["prompt"][0]["content"]) < 100 for row in run.train_dataset)
    run.train()
    assert run.state.global_step == 1


def test_overlong_prompts_are_cut_from_the_left_at_generation(tmp_path, user_model, smollm2_tokenizer):
    run = trainer(tmp_path, user_model, "truncate_left")
    data = prompts()
    full, short = rendered(smollm2_tokenizer, data[3]["prompt"]), rendered(smollm2_tokenizer, data[0]["prompt"])
    cut = run._tokenize_prompts([data[3]["prompt"], data[0]["prompt"]])[0]
    assert list(cut[0]) == list(full[-LIMIT:]) and list(cut[1]) == list(short)
    assert smollm2_tokenizer.decode(cut[0]).endswith("name a colour.<|im_end|>\n<|im_start|>assistant\n")
    run.train()
    assert run.state.global_step == 1


def test_prompt_length_settings_are_checked():
    with pytest.raises(ValueError, match="overlong_prompts must be one of error, drop, truncate_left"):
        InfopoGRPOConfig(output_dir="unused", overlong_prompts="cut", **CPU)
    with pytest.raises(ValueError, match="max_prompt_length must be at least 1"):
        InfopoGRPOConfig(output_dir="unused", max_prompt_length=0, **CPU)


def test_an_observation_is_cut_in_tokens_and_keeps_its_closing_tag(smollm2_tokenizer):
    documents = " ".join(f"Doc {i}(Title: Place {i}) a long passage about place {i}." for i in range(40))
    observation = f" <information>{documents}</information>"
    ids, cut = observation_ids(smollm2_tokenizer, observation, 48)
    assert cut and len(ids) == 48
    text = smollm2_tokenizer.decode(ids)
    assert text.startswith(" <information>Doc 0(Title: Place 0)") and text.endswith("</information>")
    short = " <information>Doc 0(Title: Place 0) short.</information>"
    assert observation_ids(smollm2_tokenizer, short, 48) == (smollm2_tokenizer(short)["input_ids"], False)
    assert observation_ids(smollm2_tokenizer, observation, None)[1] is False
