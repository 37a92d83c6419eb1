"""lmtune studio: the store (labels, versions, undo, queue), and the app's pages and guards
(token, CSRF, origin, host, upload size, escaping, paths), in process; no training here
(test_studio_live.py trains through real server processes and a real browser)."""
from __future__ import annotations

import re
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from conftest import sentiment_rows, write_csv  # noqa: E402
from lmtune.errors import ConfigError, DataError  # noqa: E402
from lmtune.studio.launch import prepare  # noqa: E402
from lmtune.studio.security import inside, safe_name  # noqa: E402
from lmtune.studio.store import LEASE_SECONDS, Store  # noqa: E402

TOKEN = "a-test-token-of-some-length"
SCRIPT = "<script>alert('owned')</script> a good film"


@pytest.fixture
def studio_dir(tmp_path, tiny_backbone):
    rows = [{"text": r["text"]} for r in sentiment_rows(10, seed=4)] + [{"text": SCRIPT}]
    pool = write_csv(tmp_path / "pool.csv", rows, columns=("text",))
    prepare(tmp_path / "studio", data=pool, labels=["pos", "neg"], model=str(tiny_backbone), log=lambda m: None)
    return tmp_path / "studio"


@pytest.fixture
def client(studio_dir):
    from fastapi.testclient import TestClient

    from lmtune.studio.app import create_app

    app = create_app(studio_dir, TOKEN, {"testserver"}, max_upload_mb=0.01)
    with TestClient(app) as client:
        assert client.get(f"/label?token={TOKEN}").status_code == 200  # the cookie is set on the way
        yield client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="(\w+)"', html).group(1)


def shown(html: str) -> tuple[int, int]:
    """(text id, label version) of the text the label page shows."""
    return (int(re.search(r'name="text_id" value="(\d+)"', html).group(1)),
            int(re.search(r'name="version" value="(\d+)"', html).group(1)))


# -- the store
def test_labels_persist_with_versions_and_a_stale_page_cannot_overwrite(studio_dir):
    store = Store(studio_dir)
    first = store.next_to_label()
    assert store.label(first.id, "pos", 0).ok
    # a second tab that showed the same text before it was labeled
    stale = store.label(first.id, "neg", 0)
    assert not stale.ok and "meanwhile" in stale.message
    assert Store(studio_dir).get(first.id).label == "pos"  # a new connection reads it: it is on disk
    assert store.label(first.id, "neg", 1).ok and store.get(first.id).version == 2
    assert not store.label(first.id, "unknown", 2).ok


def test_two_tabs_are_offered_different_texts_and_skip_goes_to_the_back(studio_dir):
    store = Store(studio_dir)
    one, two = store.next_to_label(), store.next_to_label()
    assert one.id != two.id
    store.skip(one.id)
    after_lease = time.time() + LEASE_SECONDS + 1  # two's lease has run out, one is at the back
    assert store.next_to_label(now=after_lease).id == two.id
    pool = store.count_texts()
    later = 10 ** 10  # every lease above long expired; each call below holds the text it gets
    seen = [store.next_to_label(now=later).id for _ in range(pool)]
    assert sorted(seen) == sorted(t.id for t in store.unlabeled()) and seen[-1] == one.id  # skipped: last
    assert store.next_to_label(now=later) is None  # every text is held


def test_undo_takes_back_the_latest_label_and_restores_a_corrected_one(studio_dir):
    store = Store(studio_dir)
    a, b = store.next_to_label(), store.next_to_label()
    store.label(a.id, "pos", 0)
    store.label(b.id, "neg", 0)
    store.label(a.id, "neg", 1, kind="fix")
    assert store.undo() == a.id and store.get(a.id).label == "pos"
    assert store.undo() == b.id and store.get(b.id).label is None
    assert store.undo() == a.id and store.get(a.id).label is None
    assert store.undo() is None


def test_importing_counts_duplicates_and_rejects_and_takes_labels(tmp_path, tiny_backbone):
    path = tmp_path / "pool.jsonl"
    path.write_text('{"text": "good film", "label": "pos"}\n{"text": "Good   film"}\n{"text": ""}\n'
                    '{"text": "bad film"}\n', encoding="utf-8")
    store = prepare(tmp_path / "s", data=path, model=str(tiny_backbone), log=lambda m: None)
    imported = store.get_meta("imports")[-1]
    assert (imported["added"], imported["labeled"], imported["duplicates"], imported["rejected"]) == (2, 1, 1, 1)
    assert "pool.jsonl:3" in imported["rejects"][0]  # the empty text, named by its line
    assert store.class_names() == ["pos"] and store.counts() == {"pos": 1}


def test_prepare_refuses_wrong_settings_before_serving(tmp_path):
    with pytest.raises(ConfigError):
        prepare(tmp_path / "s", overrides=["training.epochs=many"], log=lambda m: None)
    with pytest.raises(ConfigError, match="acquisition"):
        prepare(tmp_path / "s", strategy="psychic", log=lambda m: None)


def test_paths_stay_inside_the_studio(tmp_path):
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\..\\boot.ini") == "boot.ini"
    assert safe_name(".bashrc") == "bashrc"
    assert inside(tmp_path, "uploads", "x.csv") == (tmp_path / "uploads" / "x.csv").resolve()
    with pytest.raises(DataError, match="outside"):
        inside(tmp_path, "trainings", "..", "..", "secret")


# -- the app
def test_requests_without_the_token_are_refused(studio_dir):
    from fastapi.testclient import TestClient

    from lmtune.studio.app import create_app

    with TestClient(create_app(studio_dir, TOKEN, {"testserver"})) as anonymous:
        for path in ("/label", "/api/training", "/export/labels.csv", "/static/studio.js"):
            assert anonymous.get(path).status_code == 403
        assert anonymous.get("/label?token=wrong").status_code == 403
        assert anonymous.post("/undo", data={"csrf": "x"}).status_code == 403
        assert anonymous.get("/api/training", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        landing = anonymous.get(f"/predictions?label=pos&token={TOKEN}", follow_redirects=False)
        assert landing.status_code == 303 and landing.headers["location"] == "/predictions?label=pos"  # token dropped
        cookie = landing.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert anonymous.get("/label", headers={"Host": "evil.example:80"}).status_code == 400


def test_state_changes_need_the_csrf_token_and_the_studio_origin(client):
    text_id, version = shown(client.get("/label").text)
    form = {"text_id": text_id, "label": "pos", "version": version}
    assert client.post("/label", data=form).status_code == 403  # no CSRF field
    assert client.post("/label", data={**form, "csrf": "0" * 64}).status_code == 403
    csrf = csrf_of(client.get("/label").text)
    assert client.post("/label", data={**form, "csrf": csrf}, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post("/label", data={**form, "csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    ok = client.post("/label", data={**form, "csrf": csrf}, headers={"Origin": "http://testserver"})
    assert ok.status_code == 200 and "1 labeled of" in ok.text


def test_every_text_is_escaped_and_pages_forbid_inline_script(client, studio_dir):
    store = Store(studio_dir)
    target = next(t for t in store.unlabeled() if t.text == SCRIPT)
    page = client.get(f"/label?text={target.id}")
    assert "&lt;script&gt;alert(" in page.text and "<script>alert" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    store.label(target.id, "pos", 0)
    assert "<script>alert" not in client.get("/report").text


def test_labeling_by_form_skip_undo_and_descriptions(client, studio_dir):
    page = client.get("/label").text
    text_id, version = shown(page)
    csrf = csrf_of(page)
    after = client.post("/label", data={"text_id": text_id, "label": "neg", "version": version, "csrf": csrf})
    assert shown(after.text)[0] != text_id  # the next text
    undone = client.post("/undo", data={"csrf": csrf})
    assert shown(undone.text)[0] == text_id and "taken back" in undone.text
    skipped = client.post("/skip", data={"text_id": text_id, "csrf": csrf})
    assert shown(skipped.text)[0] != text_id
    client.post("/classes/description", data={"name": "pos", "description": "a review that liked the film", "csrf": csrf})
    assert Store(studio_dir).classes()[0]["description"] == "a review that liked the film"
    client.post("/classes", data={"name": "mixed", "csrf": csrf})
    assert Store(studio_dir).class_names() == ["pos", "neg", "mixed"]


def test_training_waits_for_two_labels_of_every_class(client):
    page = client.get("/train")
    assert "label at least 2 texts of every class" in page.text and 'id="start" disabled' in page.text
    refused = client.post("/train/start", data={"csrf": csrf_of(page.text)})
    assert "label at least 2" in refused.text
    assert client.get("/api/training").json()["training"] is None


def test_uploads_are_size_limited_and_named_safely(client, studio_dir):
    csrf = csrf_of(client.get("/data").text)
    small = b"text\nan excellent film\n"
    done = client.post("/data", data={"csrf": csrf}, files={"file": ("../../../evil name.csv", small, "text/csv")})
    assert done.status_code == 200 and "1 texts added" in done.text
    uploads = list((studio_dir / "uploads").iterdir())
    assert len(uploads) == 1 and uploads[0].name.endswith("-evil_name.csv")
    big = b"text\n" + b"a very long film review\n" * 1000  # over the 0.01 MB limit of this app
    assert client.post("/data", data={"csrf": csrf}, files={"file": ("big.csv", big, "text/csv")}).status_code == 413


def test_images_and_exports_only_from_inside_the_studio(client):
    assert client.get("/files/1/..%2F..%2Fstudio.db").status_code == 404
    assert client.get("/files/1/budget.png").status_code == 404  # no training yet
    assert client.get("/export/labels.txt").status_code == 404
    assert client.get("/export/model.zip").status_code == 404
    assert client.get("/export/labels.csv").text.splitlines()[0] == "text,label,source"


def test_descriptions_reach_auto_and_each_training_gets_its_own_snapshot(tmp_path, tiny_backbone):
    from lmtune.studio.worker import SETTINGS, config, snapshot

    described = tmp_path / "labels.yaml"
    described.write_text("pos: a review that liked the film\nneg: a review that did not\n", encoding="utf-8")
    rows = sentiment_rows(5, seed=6)
    for row in rows[:2]:
        row["label"] = ""  # two texts without a label: the unlabeled pool
    pool = write_csv(tmp_path / "pool.csv", rows)
    store = prepare(tmp_path / "s", data=pool, descriptions=described, model=str(tiny_backbone),
                    overrides=["training.epochs=2"], log=lambda m: None)
    assert store.classes()[0] == {"name": "pos", "description": "a review that liked the film"}
    folder = tmp_path / "s" / "trainings" / "1"
    folder.mkdir(parents=True)
    assert snapshot(store, folder) == {"labeled": 8, "unlabeled": 2}
    assert len((folder / "labeled.csv").read_text().splitlines()) == 9
    cfg = config(store, folder, store.get_meta(SETTINGS))
    assert cfg.method.name == "auto" and cfg.method.options()["label_descriptions"]["neg"] == "a review that did not"
    assert cfg.data.unlabeled.endswith("unlabeled.jsonl") and cfg.training.epochs == 2
    assert cfg.output_dir == str(folder / "run") and cfg.data.dev_size == 0 and cfg.data.test_size == 0


def test_the_studio_binds_beyond_localhost_only_when_told(tmp_path):
    from lmtune.studio.launch import serve

    with pytest.raises(ConfigError, match="--expose"):
        serve(tmp_path / "s", host="0.0.0.0", port=8999, log=lambda m: None)


def test_redirects_stay_on_the_site_and_bad_lengths_are_refused(client):
    page = client.get("/label").text
    text_id, version = shown(page)
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
        moved = client.post("/label", data={"text_id": text_id, "label": "pos", "version": version,
                                            "csrf": csrf_of(page), "to": target}, follow_redirects=False)
        assert moved.status_code == 303 and moved.headers["location"].startswith("/label")  # later ones: a conflict
    bad = client.post("/undo", content=b"csrf=x", headers={"Content-Length": "12abc",
                                                           "Content-Type": "application/x-www-form-urlencoded"})
    assert bad.status_code in (400, 411)
