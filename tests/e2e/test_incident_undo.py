"""Undoing an incident without bringing the attacker back (issue 8, finding 3), against a started
server with real SMTP and a movable clock, on both backends.

- A freeze revokes every API token and ends every session for good, through each of its doors
  (the CLI, the admin area, the owner's "this wasn't me" link): a token the attacker minted
  before the freeze stays dead after the unfreeze (twine is refused), and so does the owner's.
- After an unfreeze the old password alone does not sign in: the way back is a reset whose link
  went only to an address verified before the incident window (the SMTP sink shows it); an
  address and an authenticator the attacker added in the window are listed on the review page
  and refused until the owner keeps them. With no such address left, the unfreeze is refused
  (admin area) until an administrator vouches for one (`--trust-address`).
- No other undo brings back what the account did inside its window: releasing or restoring a
  project, restoring a release or a file uploaded in it are refused (and pip never sees it); the
  owner takes back at once an Owner role the account granted in it; a frozen account's veto link
  reports nobody; an admin's 2FA reset revokes the tokens minted in the window.
- Red-team round: an address and recovery codes the attacker added and let age past the lookback
  get nothing at the unfreeze (the reset goes to the account's anchor alone); a stolen token's
  and a sock's uploads, whose computed windows are empty, come back only file by file once an
  admin keeps them (`admin keep-file`); a held removal aimed at a frozen account waits out the
  freeze and the unfreeze mails a new veto link.
"""

from __future__ import annotations

import time

import pytest

import srkit
from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import DAY, HOUR, PASSWORD, Incident, actions, assert_in_order
from test_account_safety import ServerTimeTotp
from webclient import page_text

ALICE = "alice@example.test"
MALLORY = "mallory@evil.test"
NEW_PW = "the owner's brand new passphrase 2026"
ATTACKER = "attacker-browser/6.6"

@pytest.fixture
def world(strongroom, mail_sink, tmp_path, request):  # noqa: F811
    w = Incident(strongroom, mail_sink, tmp_path, request.param)
    yield w
    w.close()


def both(fn):
    return pytest.mark.parametrize("world", ["sqlite", "pg_s3"], indirect=True)(fn)


def twine(world: Incident, token: str, name: str, version: str):
    path = srkit.make_wheel(name, version).write(world.tmp / f"dist-{time.monotonic_ns()}")
    return srkit.twine_upload(world.server, token, [path], world.tmp, check=False)


def add_address(w, world: Incident, addr: str, *, primary: bool = False) -> None:
    resp = w.submit("/manage/account/", "/manage/account/email/add/", {"address": addr})
    assert resp.status_code == 200, page_text(resp)[:300]
    verify = world.mail.wait_for(addr, "verify")
    assert w.get(world.mail.link(verify, "/account/verify-email/")).status_code == 200
    if primary:
        resp = w.submit("/manage/account/", "/primary/")
        assert resp.status_code == 200 and "done=email-primary" in resp.url, page_text(resp)[:300]


def enrol_totp(w, world: Incident, confirm_to: str) -> ServerTimeTotp:
    form = w.form("/manage/account/totp/", "/manage/account/totp/")
    totp = ServerTimeTotp(form.fields["secret"], world)
    resp = w.request("POST", "/manage/account/totp/", data=dict(form.fields, code=totp.now()),
                     headers={"Referer": world.server.url + "/manage/account/totp/"})
    assert resp.status_code == 200, page_text(resp)[:300]
    confirm = world.mail.wait_for(confirm_to, "Confirm two-factor")
    assert w.get(world.mail.link(confirm, "/account/confirm-two-factor/")).status_code == 200
    return totp


def reset_from_mail(world: Incident, addr: str, subject: str = "Set a new password") -> None:
    mail = world.mail.wait_for(addr, subject)
    web = world.web("owner-laptop/1")
    resp = web.submit(world.mail.link(mail, "/account/reset-password/"), "/account/reset-password/",
                      {"password": NEW_PW, "password_confirm": NEW_PW})
    assert resp.status_code == 200, page_text(resp)[:400]


@both
def test_an_unfrozen_account_comes_back_only_to_its_owner(world):
    server = world.server
    world.user("alice", ALICE)
    world.user("admin", "admin@example.test", admin=True)
    owners_token = server.create_token("alice")
    assert twine(world, owners_token, "sr-undo", "1.0").returncode == 0
    world.advance(40 * DAY)

    # -- The attacker signs in from a new device, mints a token, swaps in their address and
    #    enrols their own authenticator (confirmed through their address, now the primary).
    mallory = world.login("alice", ATTACKER)
    status, minted = world.web_token(mallory)
    assert status == 200, minted[:300]
    assert twine(world, minted, "sr-undo", "1.1").returncode == 0
    add_address(mallory, world, MALLORY, primary=True)
    totp = enrol_totp(mallory, world, MALLORY)
    world.advance(HOUR)

    # -- The admin freezes the account: both tokens are refused at once.
    world.admin("freeze", "alice", "--reason", "report #7: unexpected release")
    for t in (minted, owners_token):
        proc = twine(world, t, "sr-undo", "1.2")
        assert proc.returncode != 0 and "403" in srkit.output(proc), srkit.output(proc)[-600:]
    assert not mallory.logged_in()
    world.advance(HOUR)

    # -- The unfreeze: the reset goes to the owner's old address only; the rest waits.
    out = world.admin("unfreeze", "alice", "--reason", "owner confirmed by phone").stdout
    # The minted token stays dead (so does the owner's old one); the password alone is refused.
    for t in (minted, owners_token):
        proc = twine(world, t, "sr-undo", "1.2")
        assert proc.returncode != 0 and "403" in srkit.output(proc), srkit.output(proc)[-600:]
        assert "revoked" in srkit.output(proc), srkit.output(proc)[-600:]
    relogin = world.web(ATTACKER)
    resp = relogin.login("alice", PASSWORD, totp=totp)
    assert not relogin.logged_in() and "Reset your password" in page_text(resp), page_text(resp)[:400]
    assert f"password reset link sent to: {ALICE}" in out and MALLORY not in out.split("sent to:")[1].splitlines()[0], out
    assert f"suspect until the owner keeps it: address {MALLORY}" in out and "totp" in out, out
    reset_mail = world.mail.wait_for(ALICE, "Set a new password")
    assert MALLORY in world.mail.body(reset_mail), world.mail.body(reset_mail)
    # The attacker's address gets nothing, not even "Forgot password".
    relogin.submit("/account/forgot-password/", "/account/forgot-password/", {"username_or_email": MALLORY})
    relogin.submit("/account/forgot-password/", "/account/forgot-password/", {"username_or_email": "alice"})
    world.mail.wait_for(ALICE, "Reset your password")
    time.sleep(2)
    assert world.mails_to(MALLORY, "reset") == [] and world.mails_to(MALLORY, "Set a new") == []

    # -- The owner resets through the mailed link and signs in: no second factor is asked for
    #    (the only one is the attacker's, refused until kept); the review page comes first.
    reset_from_mail(world, ALICE)
    owner = world.web("owner-laptop/1")
    resp = owner.login("alice", NEW_PW)
    assert owner.logged_in() and resp.url.endswith("/manage/account/review/"), resp.url
    page = page_text(resp)
    assert MALLORY in page and "authentication app (TOTP)" in page, page[:1200]
    resp = owner.submit("/manage/account/reauth/?next=/manage/account/", "/manage/account/reauth/",
                        {"password": totp.now()})
    assert "/manage/account/reauth/" in resp.url, "a suspect authenticator's code is refused"
    # The owner drops the address, and (say it was hers after all) keeps the authenticator:
    # from then on it is asked for, and it works.
    resp = owner.submit("/manage/account/review/", review_action(owner, "address", "drop"))
    assert resp.status_code == 200 and MALLORY not in page_text(resp), page_text(resp)[:600]
    resp = owner.submit("/manage/account/review/", review_action(owner, "totp", "keep"))
    assert resp.status_code == 200, page_text(resp)[:400]
    owner.submit("/manage/account/review/", review_action(owner, "recovery-codes", "drop"))
    assert "Nothing is waiting for your decision" in page_text(owner.get("/manage/account/review/"))
    world.advance(60)
    later = world.web("owner-laptop/1")
    resp = later.login("alice", NEW_PW)
    assert "/account/two-factor/" in resp.url, resp.url
    later.login("alice", NEW_PW, totp=totp)
    assert later.logged_in(), page_text(later.last)[:300]
    assert MALLORY not in page_text(later.get("/manage/account/"))

    # -- After the reset's recovery hold the owner makes a new token; the old ones stay dead.
    world.advance(73 * HOUR)
    owner = world.web("owner-laptop/1")
    owner.login("alice", NEW_PW, totp=totp)
    assert owner.logged_in(), page_text(owner.last)[:300]
    status, fresh = world.web_token(owner)
    assert status == 200, fresh[:400]
    assert twine(world, fresh, "sr-undo", "1.2").returncode == 0
    assert twine(world, minted, "sr-undo", "1.3").returncode != 0

    story = actions(world.timeline("--user", "alice"))
    assert_in_order(story, ["account:login", "token:create", "account:email:add", "admin:user:freeze",
                            "token:revoke", "token:revoke", "token:use:refused", "admin:user:unfreeze",
                            "account:password:reset", "account:review:drop", "account:review:keep",
                            "account:review:done"])
    unfreeze = next(e for e in world.timeline("--user", "alice") if e["action"] == "admin:user:unfreeze")
    assert unfreeze["details"]["reset_sent_to"] == [ALICE] and unfreeze["details"]["window_opened_by"] == "account:login"
    assert "intact" in world.log_verify()


@both
def test_the_admin_area_and_the_mail_link_freeze_the_same_way(world):
    """The admin area's freeze and the owner's "this wasn't me" link end tokens for good too;
    an unfreeze with no address older than the window is refused until an admin vouches."""
    server = world.server
    world.user("alice", ALICE)
    world.user("bob", "bob@example.test")
    world.user("root", "root@example.test", admin=True)
    world.advance(10 * DAY)

    # -- bob: the owner clicks "this wasn't me" in the new-login mail.
    world.login("bob", "bob-laptop/1")
    intruder = world.login("bob", ATTACKER)
    status, minted = world.web_token(intruder)
    assert status == 200
    mail = world.mail.wait_for("bob@example.test", "New login")
    owner = world.web("bob-phone/1")
    resp = owner.submit(world.mail.link(mail, "/account/freeze/"), "/account/freeze/")
    assert resp.status_code == 200 and "frozen" in page_text(resp).lower(), page_text(resp)[:300]
    assert not intruder.logged_in()
    world.admin("unfreeze", "bob", "--reason", "bob called")
    resp = srkit.upload_raw(server, minted, srkit.make_wheel("sr-bob", "1.0"))
    assert resp.status_code == 403 and "revoked" in resp.text, resp.text

    # -- alice: the attacker replaces her only address; the admin area freezes and cannot
    #    unfreeze until it vouches for an address (after checking with the owner).
    mallory = world.login("alice", ATTACKER)
    status, token = world.web_token(mallory)
    assert status == 200
    add_address(mallory, world, MALLORY, primary=True)
    resp = mallory.submit("/manage/account/", "/remove/")
    assert resp.status_code == 200, page_text(resp)[:300]
    root = world.login("root", "root-browser/1")
    resp = root.submit("/admin/users/alice/", "/freeze/", {"reason": "report #8"})
    assert "The account was frozen." in page_text(resp)
    assert srkit.upload_raw(server, token, srkit.make_wheel("sr-alice", "1.0")).status_code == 403
    resp = root.submit("/admin/users/alice/", "/unfreeze/", {"reason": "asked"})
    assert resp.status_code == 409 and "--trust-address" in page_text(resp), page_text(resp)[:600]
    assert "frozen" in page_text(root.get("/admin/users/alice/")).lower()
    resp = root.submit("/admin/users/alice/", "/unfreeze/", {"reason": "owner proved control by phone",
                                                             "trust_address": MALLORY})
    assert resp.status_code == 200 and "The account was unfrozen" in page_text(resp), page_text(resp)[:600]
    world.mail.wait_for(MALLORY, "Set a new password")
    assert srkit.upload_raw(server, token, srkit.make_wheel("sr-alice", "1.0")).status_code == 403
    trusted = [e for e in world.timeline("--user", "alice") if e["action"] == "admin:user:unfreeze"]
    assert trusted[0]["actor"] == "root" and trusted[0]["details"]["address_trusted_by_admin"] == MALLORY


@both
def test_release_and_restore_never_bring_back_what_was_uploaded_in_the_window(world):
    server = world.server
    world.user("alice", ALICE)
    token = server.create_token("alice")
    for p in ("sr-win", "sr-win2"):
        srkit.ok_upload(server, token, srkit.make_wheel(p, "1.0"))
    world.advance(40 * DAY)
    mallory = world.login("alice", ATTACKER)
    bad = srkit.make_wheel("sr-win", "2.0", payload=b"import os; os.environ")
    bad2 = srkit.make_wheel("sr-win2", "2.0", payload=b"import os; os.environ")
    for dist, project in ((bad, "sr-win"), (bad2, "sr-win2")):
        status, minted = world.web_token(mallory, project)
        assert status == 200, minted[:300]
        srkit.ok_upload(server, minted, dist)
    assert world.installable("sr-win", "2.0")
    world.advance(HOUR)
    world.admin("quarantine", "sr-win", "--reason", "report #9")
    world.admin("remove", "sr-win2", "--reason", "report #9")
    world.admin("freeze", "alice", "--reason", "report #9")

    # Releasing or restoring the project would publish 2.0 again: refused, naming the file.
    proc = world.admin("release", "sr-win", "--reason", "cleaned", check=False)
    assert proc.returncode == 1 and bad.filename in proc.stderr and "incident window" in proc.stderr, proc.stderr
    proc = world.admin("restore", "sr-win2", "--reason", "back", check=False)
    assert proc.returncode == 1 and bad2.filename in proc.stderr, proc.stderr
    for p in ("sr-win", "sr-win2"):
        world.admin("remove", p, "2.0", "--reason", "exfiltrates the environment")
    world.admin("release", "sr-win", "--reason", "what is left predates the incident")
    world.admin("restore", "sr-win2", "--reason", "what is left predates the incident")
    for p in ("sr-win", "sr-win2"):
        assert world.simple_versions(p) == {"1.0"}, p
    assert world.installable("sr-win", "1.0") and not world.installable("sr-win", "2.0")
    # Even after the account is handed back, 2.0 and its file stay out.
    world.admin("unfreeze", "alice", "--reason", "owner confirmed")
    proc = world.admin("restore", "sr-win", "2.0", "--reason", "oops", check=False)
    assert proc.returncode == 1 and "incident window" in proc.stderr, proc.stderr
    world.admin("remove", "sr-win", "2.0", bad.filename, "--reason", "the file too")
    proc = world.admin("restore", "sr-win", "2.0", bad.filename, "--reason", "oops", check=False)
    assert proc.returncode == 1 and "incident window" in proc.stderr, proc.stderr
    assert world.simple_versions("sr-win") == {"1.0"}


@both
def test_the_owner_takes_back_at_once_an_owner_the_attacker_let_in(world):
    """A sock invited from the compromised account has been an Owner long enough to count as
    established: the owner, back in the account (and on the reset's recovery hold), still removes
    it at once, with no veto link for the sock; an Owner from before the incident keeps the
    protection of the cooling-off."""
    server = world.server
    world.user("alice", ALICE)
    world.user("bob", "bob@example.test")
    world.user("sock", "sock@evil.test")
    srkit.ok_upload(server, server.create_token("alice"), srkit.make_wheel("sr-own", "1.0"))
    alice = world.login("alice", "alice-laptop/1")
    manage = "/manage/project/sr-own/"
    alice.submit(manage, manage + "invite/", {"username": "bob", "role": "Owner"})
    world.login("bob").submit("/manage/account/invitations/", "/accept/")
    world.advance(40 * DAY)
    mallory = world.login("alice", ATTACKER)
    mallory.submit(manage, manage + "invite/", {"username": "sock", "role": "Owner"})
    world.login("sock", ATTACKER).submit("/manage/account/invitations/", "/accept/")
    world.advance(8 * DAY)
    world.admin("freeze", "alice", "--reason", "report #10")
    world.admin("unfreeze", "alice", "--reason", "owner confirmed")
    reset_from_mail(world, ALICE)
    alice = world.login("alice", "alice-laptop/1", password=NEW_PW)
    resp = alice.submit(manage, manage + "member/sock/remove/")
    assert resp.status_code == 200 and "recovery hold" not in page_text(resp), page_text(resp)[:600]
    assert "pending" not in resp.url, resp.url
    resp = alice.submit(manage, manage + "member/bob/remove/")
    assert "recovery hold" in page_text(resp), page_text(resp)[:600]
    world.user("admin2", "admin2@example.test", admin=True)
    assert world.roles("sr-own", admin="admin2") == {"alice": "Owner", "bob": "Owner"}
    assert world.mails_to("sock@evil.test", "Veto") == []


@both
def test_a_frozen_accounts_veto_link_vetoes_but_reports_nobody(world):
    world.user("alice", ALICE)
    world.user("newbie", "newbie@evil.test")
    srkit.ok_upload(world.server, world.server.create_token("alice"), srkit.make_wheel("sr-guard", "1.0"))
    world.advance(30 * DAY)
    manage = "/manage/project/sr-guard/"
    world.login("alice").submit(manage, manage + "invite/", {"username": "newbie", "role": "Owner"})
    newbie = world.login("newbie", ATTACKER)
    newbie.submit("/manage/account/invitations/", "/accept/")
    newbie.submit(manage, manage + "member/alice/remove/")
    veto = world.mail.link(world.mail.wait_for(ALICE, "Veto"), "/account/veto/")
    world.admin("freeze", "alice", "--reason", "alice's mailbox may be read by someone else")
    visitor = world.web("someone/1")
    resp = visitor.submit(veto, "/account/veto/report/")
    assert resp.status_code == 403 and "cannot report" in page_text(resp), page_text(resp)[:400]
    assert newbie.logged_in(), "nobody was frozen"
    resp = visitor.submit(veto, "/account/veto/")
    assert resp.status_code == 200 and "vetoed" in page_text(resp), page_text(resp)[:400]


@both
def test_an_admin_two_factor_reset_revokes_tokens_minted_in_the_window(world):
    server = world.server
    world.user("admin", "admin@example.test", admin=True)
    world.user("dora", "dora@example.test")
    dora = world.login("dora", "dora-laptop/1")
    totp = enrol_totp(dora, world, "dora@example.test")
    old = server.create_token("dora")
    srkit.ok_upload(server, old, srkit.make_wheel("sr-dora", "1.0"))
    world.advance(40 * DAY)
    thief = world.web(ATTACKER)
    thief.login("dora", PASSWORD, totp=totp)
    assert thief.logged_in()
    status, minted = world.web_token(thief)
    assert status == 200
    world.advance(HOUR)
    out = world.admin("reset-2fa", "dora", "--reason", "lost phone, ticket 11").stdout
    assert "1 API token(s) created inside the incident window revoked" in out, out
    resp = srkit.upload_raw(server, minted, srkit.make_wheel("sr-dora", "1.1"))
    assert resp.status_code == 403 and "revoked" in resp.text, resp.text
    # The owner's older token is alive (only the reset's recovery hold stops it for now).
    resp = srkit.upload_raw(server, old, srkit.make_wheel("sr-dora", "1.1"))
    assert resp.status_code == 403 and "recovery hold" in resp.text, resp.text
    world.mail.wait_for("dora@example.test", "two-factor authentication was reset")


@both
def test_an_address_and_codes_aged_past_the_lookback_get_nothing_at_the_unfreeze(world):
    """Red-team U3: the attacker adds an address and an authenticator (with its recovery codes),
    then waits out recovery.incident_lookback_days; the unfreeze still mails the reset to the
    owner's original address only and lists the rest for review."""
    world.user("alice", ALICE)
    world.advance(40 * DAY)
    mallory = world.login("alice", ATTACKER)
    add_address(mallory, world, MALLORY, primary=True)
    enrol_totp(mallory, world, MALLORY)
    world.advance(31 * DAY)
    world.admin("freeze", "alice", "--reason", "report #11: unexpected release")
    freeze = next(e for e in world.timeline("--user", "alice") if e["action"] == "admin:user:freeze")
    assert freeze["details"]["window_opened_by"] is None, freeze["details"]
    world.advance(HOUR)
    out = world.admin("unfreeze", "alice", "--reason", "owner confirmed by phone").stdout
    assert out.split("sent to:")[1].splitlines()[0].strip() == ALICE, out
    assert f"suspect until the owner keeps it: address {MALLORY}" in out, out
    assert "totp" in out and "recovery-codes" in out, out
    world.mail.wait_for(ALICE, "Set a new password")
    time.sleep(2)
    assert world.mails_to(MALLORY, "Set a new") == []
    unfreeze = next(e for e in world.timeline("--user", "alice") if e["action"] == "admin:user:unfreeze")
    assert unfreeze["details"]["anchor"] == ALICE and unfreeze["details"]["reset_sent_to"] == [ALICE]
    # The owner resets and signs in: the attacker's authenticator is not asked for.
    reset_from_mail(world, ALICE)
    owner = world.web("owner-laptop/1")
    resp = owner.login("alice", NEW_PW)
    assert owner.logged_in() and resp.url.endswith("/manage/account/review/"), resp.url


@both
def test_a_stolen_tokens_and_a_socks_uploads_come_back_only_when_kept(world):
    """Red-team U1 and U2: neither account's computed window covers its upload (a stolen token
    changes nothing on the account; the sock acted in its setup hours), yet release refuses both
    files; one comes back once an admin keeps it, the other is removed."""
    server = world.server
    world.user("alice", ALICE)
    token = server.create_token("alice")
    srkit.ok_upload(server, token, srkit.make_wheel("sr-stolen", "1.0"))
    world.advance(40 * DAY)
    bad = srkit.make_wheel("sr-stolen", "6.6.6", payload=b"import os; os.environ")
    srkit.ok_upload(server, token, bad)
    world.user("sock", "sock@evil.test")
    socks = srkit.make_wheel("sr-sock", "0.1")
    srkit.ok_upload(server, server.create_token("sock"), socks)
    world.advance(HOUR)
    for user, project in (("alice", "sr-stolen"), ("sock", "sr-sock")):
        world.admin("quarantine", project, "--reason", "report #12")
        world.admin("freeze", user, "--reason", "report #12")
        freeze = next(e for e in world.timeline("--user", user) if e["action"] == "admin:user:freeze")
        assert freeze["details"]["window_opened_by"] is None, (user, freeze["details"])
    for project, dist in (("sr-stolen", bad), ("sr-sock", socks)):
        proc = world.admin("release", project, "--reason", "cleaned", check=False)
        assert proc.returncode == 1 and dist.filename in proc.stderr and "keep-file" in proc.stderr, proc.stderr
    assert world.simple_versions("sr-sock") is None
    # A file nothing holds back cannot be kept; the sock's, reviewed, can.
    proc = world.admin("keep-file", "sr-stolen", "1.0", srkit.make_wheel("sr-stolen", "1.0").filename,
                       "--reason", "x", check=False)
    assert proc.returncode == 1 and "nothing to keep" in proc.stderr, proc.stderr
    world.admin("keep-file", "sr-sock", "0.1", socks.filename, "--reason", "diffed: harmless")
    world.admin("release", "sr-sock", "--reason", "reviewed")
    assert world.simple_versions("sr-sock") == {"0.1"}
    world.admin("remove", "sr-stolen", "6.6.6", "--reason", "exfiltrates the environment")
    world.admin("release", "sr-stolen", "--reason", "what is left is the owner's")
    assert world.simple_versions("sr-stolen") == {"1.0"}
    assert world.installable("sr-stolen", "1.0") and not world.installable("sr-stolen", "6.6.6")
    kept = [e for e in world.timeline("--project", "sr-sock") if e["action"] == "admin:file:keep"]
    assert kept and kept[0]["details"]["filename"] == socks.filename and kept[0]["details"]["sha256"]


@both
def test_a_held_removal_of_a_frozen_owner_waits_and_the_unfreeze_mails_a_new_veto(world):
    """Red-team U4: the sock's held removal of the frozen owner is not applied during the freeze;
    the unfreeze restarts its pending period and mails the owner a new veto link, which works."""
    world.user("admin", "admin@example.test", admin=True)
    world.user("alice", ALICE)
    world.user("newbie", "newbie@evil.test")
    srkit.ok_upload(world.server, world.server.create_token("alice"), srkit.make_wheel("sr-held", "1.0"))
    world.advance(30 * DAY)
    manage = "/manage/project/sr-held/"
    world.login("alice", ATTACKER).submit(manage, manage + "invite/", {"username": "newbie", "role": "Owner"})
    newbie = world.login("newbie", ATTACKER)
    newbie.submit("/manage/account/invitations/", "/accept/")
    resp = newbie.submit(manage, manage + "member/alice/remove/")
    assert resp.status_code == 200 and "pending" in page_text(resp).lower(), page_text(resp)[:400]
    world.mail.wait_for(ALICE, "Veto")
    world.advance(HOUR)
    world.admin("freeze", "alice", "--reason", "report #13")
    world.advance(73 * HOUR)
    out = world.admin("run-jobs").stdout
    assert "frozen" in out, out
    assert world.roles("sr-held") == {"alice": "Owner", "newbie": "Owner"}
    out = world.admin("unfreeze", "alice", "--reason", "owner confirmed by phone").stdout
    assert "on sr-held that waited out the freeze: pending again until" in out, out
    again = world.mail.wait_for(ALICE, "Veto", after=1)
    world.advance(HOUR)
    world.admin("run-jobs")
    assert world.roles("sr-held") == {"alice": "Owner", "newbie": "Owner"}
    postponed = [e for e in world.timeline("--project", "sr-held") if e["action"] == "role:change:postpone"]
    assert postponed and postponed[0]["details"]["user"] == "alice", postponed
    resp = world.web("alice-phone/1").submit(world.mail.link(again, "/account/veto/"), "/account/veto/")
    assert resp.status_code == 200 and "vetoed" in page_text(resp), page_text(resp)[:400]
    world.advance(4 * DAY)
    world.admin("run-jobs")
    assert world.roles("sr-held") == {"alice": "Owner", "newbie": "Owner"}


def review_action(w, kind: str, decision: str) -> str:
    """The action of the review page's form that keeps or drops the item of `kind`."""
    return next(f.action for f in w.forms("/manage/account/review/")
                if f"/review/{kind}/" in f.action and f.action.endswith(f"/{decision}/"))
