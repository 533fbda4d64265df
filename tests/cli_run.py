"""Run the `terrain-mdm` command in a child process, as a user would, and check how it fails."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None, timeout=300, env=None, preexec_fn=None):
    """`terrain-mdm ARGS` (this checkout's code) in a child process; returns the CompletedProcess. `preexec_fn`
    runs in the child before the command (resource limits)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *map(str, args)],
        cwd=cwd or ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        preexec_fn=preexec_fn,
    )


def assert_one_line_error(result, *words):
    """A refusal: exit status 2 and stderr exactly one `error:` line naming every word in `words` (no traceback,
    no banner, no usage block, nothing else)."""
    assert result.returncode == 2, (result.returncode, result.stdout + result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), (word, lines[0])
    return lines[0]
