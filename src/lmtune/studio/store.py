"""The studio's state in one SQLite file (DIR/studio.db): the pool, the labels and their history,
the classes and their descriptions, the trainings.

WAL journal, one short transaction per change: a label is on disk the moment the request that
gave it returns, so a killed server or a closed tab loses nothing, and the training worker (another
process) writes its progress while the server reads. Every label carries a version: a change made
from a page that saw an older version is refused, never written over another tab's label.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ..data.minhash import normalise

DB_FILE = "studio.db"
LEASE_SECONDS = 120  # a text shown to one tab is not offered to another for this long

SCHEMA = """
CREATE TABLE IF NOT EXISTS texts (
  id INTEGER PRIMARY KEY, text TEXT NOT NULL, source TEXT, digest TEXT NOT NULL UNIQUE,
  rank REAL NOT NULL, predicted TEXT, confidence REAL,
  skipped INTEGER NOT NULL DEFAULT 0, shown_until REAL NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS texts_queue ON texts (skipped, rank);
CREATE TABLE IF NOT EXISTS labels (
  text_id INTEGER PRIMARY KEY REFERENCES texts (id), label TEXT NOT NULL, version INTEGER NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY, text_id INTEGER NOT NULL, label TEXT, previous TEXT, kind TEXT NOT NULL,
  at REAL NOT NULL, undone INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS classes (name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS trainings (
  id INTEGER PRIMARY KEY, status TEXT NOT NULL, pid INTEGER, started REAL NOT NULL, finished REAL,
  labels INTEGER NOT NULL, progress TEXT NOT NULL DEFAULT '{}', message TEXT NOT NULL DEFAULT '',
  restarts INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

ACTIVE = ("starting", "running")  # a training in one of these holds the single training slot


@dataclass
class Text:
    id: int
    text: str
    source: str | None
    predicted: str | None
    confidence: float | None
    label: str | None
    version: int  # of its label; 0 = never labeled


@dataclass
class Outcome:
    ok: bool
    message: str = ""


def digest(text: str) -> str:
    return hashlib.sha1(normalise(text).encode("utf-8")).hexdigest()


class Store:
    def __init__(self, directory: str | Path):
        self.path = Path(directory) / DB_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.executescript(SCHEMA)

    @contextlib.contextmanager
    def connect(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        try:
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def write(self):
        """One transaction that takes the write lock at once (no upgrade deadlock between processes)."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- settings and classes
    def get_meta(self, key: str, default=None):
        with self.connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def set_meta(self, key: str, value) -> None:
        with self.write() as db:
            db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                       (key, json.dumps(value)))

    def classes(self) -> list[dict]:
        with self.connect() as db:
            return [dict(r) for r in db.execute("SELECT name, description FROM classes ORDER BY position")]

    def class_names(self) -> list[str]:
        return [c["name"] for c in self.classes()]

    def add_classes(self, names: list[str], descriptions: dict[str, str] | None = None) -> None:
        descriptions = descriptions or {}
        with self.write() as db:
            position = db.execute("SELECT COALESCE(MAX(position), -1) FROM classes").fetchone()[0]
            for name in names:
                if db.execute("SELECT 1 FROM classes WHERE name = ?", (name,)).fetchone():
                    if name in descriptions:
                        db.execute("UPDATE classes SET description = ? WHERE name = ?", (descriptions[name], name))
                    continue
                position += 1
                db.execute("INSERT INTO classes VALUES (?, ?, ?)", (name, descriptions.get(name, ""), position))

    def set_description(self, name: str, description: str) -> None:
        with self.write() as db:
            db.execute("UPDATE classes SET description = ? WHERE name = ?", (description.strip(), name))

    # -- the pool
    def add_texts(self, rows: list[tuple[str, str | None, str | None]], seed: int = 42) -> dict:
        """(text, source, label or None) rows; a text already in the pool (same normalised words)
        is counted, not added twice. New texts join the queue in a seeded random order."""
        import random

        rng = random.Random(f"{seed}:{self.count_texts()}")
        added = duplicates = labeled = 0
        with self.write() as db:
            for text, source, label in rows:
                key = digest(text)
                if db.execute("SELECT 1 FROM texts WHERE digest = ?", (key,)).fetchone():
                    duplicates += 1
                    continue
                cursor = db.execute("INSERT INTO texts (text, source, digest, rank) VALUES (?, ?, ?, ?)",
                                    (text, source, key, 1e6 + rng.random()))
                added += 1
                if label is not None:
                    self._set_label(db, cursor.lastrowid, label, "import")
                    labeled += 1
        return {"added": added, "duplicates": duplicates, "labeled": labeled}

    def count_texts(self) -> int:
        with self.connect() as db:
            return db.execute("SELECT COUNT(*) FROM texts").fetchone()[0]

    def get(self, text_id: int) -> Text | None:
        with self.connect() as db:
            row = db.execute("SELECT t.*, l.label, COALESCE(l.version, 0) AS version FROM texts t "
                             "LEFT JOIN labels l ON l.text_id = t.id WHERE t.id = ?", (text_id,)).fetchone()
        return _text(row) if row else None

    def next_to_label(self, now: float | None = None) -> Text | None:
        """The first unlabeled text in queue order that no other tab holds; it is held for this one."""
        now = time.time() if now is None else now
        with self.write() as db:
            row = db.execute("SELECT t.*, NULL AS label, 0 AS version FROM texts t WHERE NOT EXISTS "
                             "(SELECT 1 FROM labels l WHERE l.text_id = t.id) AND t.shown_until < ? "
                             "ORDER BY t.skipped, t.rank LIMIT 1", (now,)).fetchone()
            if row is not None:
                db.execute("UPDATE texts SET shown_until = ? WHERE id = ?", (now + LEASE_SECONDS, row["id"]))
        return _text(row) if row else None

    def skip(self, text_id: int) -> None:
        """To the back of the queue (skipped texts come after every unskipped one)."""
        with self.write() as db:
            db.execute("UPDATE texts SET skipped = skipped + 1, shown_until = 0 WHERE id = ?", (text_id,))

    # -- labels
    def label(self, text_id: int, label: str, seen_version: int, kind: str = "label") -> Outcome:
        """Set a text's label if it still has the version the page showed; else say who won."""
        with self.write() as db:
            if label not in {r[0] for r in db.execute("SELECT name FROM classes")}:
                return Outcome(False, f"{label!r} is not one of the labels")
            if not db.execute("SELECT 1 FROM texts WHERE id = ?", (text_id,)).fetchone():
                return Outcome(False, f"there is no text {text_id}")
            current = db.execute("SELECT label, version FROM labels WHERE text_id = ?", (text_id,)).fetchone()
            version = current["version"] if current else 0
            if version != seen_version:
                return Outcome(False, f"this text was labeled {current['label']!r} meanwhile (another tab?); "
                                      "that label is kept" if current else "this text's label was removed meanwhile")
            if current and current["label"] == label:
                return Outcome(True)
            self._set_label(db, text_id, label, kind)
        return Outcome(True)

    def _set_label(self, db, text_id: int, label: str, kind: str) -> None:
        current = db.execute("SELECT label, version FROM labels WHERE text_id = ?", (text_id,)).fetchone()
        db.execute("INSERT INTO labels VALUES (?, ?, 1, ?) ON CONFLICT (text_id) DO UPDATE SET label = excluded.label, "
                   "version = labels.version + 1, at = excluded.at", (text_id, label, time.time()))
        db.execute("INSERT INTO events (text_id, label, previous, kind, at) VALUES (?, ?, ?, ?, ?)",
                   (text_id, label, current["label"] if current else None, kind, time.time()))
        db.execute("UPDATE texts SET shown_until = 0 WHERE id = ?", (text_id,))

    def undo(self) -> int | None:
        """Take back the latest label given here (not one imported); returns its text's id."""
        with self.write() as db:
            event = db.execute("SELECT * FROM events WHERE undone = 0 AND kind IN ('label', 'fix') "
                               "ORDER BY id DESC LIMIT 1").fetchone()
            if event is None:
                return None
            if event["previous"] is None:
                db.execute("DELETE FROM labels WHERE text_id = ?", (event["text_id"],))
            else:
                db.execute("UPDATE labels SET label = ?, version = version + 1, at = ? WHERE text_id = ?",
                           (event["previous"], time.time(), event["text_id"]))
            db.execute("UPDATE events SET undone = 1 WHERE id = ?", (event["id"],))
            db.execute("INSERT INTO events (text_id, label, previous, kind, at) VALUES (?, ?, ?, 'undo', ?)",
                       (event["text_id"], event["previous"], event["label"], time.time()))
        return event["text_id"]

    def labeled(self) -> list[Text]:
        with self.connect() as db:
            rows = db.execute("SELECT t.*, l.label, l.version FROM texts t JOIN labels l ON l.text_id = t.id "
                              "ORDER BY t.id").fetchall()
        return [_text(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self.connect() as db:
            counted = dict(db.execute("SELECT label, COUNT(*) FROM labels GROUP BY label").fetchall())
        return {name: counted.get(name, 0) for name in self.class_names()}

    def unlabeled(self) -> list[Text]:
        with self.connect() as db:
            rows = db.execute("SELECT t.*, NULL AS label, 0 AS version FROM texts t WHERE NOT EXISTS "
                              "(SELECT 1 FROM labels l WHERE l.text_id = t.id) ORDER BY t.id").fetchall()
        return [_text(r) for r in rows]

    def predictions(self, label: str | None = None, max_confidence: float | None = None, limit: int = 50,
                    offset: int = 0) -> tuple[list[Text], int]:
        """Unlabeled texts with the current model's guess, least confident first."""
        where, args = ["NOT EXISTS (SELECT 1 FROM labels l WHERE l.text_id = t.id)", "t.predicted IS NOT NULL"], []
        if label:
            where.append("t.predicted = ?")
            args.append(label)
        if max_confidence is not None:
            where.append("t.confidence <= ?")
            args.append(max_confidence)
        clause = " AND ".join(where)
        with self.connect() as db:
            total = db.execute(f"SELECT COUNT(*) FROM texts t WHERE {clause}", args).fetchone()[0]
            rows = db.execute(f"SELECT t.*, NULL AS label, 0 AS version FROM texts t WHERE {clause} "
                              "ORDER BY t.confidence, t.id LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        return [_text(r) for r in rows], total

    def set_predictions(self, rows: list[tuple[int, str, float, float]]) -> None:
        """(text id, predicted label, confidence, queue rank) for the pool, all in one transaction:
        pages keep showing the previous model's guesses until the new ones are complete."""
        with self.write() as db:
            db.executemany("UPDATE texts SET predicted = ?, confidence = ?, rank = ?, skipped = 0 WHERE id = ?",
                           [(p, c, r, i) for i, p, c, r in rows])

    # -- trainings
    def start_training(self, labels: int) -> int | None:
        """A new training row, or None while another holds the slot (one training at a time)."""
        with self.write() as db:
            if db.execute(f"SELECT 1 FROM trainings WHERE status IN {ACTIVE}").fetchone():
                return None
            return db.execute("INSERT INTO trainings (status, started, labels) VALUES ('starting', ?, ?)",
                              (time.time(), labels)).lastrowid

    def restart_training(self, training_id: int) -> bool:
        with self.write() as db:
            if db.execute(f"SELECT 1 FROM trainings WHERE status IN {ACTIVE}").fetchone():
                return False
            changed = db.execute("UPDATE trainings SET status = 'starting', restarts = restarts + 1, finished = NULL, "
                                 "message = '' WHERE id = ? AND status IN ('interrupted', 'cancelled', 'failed')",
                                 (training_id,)).rowcount
        return bool(changed)

    def update_training(self, training_id: int, **fields) -> None:
        if "progress" in fields:
            fields["progress"] = json.dumps(fields["progress"])
        columns = ", ".join(f"{key} = ?" for key in fields)
        with self.write() as db:
            db.execute(f"UPDATE trainings SET {columns} WHERE id = ?", [*fields.values(), training_id])

    def trainings(self) -> list[dict]:
        with self.connect() as db:
            rows = db.execute("SELECT * FROM trainings ORDER BY id DESC").fetchall()
        return [{**dict(r), "progress": json.loads(r["progress"])} for r in rows]

    def active_training(self) -> dict | None:
        return next((t for t in self.trainings() if t["status"] in ACTIVE), None)


def _text(row) -> Text:
    return Text(id=row["id"], text=row["text"], source=row["source"], predicted=row["predicted"],
                confidence=row["confidence"], label=row["label"], version=row["version"])
