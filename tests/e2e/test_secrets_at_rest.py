"""Issue 8, finding 7: secrets at rest, against started servers.

- Everything a server creates in its data folder is owner-only (folders 0700, files 0600): the
  SQLite database with its -wal and -shm, the secrets key file, blobs, outbox mail, temp folders.
  A data folder an older version left 0755/0644 is tightened at start (by `serve` and by the CLI),
  symlinks are not followed out of it, and the log says what changed. The database files and the
  default key file are followed through a symlink and their targets tightened the same way.
- A data folder, database or key file another local user owns (planted before the first start,
  red-team S1) is refused by `serve`, `migrate` and the CLI, naming the path, both owners and the
  fix, and nothing in it is changed; so is a configured key file others may read.
- A TOTP seed enrolled through the web UI is stored sealed: neither the SQL row nor the raw bytes of
  the database hold it. A copy of the database alone (no key, or another key) does not start, with
  a message naming the key ids; with the right key, 2FA still works. A plaintext seed an older
  version left is sealed at the next start. PostgreSQL without a configured key refuses to start.

Why refuse at start rather than at the 2FA check: a wrong key cannot open any sealed secret (every
TOTP check and the web signing key would fail, which looks like user error and tempts an admin to
reset 2FA); the key id in each sealed value tells at start, before anything is served."""

from __future__ import annotations

import email
import email.policy
import os
import pwd
import re
import shutil
import sqlite3
import stat
import time
import urllib.parse
from pathlib import Path

import pyotp
import pytest

import srkit
from webclient import Web, page_text

PW = "correct horse battery staple 42"


# --------------------------------------------------------------------------------------------
# helpers


class Clock:
    """The server's clock offset (STRONGROOM_TESTING__CLOCK_OFFSET_FILE): a TOTP step is accepted
    once, so each login moves the clock on a step or two."""

    def __init__(self, tmp: Path):
        self.file = tmp / "clock-offset"
        self.offset = 0
        self.file.write_text("0")

    def advance(self, seconds: int) -> None:
        self.offset += seconds
        self.file.write_text(str(self.offset))

    def env(self) -> dict[str, str]:
        return {"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(self.file)}


class Authenticator:
    """The authenticator app: codes for the server's (moved) clock."""

    def __init__(self, secret: str, clock: Clock):
        self.secret = secret
        self.totp = pyotp.TOTP(secret)
        self.clock = clock

    def now(self) -> str:
        return self.totp.at(time.time() + self.clock.offset)


def outbox_mail(server: srkit.Server, to: str, subject: str) -> str:
    """The body of the newest .eml in <data>/outbox to `to` about `subject` (waits for it)."""
    found: list[str] = []

    def ready():
        found.clear()
        for p in sorted((server.data_dir / "outbox").glob("*.eml")):
            msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            if to in str(msg["To"]) and subject in str(msg["Subject"]):
                found.append(msg.get_content())
        return bool(found)

    assert srkit.wait_until(ready, timeout=20), f"no mail to {to} about {subject!r}"
    return found[-1]


def link_path(body: str, fragment: str) -> str:
    for url in re.findall(r"https?://[^\s<>\"']+", body):
        if fragment in url:
            parts = urllib.parse.urlsplit(url)
            return parts.path + ("?" + parts.query if parts.query else "")
    pytest.fail(f"no link with {fragment!r} in:\n{body}")


def enrol_totp(server: srkit.Server, name: str, clock: Clock) -> Authenticator:
    """Create `name`, log in on the web, enrol TOTP and confirm it by the mailed link."""
    server.create_user(name, PW)
    web = Web(server.url)
    web.login(name, PW)
    assert web.logged_in(), page_text(web.last)[:400]
    form = web.form("/manage/account/totp/", "/manage/account/totp/")
    auth = Authenticator(form.fields["secret"], clock)
    resp = web.request("POST", "/manage/account/totp/", data=dict(form.fields, code=auth.now()),
                       headers={"Referer": server.url + "/manage/account/totp/"})
    assert resp.status_code == 200, page_text(resp)[:400]
    body = outbox_mail(server, f"{name}@example.test", "Confirm two-factor")
    assert web.get(link_path(body, "/account/confirm-two-factor/")).status_code == 200
    return auth


def login_with_totp(server: srkit.Server, name: str, auth: Authenticator) -> bool:
    auth.clock.advance(90)  # a step no earlier login used
    web = Web(server.url)
    resp = web.login(name, PW, totp=auth)
    ok = web.logged_in()
    if not ok:
        print(page_text(resp)[:400])
    return ok


def stored_seed(server: srkit.Server, name: str) -> str:
    """The totp_secrets row of `name`, as the SQL database holds it."""
    sql = ("SELECT t.secret FROM totp_secrets t JOIN users u ON u.id = t.user_id "
           f"WHERE u.username = '{name}'")
    if server.backend.database:
        return srkit.pg_exec(server.backend.database, sql).strip()
    with sqlite3.connect(server.data_dir / "strongroom.db") as db:
        return db.execute(sql).fetchone()[0]


def set_stored_seed(server: srkit.Server, name: str, value: str) -> None:
    sql = (f"UPDATE totp_secrets SET secret = '{value}' WHERE user_id = "
           f"(SELECT id FROM users WHERE username = '{name}')")
    if server.backend.database:
        srkit.pg_exec(server.backend.database, sql)
    else:
        db = sqlite3.connect(server.data_dir / "strongroom.db")
        with db:
            db.execute(sql)
        db.close()


def sqlite_bytes(data_dir: Path) -> bytes:
    """The raw bytes of the database file and its journals."""
    return b"".join((data_dir / f"strongroom.db{s}").read_bytes()
                    for s in ("", "-wal", "-shm") if (data_dir / f"strongroom.db{s}").exists())


def assert_seed_not_in(raw: bytes, secret: str) -> None:
    assert secret.encode() not in raw, "the base32 seed is in the database bytes"
    import base64
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    assert key not in raw, "the raw seed is in the database bytes"


def key_id(server: srkit.Server) -> str:
    """The key id `serve` prints after the listening line."""
    pattern = re.compile(r"secrets: .*\(key id ([0-9a-f]{16});")
    srkit.wait_until(lambda: pattern.search("".join(server.stdout_lines)), timeout=10)
    out = "".join(server.stdout_lines)
    m = pattern.search(out)
    assert m, out
    return m.group(1)


def loose_entries(root: Path) -> list[str]:
    """Everything under `root` that is not owner-only (symlinks are not followed)."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in [*dirnames, *filenames, ""]:
            p = Path(dirpath) / n if n else Path(dirpath)
            st = os.lstat(p)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                continue
            want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
            if mode != want:
                bad.append(f"{p} {mode:04o}")
    return sorted(set(bad))


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def serve_fails(server: srkit.Server, env: dict[str, str], *args: str) -> str:
    """Run `strongroom serve` expecting it to refuse to start; returns its stderr."""
    proc = srkit.run([srkit.strongroom_bin(), "serve", *args, "--bind", "127.0.0.1:0"],
                     env=env, check=False, timeout=60)
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "listening" not in proc.stdout, proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: "), proc.stderr
    return lines[-1]


# --------------------------------------------------------------------------------------------
# owner-only files


def test_everything_in_the_data_folder_is_owner_only(server, tmp_path):
    # srkit makes the data folder with the test's umask (0755): the start tightened it, and said so
    assert re.search(re.escape(str(server.data_dir)) + r" 0755 -> 0700", server.stderr_text()), \
        server.stderr_text()[-3000:]
    clock = Clock(tmp_path)  # (the clock is not moved here)
    enrol_totp(server, "olive", clock)  # outbox mail, sealed seed
    token = server.create_token("olive")
    srkit.ok_upload(server, token, srkit.make_wheel("sr-private", "1.0"))  # blob + .metadata
    data = server.data_dir
    outbox = sorted((data / "outbox").glob("*.eml"))
    assert outbox, "the confirmation mail is in the outbox"
    if server.backend.kind == "sqlite":
        for name in ("strongroom.db", "strongroom.db-wal", "strongroom.db-shm", "secret.key"):
            assert (data / name).exists(), name
        assert [p for p in (data / "files").rglob("*.whl")], "the wheel is in the folder store"
    else:
        assert not (data / "secret.key").exists(), "PostgreSQL takes the configured key"
    assert loose_entries(data) == [], loose_entries(data)


def test_an_open_data_folder_left_by_an_older_version_is_tightened_at_start(strongroom, tmp_path):
    server = strongroom("sqlite")
    token = server.user_with_token("alice")
    srkit.ok_upload(server, token, srkit.make_wheel("sr-open", "1.0"))
    data = server.data_dir
    server.stop()

    # what an older version (umask 022) left: folders 0755, files 0644; and a symlink to a file
    # outside, which must not be followed
    outside = tmp_path / "outside.txt"
    outside.write_text("not strongroom's")
    outside.chmod(0o644)
    (data / "outbox").mkdir(exist_ok=True)
    (data / "outbox" / "old.eml").write_text("To: a@example.test\n\nreset link\n")
    os.symlink(outside, data / "link-out")
    for dirpath, dirnames, filenames in os.walk(data):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            p = Path(dirpath) / f
            if not p.is_symlink():
                p.chmod(0o644)
    assert mode(data / "strongroom.db") == 0o644 and mode(data / "secret.key") == 0o644

    again = strongroom.pool.start(server.backend, data_dir=data)
    assert loose_entries(data) == [], loose_entries(data)
    assert mode(outside) == 0o644, "a symlink's target outside the folder is left alone"
    log = again.stderr_text()
    assert "the data folder was open to other users" in log, log[-3000:]
    for p, change in [(data, "0755 -> 0700"), (data / "strongroom.db", "0644 -> 0600"),
                      (data / "secret.key", "0644 -> 0600")]:
        assert f"{p} {change}" in log, (p, log[-3000:])
    # the index still works
    assert again.project_files("sr-open")

    # the commands run beside a live server do not walk its folder (its files come and go under
    # the walk, and a large blob folder would cost every command minutes)...
    (data / "outbox" / "old.eml").chmod(0o644)
    proc = again.cli("user", "create", "bob", "--email", "bob@example.test", "--password-stdin",
                     input=PW + "\n")
    assert "0644 -> 0600" not in proc.stderr, proc.stderr
    assert mode(data / "outbox" / "old.eml") == 0o644
    # ...`migrate` (run before an upgraded server starts) does, and says so on stderr
    proc = again.cli("migrate")
    assert f"{data / 'outbox' / 'old.eml'} 0644 -> 0600" in proc.stderr, proc.stderr
    assert proc.stderr.startswith("note: "), proc.stderr
    assert mode(data / "outbox" / "old.eml") == 0o600


# --------------------------------------------------------------------------------------------
# another owner (red-team S1, S2)

NOBODY = 65534


def as_root() -> None:
    # Planting a file owned by another user needs chown: the suite runs as root (scripts/test.sh).
    assert os.geteuid() == 0, "these tests plant files owned by `nobody`: run the e2e suite as root"


def who(uid: int) -> str:
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"


def refused(server: srkit.Server, env: dict[str, str], args: list[str], path: Path, owner: int,
            fix: Path, *, deep: bool = False) -> None:
    """`serve`, `migrate` and a CLI command all refuse, naming `path`, both owners and the fix.

    A `deep` entry (inside the folder, not the folder, database or key) is found by the walk of
    `serve` and `migrate` only: the other commands run beside a live server and do not walk."""
    msg = serve_fails(server, env, *args)
    want = f"refusing to start: {path} is owned by {who(owner)} but strongroom runs as {who(0)}"
    assert want in msg, msg
    assert f"`chown -R 0 {fix}`" in msg and "remove it" in msg, msg
    for cmd in (["migrate"], ["admin", "invites"]):
        proc = srkit.run([srkit.strongroom_bin(), *cmd, *args], env=env, check=False, timeout=60)
        if deep and cmd != ["migrate"]:
            assert proc.returncode == 0 and want not in proc.stderr, (cmd, proc.stdout, proc.stderr)
            continue
        assert proc.returncode == 1 and want in proc.stderr, (cmd, proc.stdout, proc.stderr)


def test_a_data_folder_another_user_planted_is_refused_and_left_as_it_was(strongroom, backend_kind, tmp_path):
    as_root()
    server = strongroom(backend_kind)  # its database, bucket and key; the planted folder is new
    env = server.env()
    planted = tmp_path / "planted"
    planted.mkdir()
    planted.chmod(0o777)
    key = planted / "secret.key"
    key.write_text(srkit.new_secrets_key() + "\n")  # a key the planter knows
    key.chmod(0o644)
    for p in (planted, key):
        os.chown(p, NOBODY, NOBODY)
    args = server.backend.args(planted)

    refused(server, env, args, planted, NOBODY, planted)
    assert sorted(os.listdir(planted)) == ["secret.key"], "nothing was made in it"
    assert (os.stat(planted).st_uid, mode(planted)) == (NOBODY, 0o777), "nothing was changed"
    assert (os.stat(key).st_uid, mode(key)) == (NOBODY, 0o644)

    # the folder given to this user: the planted key inside is still someone else's
    os.chown(planted, 0, 0)
    # (on PostgreSQL the key comes from the configuration: the file in the folder is just an entry)
    refused(server, env, args, key, NOBODY, key, deep=backend_kind != "sqlite")
    assert (os.stat(key).st_uid, mode(key)) == (NOBODY, 0o644)
    # without it, the start goes ahead (a key of our own is made on SQLite)
    key.unlink()
    again = strongroom.pool.start(server.backend, data_dir=planted)
    assert again.cli("admin", "invites").returncode == 0
    assert loose_entries(planted) == [], loose_entries(planted)
    again.stop()

    # a database file another user owns (SQLite) or any entry deeper in the folder
    if backend_kind == "sqlite":
        victim = planted / "strongroom.db"
    else:
        victim = planted / "outbox"
        victim.mkdir(exist_ok=True)
    os.chown(victim, NOBODY, NOBODY)
    refused(server, env, args, victim, NOBODY, victim, deep=backend_kind != "sqlite")


def test_a_database_and_key_reached_through_symlinks_are_checked_at_their_targets(strongroom, tmp_path):
    as_root()
    server = strongroom("sqlite")
    server.create_user("sym", PW, email="sym@example.test")
    data = server.data_dir
    server.stop()
    con = sqlite3.connect(data / "strongroom.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    # the operator moved the database and key to a bigger disk with cp under umask 022
    big = tmp_path / "bigdisk"
    big.mkdir()
    for name in ("strongroom.db", "secret.key"):
        shutil.copy(data / name, big / name)
        (big / name).chmod(0o644)
        (data / name).unlink()
        os.symlink(big / name, data / name)
    for extra in ("strongroom.db-wal", "strongroom.db-shm"):
        (data / extra).unlink(missing_ok=True)

    again = strongroom.pool.start(server.backend, data_dir=data)
    log = again.stderr_text()
    for name in ("strongroom.db", "secret.key"):
        assert mode(big / name) == 0o600, name
        assert f"{data / name} (-> {big / name}) 0644 -> 0600" in log, (name, log[-3000:])
    assert again.cli("admin", "invites").returncode == 0
    again.stop()

    # a target another user owns is refused, naming the link and its target
    os.chown(big / "secret.key", NOBODY, NOBODY)
    msg = serve_fails(server, server.env(), *server.global_args())
    assert (f"{data / 'secret.key'} (a symlink to {big / 'secret.key'}) is owned by {who(NOBODY)}"
            in msg), msg
    assert f"`chown -R 0 {big / 'secret.key'}`" in msg, msg
    assert mode(big / "secret.key") == 0o600 and os.stat(big / "secret.key").st_uid == NOBODY


def test_a_configured_key_file_others_may_read_is_refused(strongroom, tmp_path):
    server = strongroom("sqlite")
    server.stop()
    keyfile = tmp_path / "strongroom.key"
    keyfile.write_text(srkit.new_secrets_key() + "\n")
    keyfile.chmod(0o640)
    data = tmp_path / "withkeyfile"
    env = {**server.env(), "STRONGROOM_SECRETS__KEY_FILE": str(keyfile)}
    msg = serve_fails(server, env, "--data", str(data))
    assert f"refusing the secrets key file {keyfile}: other users may read or change it (mode 0640)" in msg, msg
    assert "chmod 600" in msg, msg
    keyfile.chmod(0o600)
    again = strongroom.pool.start(srkit.Backend("sqlite"), data_dir=data,
                                  env={"STRONGROOM_SECRETS__KEY_FILE": str(keyfile)})
    assert not (data / "secret.key").exists(), "the configured key file is used"
    again.stop()


# --------------------------------------------------------------------------------------------
# sealed secrets


def test_a_totp_seed_is_sealed_and_a_copy_of_the_database_needs_its_key(strongroom, backend_kind, tmp_path):
    clock = Clock(tmp_path)
    server = strongroom(backend_kind, env=clock.env())
    auth = enrol_totp(server, "dora", clock)

    # the SQL row and the raw database bytes hold no plaintext seed
    row = stored_seed(server, "dora")
    assert row.startswith("sealed:v1:") and auth.secret not in row, row
    kid = key_id(server)
    assert row.startswith(f"sealed:v1:{kid}:"), row
    if backend_kind == "sqlite":
        assert_seed_not_in(sqlite_bytes(server.data_dir), auth.secret)
    assert login_with_totp(server, "dora", auth)

    env = server.env()
    server.stop()
    if backend_kind == "sqlite":
        # a backup of the database alone, in a folder of its own
        copy = tmp_path / "restored"
        copy.mkdir()
        src = sqlite3.connect(server.data_dir / "strongroom.db")
        dst = sqlite3.connect(copy / "strongroom.db")
        src.backup(dst)
        src.close()
        dst.close()
        args = ["--data", str(copy)]
        # no key file: nothing is made up for a database that holds sealed secrets
        msg = serve_fails(server, env, *args)
        assert f"the secrets key file {copy / 'secret.key'} is missing" in msg, msg
        assert f"sealed with key {kid}" in msg, msg
        assert not (copy / "secret.key").exists()
    else:
        args = server.global_args()
        # PostgreSQL without any key: refused before anything is opened
        no_key = {k: v for k, v in env.items() if k != "STRONGROOM_SECRETS__KEY"}
        msg = serve_fails(server, no_key, *args)
        assert "no secrets key is configured, and PostgreSQL needs one that every server shares" in msg, msg

    # another key: refused at start, naming both key ids
    other = srkit.new_secrets_key()
    msg = serve_fails(server, {**env, "STRONGROOM_SECRETS__KEY": other}, *args)
    assert "does not fit this database" in msg, msg
    assert re.search(rf"sealed with key {kid}, but the configured key is [0-9a-f]{{16}}", msg), msg
    assert f"configured key is {kid}" not in msg

    # the right key: the copy starts and 2FA works
    if backend_kind == "sqlite":
        shutil.copy2(server.data_dir / "secret.key", copy / "secret.key")
        restored = strongroom.pool.start(srkit.Backend("sqlite"), data_dir=copy, env=clock.env())
    else:
        restored = strongroom.pool.start(server.backend, env=clock.env())
    assert key_id(restored) == kid
    assert login_with_totp(restored, "dora", auth)
    web = Web(restored.url)
    web.login("dora", PW)
    assert not web.logged_in(), "the password alone is not enough"


def test_a_plaintext_seed_left_by_an_older_version_is_sealed_at_start(strongroom, backend_kind, tmp_path):
    clock = Clock(tmp_path)
    server = strongroom(backend_kind, env=clock.env())
    auth = enrol_totp(server, "erin", clock)
    server.stop()
    # what an older version stored
    set_stored_seed(server, "erin", auth.secret)
    assert stored_seed(server, "erin") == auth.secret

    again = strongroom.pool.start(server.backend, data_dir=server.data_dir, env=clock.env())
    log = again.stderr_text()
    assert re.search(r"sealed 1 TOTP seed\(s\), 0 server secret\(s\) and 0 mail bodies that an older version had stored in plaintext", log), log[-3000:]
    row = stored_seed(again, "erin")
    assert row.startswith(f"sealed:v1:{key_id(again)}:"), row
    if backend_kind == "sqlite":
        assert_seed_not_in(sqlite_bytes(again.data_dir), auth.secret)
    assert login_with_totp(again, "erin", auth)
