from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ossdoc.keys import load_or_create


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
