from __future__ import annotations

from pathlib import Path

from ossdoc.backends.state import admission
from ossdoc.backends.state.admission import SQLiteAdmission
from ossdoc.services.docs.admission import LocalAdmission


def test_places_are_counted_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "admission.sqlite3"
    first, second = SQLiteAdmission(path, owner=101), SQLiteAdmission(path, owner=102)
    assert first.admit(3) == 1
    assert second.admit(3) == 2
    assert first.admit(3) == 3
    assert second.admit(3) is None  # full, whoever asks
    assert first.taken() == second.taken() == 3
    second.release()
    assert first.admit(3) == 3


def test_a_dead_owner_places_are_reclaimed_and_a_start_clears_them(tmp_path: Path) -> None:
    path = tmp_path / "admission.sqlite3"
    dead, alive = SQLiteAdmission(path, owner=201), SQLiteAdmission(path, owner=202)
    assert dead.admit(2) == 1 and alive.admit(2) == 2
    assert alive.admit(2) is None
    admission.forget(path, 201)
    assert alive.admit(2) == 2
    admission.clear(path)
    assert alive.taken() == 0


def test_release_never_goes_below_zero() -> None:
    local = LocalAdmission()
    local.release()
    assert local.admit(1) == 1 and local.admit(1) is None
