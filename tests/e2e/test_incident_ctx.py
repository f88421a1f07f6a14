"""Replay of the 2022 `ctx` takeover (shared/seeds): the owner's only email domain lapsed, an
attacker re-registered it, reset the password and minutes later published releases that sent
every environment variable to a remote server. Against a started server, step by step, asserting
after each step who can do what, what pip installs, which mails went where and what the log says.

strongroom's answers: the domain check unverifies the address (so a reset sends nothing); an
attacker who gets in anyway is held for 72 h (no tokens, no uploads to the project); after the hold
the new release of the dormant project is quarantined for review instead of published; a sock the
recovered account invites inherits its 30-day watch, so the sock's release a week later is
quarantined too (admins asked), and even once approved it does not make the project lively for
the account's next release; the Owner of another project the account maintains is told of the
recovery; the admin
freezes the account (the attacker's token dies for good), cannot publish the held release by
mistake (it was uploaded inside the account's incident window) and cannot unfreeze the account
into the attacker's hands (no address verified before the incident is left), removes the releases
and the project, prohibits the name; the timeline shows it all and the log verifies."""

from __future__ import annotations

import datetime as dt
import time

import pytest

import srkit
from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import DAY, HOUR, Incident, actions, assert_in_order, invite_and_accept, manage
from netfakes import rdap_domain
from webclient import page_text

OWNER_DOMAIN = "ctx-owner.test"
OWNER_ADDR = f"owner@{OWNER_DOMAIN}"
ATTACKER_ADDR = "mallory@evil.test"


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_ctx_takeover_is_held_told_logged_and_undone(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        replay(world, tmp_path)
    finally:
        world.close()


def replay(world: Incident, tmp) -> None:
    server = world.server
    now = dt.datetime.now(dt.timezone.utc)
    world.dns.zone[OWNER_DOMAIN] = {"MX": [f"mx.{OWNER_DOMAIN}"], "A": ["192.0.2.10"]}
    world.dns.zone["evil.test"] = {"MX": ["mx.evil.test"]}
    world.dns.zone["example.test"] = {"MX": ["mx.example.test"]}
    world.rdap.domains[OWNER_DOMAIN] = rdap_domain(
        OWNER_DOMAIN, registered=now - dt.timedelta(days=3650), expires=now + dt.timedelta(days=200))

    # -- 0. 2014: the owner publishes ctx 0.1; anyone can install it.
    world.user("ctxowner", OWNER_ADDR)
    world.user("admin", "admin@example.test", admin=True)
    owner_token = server.create_token("ctxowner")
    srkit.ok_upload(server, owner_token, srkit.make_wheel("ctx", "0.1"))
    assert world.installable("ctx", "0.1")
    assert world.roles("ctx") == {"ctxowner": "Owner"}
    # ctxowner also maintains someone else's project, ctx-plugins (its real Owner is alice).
    world.user("alice", "alice@example.test")
    srkit.ok_upload(server, server.create_token("alice"), srkit.make_wheel("ctx-plugins", "1.0"))
    invite_and_accept(world, world.login("alice", "alice-browser/1"), "ctx-plugins", "ctxowner", "Maintainer")
    assert world.roles("ctx-plugins") == {"alice": "Owner", "ctxowner": "Maintainer"}

    # -- 1. Years pass without a release; the domain lapses and someone else registers it.
    world.advance(400 * DAY)
    reregistered = now + dt.timedelta(days=399)
    world.rdap.domains[OWNER_DOMAIN] = rdap_domain(
        OWNER_DOMAIN, registered=reregistered, expires=reregistered + dt.timedelta(days=365))
    out = world.admin("check-domains")
    assert OWNER_ADDR in out.stdout, out.stdout
    unverified = [e for e in world.timeline("--user", "ctxowner") if e["action"] == "account:email:unverified"]
    assert len(unverified) == 1 and OWNER_ADDR in str(unverified[0]["details"]), unverified

    # -- 2. The attacker asks for a password reset: nothing is sent to the re-registered domain.
    attacker = world.web("attacker-browser/6.6")
    resp = attacker.submit("/account/forgot-password/", "/account/forgot-password/",
                           {"username_or_email": "ctxowner"})
    assert resp.status_code == 200, page_text(resp)[:300]
    resp = attacker.submit("/account/forgot-password/", "/account/forgot-password/",
                           {"username_or_email": OWNER_ADDR})
    assert resp.status_code == 200
    time.sleep(3)  # the outbox delivers within a second or two; nothing may arrive
    assert world.mails_to(OWNER_ADDR, "reset") == [], [m["Subject"] for m in world.mails_to(OWNER_ADDR)]

    # -- 3. Suppose the attacker gets in anyway (the password leaked) and swaps in their address.
    mallory = world.login("ctxowner", "attacker-browser/6.6")
    resp = mallory.submit("/manage/account/", "/manage/account/email/add/", {"address": ATTACKER_ADDR})
    assert resp.status_code == 200, page_text(resp)[:300]
    verify = world.mail.wait_for(ATTACKER_ADDR, "verify")
    mallory.get(world.mail.link(verify, "/account/verify-email/"))
    assert any(e["action"] == "account:hold" for e in world.timeline("--user", "ctxowner"))
    # The hold is told to every verified address (now the attacker's; the old one is unverified).
    world.mail.wait_for(ATTACKER_ADDR, "hold")
    # ... and to the Owners of every project the account can publish to, not only its own:
    # alice hears that her Maintainer was recovered (finding 3 of issue 9).
    told = world.mail.wait_for("alice@example.test", "ctxowner, a Maintainer of ctx-plugins, recovered their account")
    assert "recovery hold" in world.mail.body(told), world.mail.body(told)

    # -- 4. Held: no API token, so no upload, for 72 hours.
    status, text = world.web_token(mallory)
    assert status != 200 and "recovery hold" in text, (status, text[:400])
    world.advance(71 * HOUR)
    mallory = world.login("ctxowner", "attacker-browser/6.6")
    status, text = world.web_token(mallory)
    assert status != 200 and "recovery hold" in text, (status, text[:400])
    # The admin's start page shows it at once: the held account and its refused attempts.
    admin_web = world.login("admin", "admin-browser/1")
    start = admin_web.get("/admin/")
    assert start.status_code == 200, start.status_code
    page = page_text(start)
    assert "on a recovery hold: ctxowner" in page, page[:1200]
    signals = start.text[start.text.index('id="signals"'):]
    # grouped by kind, the most severe first, with counts: both refusals, and the lapsed domain
    assert 'data-action="account:hold:refused" data-severity="high" data-count="2"' in signals, page[:2000]
    assert 'data-action="account:email:unverified"' in signals, page[:2000]

    # -- 5. After the hold the attacker publishes ctx 0.2: the project is dormant and the account
    #       was recovered recently, so the release is quarantined for review, not published.
    world.advance(2 * HOUR)
    mallory = world.login("ctxowner", "attacker-browser/6.6")
    status, token = world.web_token(mallory)
    assert status == 200, token[:400]
    resp = srkit.upload_raw(server, token, srkit.make_wheel("ctx", "0.2", payload=b"import os; os.environ"))
    assert resp.status_code == 200, (resp.status_code, resp.text)
    assert "review" in resp.text.lower(), resp.text
    assert world.simple_versions("ctx") == {"0.1"}
    assert not world.installable("ctx", "0.2")
    assert world.installable("ctx", "0.1")
    assert world.mail.wait_for("admin@example.test", "ctx")  # the admins are asked to review
    held = [e for e in world.timeline("--project", "ctx") if e["action"] == "release:quarantine"]
    assert len(held) == 1 and held[0]["actor"] == "ctxowner", held

    # -- 5b. The sock route (issue 9, finding 1): the recovered account invites a sock as
    #        Maintainer; a week later (no longer a "newcomer" by age) the sock publishes. The
    #        sock inherited the recovered account's 30-day watch, so its release of the dormant
    #        project is quarantined too, and the admins are asked to review it.
    world.user("ctxsock", "sock@evil.test")
    invite_and_accept(world, world.login("ctxowner", "attacker-browser/6.6"), "ctx", "ctxsock", "Maintainer")
    assert world.roles("ctx") == {"ctxowner": "Owner", "ctxsock": "Maintainer"}
    accepted = [e for e in world.timeline("--project", "ctx") if e["action"] == "role:add"]
    assert accepted and accepted[-1]["details"].get("watched_until"), accepted
    world.advance(8 * DAY)
    sock_token = server.create_token("ctxsock")
    before = len(world.mails_to("admin@example.test", "ctx 0.3"))
    resp = srkit.upload_raw(server, sock_token, srkit.make_wheel("ctx", "0.3"))
    assert resp.status_code == 200 and "review" in resp.text.lower(), (resp.status_code, resp.text)
    assert world.simple_versions("ctx") == {"0.1"}
    assert not world.installable("ctx", "0.3")
    review = world.mail.wait_for("admin@example.test", "ctx 0.3", after=before)
    assert "ctxsock" in world.mail.body(review) and "under watch" in world.mail.body(review), world.mail.body(review)
    # An admin who found the wheel benign approves it. It is installable now, but it was
    # published by a watched account, so the project is still dormant: the recovered account's
    # own next release does not ride on it and is quarantined again.
    world.admin("release", "ctx", "0.3", "--reason", "reviewed: benign wheel")
    assert srkit.settled(server, lambda: "0.3" in (world.simple_versions("ctx") or ()))
    assert world.installable("ctx", "0.3")
    resp = srkit.upload_raw(server, token, srkit.make_wheel("ctx", "0.4", payload=b"import os; os.environ"))
    assert resp.status_code == 200 and "review" in resp.text.lower(), (resp.status_code, resp.text)
    assert world.simple_versions("ctx") == {"0.1", "0.3"}
    assert not world.installable("ctx", "0.4")
    world.mail.wait_for("admin@example.test", "ctx 0.4")
    held = [e for e in world.timeline("--project", "ctx") if e["action"] == "release:quarantine"]
    assert [e["actor"] for e in held] == ["ctxowner", "ctxsock", "ctxowner"], held

    # -- 6. The admin responds: freeze the account, remove the releases and the project, bar the name.
    world.admin("freeze", "ctxowner", "--reason", "ctx takeover: domain re-registered")
    resp = srkit.upload_raw(server, token, srkit.make_wheel("ctx", "0.3"))
    assert resp.status_code == 403, (resp.status_code, resp.text)
    assert "frozen" not in resp.text.lower() or "contact" in resp.text.lower(), resp.text
    relogin = world.web("attacker-browser/6.6")
    relogin.login("ctxowner", "correct horse battery staple 42")
    assert not relogin.logged_in()
    # No undo hands anything back to the attacker: the held release was uploaded inside the
    # account's incident window, and the only verified address is the attacker's (the owner's
    # lapsed), so an unfreeze would mail the reset to the attacker: both are refused.
    proc = world.admin("release", "ctx", "0.2", "--reason", "looks fine", check=False)
    assert proc.returncode == 1 and "incident window" in proc.stderr, proc.stderr
    proc = world.admin("unfreeze", "ctxowner", "--reason", "the owner called", check=False)
    assert proc.returncode == 1 and "no email address verified before its incident window" in proc.stderr, proc.stderr
    assert ATTACKER_ADDR in proc.stderr and "--trust-address" in proc.stderr, proc.stderr
    assert world.mails_to(ATTACKER_ADDR, "Set a new password") == []
    world.admin("remove", "ctx", "0.2", "--reason", "malicious: exfiltrates environment variables")
    world.admin("remove", "ctx", "0.4", "--reason", "malicious: exfiltrates environment variables")
    world.admin("remove", "ctx", "--reason", "ctx takeover")
    world.admin("prohibit", "ctx", "--reason", "ctx takeover 2022 replay")
    assert world.simple_versions("ctx") is None
    assert not world.installable("ctx", "0.1")
    squatter = server.user_with_token("squatter")
    for name in ("ctx", "CTX", "c.t.x"):
        resp = srkit.upload_raw(server, squatter, srkit.make_wheel(name, "9.9"))
        assert resp.status_code in (400, 403), (name, resp.status_code, resp.text)
        assert "isn't allowed" in resp.text or "not allowed" in resp.text, (name, resp.text)

    # -- 7. The timeline tells the story in order; the log is intact.
    user_story = actions(world.timeline("--user", "ctxowner"))
    assert_in_order(user_story, ["account:create", "file:upload", "account:email:unverified",
                                 "account:login", "account:email:add", "account:email:verified",
                                 "account:hold", "token:create", "admin:user:freeze"])
    # both token requests during the hold were refused, and each refusal is on record
    assert_in_order(user_story, ["account:hold", "account:hold:refused", "account:hold:refused",
                                 "token:create"])
    assert user_story.count("account:hold:refused") == 2, user_story
    # the attacker's token after the freeze: refused, and the attempt is on record
    assert_in_order(user_story, ["admin:user:freeze", "token:revoke", "token:use:refused"])
    # the held upload: its quarantine and its file, both after the attacker's token
    after_token = user_story[user_story.index("account:hold"):]
    assert "release:quarantine" in after_token and "file:upload" in after_token, user_story
    project_story = actions(world.timeline("--project", "ctx"))
    assert_in_order(project_story, ["project:create", "file:upload", "release:quarantine",
                                    "admin:release:remove", "admin:project:remove"])
    assert project_story.count("file:upload") == 4, project_story
    text = world.admin("timeline", "--project", "ctx").stdout
    assert "admin:project:remove" in text and "ctxowner" in text and "cli:" in text, text
    assert "intact" in world.log_verify()


# -- issue 9, finding 2: approve, then add a file ------------------------------------------------

SOCK_ADDR = "sock@evil.test"
FILE_OWNER_ADDR = "owner@ctxfile-owner.test"


def pip_gets(world: Incident, tmp, project: str, version: str) -> str | None:
    """What `pip install PROJECT==VERSION` puts in place: "wheel" or "sdist" (by the payload each
    carries), or None when pip finds nothing to install."""
    target = tmp / f"pip-{project}-{time.monotonic_ns()}"
    r = srkit.pip_install(world.server, [f"{project}=={version}"], target, tmp,
                          extra=("--no-deps", "--no-build-isolation"), check=False)
    if r.returncode != 0:
        return None
    init = (target / project / "__init__.py").read_text()
    return "wheel" if "from-the-wheel" in init else "sdist" if "from-the-sdist" in init else init


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_ctx_approve_then_add_a_file_is_held_per_file(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    """A sock (a newcomer Maintainer of a dormant project) publishes a benign sdist: quarantined,
    and approved by an admin. Then the sock adds a wheel to the approved release: the wheel is
    held for its own review (200 saying so), invisible everywhere, pip still installs the sdist;
    the Owner and the admins are mailed. The admin approves the wheel: pip gets it. A second held
    wheel is rejected: no row, no blob left."""
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        for domain in ("evil.test", "example.test", "ctxfile-owner.test"):
            world.dns.zone[domain] = {"MX": [f"mx.{domain}"]}
        # -- 0. The owner published ctxfile 0.1 long ago; the project then slept for 400 days.
        world.user("fileowner", FILE_OWNER_ADDR)
        world.user("admin", "admin@example.test", admin=True)
        owner_token = server.create_token("fileowner")
        srkit.ok_upload(server, owner_token, srkit.make_wheel("ctxfile", "0.1"))
        world.advance(400 * DAY)

        # -- 1. A sock is invited as Maintainer and accepts (a newcomer in its role: watched).
        world.user("sock", SOCK_ADDR)
        owner = world.login("fileowner")
        resp = owner.submit("/manage/project/ctxfile/", "/manage/project/ctxfile/invite/",
                            {"username": "sock", "role": "Maintainer"})
        assert resp.status_code == 200, page_text(resp)[:400]
        sock = world.login("sock", "attacker-browser/6.6")
        resp = sock.submit("/manage/account/invitations/", "/accept/")
        assert resp.status_code == 200, page_text(resp)[:400]
        assert world.roles("ctxfile") == {"fileowner": "Owner", "sock": "Maintainer"}
        sock_token = server.create_token("sock")

        # -- 2. The sock's benign sdist 0.2 is quarantined (dormant project, newcomer); the admin
        #       approves it with `admin release`.
        resp = srkit.upload_raw(server, sock_token, srkit.make_sdist("ctxfile", "0.2", payload="from-the-sdist"))
        assert resp.status_code == 200 and "review" in resp.text.lower(), (resp.status_code, resp.text)
        assert world.simple_versions("ctxfile") == {"0.1"}
        world.admin("release", "ctxfile", "0.2", "--reason", "reviewed: benign sdist")
        assert srkit.settled(server, lambda: world.simple_versions("ctxfile") == {"0.1", "0.2"})
        assert pip_gets(world, tmp_path, "ctxfile", "0.2") == "sdist"
        serial_before = server.global_serial()
        n_owner = len(world.mails_to(FILE_OWNER_ADDR))
        n_admin = len(world.mails_to("admin@example.test"))

        # -- 3. The sock adds a wheel to the approved release: held for its own review.
        wheel = srkit.make_wheel("ctxfile", "0.2", payload="from-the-wheel; import os; os.environ")
        resp = srkit.upload_raw(server, sock_token, wheel)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        assert "held for review" in resp.text and wheel.filename in resp.text, resp.text
        # Invisible on every read path: simple (HTML and JSON), the JSON API, the download, the
        # wheel's .metadata, the serial.
        names = [f["filename"] for f in server.project_files("ctxfile")]
        assert wheel.filename not in names and "ctxfile-0.2.tar.gz" in names, names
        html = server.get("/simple/ctxfile/")
        assert html.status_code == 200 and wheel.filename not in html.text, html.text
        api = server.get("/pypi/ctxfile/0.2/json")
        assert api.status_code == 200 and wheel.filename not in api.text, api.text
        assert server.get(wheel.path).status_code == 404
        assert server.get(wheel.path + ".metadata").status_code == 404
        assert server.global_serial() == serial_before
        assert pip_gets(world, tmp_path, "ctxfile", "0.2") == "sdist"
        # The owner and the admins are told, naming the file.
        told = world.mail.wait_for(FILE_OWNER_ADDR, "held for review", after=0)
        assert wheel.filename in str(told["Subject"]), told["Subject"]
        world.mail.wait_for("admin@example.test", f"File {wheel.filename}")
        assert len(world.mails_to(FILE_OWNER_ADDR)) > n_owner
        assert len(world.mails_to("admin@example.test")) > n_admin
        held = [e for e in world.timeline("--project", "ctxfile") if e["action"] == "file:held"]
        assert len(held) == 1 and held[0]["actor"] == "sock", held
        # The admin start page and the projects page list it as a review item.
        admin_web = world.login("admin", "admin-browser/1")
        start = admin_web.get("/admin/")
        assert "1 file(s) held for review" in page_text(start), page_text(start)[:1500]
        assert "file:held" in start.text[start.text.index('id="signals"'):], page_text(start)[:2000]
        listed = admin_web.get("/admin/projects/")
        assert 'id="admin-held-files"' in listed.text and wheel.filename in listed.text, page_text(listed)[:1500]

        # -- 4. The admin approves the file: published, journaled, pip prefers the wheel.
        world.admin("approve-file", "ctxfile", "0.2", wheel.filename, "--reason", "reviewed the wheel")
        assert srkit.settled(server, lambda: wheel.filename in [f["filename"] for f in server.project_files("ctxfile")])
        assert srkit.settled(server, lambda: server.global_serial() > serial_before)
        assert server.get(wheel.path).status_code == 200
        assert pip_gets(world, tmp_path, "ctxfile", "0.2") == "wheel"
        proc = world.admin("approve-file", "ctxfile", "0.2", wheel.filename, "--reason", "again", check=False)
        assert proc.returncode == 1 and "not held" in proc.stderr, proc.stderr

        # -- 5. Another added wheel is held, then rejected: no row, no blob, nothing to restore.
        other = srkit.make_wheel("ctxfile", "0.2", payload="from-the-wheel", tag="py2.py3-none-any")
        resp = srkit.upload_raw(server, sock_token, other)
        assert resp.status_code == 200 and "held for review" in resp.text, (resp.status_code, resp.text)
        assert any(k.endswith(other.filename) for k in server.blob_keys()), server.blob_keys()
        world.admin("reject-file", "ctxfile", "0.2", other.filename, "--reason", "not expected")
        assert not any(k.endswith(other.filename) for k in server.db_blob_keys()), server.db_blob_keys()
        # nothing left behind: the blob store holds exactly what the rows reference
        assert server.blob_keys() == server.db_blob_keys(), server.blob_keys() ^ server.db_blob_keys()
        proc = world.admin("restore", "ctxfile", "0.2", other.filename, "--reason", "undo", check=False)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert other.filename not in [f["filename"] for f in server.project_files("ctxfile")]
        story = actions(world.timeline("--project", "ctxfile"))
        assert_in_order(story, ["release:quarantine", "admin:release:approve", "file:held",
                                "admin:file:approve", "file:held", "admin:file:reject"])
        assert "intact" in world.log_verify()
    finally:
        world.close()


# -- red team C4 and C5: a file joining a quarantined release; the patient attacker --------------

ALICE_ADDR = "alice@figlief.test"
ATTACKER_PW = "attacker chosen passphrase 2027"


def take_over_after_years(world: Incident, project: str, version: str) -> None:
    """alice publishes `project` `version`, then sleeps 8 years; an attacker resets her password
    (her mail was reachable to them) and waits out the 72-hour hold."""
    for domain in ("figlief.test", "example.test"):
        world.dns.zone[domain] = {"MX": [f"mx.{domain}"]}
    world.user("admin", "admin@example.test", admin=True)
    world.user("alice", ALICE_ADDR)
    srkit.ok_upload(world.server, world.server.create_token("alice"), srkit.make_wheel(project, version))
    world.advance(8 * 365 * DAY)
    web = world.web("attacker-browser/6.6")
    before = len(world.mails_to(ALICE_ADDR, "reset"))
    web.submit("/account/forgot-password/", "/account/forgot-password/", {"username_or_email": "alice"})
    mail = world.mail.wait_for(ALICE_ADDR, "reset", after=before)
    resp = web.submit(world.mail.link(mail, "/account/reset-password/"), "/account/reset-password/",
                      {"password": ATTACKER_PW, "password_confirm": ATTACKER_PW})
    assert resp.status_code == 200, page_text(resp)[:400]
    world.advance(73 * HOUR)


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_ctx_a_file_joining_a_quarantined_release_is_held_on_its_own(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    """C4: the recovered account's sdist 0.2.0 is quarantined (the admins' mail names it). An hour
    later the attacker adds a wheel to the quarantined release: it is held as its own review item
    (the Owner and the admins are mailed at once, naming it); `admin release` publishes only the
    reviewed sdist and names the wheel still held; pip does not get the wheel until `approve-file`."""
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        take_over_after_years(world, "ctxjoin", "0.1.2")
        attacker = world.login("alice", "attacker-browser/6.6", password=ATTACKER_PW)
        status, token = world.web_token(attacker)
        assert status == 200, token[:400]
        sdist = srkit.make_sdist("ctxjoin", "0.2.0", payload="from-the-sdist")
        resp = srkit.upload_raw(server, token, sdist)
        assert resp.status_code == 200 and "review" in resp.text.lower(), (resp.status_code, resp.text)
        review = world.mail.wait_for("admin@example.test", "ctxjoin 0.2.0 was quarantined")
        assert "ctxjoin-0.2.0.tar.gz" in world.mail.body(review), world.mail.body(review)

        # -- An hour later the wheel joins the quarantined release: held on its own, told at once.
        world.advance(HOUR)
        assert world.mails_to("admin@example.test", "held for review") == []
        wheel = srkit.make_wheel("ctxjoin", "0.2.0", payload="from-the-wheel; import os; os.environ")
        resp = srkit.upload_raw(server, token, wheel)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        assert "held for review" in resp.text and wheel.filename in resp.text, resp.text
        told = world.mail.wait_for("admin@example.test", f"File {wheel.filename}")
        assert "quarantined" in world.mail.body(told), world.mail.body(told)
        world.mail.wait_for(ALICE_ADDR, f"File {wheel.filename}")
        held = [e for e in world.timeline("--project", "ctxjoin") if e["action"] == "file:held"]
        assert len(held) == 1 and held[0]["details"]["filename"] == wheel.filename, held
        # The admin area lists each file: the quarantined release's sdist, the held wheel.
        admin_web = world.login("admin", "admin-browser/1")
        listed = admin_web.get("/admin/projects/")
        assert 'id="admin-held-files"' in listed.text and wheel.filename in listed.text, page_text(listed)[:1500]
        page = admin_web.get("/admin/projects/ctxjoin/")
        assert sdist.filename in page.text and wheel.filename in page.text, page_text(page)[:2000]

        # -- Approving the release publishes what the review saw, and names what is still held.
        proc = world.admin("release", "ctxjoin", "0.2.0", "--reason", "reviewed the sdist, looks fine")
        assert f"published file {sdist.filename}" in proc.stdout, proc.stdout
        assert f"still held for review: {wheel.filename}" in proc.stdout, proc.stdout
        assert f"published file {wheel.filename}" not in proc.stdout, proc.stdout
        assert srkit.settled(server, lambda: sdist.filename in [f["filename"] for f in server.project_files("ctxjoin")])
        names = [f["filename"] for f in server.project_files("ctxjoin")]
        assert sdist.filename in names and wheel.filename not in names, names
        assert server.get(wheel.path).status_code == 404
        assert pip_gets(world, tmp_path, "ctxjoin", "0.2.0") == "sdist"
        approved = [e for e in world.timeline("--project", "ctxjoin") if e["action"] == "admin:release:approve"]
        assert approved and approved[-1]["details"]["still_held"] == [wheel.filename], approved

        # -- Only its own approval publishes the wheel.
        world.admin("approve-file", "ctxjoin", "0.2.0", wheel.filename, "--reason", "reviewed the wheel")
        assert srkit.settled(server, lambda: wheel.filename in [f["filename"] for f in server.project_files("ctxjoin")])
        assert pip_gets(world, tmp_path, "ctxjoin", "0.2.0") == "wheel"
        assert "intact" in world.log_verify()
    finally:
        world.close()


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_ctx_the_first_release_after_a_recovery_reaches_the_admins_however_late(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    """C5: the patient attacker waits out the hold and the 30-day watch, and on day 34 publishes
    a release of the 8-year-dormant project: still the first release since the recovery, so it
    is quarantined and the admins are mailed. Once approved, it makes the project lively: the
    next release, a year later, is published as usual."""
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        take_over_after_years(world, "ctxlate", "0.1.2")
        attacker = world.login("alice", "attacker-browser/6.6", password=ATTACKER_PW)
        status, token = world.web_token(attacker)
        assert status == 200, token[:400]
        world.advance(31 * DAY)  # day 34 after the reset: past recovery.watch_days (30)
        resp = srkit.upload_raw(server, token, srkit.make_wheel("ctxlate", "0.2.0", payload=b"import os; os.environ"))
        assert resp.status_code == 200 and "review" in resp.text.lower(), (resp.status_code, resp.text)
        assert world.simple_versions("ctxlate") == {"0.1.2"}
        assert not world.installable("ctxlate", "0.2.0")
        review = world.mail.wait_for("admin@example.test", "ctxlate 0.2.0 was quarantined")
        assert "recovered" in world.mail.body(review), world.mail.body(review)
        held = [e for e in world.timeline("--project", "ctxlate") if e["action"] == "release:quarantine"]
        assert len(held) == 1 and held[0]["actor"] == "alice", held

        # -- Approved, it is the project's newest lively release: a year on, the next one publishes.
        world.admin("release", "ctxlate", "0.2.0", "--reason", "the owner confirmed it")
        assert srkit.settled(server, lambda: "0.2.0" in (world.simple_versions("ctxlate") or ()))
        assert world.installable("ctxlate", "0.2.0")
        world.advance(400 * DAY)
        resp = srkit.upload_raw(server, server.create_token("alice"), srkit.make_wheel("ctxlate", "0.3.0"))
        assert resp.status_code == 200 and "review" not in resp.text.lower(), (resp.status_code, resp.text)
        assert world.simple_versions("ctxlate") == {"0.1.2", "0.2.0", "0.3.0"}
    finally:
        world.close()
