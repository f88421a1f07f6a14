"""Issue 4, ownership, against a started server through HTTP: an Owner invites from the project's
manage page → the invitee is mailed → accepts on its invitations page → uploads as Maintainer with
twine; a non-member is refused; an unverified account cannot be invited; invitations expire (clock
offset file); a newcomer Owner removing an older Owner is held, shown on the manage page, vetoed by
the mailed link (which can also report the newcomer to the administrators, who alone freeze); an unvetoed change is applied by the periodic job
after the window. Mail is read from the server's file outbox (<data>/outbox/*.eml)."""

from __future__ import annotations

import email
import email.policy
import re
import urllib.parse
from pathlib import Path

import pytest

import srkit
from webclient import Web, page_text

PW = "correct horse battery staple 42"
HOUR = 3600


def outbox(server: srkit.Server) -> list[tuple[str, str, str]]:
    """Every delivered mail as (to, subject, body)."""
    out = []
    for p in sorted((server.data_dir / "outbox").glob("*.eml")):
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        out.append((str(msg["To"]), str(msg["Subject"]), msg.get_content()))
    return out


def mail(server: srkit.Server, to: str, subject: str, *, count: int = 1) -> str:
    """The body of the newest mail to `to` whose subject contains `subject` (waits for `count`)."""
    found: list[str] = []

    def ready():
        found[:] = [b for t, s, b in outbox(server) if to in t and subject in s]
        return len(found) >= count

    if not srkit.wait_until(ready, timeout=20):
        pytest.fail(f"no mail to {to} about {subject!r}; seen: {[(t, s) for t, s, _ in outbox(server)]}")
    return found[-1]


def mail_count(server: srkit.Server, to: str, subject: str) -> int:
    return sum(1 for t, s, _ in outbox(server) if to in t and subject in s)


def link_path(body: str, fragment: str) -> str:
    """The path and query of the link containing `fragment` (the mail's host is the bind address)."""
    for url in re.findall(r"https?://[^\s<>\"']+", body):
        if fragment in url:
            parts = urllib.parse.urlsplit(url)
            return parts.path + ("?" + parts.query if parts.query else "")
    pytest.fail(f"no link with {fragment!r} in:\n{body}")


def login(server: srkit.Server, name: str) -> Web:
    web = Web(server.url)
    web.login(name, PW)
    assert web.logged_in(), f"{name} could not log in: {page_text(web.last)[:300]}"
    return web


def manage(project: str) -> str:
    return f"/manage/project/{project}/"


def project_owned_by(server: srkit.Server, owner: str, project: str) -> str:
    """Create `owner` and publish `project` 1.0 as it; returns its token."""
    token = server.user_with_token(owner)
    srkit.ok_upload(server, token, srkit.make_wheel(project, "1.0"))
    return token


def invite(web: Web, project: str, who: str, role: str):
    return web.submit(manage(project), manage(project) + "invite/", {"username": who, "role": role})


def members(web: Web, project: str) -> dict[str, str]:
    resp = web.get(manage(project))
    assert resp.status_code == 200, (resp.status_code, page_text(resp)[:300])
    rows = re.findall(r'<tr id="member-([^"]+)">\s*<td>[^<]*</td><td class="role">([^<]+)</td>', resp.text)
    return dict(rows)


def accept_all(web: Web) -> None:
    resp = web.submit("/manage/account/invitations/", "/accept/")
    assert resp.status_code == 200, (resp.status_code, page_text(resp)[:300])


def clocked(strongroom, backend_kind, tmp_path: Path, **env: str) -> tuple[srkit.Server, Path]:
    offset = tmp_path / "clock-offset"
    offset.write_text("0")
    server = strongroom(backend_kind, env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(offset), **env})
    return server, offset


def test_invite_accept_and_the_maintainer_uploads_with_twine(server, tmp_path):
    project_owned_by(server, "alice", "sr-own")
    server.create_user("bob")
    carol_token = server.user_with_token("carol")
    # Not a member: refused.
    resp = srkit.upload_raw(server, carol_token, srkit.make_wheel("sr-own", "1.1"))
    assert resp.status_code == 403, (resp.status_code, resp.text)

    alice = login(server, "alice")
    resp = invite(alice, "sr-own", "bob", "Maintainer")
    assert resp.status_code == 200 and "done=invited" in resp.url, (resp.status_code, resp.url)
    assert "bob" in page_text(resp) and 'id="invitation-' in resp.text
    body = mail(server, "bob@example.test", "Invitation to be Maintainer of sr-own")
    assert link_path(body, "/manage/account/invitations/") == "/manage/account/invitations/"
    mail(server, "alice@example.test", "bob was invited to sr-own")
    # A second invitation while one is pending: refused.
    resp = invite(alice, "sr-own", "bob", "Owner")
    assert resp.status_code == 409, (resp.status_code, page_text(resp)[:300])

    bob = login(server, "bob")
    assert "sr-own" in page_text(bob.get("/manage/account/invitations/"))
    accept_all(bob)
    assert "done=accepted" in bob.last.url
    assert members(bob, "sr-own") == {"alice": "Owner", "bob": "Maintainer"}
    mail(server, "alice@example.test", "bob is now Maintainer of sr-own")
    mail(server, "bob@example.test", "bob is now Maintainer of sr-own")
    # The Maintainer uploads with twine; it cannot invite (no form, and a forged post is 403).
    bob_token = server.create_token("bob")
    wheel = srkit.make_wheel("sr-own", "1.1").write(tmp_path / "dist")
    srkit.twine_upload(server, bob_token, [wheel], tmp_path)
    assert any(f["filename"] == wheel.name for f in server.project_files("sr-own"))
    assert 'id="invite-form"' not in bob.get(manage("sr-own")).text
    form = bob.form(manage("sr-own"), manage("sr-own") + "leave/")
    resp = bob.request("POST", manage("sr-own") + "invite/", data={"csrf_token": form.fields["csrf_token"],
                                                                   "username": "carol", "role": "Owner"})
    assert resp.status_code == 403, (resp.status_code, page_text(resp)[:300])
    # Someone without a role does not even see the page.
    carol = login(server, "carol")
    assert carol.get(manage("sr-own")).status_code == 404
    # The projects page lists the role.
    assert re.search(r"sr-own.*Maintainer", page_text(bob.get("/manage/projects/")))
    server.cli("admin", "log", "verify")


def test_an_unverified_account_cannot_be_invited(strongroom, backend_kind):
    """Registration is verify-first: until its link is followed there is no account, so an
    invitation to the pending username answers exactly as for a name nobody has."""
    server = strongroom(backend_kind, env={"STRONGROOM_HIBP__URL": "", "STRONGROOM_ACCOUNTS__REGISTRATION": "open"})
    project_owned_by(server, "alice", "sr-unv")
    web = Web(server.url)
    resp = web.submit("/account/register/", "/account/register/",
                      {"username": "fresh", "email": "fresh@example.test", "password": PW,
                       "password_confirm": PW})
    assert resp.status_code == 200, (resp.status_code, page_text(resp)[:300])
    alice = login(server, "alice")
    resp = invite(alice, "sr-unv", "fresh", "Maintainer")
    unknown = invite(alice, "sr-unv", "nobody-at-all", "Maintainer")
    assert (resp.status_code, srkit.without_request_id(page_text(resp).replace("fresh", "NAME"))) == \
        (unknown.status_code, srkit.without_request_id(page_text(unknown).replace("nobody-at-all", "NAME"))), \
        page_text(resp)[:300]
    assert resp.status_code == 404, (resp.status_code, page_text(resp)[:300])
    assert mail_count(server, "fresh@example.test", "Invitation") == 0


def test_invitations_expire(strongroom, backend_kind, tmp_path):
    server, offset = clocked(strongroom, backend_kind, tmp_path)
    project_owned_by(server, "alice", "sr-exp")
    server.create_user("bob")
    alice = login(server, "alice")
    invite(alice, "sr-exp", "bob", "Maintainer")
    bob = login(server, "bob")
    form = bob.form("/manage/account/invitations/", "/accept/")
    offset.write_text(str(72 * HOUR + 60))
    bob = login(server, "bob")  # the old session idled out
    assert "No pending invitations" in page_text(bob.get("/manage/account/invitations/"))
    form.fields["csrf_token"] = bob.form("/manage/account/invitations/", "/account/logout/").fields["csrf_token"]
    resp = bob.request("POST", form.action, data=form.fields)
    assert resp.status_code == 400, (resp.status_code, page_text(resp)[:300])
    assert "expired" in page_text(resp)
    alice = login(server, "alice")
    assert members(alice, "sr-exp") == {"alice": "Owner"}
    # A new invitation may be sent once the old one expired.
    resp = invite(alice, "sr-exp", "bob", "Maintainer")
    assert "done=invited" in resp.url, (resp.status_code, page_text(resp)[:300])


def newcomer_owner(server: srkit.Server, project: str) -> tuple[Web, Web]:
    """alice owns `project` (from time 0), mallory is invited as Owner and accepts."""
    project_owned_by(server, "alice", project)
    server.create_user("mallory")
    alice = login(server, "alice")
    invite(alice, project, "mallory", "Owner")
    mallory = login(server, "mallory")
    accept_all(mallory)
    assert members(mallory, project) == {"alice": "Owner", "mallory": "Owner"}
    return alice, mallory


def test_a_newcomer_removing_an_older_owner_is_held_and_vetoed_with_a_report(strongroom, backend_kind, tmp_path):
    server, offset = clocked(strongroom, backend_kind, tmp_path)
    server.create_user("admin", email="admin@example.test", admin=True)
    _alice, mallory = newcomer_owner(server, "sr-veto")
    mallory_token = server.create_token("mallory")
    offset.write_text(str(HOUR))
    mallory = login(server, "mallory")
    resp = mallory.submit(manage("sr-veto"), manage("sr-veto") + "member/alice/remove/")
    assert resp.status_code == 200 and "done=pending" in resp.url, (resp.status_code, resp.url)
    text = page_text(resp)
    assert "Pending changes" in text and "remove alice" in text, text[:1000]
    assert members(mallory, "sr-veto") == {"alice": "Owner", "mallory": "Owner"}
    # The older Owner is mailed a veto link; the page asks before doing anything.
    body = mail(server, "alice@example.test", "Veto: mallory wants to remove alice as Owner of sr-veto")
    veto = link_path(body, "/account/veto/")
    visitor = Web(server.url)
    page = visitor.get(veto)
    assert page.status_code == 200, (page.status_code, page_text(page)[:300])
    assert "mallory asked to remove you (alice)" in page_text(page)
    resp = visitor.submit(veto, "/account/veto/report/")
    assert resp.status_code == 200, (resp.status_code, page_text(resp)[:300])
    text = page_text(resp)
    assert "The change was vetoed" in text and "administrators were asked" in text, text[:600]
    alice = login(server, "alice")
    assert members(alice, "sr-veto") == {"alice": "Owner", "mallory": "Owner"}
    assert "Pending changes" not in page_text(alice.get(manage("sr-veto")))
    # No member freezes another: mallory's session and token live until an administrator acts,
    # and the administrator is asked (the report names both accounts).
    assert mallory.logged_in()
    body = mail(server, "admin@example.test", "Freeze requested: alice asks you to freeze mallory")
    assert "/admin/users/mallory/" in body and "/admin/users/alice/" in body, body
    server.cli("admin", "freeze", "mallory", "--reason", "reported by alice's veto")
    assert not mallory.logged_in()
    resp = srkit.upload_raw(server, mallory_token, srkit.make_wheel("sr-veto", "2.0"))
    assert resp.status_code == 403, (resp.status_code, resp.text)
    mail(server, "mallory@example.test", "Your account has been frozen")
    # The link is single use, and the job never applies a vetoed change.
    assert Web(server.url).get(veto).status_code == 400
    offset.write_text(str(80 * HOUR))
    server.cli("admin", "run-jobs")
    alice = login(server, "alice")
    assert members(alice, "sr-veto") == {"alice": "Owner", "mallory": "Owner"}
    server.cli("admin", "log", "verify")


def test_the_job_applies_an_unvetoed_change_after_the_window(strongroom, backend_kind, tmp_path):
    server, offset = clocked(strongroom, backend_kind, tmp_path, STRONGROOM_JOBS__INTERVAL_SECONDS="1")
    _alice, mallory = newcomer_owner(server, "sr-apply")
    resp = mallory.submit(manage("sr-apply"), manage("sr-apply") + "member/alice/role/")
    assert "done=pending" in resp.url, (resp.status_code, page_text(resp)[:300])
    assert "demote alice to Maintainer" in page_text(resp)
    mail(server, "alice@example.test", "Veto: mallory wants to demote alice to Maintainer")
    offset.write_text(str(72 * HOUR - 120))
    srkit.wait_until(lambda: False, timeout=2.5)  # a few job rounds: still inside the window
    mallory = login(server, "mallory")
    assert members(mallory, "sr-apply")["alice"] == "Owner"
    offset.write_text(str(72 * HOUR + 5))

    def applied():
        return members(mallory, "sr-apply").get("alice") == "Maintainer"

    assert srkit.wait_until(applied, timeout=20), members(mallory, "sr-apply")
    mail(server, "alice@example.test", "alice is now Maintainer of sr-apply")
    mail(server, "mallory@example.test", "alice is now Maintainer of sr-apply")
    # The last Owner now cannot leave or be demoted: the page offers neither, and a hand-made
    # post is refused all the same.
    page = mallory.get(manage("sr-apply")).text
    assert 'id="leave-button"' not in page and "Make Maintainer" not in page, page_text(mallory.last)[:1200]
    assert "You are the only Owner" in page_text(mallory.last)
    form = mallory.form(manage("sr-apply"), manage("sr-apply") + "invite/")
    resp = mallory.request("POST", manage("sr-apply") + "leave/", data={"csrf_token": form.fields["csrf_token"]},
                           headers={"Referer": mallory._url(manage("sr-apply"))})
    assert resp.status_code == 403 and "last Owner" in page_text(resp), (resp.status_code, page_text(resp)[:300])
    server.cli("admin", "log", "verify")


def test_changing_who_owns_a_project_needs_a_recent_password(strongroom, backend_kind, tmp_path):
    """A session cookie alone (stolen, or a laptop left open) cannot hand a project over: invites,
    role changes, removals and deletion ask for the password again after `reauth_minutes`."""
    server, offset = clocked(strongroom, backend_kind, tmp_path)
    project_owned_by(server, "olga", "sr-reauth-proj")
    server.create_user("pete", PW)
    web = login(server, "olga")
    offset.write_text(str(11 * 60))  # past the 10-minute re-authentication window, session alive
    resp = invite(web, "sr-reauth-proj", "pete", "Owner")
    assert "/manage/account/reauth/" in resp.url, resp.url
    assert mail_count(server, "pete@", "Invitation") == 0
    # the password again, then the same form goes through
    resp = web.submit(resp.url, "/manage/account/reauth/", {"password": PW})
    assert resp.url.endswith(manage("sr-reauth-proj")), resp.url
    resp = invite(web, "sr-reauth-proj", "pete", "Owner")
    assert resp.status_code == 200 and "/reauth/" not in resp.url, resp.url
    assert "pete" in page_text(web.get(manage("sr-reauth-proj")))
    mail(server, "pete@", "Invitation to be Owner of sr-reauth-proj")


def test_each_operation_has_its_route_and_removals_ask_for_the_name_typed(server):
    """Every form of the manage page posts to its own route (no `action` field); removing a file,
    a release and the project goes ahead only when its name was typed again (refused on the
    server, nothing removed, when it does not match); the sole Owner is offered no "Leave", a
    second Owner is."""
    token = server.user_with_token("alice")
    wheel, sdist = srkit.make_wheel("sr-typed", "1.0"), srkit.make_sdist("sr-typed", "1.0")
    for dist in (wheel, sdist, srkit.make_wheel("sr-typed", "2.0.post1")):
        srkit.ok_upload(server, token, dist)
    alice = login(server, "alice")
    page = alice.get(manage("sr-typed")).text
    forms = [f for f in alice.forms(manage("sr-typed")) if f.method == "post"]
    assert forms and not [f for f in forms if "action" in f.fields], forms
    # the sole Owner: no Leave (core refuses it), no demotion of herself; told why
    assert 'id="leave-button"' not in page and "Make Maintainer" not in page
    assert "You are the only Owner" in page_text(alice.last)

    def files():
        return sorted(f["filename"] for f in server.project_files("sr-typed"))

    def post(path: str, fields: dict[str, str]):
        return alice.submit(manage("sr-typed"), manage("sr-typed") + path, fields)

    # a file: the wrong name typed → 400, nothing removed; the right one → removed
    resp = post(f"release/1.0/file/{sdist.filename}/remove/", {"confirm": "sr-typed", "reason": "bad build"})
    assert resp.status_code == 400 and "nothing was removed" in page_text(resp), (resp.status_code, page_text(resp)[:300])
    assert sdist.filename in files()
    resp = post(f"release/1.0/file/{sdist.filename}/remove/", {"confirm": sdist.filename, "reason": "bad build"})
    assert resp.status_code == 200 and "done=file-removed" in resp.url, (resp.status_code, page_text(resp)[:300])
    assert sdist.filename not in files() and wheel.filename in files()
    # a release: the same
    resp = post("release/2.0.post1/remove/", {"confirm": "2.0", "reason": "mistake"})
    assert resp.status_code == 400 and "nothing was removed" in page_text(resp), (resp.status_code, page_text(resp)[:300])
    assert any("2.0.post1" in f for f in files()), files()
    resp = post("release/2.0.post1/remove/", {"confirm": "2.0.post1", "reason": "mistake"})
    assert resp.status_code == 200 and "done=release-removed" in resp.url, (resp.status_code, page_text(resp)[:300])
    assert files() == [wheel.filename]
    # an empty confirmation is refused like a wrong one (the browser's `required` is not the check)
    resp = alice.request("POST", manage("sr-typed") + "release/1.0/remove/",
                         data={"csrf_token": forms[0].fields["csrf_token"], "reason": "x"},
                         headers={"Referer": alice._url(manage("sr-typed"))})
    assert resp.status_code == 400 and files() == [wheel.filename], (resp.status_code, page_text(resp)[:300])
    # an operation that does not exist is not a form field any more: the old shape names nothing
    resp = alice.request("POST", manage("sr-typed"), data={"csrf_token": forms[0].fields["csrf_token"],
                                                           "action": "delete", "confirm": "sr-typed"},
                         headers={"Referer": alice._url(manage("sr-typed"))})
    assert resp.status_code == 405 and files() == [wheel.filename], resp.status_code

    # a second Owner: now alice may leave, and is offered it
    server.create_user("bob")
    invite(alice, "sr-typed", "bob", "Owner")
    accept_all(login(server, "bob"))
    page = alice.get(manage("sr-typed")).text
    assert 'id="leave-button"' in page and "You are the only Owner" not in page_text(alice.last)
    # the project: the wrong name typed → 400 and still there; the right one → deleted
    resp = alice.submit(manage("sr-typed"), manage("sr-typed") + "delete/", {"confirm": "sr_typed", "reason": "done"})
    assert resp.status_code == 400 and server.simple_json("sr-typed").status_code == 200, resp.status_code
    resp = alice.submit(manage("sr-typed"), manage("sr-typed") + "delete/", {"confirm": "sr-typed", "reason": "done"})
    assert resp.status_code == 200 and "done=deleted" in resp.url, (resp.status_code, page_text(resp)[:300])
    assert server.simple_json("sr-typed").status_code == 404
    server.cli("admin", "log", "verify")
