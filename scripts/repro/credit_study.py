"""When turn-level information gain pays (issue 34): GRPO, GRPO with dynamic sampling, IGPO and IGPO with the
counterfactual gain, each at its own tuned learning rate, over seeds, in settings that decide it.

Protocol:
1. Start: the demo's warm start (``recipes/sft_igpo-warmstart_tiny.yaml``, 1000 steps, tiny:llama-1m), built once
   and checked to answer before any arm runs (greedy success on the demo setting >= 0.1, the demo's floor).
2. Settings (:data:`SETTINGS`): questions about the held-out countries, 400 for evaluation (seed 999) and the
   rest for RL:
   - ``demo``: the demo's mix (80% 2-hop, 20% 1-hop), corpus coverage 1.0;
   - ``demo_coverage_0.63``: the same questions over a corpus that lost every document of 37% of the countries
     (``lookup_corpus(coverage=0.63)``): about a third of the questions have no evidence;
   - ``sparse_2hop``: 2-hop questions only, coverage 1.0. The warm start answers none of them greedily (its
     demonstrator answers after one search): outcome rewards come only from rare sampled successes.
3. Arms (:data:`ARMS`), the same IGPOTrainer, tag loop, BM25 top-3 search, rollouts (8 questions x 4, temperature
   0.3), F1 outcome and format penalty, constant learning rate:
   - ``GRPO``: ``credit: outcome`` (TRL's sequence-level GRPO advantages);
   - ``GRPO+DS``: the same with ``dynamic_sampling`` (groups whose outcomes all agree dropped and drawn again, at
     most 10 generations per step, DAPO's recipe): the baseline users run against sparse rewards;
   - ``IGPO``: ``credit: info_gain`` (the authors' turn-level information gain);
   - ``IGPO-CF``: ``credit: counterfactual_gain`` (IG-Search's random-document baseline).
4. Tuning: every arm at each of :data:`LEARNING_RATES`, one seed (100), ``--tune_rollouts`` rollouts, on
   ``demo``; the rate with the largest area under the success curve is the arm's rate in every setting.
5. Runs: every setting x arm x seed at the arm's rate until ``--rollouts`` rollouts have been generated (kept or
   dropped); greedy held-out success every ``--eval_rollouts`` rollouts (at the first step end past each multiple),
   with the training seconds so far (evaluations excluded).

Area under the curve: the trapezoid of success over rollouts (from 0), divided by the rollouts: the mean success
over the run. Paired comparison: per seed (same questions, same order, same start), an arm's final success and area
minus GRPO+DS's, mean +- standard error over seeds.

Parallel workers (``--workers 2``, each with ``OMP_NUM_THREADS=1``) claim jobs one at a time; every finished job is
a JSON file in ``<out>/credit_study_runs/``, and a rerun skips the jobs whose file exists, so a stopped study loses
no finished run. ``--report_only`` rebuilds the report from those files.

    python scripts/repro/credit_study.py [--workers 2] [--seeds 0 1 2] [--rollouts 4800] [--out docs/repro]

Writes credit_study.md/.json and credit_study_<setting>.png. The outcome is whatever the runs give.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
from igpo_vs_grpo import COUNTRIES, CPU, EVAL_QUESTIONS, ROLLOUTS, warm_start
from transformers import TrainerCallback

from infopo.machine import cpu_model

SETTINGS = {
    "demo": {"two_hop_share": 0.8, "coverage": 1.0},
    "demo_coverage_0.63": {"two_hop_share": 0.8, "coverage": 0.63},
    "sparse_2hop": {"two_hop_share": 1.0, "coverage": 1.0},
}
ARMS = {
    "GRPO": {"credit": "outcome"},
    "GRPO+DS": {"credit": "outcome", "dynamic_sampling": True, "dynamic_sampling_max_rounds": 10},
    "IGPO": {"credit": "info_gain"},
    "IGPO-CF": {"credit": "counterfactual_gain"},
}
LEARNING_RATES = (3e-5, 1e-4, 3e-4, 1e-3)
TUNE_SETTING, TUNE_SEED = "demo", 100
START_FLOOR = 0.1
ROLLOUTS_PER_STEP = ROLLOUTS["per_device_train_batch_size"]


def questions(setting: str, rows: int, seed: int):
    from infopo.data.lookup import lookup_questions

    share = SETTINGS[setting]["two_hop_share"]
    return lookup_questions(rows, seed=seed, two_hop_share=share, split="held_out", num_countries=COUNTRIES)


def environment_factory(setting: str):
    from infopo.data.lookup import lookup_corpus
    from infopo.igpo.environment import SearchEnvironment

    corpus = lookup_corpus(COUNTRIES, coverage=SETTINGS[setting]["coverage"])
    return SearchEnvironment.factory(corpus, top_k=3)


class RolloutCurve(TrainerCallback):
    """(step, rollouts, training seconds, success, F1) at the first step end past every ``every`` rollouts; stops
    training once ``budget`` rollouts have been generated."""

    def __init__(self, every: int, budget: int, evaluation):
        self.every, self.budget, self.evaluation = every, budget, evaluation
        self.points, self.trainer, self.started, self.evaluating = [], None, 0.0, 0.0

    def record(self, step: int) -> None:
        began = time.perf_counter()
        seconds = began - self.started - self.evaluating if self.started else 0.0
        scores = self.trainer.evaluate_greedily(self.evaluation, len(self.evaluation))
        self.points.append((step, self.trainer.rollouts_generated, seconds, scores["success"], scores["f1"]))
        self.evaluating += time.perf_counter() - began

    def on_train_begin(self, args, state, control, **kwargs):
        self.started, self.evaluating = time.perf_counter(), 0.0

    def on_step_end(self, args, state, control, **kwargs):
        generated = self.trainer.rollouts_generated
        if generated // self.every > self.points[-1][1] // self.every or generated >= self.budget:
            self.record(state.global_step)
        if generated >= self.budget:
            control.should_training_stop = True


def run_job(job: dict, warm: str) -> dict:
    from infopo.igpo.config import IGPOConfig
    from infopo.igpo.trainer import IGPOTrainer

    setting, arm, seed = job["setting"], job["arm"], job["seed"]
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as work:
        config = IGPOConfig(
            output_dir=work,
            seed=seed,
            **ROLLOUTS,
            temperature=0.3,
            learning_rate=job["learning_rate"],
            lr_scheduler_type="constant",
            max_steps=job["rollouts"] // ROLLOUTS_PER_STEP,
            logging_steps=1,
            **ARMS[arm],
            **CPU,
        )
        evaluation = questions(setting, EVAL_QUESTIONS, seed=999)
        train = questions(setting, job["rollouts"] // 4, seed=1000 + seed)
        curve = RolloutCurve(job["eval_rollouts"], job["rollouts"], evaluation)
        trainer = IGPOTrainer(
            model=warm,
            args=config,
            train_dataset=train,
            callbacks=[curve],
            environment_factory=environment_factory(setting),
        )
        curve.trainer = trainer
        curve.record(0)
        trainer.train()
    logs = [entry for entry in trainer.state.log_history if "frac_reward_zero_std" in entry]
    return {
        **job,
        "points": curve.points,
        "frac_reward_zero_std": sum(entry["frac_reward_zero_std"] for entry in logs) / max(len(logs), 1),
        "steps_with_gradient": sum(entry.get("grad_norm", 0.0) > 0 for entry in logs),
        "threads": torch.get_num_threads(),
    }


def job_name(job: dict) -> str:
    return f"{job['phase']}-{job['setting']}-{job['arm']}-lr{job['learning_rate']:g}-seed{job['seed']}"


def load_runs(folder: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def area(points: list, budget: int) -> float:
    """The trapezoid of success over rollouts from 0 to the last point, divided by ``budget``."""
    total = 0.0
    for (_, x0, _, y0, _), (_, x1, _, y1, _) in itertools.pairwise(points):
        total += (min(x1, budget) - min(x0, budget)) * (y0 + y1) / 2
    return total / budget


def best_rates(runs: dict, args) -> dict[str, float] | None:
    """Each arm's tuned learning rate (largest area on the tuning setting); None while a tuning run is missing."""
    rates = {}
    for arm in ARMS:
        tuned = [run for run in runs.values() if run["phase"] == "tune" and run["arm"] == arm]
        if len(tuned) < len(LEARNING_RATES):
            return None
        rates[arm] = max(tuned, key=lambda run: area(run["points"], args.tune_rollouts))["learning_rate"]
    return rates


def jobs(runs: dict, args) -> list[dict]:
    """The tuning jobs, then (once tuning is complete) every setting x arm x seed at the arm's rate."""
    common = {"eval_rollouts": args.eval_rollouts}
    todo = [
        {"phase": "tune", "setting": TUNE_SETTING, "arm": arm, "learning_rate": rate, "seed": TUNE_SEED}
        | common
        | {"rollouts": args.tune_rollouts}
        for arm in ARMS
        for rate in LEARNING_RATES
    ]
    rates = best_rates(runs, args)
    if rates is not None:
        todo += [
            {"phase": "run", "setting": setting, "arm": arm, "learning_rate": rates[arm], "seed": seed}
            | common
            | {"rollouts": args.rollouts}
            for seed in args.seeds
            for setting in SETTINGS
            for arm in ARMS
        ]
    return todo


def claim(claims: Path, name: str) -> bool:
    try:
        os.close(os.open(claims / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def worker(args, folder: Path, claims: Path, warm: str) -> None:
    """Claim and run jobs until none is left; wait while the next ones depend on tuning runs still going."""
    while True:
        runs = load_runs(folder)
        pending = [job for job in jobs(runs, args) if job_name(job) not in runs]
        if not pending:
            return
        job = next((job for job in pending if claim(claims, job_name(job))), None)
        if job is None:
            if best_rates(runs, args) is not None:
                return  # the rest is claimed by another worker
            time.sleep(10)
            continue
        began = time.perf_counter()
        try:
            result = run_job(job, warm)
        except Exception:
            traceback.print_exc()
            print(f"FAILED {job_name(job)}", flush=True)
            continue
        if result["points"][-1][1] < job["rollouts"]:  # stopped early (SIGTERM ends training at a step's end)
            print(f"STOPPED {job_name(job)} at {result['points'][-1][1]} rollouts; not recorded", flush=True)
            return
        result["wall_seconds"] = time.perf_counter() - began
        result["date"], result["machine"] = datetime.date.today().isoformat(), cpu_model()
        (folder / f"{job_name(job)}.json").write_text(json.dumps(result, indent=1))
        last = result["points"][-1]
        print(
            f"{job_name(job)}: success {result['points'][0][3]:.3f} -> {last[3]:.3f} at {last[1]} rollouts, "
            f"{result['wall_seconds']:.0f} s",
            flush=True,
        )


def check_start(warm: str) -> dict[str, float]:
    """Greedy success of the warm start per setting; stops when the demo setting's is below the demo's floor."""
    from infopo.igpo.config import IGPOConfig
    from infopo.igpo.trainer import IGPOTrainer

    starts = {}
    with tempfile.TemporaryDirectory() as work:
        for setting in SETTINGS:
            config = IGPOConfig(
                output_dir=work,
                max_turns=4,
                max_turn_tokens=24,
                max_completion_length=256,
                answer_forcing_prefix=" <answer> ",
                per_device_train_batch_size=8,
                **CPU,
            )
            trainer = IGPOTrainer(
                model=warm,
                args=config,
                train_dataset=questions(setting, 8, seed=0),
                environment_factory=environment_factory(setting),
            )
            starts[setting] = trainer.evaluate_greedily(questions(setting, EVAL_QUESTIONS, 999), EVAL_QUESTIONS)[
                "success"
            ]
    if starts[TUNE_SETTING] < START_FLOOR:
        raise SystemExit(f"the warm start answers {starts[TUNE_SETTING]:.3f} < {START_FLOOR} of '{TUNE_SETTING}'")
    return starts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rollouts", type=int, default=4800, help="rollouts generated per run (kept or dropped)")
    parser.add_argument("--tune_rollouts", type=int, default=4800)
    parser.add_argument("--eval_rollouts", type=int, default=960)
    parser.add_argument("--workers", type=int, default=2, help="processes, each with OMP_NUM_THREADS=1")
    parser.add_argument("--warm_dir", default="outputs/credit_study/warm")
    parser.add_argument("--out", default="docs/repro")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report_only", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    out = Path(args.out)
    folder = out / "credit_study_runs"
    folder.mkdir(parents=True, exist_ok=True)
    claims = Path(args.warm_dir).parent / "claims"
    if args.worker:
        worker(args, folder, claims, args.warm_dir)
        return
    if not args.report_only:
        warm_start(args.warm_dir, 1000, 32000)
        starts_file = folder.parent / "credit_study_start.json"
        if not starts_file.exists():
            starts_file.write_text(json.dumps(check_start(args.warm_dir), indent=1))
        claims.mkdir(parents=True, exist_ok=True)
        for stale in claims.iterdir():
            stale.unlink()
        environment = {**os.environ, "OMP_NUM_THREADS": "1"} if args.workers > 1 else dict(os.environ)
        command = [sys.executable, __file__, "--worker", *sys.argv[1:]]
        processes = [subprocess.Popen(command, env=environment) for _ in range(args.workers)]
        if any(process.wait() for process in processes):
            raise SystemExit("a worker failed")
    from credit_report import report

    report(load_runs(folder), args, out)


if __name__ == "__main__":
    main()
