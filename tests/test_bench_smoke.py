"""The sign-in storm benchmark runs end to end (cheap argon2id, 1 s phases).

This checks the harness, not a speed: the ratio it prints is not compared with the target.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_login_storm_tiny_completes_and_prints_the_ratio() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "login_storm.py"), "--tiny"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^ratio p99_storm/p99_base = \d+\.\d\d \(target ≤ 3\)$", done.stdout,
                     re.MULTILINE), done.stdout
    assert re.search(r"^storm\s+\d+\s+0\s", done.stdout, re.MULTILINE), done.stdout
