"""Preemption: SIGTERM or SIGUSR1 during a real run stops it after the current optimizer step with a complete
checkpoint (every method's state and the marker), exit status 75, and a resume continues as if never stopped."""

import json
import os
import signal
import subprocess
import sys

import psutil
import pytest
from conftest import RECIPES, REPO

from infopo.checkpoints import MARKER
from infopo.errors import EXIT_STOPPED
from infopo.preemption import STOP_SIGNALS, StopSignals

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
DPO = [
    "dpo",
    "--config",
    RECIPES / "dpo_tiny.yaml",
    "--synthetic_rows",
    "64",
    "--eval_strategy",
    "no",
    "--lr_scheduler_type",
    "constant",
    "--logging_steps",
    "1",
    "--disable_tqdm",
    "true",
]
GRPO_GAINRL = [
    "grpo",
    "--config",
    RECIPES / "grpo_gainrl_tiny.yaml",
    "--logging_steps",
    "1",
    "--disable_tqdm",
    "true",
    "--lr_scheduler_type",
    "constant",
]


def test_the_first_signal_is_recorded_later_ones_are_ignored_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as signals:
        assert signals.received is None
    assert signal.getsignal(signal.SIGTERM) is before  # nothing received: the old handler is back
    try:
        with StopSignals() as signals:
            os.kill(os.getpid(), signal.SIGUSR1)
            os.kill(os.getpid(), signal.SIGTERM)  # noted, not fatal
            assert signals.received == signal.SIGUSR1
        assert signal.getsignal(signal.SIGTERM) == signals._handle  # stopping: still caught until exit
    finally:
        signal.signal(signal.SIGTERM, before)
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)


def start(args, out, launcher=(sys.executable,)):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    stderr = open(out.parent / f"{out.name}.stderr", "w")  # noqa: SIM115 (closed by finish)
    return subprocess.Popen(
        [*launcher, "-m", "infopo", *map(str, args), "--output_dir", str(out)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
    )


def wait_for_logged_steps(proc, count: int) -> list[str]:
    """Read the run's stdout until it has logged ``count`` training steps (the process keeps running)."""
    lines, logged = [], 0
    while logged < count:
        line = proc.stdout.readline()
        assert line, f"the run ended before {count} logged steps: {''.join(lines)[-2000:]}"
        lines.append(line)
        logged += line.startswith("{'loss'")
    return lines


def finish(proc, out, timeout=300) -> tuple[int, str]:
    proc.stdout.read()
    code = proc.wait(timeout=timeout)
    return code, (out.parent / f"{out.name}.stderr").read_text()


def losses(folder) -> dict[int, float]:
    state = json.loads((folder / "trainer_state.json").read_text())
    return {entry["step"]: entry["loss"] for entry in state["log_history"] if "loss" in entry}


def test_ctrl_c_stops_like_sigterm_and_a_second_one_aborts():
    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    try:
        with StopSignals() as signals:
            os.kill(os.getpid(), signal.SIGINT)  # not a KeyboardInterrupt: noted
            assert signals.received == signal.SIGINT
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                signal.sigtimedwait([], 0.1)  # let the handler run here, inside the raises block
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


@pytest.mark.slow
def test_ctrl_c_saves_the_step_and_prints_the_resume_command_without_a_traceback(tmp_path, tiny_qwen2):
    stopped = tmp_path / "stopped"
    proc = start([*DPO, "--max_steps", "400"], stopped)
    wait_for_logged_steps(proc, 2)
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc, stopped)
    assert code == EXIT_STOPPED, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    last = err.strip().splitlines()[-1]
    step = int(last.split(" at step ")[1].split(";")[0])
    assert last == (
        f"infopo dpo: stopped by SIGINT at step {step}; {stopped / f'checkpoint-{step}'} is complete: rerun with "
        "--resume_from_checkpoint true to continue"
    )
    assert (stopped / f"checkpoint-{step}" / MARKER).is_file()


@pytest.mark.slow
def test_sigterm_saves_the_step_exits_75_and_the_resume_matches_the_uninterrupted_run(tmp_path, tiny_qwen2):
    stopped = tmp_path / "stopped"
    proc = start([*DPO, "--max_steps", "400"], stopped)
    wait_for_logged_steps(proc, 2)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)  # a second one while it stops (or coalesced with the first by the OS): not fatal
    code, err = finish(proc, stopped)
    assert code == EXIT_STOPPED, err[-3000:]
    last = err.strip().splitlines()[-1]
    step = int(last.split(" at step ")[1].split(";")[0])
    checkpoint = stopped / f"checkpoint-{step}"
    assert last == (
        f"infopo dpo: stopped by SIGTERM at step {step}; {checkpoint} is complete: rerun with "
        "--resume_from_checkpoint true to continue"
    )
    assert (checkpoint / MARKER).is_file() and 2 <= step < 400
    assert not (stopped / "model.safetensors").exists()  # no final save of an unfinished run

    total = step + 2
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "infopo",
            *map(str, DPO),
            "--max_steps",
            str(total),
            "--save_strategy",
            "steps",
            "--save_steps",
            str(total),
            "--output_dir",
            str(stopped),
            "--resume_from_checkpoint",
            "true",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    reference = tmp_path / "reference"
    full = subprocess.run(
        [
            sys.executable,
            "-m",
            "infopo",
            *map(str, DPO),
            "--max_steps",
            str(total),
            "--save_strategy",
            "steps",
            "--save_steps",
            str(total),
            "--output_dir",
            str(reference),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert full.returncode == 0, full.stderr[-3000:]
    after, before = losses(stopped / f"checkpoint-{total}"), losses(reference / f"checkpoint-{total}")
    assert set(after) == set(before) == set(range(1, total + 1))
    for s in (step + 1, step + 2):
        assert after[s] == pytest.approx(before[s], rel=1e-3, abs=1e-5), (s, after, before)


def worker_pids(launcher_pid: int) -> list[int]:
    return sorted(
        child.pid for child in psutil.Process(launcher_pid).children() if "infopo" in " ".join(child.cmdline())
    )


@pytest.mark.slow
@pytest.mark.parametrize("target", ["one-worker-sigusr1", "launcher-sigterm"])
def test_two_ranks_stop_at_the_same_step_with_every_methods_state(tmp_path, tiny_qwen2, target):
    out = tmp_path / "run"
    proc = start([*GRPO_GAINRL, "--max_steps", "400"], out, launcher=TORCHRUN)
    wait_for_logged_steps(proc, 2)
    if target == "launcher-sigterm":  # what SLURM or a spot instance does: torchrun forwards it to every worker
        proc.send_signal(signal.SIGTERM)
        name = "SIGTERM"
    else:  # one rank alone gets the signal: the other learns of it at the step's end
        workers = worker_pids(proc.pid)
        assert len(workers) == 2
        os.kill(workers[-1], signal.SIGUSR1)
        name = "SIGUSR1"
    code, err = finish(proc, out)
    lines = [line for line in err.splitlines() if line.startswith("infopo grpo: stopped by")]
    assert len(lines) == 1 and name in lines[0], err[-3000:]  # one line, from rank 0
    step = int(lines[0].split(" at step ")[1].split(";")[0])
    checkpoint = out / f"checkpoint-{step}"
    assert (checkpoint / MARKER).is_file() and (checkpoint / "gainrl_state.json").is_file()
    assert {p.name for p in checkpoint.glob("rng_state_*.pth")} == {"rng_state_0.pth", "rng_state_1.pth"}
    assert sorted(p.name for p in out.glob("checkpoint-*")) == [checkpoint.name]  # both ranks saved the same step
    if target == "one-worker-sigusr1":
        assert code != 0 and "exitcode  : 75" in err  # torchrun reports its workers' status 75
    resumed = subprocess.run(
        [
            *TORCHRUN,
            "-m",
            "infopo",
            *map(str, GRPO_GAINRL),
            "--max_steps",
            str(step + 1),
            "--output_dir",
            str(out),
            "--resume_from_checkpoint",
            "true",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "terminate called" not in resumed.stderr
    assert resumed.stdout.count("finished") == 2
