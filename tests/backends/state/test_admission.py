from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ossdoc.backends.state import admission
from ossdoc.backends.state.admission import SQLiteAdmission
from ossdoc.backends.state.redis_admission import RedisAdmission
from ossdoc.backends.state.redis_client import RedisState
from ossdoc.services.docs.admission import Admission, LocalAdmission

OpenState = Callable[[str], RedisState]
Open = Callable[[str], Admission]
Forget = Callable[[str], None]


@pytest.fixture
def places(state_backend: str, tmp_path: Path, redis_states: OpenState) -> tuple[Open, Forget]:
    """Opens the admission of an owner (a process), and forgets a dead owner's places."""
    path = tmp_path / "admission.sqlite3"
    if state_backend == "sqlite":
        return (
            lambda owner: SQLiteAdmission(path, owner=int(owner)),
            lambda owner: admission.forget(path, int(owner)),
        )
    states = {}

    def open_redis(owner: str) -> Admission:
        states[owner] = redis_states(owner)
        return RedisAdmission(states[owner])

    def forget(owner: str) -> None:
        # As the supervisor does for a worker that exited (a replica that died: its key expires).
        reaper = redis_states("reaper")
        reaper.reap(owner_prefix=owner)

    return open_redis, forget


def test_places_are_counted_across_processes(places: tuple[Open, Forget]) -> None:
    open_, _ = places
    first, second = open_("101"), open_("102")
    assert first.admit(3) == 1
    assert second.admit(3) == 2
    assert first.admit(3) == 3
    assert second.admit(3) is None  # full, whoever asks
    assert first.taken() == second.taken() == 3
    second.release()
    assert first.admit(3) == 3


def test_a_dead_owner_places_are_reclaimed(places: tuple[Open, Forget]) -> None:
    open_, forget = places
    dead, alive = open_("201"), open_("202")
    assert dead.admit(2) == 1 and alive.admit(2) == 2
    assert alive.admit(2) is None
    forget("201")
    assert alive.admit(2) == 2


def test_a_start_clears_the_places_of_the_machine(tmp_path: Path) -> None:
    path = tmp_path / "admission.sqlite3"
    held = SQLiteAdmission(path, owner=301)
    assert held.admit(2) == 1
    admission.clear(path)
    assert held.taken() == 0


def test_a_redis_owner_whose_heartbeat_stops_is_reaped(redis_owners: OpenState) -> None:
    dead_state = redis_owners("host:401:aa")
    dead, alive = RedisAdmission(dead_state), RedisAdmission(redis_owners("host:402:bb"))
    assert dead.admit(1) == 1
    assert alive.admit(1) is None
    dead_state.client.delete(dead_state.alive_key(dead_state.owner))  # its last beat expired
    assert redis_owners("other").reap() == ["host:401:aa"]
    assert alive.admit(1) == 1


def test_a_lost_release_is_repaired_by_the_next_heartbeat(redis_owners: OpenState) -> None:
    state = redis_owners("host:501:aa")
    places = RedisAdmission(state)
    assert places.admit(5) == 1 and places.admit(5) == 2
    state.client.hset(state.key("places"), state.owner, 7)  # as if releases were lost
    state.beat()
    assert places.taken() == 2


def test_release_never_goes_below_zero() -> None:
    local = LocalAdmission()
    local.release()
    assert local.admit(1) == 1 and local.admit(1) is None
