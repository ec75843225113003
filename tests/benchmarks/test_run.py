"""``benchmarks/run.py --quick`` runs and reports every row with positive numbers.

Whether the aims are met is not checked: timings on shared CI machines are too noisy. The
peer libraries are not needed (``make test`` never installs them): their columns are simply
empty when they are missing.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS = {
    # micro: miroflow beside the floor (and plain stdlib, and the peers where installed)
    "start",
    "start_pkce",
    "callback",
    "token",
    "step_client",
    "step_simulator",
    "snapshot",
    "handle_callback",
    "memory_per_flow",
    # scaling (quick sizes: 1k and 5k flows stored)
    "scale_start_1k",
    "scale_start_5k",
    "scale_start_growth",
    "scale_callback_1k",
    "scale_callback_5k",
    "scale_callback_growth",
    "sweep_100",
    "sweep_1k",
    "sweep_growth",
    # stores
    "sqlite_claim",
    "sqlite_store_small",
    "sqlite_store_large",
    "sqlite_store_growth",
    # HTTP: miroflow-starlette under uvicorn beside a bare Starlette handler (a few hundred
    # callbacks per server: it checks that both serve fresh callbacks and refuse a replay)
    "http_callback",
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
        for side, other in row["others"].items():  # other sides of a micro row, latencies
            if side == "profile":  # a store's claim profile: (layer, share) pairs
                assert math.isclose(sum(share for _, share in other), 1.0), key
                continue
            values = [other["us"], other["ratio"]] if isinstance(other, dict) else [float(other)]
            assert all(math.isfinite(v) and v > 0 for v in values), (key, side)
        # The printed table names every row too.
        assert row["name"] in finished.stdout, key
