"""`make demo` runs a whole flow on the embedded defaults and ends in consumed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_the_demo_prints_every_transition_and_ends_in_consumed() -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    transitions = [line.split() for line in lines if "-->" in line and "--" in line.split()[1]]
    assert [t[1] for t in transitions] == [
        "--FlowStarted-->",
        "--CallbackReceived-->",
        "--TokenResponseReceived-->",
    ]
    assert "Final state: consumed" in result.stdout
    assert "exactly one exchange" in result.stdout
    assert "client_secret" not in result.stdout.lower()
