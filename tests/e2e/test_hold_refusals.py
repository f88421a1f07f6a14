"""What a recovery hold refuses besides creation, and which credential changes start one (issue 9,
findings 4 and 7), against a started server with real SMTP and a movable clock, on both backends.

- During the hold a recovered account cannot yank or unyank, remove a file, a release or the
  project, leave a co-owned project (an established Owner gone at once), become Owner of another
  project, or delete itself: each web form answers 403 naming the hold, nothing changes, and each
  refusal is in the log (`account:hold:refused`, with what was refused). After the hold it works.
- `restore-user` without `--roles-at` re-grants the roles the account held before its incident
  window opened, not the state the attacker left (a project it left inside the window comes back).
- New recovery codes (from a freshly re-authenticated session) start the hold and are told to
  every verified address; the attacker who signs in later with the password and one new code
  (no TOTP) gets no token and adds no Owner during the hold. A password change and a removed
  factor hold and are told to every address the same way.
"""

from __future__ import annotations

import re
import time
import urllib.parse

import pytest

import srkit
from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import DAY, HOUR, PASSWORD, Incident, actions, manage
from test_account_safety import NEW_PW, reset_password
from test_incident_undo import add_address, enrol_totp
from webclient import page_text

ALICE = "alice@example.test"
SECOND = "alice@second.test"
ATTACKER = "attacker-browser/6.6"


@pytest.fixture
def world(strongroom, mail_sink, tmp_path, request):  # noqa: F811
    w = Incident(strongroom, mail_sink, tmp_path, request.param)
    yield w
    w.close()


def both(fn):
    return pytest.mark.parametrize("world", ["sqlite", "pg_s3"], indirect=True)(fn)


def release_form(w, project: str, action: str, **extra: str):
    """Post the first release form of `action` (yank, unyank, remove-release, remove-file); a
    removal types the name it asks for (the version, the file name), as a person does."""
    tail = {"yank": "/yank/", "unyank": "/unyank/", "remove-release": "/remove/", "remove-file": "/remove/"}[action]
    path = next(f.action for f in w.forms(manage(project))
                if "/release/" in f.action and f.action.endswith(tail) and ("/file/" in f.action) == (action == "remove-file"))
    if action.startswith("remove"):
        extra.setdefault("confirm", urllib.parse.unquote(path.rstrip("/").split("/")[-2]))
        extra.setdefault("reason", "removed by an Owner")
    return w.submit(manage(project), path, extra)


def refused_by_hold(resp, what: str) -> None:
    text = page_text(resp)
    assert resp.status_code == 403, (what, resp.status_code, text[:400])
    assert "recovery hold" in text, (what, text[:400])


def hold_refusals(world: Incident) -> list[str]:
    return [e["details"]["refused"] for e in world.timeline("--user", "alice")
            if e["action"] == "account:hold:refused"]


def yanked(world: Incident, project: str) -> set:
    return {f["yanked"] for f in world.server.project_files(project)}


def invite(w, project: str, who: str, role: str):
    resp = w.submit(manage(project), manage(project) + "invite/", {"username": who, "role": role})
    assert resp.status_code == 200, page_text(resp)[:300]


def accept(w):
    return w.submit("/manage/account/invitations/", "/accept/")


def delete_account(w, name: str):
    """Post the account deletion (the form is not shown to a sole Owner: post it as a script would)."""
    csrf = w.form("/manage/account/", "/manage/account/password/").fields["csrf_token"]
    return w.request("POST", "/manage/account/delete/", data={"csrf_token": csrf, "confirm_username": name},
                     headers={"Referer": w._url("/manage/account/")})


@both
def test_a_held_account_destroys_nothing_until_the_hold_ends(world):
    server = world.server
    world.user("admin", "admin@example.test", admin=True)
    world.user("alice", ALICE)
    world.user("bob")
    world.user("carol")
    alice_token = server.create_token("alice")
    for p in ("sr-solo", "sr-shared"):
        srkit.ok_upload(server, alice_token, srkit.make_wheel(p, "1.0"))
    srkit.ok_upload(server, server.create_token("carol"), srkit.make_wheel("sr-elsewhere", "1.0"))
    invite(world.login("alice"), "sr-shared", "bob", "Owner")
    assert accept(world.login("bob")).status_code == 200
    world.advance(10 * DAY)
    assert world.roles("sr-shared") == {"alice": "Owner", "bob": "Owner"}

    # -- The attacker resets alice's password: the hold starts; carol (unaware) invites alice.
    reset_password(world, "alice", ALICE, NEW_PW)
    world.mail.wait_for(ALICE, "recovery hold")
    invite(world.login("carol"), "sr-elsewhere", "alice", "Owner")
    mallory = world.login("alice", ATTACKER, password=NEW_PW)

    refused_by_hold(release_form(mallory, "sr-solo", "yank", reason="gone"), "yank")
    refused_by_hold(release_form(mallory, "sr-solo", "remove-file"), "remove file")
    refused_by_hold(release_form(mallory, "sr-solo", "remove-release", reason="gone"), "remove release")
    refused_by_hold(mallory.submit(manage("sr-solo"), manage("sr-solo") + "delete/", {"confirm": "sr-solo", "reason": "gone"}), "delete project")
    refused_by_hold(mallory.submit(manage("sr-shared"), manage("sr-shared") + "leave/"), "leave")
    refused_by_hold(accept(mallory), "accept Owner")
    refused_by_hold(delete_account(mallory, "alice"), "delete account")

    # Nothing changed: pip still installs sr-solo 1.0, alice still owns sr-shared, is no Owner of
    # sr-elsewhere, and signs in.
    assert world.simple_versions("sr-solo") == {"1.0"}
    assert yanked(world, "sr-solo") == {False}
    assert world.installable("sr-solo", "1.0")
    assert world.roles("sr-shared") == {"alice": "Owner", "bob": "Owner"}
    assert "alice" not in world.roles("sr-elsewhere")
    assert world.login("alice", password=NEW_PW).logged_in()
    # Each refused action is logged once in its hour; its repeats (the file removal after the
    # release removal, both `remove-release`) are counted, not logged one by one.
    assert hold_refusals(world) == ["yank", "remove-release", "remove-project", "leave",
                                    "accept-owner", "delete-account"]

    # -- After the hold the same forms work; the closed window's count is in the log.
    world.advance(73 * HOUR)
    world.admin("run-jobs")
    counted = [e["details"] for e in world.timeline("--user", "alice") if e["action"] == "refusal:counted"]
    assert [(c["action"], c["count"]) for c in counted] == [("account:hold:refused", 2)], counted
    owner = world.login("alice", password=NEW_PW)
    resp = release_form(owner, "sr-solo", "yank", reason="broken")
    assert resp.status_code == 200, page_text(resp)[:300]
    assert yanked(world, "sr-solo") == {"broken"}
    resp = release_form(owner, "sr-solo", "unyank")
    assert resp.status_code == 200 and yanked(world, "sr-solo") == {False}, page_text(resp)[:300]
    resp = owner.submit(manage("sr-shared"), manage("sr-shared") + "leave/")
    assert resp.status_code == 200, page_text(resp)[:300]
    assert world.roles("sr-shared") == {"bob": "Owner"}
    invite(world.login("carol"), "sr-elsewhere", "alice", "Owner")
    assert accept(owner).status_code == 200
    assert world.roles("sr-elsewhere")["alice"] == "Owner"
    assert len(hold_refusals(world)) == 6
    assert "intact" in world.log_verify()


@both
def test_restore_user_defaults_to_the_roles_held_before_the_incident_window(world):
    server = world.server
    world.user("admin", "admin@example.test", admin=True)
    world.user("alice", ALICE)
    world.user("bob")
    srkit.ok_upload(server, server.create_token("alice"), srkit.make_wheel("sr-kept", "1.0"))
    invite(world.login("alice"), "sr-kept", "bob", "Owner")
    assert accept(world.login("bob")).status_code == 200
    world.advance(10 * DAY)

    # -- The attacker resets the password, waits out the hold, leaves sr-kept, deletes alice.
    reset_password(world, "alice", ALICE, NEW_PW)
    world.advance(73 * HOUR)
    mallory = world.login("alice", ATTACKER, password=NEW_PW)
    resp = mallory.submit(manage("sr-kept"), manage("sr-kept") + "leave/")
    assert resp.status_code == 200, page_text(resp)[:300]
    resp = mallory.submit("/manage/account/", "/manage/account/delete/", {"confirm_username": "alice"})
    assert resp.status_code == 200, page_text(resp)[:300]
    assert world.roles("sr-kept") == {"bob": "Owner"}
    world.advance(HOUR)

    # -- The admin restores alice without naming a moment: the role she held before the reset
    #    comes back, and the reset link goes to her own (pre-window) address.
    out = world.admin("restore-user", "alice", "--reason", "victim of #12").stdout
    assert "re-granted Owner on sr-kept" in out, out
    assert world.roles("sr-kept") == {"alice": "Owner", "bob": "Owner"}
    world.mail.wait_for(ALICE, "Set a new password")
    restore = [e for e in world.timeline("--user", "alice") if e["action"] == "admin:user:restore"][-1]
    assert restore["details"]["roles_at"] == restore["details"]["window_start"] - 1, restore["details"]
    assert restore["details"]["window_opened_by"] == "account:password:reset", restore["details"]


def login_with_totp(world: Incident, totp, agent: str = ATTACKER):
    w = world.web(agent)
    w.login("alice", PASSWORD, totp=totp)
    assert w.logged_in(), page_text(w.last)[:300]
    return w


def told_both(world: Incident, subject: str, needle: str = "") -> None:
    """Both of alice's verified addresses got a mail with `subject` whose body says `needle`."""
    for addr in (ALICE, SECOND):
        deadline = time.monotonic() + 30
        while not any(needle in world.mail.body(m) for m in world.mails_to(addr, subject)):
            assert time.monotonic() < deadline, (addr, subject, needle)
            time.sleep(0.2)


@both
def test_credential_changes_hold_and_every_address_hears(world):
    server = world.server
    world.user("admin", "admin@example.test", admin=True)
    world.user("alice", ALICE)
    world.user("carol")
    srkit.ok_upload(server, server.create_token("alice"), srkit.make_wheel("sr-codes", "1.0"))
    world.advance(10 * DAY)
    # alice, established: a second address and an authenticator, their holds long over.
    owner = world.login("alice", "owner-laptop/1")
    add_address(owner, world, SECOND)
    totp = enrol_totp(owner, world, ALICE)
    world.advance(4 * DAY)

    # -- A stolen session, freshly re-authenticated, makes new recovery codes.
    mallory = login_with_totp(world, totp)
    resp = mallory.submit("/manage/account/two-factor/", "/manage/account/recovery-codes/")
    assert resp.status_code == 200, page_text(resp)[:300]
    codes = re.findall(r"<li><code>([^<]+)</code></li>", resp.text)
    assert codes, page_text(resp)[:300]
    told_both(world, "New recovery codes")
    told_both(world, "recovery hold", "recovery-code regeneration")

    # -- Later: password and one new code, no TOTP. The session gets no token and adds no Owner.
    world.advance(HOUR)
    w = world.web("attacker-laptop/2")
    resp = w.login("alice", PASSWORD)
    assert "/account/two-factor/" in resp.url, resp.url
    resp = w.submit("/account/two-factor/", "/account/two-factor/recovery/", {"recovery_code": codes[0]})
    assert w.logged_in(), page_text(resp)[:300]
    status, text = world.web_token(w)
    assert status == 403 and "recovery hold" in text, (status, text[:300])
    resp = w.submit(manage("sr-codes"), manage("sr-codes") + "invite/", {"username": "carol", "role": "Owner"})
    refused_by_hold(resp, "invite")
    assert world.roles("sr-codes") == {"alice": "Owner"}
    assert world.mails_to("carol@example.test", "Invitation") == []

    # -- After that hold: removing the authenticator holds and is told to both addresses.
    world.advance(73 * HOUR)
    owner = login_with_totp(world, totp, "owner-laptop/1")
    resp = owner.submit("/manage/account/two-factor/", "/manage/account/totp/remove/")
    assert resp.status_code == 200, page_text(resp)[:300]
    told_both(world, "two-factor method was removed")
    told_both(world, "recovery hold", "two-factor removal")
    status, text = world.web_token(owner)
    assert status == 403 and "two-factor removal" in text, (status, text[:300])

    # -- And a password change while signed in.
    world.advance(73 * HOUR)
    owner = world.login("alice", "owner-laptop/1")
    resp = owner.submit("/manage/account/", "/manage/account/password/",
                        {"old_password": PASSWORD, "new_password": NEW_PW, "new_password_confirm": NEW_PW})
    assert resp.status_code == 200, page_text(resp)[:300]
    told_both(world, "password was changed")
    told_both(world, "recovery hold", "password change")
    status, text = world.web_token(owner)
    assert status == 403 and "password change" in text, (status, text[:300])

    reasons = [e["details"]["reason"] for e in world.timeline("--user", "alice") if e["action"] == "account:hold"]
    assert reasons[-3:] == ["recovery-code regeneration", "two-factor removal", "password change"], reasons
    assert "account:hold:refused" in actions(world.timeline("--user", "alice"))
