"""``benchmarks/run.py --quick`` runs and reports every row with positive numbers.

Whether the aims are met is not checked: timings on shared CI machines are too noisy.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS = {
    "start",
    "callback",
    "token",
    "handle_callback",
    "memory_per_flow",
    "memory_store_small",
    "memory_store_large",
    "memory_store_growth",
    "sqlite_store_small",
    "sqlite_store_large",
    "sqlite_store_growth",
}


def test_quick_run_reports_every_row(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    finished = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert finished.returncode == 0, finished.stderr

    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["quick"] is True
    rows = {row["key"]: row for row in document["rows"]}
    assert set(rows) == ROWS
    for key, row in rows.items():
        numbers = [row["floor"], row["miroflow"]]
        if row["unit"] != "x":  # a growth row has no miroflow/floor ratio
            numbers.append(row["ratio"])
        for number in numbers:
            assert isinstance(number, float), key
            assert math.isfinite(number), key
            assert number > 0, key
        assert row["met"] in (True, False, None), key
        # The printed table names every row too.
        assert row["name"] in finished.stdout, key
