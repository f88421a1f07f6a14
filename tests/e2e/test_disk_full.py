"""A full disk and dying database connections (issue 8, finding 4).

A full volume (the database's, the blob store's, the temp folder's) answers 507 with a message
twine shows; reads keep working; nothing is left behind (no row, and no blob once the collector
has run); and when space returns the next write succeeds without a restart. Before the fix, one
`database or disk is full` left a pooled SQLite connection inside a transaction SQLite had already
ended, and every later write answered 500 "attempted to call begin_with at non-zero transaction
depth" until a restart.

The volumes are real tmpfs mounts (the suite runs as root): a test that cannot mount one fails,
it never skips. PostgreSQL's disk is filled through a tablespace on a tmpfs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import secrets
import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

import srkit
from srkit import describe

HOUR = 3600
MESSAGE = "out of storage space"


@contextlib.contextmanager
def tmpfs(size: str, *, at: Path | None = None, owner: str | None = None):
    """A tmpfs of `size` mounted at `at` (default: a fresh folder under /tmp, which PostgreSQL's
    user can reach), unmounted afterwards."""
    path = at or Path("/tmp") / f"sr-full-{uuid.uuid4().hex[:12]}"
    made = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size},mode=0700"
    if owner:
        pw = pwd.getpwnam(owner)
        opts += f",uid={pw.pw_uid},gid={pw.pw_gid}"
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                          capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        pytest.fail(f"cannot mount a {size} tmpfs at {path} (the disk-full tests need root or "
                    f"CAP_SYS_ADMIN): {proc.stderr.strip() or proc.returncode}", pytrace=False)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)
        if made:
            shutil.rmtree(path, ignore_errors=True)


def free_bytes(mnt: Path) -> int:
    st = os.statvfs(mnt)
    return st.f_bavail * st.f_frsize


def fill(mnt: Path, *, leave: int = 0) -> Path:
    """Fill the volume with a file, leaving exactly `leave` bytes (whole pages) free."""
    filler = mnt / f"filler-{uuid.uuid4().hex[:8]}"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if leave:
            want = free_bytes(mnt) - leave
            assert want > 0, f"not enough room to leave {leave} bytes"
            block = b"\xa5" * (1 << 20)
            while want > 0:
                want -= os.write(fd, block[: min(len(block), want)])
        else:
            chunk = 1 << 20
            block = os.urandom(chunk)
            while chunk >= 512:
                try:
                    os.write(fd, block[:chunk])
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    chunk //= 2
    finally:
        os.close(fd)
    assert free_bytes(mnt) == leave, (free_bytes(mnt), leave)
    return filler


def pages(n: int) -> int:
    return -(-n // 4096) * 4096


@contextlib.contextmanager
def pg_database_in(mnt: Path):
    """A pg_s3 backend whose database lives in a tablespace on `mnt`."""
    base = srkit.require_env("STRONGROOM_TEST_PG_URL")
    tablespace = f"sr_ts_{uuid.uuid4().hex[:12]}"
    srkit.pg_exec(base, f"CREATE TABLESPACE {tablespace} LOCATION '{mnt}'")
    name = "sr_" + uuid.uuid4().hex[:16]
    url = srkit.pg_url_with_db(base, name)
    try:
        srkit.pg_exec(base, f"CREATE DATABASE {name} TABLESPACE {tablespace}")
        s3 = srkit.S3.from_env()
        yield srkit.Backend("pg_s3", database=url, bucket=s3.create_bucket(), s3=s3,
                            secrets_key=srkit.new_secrets_key())
    finally:
        srkit.drop_pg_database(url)
        subprocess.run([srkit.psql_bin(), base, "-At", "-c", f"DROP TABLESPACE IF EXISTS {tablespace}"],
                       capture_output=True, timeout=60)


def refused_for_space(r: requests.Response) -> None:
    assert r.status_code == 507, describe(r)
    assert MESSAGE in r.reason and MESSAGE in r.text, describe(r)


def reads_work(server: srkit.Server, project: str, dist: srkit.Dist) -> None:
    """The index, the project page, the JSON API, the file and its metadata are all served."""
    assert server.get("/simple/").status_code == 200
    files = server.project_files(project)
    assert dist.filename in [f["filename"] for f in files], files
    url = next(f["url"] for f in files if f["filename"] == dist.filename)
    got = requests.get(url, timeout=30)
    assert got.status_code == 200 and srkit.sha256(got.content) == dist.sha256
    assert server.get(dist.path + ".metadata").status_code == 200
    assert server.get(f"/pypi/{project}/json").status_code == 200


def collector_leaves_exactly_what_rows_reference(server: srkit.Server, clock: Path) -> None:
    clock.write_text(str(2 * HOUR))  # past the claim grace period (60 minutes by default)
    server.cli("admin", "run-jobs")
    assert server.blob_keys() == server.db_blob_keys()


def test_a_full_database_answers_507_reads_keep_working_and_writes_recover(strongroom, backend_kind, tmp_path):
    clock = tmp_path / "clock"
    clock.write_text("0")
    env = {"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)}
    with contextlib.ExitStack() as stack:
        if backend_kind == "sqlite":
            mnt = stack.enter_context(tmpfs("24m"))
            backend = srkit.Backend("sqlite", database=f"sqlite://{mnt}/strongroom.db")
        else:
            mnt = stack.enter_context(tmpfs("64m", owner="postgres"))
            backend = stack.enter_context(pg_database_in(mnt))
        server = strongroom.pool.start(backend, env=env)
        stack.callback(server.stop)  # before the volume goes
        token = server.user_with_token("alice")
        first = srkit.make_wheel("sr-full", "1.0", payload="first")
        srkit.ok_upload(server, token, first)
        rows_before = server.db_blob_keys()
        blobs_before = server.blob_keys()
        if backend_kind == "sqlite":
            # An empty WAL: the next write must grow a file on the full volume.
            # (Retried: the server's own loops may be reading at that moment.)
            con = sqlite3.connect(str(mnt / "strongroom.db"), timeout=30)
            assert srkit.wait_until(
                lambda: con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0, 10)
            con.close()
        filler = fill(mnt)
        # Incompressible metadata: PostgreSQL must extend a table (TOAST) to store it.
        big = srkit.make_wheel("sr-full", "2.0", payload="second", description=secrets.token_hex(150_000) + "\n")

        # twine shows why.
        proc = srkit.twine_upload(server, token, [big.write(tmp_path / "dist")], tmp_path, check=False)
        out = srkit.output(proc)
        assert proc.returncode != 0 and "507" in out and MESSAGE in out, out
        for _ in range(3):
            refused_for_space(srkit.upload_raw(server, token, big))
        reads_work(server, "sr-full", first)
        assert server.db_blob_keys() == rows_before, "nothing was recorded"

        # Space comes back: the very next upload works, in the same process.
        filler.unlink()
        pid = server.proc.pid
        srkit.ok_upload(server, token, big)
        third = srkit.make_wheel("sr-full", "3.0", payload="third")
        srkit.ok_upload(server, token, third)
        assert server.proc.poll() is None and server.proc.pid == pid, "the server was restarted"
        assert {f["filename"] for f in server.project_files("sr-full")} == {
            first.filename, big.filename, third.filename}
        assert len(server.db_blob_keys()) == len(rows_before) + 4
        assert blobs_before <= server.blob_keys()
        collector_leaves_exactly_what_rows_reference(server, clock)
        assert "non-zero transaction depth" not in server.stderr_text()


def test_a_full_blob_store_answers_507_and_leaves_nothing(strongroom, tmp_path):
    """The folder store on a full volume (its `.tmp`, where uploads are streamed, is on it too):
    first with no room for the upload at all, then with room for the upload's temp file but not
    for the `.metadata` file beside the wheel."""
    clock = tmp_path / "clock"
    clock.write_text("0")
    data = tmp_path / "srv"
    with contextlib.ExitStack() as stack:
        files = stack.enter_context(tmpfs("8m", at=data / "files"))
        backend = strongroom.pool.backend("sqlite")
        server = strongroom.pool.start(backend, env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)},
                                       data_dir=data)
        stack.callback(server.stop)
        token = server.user_with_token("alice")
        first = srkit.make_wheel("sr-bfull", "1.0", payload="first")
        srkit.ok_upload(server, token, first)
        blobs_before, rows_before = server.blob_keys(), server.db_blob_keys()
        dist = srkit.make_wheel("sr-bfull", "2.0", payload=os.urandom(200_000))
        temp = files / ".tmp"

        for leave in (0, pages(len(dist.data))):
            filler = fill(files, leave=leave)
            refused_for_space(srkit.upload_raw(server, token, dist))
            assert server.blob_keys() - {filler.name} == blobs_before, f"leave={leave}: a blob stayed"
            assert server.db_blob_keys() == rows_before, f"leave={leave}: a row was written"
            assert list(temp.iterdir()) == [], f"leave={leave}: a temp file stayed"
            reads_work(server, "sr-bfull", first)
            filler.unlink()

        srkit.ok_upload(server, token, dist)
        assert server.blob_keys() == server.db_blob_keys()
        assert "file system" in server.stderr_text() and "507" in server.stderr_text()


def test_a_full_temp_folder_answers_507_and_leaves_nothing(strongroom, tmp_path):
    """With S3 storage, uploads are streamed to `<data>/tmp`; on a full volume the upload is
    refused with 507 before anything reaches the bucket or the database."""
    data = tmp_path / "srv"
    with contextlib.ExitStack() as stack:
        temp = stack.enter_context(tmpfs("4m", at=data / "tmp"))
        backend = strongroom.pool.backend("pg_s3")
        server = strongroom.pool.start(backend, data_dir=data)
        stack.callback(server.stop)
        token = server.user_with_token("alice")
        first = srkit.make_wheel("sr-tfull", "1.0", payload="first")
        srkit.ok_upload(server, token, first)
        blobs_before, rows_before = server.blob_keys(), server.db_blob_keys()
        dist = srkit.make_wheel("sr-tfull", "2.0", payload=os.urandom(100_000))
        filler = fill(temp)
        refused_for_space(srkit.upload_raw(server, token, dist))
        assert server.blob_keys() == blobs_before and server.db_blob_keys() == rows_before
        assert [p.name for p in temp.iterdir()] == [filler.name]
        reads_work(server, "sr-tfull", first)
        filler.unlink()
        srkit.ok_upload(server, token, dist)
        assert server.blob_keys() == server.db_blob_keys()


def test_killed_database_connections_are_replaced_without_a_restart(strongroom):
    """Every PostgreSQL backend of the server's database is terminated (an operator's
    pg_terminate_backend, a failover, a restart of PostgreSQL): the next requests work."""
    server = strongroom("pg_s3")
    token = server.user_with_token("alice")
    first = srkit.make_wheel("sr-conn", "1.0", payload="first")
    srkit.ok_upload(server, token, first)
    dbname = server.backend.database.rsplit("/", 1)[1]
    base = srkit.require_env("STRONGROOM_TEST_PG_URL")
    for round_ in range(3):
        killed = srkit.pg_exec(base, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                     f"WHERE datname = '{dbname}'").strip()
        assert int(killed) >= 1, "the server held no connection to kill"
        reads_work(server, "sr-conn", first)
        srkit.ok_upload(server, token, srkit.make_wheel("sr-conn", f"{round_ + 2}.0", payload=str(round_)))
    assert len(server.project_files("sr-conn")) == 4
