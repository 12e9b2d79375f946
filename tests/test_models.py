from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ossdoc import models
from ossdoc.models import PRESETS, ModelError, Preset, resolve_model


def _make_parts(root: Path, name: str, count: int) -> tuple[Preset, bytes]:
    data = b""
    for n in range(1, count + 1):
        chunk = os.urandom(1000 + n)
        package = root / f"{name}{n}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{n:02d}.bin").write_bytes(chunk)
        data += chunk
    parts = tuple((f"{name}{n}", f"data/part{n:02d}.bin") for n in range(1, count + 1))
    preset = Preset("toy", "toy model", hashlib.sha256(data).hexdigest(), parts, "pip install toy")
    return preset, data


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "site"
    root.mkdir()
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))


def test_assembles_verifies_and_caches(site: Path, tmp_path: Path) -> None:
    preset, data = _make_parts(site, "toyparts_a", 3)
    cache = tmp_path / "cache"
    path = resolve_model("toy", cache, {"toy": preset})
    assert path.read_bytes() == data
    sidecar = cache / "toy.sha256.json"
    assert sidecar.exists()
    # A second resolve trusts the sidecar: neither re-assembled nor re-hashed.
    mtime = path.stat().st_mtime_ns
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models, "_assemble", None)
        patch.setattr(models, "_hash_file", None)
        assert resolve_model("toy", cache, {"toy": preset}) == path
    assert path.stat().st_mtime_ns == mtime


def test_a_crash_leftover_is_replaced(site: Path, tmp_path: Path) -> None:
    preset, data = _make_parts(site, "toyparts_d", 2)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "toy.gguf.partial").write_bytes(b"half a model")
    assert resolve_model("toy", cache, {"toy": preset}).read_bytes() == data
    assert sorted(p.name for p in cache.iterdir()) == ["toy.gguf", "toy.sha256.json"]


def test_hash_mismatch_refuses_and_leaves_nothing(site: Path, tmp_path: Path) -> None:
    preset, _ = _make_parts(site, "toyparts_b", 2)
    bad = Preset(preset.name, preset.description, "0" * 64, preset.parts, preset.install)
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match="does not match"):
        resolve_model("toy", cache, {"toy": bad})
    assert list(cache.iterdir()) == []


def test_tampered_cache_is_rebuilt(site: Path, tmp_path: Path) -> None:
    preset, data = _make_parts(site, "toyparts_c", 2)
    cache = tmp_path / "cache"
    path = resolve_model("toy", cache, {"toy": preset})
    path.write_bytes(b"tampered")
    assert resolve_model("toy", cache, {"toy": preset}).read_bytes() == data


def test_missing_package_names_the_fix(tmp_path: Path) -> None:
    preset = Preset(
        "ghost", "", "0" * 64, (("no_such_model_pkg1", "data/part01.bin"),), "pip install ghost-part1"
    )
    with pytest.raises(ModelError, match="pip install ghost-part1"):
        resolve_model("ghost", tmp_path, {"ghost": preset})


def test_unknown_name_and_plain_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown model"):
        resolve_model("no-such-preset", tmp_path)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model(str(gguf), tmp_path) == gguf


def test_bundled_presets_resolve_by_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = resolve_model("smollm2-135m", tmp_path)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"  # one part: used where it is installed
    assert (tmp_path / "smollm2-135m.sha256.json").exists()
    monkeypatch.setattr(models, "_hash_file", None)  # verified once: the sidecar is enough now
    assert resolve_model("smollm2-135m", tmp_path) == path
    assert set(PRESETS) >= {"qwen2.5-coder-0.5b", "smollm2-135m", "qwen2.5-coder-1.5b"}
