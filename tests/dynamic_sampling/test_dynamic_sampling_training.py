"""Dynamic sampling in real short GRPO and IGPO runs on the tiny model: which groups are kept and how many rounds it
takes on a setting whose zero-variance groups are known (tests/helpers/scripted_groups.py), a step equal to plain
GRPO's on the kept groups, the cap on rounds, resume, two processes, IGPO's turn-reward signal, the command line."""

import json
import subprocess
import sys

import pytest
import torch
from conftest import RECIPES, REPO
from helpers.scripted_groups import GROUP, has_signal, scripted_trainer

from infopo.cli import main
from infopo.dynamic_sampling.batches import RefillStream, groups_with_signal

pytestmark = pytest.mark.slow


def _groups(rows: list[int]) -> list[int]:
    assert all(rows[i : i + GROUP] == [rows[i]] * GROUP for i in range(0, len(rows), GROUP))  # whole groups
    return rows[::GROUP]


def _record_batches(trainer) -> list[dict]:
    """The training batches the trainer's generations return, as they come."""
    batches, original = [], trainer._generate_and_score_completions

    def record(inputs):
        batches.append(original(inputs))
        return batches[-1]

    trainer._generate_and_score_completions = record
    return batches


def _rounds_per_step(logs) -> list[int]:
    return [int(h["dynamic_sampling/rounds"]) for h in logs if "dynamic_sampling/rounds" in h]


def test_rounds_refill_until_the_batch_holds_only_groups_with_a_signal(tmp_path, tiny_qwen2):
    trainer = scripted_trainer(tiny_qwen2, str(tmp_path / "run"), max_steps=4)
    batches = _record_batches(trainer)
    trainer.train()
    logs = trainer.state.log_history
    rounds = _rounds_per_step(logs)
    assert len(rounds) == 4 and sum(rounds) == len(trainer.rounds) and max(rounds) > 1
    replica, position = RefillStream(trainer._refill_pass), 0  # the refill prompts come from the run's stream
    kept_frac = [h["dynamic_sampling/kept_frac"] for h in logs if "dynamic_sampling/kept_frac" in h]
    for step, count in enumerate(rounds):
        step_rounds = [_groups(rows) for rows in trainer.rounds[position : position + count]]
        position += count
        assert [group for rows in step_rounds[1:] for group in rows] == replica.draw(2 * (count - 1))
        with_signal = [sum(map(has_signal, rows)) for rows in step_rounds]
        assert sum(with_signal[:-1]) < 2 <= sum(with_signal)  # it stopped at the first round that filled the batch
        assert kept_frac[step] == pytest.approx(sum(with_signal) / (2 * count))
        assert batches[step]["advantages"].shape == (8,) and bool(torch.all(batches[step]["advantages"] != 0))
    generated = [h["rollouts_generated"] for h in logs if "rollouts_generated" in h]
    assert (
        generated == [8.0 * sum(rounds[: step + 1]) for step in range(4)]
        and trainer.rollouts_generated == generated[-1]
    )
    assert all(h["dynamic_sampling/short_batches"] == 0 for h in logs if "dynamic_sampling/short_batches" in h)


def test_a_step_equals_a_plain_grpo_step_on_the_kept_groups(tmp_path, tiny_qwen2):
    """The same rows, one a plain generation batch of the kept groups, the other a dynamically sampled batch whose
    first round had groups without a signal: the same advantages, loss and gradients."""
    dynamic = scripted_trainer(tiny_qwen2, str(tmp_path / "dynamic"), beta=0.04)
    data = dynamic.train_dataset
    dynamic.model.train()  # a training generation (evaluation never drops groups)
    first = [row for row in range(48) if not has_signal(row)][:1] + [row for row in range(48) if has_signal(row)][:1]
    merged = dynamic._generate_and_score_completions([data[row] for row in first for _ in range(GROUP)])
    kept = [row for rows in dynamic.rounds for row in _groups(rows) if has_signal(row)][:2]
    assert len(dynamic.rounds) > 1 and kept[0] == first[1]
    plain = scripted_trainer(tiny_qwen2, str(tmp_path / "plain"), beta=0.04, dynamic_sampling=False)
    plain.model.train()
    reference = plain._generate_and_score_completions([data[row] for row in kept for _ in range(GROUP)])
    assert plain.rollouts_generated == 8 and dynamic.rollouts_generated == 8 * len(dynamic.rounds)
    for key in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages", "ref_per_token_logps"):
        assert torch.allclose(merged[key].float(), reference[key].float(), atol=1e-6), key
    assert merged["num_items_in_batch"] == reference["num_items_in_batch"]
    losses, gradients = [], []
    for trainer, batch in ((dynamic, merged), (plain, reference)):
        trainer.model.zero_grad()
        trainer.current_gradient_accumulation_steps = 1  # train() sets it
        loss = trainer.compute_loss(trainer.model, batch, num_items_in_batch=batch["num_items_in_batch"])
        loss.backward()
        losses.append(loss.item())
        gradients.append(torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None]))
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)
    assert gradients[0].abs().sum() > 0 and torch.allclose(gradients[0], gradients[1], atol=1e-6)


def test_the_cap_on_rounds_trains_short_batches_on_what_it_kept(tmp_path, tiny_qwen2):
    trainer = scripted_trainer(tiny_qwen2, str(tmp_path / "run"), max_steps=4, dynamic_sampling_max_rounds=1)
    batches = _record_batches(trainer)
    trainer.train()
    logs = trainer.state.log_history
    assert _rounds_per_step(logs) == [1, 1, 1, 1] and len(trainer.rounds) == 4
    kept = [sum(map(has_signal, _groups(rows))) for rows in trainer.rounds]
    assert min(kept) < 2  # some batch was short
    shorts = [h["dynamic_sampling/short_batches"] for h in logs if "dynamic_sampling/short_batches" in h]
    assert shorts == [float(sum(k < 2 for k in kept[: step + 1])) for step in range(4)]
    for batch, groups in zip(batches, kept, strict=True):  # filled up with dropped groups, advantages zero
        assert batch["advantages"].shape == (8,) and int((batch["advantages"] != 0).sum()) == GROUP * groups


def test_the_learnability_order_draws_and_counts_every_generated_group(tmp_path, tiny_qwen2):
    """The order chooses which prompts are drawn (first rounds: the run's sampler; refills: the same draw with a
    seed of its own), dynamic sampling what is kept; the posterior counts every generated rollout, kept or dropped."""
    trainer = scripted_trainer(
        tiny_qwen2,
        str(tmp_path / "run"),
        max_steps=4,
        gainrl_samples_per_epoch=16,
        gainrl_order="learnability",
        gainrl_success_threshold=0.3,
    )  # 16 prompts per epoch, 2 per step: the 4 steps stay in epoch 0, whose draw nothing observed can move
    epoch = trainer._get_train_sampler().epoch_indices()
    replica = RefillStream(trainer._refill_pass)
    trainer.train()
    state = trainer.gainrl_state
    assert sum(state.trials) + sum(state.pending_trials) == trainer.rollouts_generated == 8 * len(trainer.rounds)
    firsts, refills, position = [], [], 0
    for count in _rounds_per_step(trainer.state.log_history):
        step = [_groups(rows) for rows in trainer.rounds[position : position + count]]
        position += count
        firsts += step[0]
        refills += [group for rows in step[1:] for group in rows]
    assert firsts == epoch[:8] and refills and refills == replica.draw(len(refills))
    assert set(refills) <= set(range(48)) and refills[:16] != epoch  # not the sampler's own draw again


def test_resume_refills_as_the_uninterrupted_run(tmp_path, tiny_qwen2):
    full = scripted_trainer(tiny_qwen2, str(tmp_path / "full"), max_steps=4, save_strategy="steps", save_steps=2)
    full.train()
    rounds = _rounds_per_step(full.state.log_history)
    saved = json.loads((tmp_path / "full" / "checkpoint-2" / "dynamic_sampling_state.json").read_text())
    assert saved["rollouts_generated"] == 8 * sum(rounds[:2])
    resumed = scripted_trainer(tiny_qwen2, str(tmp_path / "full"), max_steps=4)
    resumed.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-2"))
    assert resumed.rounds == full.rounds[sum(rounds[:2]) :]
    assert resumed.rollouts_generated == full.rollouts_generated == 8 * sum(rounds)
    assert resumed.refill_stream.state_dict() == full.refill_stream.state_dict()


def test_two_processes_whose_ranks_see_different_zero_variance_groups(tmp_path, tiny_qwen2):
    helper = REPO / "tests" / "helpers" / "scripted_groups.py"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(helper)]
    result = subprocess.run(
        [*command, tiny_qwen2, str(tmp_path)], capture_output=True, text=True, timeout=600, env=_one_thread()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert len(ranks[0]["rounds"]) == len(ranks[1]["rounds"]) > 3  # the same generation calls on both
    assert ranks[0]["rollouts_generated"] == ranks[1]["rollouts_generated"] == 8 * len(ranks[0]["rounds"])
    signal = [[[has_signal(row) for row in _groups(rows)] for rows in rank["rounds"]] for rank in ranks]
    assert any(a != b for a, b in zip(*signal, strict=True))  # some round gave one rank a signal and not the other
    position = 0
    for entry in [h for h in ranks[0]["logs"] if "dynamic_sampling/rounds" in h]:
        count = int(entry["dynamic_sampling/rounds"])  # one group per rank and round: full after one with a signal
        full = [
            [any(sum(rounds[: i + 1], [])) for i in range(count)]
            for rounds in (s[position : position + count] for s in signal)
        ]
        position += count
        assert all(not all(rank[i] for rank in full) for i in range(count - 1))  # it went on while a rank was short
        assert all(rank[-1] for rank in full) or count == 10  # and stopped once none was
    assert position == len(signal[0])


def _one_thread() -> dict:
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1", "TRL_EXPERIMENTAL_SILENCE": "1"}


def test_igpo_keeps_groups_by_their_turn_rewards(tmp_path, warm_model):
    from infopo import IGPOConfig, IGPOTrainer
    from infopo.data.lookup import lookup_questions

    args = IGPOConfig(
        output_dir=str(tmp_path / "igpo"), per_device_train_batch_size=8, num_generations=4, max_turns=3,
        max_turn_tokens=24, max_completion_length=160, learning_rate=1e-3, logging_steps=1, max_steps=2, seed=0,
        dynamic_sampling=True, dynamic_sampling_max_rounds=3, use_cpu=True, bf16=False,
        gradient_checkpointing=False, report_to="none", save_strategy="no", disable_tqdm=True,
    )  # fmt: skip
    trainer = IGPOTrainer(model=warm_model, args=args, train_dataset=lookup_questions(64, seed=3))
    signals = []
    original = trainer._generation_round

    def record(inputs):
        output = original(inputs)
        outcome_signal = groups_with_signal([[value] for value in trainer._outcomes.tolist()], 4)
        signals.append((list(trainer._group_signal), outcome_signal, output["advantages"]))
        return output

    trainer._generation_round = record
    trainer.train()
    logs = trainer.state.log_history
    assert sum(_rounds_per_step(logs)) == len(signals) and "rollouts_generated" in logs[0]
    for turn_signal, outcome_signal, advantages in signals:
        for group, has in enumerate(turn_signal):
            rows = advantages[4 * group : 4 * group + 4]
            assert bool(rows.abs().sum() > 0) == has  # the turn-reward signal is exactly "has a gradient"
            assert has or not outcome_signal[group]  # a group whose outcomes differ always has one
    assert any(turn and not outcome for turn_signal, outcome_signal, _ in signals
               for turn, outcome in zip(turn_signal, outcome_signal, strict=True))  # fmt: skip


def test_the_command_line_trains_with_dynamic_sampling(tmp_path):
    out = tmp_path / "grpo"
    argv = ["grpo", "--config", str(RECIPES / "grpo_tiny.yaml"), "--output_dir", str(out), "--max_steps", "2"]
    assert main([*argv, "--dynamic_sampling", "true", "--dynamic_sampling_max_rounds", "3"]) == 0
    card = (out / "README.md").read_text()
    assert "dynamic_sampling: true" in card
    for metric in ("dynamic_sampling/rounds", "dynamic_sampling/kept_frac", "rollouts_generated"):
        assert f"| {metric} |" in card


def test_dynamic_sampling_needs_advantages_within_groups():
    from infopo import InfopoGRPOConfig

    with pytest.raises(ValueError, match="scale_rewards='batch'"):
        InfopoGRPOConfig(output_dir="x", dynamic_sampling=True, scale_rewards="batch", use_cpu=True, bf16=False)
    with pytest.raises(ValueError, match="dynamic_sampling_max_rounds must be at least 1"):
        InfopoGRPOConfig(output_dir="x", dynamic_sampling_max_rounds=0, use_cpu=True, bf16=False)
