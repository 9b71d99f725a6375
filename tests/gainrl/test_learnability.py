"""The learnability schedule's math (worked values against independent integration) and its sampler, and the answer
log-prob signal against a direct computation."""

import math

import pytest
import torch

from infopo.gainrl.learnability import (
    PRIOR_CLIP,
    draw_learnable,
    draw_thompson,
    expected_variance,
    prior_counts,
    zero_variance_probability,
)
from infopo.gainrl.sampler import GainRLState, LearnabilitySampler


def beta_integral(a: float, b: float, function, points: int = 200_001) -> float:
    """E[f(p)] under Beta(a, b) by the trapezoid rule on a fine grid (independent of the closed forms)."""
    p = torch.linspace(0, 1, points, dtype=torch.float64)  # a, b >= 1: the density is finite at both ends
    density = p ** (a - 1) * (1 - p) ** (b - 1)
    return (torch.trapz(density * function(p), p) / torch.trapz(density, p)).item()


@pytest.mark.parametrize("a, b", [(1.0, 1.0), (2.0, 3.0), (5.0, 5.0), (1.0, 9.0), (1.4, 8.6)])
def test_closed_forms_equal_the_integrals(a, b):
    tensor = lambda value: torch.tensor([value], dtype=torch.float64)  # noqa: E731
    assert expected_variance(tensor(a), tensor(b)).item() == pytest.approx(
        beta_integral(a, b, lambda p: p * (1 - p)), rel=1e-6
    )
    for group in (2, 4, 8):
        want = beta_integral(a, b, lambda p, g=group: p**g + (1 - p) ** g)
        assert zero_variance_probability(tensor(a), tensor(b), group).item() == pytest.approx(want, rel=1e-5)


def test_worked_values():
    assert expected_variance(torch.tensor([2.0]), torch.tensor([3.0])).item() == pytest.approx(0.2)
    assert zero_variance_probability(torch.tensor([1.0]), torch.tensor([1.0]), 4).item() == pytest.approx(0.4)
    assert prior_counts(None, 2, 2.0) == ([1.0, 1.0], [1.0, 1.0])
    a, b = prior_counts([0.5, 1e-9, 1.0], 3, 2.0)
    assert a == pytest.approx([1.0, 2 * PRIOR_CLIP[0], 2 * PRIOR_CLIP[1]]) and b == pytest.approx([1.0, 1.98, 0.02])


def test_the_draw_prefers_balanced_prompts_explores_the_untried_and_skips_the_settled():
    # prompts 0-3: 4 of 8 right (balanced); 4-7: 0 of 8 (settled); 8-11: never tried
    a = [5.0] * 4 + [1.0] * 4 + [1.0] * 4
    b = [5.0] * 4 + [9.0] * 4 + [1.0] * 4
    trials = [8] * 8 + [0] * 4
    draw = draw_learnable(
        a, b, trials, samples=6, group_size=8, generator=torch.Generator().manual_seed(0), explore=1 / 3, skip_floor=1.0
    )  # skip_floor 1: nothing is skipped
    assert len(draw["indices"]) == 6 == len(set(draw["indices"])) and draw["skipped"] == 0
    assert set(draw["indices"][:2]) <= set(range(8, 12))  # exploration: the untried first
    assert set(draw["indices"][2:]) == {0, 1, 2, 3}  # then the highest predicted variance
    assert draw["predicted_var"] == pytest.approx((2 * 1 / 6 + 4 * 25 / 110) / 6)
    again = draw_learnable(a, b, trials, 6, 8, torch.Generator().manual_seed(0), explore=1 / 3, skip_floor=1.0)
    assert again == draw  # deterministic in the generator's seed


def test_settled_prompts_are_skipped_as_often_as_predicted_but_the_epoch_is_always_full():
    a, b, trials = [1.0] * 400, [30.0] * 400, [29] * 400  # all wrong so far
    p_zero = zero_variance_probability(torch.tensor([1.0]), torch.tensor([30.0]), 8).item()
    assert p_zero == pytest.approx(30 / 38)  # E[(1 - p)^8] + E[p^8] = B(1, 38) / B(1, 30) + tiny
    skipped = drawn = 0
    for seed in range(50):
        draw = draw_learnable(a, b, trials, 8, 8, torch.Generator().manual_seed(seed), explore=0.0, skip_floor=0.1)
        assert len(draw["indices"]) == 8
        skipped, drawn = skipped + draw["skipped"], drawn + 8
    assert skipped / (skipped + drawn) == pytest.approx(min(p_zero, 0.9), abs=0.04)  # each candidate: a coin of p_zero
    capped = draw_learnable(a[:10], b[:10], trials[:10], 8, 8, torch.Generator().manual_seed(0), 0.0, 0.1)
    assert len(capped["indices"]) == 8 and capped["skipped"] <= 2  # too few left: skipped ones fill the epoch
    never = draw_learnable(a, b, trials, 8, 8, torch.Generator().manual_seed(0), explore=0.0, skip_floor=1.0)
    assert never["skipped"] == 0


def test_the_thompson_draw_takes_the_sampled_rates_nearest_one_half():
    """MoPPS's draw: a prompt whose posterior sits at 0.5 is always taken, one settled at 0 or 1 never; an untried
    prompt (Beta(1, 1)) sometimes; the draw depends only on the generator."""
    a = [5000.0, 1.0, 1.0, 200.0, 1.0, 600.0]
    b = [5000.0, 200.0, 1.0, 1.0, 1.0, 400.0]  # 0.5, ~0, untried, ~1, untried, 0.6
    taken = [draw_thompson(a, b, 3, torch.Generator().manual_seed(seed))["indices"] for seed in range(200)]
    assert all(0 in draw and 1 not in draw and 3 not in draw and len(set(draw)) == 3 for draw in taken)
    share = {index: sum(index in draw for draw in taken) / len(taken) for index in (2, 4, 5)}
    assert 0.2 < share[2] < 0.8 and 0.2 < share[4] < 0.8 and share[5] > max(share[2], share[4])
    again = draw_thompson(a, b, 3, torch.Generator().manual_seed(7))
    assert again["indices"] == taken[7] and again["skipped"] == 0
    assert again["predicted_var"] == pytest.approx(expected_variance(torch.tensor(a), torch.tensor(b))[taken[7]].mean())
    with pytest.raises(ValueError, match="cannot draw 7 of 6 prompts"):
        draw_thompson(a, b, 7, torch.Generator())


def test_the_sampler_keeps_grpos_grouping_and_draws_from_the_posterior_at_the_epochs_start():
    n = 12
    state = GainRLState(
        mu=0.0,
        samples_per_epoch=4,
        successes=[0.0] * n,
        trials=[0] * n,
        pending_successes=[0.0] * n,
        pending_trials=[0] * n,
    )
    sampler = LearnabilitySampler(
        prior_counts(None, n, 2.0),
        2,
        0.0,
        0.1,
        ranked=list(range(n)),
        samples_per_epoch=4,
        sigma=1.0,
        state=state,
        seed=3,
        mini_repeat_count=2,
        batch_size=2,
        repeat_count=1,
    )
    yielded = list(sampler)
    assert len(yielded) == len(sampler) == 8 and yielded[0::2] == yielded[1::2]  # each prompt twice in a row
    twin = LearnabilitySampler(
        prior_counts(None, n, 2.0),
        2,
        0.0,
        0.1,
        ranked=list(range(n)),
        samples_per_epoch=4,
        sigma=1.0,
        state=GainRLState(**{**state.__dict__}),
        seed=3,
        mini_repeat_count=2,
        batch_size=2,
        repeat_count=1,
    )
    assert list(twin) == yielded  # another rank draws the same
    state.pending_successes[yielded[0]] = 2.0  # observed, not yet folded in: the epoch's draw does not move
    assert list(sampler) == yielded
    state.successes, state.trials = [1.0 if i == 5 else 0.0 for i in range(n)], [2 if i == 5 else 8 for i in range(n)]
    assert 5 in list(sampler)[0::2]  # the one balanced prompt is now the most learnable


def test_answer_logprobs_equal_a_direct_forward_and_do_not_depend_on_the_batch(tiny_qwen2):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from infopo.scoring import answer_logprobs, encode_prompt

    model, tokenizer = (
        AutoModelForCausalLM.from_pretrained(tiny_qwen2).eval(),
        AutoTokenizer.from_pretrained(tiny_qwen2),
    )
    prompts = ["what is 2 plus 3?", "what is 10 minus 4?", [{"role": "user", "content": "what is 7 times 8?"}]]
    answers = ["5", "6", "56"]
    batched = answer_logprobs(model, tokenizer, prompts, answers, prefix=" the answer is ", batch_size=3)
    alone = answer_logprobs(model, tokenizer, prompts, answers, prefix=" the answer is ", batch_size=1)
    for (mean, total, count), (_, total1, count1) in zip(batched, alone, strict=True):
        assert count == count1 and total == pytest.approx(total1, abs=1e-4) and mean == pytest.approx(total / count)
    ids = tokenizer(" the answer is 56", add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer("56", add_special_tokens=False)["input_ids"]
    context = encode_prompt(tokenizer, prompts[2]) + ids[: len(ids) - len(answer_ids)]
    with torch.no_grad():
        logits = model(torch.tensor([context + answer_ids])).logits[0].log_softmax(-1)
    want = sum(logits[len(context) - 1 + i, token].item() for i, token in enumerate(answer_ids))
    assert ids[-len(answer_ids) :] == answer_ids and batched[2][1] == pytest.approx(want, abs=1e-4)
    assert math.exp(batched[2][1]) < 1.0
