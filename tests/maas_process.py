"""Run a real `maas serve` (the built-in sample, the dev keys) in a subprocess for end-to-end tests: the browser
test and the walkthrough talk to it over HTTP exactly as a user would after `make run`."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV_KEYS = ROOT / "examples" / "dev-keys.json"
START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def maas_serve(data_dir: Path, *args: str):
    """Start `maas serve --dev --port FREE --keys examples/dev-keys.json ARGS` (as `make run`), wait until /readyz answers 200, yield the
    base URL; stop it (SIGTERM, then SIGKILL) afterwards. Its log is data_dir/serve.log."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "serve.log", "wb")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MAAS_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "-m", "maas.cli", "serve", "--dev", "--host", "127.0.0.1", "--port", str(port),
           "--keys", str(DEV_KEYS), *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"maas serve exited with {proc.returncode}: "
                                   f"{(data_dir / 'serve.log').read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"maas serve did not become ready in {START_TIMEOUT_S:.0f} s")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
