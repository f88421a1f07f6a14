"""The recovery hold, the dormant-project quarantine and account deletion, against a started server
through its web UI, the upload API, pip and the CLI, with real SMTP and a movable clock.

- A password reset holds the account for 72 h: no API tokens (web or CLI); an email change holds
  too, and a held account's existing token cannot upload to a project it did not create during
  the hold, while a brand-new project (and its next release) is fine. After the hold, all works.
- Within 30 days of a recovery, a new release of a project dormant for more than a year is
  quarantined: the upload answers 200 saying so, /simple/ does not list it, pip cannot install it,
  the owners and the admins are mailed.
- Deleting an account is refused while it is a sole Owner (the projects are named); otherwise it is
  soft: login fails, the username stays reserved, roles are gone, co-owners are told; the personal
  data is purged by the job after the retention period, and the log keeps everything."""

from __future__ import annotations

import time

import pyotp
import pytest

import srkit
from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import DAY, HOUR, PASSWORD, Incident, actions, assert_in_order
from webclient import page_text

NEW_PW = "a freshly reset passphrase 77"


def reset_password(world: Incident, name: str, addr: str, new_pw: str) -> None:
    web = world.web(f"{name}-reset/1")
    before = len(world.mails_to(addr, "reset"))
    web.submit("/account/forgot-password/", "/account/forgot-password/", {"username_or_email": name})
    mail = world.mail.wait_for(addr, "reset", after=before)
    link = world.mail.link(mail, "/account/reset-password/")
    resp = web.submit(link, "/account/reset-password/", {"password": new_pw, "password_confirm": new_pw})
    assert resp.status_code == 200, page_text(resp)[:400]


class ServerTimeTotp:
    """The authenticator app's code for the server's (moved) clock."""

    def __init__(self, secret: str, world: Incident):
        self.totp = pyotp.TOTP(secret)
        self.world = world

    def now(self) -> str:
        return self.totp.at(time.time() + self.world.offset)


def upload(world: Incident, token: str, name: str, version: str):
    return srkit.upload_raw(world.server, token, srkit.make_wheel(name, version))


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_recovery_hold_and_dormant_quarantine(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        admin_addr = world.user("admin", admin=True)
        alice_addr = world.user("alice")
        alice_token = server.create_token("alice")
        srkit.ok_upload(server, alice_token, srkit.make_wheel("sr-old", "1.0"))
        bob_addr = world.user("bob")
        bob_token = server.create_token("bob")
        srkit.ok_upload(server, bob_token, srkit.make_wheel("sr-bob", "1.0"))
        world.advance(10 * DAY)

        # -- A password reset: held, told, no tokens from the web or the CLI.
        reset_password(world, "alice", alice_addr, NEW_PW)
        hold_mail = world.mail.wait_for(alice_addr, "recovery hold")
        assert "password reset" in world.mail.body(hold_mail)
        alice = world.login("alice", password=NEW_PW)
        page = page_text(alice.get("/manage/account/"))
        assert "recovery hold" in page and "password reset" in page, page[:800]
        status, text = world.web_token(alice)
        assert status == 403 and "recovery hold" in text and "create API tokens" in text, (status, text[:400])
        r = server.cli("token", "create", "--user", "alice", check=False)
        assert r.returncode != 0 and "recovery hold" in (r.stdout + r.stderr), r.stdout + r.stderr
        # The reset revoked the old token.
        assert upload(world, alice_token, "sr-old", "1.1").status_code == 403

        # -- An email change holds bob; his old token cannot upload to his older project, but a
        #    project created during the hold takes releases.
        bob = world.login("bob")
        bob.submit("/manage/account/", "/manage/account/email/add/", {"address": "bob@second.test"})
        link = world.mail.link(world.mail.wait_for("bob@second.test", "Verify"), "/account/verify-email/")
        assert bob.get(link).status_code == 200
        world.mail.wait_for(bob_addr, "recovery hold")
        world.mail.wait_for("bob@second.test", "recovery hold")
        resp = upload(world, bob_token, "sr-bob", "1.1")
        assert resp.status_code == 403, (resp.status_code, resp.text)
        assert "recovery hold" in resp.text and "email change" in resp.text, resp.text
        assert srkit.ok_upload(server, bob_token, srkit.make_wheel("sr-bob-new", "1.0")).status_code == 200
        assert srkit.ok_upload(server, bob_token, srkit.make_wheel("sr-bob-new", "1.1")).status_code == 200
        assert world.simple_versions("sr-bob") == {"1.0"}

        # -- After the hold: tokens and uploads work again.
        world.advance(73 * HOUR)
        alice = world.login("alice", password=NEW_PW)
        assert "recovery hold" not in page_text(alice.get("/manage/account/"))
        status, alice_token = world.web_token(alice)
        assert status == 200, alice_token[:400]
        assert srkit.ok_upload(server, alice_token, srkit.make_wheel("sr-old", "1.1")).status_code == 200
        assert srkit.ok_upload(server, bob_token, srkit.make_wheel("sr-bob", "1.1")).status_code == 200

        # -- A year later sr-old is dormant; after another reset, its new release is quarantined.
        world.advance(400 * DAY)
        reset_password(world, "alice", alice_addr, NEW_PW + "!")
        world.advance(73 * HOUR)
        alice = world.login("alice", password=NEW_PW + "!")
        status, alice_token = world.web_token(alice)
        assert status == 200, alice_token[:400]
        serial = server.global_serial()
        resp = upload(world, alice_token, "sr-old", "2.0")
        assert resp.status_code == 200, (resp.status_code, resp.text)
        assert "held for review" in resp.text, resp.text
        assert world.simple_versions("sr-old") == {"1.0", "1.1"}
        assert server.global_serial() == serial, "no journal entry for a quarantined release"
        assert not world.installable("sr-old", "2.0")
        assert world.installable("sr-old", "1.1")
        for addr in (alice_addr, admin_addr):
            m = world.mail.wait_for(addr, "quarantined")
            assert "sr-old" in world.mail.body(m) and "2.0" in world.mail.body(m)
        # Another file of the quarantined release stays held; bob's lively project is unaffected.
        resp = srkit.upload_raw(server, alice_token, srkit.make_sdist("sr-old", "2.0"))
        assert resp.status_code == 200 and "held for review" in resp.text, (resp.status_code, resp.text)
        assert world.simple_versions("sr-old") == {"1.0", "1.1"}

        story = actions(world.timeline("--user", "alice"))
        assert_in_order(story, ["account:password:reset", "account:hold", "account:password:reset",
                                "account:hold", "release:quarantine"])
        assert "intact" in world.log_verify()
    finally:
        world.close()


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_account_deletion_is_refused_for_a_sole_owner_and_soft_otherwise(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    # registration open: the deleted account's name must stay taken on the registration page too
    world = Incident(strongroom, mail_sink, tmp_path, kind, env={"STRONGROOM_ACCOUNTS__REGISTRATION": "open"})
    try:
        server = world.server
        world.user("admin", admin=True)
        carol_addr = world.user("carol")
        dave_addr = world.user("dave")
        carol_token = server.create_token("carol")
        dave_token = server.create_token("dave")
        srkit.ok_upload(server, carol_token, srkit.make_wheel("sr-solo", "1.0"))
        srkit.ok_upload(server, carol_token, srkit.make_wheel("sr-solo-two", "1.0"))
        srkit.ok_upload(server, dave_token, srkit.make_wheel("sr-shared", "1.0"))
        dave = world.login("dave")
        resp = dave.submit("/manage/project/sr-shared/", "/manage/project/sr-shared/invite/",
                           {"username": "carol", "role": "Owner"})
        assert resp.status_code == 200, page_text(resp)[:400]
        carol = world.login("carol")
        resp = carol.submit("/manage/account/invitations/", "/accept/")
        assert resp.status_code == 200, page_text(resp)[:400]
        assert world.roles("sr-shared") == {"dave": "Owner", "carol": "Owner"}

        # -- Sole owner of two projects: refused, and both are named (page and refusal).
        page = page_text(carol.get("/manage/account/"))
        assert "sr-solo" in page and "sr-solo-two" in page and "only Owner" in page, page[:1200]
        assert all("/manage/account/delete/" not in f.action for f in carol.forms("/manage/account/"))
        csrf = carol.form("/manage/account/", "/manage/account/email/").fields["csrf_token"]
        resp = carol.request("POST", "/manage/account/delete/", data={"csrf_token": csrf, "confirm_username": "carol"})
        assert resp.status_code == 403, (resp.status_code, page_text(resp)[:400])
        assert "sr-solo" in page_text(resp) and "sr-solo-two" in page_text(resp)
        assert carol.logged_in()

        # -- Carol hands both projects to dave, then deletes her account.
        for p in ("sr-solo", "sr-solo-two"):
            resp = carol.submit(f"/manage/project/{p}/", f"/manage/project/{p}/invite/",
                                {"username": "dave", "role": "Owner"})
            assert resp.status_code == 200, page_text(resp)[:400]
            resp = dave.submit("/manage/account/invitations/", "/accept/")
            assert resp.status_code == 200, page_text(resp)[:400]
        resp = carol.submit("/manage/account/", "/manage/account/delete/", {"confirm_username": "carol"})
        assert resp.status_code == 200, page_text(resp)[:600]
        assert "was deleted" in page_text(resp)
        world.mail.wait_for(carol_addr, "account was deleted")
        for p in ("sr-solo", "sr-solo-two", "sr-shared"):
            world.mail.wait_for(dave_addr, f"carol left {p}")
            assert world.roles(p) == {"dave": "Owner"}, p

        # Everything of hers ends at once; the name stays taken.
        assert not carol.logged_in()
        again = world.web("carol-again/1")
        resp = again.login("carol", PASSWORD)
        assert "incorrect" in page_text(resp).lower(), page_text(resp)[:300]
        assert not again.logged_in()
        assert upload(world, carol_token, "sr-shared", "1.1").status_code == 403
        r = server.cli("user", "create", "carol", "--email", "carol2@example.test", "--password-stdin",
                       input=PASSWORD + "\n", check=False)
        assert r.returncode != 0, r.stdout
        reg = world.web("newcomer/1")
        resp = reg.submit("/account/register/", "/account/register/",
                          {"username": "Carol", "email": "carol3@example.test",
                           "password": PASSWORD, "password_confirm": PASSWORD})
        assert "already being used" in page_text(resp), page_text(resp)[:400]

        # -- The purge waits for the retention period, then runs from the job.
        out = world.admin("run-jobs").stdout
        assert "purged" not in out, out
        world.advance(91 * DAY)
        out = world.admin("run-jobs").stdout
        assert "purged the personal data of deleted account carol" in out, out
        story = actions(world.timeline("--user", "carol"))
        assert_in_order(story, ["account:create", "role:invite:accept", "account:delete", "account:purge"])
        removals = [e for e in world.timeline("--user", "carol") if e["action"] == "role:remove"]
        assert len(removals) == 3, removals
        assert "intact" in world.log_verify()
    finally:
        world.close()


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_an_admin_two_factor_reset_sends_the_owner_back_through_a_verified_reset(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    """An owner lost their phone and recovery codes: the admin resets 2FA (web admin area), which
    ends the sessions and disables the password; the way back is the reset link mailed to the
    verified address, under a recovery hold; a second reset (CLI) finds nothing to remove."""
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        world.user("admin", admin=True)
        addr = world.user("dora")
        dora = world.login("dora")
        form = dora.form("/manage/account/totp/", "/manage/account/totp/")
        totp = ServerTimeTotp(form.fields["secret"], world)
        data = dict(form.fields, code=totp.now())
        resp = dora.request("POST", "/manage/account/totp/", data=data,
                            headers={"Referer": world.server.url + "/manage/account/totp/"})
        assert resp.status_code == 200, page_text(resp)[:400]
        confirm = world.mail.wait_for(addr, "Confirm two-factor")
        assert dora.get(world.mail.link(confirm, "/account/confirm-two-factor/")).status_code == 200
        world.advance(60)  # a fresh TOTP step for the next login
        second = world.web("dora-laptop/2")
        second.login("dora", PASSWORD, totp=totp)
        assert second.logged_in(), page_text(second.last)[:400]

        admin = world.login("admin")
        page = page_text(admin.get("/admin/users/dora/"))
        assert "two-factor: on" in page, page[:600]
        resp = admin.submit("/admin/users/dora/", "/reset-2fa/", {"reason": "lost phone and codes, ticket 7"})
        assert "Two-factor authentication was reset" in page_text(resp), page_text(resp)[:400]
        assert "two-factor: off" in page_text(resp)
        assert not dora.logged_in() and not second.logged_in(), "every session ended"
        again = world.web("dora-laptop/3")
        resp = again.login("dora", PASSWORD)
        assert not again.logged_in() and "Reset your password" in page_text(resp), page_text(resp)[:400]

        # The way back: the link in the mail, then a password-only login, held.
        mail = world.mail.wait_for(addr, "two-factor authentication was reset")
        assert "ticket 7" in world.mail.body(mail)
        assert "two-factor reset" in world.mail.body(world.mail.wait_for(addr, "recovery hold"))
        link = world.mail.link(mail, "/account/reset-password/")
        resp = again.submit(link, "/account/reset-password/", {"password": NEW_PW, "password_confirm": NEW_PW})
        assert resp.status_code == 200, page_text(resp)[:400]
        dora = world.login("dora", password=NEW_PW)
        status, text = world.web_token(dora)
        assert status == 403 and "recovery hold" in text, (status, text[:400])

        proc = world.admin("reset-2fa", "dora", "--reason", "again", check=False)
        assert proc.returncode == 1 and "no second factor" in proc.stderr, proc.stderr
        story = world.timeline("--user", "dora")
        reset = [e for e in story if e["action"] == "admin:user:reset-2fa"]
        assert len(reset) == 1 and reset[0]["actor"] == "admin", reset
        assert_in_order(actions(story), ["account:2fa:confirmed", "admin:user:reset-2fa", "account:hold",
                                         "account:password:reset", "account:hold:refused"])
        assert "intact" in world.log_verify()
    finally:
        world.close()
