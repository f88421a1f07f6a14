"""Upgrades with two servers of different schema versions on one database (issue 10, failure 4).

A CI run cannot build last release's binary, so `testing.known_migrations = N` makes this one
know only migrations 1..=N: it acts as the release whose newest migration was N. The versions
come from the binary itself (`migrate --dry-run` on a new database names every migration as an
expand or a contract step), so the tests keep meaning the same as migrations are added: the
release before the newest (`previous`) may always run after it (the expand/contract rule), and
the one just below the version the newest requires (`older`) may not. Today: newest 0017 (an
expand step), previous 16, older 15 (0016, held files, is a contract step).
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from pathlib import Path

import srkit

KNOWN = "STRONGROOM_TESTING__KNOWN_MIGRATIONS"


class Versions:
    """The binary's migrations, as its `migrate --dry-run` on a new database names them."""

    def __init__(self, tmp: Path):
        proc = srkit.run([srkit.strongroom_bin(), "migrate", "--dry-run", "--data", tmp / "dry-run"],
                         env=srkit.Server(srkit.Backend("sqlite"), tmp / "dry-run").env(), timeout=60)
        self.labels: dict[int, str] = {}
        # the contract step after which only binaries of version `needs` or later may run
        self.contract = ""
        needs = 0
        for line in proc.stdout.splitlines():
            m = re.match(r"would apply ((\d{4})_\w+) \((expand step|contract step: only binaries of "
                         r"schema version (\d+) or later may run after it)\)$", line)
            if m:
                self.labels[int(m.group(2))] = m.group(1)
                if m.group(4) and int(m.group(4)) >= needs:
                    needs, self.contract = int(m.group(4)), m.group(1)
        assert self.labels, proc.stdout
        self.latest = max(self.labels)
        # the lowest binary version that may run against a database at `latest`
        self.needs = needs
        self.previous = self.latest - 1
        self.older = self.needs - 1
        assert self.needs <= self.previous, "the newest migration shuts out the release before it"
        assert self.older >= 1

    def after(self, version: int) -> list[str]:
        return [self.labels[v] for v in sorted(self.labels) if v > version]


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
    v = Versions(tmp_path)
    backend, env = shared_backend(strongroom, backend_kind, tmp_path)
    # The previous release creates the database and serves it.
    old = release(backend, tmp_path / "old", env, v.previous)
    strongroom.pool.servers.append(old)
    old.start()
    # The new release's `strongroom migrate`, once, while the old server runs.
    new = release(backend, tmp_path / "new", env, None)
    migrated = new.cli("migrate")
    assert migrated.stdout.splitlines() == [f"applied {m}" for m in v.after(v.previous)], srkit.output(migrated)

    # The old server keeps serving: an upload through it, pip through it and through a new one.
    old.create_user("alice")  # the old CLI too
    token = old.create_token("alice")
    srkit.twine_upload(old, token, dists.demo_v1, tmp_path)
    srkit.pip_install(old, ["sr-demo"], tmp_path / "via-old", tmp_path)
    assert srkit.installed(tmp_path / "via-old") == {"sr-demo": "1.0"}
    strongroom.pool.servers.append(new)
    new.start()
    srkit.pip_install(new, ["sr-demo"], tmp_path / "via-new", tmp_path)
    assert srkit.installed(tmp_path / "via-new") == {"sr-demo": "1.0"}

    # The old binary's migrate says the database is ahead (not "up to date") and changes nothing.
    ahead = srkit.output(old.cli("migrate"))
    assert f"the database is ahead of this binary ({v.latest} > {v.previous})" in ahead, ahead
    assert "up to date" not in ahead
    # Restarted, the old release still starts, and says it is behind the database.
    old.stop()
    old = release(backend, tmp_path / "old", env, v.previous)
    strongroom.pool.servers.append(old)
    old.start()
    assert f"ahead of this binary ({v.latest} > {v.previous})" in old.stderr_text(), old.stderr_text()[-3000:]
    srkit.pip_install(old, ["sr-demo"], tmp_path / "via-old-again", tmp_path)

    # A release the contract step shuts out refuses to serve, to migrate and to run any other
    # command, naming both versions and what to do.
    older = release(backend, tmp_path / "older", env, v.older)
    out = serve_refused(older)
    assert f"ahead of this binary ({v.latest} > {v.older})" in out and v.contract in out, out
    assert f"schema version {v.needs} or later" in out, out
    refused = older.cli("migrate", check=False)
    assert refused.returncode == 1, srkit.output(refused)
    assert f"the database is ahead of this binary ({v.latest} > {v.older})" in srkit.output(refused)
    user = older.cli("user", "create", "mallory", "--email", "m@example.test", "--password-stdin",
                     input="correct horse battery staple 42\n", check=False)
    assert user.returncode == 1 and f"ahead of this binary ({v.latest} > {v.older})" in srkit.output(user), \
        srkit.output(user)
    # ... and the database is as the new release left it: both servers still answer.
    for s in (old, new):
        assert s.get("/simple/sr-demo/").status_code == 200


def test_serve_no_migrate_refuses_a_database_behind_it_and_leaves_it_so(strongroom, backend_kind, tmp_path):
    v = Versions(tmp_path)
    backend, env = shared_backend(strongroom, backend_kind, tmp_path)
    # A database the previous release made.
    old = release(backend, tmp_path / "old", env, v.previous)
    made = old.cli("migrate")
    assert made.stdout.splitlines()[-1] == f"applied {v.labels[v.previous]}", made.stdout
    new = release(backend, tmp_path / "new", env, None)
    # What the upgrade would do, without doing it.
    plan = new.cli("migrate", "--dry-run").stdout.splitlines()
    assert [ln.split()[2] for ln in plan[:-1]] == v.after(v.previous), plan
    assert f"servers of schema version {v.previous} keep working after them" in plan[-1], plan
    pending = ", ".join(v.after(v.previous))
    out = serve_refused(new, "--no-migrate")
    assert f"behind this binary ({v.previous} < {v.latest}: {pending} not applied)" in out, out
    assert "strongroom migrate" in out, out
    # The documented scale-out key does the same for every command that opens the database.
    off = release(backend, tmp_path / "new-off", {**env, "STRONGROOM_MIGRATE_ON_START": "false"}, None)
    user = off.cli("user", "create", "alice", "--email", "a@example.test", "--password-stdin",
                   input="correct horse battery staple 42\n", check=False)
    assert user.returncode == 1 and f"behind this binary ({v.previous} < {v.latest}" in srkit.output(user), \
        srkit.output(user)
    shown = off.cli("config", "show").stdout
    assert re.search(r"^migrate_on_start\s+= false\s+# env STRONGROOM_MIGRATE_ON_START", shown, re.M), shown
    # Nothing was applied: the one `strongroom migrate` still has all of it to do.
    migrated = new.cli("migrate")
    assert migrated.stdout.splitlines() == [f"applied {m}" for m in v.after(v.previous)], srkit.output(migrated)
    assert new.cli("migrate", "--dry-run").stdout.splitlines() == [
        f"database is up to date (schema version {v.latest}, as this binary)"]
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
    """A server of a release the newest contract step shuts out serves; the new release's
    `migrate` applies that step under it: it stops within a check interval, with the reason,
    while the previous release's server keeps serving."""
    v = Versions(tmp_path)
    backend, env = shared_backend(strongroom, backend_kind, tmp_path)
    env = {**env, "STRONGROOM_JOBS__INTERVAL_SECONDS": "1"}
    older = release(backend, tmp_path / "older", env, v.older)
    strongroom.pool.servers.append(older)
    older.start()
    release(backend, tmp_path / "new", env, None).cli("migrate")
    assert older.proc is not None
    try:
        code = older.proc.wait(30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the server that knows only {v.older} still runs after {v.contract}") from None
    assert code != 0, code
    text = older.stderr_text()
    assert f"moved ahead of this binary ({v.latest} > {v.older})" in text and v.contract in text, text[-3000:]
    # The previous release starts on it and keeps serving.
    old = release(backend, tmp_path / "old", env, v.previous)
    strongroom.pool.servers.append(old)
    old.start()
    time.sleep(2)
    assert old.proc is not None and old.proc.poll() is None
    assert old.get("/simple/").status_code == 200
