from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest

from ossdoc.keys import AccessKey, KeyError_, KeyRing, create, load_or_create, revoke, stored_keys


def test_first_start_generates_and_stores_a_pair(tmp_path: Path) -> None:
    ring, generated = load_or_create(tmp_path)
    assert generated is not None
    assert ring.secret_for(generated.id) == generated.secret
    keys_file = tmp_path / "keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    # The next start reads the same pair and has nothing new to print.
    again, new = load_or_create(tmp_path)
    assert new is None
    assert again.secret_for(generated.id) == generated.secret


def test_each_data_dir_gets_its_own_secret(tmp_path: Path) -> None:
    _, first = load_or_create(tmp_path / "a")
    _, second = load_or_create(tmp_path / "b")
    assert first is not None and second is not None
    assert first.secret != second.secret


def test_explicit_keys_win_and_must_come_in_pairs(tmp_path: Path) -> None:
    ring, generated = load_or_create(tmp_path, "LTAIexplicit", "s3cret")
    assert generated is None
    assert ring.secret_for("LTAIexplicit") == "s3cret"
    assert not (tmp_path / "keys.json").exists()
    with pytest.raises(ValueError):
        load_or_create(tmp_path, "LTAIonly", "")


def test_rings_see_keys_created_and_revoked_by_others(tmp_path: Path) -> None:
    # Two rings over one data dir stand for two worker processes.
    first = KeyRing(tmp_path)
    second = KeyRing(tmp_path, AccessKey("LTAIenv", "env-secret"))
    assert first.secret_for("LTAIenv") is None and second.secret_for("LTAIenv") == "env-secret"
    key = create(tmp_path, "one")
    assert first.secret_for(key.id) == key.secret and second.secret_for(key.id) == key.secret
    other = create(tmp_path, "two")
    assert [k.id for k in second.keys] == ["LTAIenv", key.id, other.id]
    revoke(tmp_path, key.id)
    assert first.secret_for(key.id) is None and second.secret_for(key.id) is None
    assert first.secret_for(other.id) == other.secret
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    with pytest.raises(KeyError_, match="last key"):
        revoke(tmp_path, other.id)
    with pytest.raises(KeyError_, match="OSSDOC_ACCESS_KEY_ID"):
        revoke(tmp_path, "LTAIenv", env_key_id="LTAIenv")


def test_a_damaged_keys_file_keeps_the_keys_read_before(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    key = create(tmp_path)
    assert ring.secret_for(key.id) == key.secret
    (tmp_path / "keys.json").write_text("{not json")
    assert ring.secret_for(key.id) == key.secret


def _create_many(data: str, count: int) -> None:
    for _ in range(count):
        create(Path(data))


def test_concurrent_writers_lose_no_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_create_many, args=(str(tmp_path), 10)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert len({key.id for key in stored_keys(tmp_path)}) == 40
