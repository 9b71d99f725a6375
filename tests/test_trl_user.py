"""A TRL user's own configs, model, data, rewards and environments (issue 21): TRL's config classes accepted with
infopo's defaults, no Hub token on disk, cards whose recipe reruns what ran, IGPO's limits in TRL's tool loop, the
command line's flag forms, and GAIN-RL's epochs said as they are. The model is the user's: a random Llama with
SmolLM2's tokenizer and chat template; the data is theirs, conversational."""

import json
import logging
import re

import pytest
import trl
import yaml
from conftest import RECIPES
from datasets import Dataset
from helpers.scripted_vllm import install
from huggingface_hub import ModelCard
from peft import LoraConfig

from infopo import DIDDPOConfig, DIDDPOTrainer, IGPOConfig, IGPOTrainer, InfopoDPOTrainer, InfopoGRPOTrainer
from infopo.cli import main
from infopo.errors import InfopoConfigError
from infopo.igpo.environment import Step, TagEnvironment

pytestmark = pytest.mark.slow

TOKEN = "hf_userTestSecret0123456789abcdefXYZ"
CPU = dict(use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", disable_tqdm=True)
COLOURS = ["red", "blue", "green", "black", "white", "yellow", "purple", "orange"]


def preference_pairs(rows: int = 8) -> Dataset:
    return Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": f"Name a colour like {COLOURS[i % 8]}."}],
                "chosen": [{"role": "assistant", "content": COLOURS[(i + 1) % 8]}],
                "rejected": [{"role": "assistant", "content": "I cannot."}],
            }
            for i in range(rows)
        ]
    )


def card_recipe(folder) -> dict:
    text = ModelCard.load(folder / "README.md").text
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))


def test_did_dpo_takes_trls_dpo_config_and_saves_checkpoints_and_cards(tmp_path, user_model):
    user_config = trl.DPOConfig(
        output_dir=str(tmp_path / "did"),
        max_steps=2,
        per_device_train_batch_size=4,
        save_strategy="steps",
        save_steps=2,
        logging_steps=1,
        beta=0.2,
        **CPU,
    )
    trainer = DIDDPOTrainer(model=user_model, args=user_config, train_dataset=preference_pairs())
    assert isinstance(trainer.args, DIDDPOConfig) and trainer.args.did_entropy_steps == 0 and trainer.args.beta == 0.2
    assert type(user_config) is trl.DPOConfig and not hasattr(user_config, "did_entropy_steps")  # left alone
    trainer.train()
    trainer.create_model_card()
    assert (tmp_path / "did" / "checkpoint-2" / "infopo_complete.json").is_file()
    card = ModelCard.load(tmp_path / "did" / "README.md").text
    assert "## Differential information (DID)" in card and "not estimated (did_entropy_steps: 0)" in card


def test_a_token_in_trls_config_never_reaches_disk_and_the_card_recipe_leaves_it_out(tmp_path, user_model):
    out = tmp_path / "dpo"
    trainer = InfopoDPOTrainer(
        model=user_model,
        train_dataset=preference_pairs(),
        args=trl.DPOConfig(
            output_dir=str(out),
            hub_token=TOKEN,
            max_steps=2,
            per_device_train_batch_size=4,
            save_strategy="steps",
            save_steps=1,
            **CPU,
        ),
    )
    trainer.train()
    trainer.save_model()
    trainer.create_model_card()
    files = [path for path in out.rglob("*") if path.is_file()]
    assert sum(path.name == "training_args.bin" for path in files) == 3  # output folder and two checkpoints
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path
    assert trainer.args.hub_token == TOKEN  # kept in memory for an upload
    assert "hub_token" not in card_recipe(out)


def test_a_config_class_that_would_pickle_the_token_and_an_offline_push_are_refused(tmp_path, user_model):
    class MyDPOConfig(trl.DPOConfig):
        pass

    with pytest.raises(InfopoConfigError, match="would write hub_token into training_args.bin"):
        InfopoDPOTrainer(
            model=user_model,
            train_dataset=preference_pairs(),
            args=MyDPOConfig(output_dir=str(tmp_path / "a"), hub_token=TOKEN, **CPU),
        )
    with pytest.raises(InfopoConfigError, match="push_to_hub is on but the Hub is offline"):
        InfopoDPOTrainer(
            model=user_model,
            train_dataset=preference_pairs(),
            args=trl.DPOConfig(output_dir=str(tmp_path / "b"), push_to_hub=True, **CPU),
        )
    assert not (tmp_path / "b").exists()


def test_python_peft_configs_and_unnamed_rewards_are_in_the_card(tmp_path, user_model):
    out = tmp_path / "lora"
    trainer = DIDDPOTrainer(
        model=user_model,
        train_dataset=preference_pairs(),
        args=trl.DPOConfig(output_dir=str(out), max_steps=1, per_device_train_batch_size=4, **CPU),
        peft_config=LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]),
    )
    trainer.train()
    trainer.create_model_card()
    recipe = card_recipe(out)
    assert recipe["use_peft"] is True and (recipe["lora_r"], recipe["lora_alpha"], recipe["lora_dropout"]) == (
        4,
        8,
        0.0,
    )
    assert recipe["lora_target_modules"] == ["q_proj", "v_proj"]

    kappa = tmp_path / "kappa"
    trainer = InfopoDPOTrainer(
        model=user_model,
        train_dataset=preference_pairs(),
        peft_config=LoraConfig(r=2, lora_alpha=6, lora_dropout=0.1),
        args=DIDDPOConfig(
            output_dir=str(kappa), max_steps=1, per_device_train_batch_size=4, kappa_num=2, kappa_mode="lora", **CPU
        ),
    )
    trainer.train()
    trainer.create_model_card()
    recipe = card_recipe(kappa)
    assert (recipe["lora_r"], recipe["lora_alpha"], recipe["lora_dropout"]) == (2, 6, 0.1) and "use_peft" not in recipe

    def contains_a_colour(completions, **kwargs):
        return [float(any(c in str(completion) for c in COLOURS)) for completion in completions]

    grpo = tmp_path / "grpo"
    prompts = Dataset.from_list([{"prompt": [{"role": "user", "content": f"A colour like {c}?"}]} for c in COLOURS])
    trainer = InfopoGRPOTrainer(
        model=user_model,
        reward_funcs=[contains_a_colour],
        train_dataset=prompts,
        args=trl.GRPOConfig(
            output_dir=str(grpo),
            max_steps=1,
            per_device_train_batch_size=4,
            num_generations=4,
            max_completion_length=4,
            **CPU,
        ),
    )
    trainer.train()
    trainer.create_model_card()
    card = ModelCard.load(grpo / "README.md").text
    assert (
        "The recipe needs your reward function `test_trl_user.test_python_peft_configs_and_unnamed_rewards_are_in_"
        "the_card.<locals>.contains_a_colour`"
    ) in card


def test_sft_with_every_row_dropped_is_bad_input(tmp_path, user_model, capsys):
    data = tmp_path / "chats.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": [{"role": "user", "content": f"Please answer with the colour {c}."}],
                    "completion": [{"role": "assistant", "content": c}],
                }
            )
            + "\n"
            for c in COLOURS * 2
        )
    )
    code = main(
        [
            "sft",
            "--config",
            str(RECIPES / "sft_tiny.yaml"),
            "--model_name_or_path",
            user_model,
            "--dataset_name",
            str(data),
            "--eval_strategy",
            "no",
            "--max_length",
            "32",
            "--output_dir",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("infopo")]
    assert code == 2 and len(lines) == 1, err[-3000:]
    assert "all 16 rows were dropped because the prompt alone fills max_length (32)" in lines[0]


def test_the_equals_form_comma_trackers_and_an_offline_push_fail_or_pass_in_one_line(tmp_path, capsys):
    from infopo.cli.dpo import DPO
    from infopo.cli.parsing import parse_recipe

    (script, training, _), recipe = parse_recipe(
        DPO.dataclass_types, [f"--config={RECIPES / 'dpo_tiny.yaml'}", "--report_to=none", "--beta=0.3"]
    )
    assert training.beta == 0.3 and script.dataset_name == "synthetic:arithmetic_preference"
    assert recipe["beta"] == 0.3 and recipe["output_dir"] == "outputs/dpo_tiny"
    from infopo.configs import tracker_list

    assert tracker_list("wandb,tensorboard") == tracker_list(["wandb", "tensorboard"]) == ["wandb", "tensorboard"]
    for flags, expected in [
        (["--report_to", "none,tensorbaord"], "report_to 'tensorbaord' is not a tracker"),
        (["--report_to", "none,tensorboard"], "report_to 'tensorboard' needs the package"),
        (["--push_to_hub", "true"], "push_to_hub is on but the Hub is offline"),
    ]:
        code = main(["dpo", "--config", str(RECIPES / "dpo_tiny.yaml"), "--output_dir", str(tmp_path / "x"), *flags])
        lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("infopo")]
        assert code == 2 and len(lines) == 1 and expected in lines[0], lines


class Lookup(TagEnvironment):
    """A user's tag environment: reset returns the question's context, every search fails."""

    stop_strings = ("</search>", "</answer>")
    made = 0

    def __init__(self):
        Lookup.made += 1

    def reset(self, **row):
        return f" Context: the sky is {row['answer']}."

    def step(self, text):
        return Step(observation=" <information>none</information>", done="<answer>" in text, tool_error=True)


class FailingTools:
    """A user's TRL tool environment whose one tool always raises."""

    made = 0

    def __init__(self):
        FailingTools.made += 1

    def reset(self, **row):
        return None

    def search(self, query: str) -> str:
        """Search the documents.

        Args:
            query: what to look for.
        """
        raise RuntimeError("index down")


def _questions(conversational=True) -> Dataset:
    rows = [
        {
            "prompt": [{"role": "user", "content": f"What colour is thing {i}?"}]
            if conversational
            else f"What colour is thing {i}?",
            "answer": COLOURS[i % 8],
        }
        for i in range(4)
    ]
    return Dataset.from_list(rows)


def _igpo(tmp_path, **fields):
    base = dict(
        output_dir=str(tmp_path / "igpo"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=64,
        max_steps=1,
        logging_steps=1,
        **CPU,
    )
    return IGPOConfig(**{**base, **fields})


def test_igpo_in_trls_tool_loop_honours_its_limits_counts_tool_errors_and_builds_no_spare(tmp_path, tiny_qwen2):
    def always_calls(text):
        return '<tool_call>\n{"name": "search", "arguments": {"query": "sky"}}\n</tool_call><|im_end|>'

    FailingTools.made = 0
    trainer = IGPOTrainer(
        model=tiny_qwen2,
        args=_igpo(tmp_path, max_turns=2, max_turn_tokens=48, max_completion_length=200),
        train_dataset=_questions(),
        environment_factory=FailingTools,
    )
    assert FailingTools.made == 1  # the instance IGPO inspects is the one TRL probes and pools
    stand_in = install(trainer, always_calls)
    trainer.model.train()
    trainer._generate_and_score_completions([_questions()[i // 4] for i in range(4)])
    assert FailingTools.made == 4  # one per rollout, none spare
    assert len(stand_in.calls) == 2 and all(call["max_tokens"] == 48 for call in stand_in.calls)  # max_turns 2
    metrics = trainer._metrics["train"]
    assert metrics["tools/failure_frequency"][-1] == 1.0 and metrics["igpo/tool_error_frac"][-1] > 0

    one_turn = IGPOTrainer(
        model=tiny_qwen2,
        args=_igpo(tmp_path, max_turns=1, max_turn_tokens=4),
        train_dataset=_questions(),
        environment_factory=FailingTools,
    )
    stand_in = install(one_turn, always_calls)
    one_turn.model.train()
    one_turn._generate_and_score_completions([_questions()[i // 4] for i in range(4)])
    assert len(stand_in.calls) == 1 and stand_in.calls[0]["max_tokens"] == 4
    assert all(len(ids) <= 4 for ids in one_turn._rollouts["completion_ids"])


def test_a_tag_environments_reset_string_joins_the_last_message(tmp_path, tiny_qwen2):
    Lookup.made = 0
    trainer = IGPOTrainer(
        model=tiny_qwen2,
        args=_igpo(tmp_path, max_turns=1, max_turn_tokens=6),
        train_dataset=_questions(),
        environment_factory=Lookup,
    )
    stand_in = install(trainer, lambda text: " <answer> red</answer>")
    trainer.model.train()
    inputs = [_questions()[i // 4] for i in range(4)]
    trainer._generate_and_score_completions(inputs)
    prompts = stand_in.calls[0]["prompts"]
    assert all("What colour is thing 0? Context: the sky is red.<|im_end|>" in prompt for prompt in prompts)
    assert Lookup.made == 4


def test_gainrl_says_what_an_epoch_is_and_logs_the_final_mu(tmp_path, user_model, caplog):
    from infopo import InfopoGRPOConfig
    from infopo.rewards import answer_match

    prompts = Dataset.from_list([{"prompt": f"Say the colour {c} twice:", "answer": c} for c in COLOURS * 2])
    args = InfopoGRPOConfig(
        output_dir=str(tmp_path / "g"),
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=4,
        num_train_epochs=2,
        logging_steps=1,
        gainrl_samples_per_epoch=8,
        gainrl_order="length",
        **CPU,
    )
    with caplog.at_level(logging.WARNING):
        trainer = InfopoGRPOTrainer(model=user_model, reward_funcs=[answer_match], args=args, train_dataset=prompts)
    assert "counts GAIN-RL epochs of gainrl_samples_per_epoch=8 of the 16 prompts" in caplog.text
    trainer.train()
    assert trainer.state.global_step == 8 and trainer.gainrl_state.epoch == 2  # 2 epochs x 8 prompts, 2 a step
    logged = [entry["gainrl/mu"] for entry in trainer.state.log_history if "gainrl/mu" in entry]
    assert logged[-1] == trainer.gainrl_state.mu
