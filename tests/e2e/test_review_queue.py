"""The review queue (issue 13) against a started server, through the CLI and the admin area.

Until the scanner holds releases on its own, the held items come from the existing holds: a
dormant project's first release after its owner's recovery is quarantined (item r<id>), and a
file joining that quarantined release is held on its own (item f<id>).

- `admin review list --json` lists both with project, version, files and the hold's reason;
  `review show` prints the files with sha256 and uploader and says what was (not) scanned.
- A decision needs a reason. Rejecting the held file deletes it (its filename stays used);
  approving the release publishes it (pip installs it) and leaves the queue empty.
- A later held release is rejected through the admin web page: removed, not installable, its
  filename refused on re-upload, and the timeline has the removal and the review's link.
"""

from __future__ import annotations

import json

import pytest

import srkit
from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import DAY, HOUR, Incident, actions, reset_password
from webclient import page_text


def review(world: Incident, *args: str, check: bool = True):
    return world.admin("review", *args, check=check)


def queue(world: Incident) -> list[dict]:
    return json.loads(review(world, "list", "--json").stdout)


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_held_releases_and_files_are_reviewed_through_the_cli_and_the_admin_area(
        strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        world.user("admin", admin=True)
        alice = world.user("alice")
        srkit.ok_upload(server, server.create_token("alice"), srkit.make_wheel("sleepy-ctx", "0.1"))
        assert queue(world) == []
        assert "nothing is held for review" in review(world, "list").stdout

        # -- Dormant for years; alice's account is recovered; after the hold her release is
        #    quarantined and the sdist joining it is held on its own.
        world.advance(400 * DAY)
        reset_password(world, "alice", alice, "alice after the reset 77")
        world.advance(73 * HOUR)
        token = server.create_token("alice")
        wheel = srkit.make_wheel("sleepy-ctx", "0.2")
        sdist = srkit.make_sdist("sleepy-ctx", "0.2")
        resp = srkit.upload_raw(server, token, wheel)
        assert resp.status_code == 200 and "review" in resp.text.lower(), (resp.status_code, resp.text)
        srkit.ok_upload(server, token, sdist)
        assert world.simple_versions("sleepy-ctx") == {"0.1"}

        items = queue(world)
        assert [(i["kind"], i["project"], i["version"]) for i in items] == [
            ("release", "sleepy-ctx", "0.2"), ("file", "sleepy-ctx", "0.2")], items
        rel, held_file = items
        assert rel["id"].startswith("r") and held_file["id"].startswith("f"), items
        assert rel["files"] == [wheel.filename] and held_file["files"] == [sdist.filename], items
        assert rel["uploaders"] == ["alice"] and rel["reason"], items

        text = review(world, "show", rel["id"]).stdout
        assert text.startswith(f"{rel['id']} sleepy-ctx 0.2\n"), text
        assert wheel.filename in text and wheel.sha256 in text and "by alice" in text, text
        assert held_file["id"] in text, text  # the file held apart is named
        shown = json.loads(review(world, "show", held_file["id"], "--json").stdout)
        assert shown["files"][0]["sha256"] == sdist.sha256, shown

        # -- A decision needs a reason; an unknown or malformed id is refused.
        r = review(world, "approve", rel["id"], "--reason", "  ", check=False)
        assert r.returncode != 0 and "reason" in (r.stdout + r.stderr).lower(), r
        r = review(world, "approve", "x12", "--reason", "ok", check=False)
        assert r.returncode != 0, r
        r = review(world, "reject", "r999999", "--reason", "ok", check=False)
        assert r.returncode != 0 and "not held for review" in (r.stdout + r.stderr), r

        # -- Reject the held file (deleted, its name stays used); approve the release.
        out = review(world, "reject", held_file["id"], "--reason", "sdist differs from the wheel").stdout
        assert f"removed {sdist.filename}" in out, out
        out = review(world, "approve", rel["id"], "--reason", "alice confirmed on the phone").stdout
        assert f"published sleepy-ctx 0.2: {wheel.filename}" in out, out
        assert queue(world) == []
        assert srkit.settled(server, lambda: world.simple_versions("sleepy-ctx") == {"0.1", "0.2"})
        assert world.installable("sleepy-ctx", "0.2")
        again = srkit.upload_raw(server, token, sdist)
        assert again.status_code == 400, (again.status_code, again.text)

        # -- Still dormant since the recovery? 0.2 was alice's (watched) release, so the next
        #    one is held too: reject it through the admin area.
        world.advance(31 * DAY)
        token = server.create_token("alice")
        bad = srkit.make_wheel("sleepy-ctx", "0.3")
        resp = srkit.upload_raw(server, token, bad)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        items = queue(world)
        assert len(items) == 1 and items[0]["version"] == "0.3", items
        (item,) = items
        web = world.login("admin", "admin-browser/1")
        page = web.get("/admin/review/")
        assert page.status_code == 200 and f'/admin/review/{item["id"]}/' in page.text, page_text(page)[:600]
        detail = web.get(f"/admin/review/{item['id']}/")
        assert detail.status_code == 200 and bad.filename in page_text(detail), page_text(detail)[:600]
        resp = web.submit(f"/admin/review/{item['id']}/", "/reject/", {"reason": "exfiltrates the environment"})
        assert resp.status_code == 200 and "Rejected" in page_text(resp), page_text(resp)[:600]
        assert queue(world) == []
        assert "0.3" not in (world.simple_versions("sleepy-ctx") or set())
        assert not world.installable("sleepy-ctx", "0.3")
        again = srkit.upload_raw(server, token, bad)
        assert again.status_code == 400, (again.status_code, again.text)

        events = world.timeline("--project", "sleepy-ctx")
        acts = actions(events)
        for a in ("release:quarantine", "admin:file:reject", "admin:release:approve",
                  "admin:release:remove", "admin:review:reject"):
            assert a in acts, (a, acts)
        links = [e for e in events if e["action"] == "admin:review:reject"]
        assert [e["details"]["item"] for e in links] == [held_file["id"], item["id"]], links
        assert links[-1]["details"]["reason"] == "exfiltrates the environment", links
        assert links[-1]["details"]["files"][0]["sha256"] == bad.sha256, links
        assert links[-1]["user_agent"] == "admin-browser/1", links[-1]
    finally:
        world.close()
