"""The CLI contract (docs/contracts.md): exit 0 on success, 1 with a one-line `error: ...` on
stderr otherwise; tokens printed once with their prefix; secrets redacted in `config show`."""

from __future__ import annotations

import fcntl
import os
import re
import select
import sqlite3
import stat
import subprocess
import termios
import time

import pyotp
import pytest

import srkit
from webclient import Web


def assert_cli_error(proc):
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr


def test_cli_refuses_a_token_for_an_unknown_user(server):
    assert_cli_error(server.cli("token", "create", "--user", "nobody", check=False))


def test_cli_refuses_a_duplicate_user(server):
    server.create_user("alice")
    proc = server.cli("user", "create", "alice", "--email", "other@example.test", "--password-stdin",
                      input="another password 123\n", check=False)
    assert_cli_error(proc)


def test_cli_refuses_to_yank_an_unknown_release(server):
    token = server.user_with_token("alice")
    srkit.ok_upload(server, token, srkit.make_wheel("sr-cli", "1.0"))
    assert_cli_error(server.cli("yank", "sr-cli", "9.9", check=False))
    assert_cli_error(server.cli("yank", "no-such-project", "1.0", check=False))
    assert all(f["yanked"] is False for f in server.project_files("sr-cli"))


def test_each_token_is_new_and_works_for_uploads(server):
    server.create_user("alice")
    t1, t2 = server.create_token("alice"), server.create_token("alice")
    assert t1 != t2
    assert srkit.upload_raw(server, t1, srkit.make_wheel("sr-tok", "1.0")).status_code == 200
    assert srkit.upload_raw(server, t2, srkit.make_wheel("sr-tok", "1.1")).status_code == 200


def test_config_show_redacts_the_s3_secret(strongroom):
    server = strongroom("pg_s3")
    secret = server.backend.s3.secret_key
    proc = server.cli("config", "show")
    out = proc.stdout + proc.stderr
    assert secret not in out
    assert server.backend.s3.access_key in out or "access_key" in out
    assert re.search(r"s3://" + re.escape(server.backend.bucket), out), out


def test_migrate_creates_a_data_folder_that_does_not_exist_yet(tmp_path):
    """`migrate` may be the first command run on a new installation, as `serve` may: it creates
    the (nested) data folder with the default SQLite database in it, and a second run has
    nothing left to do."""
    data = tmp_path / "not" / "yet" / "there"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    first = srkit.run([srkit.strongroom_bin(), "migrate", "--data", str(data)], env=env, check=False, timeout=60)
    assert first.returncode == 0, (first.stdout, first.stderr)
    assert "applied" in first.stdout, first.stdout
    assert (data / "strongroom.db").is_file()
    again = srkit.run([srkit.strongroom_bin(), "migrate", "--data", str(data)], env=env, check=False, timeout=60)
    assert again.returncode == 0, (again.stdout, again.stderr)
    assert again.stdout.strip() == "database is up to date", again.stdout


def test_a_misspelt_environment_variable_is_refused_like_a_toml_typo(tmp_path):
    """A STRONGROOM_* variable that names no setting stops every command with the nearest name:
    a misspelt limit, switch or secret used to be ignored (the S3 secret then showed as unset)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    for bad, near in [
        ("STRONGROOM_RATELIMIT__PROJECT_CREATE_USRE", "STRONGROOM_RATELIMIT__PROJECT_CREATE_USER"),
        ("STRONGROOM_REQUIRE2FA", "STRONGROOM_REQUIRE_2FA"),
        ("STRONGROOM_S3_SECRET_ACCESS_KEY", "STRONGROOM_S3__SECRET_ACCESS_KEY"),
    ]:
        for cmd in (["config", "show"], ["serve", "--bind", "127.0.0.1:0"]):
            proc = srkit.run([srkit.strongroom_bin(), *cmd, "--data", str(tmp_path / "d")],
                             env={**base, bad: "s3cret-value"}, check=False, timeout=60)
            assert_cli_error(proc)
            assert f"unknown setting {bad} (did you mean {near}?)" in proc.stderr, proc.stderr
            assert "s3cret-value" not in proc.stdout + proc.stderr
    # The spelt-right name is taken, and its value redacted.
    proc = srkit.run([srkit.strongroom_bin(), "config", "show", "--data", str(tmp_path / "d")],
                     env={**base, "STRONGROOM_S3__SECRET_ACCESS_KEY": "s3cret-value"}, timeout=60)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("s3.secret_access_key"))
    assert "(unset)" not in line and "s3cret-value" not in line, line


def test_commands_other_than_serve_and_migrate_refuse_a_missing_database_and_say_where_they_looked(tmp_path):
    """Run in the wrong folder, a command used to make an empty database there and act on it (an
    account or a token the running index never sees)."""
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = srkit.Server(srkit.Backend("sqlite"), tmp_path / "unused").env()
    bin_ = srkit.strongroom_bin()
    expected = empty / "strongroom-data" / "strongroom.db"
    for args, stdin in ((["user", "create", "alice", "--email", "a@example.test", "--password-stdin"], "pw 1234567890\n"),
                        (["token", "create", "--user", "alice"], None),
                        (["yank", "sr-x", "1.0"], None),
                        (["outbox"], None),
                        (["admin", "timeline", "--user", "alice"], None)):
        proc = srkit.run([bin_, *args], env=env, cwd=empty, input=stdin, check=False)
        assert_cli_error(proc)
        assert f"no strongroom database at {expected}" in proc.stderr and "--data DIR" in proc.stderr, proc.stderr
        assert "default data folder" in proc.stderr, proc.stderr
        assert not (empty / "strongroom-data").exists(), f"{args} made the data folder"
    # Where the data folder came from is named too.
    proc = srkit.run([bin_, "outbox"], env={**env, "STRONGROOM_DATA": str(tmp_path / "typo")}, cwd=empty, check=False)
    assert_cli_error(proc)
    assert f"no strongroom database at {tmp_path / 'typo' / 'strongroom.db'}" in proc.stderr, proc.stderr
    assert "env STRONGROOM_DATA" in proc.stderr, proc.stderr
    # `migrate` (as `serve`) makes the database; then the commands work on it.
    srkit.run([bin_, "migrate"], env=env, cwd=empty)
    srkit.run([bin_, "user", "create", "alice", "--email", "a@example.test", "--password-stdin"], env=env, cwd=empty,
              input="pw 1234567890\n")


def test_commands_other_than_serve_and_migrate_refuse_a_postgres_database_without_an_index(tmp_path):
    """The same mistake on PostgreSQL: a URL naming an empty database (a typo'd name that exists, a
    new one) used to be migrated by `user create` and hold the account the index never sees."""
    database = srkit.create_pg_database()
    try:
        env = {**srkit.Server(srkit.Backend("sqlite"), tmp_path / "unused").env(),
               "STRONGROOM_DATABASE": database, "STRONGROOM_SECRETS__KEY": srkit.new_secrets_key(),
               "STRONGROOM_DATA": str(tmp_path / "d")}
        proc = srkit.run([srkit.strongroom_bin(), "user", "create", "alice", "--email", "a@example.test",
                          "--password-stdin"], env=env, input="pw 1234567890\n", check=False)
        assert_cli_error(proc)
        assert "holds no strongroom index" in proc.stderr and "--database URL" in proc.stderr, proc.stderr
        tables = srkit.pg_exec(database, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        assert tables.strip() == "0", f"the refused command made tables: {tables}"
        srkit.run([srkit.strongroom_bin(), "migrate"], env=env)
        srkit.run([srkit.strongroom_bin(), "user", "create", "alice", "--email", "a@example.test", "--password-stdin"],
                  env=env, input="pw 1234567890\n")
    finally:
        srkit.drop_pg_database(database)


def refused_leaves_the_folder_as_it_was(tmp_path, name: str, make_db) -> None:
    """A data folder (mode 0755) holding `make_db(path)` as its database (mode 0644): `user create`
    refuses it as no index, and every file is left as it was, bytes and modes, nothing added."""
    data = tmp_path / name
    data.mkdir()
    os.chmod(data, 0o755)
    db = data / "strongroom.db"
    make_db(db)
    os.chmod(db, 0o644)

    def snapshot():
        return {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in [data, *data.iterdir()]
                if p.is_file()} | {"<folder>": stat.S_IMODE(data.stat().st_mode)}

    before = snapshot()
    env = {**srkit.Server(srkit.Backend("sqlite"), tmp_path / "unused").env(), "STRONGROOM_DATA": str(data)}
    for args, stdin in ((["user", "create", "x", "--email", "x@example.test", "--password-stdin"], "pw 1234567890\n"),
                        (["token", "create", "--user", "x"], None)):
        proc = srkit.run([srkit.strongroom_bin(), *args], env=env, input=stdin, check=False)
        assert_cli_error(proc)
        assert "holds no strongroom index" in proc.stderr, proc.stderr
        after = snapshot()
        assert after == before, (f"{args} changed the folder it refused: "
                                 f"{ {k: (len(v[0]), oct(v[1])) if isinstance(v, tuple) else oct(v) for k, v in after.items()} }")


def test_a_refused_empty_database_file_is_left_byte_and_mode_identical(tmp_path):
    """An empty file given as the database used to grow to 4 KB (opened for writing, set to WAL)
    and be made 0600 before the refusal: a refused command now only looks."""
    refused_leaves_the_folder_as_it_was(tmp_path, "empty", lambda p: p.write_bytes(b""))


def test_a_refused_sqlite_file_of_something_else_is_left_byte_identical(tmp_path):
    """The same for a SQLite database that holds something other than an index: it is read through
    a read-only connection, so its journal mode (a header byte) and contents stay as they were."""
    def other(p):
        with sqlite3.connect(p) as db:
            db.execute("CREATE TABLE notes (body TEXT)")
            db.execute("INSERT INTO notes VALUES ('kept')")
        db.close()
    refused_leaves_the_folder_as_it_was(tmp_path, "other", other)


def converse(argv: list[str], env: dict[str, str], steps, timeout: float = 60) -> tuple[int, str]:
    """Run `argv` on a new pseudo-terminal (its stdin and controlling terminal, as in a person's
    shell). `steps` are (regex, answer(match)) pairs: when the regex matches what the terminal
    showed since the previous answer, the answer is typed with a newline. Returns (exit code, what
    the terminal showed)."""
    master, slave = os.openpty()

    def controlling_tty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                            preexec_fn=controlling_tty)
    os.close(slave)
    shown, since, steps = b"", 0, list(steps)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the process is gone
                    break
                if not chunk:
                    break
                shown += chunk
            if steps:
                m = re.search(steps[0][0], shown[since:].decode(errors="replace"), re.M)
                if m:
                    # As a person reads the prompt before typing: a password prompt is answered
                    # once the terminal's echo is off (it is turned off right after the prompt).
                    hidden = steps[0][0].startswith("^Password") or steps[0][0].startswith("^The same")
                    while hidden and termios.tcgetattr(master)[3] & termios.ECHO and time.monotonic() < deadline:
                        time.sleep(0.01)
                    os.write(master, (steps.pop(0)[1](m) + "\n").encode())
                    since = len(shown)
            if proc.poll() is not None and not ready:
                break
        else:
            proc.kill()
            pytest.fail(f"{argv} did not finish in {timeout:.0f}s:\n{shown.decode(errors='replace')}")
    finally:
        os.close(master)
    text = shown.decode(errors="replace")
    assert not steps, f"{argv} never asked for {steps[0][0]!r}; the terminal showed:\n{text}"
    return proc.wait(10), text


def test_user_create_at_a_terminal_asks_for_the_password_without_echo(strongroom, backend_kind):
    """Typed at a terminal, the password used to be read from the echoed line, with no prompt: it
    stayed on the screen and in the scrollback. It is asked for with echo off (twice), and the
    account signs in with it; with --totp the code follows at the same terminal."""
    server = strongroom(backend_kind)
    def argv(name: str, *extra: str) -> list[str]:
        return [str(srkit.strongroom_bin()), "user", "create", name, "--email", f"{name}@example.test",
                "--password-stdin", *extra, *server.global_args()]
    password = "typed at the terminal 7319"
    code, shown = converse(argv("dave"), server.env(), [(r"^Password for dave: ", lambda m: password),
                                                (r"^The same password again: ", lambda m: password)])
    assert code == 0, shown
    assert "created user dave" in shown and password not in shown, shown
    web = Web(server.url)
    web.login("dave", password)
    assert web.logged_in(), "dave cannot sign in with the password typed at the terminal"

    # Two different entries make nothing.
    code, shown = converse(argv("erin"), server.env(),
                           [(r"^Password for erin: ", lambda m: password),
                            (r"^The same password again: ", lambda m: password + "x")])
    assert code == 1 and "the two passwords differ" in shown and password not in shown, shown
    server.create_user("erin")  # the name is still free

    # --totp: the password, then the secret and the code, all at the terminal.
    code, shown = converse(argv("frank", "--totp"), server.env(),
                           [(r"^Password for frank: ", lambda m: password),
                            (r"^The same password again: ", lambda m: password),
                            (r"^secret: ([A-Z2-7]+)\r?$(?s:.*)Code from the authenticator app for frank: ",
                             lambda m: pyotp.TOTP(m.group(1)).now())])
    assert code == 0, shown
    assert "created user frank" in shown and "two-factor authentication on" in shown and password not in shown, shown


def create_user_totp(server: srkit.Server, name: str, code_for) -> subprocess.CompletedProcess:
    """`user create --totp` as a script drives it: the password line, then, once the `secret:`
    line is printed, `code_for(secret)` on the next line."""
    proc = subprocess.Popen([str(srkit.strongroom_bin()), "user", "create", name, "--email", f"{name}@example.test",
                             "--password-stdin", "--totp", *server.global_args()],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=server.env())
    proc.stdin.write("correct horse battery staple 42\n")
    proc.stdin.flush()
    shown = []
    for line in proc.stdout:
        shown.append(line)
        if line.startswith("secret: "):
            proc.stdin.write(code_for(line.split()[1]) + "\n")
            proc.stdin.close()
            break
    else:
        proc.stdin.close()
    rest, err = proc.stdout.read(), proc.stderr.read()
    proc.wait(60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "".join(shown) + rest, err)


def test_user_create_totp_turns_2fa_on_so_the_account_uploads_where_2fa_is_required(strongroom, backend_kind):
    server = strongroom(backend_kind, env={"STRONGROOM_REQUIRE_2FA": "true"})
    # A wrong code makes nothing: the name stays free.
    wrong = create_user_totp(server, "alice", lambda secret: "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    assert_cli_error(wrong)
    assert "does not match" in wrong.stderr and "not made" in wrong.stderr, wrong.stderr
    made = create_user_totp(server, "alice", lambda secret: pyotp.TOTP(secret).now())
    assert made.returncode == 0, (made.stdout, made.stderr)
    assert "created user alice" in made.stdout and "two-factor authentication on" in made.stdout, made.stdout
    assert len(re.findall(r"^  [0-9a-f]{16}$", made.stdout, re.M)) == 8, made.stdout
    assert re.search(r"^uri: otpauth://totp/strongroom:alice\?secret=", made.stdout, re.M), made.stdout
    # Stored sealed, as the web's enrolment stores it: the database alone does not hold the seed.
    secret = re.search(r"^secret: ([A-Z2-7]+)$", made.stdout, re.M).group(1)
    sql = "SELECT t.secret FROM totp_secrets t JOIN users u ON u.id = t.user_id WHERE u.username = 'alice'"
    if server.backend.database:
        stored = srkit.pg_exec(server.backend.database, sql).strip()
    else:
        with sqlite3.connect(server.data_dir / "strongroom.db") as db:
            stored = db.execute(sql).fetchone()[0]
    assert stored and secret not in stored.upper(), stored
    # With 2FA required, this account uploads; one made without --totp is refused until it enrols.
    ok = srkit.upload_raw(server, server.create_token("alice"), srkit.make_wheel("sr-totp-cli", "1.0"))
    assert ok.status_code == 200, ok.text
    server.create_user("bob")
    refused = srkit.upload_raw(server, server.create_token("bob"), srkit.make_wheel("sr-totp-cli-b", "1.0"))
    assert refused.status_code == 403 and "two-factor" in refused.text, refused.text
    # The operator's enrolment is in the account's history, named as the CLI's.
    events = server.cli("admin", "timeline", "--user", "alice").stdout
    assert "account:2fa:totp:add" in events and "account:2fa:confirmed" in events, events


def serve_start_log(tmp_path, bind: str) -> str:
    """What `serve --bind BIND` logs up to its banner (then it is stopped)."""
    server = srkit.Server(srkit.Backend("sqlite"), tmp_path / bind.replace(":", "_"))
    log = tmp_path / f"{bind.replace(':', '_')}.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([str(srkit.strongroom_bin()), "serve", *server.global_args(), "--bind", bind],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=server.env())
        try:
            for line in proc.stdout:
                if srkit.LISTEN_RE.search(line):
                    break
        finally:
            proc.terminate()
            proc.wait(20)
    return log.read_text(errors="replace")


def test_serve_warns_when_public_url_is_unset_on_an_address_other_machines_reach(tmp_path):
    assert "public_url is not set and the index listens on 0.0.0.0:" in serve_start_log(tmp_path, "0.0.0.0:0")
    assert "public_url is not set and the index listens" not in serve_start_log(tmp_path, "127.0.0.1:0")
