"""Faults injected into the partition commit, and what a reader sees after each.

Every file-system call a commit makes is a step; a fault (an exception, or a real
SIGKILL of the writing process) is injected at each one in turn, on ``file://`` and on
the WebHDFS test server. After each fault a reader sees the old partition, whole;
after a rerun it sees the new one. Writers of one partition are fenced by its lease:
threads and processes race for it with barriers at the worst points.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

from lakesight.lake import (
    LEASES_DIR,
    Lease,
    LeaseError,
    LeasePolicy,
    LocalFileSystem,
    Manifest,
    PartitionWriter,
    WebHdfsFileSystem,
    join,
    list_partitions,
    make_webhdfs_client,
    read_manifest,
    resolve_partition,
)

pytestmark = [pytest.mark.faults, pytest.mark.unit]

DT = "2026-03-02"
FAST = LeasePolicy(ttl_s=5.0, wait_s=0.0, poll_s=0.05)
# A fault may cost the lease's release too; the next writer then waits out its short ttl.
PATIENT = LeasePolicy(ttl_s=3.0, wait_s=20.0, poll_s=0.05)


class Injected(RuntimeError):
    """The fault a test raises inside a file-system call."""


def manifest(label: str, n: int = 1) -> Manifest:
    return Manifest(
        dataset="test/things", dt=DT, stage="test", schema_version="test/v1",
        counts={"in": n, "out": n, "quarantined": 0}, input_fingerprint=label,
    )  # fmt: skip


class Faulty:
    """A file system that records its calls and fails the ``fail_at``-th one."""

    def __init__(self, fs, fail_at: int | None = None, fault=None) -> None:
        self.fs, self.fail_at, self.calls = fs, fail_at, []
        self.fault = fault or (lambda call: (_ for _ in ()).throw(Injected(call)))

    def __getattr__(self, name):
        real = getattr(self.fs, name)

        def call(*args):
            self.calls.append(name)
            if len(self.calls) == self.fail_at:
                self.fault(f"{name}{args}")
            return real(*args)

        return call


def commit(fs, dataset: str, label: str, *, faulty: Faulty | None = None) -> None:
    """Stage ``data.txt`` = label and commit it; the fault wrapper covers the commit only."""
    with PartitionWriter(fs, dataset, DT, policy=PATIENT) as writer:
        fs.write_bytes(join(writer.staging_uri, "data.txt"), label.encode())
        if faulty is not None:
            writer.fs = faulty
            writer.lease.fs = faulty
        writer.commit(manifest(label))


def what_readers_see(fs, dataset: str) -> tuple[str, str] | None:
    """(data, manifest's label) of the partition as every reader finds it, or None."""
    source = resolve_partition(fs, join(dataset, f"dt={DT}"))
    if source is None:
        return None
    stored = read_manifest(fs, join(dataset, f"dt={DT}"))
    assert list_partitions(fs, dataset) == [DT]
    return fs.read_bytes(join(source, "data.txt")).decode(), stored.input_fingerprint


@pytest.fixture(params=["local", "webhdfs-loopback"])
def store(request, tmp_path):
    """(file system, base URI, a spec a subprocess rebuilds the file system from)."""
    if request.param == "local":
        return LocalFileSystem(), (tmp_path / "lake").as_uri(), None
    server = request.getfixturevalue("webhdfs_server")
    fs = WebHdfsFileSystem(make_webhdfs_client(server.url, user="tester"))
    base = f"webhdfs://{server.url.removeprefix('http://')}/faults/{uuid.uuid4().hex}"
    return fs, base, server.url


def commit_steps(fs, base: str) -> int:
    """How many file-system calls one commit of a day that exists makes."""
    dataset = join(base, "count")
    commit(fs, dataset, "old")
    recorder = Faulty(fs)
    commit(fs, dataset, "new", faulty=recorder)
    assert recorder.calls.count("rename") == 2 and "write_bytes" in recorder.calls
    return len(recorder.calls)


def test_an_exception_at_every_step_of_a_commit_leaves_the_old_partition(store):
    fs, base, _ = store
    steps = commit_steps(fs, base)
    assert steps >= 6  # lease check, manifest, _SUCCESS, two renames, cleanup at least
    for step in range(1, steps + 1):
        dataset = join(base, f"exc{step}")
        commit(fs, dataset, "old")
        try:
            commit(fs, dataset, "new", faulty=Faulty(fs, fail_at=step))
        except Injected:
            # The error propagated, and the old partition was back before it did.
            assert what_readers_see(fs, dataset) == ("old", "old"), f"fault at step {step}"
        else:
            # A fault after the swap (cleanup of the trash) is absorbed: the new one is in.
            assert what_readers_see(fs, dataset) == ("new", "new"), f"fault at step {step}"
        commit(fs, dataset, "rerun")
        assert what_readers_see(fs, dataset) == ("rerun", "rerun"), f"rerun after step {step}"
        assert fs.list_dirs(join(dataset, "_trash")) == []
        assert fs.list_dirs(join(dataset, f"dt={DT}")) == []  # never a partition inside it


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from lakesight.lake import (LeasePolicy, LocalFileSystem, Manifest, PartitionWriter,
                                WebHdfsFileSystem, join, make_webhdfs_client)
    dataset, dt, step, url = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    fs = (WebHdfsFileSystem(make_webhdfs_client(url, user="tester")) if url != "-"
          else LocalFileSystem())

    class KillAt:
        def __init__(self, fs): self.fs, self.n = fs, 0
        def __getattr__(self, name):
            real = getattr(self.fs, name)
            def call(*args):
                self.n += 1
                if self.n == step:
                    os.kill(os.getpid(), signal.SIGKILL)  # no except, no finally runs
                return real(*args)
            return call

    policy = LeasePolicy(ttl_s=60, wait_s=0)
    with PartitionWriter(fs, dataset, dt, policy=policy) as writer:
        fs.write_bytes(join(writer.staging_uri, "data.txt"), b"new")
        writer.fs = writer.lease.fs = KillAt(fs)
        writer.commit(Manifest(dataset="test/things", dt=dt, stage="test",
                               schema_version="test/v1", input_fingerprint="new",
                               counts={"in": 1, "out": 1, "quarantined": 0}))
    print("committed")
    """
)


def test_a_sigkill_at_every_step_of_a_commit_leaves_the_old_partition(store):
    fs, base, url = store
    steps = commit_steps(fs, base)
    outcomes = []
    for step in range(1, steps + 2):  # the last one is not killed: the control
        dataset = join(base, f"kill{step}")
        commit(fs, dataset, "old")
        proc = subprocess.run(
            [sys.executable, "-c", KILLER, dataset, DT, str(step), url or "-"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        killed = proc.returncode == -9
        assert killed or "committed" in proc.stdout, proc.stderr[-2000:]
        seen = what_readers_see(fs, dataset)
        # Killed before the swap: the old partition, read in place or from _trash/.
        # Killed after it: the new one. Never nothing, never a mix.
        assert seen in {("old", "old"), ("new", "new")}, f"kill at step {step}: {seen}"
        outcomes.append(seen[0])
        # The next writer takes over the dead run's lease (same host, process gone),
        # repairs the day and commits.
        commit(fs, dataset, "rerun")
        assert what_readers_see(fs, dataset) == ("rerun", "rerun")
        assert fs.list_dirs(join(dataset, "_trash")) == []
    assert outcomes[-1] == "new" and "old" in outcomes  # both sides of the swap were hit


def test_a_second_writer_fails_fast_naming_the_run_that_holds_the_day(store):
    fs, base, _ = store
    dataset = join(base, "things")
    with PartitionWriter(fs, dataset, DT, policy=FAST) as first:
        with pytest.raises(LeaseError) as err, PartitionWriter(fs, dataset, DT, policy=FAST):
            pass
        message = str(err.value)
        assert "\n" not in message and first.run_id in message and f"dt={DT}" in message
        first.fs.write_bytes(join(first.staging_uri, "data.txt"), b"first")
        first.commit(manifest("first"))
    assert what_readers_see(fs, dataset) == ("first", "first")


def test_a_waiting_writer_commits_after_the_holder_and_nothing_interleaves(store):
    fs, base, _ = store
    dataset = join(base, "things")
    commit(fs, dataset, "old")
    inside, order = threading.Barrier(2), []
    waiting = LeasePolicy(ttl_s=5.0, wait_s=30.0, poll_s=0.05)

    def writer(label: str, hold_s: float) -> None:
        if label == "second":
            inside.wait()  # the first holds the day now
        with PartitionWriter(fs, dataset, DT, policy=waiting) as w:
            order.append(f"{label} in")
            if label == "first":
                inside.wait()
                time.sleep(hold_s)  # the second is waiting at its lease meanwhile
            fs.write_bytes(join(w.staging_uri, "data.txt"), label.encode())
            w.commit(manifest(label))
            order.append(f"{label} out")

    threads = [threading.Thread(target=writer, args=a) for a in (("first", 1.0), ("second", 0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert order == ["first in", "first out", "second in", "second out"]
    assert what_readers_see(fs, dataset) == ("second", "second")
    assert fs.list_dirs(join(dataset, f"dt={DT}")) == []


def test_a_writer_that_stalled_past_its_lease_is_fenced_off(store):
    fs, base, _ = store
    dataset = join(base, "things")
    commit(fs, dataset, "old")
    short = LeasePolicy(ttl_s=0.6, wait_s=10.0, poll_s=0.05)
    stalled = PartitionWriter(fs, dataset, DT, policy=short).__enter__()
    stalled.lease._stop.set()  # a stall: its renewals stop (GC pause, network partition)
    fs.write_bytes(join(stalled.staging_uri, "data.txt"), b"stale")
    commit_after = PartitionWriter(fs, dataset, DT, policy=short)
    with commit_after as taker:  # waits out the expiry, then takes generation + 1
        assert taker.lease.generation == stalled.lease.generation + 1
        fs.write_bytes(join(taker.staging_uri, "data.txt"), b"taker")
        taker.commit(manifest("taker"))
    with pytest.raises(LeaseError, match="lost its lease"):
        stalled.commit(manifest("stale"))
    stalled.__exit__(None, None, None)
    assert what_readers_see(fs, dataset) == ("taker", "taker")


def _race(dataset: str, label: str, barrier) -> None:
    fs = LocalFileSystem()
    barrier.wait()  # every process reaches for the lease at the same moment
    with PartitionWriter(fs, dataset, DT, policy=LeasePolicy(5.0, 60.0, 0.02)) as w:
        fs.write_bytes(join(w.staging_uri, "data.txt"), label.encode())
        w.commit(manifest(label))


def test_processes_racing_for_one_day_commit_one_after_another(tmp_path):
    fs = LocalFileSystem()
    dataset = (tmp_path / "lake" / "things").as_uri()
    n = 4
    barrier = multiprocessing.get_context("spawn").Barrier(n)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_race, args=(dataset, f"p{i}", barrier)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * n
    data, label = what_readers_see(fs, dataset)
    assert data == label and data in {f"p{i}" for i in range(n)}  # one writer's, whole
    generations = fs.list_files(join(dataset, LEASES_DIR, f"dt={DT}"))
    states = [json.loads(fs.read_bytes(e.uri)) for e in generations]
    assert all(s["released"] for s in states)  # each took its turn and let go
    assert fs.list_dirs(join(dataset, f"dt={DT}")) == []
    assert fs.list_dirs(join(dataset, "_trash")) == []


def test_lease_generations_are_exclusive_under_a_thread_race(store):
    fs, base, _ = store
    dataset = join(base, "things")
    n, start, won, lost = 6, threading.Barrier(6), [], []

    def contend(i: int) -> None:
        lease = Lease(fs, dataset, f"dt={DT}", f"run{i}", FAST)
        start.wait()
        try:
            lease.acquire()
            won.append(lease)
        except LeaseError:
            lost.append(i)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1 and len(lost) == n - 1
    won[0].check()
    won[0].release()


def _promote(registry: str, release: str, barrier) -> None:
    from pathlib import Path

    from lakesight.models.runtime import promote_release

    barrier.wait()
    print(promote_release(LocalFileSystem(), registry, "m", Path(release)))


def test_concurrent_promotions_get_distinct_complete_versions(tmp_path, monkeypatch):
    from lakesight.models.runtime import resolve

    registry = tmp_path / "registry"
    (registry / "m" / "1").mkdir(parents=True)
    (registry / "m" / "1" / "card.json").write_text('{"name": "m", "version": "1"}')
    ctx = multiprocessing.get_context("spawn")
    n = 4
    barrier = ctx.Barrier(n)
    procs = []
    for i in range(n):
        release = tmp_path / f"release{i}"
        release.mkdir()
        (release / "card.json").write_text('{"name": "m", "version": "candidate"}')
        (release / "model.onnx").write_bytes(f"weights {i}".encode() * 10_000)
        procs.append(ctx.Process(target=_promote, args=(registry.as_uri(), str(release), barrier)))
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * n
    versions = sorted(d.name for d in (registry / "m").iterdir() if not d.name.startswith("_"))
    assert versions == ["1", "2", "3", "4", "5"]  # four promotions, four new numbers
    weights = {(registry / "m" / v / "model.onnx").read_bytes()[:9] for v in versions[1:]}
    assert weights == {f"weights {i}".encode() for i in range(n)}  # none overwrote another
    for v in versions[1:]:
        assert json.loads((registry / "m" / v / "card.json").read_text())["version"] == v
    # A half-copied promotion is never taken for the newest version.
    (registry / "m" / "_staging.20991231T000000-dead").mkdir()
    monkeypatch.setenv("LAKESIGHT_MODEL_REGISTRY", registry.as_uri())
    assert str(resolve("m")[0]) == "m@5"
