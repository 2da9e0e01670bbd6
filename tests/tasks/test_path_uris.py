"""Published ``path`` columns are URIs: lake.path_uri encodes Hadoop's spelling, uri_path and
hadoop_location read it back, and a URI parser (pyarrow, urllib) opens the very file."""

from __future__ import annotations

import urllib.request

import pytest

from lakesight.lake import hadoop_location, path_uri, spelled_path, unread_files, uri_path

NAMES = ["a#b.jpg", "what?.jpg", "sale%20x.jpg", "sale x.jpg", "straße ü.png", "1+1=2 (c).jpg"]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("hadoop", "uri"),
    [
        ("file:/d/a#b.jpg", "file:///d/a%23b.jpg"),
        ("file:/d/what?.jpg", "file:///d/what%3F.jpg"),
        ("file:/d/sale%20x.jpg", "file:///d/sale%2520x.jpg"),
        ("file:/d/sale x.jpg", "file:///d/sale%20x.jpg"),
        ("file:/d/straße ü.png", "file:///d/stra%C3%9Fe%20%C3%BC.png"),
        ("hdfs://nn:8020/lake/dt=2026-03-02/a#b.jpg", "hdfs://nn:8020/lake/dt=2026-03-02/a%23b.jpg"),
        ("file:/d/1+1=2 (copy).jpg", "file:///d/1%2B1=2%20(copy).jpg"),
        ("file:/d/plain.jpg", "file:///d/plain.jpg"),
    ],
)  # fmt: skip
def test_path_uri_encodes_what_a_uri_parser_would_misread(hadoop, uri):
    assert path_uri(hadoop) == uri
    assert hadoop_location(uri) == hadoop
    assert uri_path(uri) == spelled_path(hadoop)


@pytest.mark.unit
def test_published_uris_open_the_files_with_pyarrow_and_urllib(tmp_path):
    from pyarrow.fs import FileSystem

    for name in NAMES:
        (tmp_path / name).write_bytes(name.encode() * 3)
    for name in NAMES:
        uri = path_uri(f"file:{tmp_path}/{name}")
        fs, inner = FileSystem.from_uri(uri)
        with fs.open_input_file(inner) as f:
            assert f.read() == name.encode() * 3, uri
        with urllib.request.urlopen(uri) as f:
            assert f.read() == name.encode() * 3, uri
        # The same file as pathlib's own URI names.
        assert uri_path(uri) == uri_path((tmp_path / name).as_uri()) == f"{tmp_path}/{name}"


@pytest.mark.unit
def test_unread_files_compares_hadoop_spellings_without_decoding():
    from lakesight.lake import FileEntry

    raw = "file:///lake/raw/images/dt=2026-03-02"
    listing = [
        FileEntry("file:/lake/raw/images/dt=2026-03-02/_x%20y.jpg", 5),
        FileEntry("file:/lake/raw/images/dt=2026-03-02/sale%5Fx.jpg", 5),
    ]
    # "%5F" is a literal name (Hadoop does not encode), never a hidden "_x".
    assert [(e.uri, r) for e, r, _ in unread_files(raw, listing, 100)] == [
        ("file:/lake/raw/images/dt=2026-03-02/_x%20y.jpg", "hidden_file")
    ]
