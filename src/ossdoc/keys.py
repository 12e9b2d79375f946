"""Access key pairs: from the environment, or a keys file in the data dir, generated on first start."""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

KEYS_FILE = "keys.json"
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class AccessKey:
    id: str
    secret: str


class KeyRing:
    """The KeyStore the signature checks consult."""

    def __init__(self, keys: list[AccessKey]) -> None:
        self._secrets = {key.id: key.secret for key in keys}
        self.keys = keys

    def secret_for(self, access_key_id: str) -> str | None:
        return self._secrets.get(access_key_id)


def generate() -> AccessKey:
    key_id = "LTAI" + "".join(secrets.choice(_ALPHABET) for _ in range(20))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(30))
    return AccessKey(key_id, secret)


def load_or_create(data_dir: Path, key_id: str = "", secret: str = "") -> tuple[KeyRing, AccessKey | None]:
    """The key ring, and the key pair if it was generated just now (to be printed once).

    Keys given explicitly win; else ``<data>/keys.json`` (a list of {"id", "secret"}); else a new pair
    is generated and stored there with mode 0600. There is no built-in default secret."""
    if key_id and secret:
        return KeyRing([AccessKey(key_id, secret)]), None
    if key_id or secret:
        raise ValueError("OSSDOC_ACCESS_KEY_ID and OSSDOC_ACCESS_KEY_SECRET must be set together")
    path = data_dir / KEYS_FILE
    if path.exists():
        entries = json.loads(path.read_text())
        return KeyRing([AccessKey(e["id"], e["secret"]) for e in entries]), None
    data_dir.mkdir(parents=True, exist_ok=True)
    key = generate()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump([{"id": key.id, "secret": key.secret}], fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return KeyRing([key]), key
