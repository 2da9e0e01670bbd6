"""The partition commit protocol, on every file system lakesight reaches from Python."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from lakesight.config import ConfigError
from lakesight.lake import (
    MANIFEST_NAME,
    SUCCESS_MARKER,
    LocalFileSystem,
    Manifest,
    PartitionWriter,
    RangedFile,
    StorageError,
    check_reachable,
    is_committed,
    join,
    list_partitions,
    make_webhdfs_client,
    read_manifest,
    read_parquet_slice,
)

pytestmark = [pytest.mark.unit, pytest.mark.hdfs]


def manifest(n_in=3, out=2, quarantined=1, dt="2026-01-01") -> Manifest:
    return Manifest(
        dataset="test/things",
        dt=dt,
        stage="test",
        schema_version="test/v1",
        counts={"in": n_in, "out": out, "quarantined": quarantined},
        input_fingerprint="sum60:3:abc",
    )


def commit_files(fs, dataset, dt, files: dict[str, bytes], **counts) -> PartitionWriter:
    with PartitionWriter(fs, dataset, dt) as writer:
        for name, data in files.items():
            fs.write_bytes(join(writer.staging_uri, name), data)
        writer.commit(manifest(dt=dt, **counts))
    return writer


def test_commit_publishes_data_then_manifest_and_success(lake_fs):
    fs, base = lake_fs
    dataset = join(base, "things")
    writer = commit_files(fs, dataset, "2026-01-01", {"part-0.bin": b"abc", "sub dir/ü.bin": b"x"})
    final = join(dataset, "dt=2026-01-01")
    assert is_committed(fs, final)
    assert not fs.exists(writer.staging_uri)
    assert not fs.exists(writer.trash_uri)
    assert fs.read_bytes(join(final, "part-0.bin")) == b"abc"
    assert fs.read_bytes(join(final, "sub dir/ü.bin")) == b"x"
    stored = read_manifest(fs, final)
    assert stored.counts == {"in": 3, "out": 2, "quarantined": 1}
    assert stored.run_id == writer.run_id and stored.created_at
    assert json.loads(fs.read_bytes(join(final, MANIFEST_NAME)))["schema_version"] == "test/v1"
    assert list_partitions(fs, dataset) == ["2026-01-01"]


def test_rerun_replaces_partition_never_appends(lake_fs):
    fs, base = lake_fs
    dataset = join(base, "things")
    commit_files(fs, dataset, "2026-01-01", {"a.bin": b"old", "b.bin": b"old"})
    commit_files(fs, dataset, "2026-01-01", {"c.bin": b"new"}, n_in=1, out=1, quarantined=0)
    final = join(dataset, "dt=2026-01-01")
    assert not fs.exists(join(final, "a.bin")) and not fs.exists(join(final, "b.bin"))
    assert fs.read_bytes(join(final, "c.bin")) == b"new"
    assert read_manifest(fs, final).counts["in"] == 1
    assert list_partitions(fs, dataset) == ["2026-01-01"]
    assert fs.list_dirs(join(dataset, "_trash")) == []


def test_counts_that_do_not_reconcile_are_refused_and_change_nothing(lake_fs):
    fs, base = lake_fs
    dataset = join(base, "things")
    commit_files(fs, dataset, "2026-01-01", {"a.bin": b"old"})
    with pytest.raises(ValueError, match="in=5 != out=2 \\+ quarantined=1"):
        commit_files(fs, dataset, "2026-01-01", {"x.bin": b"new"}, n_in=5)
    final = join(dataset, "dt=2026-01-01")
    assert fs.read_bytes(join(final, "a.bin")) == b"old"
    assert fs.list_dirs(join(dataset, "_staging")) == []


def test_failure_mid_write_leaves_committed_partition_intact(lake_fs):
    fs, base = lake_fs
    dataset = join(base, "things")
    commit_files(fs, dataset, "2026-01-01", {"a.bin": b"old"})
    with (
        pytest.raises(RuntimeError, match="executor lost"),
        PartitionWriter(fs, dataset, "2026-01-01") as w,
    ):
        fs.write_bytes(join(w.staging_uri, "half.bin"), b"half")
        raise RuntimeError("executor lost")
    final = join(dataset, "dt=2026-01-01")
    assert is_committed(fs, final)
    assert fs.read_bytes(join(final, "a.bin")) == b"old"
    assert not fs.exists(join(final, "half.bin"))
    assert fs.list_dirs(join(dataset, "_staging")) == []


def test_killed_writer_process_leaves_old_partition_readable(tmp_path):
    """A real crash: SIGKILL a process while it writes a new version of the partition."""
    fs = LocalFileSystem()
    dataset = (tmp_path / "things").as_uri()
    commit_files(fs, dataset, "2026-01-01", {"a.bin": b"old"})
    script = textwrap.dedent(
        f"""
        import sys, time
        from lakesight.lake import LocalFileSystem, PartitionWriter, join
        fs = LocalFileSystem()
        with PartitionWriter(fs, {dataset!r}, "2026-01-01") as w:
            for i in range(10_000):
                fs.write_bytes(join(w.staging_uri, f"part-{{i}}.bin"), b"new" * 1000)
                if i == 20:
                    print("writing", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    final = join(dataset, "dt=2026-01-01")
    assert is_committed(fs, final)
    names = {n for n in os.listdir(tmp_path / "things" / "dt=2026-01-01") if not n.startswith(".")}
    assert names == {MANIFEST_NAME, SUCCESS_MARKER, "a.bin"}
    # The orphaned staging directory is invisible to readers (leading underscore) ...
    assert len(fs.list_dirs(join(dataset, "_staging"))) == 1
    # ... and a later run commits normally.
    commit_files(fs, dataset, "2026-01-01", {"b.bin": b"newer"})
    assert fs.read_bytes(join(final, "b.bin")) == b"newer"


def test_only_committed_partitions_are_listed(lake_fs):
    fs, base = lake_fs
    dataset = join(base, "things")
    commit_files(fs, dataset, "2026-01-02", {"a.bin": b"1"})
    commit_files(fs, dataset, "2026-01-01", {"a.bin": b"1"})
    fs.write_bytes(join(dataset, "dt=2026-01-03", "half.bin"), b"no marker")
    assert list_partitions(fs, dataset) == ["2026-01-01", "2026-01-02"]


def test_list_files_walks_every_level_and_gives_each_file_once(lake_fs):
    # Every commit lists its staged files through this, and a lease its generations.
    fs, base = lake_fs
    files = {"top.bin": b"1", "a/one.bin": b"22", "a/b/two.bin": b"333", "a/b/c/three.bin": b""}
    for name, data in files.items():
        fs.write_bytes(join(base, "tree", name), data)
    fs.mkdirs(join(base, "tree", "empty", "dir"))
    listed = fs.list_files(join(base, "tree"))
    found = {e.uri.split("/tree/", 1)[1]: e.size for e in listed}
    assert found == {name: len(data) for name, data in files.items()}
    assert [e.uri for e in listed] == sorted(e.uri for e in listed)
    assert [e.size for e in fs.list_files(join(base, "tree", "a", "one.bin"))] == [2]
    assert fs.list_files(join(base, "missing")) == []


def test_ranged_reads_give_exactly_the_bytes_asked_for(lake_fs):
    # Spark's Python workers read Parquet row groups through these (read_parquet_slice).
    fs, base = lake_fs
    data = bytes(range(256)) * 40
    fs.write_bytes(join(base, "f.bin"), data)
    for offset, length in ((0, 1), (255, 513), (len(data) - 7, 7), (0, len(data))):
        assert fs.read_range(join(base, "f.bin"), offset, length) == data[offset : offset + length]
    file = RangedFile(fs, join(base, "f.bin"))
    assert file.seek(-10, os.SEEK_END) == len(data) - 10
    assert file.read() == data[-10:] and file.read(5) == b""
    file.seek(3)
    assert file.read(4) == data[3:7] and file.tell() == 7
    with pytest.raises(StorageError, match="not a file"):
        RangedFile(fs, join(base, "missing.bin"))


def test_reading_a_missing_file_raises_file_not_found_on_every_file_system(lake_fs):
    # Workers that read a day's photos tell "gone since ingest" from a failing store by it.
    fs, base = lake_fs
    with pytest.raises(FileNotFoundError):
        fs.read_bytes(join(base, "gone.jpg"))
    fs.write_bytes(join(base, "here.jpg"), b"x")
    assert fs.read_bytes(join(base, "here.jpg")) == b"x"


def test_parquet_slices_split_a_file_into_equal_shares_of_its_rows(lake_fs):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, base = lake_fs
    rows = pa.table({"n": list(range(1000)), "blob": [bytes([i % 256]) * 50 for i in range(1000)]})
    sink = io.BytesIO()
    pq.write_table(rows, sink, row_group_size=300)  # groups of 300, 300, 300, 100
    fs.write_bytes(join(base, "rows.parquet"), sink.getvalue())
    for parts in (1, 2, 3, 7):
        shares = [
            pa.concat_tables(read_parquet_slice(fs, join(base, "rows.parquet"), part, parts))
            for part in range(parts)
        ]
        assert [s.num_rows for s in shares] == [1000 * (p + 1) // parts - 1000 * p // parts
                                                for p in range(parts)]  # fmt: skip
        assert pa.concat_tables(shares).equals(rows)
    only_n = list(read_parquet_slice(fs, join(base, "rows.parquet"), 1, 2, ["n"]))
    # Rows 500-999: from the middle of the second group of four, a table per group.
    assert [t.column_names for t in only_n] == [["n"], ["n"], ["n"]]
    assert pa.concat_tables(only_n).column("n").to_pylist() == list(range(500, 1000))


def test_rename_refuses_existing_destination(lake_fs):
    fs, base = lake_fs
    fs.write_bytes(join(base, "a/x.bin"), b"1")
    fs.write_bytes(join(base, "b/y.bin"), b"2")
    with pytest.raises(StorageError, match="destination exists"):
        fs.rename(join(base, "a"), join(base, "b"))
    assert fs.read_bytes(join(base, "a/x.bin")) == b"1"


def test_unreachable_webhdfs_root_fails_fast_naming_the_setting():
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    from lakesight.lake import WebHdfsFileSystem, WebHdfsPolicy

    # Refused is retried (a namenode restarting); one quick retry keeps the test fast.
    policy = WebHdfsPolicy(timeout_s=1.0, retries=1, backoff_s=0.01)
    fs = WebHdfsFileSystem(make_webhdfs_client("http://127.0.0.1:9", user="x", policy=policy))
    with pytest.raises(ConfigError) as err:
        check_reachable(fs, "webhdfs://127.0.0.1:9/lake")
    assert str(err.value).startswith("LAKESIGHT_ROOT: cannot reach webhdfs://127.0.0.1:9/lake")
    assert "\n" not in str(err.value)


def test_kerberos_without_extra_names_the_setting():
    pytest.importorskip("hdfs")
    try:
        import hdfs.ext.kerberos
    except ImportError:
        with pytest.raises(
            ConfigError, match="LAKESIGHT_WEBHDFS_AUTH=kerberos: install the kerberos extra"
        ):
            make_webhdfs_client("http://127.0.0.1:9", auth="kerberos")
    else:
        client = make_webhdfs_client("http://127.0.0.1:9", auth="kerberos")
        assert isinstance(client, hdfs.ext.kerberos.KerberosClient)


def test_create_exclusive_creates_once_and_keeps_the_first_bytes(lake_fs):
    """What leases stand on, on every client: the namenode's (or O_EXCL's) atomic create."""
    fs, base = lake_fs
    uri = join(base, "_leases", "dt=2026-01-01", "000000000001.json")
    assert fs.create_exclusive(uri, b"first") is True
    assert fs.create_exclusive(uri, b"second") is False
    assert fs.read_bytes(uri) == b"first"
