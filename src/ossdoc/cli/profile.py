"""The client config file, like ossutil's ``~/.ossutilconfig``: an endpoint and a key pair.

It lives at ``$OSSDOC_CONFIG``, else ``$XDG_CONFIG_HOME/ossdoc/config`` (``~/.config/ossdoc/config``),
is written atomically with mode 0600 and reads as INI::

    [Credentials]
    endpoint = http://127.0.0.1:8080
    accessKeyID = LTAI...
    accessKeySecret = ...
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path

SECTION = "Credentials"


@dataclass(frozen=True)
class Profile:
    endpoint: str = ""
    access_key_id: str = ""
    access_key_secret: str = ""


def default_path() -> Path:
    explicit = os.environ.get("OSSDOC_CONFIG", "")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME", "") or str(Path.home() / ".config")
    return Path(base) / "ossdoc" / "config"


def read(path: Path) -> Profile:
    """The profile in ``path``; an empty one when the file does not exist."""
    parser = configparser.ConfigParser(interpolation=None)
    if not parser.read(path, encoding="utf-8") or not parser.has_section(SECTION):
        return Profile()
    section = parser[SECTION]
    return Profile(
        section.get("endpoint", ""), section.get("accessKeyID", ""), section.get("accessKeySecret", "")
    )


def write(path: Path, profile: Profile) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep accessKeyID's case
    parser[SECTION] = {
        "endpoint": profile.endpoint,
        "accessKeyID": profile.access_key_id,
        "accessKeySecret": profile.access_key_secret,
    }
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        parser.write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
