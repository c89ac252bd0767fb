"""The CLI's one way to send a body to a running server: standard library only (urllib), errors as data."""
from __future__ import annotations

import json
import urllib.error
import urllib.request


def post(url: str, key: str, data: bytes, content_type: str, timeout: float) -> tuple[int, dict]:
    """POST ``data`` with a bearer key; returns (HTTP status, JSON body). A non-JSON error body becomes ``detail``."""
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": content_type, "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        body = err.read()
        try:
            return err.code, json.loads(body)
        except ValueError:
            return err.code, {"detail": body.decode("utf-8", "replace")}
