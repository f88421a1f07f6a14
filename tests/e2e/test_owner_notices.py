"""Issue 9, finding 5: a file added to an existing release and every yank and unyank are told to
the project's Owners (never to the account that did it), batched: the first notice of a project
goes to each Owner at once, later ones inside `notices.digest_minutes` (default 60) wait for the
job, which mails one digest per Owner listing at most `notices.digest_max_items` (default 20) and
saying how many more. Against a started server with the real SMTP sink and the clock knob."""

from __future__ import annotations

import time

import pytest

import srkit
from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import DAY, Incident, actions, manage
from webclient import page_text

ALICE = "alice@alice-home.test"
BOB = "bob@bob-home.test"


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_added_files_yanks_and_unyanks_are_told_to_the_owners_in_bounded_digests(
        strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        for domain in ("alice-home.test", "bob-home.test", "example.test"):
            world.dns.zone[domain] = {"MX": [f"mx.{domain}"]}
        # The window is a setting, listed by `config show` with its default.
        shown = server.cli("config", "show").stdout
        assert "notices.digest_minutes" in shown and "notices.digest_max_items" in shown, shown

        # -- 0. alice publishes noticed 1.0 and makes bob a co-Owner; a week passes (bob is no
        #       newcomer any more, so his files are published, not held).
        world.user("alice", ALICE)
        world.user("bob", BOB)
        alice_token = server.create_token("alice")
        srkit.ok_upload(server, alice_token, srkit.make_wheel("noticed", "1.0"))
        alice = world.login("alice")
        resp = alice.submit(manage("noticed"), manage("noticed") + "invite/", {"username": "bob", "role": "Owner"})
        assert resp.status_code == 200, page_text(resp)[:400]
        bob = world.login("bob")
        resp = bob.submit("/manage/account/invitations/", "/accept/")
        assert resp.status_code == 200, page_text(resp)[:400]
        world.advance(8 * DAY)
        bob_token = server.create_token("bob")
        # The token's own notice must be out before the counts are taken (the outbox sends
        # asynchronously; a fixed sleep raced it).
        world.mail.wait_for(BOB, "An API token was created")
        world.mail.wait_for(ALICE, "bob is now Owner of noticed")
        time.sleep(1)
        alice_before, bob_before = len(world.mails_to(ALICE)), len(world.mails_to(BOB))

        # -- 1. bob adds an sdist to the existing release: published, and alice is told at once;
        #       bob is not told of his own upload.
        srkit.ok_upload(server, bob_token, srkit.make_sdist("noticed", "1.0"))
        told = world.mail.wait_for(ALICE, "bob added a file to noticed 1.0")
        assert "noticed-1.0.tar.gz" in world.mail.body(told), world.mail.body(told)
        assert "noticed-1.0.tar.gz" in [f["filename"] for f in server.project_files("noticed")]

        # -- 2. alice yanks 1.0 on the manage page: bob is told at once; alice is not.
        alice = world.login("alice")
        resp = alice.submit(manage("noticed"), "/yank/", {"reason": "broken build"})
        assert resp.status_code == 200, page_text(resp)[:400]
        told = world.mail.wait_for(BOB, "noticed 1.0 was yanked")
        assert "alice" in world.mail.body(told) and "broken build" in world.mail.body(told)
        time.sleep(2)
        assert world.mails_to(ALICE, "yanked") == [], [m["Subject"] for m in world.mails_to(ALICE)]
        assert len(world.mails_to(BOB)) == bob_before + 1, [m["Subject"] for m in world.mails_to(BOB)]

        # -- 3. A loop of yanks and unyanks (the operator's CLI, so both Owners are told): inside
        #       the window nothing more is mailed at once.
        resp = alice.submit(manage("noticed"), "/unyank/")
        assert resp.status_code == 200, page_text(resp)[:400]
        loops = 15
        for i in range(loops):
            server.yank("noticed", "1.0", f"loop {i}")
            server.unyank("noticed", "1.0")
        time.sleep(3)
        assert len(world.mails_to(ALICE)) == alice_before + 1, [m["Subject"] for m in world.mails_to(ALICE)]
        assert len(world.mails_to(BOB)) == bob_before + 1, [m["Subject"] for m in world.mails_to(BOB)]
        # The job before the window's end sends nothing either.
        world.admin("run-jobs")
        time.sleep(2)
        assert world.mails_to(BOB, "digest") == [] and world.mails_to(ALICE, "digest") == []

        # -- 4. At the window's end the job mails one digest per Owner, bounded.
        world.advance(61 * 60)
        world.admin("run-jobs")
        bob_digest = world.mail.wait_for(BOB, "digest")
        alice_digest = world.mail.wait_for(ALICE, "digest")
        # bob: alice's unyank plus 30 loop steps; alice: the 30 loop steps (her own unyank is
        # not told to her).
        bob_n, alice_n = 1 + 2 * loops, 2 * loops
        assert f"{bob_n} change(s) to noticed" in str(bob_digest["Subject"]), bob_digest["Subject"]
        assert f"{alice_n} change(s) to noticed" in str(alice_digest["Subject"]), alice_digest["Subject"]
        body = world.mail.body(bob_digest)
        listed = [ln for ln in body.splitlines() if ln.startswith("- ") and "... and" not in ln]
        assert len(listed) == 20, body
        assert f"... and {bob_n - 20} more" in body, body
        assert "alice unyanked 1.0" in body and "yanked 1.0 (reason: loop 0)" in body, body
        assert f"... and {alice_n - 20} more" in world.mail.body(alice_digest)
        # One digest each, and running the job again sends nothing more.
        world.admin("run-jobs")
        time.sleep(2)
        assert len(world.mails_to(BOB, "digest")) == 1 and len(world.mails_to(ALICE, "digest")) == 1
        assert len(world.mails_to(BOB)) == bob_before + 2, [m["Subject"] for m in world.mails_to(BOB)]

        # -- 5. After the window a new notice goes out at once again.
        world.advance(2 * 3600)
        srkit.ok_upload(server, alice_token, srkit.make_wheel("noticed", "1.0", tag="py2.py3-none-any"))
        world.mail.wait_for(BOB, "alice added a file to noticed 1.0")
        story = actions(world.timeline("--project", "noticed"))
        assert story.count("release:yank") == loops + 1 and story.count("release:unyank") == loops + 1, story
        assert "intact" in world.log_verify()
    finally:
        world.close()
