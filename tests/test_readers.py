"""Readers: every format, and every bad-input case named in the core issue, located by file:line."""
from __future__ import annotations

import pytest

from conftest import write_csv, write_jsonl
from lmtune.data import read_examples
from lmtune.errors import DataError


def test_csv_tsv_jsonl_parquet_read_the_same_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"review": "good film", "stars": "pos"}, {"review": "bad, awful \"film\"", "stars": "neg"}]
    write_csv(tmp_path / "a.csv", rows, ("review", "stars"))
    (tmp_path / "a.tsv").write_text("review\tstars\ngood film\tpos\nbad, awful \"film\"\tneg\n")
    write_jsonl(tmp_path / "a.jsonl", rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    for name in ("a.csv", "a.tsv", "a.jsonl", "a.parquet"):
        got = read_examples(tmp_path / name, text_column="review", label_column="stars").examples
        assert [(e.text, e.label) for e in got] == [("good film", "pos"), ('bad, awful "film"', "neg")], name


def test_integer_labels_become_strings_and_sources_are_located(tmp_path):
    write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": 1}, {"text": "b", "label": 0.0}])
    got = read_examples(tmp_path / "d.jsonl").examples
    assert [e.label for e in got] == ["1", "0"]
    assert got[1].source.endswith("d.jsonl:2")


def test_multiline_quoted_csv_field_keeps_line_numbers(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text('text,label\n"first\nstill first",a\n"",b\n')
    with pytest.raises(DataError) as err:
        read_examples(path)
    assert f"{path}:4" in str(err.value) and "empty" in str(err.value)


def expect_error(path, *fragments, **kwargs):
    with pytest.raises(DataError) as err:
        read_examples(path, **kwargs)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "Fix:" in message
    return message


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.csv", "file not found", "nope.csv")


def test_a_directory_given_as_a_data_file(tmp_path):
    (tmp_path / "data.csv").mkdir()
    expect_error(tmp_path / "data.csv", "is a directory, not a data file")


def test_wrong_column_names_lists_the_found_ones(tmp_path):
    write_csv(tmp_path / "c.csv", [{"sentence": "x", "y": "a"}], ("sentence", "y"))
    expect_error(tmp_path / "c.csv", "no text column 'text'", "'sentence'", "'y'", "c.csv:1")
    expect_error(tmp_path / "c.csv", "no label column 'label'", "'sentence'", text_column="sentence")


def test_empty_and_whitespace_text(tmp_path):
    write_csv(tmp_path / "e.csv", [{"text": "ok", "label": "a"}, {"text": "   ", "label": "b"}])
    expect_error(tmp_path / "e.csv", "e.csv:3", "empty or whitespace-only text")


def test_missing_label(tmp_path):
    write_jsonl(tmp_path / "l.jsonl", [{"text": "ok", "label": "a"}, {"text": "fine"}])
    expect_error(tmp_path / "l.jsonl", "l.jsonl:2", "missing label")


def test_non_utf8_bytes_named_by_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\nok,a\ncaf\xe9 au lait,b\n".encode("latin-1"))
    expect_error(path, "latin.csv:3", "not UTF-8", "iconv")


def test_malformed_jsonl_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "label": "a"}\n{"text": "broken", "label": \n')
    expect_error(path, "bad.jsonl:2", "malformed JSON")


def test_csv_row_with_wrong_field_count(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("text,label\nok,a\nnot, quoted, b\n")
    expect_error(path, "f.csv:3", "3 fields where the header has 2")


def test_duplicate_header_names_are_refused(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("text,label,text\nthe real text,a,other column\n")
    expect_error(path, "f.csv:1", "column 'text' appears twice in the header (columns 1 and 3)")


def test_a_field_longer_than_csvs_default_limit_is_read(tmp_path):
    long = "word " * 40_000  # 200,000 characters: csv's default limit is 131,072
    path = write_csv(tmp_path / "f.csv", [{"text": long, "label": "a"}, {"text": "short", "label": "b"}])
    examples = read_examples(path).examples
    assert [len(e.text) for e in examples] == [len(long), 5]


def test_unknown_extension(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("x")
    expect_error(path, "cannot tell the format")


def test_skip_mode_collects_every_bad_row_and_keeps_the_good(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"text": "good one", "label": "a"}\n'
                     b'{"text": "", "label": "a"}\n'
                     b'not json\n'
                     b'{"text": "caf\xe9", "label": "b"}\n'
                     b'{"text": "no label"}\n'
                     b'{"text": "another good", "label": "b"}\n')
    result = read_examples(path, on_bad_rows="skip")
    assert [e.text for e in result.examples] == ["good one", "another good"]
    assert [r.line for r in result.rejects] == [4, 2, 3, 5]  # decoding is checked first, then rows
    assert all(r.reason for r in result.rejects)


def test_unlabeled_read_for_prediction(tmp_path):
    (tmp_path / "p.txt").write_text("first text\n\nsecond text\n")
    got = read_examples(tmp_path / "p.txt", label_column=None, require_label=False).examples
    assert [(e.text, e.label) for e in got] == [("first text", None), ("second text", None)]
    assert got[1].source.endswith("p.txt:3")
