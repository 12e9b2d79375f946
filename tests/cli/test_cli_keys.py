"""``ossdoc keys``: a key created is accepted at once by a running server, a key revoked is refused
at once; the config file it writes is what the other commands use."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from cli_helpers import env_for, ok_json, ossdoc
from ossdoc_server import RunningServer, running


def test_create_use_list_and_revoke_against_a_running_server(server: RunningServer, tmp_path: Path) -> None:
    admin = env_for(None, tmp_path, OSSDOC_DATA=str(server.data), OSSDOC_ENDPOINT=server.endpoint)
    created = ossdoc(admin, "keys", "create", "--description", "for the test")
    assert created.returncode == 0, created.stderr
    assert "AccessKeyId:" in created.stdout and "AccessKeySecret:" in created.stdout
    config = tmp_path / "xdg" / "ossdoc" / "config"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert f"endpoint = {server.endpoint}" in config.read_text()
    key_id = created.stdout.split()[1]

    # A user with nothing but the config file: the new key works without a restart.
    user = env_for(None, tmp_path)
    assert ossdoc(user, "ls").returncode == 0
    second = ok_json(admin, "keys", "create", "--no-config")
    assert second["Config"] == "" and second["AccessKeyId"] != key_id
    listed = ok_json(admin, "keys", "list")
    ids = [row["AccessKeyId"] for row in listed]
    assert key_id in ids and second["AccessKeyId"] in ids
    assert all("Secret" not in json.dumps(row) for row in listed)

    revoked = ossdoc(admin, "keys", "revoke", key_id)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    refused = ossdoc(user, "ls")
    assert refused.returncode == 1 and "InvalidAccessKeyId" in refused.stderr and "revoked" in refused.stderr
    assert key_id not in [row["AccessKeyId"] for row in ok_json(admin, "keys", "list")]
    again = ossdoc(admin, "keys", "revoke", key_id)
    assert again.returncode == 2 and "no key" in again.stderr
    # The environment's key is listed, and cannot be revoked from the store.
    with_env = {**admin, "OSSDOC_ACCESS_KEY_ID": server.access_key_id, "OSSDOC_ACCESS_KEY_SECRET": "x"}
    assert ok_json(with_env, "keys", "list")[0]["Source"] == "environment"
    env_revoke = ossdoc(with_env, "keys", "revoke", server.access_key_id)
    assert env_revoke.returncode == 2 and "OSSDOC_ACCESS_KEY_ID" in env_revoke.stderr


def test_two_server_processes_on_one_data_dir_see_changes_at_once(tmp_path: Path) -> None:
    # Two processes serving one data dir stand for the workers of one server.
    data = tmp_path / "data"
    admin = env_for(None, tmp_path, OSSDOC_DATA=str(data))

    def user(server: RunningServer, key: dict[str, str]) -> dict[str, str]:
        return env_for(
            None,
            tmp_path,
            OSSDOC_ENDPOINT=server.endpoint,
            OSSDOC_ACCESS_KEY_ID=key["AccessKeyId"],
            OSSDOC_ACCESS_KEY_SECRET=key["AccessKeySecret"],
        )

    with running(data) as first, running(data) as second:
        kept = ok_json(admin, "keys", "create", "--no-config")
        key = ok_json(admin, "keys", "create", "--no-config")
        for server in (first, second):
            assert ossdoc(user(server, key), "ls").returncode == 0
        assert ossdoc(admin, "keys", "revoke", key["AccessKeyId"]).returncode == 0
        for server in (first, second):
            refused = ossdoc(user(server, key), "ls")
            assert refused.returncode == 1 and "InvalidAccessKeyId" in refused.stderr
            assert ossdoc(user(server, kept), "ls").returncode == 0
