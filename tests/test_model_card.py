import torch
from huggingface_hub import ModelCard

from infopo.machine import cpu_model
from infopo.model_card import build_model_card, final_metrics, is_hub_id, pipeline_quick_start, trl_citation


def _card(**overrides):
    arguments = dict(
        command="dpo",
        trainer_name="InfopoDPOTrainer",
        base_model="Qwen/Qwen2.5-0.5B-Instruct",
        dataset_name="trl-lib/ultrafeedback_binarized",
        recipe={"beta": 0.1, "learning_rate": 5e-7, "report_to": ["wandb"]},
        metrics={"train_loss": 0.6812349, "rewards/accuracies": 0.75, "epoch": 1.0},
        quick_start=pipeline_quick_start("someone/qwen-dpo", [{"role": "user", "content": "hi"}]),
        hub_model_id="someone/qwen-dpo",
        papers=[{"title": "Direct Preference Optimization", "id": "2305.18290", "citation": "@misc{dpo}"}],
        tags=["dpo", "mine"],
        license="mit",
    )
    arguments.update(overrides)
    return build_model_card(**arguments)


def test_card_front_matter_parses_with_huggingface_hub(tmp_path):
    _card().save(tmp_path / "README.md")
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.base_model == "Qwen/Qwen2.5-0.5B-Instruct"
    assert card.data.datasets == ["trl-lib/ultrafeedback_binarized"]
    assert card.data.library_name == "trl" and card.data.license == "mit"
    assert card.data.tags == ["infopo", "dpo", "trl", "mine"]  # merged, each once


def test_card_body_records_recipe_and_metrics():
    text = str(_card())
    assert "beta: 0.1" in text and "learning_rate: 5.0e-07" in text and "- wandb" in text
    assert "| train_loss | 0.681235 |" in text and "| epoch | 1 |" in text
    assert "huggingface.co/papers/2305.18290" in text
    assert 'model="someone/qwen-dpo"' in text and '"content": "hi"' in text
    assert "@misc{dpo}" in text and "@software{vonwerra2020trl" in text and trl_citation() in text
    capability = torch.backends.cpu.get_cpu_capability()
    assert f"- hardware: {cpu_model()} (PyTorch CPU kernels {capability})" in text  # results can depend on kernels


def test_local_and_tiny_names_stay_out_of_front_matter(tmp_path):
    card = _card(base_model="tiny:qwen2", dataset_name=str(tmp_path), metrics={})
    assert card.data.base_model is None and card.data.datasets is None
    assert "`tiny:qwen2`" in card.text and "No metrics were logged." in card.text


def test_is_hub_id(tmp_path):
    (tmp_path / "org").mkdir()
    assert is_hub_id("Qwen/Qwen2.5-7B") and not is_hub_id("tiny:qwen2") and not is_hub_id(None)
    assert not is_hub_id("./model") and not is_hub_id("/abs/path")


def test_final_metrics_keeps_last_numeric_values():
    history = [{"loss": 1.0, "step": 1, "epoch": 0.5}, {"loss": 0.5, "eval_loss": 0.7, "step": 2, "note": "x"}]
    assert final_metrics(history) == {"loss": 0.5, "epoch": 0.5, "eval_loss": 0.7}
