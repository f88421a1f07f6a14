"""Watched states (issue 9, findings 3 and 6's second half), replayed against a started server
with real SMTP, pip and the movable clock, asserting after each step who can do what, what pip
installs and which mails went to whom.

- A recovered Maintainer publishes nothing unseen: an established Maintainer of a lively project
  is recovered (password reset); every Owner of the project is told of the recovery; after the
  hold its new release and a wheel it adds to an older release are published (the project is
  lively) and each is told to every Owner, not to the uploader.
- Standing is not earned through a watched account: a sock invited as Owner by a recovered
  account is not established after 8 days (its watch is inherited for the inviter's 30 days), so
  when the real owner takes her account back (a reset: she is a newcomer again, on a hold) her
  removal of the sock is applied at once, neither refused by her hold nor held for the sock's
  veto."""

from __future__ import annotations

import pytest

import srkit
from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import DAY, HOUR, PASSWORD, Incident, actions, invite_and_accept, manage, reset_password
from webclient import page_text


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_a_recovered_maintainers_recovery_release_and_added_wheel_are_told_to_every_owner(
        strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        world.user("admin", admin=True)
        olga = world.user("olga")
        oscar = world.user("oscar")
        maxm = world.user("maxm")
        srkit.ok_upload(server, server.create_token("olga"), srkit.make_wheel("lively", "1.0"))
        olga_web = world.login("olga", "olga-browser/1")
        invite_and_accept(world, olga_web, "lively", "oscar", "Owner")
        invite_and_accept(world, olga_web, "lively", "maxm", "Maintainer")
        assert world.roles("lively") == {"olga": "Owner", "oscar": "Owner", "maxm": "Maintainer"}

        # -- Three weeks on: maxm is an established Maintainer; olga keeps the project lively.
        world.advance(21 * DAY)
        srkit.ok_upload(server, server.create_token("olga"), srkit.make_sdist("lively", "1.1"))
        world.advance(DAY)

        # -- maxm's password is reset: both Owners hear of it, not only maxm's addresses.
        new_pw = "maxm was reset by someone 81"
        reset_password(world, "maxm", maxm, new_pw)
        world.mail.wait_for(maxm, "recovery hold")
        for owner in (olga, oscar):
            told = world.mail.wait_for(owner, "maxm, a Maintainer of lively, recovered their account")
            assert "recovery hold" in world.mail.body(told), world.mail.body(told)

        # -- After the hold: a new release and a wheel added to olga's 1.1. The project is
        #    lively, so the release is published at once and told to every Owner; the added
        #    wheel is a watched account's file added to a published release, so it is held for
        #    review (per-file review) and the Owners and admins are asked, until approved.
        world.advance(73 * HOUR)
        maxm_web = world.login("maxm", "maxm-browser/2", new_pw)
        status, token = world.web_token(maxm_web)
        assert status == 200, token[:400]
        srkit.ok_upload(server, token, srkit.make_wheel("lively", "1.2"))
        assert world.installable("lively", "1.2")
        for owner in (olga, oscar):
            body = world.mail.body(world.mail.wait_for(owner, "maxm published lively 1.2"))
            assert "recovered" in body and "remove maxm" in body, body
        added = srkit.make_wheel("lively", "1.1")
        srkit.ok_upload(server, token, added)
        assert added.filename not in [f["filename"] for f in server.project_files("lively")]
        for owner in (olga, oscar):
            held = world.mail.wait_for(owner, f"File {added.filename} of lively was held for review")
            assert "maxm" in world.mail.body(held) and "recovered" in world.mail.body(held), \
                world.mail.body(held)
        world.admin("approve-file", "lively", "1.1", added.filename, "--reason", "olga asked maxm")
        assert srkit.settled(server, lambda: added.filename in [f["filename"] for f in server.project_files("lively")])
        assert world.mails_to(maxm, "published lively") == []
        assert world.mails_to(maxm, "held for review") == []
        # Once each: one mail per Owner for the release, one for the held file.
        for owner in (olga, oscar):
            assert len(world.mails_to(owner, "maxm published lively 1.2")) == 1
            assert len(world.mails_to(owner, f"File {added.filename} of lively was held")) == 1
            assert world.mails_to(owner, f"maxm added {added.filename}") == []

        # -- A month after the recovery the watch is over: maxm's next release is told to no one.
        world.advance(30 * DAY)
        srkit.ok_upload(server, token, srkit.make_wheel("lively", "1.3"))
        assert world.installable("lively", "1.3")
        assert world.mails_to(olga, "maxm published lively 1.3") == []
        assert "intact" in world.log_verify()
    finally:
        world.close()


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_a_sock_of_a_recovered_account_earns_no_standing_and_is_removed_at_once(
        strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        world.user("admin", admin=True)
        alice = world.user("alice")
        world.user("sockpuppet", "sock@evil.test")
        srkit.ok_upload(server, server.create_token("alice"), srkit.make_wheel("acme-kit", "1.0"))
        world.advance(60 * DAY)

        # -- The attacker resets alice's password, waits out the hold, invites a sock as Owner.
        attacker_pw = "the attacker's new password 13"
        reset_password(world, "alice", alice, attacker_pw)
        world.advance(73 * HOUR)
        attacker = world.login("alice", "attacker-browser/6.6", attacker_pw)
        invite_and_accept(world, attacker, "acme-kit", "sockpuppet", "Owner")
        assert world.roles("acme-kit") == {"alice": "Owner", "sockpuppet": "Owner"}

        # -- Eight days nobody removed it. By age alone it would count as established now.
        world.advance(8 * DAY)

        # -- alice takes her account back (a reset: a newcomer again, on a hold of her own) and
        #    removes the sock: applied at once, no hold refusal, no cooling-off, no veto link.
        owner_pw = "alice has her account back 55"
        reset_password(world, "alice", alice, owner_pw)
        owner = world.login("alice", "alice-browser/1", owner_pw)
        resp = owner.submit(manage("acme-kit"), manage("acme-kit") + "member/sockpuppet/remove/")
        text = page_text(resp)
        assert resp.status_code == 200, (resp.status_code, text[:600])
        assert "recovery hold" not in text and "Pending changes" not in text, text[:1200]
        assert world.roles("acme-kit") == {"alice": "Owner"}
        assert world.mails_to("sock@evil.test", "Veto") == []
        story = actions(world.timeline("--project", "acme-kit"))
        assert "role:remove" in story and "role:change:pending" not in story, story
        assert "account:hold:refused" not in actions(world.timeline("--user", "alice")), story
        # The sock's role was recorded as watched when the recovered account granted it.
        added = [e for e in world.timeline("--project", "acme-kit") if e["action"] == "role:add"]
        assert added and added[-1]["details"].get("watched_until"), added
    finally:
        world.close()


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_a_dormant_projects_first_release_after_a_members_recovery_reaches_the_admins_whoever_uploads(
        strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        admin = world.user("admin", admin=True)
        alice = world.user("alice")
        bob = world.user("bob")
        srkit.ok_upload(server, server.create_token("alice"), srkit.make_wheel("old-tool", "1.0"))
        invite_and_accept(world, world.login("alice", "alice-browser/1"), "old-tool", "bob", "Owner")

        # -- Years pass. alice's password is reset; bob, an established Owner nobody recovered,
        #    publishes next: the dormant project's first release since the recovery goes to the
        #    admins all the same (bob's token may be the attacker's next step).
        world.advance(400 * DAY)
        bob_token = server.create_token("bob")
        reset_password(world, "alice", alice, "alice after the reset 31")
        resp = srkit.upload_raw(server, bob_token, srkit.make_wheel("old-tool", "2.0"))
        assert resp.status_code == 200 and "review" in resp.text.lower(), (resp.status_code, resp.text)
        assert world.simple_versions("old-tool") == {"1.0"}
        assert not world.installable("old-tool", "2.0")
        body = world.mail.body(world.mail.wait_for(admin, "Release old-tool 2.0 was quarantined"))
        assert "alice, a member of the project, was recovered" in body, body
        world.mail.wait_for(bob, "Release old-tool 2.0 was quarantined")
        held = [e for e in world.timeline("--project", "old-tool") if e["action"] == "release:quarantine"]
        assert len(held) == 1 and held[0]["actor"] == "bob", held

        # -- The watch ends, but nothing was published since the recovery: bob's next release is
        #    still the first since it and goes to the admins (no time bound: red team C5).
        world.advance(31 * DAY)
        resp = srkit.upload_raw(server, bob_token, srkit.make_wheel("old-tool", "2.1"))
        assert resp.status_code == 200 and "review" in resp.text.lower(), (resp.status_code, resp.text)
        assert not world.installable("old-tool", "2.1")
        # Approved, bob's release (bob is not watched) makes the project lively after the
        # recovery: the next release is published as before.
        world.admin("release", "old-tool", "2.1", "--reason", "bob confirmed it")
        assert srkit.settled(server, lambda: "2.1" in (world.simple_versions("old-tool") or ()))
        assert world.installable("old-tool", "2.1")
        srkit.ok_upload(server, bob_token, srkit.make_wheel("old-tool", "2.2"))
        assert world.installable("old-tool", "2.2")
    finally:
        world.close()
