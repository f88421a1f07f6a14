"""Silent corruption (issue 10, failure 8). On both backends unless named.

Before the fix a deleted blob stayed listed and its download answered a bare 500, a tampered blob
was served whole under its original sha256 ETag (pip installed what it was given if it did not
check hashes; the bytes left the server either way), a damaged SQLite file served and took
uploads, `log verify` called it intact, and nothing found any of it. Now `strongroom admin fsck`
reports each with a typed kind (exit 0 clean, 1 findings, 2 could not check) and `--repair`
deletes only what nothing uses; downloads answer 503 for a missing blob and cut a damaged one
short, raising the `blob:missing` / `blob:damaged` signals; `serve` refuses a damaged SQLite file;
a sampled blob check runs in the jobs (`blobs.verify_sample`, default 5 files per run).
A file's bytes swapped together with its row's digests (and even its key) passed every check;
fsck now compares each row with what its `file:upload` event recorded (`file-row-altered`) and
the bytes' blake2b-256 with the row's.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
import requests

import srkit

HOUR = 3600


def clocked(strongroom, kind: str, tmp: Path, **extra) -> tuple[srkit.Server, Path]:
    clock = tmp / "clock"
    clock.write_text("0")
    return strongroom(kind, env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock), **extra}), clock


def fsck(server: srkit.Server, *args: str) -> subprocess.CompletedProcess:
    return server.cli("admin", "fsck", *args, check=False)


def sql(server: srkit.Server, query: str) -> list[tuple[str, ...]]:
    url = server.backend.database or ""
    if url.startswith("postgres"):
        return [tuple(ln.split("|")) for ln in srkit.pg_exec(url, query).splitlines() if ln.strip()]
    con = sqlite3.connect(str(server.data_dir / "strongroom.db"), timeout=30)
    try:
        rows = con.execute(query).fetchall()
        con.commit()
    finally:
        con.close()
    return [tuple(str(c) for c in r) for r in rows]


def signals(server: srkit.Server, action: str) -> list[str]:
    return [r[0] for r in sql(server, f"SELECT subject_name FROM events WHERE action = '{action}' ORDER BY seq")]


def key_of(dist: srkit.Dist) -> str:
    return dist.path.removeprefix("/packages/")


def put_object(server: srkit.Server, key: str, data: bytes) -> None:
    if server.backend.s3:
        r = server.backend.s3.request("PUT", f"/{server.backend.bucket}/{key}", body=data)
        assert r.status_code == 200, r.text
    else:
        path = server.data_dir / "files" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def delete_object(server: srkit.Server, key: str) -> None:
    if server.backend.s3:
        r = server.backend.s3.request("DELETE", f"/{server.backend.bucket}/{key}")
        assert r.status_code in (200, 204), r.text
    else:
        (server.data_dir / "files" / key).unlink()


def tamper(server: srkit.Server, dist: srkit.Dist) -> bytes:
    """Flip one byte in the middle of the stored wheel (same length, other sha256)."""
    data = bytearray(dist.data)
    data[len(data) // 2] ^= 0xFF
    put_object(server, key_of(dist), bytes(data))
    return bytes(data)


def temp_dir(server: srkit.Server) -> Path:
    return server.data_dir / ("tmp" if server.backend.s3 else "files/.tmp")


def finding_kinds(out: str) -> list[str]:
    return sorted(line.split(" ", 1)[0] for line in out.splitlines() if not line.startswith("fsck:"))


def test_a_deleted_blob_is_reported_refused_with_a_reason_and_signalled(strongroom, backend_kind, tmp_path):
    server = strongroom(backend_kind)
    token = server.user_with_token("alice")
    kept = srkit.make_wheel("sr-fsck-kept", "1.0", payload="kept")
    gone = srkit.make_wheel("sr-fsck-gone", "1.0", payload="gone")
    for d in (kept, gone):
        srkit.ok_upload(server, token, d)
    clean = fsck(server)
    assert clean.returncode == 0, srkit.output(clean)
    assert "0 finding(s)" in clean.stdout and "2 file(s) read" in clean.stdout, clean.stdout

    delete_object(server, key_of(gone))
    r = fsck(server)
    assert r.returncode == 1, srkit.output(r)
    assert finding_kinds(r.stdout) == ["blob-missing"], r.stdout
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("blob-missing"))
    assert key_of(gone) in line and gone.filename in line and "backup" in line, line
    # --repair never hides a missing blob: the row stays, the finding stays.
    r = fsck(server, "--repair")
    assert r.returncode == 1 and "blob-missing" in r.stdout, srkit.output(r)
    assert key_of(gone) in server.db_blob_keys()

    for _ in range(3):
        resp = server.get(gone.path)
        assert resp.status_code == 503, (resp.status_code, resp.text)
        assert "missing or damaged" in resp.text, resp.text
    assert server.get(kept.path).content == kept.data
    # One signal however many downloads found it (at most one an hour per file).
    assert signals(server, "blob:missing") == [gone.filename]

    j = json.loads(fsck(server, "--json").stdout)
    assert [(f["kind"], f["subject"], f["repair"]) for f in j["findings"]] == [
        ("blob-missing", key_of(gone), "restore-from-backup")], j
    assert j["clean"] is False


def test_a_tampered_blob_is_reported_never_served_whole_and_signalled(strongroom, backend_kind, tmp_path):
    server = strongroom(backend_kind)
    token = server.user_with_token("alice")
    # Several read chunks long, so a cut-short body is visibly partial.
    dist = srkit.make_wheel("sr-fsck-tampered", "1.0", payload=os.urandom(700_000))
    srkit.ok_upload(server, token, dist)
    tampered = tamper(server, dist)

    r = fsck(server)
    assert r.returncode == 1, srkit.output(r)
    assert finding_kinds(r.stdout) == ["blob-damaged"], r.stdout
    assert dist.sha256 in r.stdout and srkit.sha256(tampered) in r.stdout, r.stdout

    got = b""
    with pytest.raises(requests.exceptions.RequestException):
        with requests.get(server.url + dist.path, stream=True, timeout=30) as resp:
            assert resp.status_code == 200
            for chunk in resp.iter_content(65536):
                got += chunk
    assert len(got) < len(tampered), "the damaged file was sent whole"
    assert got == tampered[: len(got)]

    target = tmp_path / "target"
    p = srkit.pip_install(server, ["sr-fsck-tampered==1.0"], target, tmp_path, check=False)
    assert p.returncode != 0, srkit.output(p)
    assert not (target / "sr_fsck_tampered").exists()
    assert srkit.wait_until(lambda: signals(server, "blob:damaged") == [dist.filename], 15), \
        signals(server, "blob:damaged")


def test_orphan_blobs_and_stale_temp_files_are_repaired_and_nothing_else(strongroom, backend_kind, tmp_path):
    server, clock = clocked(strongroom, backend_kind, tmp_path)
    token = server.user_with_token("alice")
    kept = srkit.make_wheel("sr-fsck-orphans", "1.0", payload="kept")
    srkit.ok_upload(server, token, kept)
    stray = srkit.make_wheel("sr-fsck-stray", "1.0", payload="stray")
    put_object(server, key_of(stray), stray.data)
    put_object(server, key_of(stray) + ".metadata", stray.metadata)
    put_object(server, "notes/README.txt", b"not a blob")
    stale = temp_dir(server) / "up-stale-upload"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half an upload")

    # Young: an upload of another server may be about to reference it.
    r = fsck(server)
    assert finding_kinds(r.stdout) == ["stale-temp-file"], r.stdout
    clock.write_text(str(2 * HOUR))  # past blobs.claim_grace_minutes (60)
    r = fsck(server)
    assert r.returncode == 1, srkit.output(r)
    assert finding_kinds(r.stdout) == ["orphan-blob", "stale-temp-file"], r.stdout
    assert key_of(stray) in r.stdout and str(stale) in r.stdout

    r = fsck(server, "--repair")
    assert r.returncode == 0, srkit.output(r)
    assert r.stdout.count("(repaired)") == 2, r.stdout
    assert not stale.exists()
    assert server.blob_keys() == server.db_blob_keys() | {"notes/README.txt"}
    again = fsck(server)
    assert again.returncode == 0 and "0 finding(s)" in again.stdout, srkit.output(again)
    assert server.get(kept.path).content == kept.data


def test_journal_gaps_and_a_broken_event_chain_are_findings_repair_never_touches(strongroom, backend_kind, tmp_path):
    server = strongroom(backend_kind)
    token = server.user_with_token("alice")
    for v in ("1.0", "2.0", "3.0"):
        srkit.ok_upload(server, token, srkit.make_wheel("sr-fsck-journal", v, payload=v))
    assert fsck(server).returncode == 0
    serials = [row[0] for row in sql(server, "SELECT serial FROM journal ORDER BY serial")]
    sql(server, "DELETE FROM journal WHERE serial = 2")
    sql(server, "UPDATE events SET actor_name = 'someone else' WHERE seq = 3")
    for args in ((), ("--repair",)):
        r = fsck(server, *args)
        assert r.returncode == 1, srkit.output(r)
        assert finding_kinds(r.stdout) == ["event-chain-broken", "journal-gap"], r.stdout
        assert "serials 2..2" in r.stdout and "event 3" in r.stdout, r.stdout
    assert [row[0] for row in sql(server, "SELECT serial FROM journal ORDER BY serial")] == \
        [n for n in serials if n != "2"], "repair touched the journal"


def swap_file(server: srkit.Server, victim: srkit.Dist, evil: srkit.Dist, *, new_key: bool) -> str:
    """Replace `victim`'s bytes with `evil`'s and make its row agree (sha256, md5, size; with
    `new_key` also blake2_256 and the key derived from it), the way someone with write access to
    the database and the blob store would. Returns the key the row names now."""
    key = key_of(victim)
    sets = (f"sha256 = '{evil.sha256}', md5 = '{hashlib.md5(evil.data).hexdigest()}', "
            f"size = {len(evil.data)}")
    if new_key:
        blake = hashlib.blake2b(evil.data, digest_size=32).hexdigest()
        key = f"{blake[:2]}/{blake[2:4]}/{blake[4:]}/{victim.filename}"
        put_object(server, key + ".metadata", victim.metadata)
        sets += f", blake2_256 = '{blake}', blob_key = '{key}'"
    put_object(server, key, evil.data)
    sql(server, f"UPDATE files SET {sets} WHERE filename = '{victim.filename}'")
    return key


@pytest.mark.parametrize("new_key", [False, True], ids=["key-kept", "key-rewritten"])
def test_a_file_swapped_with_its_row_is_reported_against_its_upload_event(strongroom, backend_kind, new_key):
    """Bytes swapped together with the row's digests agree with the row, but not with what the
    upload recorded in the hash-chained log (which a recorded head authenticates)."""
    server = strongroom(backend_kind)
    token = server.user_with_token("alice")
    kept = srkit.make_wheel("sr-fsck-honest", "1.0", payload="honest")
    victim = srkit.make_wheel("sr-fsck-swapped", "1.0", payload="genuine")
    for d in (kept, victim):
        srkit.ok_upload(server, token, d)
    assert fsck(server).returncode == 0
    evil = srkit.make_wheel("sr-fsck-swapped", "1.0", payload="evil " * 50)
    key = swap_file(server, victim, evil, new_key=new_key)

    for args in ((), ("--repair",)):
        r = fsck(server, *args)
        assert r.returncode == 1, srkit.output(r)
        kinds = set(finding_kinds(r.stdout))
        assert "file-row-altered" in kinds, r.stdout
        # the key kept: its blake2b-256 is no longer that of the bytes under it, either
        assert kinds == ({"file-row-altered"} if new_key else {"file-row-altered", "blob-damaged"}), r.stdout
        altered = [ln for ln in r.stdout.splitlines() if ln.startswith("file-row-altered")]
        assert all(key in ln and victim.filename in ln for ln in altered), r.stdout
        assert any(victim.sha256 in ln for ln in altered), r.stdout
        assert kept.filename not in r.stdout, r.stdout


def test_fsck_that_cannot_reach_the_database_exits_2(strongroom, tmp_path):
    server = strongroom("sqlite")
    r = srkit.run([srkit.strongroom_bin(), "admin", "fsck", "--data", str(server.data_dir),
                   "--database", "sqlite:///proc/strongroom-none/x.db"], env=server.env(), check=False, timeout=60)
    assert r.returncode == 2, srkit.output(r)
    assert "could not check" in r.stderr, srkit.output(r)


def damage_pages(db: Path, where: str) -> None:
    """Overwrite the first bytes (the b-tree header) of pages in the middle of the file: the
    events table's root page (the schema stays readable, the file opens), or every page of the
    middle third (the schema's own pages too: the file does not even open)."""
    con = sqlite3.connect(str(db))
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
    page = con.execute("PRAGMA page_size").fetchone()[0]
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    con.close()
    assert pages >= 12, f"the database has only {pages} pages"
    numbers = [root] if where == "events" else range(pages // 3 + 1, 2 * pages // 3 + 1)
    with db.open("r+b") as f:
        for n in numbers:  # 1-based page numbers
            f.seek((n - 1) * page)
            f.write(b"\x5a" * 48)


@pytest.mark.parametrize("where", ["events", "middle-third"])
def test_a_damaged_sqlite_file_is_refused_at_start_and_reported(strongroom, tmp_path, where):
    server = strongroom("sqlite")
    token = server.user_with_token("alice")
    for v in ("1.0", "2.0", "3.0"):
        srkit.ok_upload(server, token, srkit.make_wheel("sr-fsck-damaged", v, payload=v))
    server.stop()
    # the clean stop left its mark: the damage below must still be found (the file changed)
    assert (server.data_dir / "strongroom.db.clean").exists()
    damage_pages(server.data_dir / "strongroom.db", where)

    # the start answers first and reads the file in the background (or meets the damage while
    # opening it): either way it stops by itself, saying so
    try:
        serve = srkit.run([srkit.strongroom_bin(), "serve", *server.global_args(), "--bind", "127.0.0.1:0"],
                          env=server.env(), check=False, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("serve kept serving from a damaged database")
    assert serve.returncode != 0, srkit.output(serve)
    assert "database is damaged" in serve.stderr and "backup" in serve.stderr, srkit.output(serve)
    assert "read whole and is sound" not in serve.stderr, srkit.output(serve)

    r = fsck(server)
    assert r.returncode == 1, srkit.output(r)
    assert "database-damaged" in r.stdout, r.stdout
    verify = server.cli("admin", "log", "verify", check=False)
    assert verify.returncode != 0, srkit.output(verify)
    assert "intact" not in verify.stdout, srkit.output(verify)
    if where == "events":
        assert "NOT VERIFIED" in verify.stdout, srkit.output(verify)


def test_a_clean_stop_lets_the_next_start_skip_the_full_check_and_nothing_else_does(strongroom):
    """`serve` reads the whole SQLite file at start (`quick_check`), unless the last stop was
    clean and the file is exactly as it left it (`store::clean_close`): then the check is
    skipped. A start takes the mark away; a killed server leaves none."""
    server = strongroom("sqlite")
    token = server.user_with_token("alice")
    srkit.ok_upload(server, token, srkit.make_wheel("sr-clean-stop", "1.0"))
    server.stop()
    data = server.data_dir
    mark = data / "strongroom.db.clean"
    assert mark.exists() and mark.stat().st_mode & 0o777 == 0o600
    wal = data / "strongroom.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0, "the log was folded into the file"

    second = strongroom.pool.start(server.backend, data_dir=data)
    assert "full check is skipped" in second.stderr_text(), second.stderr_text()[-2000:]
    assert not mark.exists(), "taken away while the file may change"
    srkit.ok_upload(second, token, srkit.make_wheel("sr-clean-stop", "2.0"))
    second.kill()  # no clean stop, so no mark: the next start reads the file whole

    third = strongroom.pool.start(server.backend, data_dir=data)
    assert "full check is skipped" not in third.stderr_text(), third.stderr_text()[-2000:]
    versions = {f["filename"].split("-")[1] for f in third.project_files("sr-clean-stop")}
    assert versions == {"1.0", "2.0"}, versions


def test_after_an_unclean_stop_changes_wait_for_the_full_check_and_reads_do_not(strongroom, tmp_path):
    """A start the last stop does not vouch for answers at once and reads the SQLite file whole
    in the background (at 10M files that takes 40 s): pages and downloads are served meanwhile,
    uploads are refused with 503 and Retry-After and the periodic jobs wait until the check
    passes; then both go on."""
    server = strongroom("sqlite")
    token = server.user_with_token("alice")
    first = srkit.make_wheel("sr-check-wait", "1.0")
    srkit.ok_upload(server, token, first)
    data = server.data_dir
    server.kill()  # no clean stop: the next start owes the file its full check

    second = strongroom.pool.start(server.backend, data_dir=data,
                                   env={"STRONGROOM_TESTING__DATABASE_CHECK_DELAY_MS": "6000"})
    log = second.stderr_text()
    assert "reading it whole in the background" in log, log[-3000:]
    assert "read whole and is sound" not in log, "the delay did not hold the check back"
    ready = second.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert "note: the database file is being read whole" in ready.text, ready.text
    # reads are served while the check runs
    files = second.project_files("sr-check-wait")
    assert [f["filename"] for f in files] == [first.filename]
    got = requests.get(files[0]["url"], timeout=30)
    assert got.status_code == 200 and got.content == first.data
    # a change waits: refused with a reason and a time to come back, nothing stored
    second_dist = srkit.make_wheel("sr-check-wait", "2.0")
    refused = srkit.upload_raw(second, token, second_dist)
    assert refused.status_code == 503, (refused.status_code, refused.text)
    assert "checking its database after an unclean stop" in refused.text, refused.text
    assert refused.headers.get("Retry-After") == "30", refused.headers
    assert "read whole and is sound" not in second.stderr_text(), "the refusal came after the check"
    # the periodic jobs wait too: the blob collector decides deletions from the file's rows
    assert "blob collector: listed" not in second.stderr_text(), "a job ran on the unchecked file"
    assert [f["filename"] for f in second.project_files("sr-check-wait")] == [first.filename]
    # once the check passed, the same upload is taken
    assert srkit.wait_until(lambda: "read whole and is sound" in second.stderr_text(), 30), \
        second.stderr_text()[-3000:]
    srkit.ok_upload(second, token, second_dist)
    assert len(second.project_files("sr-check-wait")) == 2
    assert srkit.wait_until(lambda: "blob collector: listed" in second.stderr_text(), 15), \
        "the jobs never started after the check"
    assert srkit.wait_until(lambda: second.get("/readyz").text == "ready\n", 5)


def test_the_sampled_job_signals_a_damaged_blob_by_default_and_can_be_turned_off(strongroom, backend_kind, tmp_path):
    fast = {"STRONGROOM_JOBS__INTERVAL_SECONDS": "1"}
    off = strongroom(backend_kind, env={**fast, "STRONGROOM_BLOBS__VERIFY_SAMPLE": "0"})
    token = off.user_with_token("alice")
    dist = srkit.make_wheel("sr-fsck-sampled", "1.0", payload="sampled")
    srkit.ok_upload(off, token, dist)
    tamper(off, dist)
    assert not srkit.wait_until(lambda: signals(off, "blob:damaged"), 4), "verify_sample = 0 still checked"
    off.stop()

    on = strongroom.pool.start(off.backend, data_dir=off.data_dir, env=fast)  # the default sample
    shown = [ln.split() for ln in on.cli("config", "show").stdout.splitlines() if ln.startswith("blobs.verify_sample")]
    assert shown and shown[0][:3] == ["blobs.verify_sample", "=", "5"], shown
    assert srkit.wait_until(lambda: signals(on, "blob:damaged") == [dist.filename], 30), on.stderr_text()[-3000:]
    # the job logs its summary after it has raised the signal: the line follows it
    assert srkit.wait_until(lambda: "blob check: 1 missing or damaged" in on.stderr_text(), 10), \
        on.stderr_text()[-3000:]
