"""Logs an on-call engineer can use, settings reloaded on SIGHUP, secrets hidden in `config show`
(issue 10, failures 6 and 7), against started servers.

- one line per request (id, method, path without the query, status, duration, client, agent),
  JSON with `log_format = "json"`, the id echoed in `X-Request-Id`, shown on error pages and
  recorded with the events of a login and an upload; a refusal's line says why;
- no colour codes in a log that is not a terminal, and the database/HTTP clients' chatter kept
  below `info` even when the operator asks for `debug`;
- SIGHUP: the log filter and `proxy.trusted_ips` (CIDR ranges, TOML list) change without a
  restart and the server keeps serving; a broken file is refused and the running settings kept;
- `config show` and `serve`'s start lines hide passwords in URL query parameters.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest

import srkit
from webclient import Web, page_text

PW = "correct horse battery staple 42"
SECRET = "hunter2-" + "x" * 8


def json_lines(server: srkit.Server) -> list[dict]:
    """Every JSON object the server wrote to stderr (other lines must not exist)."""
    out = []
    for line in server.stderr_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def request_lines(server: srkit.Server) -> list[dict]:
    return [e for e in json_lines(server) if e.get("target") == "strongroom::request"]


def wait_for(pred, what: str, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def line_for(server: srkit.Server, request_id: str) -> dict:
    return wait_for(lambda: next((e for e in request_lines(server) if e.get("request_id") == request_id), None),
                    f"the request line of {request_id}")


def timeline(server: srkit.Server, user: str) -> list[dict]:
    return json.loads(server.cli("admin", "timeline", "--user", user, "--json").stdout)


def test_request_lines_are_json_and_one_id_names_the_request_everywhere(strongroom, backend_kind):
    server = strongroom(backend_kind, env={"STRONGROOM_LOG_FORMAT": "json"})
    token = server.user_with_token("lena")

    # an ordinary request: every field, the path without its query string
    resp = server.get("/simple/?token=" + SECRET, headers={"User-Agent": "e2e-agent/" + "y" * 400})
    assert resp.status_code == 200
    rid = resp.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
    line = line_for(server, rid)
    assert line["level"] == "INFO"
    assert line["method"] == "GET" and line["path"] == "/simple/" and line["status"] == 200
    assert isinstance(line["duration_ms"], int) and line["duration_ms"] >= 0
    assert line["client"] == "127.0.0.1"
    assert line["user_agent"].startswith("e2e-agent/") and len(line["user_agent"]) <= 200
    assert SECRET not in server.stderr_text(), "a query string reached the log"
    # a client cannot choose its id (no trusted proxy here)
    forged = server.get("/simple/", headers={"X-Request-Id": "forged-id"})
    assert forged.headers["X-Request-Id"] != "forged-id"

    # an upload: the request line, the upload line and the event share the id
    up = srkit.upload_raw(server, token, srkit.make_wheel("rid-pkg", "1.0"))
    assert up.status_code == 200, up.text
    up_id = up.headers["X-Request-Id"]
    assert line_for(server, up_id)["path"] == "/legacy/"
    accepted = [e for e in json_lines(server) if e.get("message") == "upload accepted"]
    assert accepted, "no upload line"
    u = accepted[-1]
    assert (u["project"], u["filename"], u["account"], u["address"]) == (
        "rid-pkg", "rid_pkg-1.0-py3-none-any.whl", "lena", "127.0.0.1"), u
    assert u["size"] > 0
    uploads = [e for e in timeline(server, "lena") if e["action"] == "file:upload"]
    assert uploads and uploads[-1]["request_id"] == up_id, uploads

    # a login: the event names the request that logged in
    web = Web(server.url)
    web.login("lena", PW)
    assert web.logged_in()
    logins = [e for e in timeline(server, "lena") if e["action"] == "account:login"]
    assert logins and logins[-1]["request_id"], logins
    login_line = line_for(server, logins[-1]["request_id"])
    assert (login_line["method"], login_line["path"]) == ("POST", "/account/login/"), login_line

    # a refusal: 403 with its reason in the line, the id after the unchanged message
    bad = srkit.upload_raw(server, "pypi-notatoken", srkit.make_wheel("rid-pkg", "1.1"))
    assert bad.status_code == 403, bad.text
    bad_id = bad.headers["X-Request-Id"]
    assert bad.text.startswith("403 Forbidden\n\n"), bad.text
    assert bad.text.rstrip().endswith(f"request id: {bad_id}"), bad.text
    refused = line_for(server, bad_id)
    assert refused["level"] == "WARN" and refused["status"] == 403
    assert refused["reason"] and refused["reason"] in bad.text, refused

    # the read-only switch's refusal says so in its line
    server.cli("admin", "read-only", "on", "--reason", "incident in progress")
    ro = srkit.upload_raw(server, token, srkit.make_wheel("rid-pkg", "1.2"))
    assert ro.status_code == 403, ro.text
    ro_line = line_for(server, ro.headers["X-Request-Id"])
    assert ro_line["level"] == "WARN" and "Read-only mode" in ro_line["reason"], ro_line
    server.cli("admin", "read-only", "off", "--reason", "incident over")

    # the web UI's error page shows the id too
    page = server.get("/project/no-such-project/")
    assert page.status_code == 404
    assert page.headers["X-Request-Id"] in page.text


def test_a_log_file_has_no_colour_and_no_client_chatter(strongroom, backend_kind):
    """stderr to a file (journald, a service manager's log): no ANSI escapes even at `debug`,
    and sqlx, hyper, h2, rustls, object_store stay at warn unless the filter names them."""
    server = strongroom(backend_kind, env={"STRONGROOM_LOG": "debug"})
    token = server.user_with_token("nico")
    assert srkit.upload_raw(server, token, srkit.make_wheel("plain-pkg", "1.0")).status_code == 200
    assert server.get("/simple/plain-pkg/").status_code == 200
    text = server.stderr_text()
    assert "strongroom::request" in text, text[-2000:]
    assert "\x1b[" not in text, "colour codes in a log file"
    chatter = re.findall(r"^\S+\s+(?:TRACE|DEBUG|INFO)\s+(?:sqlx|hyper|hyper_util|h2|rustls|object_store|reqwest)\b.*$",
                         text, re.M)
    assert not chatter, chatter[:5]


def write_config(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def hup_and_wait(server: srkit.Server, message: str) -> dict:
    before = len(json_lines(server))
    server.proc.send_signal(signal.SIGHUP)

    def said():
        assert server.proc.poll() is None, f"SIGHUP ended the server (exit {server.proc.poll()})"
        return next((e for e in json_lines(server)[before:] if message in e.get("message", "")), None)

    return wait_for(said, f"'{message}' after SIGHUP")


def test_sighup_reloads_the_log_filter_and_trusted_proxies_and_keeps_serving(strongroom, backend_kind, tmp_path):
    conf = tmp_path / "strongroom.toml"
    write_config(conf, 'log = "warn"\n')
    server = strongroom(backend_kind, env={"STRONGROOM_CONFIG": str(conf), "STRONGROOM_LOG_FORMAT": "json"})
    xff = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7", "X-Request-Id": "proxy-given-1"}

    https = {"X-Forwarded-Proto": "https"}
    assert "strict-transport-security" not in server.get("/account/login/", headers=https).headers
    quiet = server.get("/simple/")
    assert quiet.status_code == 200
    time.sleep(0.3)
    assert not [e for e in request_lines(server) if e["request_id"] == quiet.headers["X-Request-Id"]], \
        "log = warn still wrote an info line"

    # the new file: info, a proxy range (a TOML list with a CIDR), and a key that needs a restart
    write_config(conf, 'log = "info"\n[proxy]\ntrusted_ips = ["127.0.0.0/8", "fd00::/8"]\n'
                       '[limits]\nmax_file_size = 12345\n')
    done = hup_and_wait(server, "SIGHUP: configuration reloaded")
    assert done["reloaded"] == "log, proxy.trusted_ips", done
    assert done["restart_needed"] == "limits.max_file_size", done
    assert server.proc.poll() is None, "SIGHUP ended the server"

    loud = server.get("/simple/", headers=xff)
    assert loud.status_code == 200
    # the proxy is now trusted: its X-Request-Id is kept and the client is its X-Forwarded-For
    assert loud.headers["X-Request-Id"] == "proxy-given-1"
    line = line_for(server, "proxy-given-1")
    assert line["client"] == "203.0.113.7", line
    # and its X-Forwarded-Proto: https turns HSTS on
    assert "strict-transport-security" in server.get("/account/login/", headers=https).headers

    # a broken file: refused, the running settings kept, still serving
    write_config(conf, 'log = "info"\n[proxy]\ntrusted_ips = ["127.0.0.0/33"]\n')
    refused = hup_and_wait(server, "keeping the running settings")
    assert "127.0.0.0/33" in refused["error"], refused
    write_config(conf, 'log = [\n')
    hup_and_wait(server, "keeping the running settings")
    assert server.proc.poll() is None
    again = server.get("/simple/", headers={**xff, "X-Request-Id": "proxy-given-2"})
    assert again.status_code == 200 and again.headers["X-Request-Id"] == "proxy-given-2"
    assert line_for(server, "proxy-given-2")["client"] == "203.0.113.7"


@pytest.mark.parametrize("query", [f"password={SECRET}", f"sslmode=disable&SSLPassword={SECRET}"])
def test_config_show_hides_passwords_in_database_query_parameters(tmp_path, query):
    server = srkit.Server(srkit.Backend("sqlite"), tmp_path / "d")
    for database in (f"postgres://u@db.internal/sr?{query}", f"sqlite://{tmp_path}/x.db?key={SECRET}"):
        env = {"STRONGROOM_SECRETS__KEY": srkit.new_secrets_key()}
        out = srkit.run([str(srkit.strongroom_bin()), "config", "show", "--database", database],
                        env={**server.env(), **env}, check=True)
        text = srkit.output(out)
        assert SECRET not in text, text
        assert "********" in text


def test_serve_start_lines_hide_a_password_in_the_database_url(tmp_path):
    """PostgreSQL takes `password` as a URL parameter (SQLite refuses unknown ones): the start
    lines and the log name the database without it."""
    backend = srkit.Backend.fresh("pg_s3")
    backend.database = backend.database + ("&" if "?" in backend.database else "?") + f"password={SECRET}"
    try:
        server = srkit.Server(backend, tmp_path / "d")
        server.start()
        try:
            assert server.get("/simple/").status_code == 200
            shown = "".join(server.stdout_lines) + server.stderr_text()
            assert "password=********" in shown, shown
            assert SECRET not in shown, shown
        finally:
            server.stop()
    finally:
        backend.database = backend.database.split("?")[0]
        backend.cleanup()


def test_a_fatal_start_error_is_a_json_log_line_too(tmp_path):
    """With log_format = "json" the error that stops the start (here: the address is taken) is a
    JSON line a log collector can read, besides the plain `error: ...` line for a person."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env["STRONGROOM_LOG_FORMAT"] = "json"
    try:
        proc = srkit.run([srkit.strongroom_bin(), "serve", "--data", str(tmp_path / "d"), "--bind",
                          f"127.0.0.1:{port}"], env=env, check=False, timeout=60)
    finally:
        taken.close()
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith(f"error: binding 127.0.0.1:{port}"), proc.stderr
    logged = [json.loads(ln) for ln in lines[:-1]]
    fatal = [e for e in logged if e.get("level") == "ERROR"]
    assert len(fatal) == 1, proc.stderr
    assert f"binding 127.0.0.1:{port}" in fatal[0]["error"], fatal


TEXT_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def text_line_for(server: srkit.Server, request_id: str) -> tuple[str, dict[str, list[str]]]:
    """The text-format request line of `request_id`, and its fields (a key may repeat: forged)."""
    def find():
        return next((ln for ln in server.stderr_text().splitlines()
                     if "strongroom::request" in ln and f'request_id="{request_id}"' in ln), None)
    line = wait_for(find, f"the text request line of {request_id}")
    fields: dict[str, list[str]] = {}
    for k, v in TEXT_FIELD.findall(line.split("strongroom::request:", 1)[1]):
        fields.setdefault(k, []).append(json.loads(v) if v.startswith('"') else v)
    return line, fields


def test_text_request_lines_cannot_be_forged_and_keep_what_the_client_sent(strongroom, backend_kind):
    """In the default text format every field a client chooses is quoted and escaped: a user agent
    cannot add `status=` or `client=` to its line; a non-ASCII agent is kept (it was logged empty);
    a failed login's 403 carries the message shown, like every other refusal."""
    server = strongroom(backend_kind)
    forged = "pip/24 status=200 client=10.6.6.6"
    resp = server.get("/simple/", headers={"User-Agent": forged + '" reason="x'})
    line, f = text_line_for(server, resp.headers["X-Request-Id"])
    assert f["client"] == ["127.0.0.1"] and f["status"] == ["200"] and f["reason"] == [""], line
    assert f["user_agent"] == [forged + '" reason="x'], line

    resp = server.get("/simple/", headers={"User-Agent": "e2e café/1".encode()})
    line, f = text_line_for(server, resp.headers["X-Request-Id"])
    assert f["user_agent"] == ["e2e café/1"], line

    server.create_user("olga")
    web = Web(server.url)
    bad = web.login("olga", "not the password at all")
    assert bad.status_code == 403, bad.status_code
    line, f = text_line_for(server, bad.headers["X-Request-Id"])
    assert " WARN " in line and f["status"] == ["403"], line
    assert f["reason"][0] and f["reason"][0] in page_text(bad), (line, page_text(bad))


def test_sighup_refuses_when_the_implicit_config_file_has_gone(strongroom, backend_kind, tmp_path):
    """The ./strongroom.toml read at start is read again on SIGHUP as if named: once it has gone
    (renamed, a deploy that removed it) the reload is refused and the running settings kept. It
    used to count as "no file", so the trusted proxies silently fell back to none."""
    run = tmp_path / "run"
    run.mkdir()
    conf = run / "strongroom.toml"
    write_config(conf, '[proxy]\ntrusted_ips = ["127.0.0.0/8"]\n')
    server = srkit.Server(strongroom.pool.backend(backend_kind), tmp_path / "data",
                          {"STRONGROOM_LOG_FORMAT": "json"})
    server.cwd = run
    strongroom.pool.servers.append(server)
    server.start()
    first = server.get("/simple/", headers={"X-Request-Id": "proxy-given-1"})
    assert first.headers["X-Request-Id"] == "proxy-given-1", "the implicit file was not read at start"

    conf.rename(run / "strongroom.toml.old")
    refused = hup_and_wait(server, "keeping the running settings")
    assert "strongroom.toml" in refused["error"], refused
    again = server.get("/simple/", headers={"X-Request-Id": "proxy-given-2"})
    assert again.status_code == 200 and again.headers["X-Request-Id"] == "proxy-given-2", again.headers
