"""IGPO's printed and drawn curves: the greedy before/after lines and points."""

import pytest

from infopo.igpo.report import format_greedy, interval95, plot_curves

ROWS = [
    {"step": 5, "igpo/success": 0.2, "igpo/outcome": 0.2, "igpo/info_gain": 0.05},
    {"step": 10, "igpo/success": 0.3, "igpo/outcome": 0.3, "igpo/info_gain": 0.07},
]
RESULT = {"questions": 400.0, "success": 0.4, "f1": 0.45, "format_error_frac": 0.0}


def test_the_interval_is_the_normal_approximation():
    assert interval95(0.4, 400) == pytest.approx(0.0480, abs=1e-4)
    assert interval95(0.0, 400) == 0.0


def test_format_greedy_prints_each_moment_with_its_interval():
    text = format_greedy({"start": RESULT, "end": {**RESULT, "success": 0.5}})
    assert text.splitlines() == [
        "greedy held-out success at the start of training: 0.400 ± 0.048 "
        "(400 questions; F1 0.450, format errors 0.000)",
        "greedy held-out success at the end of training: 0.500 ± 0.049 (400 questions; F1 0.450, format errors 0.000)",
    ]


@pytest.mark.parametrize("greedy", [None, {}, {"start": RESULT}, {"start": RESULT, "end": RESULT}])
def test_the_plot_takes_any_part_of_the_greedy_results(tmp_path, greedy):
    pytest.importorskip("matplotlib")
    path = plot_curves(ROWS, tmp_path / "curves.png", greedy)
    assert path.stat().st_size > 0
