"""Issue 4, admin and evidence, against a started server through the CLI, HTTP, pip and twine:
freeze ends every session and revokes every token for good, and unfreeze hands the account back
only through a password reset mailed to its address (issue 8); quarantine takes a
project out of every index and install (files kept, admins can fetch them) and release brings it
back exactly; removed files, releases and projects vanish, keep their names burned and come back
on restore; prohibited names (and confusable variants) are refused until allowed; read-only and
no-new-projects switches; the timeline in text and JSON; `log verify` passes, and names the
tampered entry after a row is edited behind the server's back."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

import srkit
from test_ownership import link_path, mail
from webclient import Web, page_text

PW = "correct horse battery staple 42"
GENERIC = "Invalid or non-existent authentication information"


def admin(server: srkit.Server, *args: str, check: bool = True):
    return server.cli("admin", *args, check=check)


def upload(server: srkit.Server, token: str, dist: srkit.Dist):
    return srkit.upload_raw(server, token, dist)


def listed(server: srkit.Server, project: str) -> bool:
    names = [p["name"] for p in server.simple_json().json()["projects"]]
    return srkit.normalize(project) in [srkit.normalize(n) for n in names]


def admin_web(server: srkit.Server, name: str = "root") -> Web:
    server.create_user(name, PW, admin=True)
    web = Web(server.url)
    web.login(name, PW)
    assert web.logged_in(), page_text(web.last)[:300]
    return web


def test_freeze_ends_tokens_and_sessions_for_good_and_unfreeze_needs_a_reset(server):
    token = server.user_with_token("alice")
    srkit.ok_upload(server, token, srkit.make_wheel("fz-pkg", "1.0"))
    web = Web(server.url)
    web.login("alice", PW)
    assert web.logged_in()

    out = admin(server, "freeze", "alice", "--reason", "suspected takeover").stdout
    assert "froze alice" in out
    assert not web.logged_in(), "freezing ends the live session at once"
    resp = upload(server, token, srkit.make_wheel("fz-pkg", "1.1"))
    assert resp.status_code == 403 and "frozen" not in resp.text.lower(), resp.text
    again = Web(server.url)
    again.login("alice", PW)
    assert not again.logged_in(), "a frozen account cannot log in"
    # Freezing twice or without a reason is refused, exit 1 with one error line.
    proc = admin(server, "freeze", "alice", "--reason", "again", check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "already frozen" in proc.stderr
    proc = admin(server, "unfreeze", "alice", "--reason", " ", check=False)
    assert proc.returncode == 1 and "reason is required" in proc.stderr

    out = admin(server, "unfreeze", "alice", "--reason", "owner verified by phone").stdout
    # Nothing the freeze ended comes back: the token stays revoked, the password alone is not
    # enough.
    resp = upload(server, token, srkit.make_wheel("fz-pkg", "1.1"))
    assert resp.status_code == 403 and "revoked" in resp.text, resp.text
    web2 = Web(server.url)
    resp = web2.login("alice", PW)
    assert not web2.logged_in() and "Reset your password" in page_text(resp), page_text(resp)[:400]
    assert "password reset link sent to: alice@example.test" in out, out
    body = mail(server, "alice@example.test", "Set a new password")
    new_pw = "a new passphrase after the freeze"
    resp = web2.submit(link_path(body, "/account/reset-password/"), "/account/reset-password/",
                       {"password": new_pw, "password_confirm": new_pw})
    assert resp.status_code == 200, page_text(resp)[:400]
    web2.login("alice", new_pw)
    assert web2.logged_in()
    resp = upload(server, token, srkit.make_wheel("fz-pkg", "1.1"))
    assert resp.status_code == 403, "still revoked after the reset"

    lines = admin(server, "timeline", "--user", "alice").stdout.splitlines()
    actions = [ln.split("  ")[2] for ln in lines]
    assert actions.index("admin:user:freeze") < actions.index("token:revoke") < actions.index("admin:user:unfreeze")
    freeze_line = next(ln for ln in lines if "admin:user:freeze" in ln)
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  cli:\S+  admin:user:freeze  user alice  ", freeze_line)
    assert 'reason="suspected takeover"' in freeze_line


def test_quarantine_hides_everywhere_and_release_restores_exactly(server, tmp_path):
    token = server.user_with_token("owner")
    wheel = srkit.make_wheel("qz-pkg", "1.0")
    sdist = srkit.make_sdist("qz-pkg", "1.0")
    srkit.ok_upload(server, token, wheel)
    srkit.ok_upload(server, token, sdist)
    before_files = server.project_files("qz-pkg")
    before_json = server.get("/pypi/qz-pkg/json").json()
    download = next(f["url"] for f in before_files if f["filename"] == wheel.filename)
    assert server.get(download.replace(server.url, "")).status_code == 200

    admin(server, "quarantine", "qz-pkg", "--reason", "malware report")
    # the CLI is another process: its write reaches kept pages within the staleness bound
    # (srkit.settled)
    assert srkit.settled(server, lambda: server.simple_json("qz-pkg").status_code == 404)
    assert srkit.settled(server, lambda: not listed(server, "qz-pkg"))
    assert server.get("/simple/qz-pkg/").status_code == 404
    assert server.get("/pypi/qz-pkg/json").status_code == 404
    assert server.get("/pypi/qz-pkg/1.0/json").status_code == 404
    assert server.get(download.replace(server.url, "")).status_code == 404
    proc = srkit.pip_install(server, ["qz-pkg"], tmp_path / "t1", tmp_path, check=False)
    assert proc.returncode != 0
    # The owner cannot change anything.
    resp = upload(server, token, srkit.make_wheel("qz-pkg", "1.1"))
    assert resp.status_code == 403 and "quarantined" in resp.text, resp.text
    # Files are kept: an admin fetches the held wheel from the admin area, bytes intact.
    web = admin_web(server)
    page = web.get("/admin/projects/qz-pkg/")
    assert page.status_code == 200 and "quarantined" in page_text(page)
    link = re.search(r'href="(/admin/files/\d+)">' + re.escape(wheel.filename), page.text)
    assert link, page.text
    got = web.get(link.group(1))
    assert got.status_code == 200 and got.content == wheel.data
    # Anyone else: 404, the admin area is not revealed.
    assert server.get(link.group(1)).status_code == 404

    admin(server, "release", "qz-pkg", "--reason", "false alarm")
    assert srkit.settled(server, lambda: listed(server, "qz-pkg"))
    assert server.project_files("qz-pkg") == before_files
    after_json = server.get("/pypi/qz-pkg/json").json()
    assert after_json["urls"] == before_json["urls"] and after_json["releases"] == before_json["releases"]
    srkit.pip_install(server, ["qz-pkg==1.0"], tmp_path / "t2", tmp_path)
    assert srkit.installed(tmp_path / "t2") == {"qz-pkg": "1.0"}


def test_removed_files_releases_and_projects_vanish_stay_burned_and_restore(server, dists, tmp_path):
    token = server.user_with_token("owner")
    srkit.twine_upload(server, token, dists.demo_v1, tmp_path)
    wheel = dists.wheel(dists.demo_v1)
    other = srkit.make_wheel("sr-demo", "1.1")
    srkit.ok_upload(server, token, other)

    admin(server, "remove", "sr-demo", "1.0", wheel.name, "--reason", "bad build")
    names = [f["filename"] for f in server.project_files("sr-demo")]
    assert wheel.name not in names and dists.sdist(dists.demo_v1).name in names
    proc = srkit.twine_upload(server, token, [wheel], tmp_path, check=False)
    assert proc.returncode != 0 and "previously used" in srkit.output(proc)
    admin(server, "restore", "sr-demo", "1.0", wheel.name, "--reason", "was fine")
    assert srkit.settled(server, lambda: wheel.name in [f["filename"] for f in server.project_files("sr-demo")])

    admin(server, "remove", "sr-demo", "1.1", "--reason", "compromised release")
    assert srkit.settled(server, lambda: "1.1" not in server.get("/pypi/sr-demo/json").json()["releases"])
    assert server.get("/pypi/sr-demo/1.1/json").status_code == 404
    resp = upload(server, token, srkit.make_wheel("sr-demo", "1.1", tag="py2.py3-none-any"))
    assert resp.status_code == 400 and "previously used" in resp.text, resp.text
    admin(server, "restore", "sr-demo", "1.1", "--reason", "reviewed")
    assert srkit.settled(server, lambda: other.filename in [f["filename"] for f in server.project_files("sr-demo")])

    admin(server, "remove", "sr-demo", "--reason", "takeover")
    assert srkit.settled(server, lambda: server.simple_json("sr-demo").status_code == 404)
    assert srkit.settled(server, lambda: not listed(server, "sr-demo"))
    proc = srkit.pip_install(server, ["sr-demo"], tmp_path / "t1", tmp_path, check=False)
    assert proc.returncode != 0
    squatter = server.user_with_token("squatter")
    # Its members are told it was removed; anyone else gets what any taken name gets.
    for name, status, told in (("sr-demo", 403, "isn't allowed to upload to project 'sr-demo'"),
                               ("SR_Demo", 403, "isn't allowed to upload to project 'SR_Demo'"),
                               ("sr-dem0", 400, "too similar to an existing project")):
        resp = upload(server, squatter, srkit.make_wheel(name, "9.0"))
        assert resp.status_code == status and told in resp.text, (name, resp.status_code, resp.text)
        assert "removed" not in resp.text, resp.text
        resp = upload(server, token, srkit.make_wheel(name, "9.0"))
        assert resp.status_code == 400, (name, resp.status_code, resp.text)
        assert "belonged to a project that was removed" in resp.text, resp.text
    admin(server, "restore", "sr-demo", "--reason", "owner recovered")
    assert srkit.settled(server, lambda: listed(server, "sr-demo"))
    srkit.pip_install(server, ["sr-demo==1.0"], tmp_path / "t2", tmp_path)
    assert srkit.installed(tmp_path / "t2") == {"sr-demo": "1.0"}

    # Allowing a removed project's name frees it; its filenames stay burned.
    admin(server, "remove", "sr-demo", "--reason", "gone for good")
    out = admin(server, "allow", "sr-demo", "--reason", "name released").stdout
    assert "freed the name of the removed project sr-demo" in out
    srkit.ok_upload(server, squatter, srkit.make_wheel("sr-demo", "9.0"))
    resp = upload(server, squatter, srkit.make_wheel("sr-demo", "1.1"))
    assert resp.status_code == 400, resp.text


def test_prohibited_names_and_confusable_variants_are_refused_until_allowed(server):
    token = server.user_with_token("dev")
    admin(server, "prohibit", "evil-pkg", "--reason", "typosquat of a popular package")
    for name, similar in (("evil_pkg", False), ("Evil.Pkg", False), ("evi1-pkg", True), ("EVILPKG", True)):
        resp = upload(server, token, srkit.make_wheel(name, "1.0"))
        assert resp.status_code == 400, (name, resp.status_code, resp.text)
        assert f"The name '{name}' isn't allowed" in resp.text, resp.text
        assert ("too similar to the prohibited name 'evil-pkg'" in resp.text) == similar, resp.text
    proc = admin(server, "prohibit", "EVIL_pkg", "--reason", "twice", check=False)
    assert proc.returncode == 1 and "already prohibited" in proc.stderr
    admin(server, "allow", "evil-pkg", "--reason", "cleared")
    srkit.ok_upload(server, token, srkit.make_wheel("evil_pkg", "1.0"))


def test_prohibit_covers_the_guides_confusables_and_every_name_check_agrees(server, tmp_path):
    """docs/admin-guide.md: `prohibit acme-utils` covers `acme_utils`, `ACME.utils`, `acrne-utils`.
    The same skeleton (rn/m, vv/w, cl/d, 0/o, 1/i/l) refuses a name too similar to an existing
    project, and keeps a removed project's name burned."""
    token = server.user_with_token("dev")
    admin(server, "prohibit", "acme-utils", "--reason", "malware 2026-11-22")
    for name, similar in (("acme_utils", False), ("ACME.utils", False), ("acrne-utils", True),
                          ("acrne_uti1s", True)):
        wheel = srkit.make_wheel(name, "1.0").write(tmp_path / name)
        proc = srkit.twine_upload(server, token, [wheel], tmp_path, check=False)
        out = srkit.output(proc)
        assert proc.returncode != 0, (name, out)
        assert "isn't allowed" in out, (name, out)
        assert ("too similar to the prohibited name 'acme-utils'" in out) == similar, (name, out)
        assert not listed(server, name)
    srkit.twine_upload(server, token, [srkit.make_wheel("acme-tools", "1.0").write(tmp_path / "ok")], tmp_path)

    srkit.twine_upload(server, token, [srkit.make_wheel("modern-wheel", "1.0").write(tmp_path / "mw")], tmp_path)
    for name in ("modem-wheel", "rnodern-vvheel"):
        resp = upload(server, token, srkit.make_wheel(name, "1.0"))
        assert resp.status_code == 400, (name, resp.text)
        assert f"The name '{name}' is too similar to an existing project" in resp.text, resp.text
    admin(server, "remove", "modern-wheel", "--reason", "typosquat")
    resp = upload(server, token, srkit.make_wheel("modem-wheel", "1.0"))
    assert resp.status_code == 400, resp.text
    assert "belonged to a project that was removed" in resp.text, resp.text
    assert not listed(server, "modem-wheel")


def test_read_only_and_new_projects_switches(server, tmp_path):
    token = server.user_with_token("dev")
    srkit.ok_upload(server, token, srkit.make_wheel("ro-pkg", "1.0"))

    admin(server, "read-only", "on", "--reason", "incident in progress")
    resp = upload(server, token, srkit.make_wheel("ro-pkg", "1.1"))
    assert resp.status_code == 403, resp.text
    assert "Read-only mode: Uploads are temporarily disabled." in resp.text
    assert "Read-only mode" in resp.reason
    proc = server.cli("yank", "ro-pkg", "1.0", check=False)
    assert proc.returncode == 1 and "Read-only mode" in proc.stderr
    srkit.pip_install(server, ["ro-pkg"], tmp_path / "t1", tmp_path)
    assert srkit.installed(tmp_path / "t1") == {"ro-pkg": "1.0"}
    admin(server, "read-only", "off", "--reason", "incident over")

    admin(server, "new-projects", "off", "--reason", "spam wave")
    resp = upload(server, token, srkit.make_wheel("brand-new", "1.0"))
    assert resp.status_code == 403 and "New project registration temporarily disabled" in resp.text, resp.text
    srkit.ok_upload(server, token, srkit.make_wheel("ro-pkg", "1.1"))
    admin(server, "new-projects", "on", "--reason", "spam wave over")
    srkit.ok_upload(server, token, srkit.make_wheel("brand-new", "1.0"))

    flags = [e for e in json.loads(admin(server, "timeline", "--project", "ro-pkg", "--json").stdout)]
    assert [e["action"] for e in flags][:2] == ["project:create", "file:upload"]


def test_timeline_lists_actions_in_order_with_actors_text_and_json(server):
    token = server.user_with_token("mallory")
    srkit.ok_upload(server, token, srkit.make_wheel("tl-pkg", "1.0"))
    srkit.ok_upload(server, token, srkit.make_wheel("tl-pkg", "1.1"))
    admin(server, "freeze", "mallory", "--reason", "takeover")
    admin(server, "remove", "tl-pkg", "1.1", "--reason", "malicious release")
    admin(server, "prohibit", "tl-pkg-evil", "--reason", "squat")

    entries = json.loads(admin(server, "timeline", "--project", "tl-pkg", "--json").stdout)
    assert [e["action"] for e in entries] == [
        "project:create", "file:upload", "file:upload", "admin:release:remove"]
    assert [e["actor"] for e in entries][:3] == ["mallory"] * 3
    assert entries[-1]["actor"].startswith("cli:") and entries[-1]["details"]["reason"] == "malicious release"
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["time"]) for e in entries)

    text = admin(server, "timeline", "--user", "mallory").stdout.splitlines()
    actions = [ln.split("  ")[2] for ln in text]
    assert actions == ["account:create", "token:create", "token:use", "project:create", "file:upload",
                       "token:use", "file:upload", "admin:user:freeze", "token:revoke"], text
    since = entries[-1]["time"]
    later = admin(server, "timeline", "--project", "tl-pkg", "--since", since).stdout.splitlines()
    assert later and all(ln.split("  ")[0].replace(" ", "T") >= since for ln in later)
    assert "admin:release:remove" in later[-1]


def _tamper(server: srkit.Server, seq: int) -> None:
    _sql(server, f"UPDATE events SET details = '{{\"reason\":\"nothing happened\"}}' WHERE seq = {seq}")


def _sql(server: srkit.Server, sql: str) -> None:
    if server.backend.database:
        srkit.pg_exec(server.backend.database, sql)
    else:
        db = sqlite3.connect(server.data_dir / "strongroom.db")
        db.execute(sql)
        db.commit()
        db.close()


def test_log_verify_passes_and_names_the_first_tampered_entry(strongroom, backend_kind):
    server = strongroom(backend_kind)
    token = server.user_with_token("alice")
    srkit.ok_upload(server, token, srkit.make_wheel("lv-pkg", "1.0"))
    admin(server, "freeze", "alice", "--reason", "test")
    out = admin(server, "log", "verify").stdout
    m = re.fullmatch(r"event log intact: (\d+) entries, head (\d+):([0-9a-f]{64})\n", out)
    assert m and int(m.group(1)) >= 5 and m.group(2) == m.group(1), out
    head = f"{m.group(2)}:{m.group(3)}"
    out = admin(server, "log", "verify", "--expect-head", head).stdout
    assert f"recorded head {m.group(2)} is present" in out, out
    story = json.loads(admin(server, "timeline", "--user", "alice", "--json").stdout)
    freeze = next(e for e in story if e["action"] == "admin:user:freeze")
    assert [e["action"] for e in story[-2:]] == ["admin:user:freeze", "token:revoke"], story
    server.stop()

    # Cutting entries off the end leaves a valid chain; only the recorded head shows it.
    _sql(server, f"DELETE FROM events WHERE seq >= {freeze['seq']}")
    assert admin(server, "log", "verify").returncode == 0
    proc = admin(server, "log", "verify", "--expect-head", head, check=False)
    assert proc.returncode == 1, proc.stdout
    assert f"recorded head entry {m.group(2)} is gone" in proc.stdout, proc.stdout

    # Changing any remaining entry breaks the chain at that entry.
    victim = freeze["seq"] - 1
    _tamper(server, victim)
    proc = admin(server, "log", "verify", check=False)
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.strip() == f"event log BROKEN at entry {victim}"


def test_admin_area_freezes_quarantines_and_verifies_through_the_web(server):
    token = server.user_with_token("eve")
    srkit.ok_upload(server, token, srkit.make_wheel("web-pkg", "1.0"))
    web = admin_web(server)
    # Reason required: an empty one is refused and nothing changes.
    resp = web.submit("/admin/users/eve/", "/freeze/", {"reason": ""})
    assert resp.status_code == 400 and "reason is required" in page_text(resp)
    resp = web.submit("/admin/users/eve/", "/freeze/", {"reason": "phishing report"})
    assert resp.status_code == 200 and "The account was frozen." in page_text(resp)
    assert upload(server, token, srkit.make_wheel("web-pkg", "1.1")).status_code == 403
    resp = web.submit("/admin/projects/web-pkg/", "/quarantine/", {"reason": "investigating"})
    assert "The project was quarantined." in page_text(resp)
    assert not listed(server, "web-pkg")
    resp = web.submit("/admin/site/", "/admin/site/switch/read_only/", {"reason": "incident"})
    assert "Read-only mode: on" in page_text(resp)
    resp = web.get("/admin/log/")
    assert re.search(r"event log intact: \d+ entries", page_text(resp))
    resp = web.get("/admin/users/eve/")
    assert "admin:user:freeze" in page_text(resp) and "phishing report" in page_text(resp)
    # the timeline is for people: a time without the RFC 3339 noise (the full value kept in the
    # markup), details as key/value, the user agent shown
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"[^>]*>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</time>',
                     resp.text), resp.text[-3000:]
    assert "<dt>reason</dt><dd>phishing report</dd>" in resp.text, resp.text[-3000:]
    assert "reason=phishing report" not in page_text(resp)
    assert not [f for f in web.forms("/admin/users/eve/") if "action" in f.fields]
    # A POST without the CSRF token changes nothing.
    bad = web.request("POST", "/admin/users/eve/unfreeze/", data={"reason": "x"})
    assert bad.status_code == 403
    # A non-admin sees no admin area at all.
    server.create_user("bob", PW)
    bob = Web(server.url)
    bob.login("bob", PW)
    assert bob.logged_in()
    assert bob.get("/admin/users/eve/").status_code == 404
    assert bob.request("POST", "/admin/users/eve/unfreeze/", data={"reason": "x"}).status_code == 404
    entries = json.loads(admin(server, "timeline", "--user", "eve", "--json").stdout)
    freeze = next(e for e in entries if e["action"] == "admin:user:freeze")
    assert freeze["actor"] == "root" and freeze["ip"] == "127.0.0.1"


def test_admin_interventions_need_a_recent_password(strongroom, backend_kind, tmp_path):
    """A stolen admin cookie alone cannot unfreeze, approve or allow: after `reauth_minutes` every
    admin POST goes through the password prompt first, and nothing changes until it is answered."""
    clock = tmp_path / "clock"
    clock.write_text("0")
    server = strongroom(backend_kind, env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)})
    token = server.user_with_token("ivan")
    srkit.ok_upload(server, token, srkit.make_wheel("ra-pkg", "1.0"))
    web = admin_web(server)
    clock.write_text(str(11 * 60))
    resp = web.submit("/admin/users/ivan/", "/freeze/", {"reason": "report"})
    assert "/manage/account/reauth/" in resp.url, resp.url
    assert upload(server, token, srkit.make_wheel("ra-pkg", "1.1")).status_code == 200  # not frozen
    resp = web.submit(resp.url, "/manage/account/reauth/", {"password": PW})
    assert resp.url.endswith("/admin/users/ivan/"), resp.url
    resp = web.submit("/admin/users/ivan/", "/freeze/", {"reason": "report"})
    assert "The account was frozen." in page_text(resp), page_text(resp)[:300]
    assert upload(server, token, srkit.make_wheel("ra-pkg", "1.2")).status_code == 403


def test_events_name_the_client_behind_a_trusted_proxy_only(strongroom, backend_kind):
    """Behind a reverse proxy every request comes from the proxy: with `proxy.trusted_ips` the
    log records the client from X-Forwarded-For (the right-most hop the proxy added), and a
    client's own X-Forwarded-For is never believed from anyone else; the proxy's
    X-Forwarded-Proto turns HSTS on."""
    for trusted, expected in (("127.0.0.1", "203.0.113.7"), ("", "127.0.0.1")):
        server = strongroom(backend_kind, env={"STRONGROOM_PROXY__TRUSTED_IPS": trusted})
        token = server.user_with_token("pia")
        resp = srkit.upload_raw(server, token, srkit.make_wheel("xff-pkg", "1.0"),
                                headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
        assert resp.status_code == 200, resp.text
        events = json.loads(admin(server, "timeline", "--user", "pia", "--json").stdout)
        used = [e for e in events if e["action"] == "token:use"]
        assert used and used[-1]["ip"] == expected, (trusted, used)
        # The proxy terminates TLS and says so: HSTS goes out only when the proxy is trusted.
        page = server.get("/account/login/", headers={"X-Forwarded-Proto": "https"})
        assert ("strict-transport-security" in page.headers) == bool(trusted), (trusted, page.headers)
        assert "strict-transport-security" not in server.get("/account/login/").headers
        server.stop()
