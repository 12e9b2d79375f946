"""Run the ``ossdoc`` command as a user would, against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from ossdoc_server import RunningServer


def env_for(server: RunningServer | None, home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no OSSDOC_* of the caller's, a config dir of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSSDOC_")}
    env["XDG_CONFIG_HOME"] = str(home / "xdg")
    if server is not None:
        env.update(
            OSSDOC_ENDPOINT=server.endpoint,
            OSSDOC_ACCESS_KEY_ID=server.access_key_id,
            OSSDOC_ACCESS_KEY_SECRET=server.access_key_secret,
        )
    env.update(extra)
    return env


def ossdoc(
    env: dict[str, str], *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ossdoc", *args]
    return subprocess.run(
        command, env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def ok_json(env: dict[str, str], *args: str, cwd: Path | None = None) -> Any:
    result = ossdoc(env, *args, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def bucket_name() -> str:
    return f"cli-{uuid.uuid4().hex[:12]}"
