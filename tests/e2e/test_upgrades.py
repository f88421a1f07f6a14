"""Upgrades with two servers of different schema versions on one database (issue 10, failure 4).

A CI run cannot build last release's binary, so `testing.known_migrations = N` makes this one
know only migrations 1..=N: it acts as the release whose newest migration was N. 0017
(refusal windows) is an expand step and 0016 (held files) a contract step, so a binary that
knows 16 may run against a database at 17 and one that knows 15 may not.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from pathlib import Path

import srkit

KNOWN = "STRONGROOM_TESTING__KNOWN_MIGRATIONS"


def shared_backend(strongroom, kind: str, tmp: Path) -> tuple[srkit.Backend, dict[str, str]]:
    """A backend two servers with their own data folders share (on SQLite: one database file and
    one files folder outside both data folders, one secrets key), and the env that names it."""
    if kind == "pg_s3":
        return strongroom.pool.backend("pg_s3"), {}
    shared = tmp / "shared"
    shared.mkdir(mode=0o700)
    backend = srkit.Backend("sqlite", database=f"sqlite://{shared / 'strongroom.db'}",
                            secrets_key=srkit.new_secrets_key())
    return backend, {"STRONGROOM_STORAGE": f"file://{shared / 'files'}"}


def release(backend: srkit.Backend, data: Path, env: dict[str, str], known: int | None) -> srkit.Server:
    """A server (not started) of the release that knows migrations 1..=known (None: all)."""
    extra = dict(env)
    if known is not None:
        extra[KNOWN] = str(known)
    return srkit.Server(backend, data, extra)


def serve_refused(server: srkit.Server, *flags: str) -> str:
    """`serve` must exit at once with an error instead of listening; returns its output."""
    proc = srkit.run([srkit.strongroom_bin(), "serve", *flags, *server.global_args(), "--bind", "127.0.0.1:0"],
                     env=server.env(), check=False, timeout=60)
    out = srkit.output(proc)
    assert proc.returncode != 0 and "listening" not in out, out
    return out


def test_the_previous_release_keeps_serving_after_an_expand_and_refuses_a_contract(
        strongroom, backend_kind, dists, tmp_path):
    backend, env = shared_backend(strongroom, backend_kind, tmp_path)
    # The previous release (knows 0016) creates the database and serves it.
    old = release(backend, tmp_path / "old", env, 16)
    strongroom.pool.servers.append(old)
    old.start()
    assert "0017_refusal_windows" not in old.stderr_text()
    # The new release's `strongroom migrate`, once, while the old server runs.
    new = release(backend, tmp_path / "new", env, None)
    migrated = new.cli("migrate")
    assert migrated.stdout.splitlines() == ["applied 0017_refusal_windows"], srkit.output(migrated)

    # The old server keeps serving: an upload through it, pip through it and through a new one.
    old.create_user("alice")  # the old CLI too: 0017 is an expand step
    token = old.create_token("alice")
    srkit.twine_upload(old, token, dists.demo_v1, tmp_path)
    srkit.pip_install(old, ["sr-demo"], tmp_path / "via-old", tmp_path)
    assert srkit.installed(tmp_path / "via-old") == {"sr-demo": "1.0"}
    strongroom.pool.servers.append(new)
    new.start()
    srkit.pip_install(new, ["sr-demo"], tmp_path / "via-new", tmp_path)
    assert srkit.installed(tmp_path / "via-new") == {"sr-demo": "1.0"}

    # The old binary's migrate says the database is ahead (not "up to date") and changes nothing.
    ahead = old.cli("migrate")
    assert "the database is ahead of this binary (17 > 16)" in srkit.output(ahead), srkit.output(ahead)
    assert "up to date" not in srkit.output(ahead)
    # Restarted, the old release still starts, and says it is behind the database.
    old.stop()
    old = release(backend, tmp_path / "old", env, 16)
    strongroom.pool.servers.append(old)
    old.start()
    assert "ahead of this binary (17 > 16)" in old.stderr_text(), old.stderr_text()[-3000:]
    srkit.pip_install(old, ["sr-demo"], tmp_path / "via-old-again", tmp_path)

    # The release before it (knows 0015) may not run after the contract step 0016: it refuses to
    # serve, to migrate and to run any other command, naming both versions and what to do.
    older = release(backend, tmp_path / "older", env, 15)
    out = serve_refused(older)
    assert "ahead of this binary (17 > 15)" in out and "0016_file_review" in out, out
    assert "schema version 16 or later" in out, out
    refused = older.cli("migrate", check=False)
    assert refused.returncode == 1, srkit.output(refused)
    assert "the database is ahead of this binary (17 > 15)" in srkit.output(refused), srkit.output(refused)
    user = older.cli("user", "create", "mallory", "--email", "m@example.test", "--password-stdin",
                     input="correct horse battery staple 42\n", check=False)
    assert user.returncode == 1 and "ahead of this binary (17 > 15)" in srkit.output(user), srkit.output(user)
    # ... and the database is as the new release left it: both servers still answer.
    for s in (old, new):
        assert s.get("/simple/sr-demo/").status_code == 200


def test_serve_no_migrate_refuses_a_database_behind_it_and_leaves_it_so(strongroom, backend_kind, tmp_path):
    backend, env = shared_backend(strongroom, backend_kind, tmp_path)
    # A database the previous release made (schema 16).
    old = release(backend, tmp_path / "old", env, 16)
    made = old.cli("migrate")
    assert "applied 0016_file_review" in made.stdout and "0017" not in made.stdout, made.stdout
    new = release(backend, tmp_path / "new", env, None)
    # What the upgrade would do, without doing it.
    plan = new.cli("migrate", "--dry-run").stdout.splitlines()
    assert plan == ["would apply 0017_refusal_windows (expand step)",
                    "all expand steps: servers of schema version 16 keep working after them"], plan
    out = serve_refused(new, "--no-migrate")
    assert "behind this binary (16 < 17" in out and "0017_refusal_windows" in out, out
    assert "strongroom migrate" in out, out
    # The documented scale-out key does the same for every command that opens the database.
    off = release(backend, tmp_path / "new-off", {**env, "STRONGROOM_MIGRATE_ON_START": "false"}, None)
    user = off.cli("user", "create", "alice", "--email", "a@example.test", "--password-stdin",
                   input="correct horse battery staple 42\n", check=False)
    assert user.returncode == 1 and "behind this binary (16 < 17" in srkit.output(user), srkit.output(user)
    shown = off.cli("config", "show").stdout
    assert re.search(r"^migrate_on_start\s+= false\s+# env STRONGROOM_MIGRATE_ON_START", shown, re.M), shown
    # Nothing was applied: the one `strongroom migrate` still has 0017 to do.
    migrated = new.cli("migrate")
    assert migrated.stdout.splitlines() == ["applied 0017_refusal_windows"], srkit.output(migrated)
    # Then serve --no-migrate starts on the current database and serves.
    server = srkit.Server(backend, tmp_path / "new-serve", env)
    server.serve_flags = ["--no-migrate"]
    strongroom.pool.servers.append(server)
    server.start()
    assert server.get("/simple/").status_code == 200


def execute(backend: srkit.Backend, sql: str) -> None:
    """One statement on the shared database, as a newer release's `migrate` would write it."""
    url = backend.database or ""
    if url.startswith("postgres"):
        srkit.pg_exec(url, sql)
        return
    con = sqlite3.connect(url.removeprefix("sqlite://"))
    try:
        con.execute(sql)
        con.commit()
    finally:
        con.close()


def test_a_newer_release_s_migration_is_refused_or_accepted_by_what_it_records(strongroom, backend_kind, tmp_path):
    """Without the testing knob: the binary as built, and a database a newer release migrated.
    (Before the guard, it served such a database without a word and `migrate` said up to date.)"""
    backend, env = shared_backend(strongroom, backend_kind, tmp_path)
    current = release(backend, tmp_path / "current", env, None)
    latest = int(current.cli("migrate").stdout.splitlines()[-1].split()[1].split("_")[0])
    future = latest + 1
    # A contract step of the next release: only binaries that know it may run after it.
    execute(backend, "INSERT INTO schema_migrations (version, name, applied_at, compatible_from) "
                     f"VALUES ({future}, 'from_a_newer_release', 0, {future})")
    out = serve_refused(current)
    assert f"ahead of this binary ({future} > {latest})" in out and f"{future:04}_from_a_newer_release" in out, out
    refused = current.cli("migrate", check=False)
    assert refused.returncode == 1 and "up to date" not in srkit.output(refused), srkit.output(refused)
    assert f"the database is ahead of this binary ({future} > {latest})" in srkit.output(refused)
    # Recorded as an expand step (this binary still fits): served, and said so.
    execute(backend, f"UPDATE schema_migrations SET compatible_from = {latest} WHERE version = {future}")
    ahead = current.cli("migrate")
    assert f"the database is ahead of this binary ({future} > {latest})" in ahead.stdout, srkit.output(ahead)
    strongroom.pool.servers.append(current)
    current.start()
    assert f"ahead of this binary ({future} > {latest})" in current.stderr_text()
    assert current.get("/simple/").status_code == 200


def test_a_server_whose_database_a_contract_step_moves_past_stops(strongroom, backend_kind, tmp_path):
    """A server of a release that knows 0015 serves; another release's `migrate` applies 0016
    (a contract step) and 0017 under it: it stops within a check interval, with the reason, and
    the server that knows 0016 keeps serving."""
    backend, env = shared_backend(strongroom, backend_kind, tmp_path)
    env = {**env, "STRONGROOM_JOBS__INTERVAL_SECONDS": "1"}
    older = release(backend, tmp_path / "older", env, 15)
    strongroom.pool.servers.append(older)
    older.start()
    migrated = release(backend, tmp_path / "mid", env, 16).cli("migrate")
    assert migrated.stdout.splitlines() == ["applied 0016_file_review"], srkit.output(migrated)
    old = release(backend, tmp_path / "old", env, 16)
    strongroom.pool.servers.append(old)
    old.start()
    release(backend, tmp_path / "new", env, None).cli("migrate")
    assert older.proc is not None
    try:
        code = older.proc.wait(30)
    except subprocess.TimeoutExpired:
        raise AssertionError("the server that knows only 0015 still runs after 0016 was applied") from None
    assert code != 0, code
    text = older.stderr_text()
    assert "moved ahead of this binary (16 > 15)" in text or "moved ahead of this binary (17 > 15)" in text, text[-3000:]
    # The release that knows 0016 keeps serving after the expand step 0017.
    time.sleep(2)
    assert old.proc is not None and old.proc.poll() is None
    assert old.get("/simple/").status_code == 200
