"""An Owner's own recovery never makes her easier to remove, and a held change is ended only by
whoever asked for it (withdrawn, with a recent password) or by its target's veto link (issue 9
red-team findings C7, C8, C3, C3b), replayed against a started server with real SMTP and the
movable clock.

- C7: a sock invited from alice's phished session waits 8 days (established by tenure); alice
  takes her account back with a reset (a hold, and her recovery watch). The sock's new release
  during her hold is told to her; the sock's removal of her is held for her veto (not applied at
  once), the admins see it as a high-severity signal, alice vetoes with the mailed link.
- C8: the attacker changes alice's password while signed in (a hold and a recovery watch on
  her); the sock's removal of her is held the same way.
- C3/C3b: the target of a held change cannot end it from the manage page (403; only its veto
  link does), and the asker's withdrawal needs a recent password."""

from __future__ import annotations

import re

import pytest

import srkit
from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import DAY, PASSWORD, Incident, actions, invite_and_accept, manage, reset_password
from webclient import page_text

ATTACKER = "attacker-browser/6.6"


def pending_change_id(web, project: str) -> str:
    ids = re.findall(r'id="change-(\d+)"', web.get(manage(project)).text)
    assert len(ids) == 1, ids
    return ids[0]


def post_cancel(web, project: str, change_id: str):
    """A hand-made withdrawal (the page offers the button only to the asker)."""
    form = web.form(manage(project), manage(project) + "invite/")
    data = {"csrf_token": form.fields["csrf_token"]}
    return web.request("POST", manage(project) + f"change/{change_id}/withdraw/", data=data,
                       headers={"Referer": web._url(manage(project))})


def assert_held_and_vetoed(world: Incident, sock_web, alice_addr: str) -> None:
    """The sock removes alice: held for her veto, the admins see it first, she vetoes."""
    resp = sock_web.submit(manage("acme"), manage("acme") + "member/alice/remove/")
    assert resp.status_code == 200 and "done=pending" in resp.url, (resp.status_code, resp.url,
                                                                    page_text(resp)[:600])
    assert world.roles("acme") == {"alice": "Owner", "sock": "Owner"}
    story = actions(world.timeline("--project", "acme"))
    assert "role:change:pending" in story and "role:change:pending:recovered-owner" in story, story
    assert "role:remove" not in story, story
    # -- The administrators see it at high severity on their start page.
    admin_web = world.login("admin", "admin-browser/1")
    start = admin_web.get("/admin/")
    signals = start.text[start.text.index('id="signals"'):]
    assert 'data-action="role:change:pending:recovered-owner" data-severity="high"' in signals, \
        page_text(start)[:2000]
    # -- alice's mailbox has the veto link; she vetoes.
    mail = world.mail.wait_for(alice_addr, "Veto: sock wants to remove alice as Owner of acme")
    assert "recovered recently" in world.mail.body(mail), world.mail.body(mail)
    link = world.mail.link(mail, "/account/veto/")
    visitor = world.web("alice-phone/1")
    resp = visitor.submit(link, "/account/veto/report/")
    assert resp.status_code == 200 and "vetoed" in page_text(resp), (resp.status_code, page_text(resp)[:400])
    assert "role:change:veto" in actions(world.timeline("--project", "acme"))
    # -- Nothing applies it later.
    world.advance(4 * DAY)
    world.admin("run-jobs")
    assert world.roles("acme") == {"alice": "Owner", "sock": "Owner"}


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_c7_a_reset_owner_is_not_removed_at_once_by_an_established_sock_and_hears_its_release(
        strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        world.user("admin", admin=True)
        alice = world.user("alice")
        world.user("sock", "sock@evil.test")
        token = server.create_token("alice")
        srkit.ok_upload(server, token, srkit.make_wheel("acme", "1.0"))
        world.advance(400 * DAY)
        srkit.ok_upload(server, token, srkit.make_wheel("acme", "1.1"))
        world.advance(20 * DAY)

        # -- The phished session invites a sock; eight days on, the sock is established.
        invite_and_accept(world, world.login("alice", ATTACKER), "acme", "sock")
        sock_token = server.create_token("sock")
        world.advance(8 * DAY)

        # -- alice takes her account back: a hold and her recovery watch.
        reset_password(world, "alice", alice, "alice takes it back 2027!")

        # -- The sock's release during her hold is told to her.
        srkit.ok_upload(server, sock_token, srkit.make_wheel("acme", "2.0"))
        body = world.mail.body(world.mail.wait_for(alice, "sock published acme 2.0"))
        assert "recovered" in body and "remove sock" in body, body
        assert world.mails_to("sock@evil.test", "sock published acme 2.0") == []

        assert_held_and_vetoed(world, world.login("sock", ATTACKER), alice)
        assert "intact" in world.log_verify()
    finally:
        world.close()


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_c8_a_password_change_by_the_attacker_does_not_hand_the_project_to_the_sock(
        strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        world.user("admin", admin=True)
        alice = world.user("alice")
        world.user("sock", "sock@evil.test")
        token = server.create_token("alice")
        srkit.ok_upload(server, token, srkit.make_wheel("acme", "1.0"))
        world.advance(700 * DAY)
        srkit.ok_upload(server, token, srkit.make_wheel("acme", "2.0"))
        world.advance(20 * DAY)
        invite_and_accept(world, world.login("alice", ATTACKER), "acme", "sock")
        world.advance(8 * DAY)

        # -- The attacker, signed in as alice, changes her password (a hold, a recovery watch).
        attacker = world.login("alice", ATTACKER)
        new_pw = "attacker chosen passphrase 2027"
        resp = attacker.submit("/manage/account/", "/manage/account/password/",
                               {"old_password": PASSWORD, "new_password": new_pw,
                                "new_password_confirm": new_pw})
        assert resp.status_code == 200, (resp.status_code, page_text(resp)[:400])
        story = actions(world.timeline("--user", "alice"))
        assert "account:password:change" in story and "account:hold" in story, story

        assert_held_and_vetoed(world, world.login("sock", ATTACKER), alice)
    finally:
        world.close()


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_c3_only_the_asker_withdraws_a_held_change_and_only_with_a_recent_password(
        strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        world.user("admin", admin=True)
        alice = world.user("alice")
        world.user("carol")
        srkit.ok_upload(server, server.create_token("alice"), srkit.make_wheel("acme", "1.0"))
        world.advance(60 * DAY)
        invite_and_accept(world, world.login("alice", "alice-browser/1"), "acme", "carol")
        world.advance(3 * DAY)

        # -- carol, a newcomer, removes alice: held for alice's veto.
        carol = world.login("carol", "carol-browser/1")
        resp = carol.submit(manage("acme"), manage("acme") + "member/alice/remove/")
        assert "done=pending" in resp.url, (resp.status_code, page_text(resp)[:400])
        change = pending_change_id(carol, "acme")

        # -- A session of alice's (fresh password: the re-authentication is not what refuses it)
        #    cannot end the change aimed at her: only the veto link does.
        session = world.login("alice", ATTACKER)
        resp = post_cancel(session, "acme", change)
        assert resp.status_code == 403 and "veto link" in page_text(resp), (resp.status_code,
                                                                           page_text(resp)[:400])
        assert "Veto it with the link mailed to you" in page_text(session.get(manage("acme")))
        assert pending_change_id(carol, "acme") == change
        story = actions(world.timeline("--project", "acme"))
        assert "role:change:cancel" not in story, story
        assert "role:change:cancel:refused" in story, story
        world.mail.wait_for(alice, "Veto: carol wants to remove alice")

        # -- carol withdraws her own request, but only after giving her password again.
        world.advance(11 * 60)
        resp = post_cancel(carol, "acme", change)
        assert "/manage/account/reauth/" in resp.url, (resp.status_code, resp.url)
        assert pending_change_id(carol, "acme") == change
        resp = carol.submit(resp.url, "/manage/account/reauth/", {"password": PASSWORD})
        resp = carol.submit(manage("acme"), manage("acme") + f"change/{change}/withdraw/")
        assert resp.status_code == 200 and "done=cancelled" in resp.url, (resp.status_code, resp.url)
        assert 'id="change-' not in carol.get(manage("acme")).text
        assert "role:change:cancel" in actions(world.timeline("--project", "acme"))
        assert world.roles("acme") == {"alice": "Owner", "carol": "Owner"}
    finally:
        world.close()
