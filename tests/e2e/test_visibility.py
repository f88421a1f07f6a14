"""Issue 8, finding 9: one visibility rule for every read path, checked against a started server
for every state × every endpoint.

One server per backend holds a project in each state: live, yanked, held (a newcomer's new
release of a dormant project, stored for review), quarantined (admin), removed (admin), removed
parts of a live project (a release and a file), prohibited (removed, then its name prohibited),
and a prohibited name never used, and a held file (a newcomer's wheel added to a published
release, issue 9: review is per file). Anonymous readers get, from every endpoint (simple index and
project pages in HTML and JSON, the JSON API per project and per version, downloads and
`.metadata`, the XML-RPC list and changelog, the web home page, project list, search, project and
release pages), exactly the live and yanked parts: status codes, names and filenames present or
absent. A signed-in Owner gets the same public pages; the Owner/Maintainer view (the manage
pages) lists held and quarantined releases, and the admin area reaches everything. The changelog
keeps a gap-free feed in which a hidden thing's entries carry only its project's name."""

from __future__ import annotations

import re
import xmlrpc.client
from dataclasses import dataclass, field

import pytest

import srkit
from webclient import Web, page_text

PW = "correct horse battery staple 42"
DAY = 86_400


@dataclass
class Case:
    """A project in one state, and what the public must (not) see of it."""

    name: str
    listed: bool
    shown: dict[str, srkit.Dist] = field(default_factory=dict)  # filename -> dist, public
    hidden: dict[str, srkit.Dist] = field(default_factory=dict)  # filename -> dist, not public
    shown_versions: set[str] = field(default_factory=set)
    hidden_versions: set[str] = field(default_factory=set)
    yanked: set[str] = field(default_factory=set)

    def every_file(self) -> dict[str, srkit.Dist]:
        return {**self.shown, **self.hidden}


def dists(name: str, version: str) -> list[srkit.Dist]:
    return [srkit.make_wheel(name, version), srkit.make_sdist(name, version)]


def upload_all(server: srkit.Server, token: str, ds: list[srkit.Dist]) -> dict[str, srkit.Dist]:
    for d in ds:
        srkit.ok_upload(server, token, d)
    return {d.filename: d for d in ds}


def admin(server: srkit.Server, *args: str) -> None:
    server.cli("admin", *args)


def login(server: srkit.Server, name: str) -> Web:
    web = Web(server.url)
    web.login(name, PW)
    assert web.logged_in(), f"{name} could not log in: {page_text(web.last)[:300]}"
    return web


def build_world(server: srkit.Server, clock) -> dict[str, Case]:
    server.create_user("root", PW, admin=True)
    alice = server.user_with_token("alice")
    cases: dict[str, Case] = {}

    c = cases["live"] = Case("vz-live", True)
    c.shown = upload_all(server, alice, dists(c.name, "1.0"))
    c.shown_versions = {"1.0"}

    c = cases["yanked"] = Case("vz-yanked", True)
    c.shown = upload_all(server, alice, dists(c.name, "1.0"))
    c.shown_versions = c.yanked = {"1.0"}
    server.yank(c.name, "1.0", "broken build")

    c = cases["held"] = Case("vz-held", True)
    c.shown = upload_all(server, alice, dists(c.name, "1.0"))
    c.shown_versions, c.hidden_versions = {"1.0"}, {"2.0"}

    c = cases["quarantined"] = Case("vz-quarantined", False)
    c.hidden = upload_all(server, alice, dists(c.name, "1.0"))
    c.hidden_versions = {"1.0"}

    c = cases["removed"] = Case("vz-removed", False)
    c.hidden = upload_all(server, alice, dists(c.name, "1.0"))
    c.hidden_versions = {"1.0"}

    c = cases["removed-parts"] = Case("vz-parts", True)
    v1 = dists(c.name, "1.0")
    v2 = dists(c.name, "2.0")
    upload_all(server, alice, v1 + v2)
    c.shown = {v1[1].filename: v1[1]}
    c.hidden = {v1[0].filename: v1[0], **{d.filename: d for d in v2}}
    c.shown_versions, c.hidden_versions = {"1.0"}, {"2.0"}

    c = cases["prohibited"] = Case("vz-prohibited", False)
    c.hidden = upload_all(server, alice, dists(c.name, "1.0"))
    c.hidden_versions = {"1.0"}

    cases["prohibited-unused"] = Case("vz-never", False)

    # A year later vz-held is dormant: bob, a Maintainer of a few minutes, publishes 2.0 and it is
    # held for review (core::upload_safety) instead of published.
    clock(400 * DAY)
    server.create_user("bob", PW)
    bob = server.create_token("bob")
    web = login(server, "alice")
    manage = "/manage/project/vz-held/"
    resp = web.submit(manage, manage + "invite/", {"username": "bob", "role": "Maintainer"})
    assert resp.status_code == 200 and "done=invited" in resp.url, (resp.status_code, page_text(resp)[:300])
    bob_web = login(server, "bob")
    resp = bob_web.submit("/manage/account/invitations/", "/accept/")
    assert resp.status_code == 200, page_text(resp)[:300]
    # vz-heldfile: alice creates it with 1.0 as an sdist (the founder's files are not held);
    # bob, a Maintainer of a few minutes, adds a wheel to it: the wheel is held for its own
    # review (core::file_review).
    c = cases["held-file"] = Case("vz-heldfile", True)
    sdist, wheel = srkit.make_sdist(c.name, "1.0"), srkit.make_wheel(c.name, "1.0")
    c.shown = upload_all(server, alice, [sdist])
    c.shown_versions = {"1.0"}
    manage_hf = f"/manage/project/{c.name}/"
    resp = web.submit(manage_hf, manage_hf + "invite/", {"username": "bob", "role": "Maintainer"})
    assert resp.status_code == 200 and "done=invited" in resp.url, (resp.status_code, page_text(resp)[:300])
    resp = bob_web.submit("/manage/account/invitations/", "/accept/")
    assert resp.status_code == 200, page_text(resp)[:300]
    resp = srkit.upload_raw(server, bob, wheel)
    assert resp.status_code == 200 and "held for review" in resp.text, (resp.status_code, resp.text)
    resp = srkit.upload_raw(server, bob, wheel)
    assert resp.status_code == 400 and "held for review" in resp.text, (resp.status_code, resp.text)
    c.hidden = {wheel.filename: wheel}
    held = dists("vz-held", "2.0")
    for d in held:
        resp = srkit.upload_raw(server, bob, d)
        assert resp.status_code == 200 and "held for review" in resp.text, (resp.status_code, resp.text)
    # Its identical bytes again: refused by the held state, not answered "already there".
    resp = srkit.upload_raw(server, bob, held[0])
    assert resp.status_code == 400 and "cannot be uploaded again" in resp.text, (resp.status_code, resp.text)
    cases["held"].hidden = {d.filename: d for d in held}

    admin(server, "quarantine", "vz-quarantined", "--reason", "malware report")
    admin(server, "remove", "vz-removed", "--reason", "malware")
    admin(server, "remove", "vz-parts", "1.0", v1[0].filename, "--reason", "bad build")
    admin(server, "remove", "vz-parts", "2.0", "--reason", "bad release")
    admin(server, "remove", "vz-prohibited", "--reason", "typosquat")
    admin(server, "prohibit", "vz-prohibited", "--reason", "typosquat")
    admin(server, "prohibit", "vz-never", "--reason", "reserved")
    return cases


@pytest.fixture
def world(strongroom, backend_kind, tmp_path):
    offset_file = tmp_path / "clock-offset"
    offset_file.write_text("0")
    server = strongroom(backend_kind, env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(offset_file)})

    def clock(seconds: int) -> None:
        offset_file.write_text(str(int(offset_file.read_text()) + seconds))

    return server, build_world(server, clock)


def anonymous_get(server: srkit.Server, path: str, **headers) -> tuple[int, str]:
    resp = server.get(path, headers={"Accept": "text/html", **headers})
    return resp.status_code, resp.text


def assert_view(case: Case, what: str, status: int, body: str, *, listed: bool | None = None) -> None:
    """200 with every public filename and none of the others, or 404 naming no file at all."""
    listed = case.listed if listed is None else listed
    if listed:
        assert status == 200, f"{case.name} {what}: {status}"
        for f in case.shown:
            assert f in body, f"{case.name} {what}: public {f} missing"
    else:
        assert status == 404, f"{case.name} {what}: {status} (a hidden project must be a 404)"
        for f in case.shown:
            assert f not in body, f"{case.name} {what}: {f} leaked"
    for f in case.hidden:
        assert f not in body, f"{case.name} {what}: hidden {f} leaked"


def test_every_endpoint_shows_each_state_as_the_rule_says(world):
    server, cases = world
    simple_html = anonymous_get(server, "/simple/")[1]
    simple_json = server.simple_json().json()
    json_names = {srkit.normalize(p["name"]) for p in simple_json["projects"]}
    rpc = xmlrpc.client.ServerProxy(server.url + "/pypi")
    rpc_list = {srkit.normalize(k): v for k, v in rpc.list_packages_with_serial().items()}
    home = anonymous_get(server, "/")[1]
    project_list = anonymous_get(server, "/projects/")[1]
    search = anonymous_get(server, "/projects/?q=vz")[1]

    for state, c in cases.items():
        what = f"[{state}]"
        # -- lists: the root index (HTML, JSON), XML-RPC, the web home page, list and search
        for where, present in [
            ("/simple/ html", f">{c.name}<" in simple_html),
            ("/simple/ json", c.name in json_names),
            ("list_packages_with_serial", c.name in rpc_list),
            ("/projects/", f"/project/{c.name}/" in project_list),
            ("/projects/?q=", f"/project/{c.name}/" in search),
        ]:
            assert present == c.listed, f"{c.name} {what} {where}: listed={present}"
        if not c.listed:
            assert c.name not in home, f"{c.name} {what}: on the home page"
        if c.listed:
            assert rpc_list[c.name] == int(server.simple_json(c.name).headers["X-PyPI-Last-Serial"])

        # -- the project's own pages
        assert_view(c, f"{what} /simple/ html", *anonymous_get(server, f"/simple/{c.name}/"))
        resp = server.simple_json(c.name)
        assert_view(c, f"{what} /simple/ json", resp.status_code, resp.text)
        if c.listed:
            doc = resp.json()
            assert {f["filename"] for f in doc["files"]} == set(c.shown), what
            assert set(doc["versions"]) == c.shown_versions, what
            for f in doc["files"]:
                assert bool(f["yanked"]) == (c.shown[f["filename"]].version in c.yanked), (what, f)
        resp = server.get(f"/pypi/{c.name}/json")
        assert_view(c, f"{what} /pypi/json", resp.status_code, resp.text)
        if c.listed:
            doc = resp.json()
            assert set(doc["releases"]) == c.shown_versions, (what, sorted(doc["releases"]))
            assert {f["filename"] for fs in doc["releases"].values() for f in fs} == set(c.shown), what
        assert_view(c, f"{what} /project/", *anonymous_get(server, f"/project/{c.name}/"))
        for v in sorted(c.shown_versions | c.hidden_versions):
            shown = c.listed and v in c.shown_versions
            resp = server.get(f"/pypi/{c.name}/{v}/json")
            assert resp.status_code == (200 if shown else 404), (what, v, resp.status_code)
            status, body = anonymous_get(server, f"/project/{c.name}/{v}/")
            assert status == (200 if shown else 404), (what, v, status)
            for f in c.hidden:
                assert f not in resp.text and f not in body, (what, v, f)

        # -- downloads and PEP 658 metadata, by the content-addressed URL
        for fname, d in c.every_file().items():
            want = 200 if fname in c.shown else 404
            resp = server.get(d.path)
            assert resp.status_code == want, (what, fname, resp.status_code)
            if want == 200:
                assert resp.content == d.data
            if fname.endswith(".whl"):
                assert server.get(d.path + ".metadata").status_code == want, (what, fname)

    # -- the changelog: every serial, in order; a hidden thing's entries carry only the project
    log = rpc.changelog_since_serial(0)
    serial = rpc.changelog_last_serial()
    assert [e[4] for e in log] == list(range(1, serial + 1)), "the feed has no gaps"
    assert serial == server.global_serial()
    text = "\n".join(" ".join(str(x) for x in e) for e in log)
    for state, c in cases.items():
        for f in c.hidden:
            assert f not in text, f"{c.name} [{state}]: changelog names hidden {f}"
        mine = [e for e in log if srkit.normalize(e[0]) == c.name]
        for _name, version, _ts, action, _serial in mine:
            assert version not in c.hidden_versions, (state, version, action)
        if state == "prohibited-unused":
            assert not mine
            continue
        assert mine, f"{c.name} [{state}]: mirrors must learn of the project"
        for f in c.shown:
            assert any(f in e[3] for e in mine), f"{c.name} [{state}]: public {f} not in the feed"
        if not c.listed:
            # the last entry (the quarantine or the removal) names the project and nothing else
            last = mine[-1]
            assert (last[1], last[3]) == ("", "hidden"), (state, last)


def test_members_and_admins_see_more_where_the_rule_says(world):
    server, cases = world
    alice = login(server, "alice")
    # A signed-in Owner reads the same public pages as anyone.
    for c in cases.values():
        resp = alice.get(f"/project/{c.name}/")
        assert_view(c, "[owner] /project/", resp.status_code, resp.text)

    # The Owner's project list: the quarantined project (marked), not the removed ones.
    mine = alice.get("/manage/projects/").text
    assert re.search(r'>vz-quarantined</a>.*?<span class="badge badge-warn">quarantined</span>', mine, re.S), mine
    assert "vz-removed" not in mine and "vz-prohibited" not in mine
    assert alice.get("/manage/project/vz-removed/").status_code == 404

    # The manage pages list what the public does not see, with its files, for Owners and
    # Maintainers alike: the held release, and the quarantined project's release.
    bob = login(server, "bob")
    for web in (alice, bob):
        page = web.get("/manage/project/vz-held/")
        assert page.status_code == 200, page.status_code
        listed = re.search(r'<table class="list" id="listed-releases">(.*?)</table>', page.text, re.S)
        assert listed, page_text(page)[:1500]
        assert "held for review" in listed.group(1) and "2.0" in listed.group(1)
        for f in cases["held"].hidden:
            assert f in listed.group(1), f
        # the file held for its own review in a published release: listed, alone
        page = web.get("/manage/project/vz-heldfile/")
        listed = re.search(r'<table class="list" id="listed-releases">(.*?)</table>', page.text, re.S)
        assert listed, page_text(page)[:1500]
        assert "held for review" in listed.group(1), listed.group(1)
        for f in cases["held-file"].hidden:
            assert f in listed.group(1), f
        for f in cases["held-file"].shown:
            assert f not in listed.group(1), f
    page = alice.get("/manage/project/vz-quarantined/")
    listed = re.search(r'<table class="list" id="listed-releases">(.*?)</table>', page.text, re.S)
    assert listed, page_text(page)[:1500]
    for f in cases["quarantined"].hidden:
        assert f in listed.group(1), f
    # ...and nothing of the live project is "not on the index".
    assert 'id="listed-releases"' not in alice.get("/manage/project/vz-live/").text

    # The admin area reaches every hidden project and file, and serves them to admins only.
    root = login(server, "root")
    listing = root.get("/admin/projects/").text
    for c in cases.values():
        if c.name != "vz-never":
            assert c.name in listing, c.name
    for state in ("quarantined", "removed", "prohibited", "held", "held-file"):
        c = cases[state]
        page = root.get(f"/admin/projects/{c.name}/")
        assert page.status_code == 200, (state, page.status_code)
        for fname, d in c.hidden.items():
            link = re.search(r'href="(/admin/files/\d+)">' + re.escape(fname), page.text)
            assert link, (state, fname)
            got = root.get(link.group(1))
            assert got.status_code == 200 and got.content == d.data, (state, fname)
            assert server.get(link.group(1)).status_code == 404
            assert alice.get(link.group(1)).status_code == 404
    assert "vz-never" in page_text(root.get("/admin/names/"))


def test_release_brings_the_history_back_whole(world):
    server, cases = world
    rpc = xmlrpc.client.ServerProxy(server.url + "/pypi")
    before = rpc.changelog_since_serial(0)
    admin(server, "release", "vz-quarantined", "--reason", "false alarm")
    out = server.cli("admin", "release", "vz-held", "2.0", "--reason", "reviewed")
    # Approval is per file: the files that joined the quarantined release after its first
    # upload stay held, named by the CLI, until their own approval.
    first, *joined = cases["held"].hidden
    assert f"published file {first}" in out.stdout, out.stdout
    for f in joined:
        assert f"still held for review: {f}" in out.stdout, out.stdout
        admin(server, "approve-file", "vz-held", "2.0", f, "--reason", "reviewed")
    (held_file,) = cases["held-file"].hidden
    admin(server, "approve-file", "vz-heldfile", "1.0", held_file, "--reason", "reviewed")
    log = rpc.changelog_since_serial(0)
    assert [e[4] for e in log[: len(before)]] == [e[4] for e in before]
    text = "\n".join(e[3] for e in log)
    for f in [*cases["quarantined"].hidden, *cases["held"].hidden, *cases["held-file"].hidden]:
        assert f in text, f"{f} is public again and back in the feed"
    for f in cases["removed"].hidden:
        assert f not in text
    names = [f["filename"] for f in server.project_files("vz-held")]
    assert set(names) == set(cases["held"].every_file())
