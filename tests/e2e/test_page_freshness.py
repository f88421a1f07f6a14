"""Issue 14: cached pages and downloads without a database read per request, and never stale
past the bound.

Every page, file and PEP 658 file is read twice first (so it is in the server's page cache),
then changed, then read: the change must show, and a hidden file no longer downloads. On SQLite
the changes come from the admin CLI, another process, and must show on the very next request
(the server looks at the write-ahead log's stamp at most every 20 ms, and the CLI takes longer
than that to start); uploads through the server's own HTTP must show at once everywhere. On PostgreSQL a change made through
server A (HTTP or A's CLI) must show on server B within the documented bound of one second
(polled for five, to stay clear of a loaded machine; the time taken is reported)."""

from __future__ import annotations

import time
import urllib.parse

import requests

import srkit

# Per server, every file a view has seen listed: its URL and whether it has a PEP 658 file.
# Downloads are checked after the file leaves the listing too (the server keeps what it knows
# of a download, and small PEP 658 files, like a page).
LINKS: dict[str, dict[str, tuple[str, bool]]] = {}


def warm(server: srkit.Server, project: str) -> None:
    """Read the project's pages (and the root) and download its files and their PEP 658 files
    twice, so the second read is from the cache."""
    for _ in range(2):
        for path, accept in (
            (f"/simple/{project}/", srkit.SIMPLE_JSON),
            (f"/simple/{project}/", srkit.SIMPLE_HTML),
            ("/simple/", srkit.SIMPLE_JSON),
        ):
            server.get(path, headers={"Accept": accept})
        server.get(f"/pypi/{project}/json")
        for url, _ in LINKS.get(server.url, {}).values():
            requests.get(url, timeout=30)
            requests.get(url + ".metadata", timeout=30)


def view(server: srkit.Server, project: str) -> dict:
    """What the public sees of the project, from every cached page kind."""
    j = server.simple_json(project)
    html = server.get(f"/simple/{project}/", headers={"Accept": srkit.SIMPLE_HTML})
    api = server.get(f"/pypi/{project}/json")
    root = server.simple_json()
    files = {}
    if j.status_code == 200:
        files = {f["filename"]: f.get("yanked", False) for f in j.json()["files"]}
        for f in j.json()["files"]:
            LINKS.setdefault(server.url, {})[f["filename"]] = (
                urllib.parse.urljoin(j.url, f["url"]).split("#")[0], bool(f.get("core-metadata")))
    # every file ever listed: 200 while public, 404 once hidden (the file and its PEP 658 file)
    downloads = {name: (requests.get(url, timeout=30).status_code,
                        requests.get(url + ".metadata", timeout=30).status_code if meta else None)
                 for name, (url, meta) in LINKS.get(server.url, {}).items()}
    listed = {p["name"] for p in root.json()["projects"]} if root.status_code == 200 else set()
    return {
        "status": j.status_code,
        "html_status": html.status_code,
        "api_status": api.status_code,
        "files": files,
        "html_files": {f for f in files if f in html.text},
        "releases": set(api.json()["releases"]) if api.status_code == 200 else set(),
        "listed": srkit_normal(project) in {srkit_normal(n) for n in listed},
        "downloads": downloads,
    }


def served(v: dict, *names: str) -> bool:
    """Whether each file downloads (and its PEP 658 file, where it has one) exactly when its
    page lists it."""
    return all(set(v["downloads"][n]) - {None} == ({200} if n in v["files"] else {404}) for n in names)


def srkit_normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def until(server: srkit.Server, project: str, check, *, seconds: float = 5.0) -> tuple[float, int]:
    """Seconds until `check(view)` holds, from before the first view, and how many views it
    took (asserting it holds within `seconds`)."""
    start = time.monotonic()
    views = 0
    while True:
        v = view(server, project)
        views += 1
        if check(v):
            return time.monotonic() - start, views
        assert time.monotonic() - start < seconds, f"not seen within {seconds} s: {v}"
        time.sleep(0.02)


def test_every_kind_of_change_shows_on_the_next_request(server):
    token = server.user_with_token("alice")
    p = "sr-fresh"
    w1, s1 = srkit.make_wheel(p, "1.0"), srkit.make_sdist(p, "1.0")
    for d in (w1, s1):
        srkit.ok_upload(server, token, d)
    immediate = server.backend.kind == "sqlite"

    def seen(check, what):
        # this server's own writes (HTTP) show at once on both backends; the CLI's on SQLite
        # too; the CLI's on PostgreSQL within the bound (its NOTIFY is heard at commit)
        took, views = until(server, p, check)
        if immediate:
            assert views == 1, f"{what}: stale for {took:.3f} s, not seen on the next request"
        assert took <= 1.0, f"{what}: stale for {took:.3f} s, past the one-second bound"

    warm(server, p)
    v = view(server, p)
    assert v["files"] == {w1.filename: False, s1.filename: False} and v["listed"], v

    # upload through the server: shown on the next request, every page kind
    w2 = srkit.make_wheel(p, "2.0")
    srkit.ok_upload(server, token, w2)
    v = view(server, p)
    assert w2.filename in v["files"] and w2.filename in v["html_files"] and "2.0" in v["releases"], v
    all_files = (w1.filename, s1.filename, w2.filename)
    assert served(v, *all_files) and v["downloads"][w1.filename] == (200, 200), v

    warm(server, p)
    server.yank(p, "2.0", reason="broken")  # the CLI: another process
    seen(lambda v: v["files"].get(w2.filename) == "broken" and served(v, w2.filename), "yank")
    warm(server, p)
    server.unyank(p, "2.0")
    seen(lambda v: v["files"].get(w2.filename) is False, "un-yank")

    warm(server, p)
    server.cli("admin", "remove", p, "1.0", w1.filename, "--reason", "bad build")
    seen(lambda v: w1.filename not in v["files"] and s1.filename in v["files"] and served(v, *all_files), "file removal")
    warm(server, p)
    server.cli("admin", "restore", p, "1.0", w1.filename, "--reason", "fine after all")
    seen(lambda v: w1.filename in v["files"] and served(v, *all_files), "file restore")

    warm(server, p)
    server.cli("admin", "remove", p, "2.0", "--reason", "bad release")
    seen(lambda v: w2.filename not in v["files"] and "2.0" not in v["releases"] and served(v, *all_files),
         "release removal")
    warm(server, p)
    server.cli("admin", "restore", p, "2.0", "--reason", "fine after all")
    seen(lambda v: w2.filename in v["files"] and "2.0" in v["releases"] and served(v, *all_files),
         "release restore")

    warm(server, p)
    server.cli("admin", "quarantine", p, "--reason", "investigating")
    seen(lambda v: v["status"] == 404 and v["html_status"] == 404 and v["api_status"] == 404
         and not v["listed"] and served(v, *all_files), "quarantine")
    server.cli("admin", "release", p, "--reason", "clean")
    seen(lambda v: v["status"] == 200 and v["listed"] and w2.filename in v["files"] and served(v, *all_files),
         "release from quarantine")

    warm(server, p)
    server.cli("admin", "remove", p, "--reason", "retired")
    seen(lambda v: v["status"] == 404 and v["api_status"] == 404 and not v["listed"] and served(v, *all_files),
         "project removal")


def test_a_write_on_one_server_shows_on_the_other_within_the_bound(strongroom):
    backend = strongroom.pool.backend("pg_s3")
    a = strongroom(backend)
    b = strongroom(backend)
    token = a.user_with_token("alice")
    p = "sr-fresh-two"
    w1 = srkit.make_wheel(p, "1.0")
    srkit.ok_upload(a, token, w1)
    until(b, p, lambda v: w1.filename in v["files"])
    took = []
    for _ in range(3):
        warm(b, p)
    # upload through A's HTTP: B hears A's NOTIFY
    w2 = srkit.make_wheel(p, "2.0")
    srkit.ok_upload(a, token, w2)
    took.append(until(b, p, lambda v: w2.filename in v["files"] and "2.0" in v["releases"])[0])
    warm(b, p)
    # a yank through A's CLI
    a.yank(p, "2.0", reason="via a")
    took.append(until(b, p, lambda v: v["files"].get(w2.filename) == "via a")[0])
    warm(b, p)
    a.cli("admin", "quarantine", p, "--reason", "investigating")
    took.append(until(b, p, lambda v: v["status"] == 404 and not v["listed"])[0])
    # the bound (one second) on a quiet machine; the poll above allowed five
    assert max(took) <= 1.0, f"seen on B after {took} s"


def test_a_file_held_for_a_new_maintainer_shows_once_approved(server):
    """Role-driven visibility: a Maintainer of a few minutes adds a wheel to a published release;
    it is held for review (not public), and shows on the next request once an admin approves it
    (the CLI, another process)."""
    from webclient import Web

    pw = "correct horse battery staple 42"
    server.create_user("alice", pw)
    alice = server.create_token("alice")
    server.create_user("bob", pw)
    bob = server.create_token("bob")
    p = "sr-fresh-role"
    sdist, wheel = srkit.make_sdist(p, "1.0"), srkit.make_wheel(p, "1.0")
    srkit.ok_upload(server, alice, sdist)
    web = Web(server.url)
    web.login("alice", pw)
    manage = f"/manage/project/{p}/"
    resp = web.submit(manage, manage + "invite/", {"username": "bob", "role": "Maintainer"})
    assert resp.status_code == 200 and "done=invited" in resp.url, resp.status_code
    bob_web = Web(server.url)
    bob_web.login("bob", pw)
    resp = bob_web.submit("/manage/account/invitations/", "/accept/")
    assert resp.status_code == 200
    warm(server, p)
    resp = srkit.upload_raw(server, bob, wheel)
    assert resp.status_code == 200 and "held for review" in resp.text, (resp.status_code, resp.text)
    v = view(server, p)
    assert set(v["files"]) == {sdist.filename}, v
    warm(server, p)
    server.cli("admin", "approve-file", p, "1.0", wheel.filename, "--reason", "reviewed")
    took, views = until(server, p, lambda v: set(v["files"]) == {sdist.filename, wheel.filename})
    if server.backend.kind == "sqlite":
        assert views == 1, f"stale for {took:.3f} s, not seen on the next request"
    assert took <= 1.0, f"stale for {took:.3f} s, past the one-second bound"
