"""The CLI contract (docs/contracts.md): exit 0 on success, 1 with a one-line `error: ...` on
stderr otherwise; tokens printed once with their prefix; secrets redacted in `config show`."""

from __future__ import annotations

import os
import re

import srkit


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
