"""``make bench``'s harness (bench/run.py) runs end to end at tiny scale, so it cannot rot.

This checks the harness, not a speed: the figures it prints are not compared with anything. The
tiny dataset is seeded once under var/bench (a few seconds) and reused. Without wrk the harness
uses its Python fallback load generator (and says the numbers are not real); it never tries to
install wrk from a test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from bench.run import Request, Spec, _lua_string, spec_as_lua

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("b_json", "healthz", "b_select", "thread_page", "posts_json", "room_html",
             "room_json", "mod_queue", "b_insert", "create_post", "submit_case")


def test_bench_run_tiny_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "run.py"), "--tiny", "--no-install",
         "--json", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    text = done.stdout
    assert re.search(r"^scenario\s+req/s\s+p50 ms\s+p99 ms\s+errors", text, re.MULTILINE), text
    for label in ("thread page (HTML, 20 posts)", "create post (JSON API)",
                  "baseline: SELECT 20 posts → JSON"):
        assert re.search(rf"^{re.escape(label)}\s+\d+\s+\d+\.\d\d\s+\d+\.\d\d\s+0\s", text,
                         re.MULTILINE), text
    assert "targets (ratios from this run):" in text
    report = json.loads(out.read_text())
    assert set(report["table"]) == set(SCENARIOS)
    for key, row in report["table"].items():
        assert row["errors"] == 0, (key, row)  # signed in, CSRF accepted, expected statuses
        assert all(r["requests"] > 0 for r in row["rounds"]), (key, row)
    assert report["rss_load_mb"] is not None and report["rss_load_mb"] > 0


def test_lua_spec_escapes_everything() -> None:
    assert _lua_string('a"b\\c\n\u00e9') == '"a\\"b\\\\c\\010\\195\\169"'
    lua = spec_as_lua(Spec([Request("POST", "/x", {"Cookie": "s=1"}, '{"a": "b"}')],
                           expect=(201,)))
    assert lua.startswith("return { requests = {")
    assert 'headers = {["Cookie"] = "s=1"}, body = "{\\"a\\": \\"b\\"}"' in lua
    assert "expect = {201}" in lua
