"""Compare installed package versions with the tested ones, or record them.

    pip freeze --exclude-editable | python scripts/version_drift.py requirements/tested-versions.txt
    pip freeze --exclude-editable | python scripts/version_drift.py --write requirements/tested-versions.txt

The first form prints one line per package whose installed version differs from the file (``make test-latest``);
the second writes the file as pip constraints, with the date, the CPU and Python in its header (``make freeze``).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import sys
from pathlib import Path

from infopo.machine import describe_hardware

HEADER = """\
# The versions `make demo`, `make test` and CI were last run with (pip constraints: the Makefile installs with
# `-c requirements/tested-versions.txt`). Written by `make freeze` from .venv (pip freeze, infopo itself left out).
# Last run: {date}, {cpu}, Python {python}.
# `make test-latest` runs the suite against the newest versions pyproject.toml allows instead, and lists the drift.
"""


def parse_pins(lines) -> dict[str, str]:
    """``name==version`` lines as {normalised name: version}; a local label (``+cpu``) is dropped, so the pin holds
    for the same release from any index; comments and other lines are skipped."""
    pins = {}
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s+#]+)(\+\S+)?", line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins


def drift(tested: dict[str, str], installed: dict[str, str]) -> list[str]:
    """One line per package that differs: a changed version, or a package only one side has."""
    lines = []
    for name in sorted(tested.keys() | installed.keys()):
        old, new = tested.get(name), installed.get(name)
        if old != new:
            lines.append(f"{name}: tested {old or '-'}, installed {new or '-'}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("--write", action="store_true", help="write the installed versions to FILE")
    args = parser.parse_args()
    installed = parse_pins(sys.stdin)
    if args.write:
        header = HEADER.format(
            date=datetime.date.today().isoformat(), cpu=describe_hardware(), python=platform.python_version()
        )
        args.file.write_text(header + "".join(f"{name}=={version}\n" for name, version in sorted(installed.items())))
        print(f"wrote {len(installed)} versions to {args.file}")
        return 0
    lines = drift(parse_pins(args.file.read_text().splitlines()), installed)
    print(f"{len(lines)} package(s) differ from {args.file}" + (":" if lines else ""))
    for line in lines:
        print("  " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
