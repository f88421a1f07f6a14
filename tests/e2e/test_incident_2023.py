"""Replay of the 2023 takeover (shared/seeds): a compromised account invited a fresh account onto
four projects, the newcomer removed the original owner, then the original account was deleted and
its data with it. Against a started server, through the web UI and the admin CLI, asserting after
every step who owns what, what pip installs, which mails went to whom and what the log says.

strongroom's answers: every invitation and acceptance is mailed to all owners; the newcomer's
removal of an established Owner is held for 72 h and the victim vetoes it from the mail, reporting
the newcomer to the administrators, who freeze it (no member freezes another: a smarter sock that
waits until it counts as established and then answers the recovered owner's removal of it with
"veto and freeze" freezes nobody, and the administrators are asked instead); deleting the
compromised account is refused while it is a sole owner, and the attacker's address starts a
recovery hold that refuses deleting the project or the account until it ends; a deletion is a
soft delete that an admin undoes with the roles the account held, mailing the password reset
only to the address the account had before the attacker came (the one the attacker added gets
nothing until the owner keeps it); the history survives."""

from __future__ import annotations

import datetime as dt

import pytest

import srkit
from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import DAY, HOUR, PASSWORD, Incident, actions, assert_in_order, manage
from webclient import page_text

PROJECTS = ["acme-core", "acme-cli", "acme-web", "acme-utils"]


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_2023_takeover_is_held_told_logged_and_undone(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        replay(world)
    finally:
        world.close()


def replay(world: Incident) -> None:
    server = world.server
    alice_addr = world.user("alice")
    world.user("admin", "admin@example.test", admin=True)
    alice_token = server.create_token("alice")
    for p in PROJECTS + ["alice-solo"]:
        srkit.ok_upload(server, alice_token, srkit.make_wheel(p, "1.0"))
    for p in PROJECTS:
        assert world.roles(p) == {"alice": "Owner"}
    world.advance(30 * DAY)

    # -- 1. The attacker, logged in as alice, invites a fresh account onto four projects.
    newbie_addr = world.user("newbie", "newbie@evil.test")
    attacker = world.login("alice", "attacker-browser/6.6")
    for p in PROJECTS:
        resp = attacker.submit(manage(p), manage(p) + "invite/", {"username": "newbie", "role": "Owner"})
        assert resp.status_code == 200, page_text(resp)[:400]
    # All owners (alice) hear of every invitation; the invitee gets hers.
    for p in PROJECTS:
        world.mail.wait_for(alice_addr, p)
        world.mail.wait_for(newbie_addr, p)
    for p in PROJECTS:
        assert world.roles(p) == {"alice": "Owner"}  # an invitation grants nothing

    # -- 2. The newcomer accepts all four.
    newbie = world.login("newbie", "attacker-browser/6.6")
    for _ in PROJECTS:
        resp = newbie.submit("/manage/account/invitations/", "/accept/")
        assert resp.status_code == 200, page_text(resp)[:400]
    for p in PROJECTS:
        assert world.roles(p) == {"alice": "Owner", "newbie": "Owner"}
        world.mail.wait_for(alice_addr, f"newbie is now Owner of {p}")
    # A newcomer's new release is never quiet: the established Owner is told of it.
    newbie_token = server.create_token("newbie")
    srkit.ok_upload(server, newbie_token, srkit.make_wheel("acme-core", "1.1"))
    told = world.mail.wait_for(alice_addr, "newbie published acme-core 1.1")
    assert "less than 7 days" in world.mail.body(told), world.mail.body(told)
    n_before = len(world.mails_to(alice_addr))

    # -- 3. The newcomer removes the original owner: held for 72 h, the owner told with a veto link.
    for p in PROJECTS:
        resp = newbie.submit(manage(p), manage(p) + "member/alice/remove/")
        assert resp.status_code == 200, page_text(resp)[:400]
        assert "pending" in page_text(resp).lower() or "held" in page_text(resp).lower(), page_text(resp)[:600]
    for p in PROJECTS:
        assert world.roles(p) == {"alice": "Owner", "newbie": "Owner"}
    world.advance(1 * HOUR)
    alice = world.login("alice", "alice-laptop/1")
    page = page_text(alice.get(manage("acme-core")))
    assert "newbie" in page and "pending" in page.lower(), page[:800]
    world.mail.wait_for(alice_addr, "Veto", after=len(PROJECTS) - 1)
    veto_mails = [m for m in world.mails_to(alice_addr) if "/account/veto/" in world.mail.body(m)]
    assert len(veto_mails) == len(PROJECTS), [m["Subject"] for m in world.mails_to(alice_addr)]
    assert len(world.mails_to(alice_addr)) > n_before

    # -- 4. Alice vetoes from the mail and reports the newcomer; the administrators are asked and
    #       one of them freezes it (a member's veto freezes nobody by itself).
    link = world.mail.link(veto_mails[0], "/account/veto/")
    resp = alice.submit(link, "/account/veto/report/")
    assert resp.status_code == 200, page_text(resp)[:400]
    assert newbie.logged_in()
    asked = world.mail.wait_for("admin@example.test", "Freeze requested: alice asks you to freeze newbie")
    assert "/admin/users/newbie/" in world.mail.body(asked), world.mail.body(asked)
    world.admin("freeze", "newbie", "--reason", "reported by alice's veto: invited by a session not hers")
    late = world.web("attacker-browser/6.6")
    late.login("newbie", PASSWORD)
    assert not late.logged_in()
    # The frozen newcomer's other held removals never take effect, even after the window.
    world.advance(73 * HOUR)
    world.admin("run-jobs")
    for p in PROJECTS:
        assert world.roles(p)["alice"] == "Owner", p
    assert world.installable("acme-core", "1.0")

    # -- 5. The attacker, still in alice's account, tries to delete it: refused while sole owner.
    attacker = world.login("alice", "attacker-browser/6.6")
    page = page_text(attacker.get("/manage/account/"))
    assert "alice-solo" in page and "only owner" in page.lower(), page[:600]
    # The page offers no delete form; a crafted POST (with the session's CSRF token) is refused too.
    csrf = attacker.form("/manage/account/", "/manage/account/email/").fields["csrf_token"]
    resp = attacker.request("POST", "/manage/account/delete/", data={"csrf_token": csrf, "confirm_username": "alice"})
    text = page_text(resp)
    assert resp.status_code in (400, 403, 409), (resp.status_code, text[:600])
    assert "alice-solo" in text and ("sole" in text.lower() or "only owner" in text.lower()), text[:600]
    assert attacker.logged_in()
    # The attacker adds an address of theirs (a way back in after any restore) ...
    resp = attacker.submit("/manage/account/", "/manage/account/email/add/", {"address": "mallory@evil.test"})
    assert resp.status_code == 200, page_text(resp)[:400]
    attacker.get(world.mail.link(world.mail.wait_for("mallory@evil.test", "verify"), "/account/verify-email/"))
    # The new address started a recovery hold, which refuses destruction as it refuses creation:
    # the attacker must wait it out (and the owner hears of the hold meanwhile).
    resp = attacker.submit(manage("alice-solo"), manage("alice-solo") + "delete/",
                           {"confirm": "alice-solo", "reason": "cleanup"})
    assert resp.status_code == 403 and "recovery hold" in page_text(resp), page_text(resp)[:400]
    assert world.installable("alice-solo", "1.0")
    world.mail.wait_for(alice_addr, "recovery hold")
    world.advance(73 * HOUR)
    attacker = world.login("alice", "attacker-browser/6.6")
    # ... then deletes the solo project (a soft delete too), then the account.
    resp = attacker.submit(manage("alice-solo"), manage("alice-solo") + "delete/",
                           {"confirm": "alice-solo", "reason": "cleanup"})
    assert resp.status_code == 200, page_text(resp)[:400]
    assert world.simple_versions("alice-solo") is None
    deleted_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=world.offset)
    before_deletion = (deleted_at - dt.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    world.advance(3 * 60)
    resp = attacker.submit("/manage/account/", "/manage/account/delete/", {"confirm_username": "alice"})
    assert resp.status_code == 200, page_text(resp)[:600]
    assert not attacker.logged_in()
    gone = world.web("x/1")
    gone.login("alice", PASSWORD)
    assert not gone.logged_in()
    for p in PROJECTS:
        assert "alice" not in world.roles(p)
    # The username stays reserved; the evidence stays in the log.
    r = server.cli("user", "create", "alice", "--email", "other@example.test", "--password-stdin",
                   input=PASSWORD + "\n", check=False)
    assert r.returncode != 0 and "already" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    story = actions(world.timeline("--user", "alice"))
    assert_in_order(story, ["account:create", "file:upload", "role:invite", "role:change:veto",
                            "project:delete", "account:delete"])

    # -- 6. The admin restores the project and the account with the roles it held before.
    world.admin("restore", "alice-solo", "--reason", "deleted by the attacker")
    out = world.admin("restore-user", "alice", "--roles-at", before_deletion, "--reason", "victim of takeover").stdout
    assert f"password reset link sent to: {alice_addr}" in out, out
    assert "suspect until the owner keeps it: address mallory@evil.test" in out, out
    for p in PROJECTS:
        assert world.roles(p)["alice"] == "Owner", p
    assert world.roles("alice-solo") == {"alice": "Owner"}
    world.mail.wait_for(newbie_addr, "alice is again Owner of acme-core")  # every owner is told
    assert world.installable("alice-solo", "1.0")
    # A restored account sets a new password through the address it had before the attacker;
    # the attacker's address gets no link (nor any other mail) until alice keeps it.
    stale = world.web("alice-laptop/1")
    stale.login("alice", PASSWORD)
    assert not stale.logged_in()
    world.mail.wait_for(alice_addr, "Set a new password")
    assert world.mails_to("mallory@evil.test", "Set a new password") == []
    alice = world.web("alice-laptop/1")
    alice.submit("/account/forgot-password/", "/account/forgot-password/", {"username_or_email": "alice"})
    reset = world.mail.wait_for(alice_addr, "reset")
    link = world.mail.link(reset, "/account/reset-password/")
    new_pw = "a much newer passphrase 2023"
    resp = alice.submit(link, "/account/reset-password/", {"password": new_pw, "password_confirm": new_pw})
    assert resp.status_code == 200, page_text(resp)[:400]
    alice = world.login("alice", "alice-laptop/1", password=new_pw)
    # First the review: the attacker's address is listed, and alice drops it.
    review = page_text(alice.get("/manage/account/review/"))
    assert "mallory@evil.test" in review, review[:600]
    alice.submit("/manage/account/review/", review_action(alice, "address", "drop"))
    assert "mallory@evil.test" not in page_text(alice.get("/manage/account/"))

    # -- 7. Held after the reset: alice cannot add owners, but she can throw out the newcomer the
    #       attacker brought in, at once (a held account may remove newcomer Owners, and she
    #       is the established one: no cooling-off in that direction).
    resp = alice.submit(manage("acme-core"), manage("acme-core") + "invite/", {"username": "admin", "role": "Owner"})
    assert "recovery hold" in page_text(resp), page_text(resp)[:600]
    for p in PROJECTS:
        resp = alice.submit(manage(p), manage(p) + "member/newbie/remove/")
        assert resp.status_code == 200 and "recovery hold" not in page_text(resp), page_text(resp)[:400]
        assert world.roles(p) == {"alice": "Owner"}, p
    world.mail.wait_for(newbie_addr, "acme-core")  # the removed one is told too

    story = actions(world.timeline("--user", "alice"))
    assert_in_order(story, ["account:create", "role:change:veto", "account:email:add", "account:delete",
                            "admin:user:restore", "account:password:reset", "account:review:drop",
                            "role:remove"])
    assert "intact" in world.log_verify()


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_2023_a_sock_that_waited_cannot_freeze_the_owner_with_its_veto(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    """The smarter 2023 attacker: the sock removes nobody and waits until it counts as established;
    the real owner recovers her account (a newcomer again) and throws the sock out, which is held
    for the sock's veto; the sock answers "veto and freeze". Her account is not frozen, the change
    is cancelled, the administrators are mailed and see it on their start page, and they freeze
    the right account."""
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        weaponised_veto(world)
    finally:
        world.close()


def weaponised_veto(world: Incident) -> None:
    server = world.server
    alice_addr = world.user("alice")
    world.user("admin", "admin@example.test", admin=True)
    srkit.ok_upload(server, server.create_token("alice"), srkit.make_wheel("acme-core", "1.0"))
    world.advance(30 * DAY)
    newbie_addr = world.user("newbie", "newbie@evil.test")
    attacker = world.login("alice", "attacker-browser/6.6")
    attacker.submit(manage("acme-core"), manage("acme-core") + "invite/", {"username": "newbie", "role": "Owner"})
    newbie = world.login("newbie", "attacker-browser/6.6")
    newbie.submit("/manage/account/invitations/", "/accept/")
    assert world.roles("acme-core") == {"alice": "Owner", "newbie": "Owner"}

    # -- The sock waits 8 days: an Owner nobody removed, it now counts as established.
    world.advance(8 * DAY)
    # -- The real owner recovers her account (a reset: a hold, then a newcomer for the watch).
    alice = world.web("alice-laptop/1")
    alice.submit("/account/forgot-password/", "/account/forgot-password/", {"username_or_email": "alice"})
    link = world.mail.link(world.mail.wait_for(alice_addr, "reset"), "/account/reset-password/")
    new_pw = "the owner's own new passphrase 2023"
    resp = alice.submit(link, "/account/reset-password/", {"password": new_pw, "password_confirm": new_pw})
    assert resp.status_code == 200, page_text(resp)[:400]
    world.advance(73 * HOUR)  # past the recovery hold; still inside the 30-day watch
    alice = world.login("alice", "alice-laptop/1", password=new_pw)
    # Her removal of the sock is held for the sock's veto (she is a newcomer again).
    resp = alice.submit(manage("acme-core"), manage("acme-core") + "member/newbie/remove/")
    assert resp.status_code == 200 and "pending" in resp.url, (resp.url, page_text(resp)[:600])
    assert world.roles("acme-core") == {"alice": "Owner", "newbie": "Owner"}
    veto = world.mail.wait_for(newbie_addr, "Veto: alice wants to remove newbie")
    link = world.mail.link(veto, "/account/veto/")
    page = page_text(newbie.get(link))
    assert "report" in page.lower() and "administrator" in page.lower(), page[:800]

    # -- The sock answers with "veto and report".
    resp = newbie.submit(link, "/account/veto/report/")
    assert resp.status_code == 200, page_text(resp)[:400]
    # Her account is NOT frozen: she is still signed in, signs in again, and keeps her role.
    assert alice.logged_in()
    assert world.login("alice", "alice-phone/1", password=new_pw).logged_in()
    assert world.mails_to(alice_addr, "Your account has been frozen") == []
    assert not any(e["action"] in ("account:freeze", "admin:user:freeze")
                   for e in world.timeline("--user", "alice"))
    # The change is cancelled (vetoed): both stay Owners; nobody is removed.
    assert world.roles("acme-core") == {"alice": "Owner", "newbie": "Owner"}
    assert "Pending changes" not in page_text(alice.get(manage("acme-core")))
    # Every administrator is mailed the request, with both accounts to look at.
    asked = world.mail.wait_for("admin@example.test", "Freeze requested: newbie asks you to freeze alice")
    body = world.mail.body(asked)
    assert "/admin/users/alice/" in body and "/admin/users/newbie/" in body, body
    # The admin start page shows the signal (high severity, first).
    admin_web = world.login("admin", "admin-browser/1")
    start = admin_web.get("/admin/")
    signals = start.text[start.text.index('id="signals"'):]
    assert 'data-action="account:freeze:requested" data-severity="high"' in signals, page_text(start)[:2000]
    # ... linked to both accounts' admin pages, where the freeze is.
    assert 'href="/admin/users/alice/"' in signals and 'href="/admin/users/newbie/"' in signals, signals[:3000]
    # -- The administrator freezes the right account: the sock.
    world.admin("freeze", "newbie", "--reason", "sock: invited from a session not alice's")
    late = world.web("attacker-browser/6.6")
    late.login("newbie", PASSWORD)
    assert not late.logged_in()
    assert alice.logged_in()
    story = actions(world.timeline("--user", "alice"))
    assert_in_order(story, ["account:password:reset", "role:change:pending", "account:freeze:requested"])
    assert_in_order(actions(world.timeline("--project", "acme-core")),
                    ["role:invite:accept", "role:change:pending", "role:change:veto"])
    assert "intact" in world.log_verify()


def review_action(w, kind: str, decision: str) -> str:
    """The action of the review page's form that keeps or drops the item of `kind`."""
    return next(f.action for f in w.forms("/manage/account/review/")
                if f"/review/{kind}/" in f.action and f.action.endswith(f"/{decision}/"))
