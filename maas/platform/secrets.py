"""Deployment secrets: the ticket signing key (QR payloads a gate checks offline) and the card-fingerprint HMAC key
(the sandbox provider's deterministic card tokens). They never live in the source code.

Where they come from, first match wins:
1. a JSON file (``maas serve --secrets FILE`` or ``MAAS_SECRETS_FILE``):
   ``{"ticket_signing_key": "...", "card_fingerprint_key": "..."}``, readable by its owner only (0600);
2. the environment: ``MAAS_TICKET_SIGNING_KEY`` and ``MAAS_CARD_FINGERPRINT_KEY``;
3. development mode only (``maas serve --dev``, what `make run` uses): ``dev-secrets.json`` in the data folder,
   generated with 0600 permissions the first time, so each data folder has its own keys.
Otherwise `maas serve` refuses to start. A key is at least ``MIN_KEY_CHARS`` characters.
"""
from __future__ import annotations

import json
import os
import secrets as _random
import stat
from dataclasses import dataclass, field
from pathlib import Path

MIN_KEY_CHARS = 32
FILE_ENV = "MAAS_SECRETS_FILE"
TICKET_ENV = "MAAS_TICKET_SIGNING_KEY"
CARD_ENV = "MAAS_CARD_FINGERPRINT_KEY"
DEV_FILE = "dev-secrets.json"
FIELDS = ("ticket_signing_key", "card_fingerprint_key")


class SecretsError(Exception):
    """The secrets are missing, too short, or stored insecurely; the message says what to do."""


@dataclass(frozen=True)
class Secrets:
    ticket_signing_key: bytes = field(repr=False)
    card_fingerprint_key: bytes = field(repr=False)
    source: str = "ephemeral"  # where they came from, for the start-up log (never the keys themselves)

    @classmethod
    def ephemeral(cls) -> "Secrets":
        """Random keys for this process only (library use and tests): tickets stop verifying after a restart."""
        return cls(_random.token_bytes(32), _random.token_bytes(32), "ephemeral")

    @classmethod
    def from_mapping(cls, values: dict, source: str) -> "Secrets":
        keys = []
        for name in FIELDS:
            value = values.get(name)
            if not isinstance(value, str) or len(value) < MIN_KEY_CHARS:
                raise SecretsError(f"{source}: {name} must be a string of at least {MIN_KEY_CHARS} characters "
                                   f"(e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
            keys.append(value.encode())
        if keys[0] == keys[1]:
            raise SecretsError(f"{source}: ticket_signing_key and card_fingerprint_key must differ")
        return cls(keys[0], keys[1], source)


def read_file(path: Path) -> Secrets:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretsError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
        values = json.loads(path.read_text())
    except OSError as exc:
        raise SecretsError(f"cannot read the secrets file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SecretsError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise SecretsError(f"{path} must hold a JSON object with {' and '.join(FIELDS)}")
    return Secrets.from_mapping(values, str(path))


def dev_secrets(data_dir: Path) -> Secrets:
    """The data folder's development keys, created (0600, never overwritten) on first use."""
    path = data_dir / DEV_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        body = json.dumps({name: _random.token_urlsafe(32) for name in FIELDS}, indent=2).encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
    return read_file(path)


def load_secrets(*, file: Path | None = None, dev: bool = False, data_dir: Path | None = None,
                 environ: dict | None = None) -> Secrets:
    """The deployment's secrets (see the module docstring), or ``SecretsError`` saying how to provide them."""
    env = os.environ if environ is None else environ
    file = file or (Path(env[FILE_ENV]) if env.get(FILE_ENV) else None)
    if file is not None:
        return read_file(file)
    if env.get(TICKET_ENV) or env.get(CARD_ENV):
        return Secrets.from_mapping({FIELDS[0]: env.get(TICKET_ENV), FIELDS[1]: env.get(CARD_ENV)}, "environment")
    if dev:
        if data_dir is None:
            raise SecretsError("development mode needs a data folder for its keys")
        return dev_secrets(data_dir)
    raise SecretsError(f"no secrets configured: pass --secrets FILE (JSON with {' and '.join(FIELDS)}, mode 0600), "
                       f"or set {TICKET_ENV} and {CARD_ENV}, or run with --dev for a development key kept in the "
                       "data folder")
