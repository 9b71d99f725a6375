"""Whole-trajectory warm-start rows: the rollout's tokenization, trained on the model's turns only."""

import pytest
from datasets import Dataset

from infopo.data.lookup import lookup_demonstrations, lookup_trajectories
from infopo.errors import InfopoConfigError
from infopo.igpo.warm_start import tokenize_trajectories
from infopo.tiny import build_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def test_rows_are_the_pieces_tokenized_alone_with_turns_masked_in(tokenizer):
    trajectories = lookup_trajectories(6, seed=3, two_hop_share=1.0)
    rows = tokenize_trajectories(tokenizer, trajectories)
    for demo, row in zip(trajectories, rows, strict=True):
        assert len(demo["turns"]) == 3 and len(demo["observations"]) == 2  # two searches, then the answer
        expected_ids, expected_mask = tokenizer(demo["prompt"])["input_ids"], []
        expected_mask = [0] * len(expected_ids)
        for turn, observation in zip(demo["turns"], demo["observations"] + [""], strict=True):
            turn_ids = tokenizer(turn)["input_ids"]
            observation_ids = tokenizer(observation)["input_ids"] if observation else []
            expected_ids += turn_ids + observation_ids
            expected_mask += [1] * len(turn_ids) + [0] * len(observation_ids)
        assert row["input_ids"] == expected_ids and row["assistant_masks"] == expected_mask
        trained = tokenizer.decode([t for t, m in zip(row["input_ids"], row["assistant_masks"], strict=True) if m])
        assert trained == "".join(demo["turns"]) and demo["answer"] in trained
        # the rollout's pieces and the running text give the same tokens: no merge crosses a piece boundary
        text = demo["prompt"] + "".join(t + o for t, o in zip(demo["turns"], demo["observations"] + [""], strict=True))
        assert tokenizer(text)["input_ids"] == row["input_ids"]


@pytest.mark.slow
def test_conversational_trajectories_with_the_real_tokenizer(smollm2_tokenizer):
    """SmolLM2: the chat template's prompt (protocol system prompt, question, generation prompt), then every piece
    tokenized alone, exactly as IGPO's rollouts assemble them; every piece decodes back to its own text, so what the
    environment parses after a turn is what the demonstration wrote."""
    tokenizer = smollm2_tokenizer
    trajectories = lookup_trajectories(4, seed=3, conversational=True, two_hop_share=1.0)
    for demo, row in zip(trajectories, tokenize_trajectories(tokenizer, trajectories), strict=True):
        prompt_ids = tokenizer.apply_chat_template(
            demo["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        assert row["input_ids"][: len(prompt_ids)] == prompt_ids and not any(row["assistant_masks"][: len(prompt_ids)])
        trained = [t for t, m in zip(row["input_ids"], row["assistant_masks"], strict=True) if m]
        assert tokenizer.decode(trained) == "".join(demo["turns"])
        for piece in demo["turns"] + demo["observations"]:
            assert tokenizer.decode(tokenizer(piece, add_special_tokens=False)["input_ids"]) == piece


def test_names_tokenize_into_syllables_wherever_they_appear(tokenizer):
    assert tokenizer.tokenize(" nitabu") == ["Ġni", "ta", "bu"] and tokenizer.tokenize("nitabu") == ["ni", "ta", "bu"]


def test_per_turn_rows_follow_the_trajectories_and_bad_rows_are_refused(tokenizer):
    demo = lookup_trajectories(1, seed=4, two_hop_share=1.0)[0]
    rows = lookup_demonstrations(3, seed=4, two_hop_share=1.0)
    assert rows["completion"] == demo["turns"]
    assert (
        rows[2]["prompt"]
        == demo["prompt"] + demo["turns"][0] + demo["observations"][0] + demo["turns"][1] + demo["observations"][1]
    )
    bad = Dataset.from_list([{"prompt": "q", "turns": [" a", " b"], "observations": []}])
    with pytest.raises(InfopoConfigError, match="needs 1 observations"):
        tokenize_trajectories(tokenizer, bad)
    with pytest.raises(InfopoConfigError, match="observations"):
        tokenize_trajectories(tokenizer, Dataset.from_list([{"prompt": "q", "turns": [" a"]}]))
