"""Issue 12, the admins' rules for upstream projects and the name watch, against a started gateway
(a PyPI-shaped static upstream, or a second strongroom as the upstream) through the CLI, the admin
area and the simple API:

- `strongroom admin upstream block PROJECT [VERSION] --reason` hides an upstream project at once:
  its page says PEP 792 `quarantined` with the reason and lists no file, its files answer 403 with
  the reason; `unblock` restores it exactly. `allow` serves a version before the cooldown ends,
  `unallow` takes that back. Every change is an event with the operator as actor and the CLI's
  user agent (the project's timeline shows them though no local project has the name); `rules`
  lists what is in force; taking back what is not there, a bad version or no reason is refused
  with one error line. The same changes work from /admin/upstream/ (reason, CSRF).
- The name-conflict job (`strongroom admin run-jobs`) asks the upstream about every local project
  name, every literal reserved name and every reserved name someone requested, at most
  `upstream.name_checks_per_run` per run, and signals each one the upstream has once
  (`upstream:name-conflict` on the admin start page and in the event log), never again."""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest
import requests

import srkit
from test_admin import PW, admin_web
from test_signals import groups
from upstream_fixture import SIMPLE_JSON, ago

both = pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])


def upstream_cli(server: srkit.Server, *args: str, check: bool = True):
    return server.cli("admin", "upstream", *args, check=check)


def page(server: srkit.Server, project: str) -> dict:
    resp = server.get(f"/simple/{project}/", headers={"Accept": SIMPLE_JSON})
    assert resp.status_code == 200, (resp.status_code, resp.text[:500])
    return resp.json()


def versions(doc: dict) -> list[str]:
    return sorted({f["filename"].split("-")[1] for f in doc["files"]})


def fetch(server: srkit.Server, project: str, url: str) -> requests.Response:
    """A file link of a project page (relative to the page, as strongroom writes them)."""
    return requests.get(urllib.parse.urljoin(f"{server.url}/simple/{project}/", url), timeout=30)


@both
def test_block_and_allow_change_what_the_gateway_serves_at_once(gateway, upstream, kind):
    upstream.add_wheel("ur-pub", "1.0", upload_time=ago(days=400))
    upstream.add_wheel("ur-pub", "2.0", upload_time=ago(hours=2))
    server = gateway(kind, upstream, min_age_days=7)

    # The cooldown (7 days, on here) hides 2.0; allow serves it early.
    assert versions(page(server, "ur-pub")) == ["1.0"]
    out = upstream_cli(server, "allow", "UR_Pub", "2.0", "--reason", "security fix CVE-1").stdout
    assert "allowed before the cooldown ends: ur-pub 2\n" in out, out
    assert srkit.settled(server, lambda: versions(page(server, "ur-pub")) == ["1.0", "2.0"])
    doc = page(server, "ur-pub")
    assert versions(doc) == ["1.0", "2.0"], doc
    file_url = next(f["url"] for f in doc["files"] if "-1.0-" in f["filename"])

    # Block: quarantined with the reason at once, no files listed, a known file URL 403.
    upstream_cli(server, "block", "ur.pub", "--reason", "incident 12: stolen maintainer token")
    assert srkit.settled(server, lambda: page(server, "ur-pub").get("project-status", {}).get("status") == "quarantined")
    doc = page(server, "ur-pub")
    assert doc["project-status"] == {"status": "quarantined", "reason": "incident 12: stolen maintainer token"}, doc
    assert doc["files"] == [], doc
    html = server.get("/simple/ur-pub/")
    assert html.status_code == 200 and 'content="quarantined"' in html.text, html.text[:600]
    resp = fetch(server, "ur-pub", file_url)
    assert resp.status_code == 403 and "incident 12: stolen maintainer token" in resp.text, (resp.status_code, resp.text[:300])

    # A version block leaves the rest served.
    upstream_cli(server, "block", "ur-pub", "1.0", "--reason", "bad build")
    rules = upstream_cli(server, "rules").stdout.splitlines()
    assert [ln.split("\t")[:3] for ln in rules] == [
        ["allow", "ur-pub", "2"], ["block", "ur-pub", "*"], ["block", "ur-pub", "1"]], rules
    assert all(re.search(r"\tcli:\S+\t", ln) for ln in rules), rules
    listed = [json.loads(ln) for ln in upstream_cli(server, "rules", "--json").stdout.splitlines()]
    assert {(r["kind"], r["version"], r["reason"]) for r in listed} == {
        ("allow", "2", "security fix CVE-1"), ("block", None, "incident 12: stolen maintainer token"),
        ("block", "1", "bad build")}, listed
    upstream_cli(server, "unblock", "ur-pub", "--reason", "token rotated, releases checked")
    assert srkit.settled(server, lambda: page(server, "ur-pub").get("project-status", {}).get("status") in (None, "active"))
    doc = page(server, "ur-pub")
    assert doc.get("project-status", {}).get("status") in (None, "active"), doc
    assert versions(doc) == ["2.0"], doc
    assert fetch(server, "ur-pub", file_url).status_code == 403
    upstream_cli(server, "unblock", "ur-pub", "1.0", "--reason", "rebuilt")
    assert srkit.settled(server, lambda: versions(page(server, "ur-pub")) == ["1.0", "2.0"])
    resp = fetch(server, "ur-pub", file_url)
    assert resp.status_code == 200 and resp.content == upstream.file(file_url.rsplit("/", 1)[1]).data

    # Unallow: the cooldown applies to 2.0 again.
    upstream_cli(server, "unallow", "ur-pub", "2.0", "--reason", "fix superseded")
    assert srkit.settled(server, lambda: versions(page(server, "ur-pub")) == ["1.0"])
    assert upstream_cli(server, "rules").stdout.strip() == "no upstream rules"

    # Refusals: one error line, nothing changed.
    for args, says in [
        (["unblock", "ur-pub", "--reason", "again"], "has no block rule"),
        (["block", "ur-pub", "not a version!", "--reason", "x"], "not a valid version"),
        (["block", "bad name!", "--reason", "x"], "not a valid project name"),
        (["block", "ur-pub", "--reason", " "], "reason is required"),
    ]:
        proc = upstream_cli(server, *args, check=False)
        assert proc.returncode == 1 and proc.stderr.startswith("error: ") and says in proc.stderr, (args, proc.stderr)
    assert versions(page(server, "ur-pub")) == ["1.0"]

    # Every change is on the record, by the operator, from the CLI.
    entries = json.loads(server.cli("admin", "timeline", "--project", "ur-pub", "--json").stdout)
    ours = [e for e in entries if e["action"].startswith("upstream:")]
    assert [e["action"] for e in ours] == ["upstream:allow", "upstream:block", "upstream:block", "upstream:unblock",
                                           "upstream:unblock", "upstream:unallow"], ours
    for e in ours:
        assert e["actor"].startswith("cli:") and e["user_agent"].startswith("strongroom-cli/"), e
    assert ours[1]["details"]["reason"] == "incident 12: stolen maintainer token", ours[1]


@both
def test_the_admin_area_adds_and_takes_back_rules(gateway, upstream, kind, tmp_path):
    upstream.add_wheel("ur-web", "1.0", upload_time=ago(days=30))
    clock = tmp_path / "clock"
    clock.write_text("0")
    server = gateway(kind, upstream, env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)})
    assert versions(page(server, "ur-web")) == ["1.0"]
    assert server.get("/admin/upstream/").status_code == 404, "hidden from anyone but an admin"
    web = admin_web(server)
    start = web.get("/admin/")
    assert 'href="/admin/upstream/"' in start.text

    # A stolen admin cookie alone changes nothing: past reauth_minutes the password comes first.
    clock.write_text(str(11 * 60))
    resp = web.submit("/admin/upstream/", "/admin/upstream/rules/",
                      {"change": "block", "project": "UR.Web", "version": "", "reason": "reported malware"})
    assert "/manage/account/reauth/" in resp.url, resp.url
    assert versions(page(server, "ur-web")) == ["1.0"]
    web.submit(resp.url, "/manage/account/reauth/", {"password": PW})

    resp = web.submit("/admin/upstream/", "/admin/upstream/rules/",
                      {"change": "block", "project": "UR.Web", "version": "", "reason": "reported malware"})
    assert resp.status_code == 200 and "no longer served" in resp.text, resp.text[:400]
    assert page(server, "ur-web")["project-status"]["status"] == "quarantined"
    assert "reported malware" in resp.text and "ur-web" in resp.text
    # No reason: refused, nothing changed.
    resp = web.submit("/admin/upstream/", "/admin/upstream/rules/", {"change": "unblock", "reason": " "},
                      match={"change": "unblock"})
    assert resp.status_code == 400, (resp.status_code, resp.text[:300])
    assert page(server, "ur-web")["project-status"]["status"] == "quarantined"
    resp = web.submit("/admin/upstream/", "/admin/upstream/rules/", {"reason": "false alarm"},
                      match={"change": "unblock", "project": "ur-web"})
    assert resp.status_code == 200 and "block was taken back" in resp.text, resp.text[:400]
    assert versions(page(server, "ur-web")) == ["1.0"]
    entries = json.loads(server.cli("admin", "timeline", "--project", "ur-web", "--json").stdout)
    ours = [(e["action"], e["actor"], e["user_agent"]) for e in entries if e["action"].startswith("upstream:")]
    assert ours == [("upstream:block", "root", web.user_agent), ("upstream:unblock", "root", web.user_agent)], ours


@both
def test_names_found_upstream_are_signalled_once_each(gateway, strongroom, tmp_path, kind):
    # The upstream: a second strongroom with a local name, a reserved literal, a requested
    # reserved name and an unrelated project.
    up = strongroom("sqlite")
    up_token = up.user_with_token("someone")
    for name in ["ur-private", "acme-secret", "acme-other", "ur-public"]:
        srkit.ok_upload(up, up_token, srkit.make_wheel(name, "99.0"))
    server = gateway(kind, up, private_patterns=["acme-*", "acme-secret"], name_checks_per_run=2,
                     env={"STRONGROOM_JOBS__INTERVAL_SECONDS": "86400"})
    token = server.user_with_token("owner")
    srkit.ok_upload(server, token, srkit.make_wheel("ur-private", "1.0"))
    srkit.ok_upload(server, token, srkit.make_wheel("ur-only-here", "1.0"))
    # Someone asks for a reserved name: 404, and it is watched from now on.
    assert server.simple_json("acme-other").status_code == 404
    assert server.simple_json("ur-public").status_code == 200

    # `serve`'s own first jobs run (at start, before any upload) found the literal reserved
    # name. Now four names are watched, two asked per run, never-asked first in name order:
    # acme-other, ur-only-here ...
    out = server.cli("admin", "run-jobs").stdout
    assert "has a project named acme-other (requested reserved name)" in out, out
    assert "ur-private" not in out and "acme-secret" not in out, out
    # ... then ur-private (a local project).
    out = server.cli("admin", "run-jobs").stdout
    assert "has a project named ur-private (local project)" in out, out
    assert "ur-only-here" not in out and "acme-" not in out, out
    # Every name asked within the interval, and each found one signalled once: nothing more.
    out = server.cli("admin", "run-jobs").stdout
    assert "name conflict" not in out, out
    entries = json.loads(server.cli("admin", "timeline", "--project", "acme-secret", "--json").stdout)
    found = [(e["action"], e["actor"], e["details"]["watched"]) for e in entries]
    assert found == [("upstream:name-conflict", "job:upstream-names", "reserved name")], entries

    web = admin_web(server)
    start = web.get("/admin/")
    found = [g for g in groups(start.text) if g[0] == "upstream:name-conflict"]
    assert found == [("upstream:name-conflict", "high", 3)], groups(start.text)
    section = web.get("/admin/upstream/").text
    listed = section[section.index('id="upstream-conflicts"'):]
    for name in ["acme-other", "acme-secret", "ur-private"]:
        assert name in listed, listed[:2000]
    assert "ur-only-here" not in listed and "ur-public" not in listed
    signal_log = web.get("/admin/signals/?kind=upstream:name-conflict")
    assert signal_log.status_code == 200 and signal_log.text.count("upstream:name-conflict") >= 3
    # The local project is still served from local rows only.
    files = page(server, "ur-private")["files"]
    assert [f["filename"].split("-")[1] for f in files] == ["1.0"], files


@both
def test_an_allow_covers_only_files_uploaded_before_it_was_granted(gateway, upstream, kind):
    """RT12 F8: `allow PROJECT VERSION` let through files the upstream added to that release
    afterwards, so whoever controls the project upstream could slip a poisoned, more specific
    wheel into the allowed "security fix" and skip the cooldown. Now an allow covers only files
    uploaded before it was granted (by the upstream's `upload-time`); later ones wait out the
    cooldown, files without an upload time are never covered, and allowing again moves the
    grant time. The CLI and the admin page say so."""
    listed = upstream.add_wheel("ur-late", "2.0", upload_time=ago(days=1))
    server = gateway(kind, upstream, min_age_days=7, page_ttl_seconds=0)
    assert page(server, "ur-late")["files"] == []
    out = upstream_cli(server, "allow", "ur-late", "2.0", "--reason", "security fix").stdout
    assert "only files uploaded before now are covered" in out, out
    assert [f["filename"] for f in page(server, "ur-late")["files"]] == [listed.filename]

    # The upstream adds files to the allowed release after the allow: a newer, more specific
    # wheel (uploaded now), one without an upload time, and one it dates before the allow.
    added = upstream.add_file("ur-late", "2.0", "ur_late-2.0-py3-none-manylinux_2_17_x86_64.whl",
                              listed.data + b"poison")
    undated = upstream.add_file("ur-late", "2.0", "ur_late-2.0-py3-none-win_amd64.whl", listed.data + b"u",
                                upload_time=None)
    dated_before = upstream.add_file("ur-late", "2.0", "ur_late-2.0.tar.gz", b"sdist bytes",
                                     upload_time=ago(hours=3))
    doc = page(server, "ur-late")
    assert sorted(f["filename"] for f in doc["files"]) == sorted([listed.filename, dated_before.filename]), doc
    for f in (added, undated):
        url = f"/upstream/files/ur-late/{f.sha256}/{f.filename}"
        assert server.get(url).status_code == 404, f.filename
    json_api = server.get("/pypi/ur-late/2.0/json")
    assert json_api.status_code == 200
    assert added.filename not in json_api.text and undated.filename not in json_api.text

    # Allowing the release again takes in what was uploaded by then; never the undated file.
    upstream_cli(server, "allow", "ur-late", "2.0", "--reason", "new wheel reviewed")
    shown = {f["filename"] for f in page(server, "ur-late")["files"]}
    assert added.filename in shown and undated.filename not in shown, shown
    resp = server.get(f"/upstream/files/ur-late/{added.sha256}/{added.filename}")
    assert resp.status_code == 200 and resp.content == added.data

    # A whole-project allow is bound the same way: a release uploaded after it waits.
    later = upstream.add_wheel("ur-late", "3.0", upload_time=ago(days=2))
    upstream_cli(server, "allow", "ur-late", "--reason", "trusted maintainers")
    newest = upstream.add_wheel("ur-late", "4.0")
    shown = {f["filename"] for f in page(server, "ur-late")["files"]}
    assert later.filename in shown and newest.filename not in shown and undated.filename not in shown, shown
    assert server.get(f"/upstream/files/ur-late/{newest.sha256}/{newest.filename}").status_code == 404

    # The admin page says what an allow covers.
    section = admin_web(server).get("/admin/upstream/").text
    assert 'id="upstream-allow-scope"' in section and "files the upstream adds later" in section, section[:3000]
