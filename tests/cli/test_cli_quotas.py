"""Per-access-key quotas of document processing, through a real server (one machine, SQLite counts):
requests a minute (JSON, event stream and asynchronous submissions alike) and tokens a minute, the
server's defaults and a key's own, set with ``ossdoc keys``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_helpers import env_for, ok_json, ossdoc
from doc_http import error_code, make_bucket
from ossdoc_server import RunningServer, running
from quota_helpers import as_key, clear_of_the_minute_end, process, submit


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The environment's key has the default quota of 3 requests a minute."""
    with running(tmp_path_factory.mktemp("quotas") / "data", quota_rpm="3") as server:
        yield server


def new_key(server: RunningServer, tmp_path: Path, *flags: str) -> RunningServer:
    admin = env_for(None, tmp_path, OSSDOC_DATA=str(server.data))
    created = ok_json(admin, "keys", "create", "--no-config", *flags)
    return as_key(server, created["AccessKeyId"], created["AccessKeySecret"])


def test_the_default_request_quota_counts_every_kind_of_request(limited: RunningServer) -> None:
    clear_of_the_minute_end()
    bucket = make_bucket(limited)
    assert process(limited, bucket).status_code == 200
    assert process(limited, bucket, stream=True).status_code == 200
    assert submit(limited, bucket).status_code == 200
    refused = process(limited, bucket, stream=True)
    assert refused.status_code == 503 and error_code(refused) == "SlowDown"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "3 document requests" in refused.text and limited.access_key_id in refused.text
    assert error_code(submit(limited, bucket)) == "SlowDown"


def test_a_key_quota_set_with_the_cli_applies_at_once(limited: RunningServer, tmp_path: Path) -> None:
    clear_of_the_minute_end()
    user = new_key(limited, tmp_path, "--rpm", "1")
    bucket = make_bucket(limited)
    assert process(user, bucket).status_code == 200
    assert error_code(process(user, bucket)) == "SlowDown"
    admin = env_for(None, tmp_path, OSSDOC_DATA=str(limited.data))
    listed = {row["AccessKeyId"]: row for row in ok_json(admin, "keys", "list")}
    assert listed[user.access_key_id]["Quota"] == "rpm=1 tpm=default"
    changed = ossdoc(admin, "keys", "quota", user.access_key_id, "--rpm", "0")
    assert changed.returncode == 0 and "rpm=unlimited" in changed.stdout
    for _ in range(3):
        assert process(user, bucket).status_code == 200
    unknown = ossdoc(admin, "keys", "quota", "LTAInosuchkey", "--rpm", "1")
    assert unknown.returncode == 2 and "no key" in unknown.stderr
    nothing = ossdoc(admin, "keys", "quota", user.access_key_id)
    assert nothing.returncode == 2 and "--rpm" in nothing.stderr


def test_tokens_are_charged_when_a_generation_ends(limited: RunningServer, tmp_path: Path) -> None:
    clear_of_the_minute_end()
    user = new_key(limited, tmp_path, "--rpm", "0", "--tpm", "10")
    bucket = make_bucket(limited)
    first = process(user, bucket, "several words, more than ten tokens in all with the prompt")
    assert first.status_code == 200
    used = first.json()["Usage"]
    assert used["InputTokens"] + used["OutputTokens"] > 10
    refused = process(user, bucket, "another text")
    assert error_code(refused) == "SlowDown" and "10 model tokens" in refused.text
    assert re.fullmatch(r"\d+", refused.headers["Retry-After"])
