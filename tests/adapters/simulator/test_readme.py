"""The README's "Testing your app without Miro" example runs as written: it is copied out of
README.md into a test file of its own and run by pytest in a subprocess, with the plugin
loaded the way a user's project loads it (the pytest11 entry point)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Testing your app without Miro")
    return text[start : text.index("\n## ", start + 3)]


def test_the_readme_example_test_passes(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", _section(), flags=re.S)
    (example,) = [block for block in blocks if "def test_" in block]
    target = tmp_path / "test_sign_in.py"
    target.write_text(example, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_readme_names_the_variables_the_command_prints() -> None:
    section = _section()
    for name in (
        "MIRO_AUTHORIZE_URL",
        "MIRO_TOKEN_URL",
        "MIRO_REVOKE_URL",
        "MIRO_TOKEN_CONTEXT_URL",
    ):
        assert name in section


ADAPTER_README = README.parent / "adapters" / "simulator" / "README.md"


def test_the_adapter_readmes_in_process_example_runs() -> None:
    text = ADAPTER_README.read_text(encoding="utf-8")
    (example,) = [
        block
        for block in re.findall(r"```python\n(.*?)```", text, flags=re.S)
        if "sim = Simulator()" in block
    ]
    exec(compile(example, str(ADAPTER_README), "exec"), {})  # its asserts are the test
