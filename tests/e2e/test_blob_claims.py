"""Refused uploads leave no bytes (issue 8, finding 6). On both backends.

Before the fix the loser of a race for a new name kept its wheel and `.metadata` in the blob store
(39 of 40 races), five of six concurrent sdists of one release stayed, nothing reclaimed them, and
the temp files of a killed server survived restarts for an hour. Now an upload claims its blob key
before writing, a refused one deletes what it wrote, the collector (`admin run-jobs`, and every
jobs run of `serve`) deletes whatever no row references, and the temp files no live process holds
are swept at start.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

import srkit
from srkit import describe, race

HOUR = 3600
# Account creation hashes passwords; cheap parameters keep 40 accounts fast.
CHEAP = {"STRONGROOM_PASSWORD__ARGON2_MEMORY_KIB": "64", "STRONGROOM_PASSWORD__ARGON2_ITERATIONS": "1"}


def clocked(strongroom, kind: str, tmp: Path, **extra) -> tuple[srkit.Server, Path]:
    clock = tmp / "clock"
    clock.write_text("0")
    return strongroom(kind, env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock), **extra}), clock


def run_jobs_after_grace(server: srkit.Server, clock: Path) -> str:
    clock.write_text(str(2 * HOUR))  # past blobs.claim_grace_minutes (60)
    return server.cli("admin", "run-jobs").stdout


def test_forty_first_uploads_of_one_new_name_leave_only_the_winners_blobs(strongroom, backend_kind, tmp_path):
    server, clock = clocked(strongroom, backend_kind, tmp_path, **CHEAP)
    with ThreadPoolExecutor(4) as ex:
        tokens = list(ex.map(lambda i: server.user_with_token(f"grabber{i}"), range(40)))
    dists = [srkit.make_wheel("sr-land-grab", "1.0", payload=f"grabber {i}") for i in range(40)]
    assert len({d.filename for d in dists}) == 1 and len({d.blake2 for d in dists}) == 40

    results = race([lambda t=t, d=d: srkit.upload_raw(server, t, d) for t, d in zip(tokens, dists)])

    summary = "\n".join(describe(r) for r in results)
    assert all(not isinstance(r, Exception) for r in results), summary
    winners = [i for i, r in enumerate(results) if r.status_code == 200]
    assert len(winners) == 1, summary
    assert all(r.status_code in (400, 403) for i, r in enumerate(results) if i != winners[0]), summary
    win = dists[winners[0]]
    expected = {win.path.removeprefix("/packages/"), win.path.removeprefix("/packages/") + ".metadata"}
    assert server.db_blob_keys() == expected
    # The losers cleaned up after themselves: nothing waits for the collector.
    assert server.blob_keys() == expected, "refused uploads left blobs behind"
    run_jobs_after_grace(server, clock)
    assert server.blob_keys() == expected
    for i, d in enumerate(dists):
        if i != winners[0]:
            assert server.get(d.path).status_code == 404


def test_six_concurrent_sdists_of_one_release_leave_one(strongroom, backend_kind, tmp_path):
    server, clock = clocked(strongroom, backend_kind, tmp_path)
    token = server.user_with_token("alice")
    srkit.ok_upload(server, token, srkit.make_wheel("sr-sdists", "1.0", payload="wheel"))
    for rnd in range(3):
        version = f"2.{rnd}"
        sdists = [srkit.make_sdist("sr-sdists", version, payload=f"sdist {rnd}.{i}") for i in range(6)]
        results = race([lambda d=d: srkit.upload_raw(server, token, d) for d in sdists])
        summary = "\n".join(describe(r) for r in results)
        assert all(not isinstance(r, Exception) for r in results), summary
        assert sorted(r.status_code for r in results) == [200] + [400] * 5, summary
        assert server.blob_keys() == server.db_blob_keys(), f"round {rnd}: refused sdists left blobs"
    assert len(server.db_blob_keys()) == 2 + 3
    run_jobs_after_grace(server, clock)
    assert server.blob_keys() == server.db_blob_keys()


def put_object(server: srkit.Server, key: str, data: bytes) -> None:
    """Write an object into the blob store behind the server's back."""
    if server.backend.s3:
        r = server.backend.s3.request("PUT", f"/{server.backend.bucket}/{key}", body=data)
        assert r.status_code == 200, r.text
    else:
        path = server.data_dir / "files" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_blobs_no_row_references_are_collected_after_the_grace_period(strongroom, backend_kind, tmp_path):
    server, clock = clocked(strongroom, backend_kind, tmp_path)
    token = server.user_with_token("alice")
    kept = srkit.make_wheel("sr-kept", "1.0", payload="kept")
    srkit.ok_upload(server, token, kept)
    # What a server of an older version, a crash between put and commit, or a restored database
    # leaves: blobs the database has never heard of. And an object that is no blob at all.
    stray = srkit.make_wheel("sr-stray", "1.0", payload="stray")
    stray_key = stray.path.removeprefix("/packages/")
    put_object(server, stray_key, stray.data)
    put_object(server, stray_key + ".metadata", stray.metadata)
    orphan_meta = srkit.make_wheel("sr-stray", "2.0", payload="meta only").path.removeprefix("/packages/") + ".metadata"
    put_object(server, orphan_meta, b"Metadata-Version: 2.1\n")
    put_object(server, "notes/README.txt", b"not a blob")
    everything = server.blob_keys()
    assert {stray_key, stray_key + ".metadata", orphan_meta, "notes/README.txt"} <= everything

    # Young: it could be an upload of an older server still in flight.
    server.cli("admin", "run-jobs")
    assert server.blob_keys() == everything
    out = run_jobs_after_grace(server, clock)
    assert server.blob_keys() == server.db_blob_keys() | {"notes/README.txt"}, out
    assert "blob collector" in out, out
    assert server.get(kept.path).status_code == 200
    assert server.get(kept.path + ".metadata").status_code == 200


def wait_until(what: str, check, server: srkit.Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f}s\n{server.stderr_text()[-3000:]}")
        time.sleep(0.2)


def test_the_blob_store_is_listed_at_start_unless_turned_off(strongroom, backend_kind, tmp_path):
    """By default `serve` lists the blob store when it starts and collects what is old and
    unreferenced; `blobs.scan_at_start = false` skips that listing (a large bucket makes every
    start list it all), leaving it to `blobs.scan_interval_hours` and `admin run-jobs`."""
    server, clock = clocked(strongroom, backend_kind, tmp_path)
    env = {"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)}
    strays = []
    for i in range(2):
        d = srkit.make_wheel("sr-stray-start", f"{i}.0", payload=f"stray {i}")
        key = d.path.removeprefix("/packages/")
        put_object(server, key, d.data)
        strays.append(key)
    server.stop()
    clock.write_text(str(2 * HOUR))  # the strays are now older than the grace period

    off = strongroom.pool.start(server.backend, data_dir=server.data_dir,
                                env={**env, "STRONGROOM_BLOBS__SCAN_AT_START": "false"})
    wait_until("the first jobs run", lambda: "first jobs run done without listing" in off.stderr_text(), off)
    assert set(strays) <= off.blob_keys(), "not listed at start: nothing collected"
    assert "blob collector: listed" not in off.stderr_text()
    off.stop()

    on = strongroom.pool.start(server.backend, data_dir=server.data_dir, env=env)  # the default
    wait_until("the strays collected at start", lambda: not (set(strays) & on.blob_keys()), on)
    # the listing's summary line is written once its sweep is done, after the deletes
    wait_until("the listing's summary", lambda: "blob collector: listed" in on.stderr_text(), on)


def start_stalled_upload(server: srkit.Server, token: str, dist: srkit.Dist) -> tuple[socket.socket, bytes]:
    """Send the headers, the form and half of the file of an upload, then stall (the way a slow
    client or a cut connection does), keeping the socket open. Returns it and the rest."""
    files = [(k, (None, v)) for k, v in dist.form()] + [("content", (dist.filename, dist.data, "application/octet-stream"))]
    req = requests.Request("POST", server.upload_url, files=files, auth=("__token__", token)).prepare()
    body = req.body
    url = urllib.parse.urlsplit(server.upload_url)
    head = f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in req.headers.items()) + "\r\n"
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    sock.sendall(head.encode() + body[: len(body) // 2])
    return sock, body[len(body) // 2:]


def test_a_server_killed_mid_upload_leaves_no_temp_files_and_the_retry_succeeds(strongroom, backend_kind, tmp_path):
    backend = strongroom.pool.backend(backend_kind)
    data = tmp_path / "srv"
    server = strongroom.pool.start(backend, data_dir=data)
    token = server.user_with_token("alice")
    temp = data / "files" / ".tmp" if backend_kind == "sqlite" else data / "tmp"
    dist = srkit.make_wheel("sr-killed", "1.0", payload=os.urandom(3_000_000))
    for rnd in range(3):
        sock, _rest = start_stalled_upload(server, token, dist)
        try:
            assert srkit.wait_until(lambda: any(temp.iterdir()), 30), "the upload's temp file never appeared"
            left = {p.name for p in temp.iterdir()}
            server.proc.kill()  # SIGKILL: no cleanup of any kind
            server.proc.wait(10)
        finally:
            sock.close()
        assert {p.name for p in temp.iterdir()} == left, f"round {rnd}: the killed server's temp file is there"
        server = strongroom.pool.start(backend, data_dir=data)
        # Swept before the server listened: no live process holds them.
        assert list(temp.iterdir()) == [], f"round {rnd}: temp files survived the restart"
    srkit.ok_upload(server, token, dist)
    assert [f["filename"] for f in server.project_files("sr-killed")] == [dist.filename]
    assert server.blob_keys() == server.db_blob_keys()
    assert list(temp.iterdir()) == []


def test_a_live_upload_keeps_its_temp_file_through_another_servers_start(strongroom, tmp_path):
    """Two servers share one PostgreSQL, one bucket and (here) one data folder's temp folder: one
    starting (and sweeping) while the other streams an upload leaves that upload's file alone, and
    the upload completes."""
    backend = strongroom.pool.backend("pg_s3")
    data = tmp_path / "srv"
    first = strongroom.pool.start(backend, data_dir=data)
    token = first.user_with_token("alice")
    temp = data / "tmp"
    dist = srkit.make_wheel("sr-shared", "1.0", payload=os.urandom(2_000_000))
    sock, rest = start_stalled_upload(first, token, dist)
    try:
        assert srkit.wait_until(lambda: any(temp.iterdir()), 30), "the upload's temp file never appeared"
        # The second server's own name for the same folder (so each keeps its own log).
        other = tmp_path / "srv-b"
        other.symlink_to(data, target_is_directory=True)
        strongroom.pool.start(backend, data_dir=other)  # sweeps the same temp folder at start
        assert any(temp.iterdir()), "a live upload's temp file was swept"
        sock.sendall(rest)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert [f["filename"] for f in first.project_files("sr-shared")] == [dist.filename]
    assert srkit.wait_until(lambda: not any(temp.iterdir()), 10)
