"""examples/walkthrough.sh against a live `maas serve` of the sample (as CI runs it), and the README's
"Calling the API" block: copied from the walkthrough, and run as written."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from api_support_http import ROOT, maas_serve

WALKTHROUGH = ROOT / "examples" / "walkthrough.sh"
README = ROOT / "README.md"

for tool in ("bash", "curl", "python3"):
    if shutil.which(tool) is None:
        pytest.skip(f"the walkthrough needs {tool}, which is not installed", allow_module_level=True)


def readme_block() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Calling the API"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with maas_serve(tmp_path_factory.mktemp("walkthrough")) as base:
        yield base


def run(script: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", *script], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_readme_block_is_copied_from_the_walkthrough():
    lines = readme_block()
    assert lines[0] == "BASE=http://127.0.0.1:8080"  # the walkthrough takes BASE as its argument instead
    script = set(WALKTHROUGH.read_text(encoding="utf-8").splitlines())
    missing = [line for line in lines[1:] if line not in script]
    assert missing == [], "README lines not in examples/walkthrough.sh"
    assert "2026-11-25" not in README.read_text(encoding="utf-8")  # no date that goes stale
    assert (ROOT / "examples" / "closure-cap.xml").is_file()


def test_walkthrough_runs_against_a_live_server(server):
    out = run([str(WALKTHROUGH), server])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    booking = re.search(r"booking (bk_\w+) CONFIRMED", text).group(1)
    assert f"{booking} CANCELLED" in text
    events = text[text.index("== 8."):text.index("== 9.")]
    assert f"booking.status {booking} CONFIRMED" in events and f"disrupted {booking}" in events
    assert f"booking.status {booking} CANCELLED" in events
    settlement = json.loads(next(line for line in text.splitlines() if line.startswith('{"operator"')))
    assert settlement["operator"] == "shuttle-nishishinjuku" and settlement["sales"] > 0
    assert settlement["refunds"] == settlement["sales"] and settlement["payable"] == 0
    assert text.rstrip().endswith("204")  # the closure was lifted


def test_readme_block_works_as_written(server, tmp_path):
    lines = readme_block()
    script = tmp_path / "readme.sh"
    script.write_text("set -euo pipefail\n" + "\n".join([f"BASE={server}", *lines[1:]]) + "\n", encoding="utf-8")
    out = run([str(script)])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert re.search(r"bk_\w+ CANCELLED", out.stdout) and out.stdout.rstrip().endswith("204")
    assert '"accepted":[{"id":"cap:tokyo-disaster-system:example-flood-tochomae"' in out.stdout
