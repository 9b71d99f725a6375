"""The learnability and answer log-prob orders in real short GRPO runs on the tiny model: the posterior, the metrics,
resume, the signal's score file, and two ranks drawing alike."""

import json
import math
import subprocess
import sys

import pytest
from conftest import REPO
from test_gainrl_training import config, train

from infopo.cli import main
from infopo.errors import InfopoConfigError
from infopo.gainrl.sampler import STATE_FILE
from infopo.gainrl.scoring import ranks_by_score


@pytest.fixture(scope="module")
def data():
    from infopo.data.synthetic import arithmetic_prompts

    rows = arithmetic_prompts(32, seed=0)
    return rows.add_column("row", list(range(len(rows))))


def test_learnability_counts_every_rollout_and_draws_from_the_posterior(tmp_path, tiny_qwen2, data):
    trainer, seen = train(
        tiny_qwen2,
        tmp_path / "run",
        data,
        gainrl_order="learnability",
        learnability_explore=0.25,
        gainrl_success_threshold=0.05,
    )  # answer_match gives 0.1 for any number: some succeed
    assert len(seen) == 12  # 3 epochs x 8 prompts x 4 rollouts / 8 per step
    state = trainer.gainrl_state
    assert sum(state.trials) == 3 * 8 * 4 and sum(state.pending_trials) == 0  # every rollout, folded in at epoch ends
    for epoch in range(3):
        rows = [row for step in seen[4 * epoch : 4 * epoch + 4] for row in step]
        assert len(set(rows)) == 8 and all(rows.count(row) == 4 for row in set(rows))  # M prompts, G rollouts each
    first_epoch = {row for step in seen[:4] for row in step}
    canonical = trainer._gainrl_canonical  # a repeated prompt counts on its first row
    assert all(state.trials[canonical[i]] >= 4 for i in first_epoch)
    assert all(state.trials[i] == 0 for i in range(32) if canonical[i] != i)
    assert all(0 <= s <= t for s, t in zip(state.successes, state.trials, strict=True))
    logs = trainer.state.log_history
    assert all(0 < h["learnability/predicted_var"] <= 0.25 for h in logs if "learnability/predicted_var" in h)
    assert sum("learnability/skipped" in h for h in logs) == 12 and any("frac_reward_zero_std" in h for h in logs)
    assert not any("gainrl/delta" in h for h in logs)  # no centre to move


def test_learnability_resumes_to_the_uninterrupted_run(tmp_path, tiny_qwen2, data):
    settings = dict(gainrl_order="learnability", gainrl_success_threshold=0.05)
    full, seen_full = train(tiny_qwen2, tmp_path / "full", data, save_strategy="steps", save_steps=2, **settings)
    checkpoint = tmp_path / "full" / "checkpoint-6"  # mid-epoch 2: the posterior has epoch 1, pending half of 2
    saved = json.loads((checkpoint / STATE_FILE).read_text())
    assert sum(saved["trials"]) == 32 and sum(saved["pending_trials"]) == 16
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    (resumed_dir / "checkpoint-6").symlink_to(checkpoint, target_is_directory=True)
    resumed, seen_resumed = train(tiny_qwen2, resumed_dir, data, resume=True, save_strategy="no", **settings)
    assert seen_resumed == seen_full[6:]
    assert resumed.gainrl_state == full.gainrl_state


def test_answer_logprob_ranks_by_the_signal_and_its_file_is_checked(tmp_path, tiny_qwen2, data):
    trainer, _ = train(
        tiny_qwen2,
        tmp_path / "live",
        data,
        gainrl_order="answer_logprob",
        num_train_epochs=1,
        gainrl_answer_prefix=" the answer is ",
    )
    data.to_json(tmp_path / "rows.jsonl")
    scores = tmp_path / "answer.json"
    assert (
        main(
            [
                "gainrl",
                "score",
                "--model",
                tiny_qwen2,
                "--dataset",
                str(tmp_path / "rows.jsonl"),
                "--signal",
                "answer_logprob",
                "--answer_prefix",
                " the answer is ",
                "--out",
                str(scores),
            ]
        )
        == 0
    )
    saved = json.loads(scores.read_text())
    assert saved["signal"] == "answer_logprob" and len(saved["totals"]) == 32
    assert trainer.gainrl_ranked == ranks_by_score(saved["scores"])  # the start-up scores are the file's
    assert all(
        total <= mean * 0.999 or total == mean for mean, total in zip(saved["scores"], saved["totals"], strict=True)
    )  # sum of <= 0 terms
    prior, _ = train(
        tiny_qwen2, tmp_path / "prior", data, gainrl_order="learnability", gainrl_scores=str(scores), max_steps=1
    )
    strength = prior.args.learnability_prior_strength
    assert prior._gainrl_prior[0][3] == pytest.approx(strength * min(max(math.exp(saved["totals"][3]), 0.01), 0.99))
    angle = tmp_path / "angle.json"
    assert (
        main(["gainrl", "score", "--model", tiny_qwen2, "--dataset", str(tmp_path / "rows.jsonl"), "--out", str(angle)])
        == 0
    )
    with pytest.raises(InfopoConfigError, match="holds angle scores; this run needs answer_logprob scores"):
        train(tiny_qwen2, tmp_path / "wrong", data, gainrl_order="answer_logprob", gainrl_scores=str(angle))
    with pytest.raises(InfopoConfigError, match="needs the answer column 'solution'"):
        train(tiny_qwen2, tmp_path / "column", data, gainrl_order="answer_logprob", gainrl_answer_column="solution")
    with pytest.raises(ValueError, match="learnability_explore and learnability_skip_floor must lie in"):
        config(tmp_path, gainrl_order="learnability", learnability_explore=1.5)


@pytest.mark.slow
def test_two_ranks_keep_one_posterior(tmp_path, tiny_qwen2):
    helper = str(REPO / "tests" / "helpers" / "gainrl_ranks.py")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            helper,
            tiny_qwen2,
            str(tmp_path),
            "learnability",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["state"] == ranks[1]["state"]  # the same successes, trials and draws on both ranks
    assert sum(ranks[0]["state"]["trials"]) == 2 * 8 * 4  # both ranks' rollouts, counted once
    for half in (slice(None, len(ranks[0]["seen"]) // 2), slice(len(ranks[0]["seen"]) // 2, None)):
        rows = [row for r in ranks for step in r["seen"][half] for row in step]  # one epoch, both ranks' shares
        assert len(set(rows)) == 8 and all(rows.count(row) == 4 for row in set(rows))


def test_the_thompson_draw_trains_and_says_so_on_the_card(tmp_path, tiny_qwen2, data):
    trainer, seen = train(
        tiny_qwen2,
        tmp_path / "run",
        data,
        gainrl_order="learnability",
        learnability_draw="thompson",
        gainrl_success_threshold=0.05,
        num_train_epochs=2,
    )
    assert len(seen) == 8 and sum(trainer.gainrl_state.trials) == 2 * 8 * 4
    assert all(h["learnability/skipped"] == 0 for h in trainer.state.log_history if "learnability/skipped" in h)
    trainer.create_model_card()
    assert "closest to 0.5 (Thompson sampling, as MoPPS)" in (tmp_path / "run" / "README.md").read_text()
    with pytest.raises(ValueError, match="learnability_draw must be one of variance, thompson"):
        config(tmp_path / "bad", gainrl_order="learnability", learnability_draw="greedy")
