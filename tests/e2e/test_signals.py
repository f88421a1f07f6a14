"""Signals that cannot be buried (issue 9, finding 9), against a started server with real SMTP and a
movable clock.

- Forty uploads with a token a password reset revoked are forty refusals but two events: the first
  `token:use:refused`, and when its window closes (the periodic job) one `refusal:counted` with
  `count` 40. The admin start page counts them meanwhile.
- An Owner's yank/unyank loop is rate-limited per account (with invitations and role changes):
  429 with a clear message after the limit, and the refusals leave one `account:rate-limited`
  event, not one per attempt.
- The admin start page groups signals by kind, most severe first, with counts and the newest
  time: one `account:hold:refused` stays at the top above forty refused token uses (the old page
  listed the newest 25 events and lost it), and each group links to its full list."""

from __future__ import annotations

import re

import pytest

import srkit
from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import DAY, HOUR, Incident, actions, reset_password
from webclient import page_text

NEW_PW = "a freshly reset passphrase 99"
both = pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])


def groups(html: str) -> list[tuple[str, str, int]]:
    """(action, severity, count) of the start page's signal groups, in page order."""
    section = html[html.index('id="signals"'):]
    return [(a, s, int(c)) for a, s, c in
            re.findall(r'data-action="([^"]+)" data-severity="([^"]+)" data-count="(\d+)"', section)]


@both
def test_refusals_are_counted_and_the_start_page_keeps_the_severe_one_on_top(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        world.user("admin", "admin@example.test", admin=True)
        alice_addr = world.user("alice")
        old_token = server.create_token("alice")
        srkit.ok_upload(server, old_token, srkit.make_wheel("sr-signal", "1.0"))
        world.advance(10 * DAY)

        # -- A reset: the account is held and its old token revoked. One held token request.
        reset_password(world, "alice", alice_addr, NEW_PW)
        alice = world.login("alice", password=NEW_PW)
        status, text = world.web_token(alice)
        assert status == 403 and "recovery hold" in text, (status, text[:400])

        # -- Forty uploads with the revoked token: each refused, one event between them.
        for i in range(40):
            resp = srkit.upload_raw(server, old_token, srkit.make_wheel("sr-signal", f"2.{i}"))
            assert resp.status_code == 403, (i, resp.status_code, resp.text)
        story = actions(world.timeline("--user", "alice"))
        assert story.count("token:use:refused") == 1, story
        assert story.count("account:hold:refused") == 1, story

        # -- The start page: the hold refusal's group first (high), then the token group with
        #    all forty counted (medium); each links to its full list.
        admin = world.login("admin", "admin-browser/1")
        start = admin.get("/admin/")
        assert start.status_code == 200, start.status_code
        found = groups(start.text)
        assert found[0] == ("account:hold:refused", "high", 1), found
        assert ("token:use:refused", "medium", 40) in found, found
        assert [a for a, _, _ in found].index("account:hold:refused") < \
            [a for a, _, _ in found].index("token:use:refused"), found
        severities = [s for _, s, _ in found]
        order = {"high": 0, "medium": 1, "low": 2}
        assert severities == sorted(severities, key=order.__getitem__), found
        hold_group = start.text[start.text.index('data-action="account:hold:refused"'):]
        assert "create-token" in hold_group[:4000], hold_group[:4000]
        full = admin.get("/admin/signals/?kind=token:use:refused")
        assert full.status_code == 200 and "token:use:refused" in page_text(full), full.status_code
        assert 'href="/admin/signals/?kind=account%3Ahold%3Arefused"' in start.text
        assert admin.get("/admin/signals/?kind=account:login").status_code == 404

        # -- The window closes (the periodic job): its count is recorded in one event.
        world.advance(HOUR + 60)
        world.admin("run-jobs")
        events = [e for e in world.timeline("--user", "alice")
                  if e["action"] in ("token:use:refused", "refusal:counted")]
        assert [e["action"] for e in events] == ["token:use:refused", "refusal:counted"], events
        counted = events[1]["details"]
        assert counted["action"] == "token:use:refused" and counted["count"] == 40, counted
        assert counted["first_seq"] == events[0]["seq"], (counted, events[0])
        # The page's count is the same once the window is closed.
        admin = world.login("admin", "admin-browser/1")
        assert ("token:use:refused", "medium", 40) in groups(admin.get("/admin/").text)
        # The next refusal opens a new window and is logged again.
        assert srkit.upload_raw(server, old_token, srkit.make_wheel("sr-signal", "3.0")).status_code == 403
        story = actions(world.timeline("--user", "alice"))
        assert story.count("token:use:refused") == 2, story
        assert "intact" in world.log_verify()
    finally:
        world.close()


@both
def test_a_yank_loop_is_rate_limited_with_one_event_per_window(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind, env={"STRONGROOM_RATE_LIMITS": "true"})
    try:
        server = world.server
        world.user("alice")
        srkit.ok_upload(server, server.create_token("alice"), srkit.make_wheel("sr-yank", "1.0"))
        alice = world.login("alice", "alice-laptop/1")
        manage = "/manage/project/sr-yank/"
        form = alice.form(manage, "/yank/")
        yank, unyank = form.action, form.action.replace("/yank/", "/unyank/")
        fields = dict(form.fields)
        fields["reason"] = "loop"
        statuses = []
        for i in range(60):
            resp = alice.request("POST", server.url + (yank if i % 2 == 0 else unyank), data=fields, follow=False,
                                 headers={"Referer": server.url + manage})
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                last = resp
        assert statuses[:20] == [303] * 20, statuses
        assert set(statuses[20:]) == {429}, statuses
        assert "Too many changes" in page_text(last) and last.headers.get("Retry-After"), \
            (page_text(last)[:400], dict(last.headers))
        story = actions(world.timeline("--project", "sr-yank"))
        assert story.count("release:yank") + story.count("release:unyank") == 20, story
        user_story = actions(world.timeline("--user", "alice"))
        assert user_story.count("account:rate-limited") == 1, user_story
        # The limit covers the account's other looping changes that mail every Owner too.
        world.user("bob")
        resp = alice.submit(manage, manage + "invite/", {"username": "bob", "role": "Owner"})
        assert resp.status_code == 429 and "Too many changes" in page_text(resp), (resp.status_code, page_text(resp)[:300])
        assert actions(world.timeline("--user", "alice")).count("account:rate-limited") == 1
        # A minute later the account may yank again.
        world.advance(61)
        resp = alice.request("POST", server.url + unyank, data=fields, follow=False,
                             headers={"Referer": server.url + manage})
        assert resp.status_code == 303, (resp.status_code, page_text(resp)[:300])
        assert "intact" in world.log_verify()
    finally:
        world.close()
