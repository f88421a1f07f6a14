"""Replay of the 2022 `ctx` takeover (shared/seeds): the owner's only email domain lapsed, an
attacker re-registered it, reset the password and minutes later published releases that sent
every environment variable to a remote server. Against a started server, step by step, asserting
after each step who can do what, what pip installs, which mails went where and what the log says.

strongroom's answers: the domain check unverifies the address (so a reset sends nothing); an
attacker who gets in anyway is held for 72 h (no tokens, no uploads to the project); after the hold
the new release of the dormant project is quarantined for review instead of published; the admin
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
from incidents import DAY, HOUR, Incident, actions, assert_in_order
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
    resp = mallory.submit("/manage/account/", "/manage/account/email/", {"address": ATTACKER_ADDR},
                          match={"action": "add"})
    assert resp.status_code == 200, page_text(resp)[:300]
    verify = world.mail.wait_for(ATTACKER_ADDR, "verify")
    mallory.get(world.mail.link(verify, "/account/verify-email/"))
    assert any(e["action"] == "account:hold" for e in world.timeline("--user", "ctxowner"))
    # The hold is told to every verified address (now the attacker's; the old one is unverified).
    world.mail.wait_for(ATTACKER_ADDR, "hold")

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
    assert project_story.count("file:upload") == 2, project_story
    text = world.admin("timeline", "--project", "ctx").stdout
    assert "admin:project:remove" in text and "ctxowner" in text and "cli:" in text, text
    assert "intact" in world.log_verify()
