"""The gateway's pages (issue 12): upstream projects under `/simple/<p>/` and `/pypi/<p>/json`,
with links rewritten to strongroom's own `/upstream/files/...`, metadata passed through, stored
pages revalidated after the TTL and served stale (saying so) while the upstream is down, 502/504
when nothing is stored, the cooldown, and private names that never resolve upstream. The upstream
is the PyPI-shaped static fixture (files on a second host) or a second strongroom."""

from __future__ import annotations

import time
import urllib.parse

import pytest
import srkit
from upstream_fixture import ago, pypi_time

SIMPLE_JSON = srkit.SIMPLE_JSON


def page(server: srkit.Server, project: str, *, html: bool = False):
    accept = "text/html" if html else SIMPLE_JSON
    return server.get(f"/simple/{project}/", headers={"Accept": accept})


def move_clock(clock, seconds: int) -> None:
    current = int(clock.read_text() or "0") if clock.exists() else 0
    clock.write_text(str(current + seconds))


@pytest.fixture
def clock(tmp_path):
    path = tmp_path / "clock-offset"
    path.write_text("0")
    return path


def test_an_upstream_project_is_served_with_its_metadata_and_local_links(backend_kind, upstream, gateway, clock):
    prov = "https://attest.example/integrity/requests/2.0/provenance"
    old = upstream.add_wheel("requests", "2.0", upload_time=ago(days=400), requires_python=">=3.8",
                             provenance=prov)
    yanked = upstream.add_wheel("requests", "2.1", upload_time=ago(days=30), yanked="broken build")
    upstream.add_file("requests", "1.0", "requests-1.0.tar.gz", b"no hash at all", hashes=None)
    gw = gateway(backend_kind, upstream, env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)})

    resp = page(gw, "requests")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == SIMPLE_JSON
    assert int(resp.headers["X-Strongroom-Upstream-Age"]) <= 5
    assert "X-Strongroom-Upstream-Stale" not in resp.headers
    doc = resp.json()
    files = {f["filename"]: f for f in doc["files"]}
    # a file whose upstream gives no sha256 is not offered
    assert set(files) == {old.filename, yanked.filename}, files
    f = files[old.filename]
    assert f["url"] == f"../../upstream/files/requests/{old.sha256}/{old.filename}"
    assert f["hashes"] == {"sha256": old.sha256}
    assert f["requires-python"] == ">=3.8"
    assert f["size"] == old.size
    assert f["upload-time"] == pypi_time(old.upload_time)
    assert f["core-metadata"] == {"sha256": old.metadata_sha256}
    assert f["provenance"] == prov
    assert files[yanked.filename]["yanked"] == "broken build"
    assert doc["project-status"] == {"status": "active"}
    assert doc["versions"] == ["2.0", "2.1"]
    # the link resolves to strongroom, never to the upstream's files host
    absolute = urllib.parse.urljoin(resp.url, f["url"])
    assert absolute.startswith(gw.url + "/upstream/files/"), absolute

    html = page(gw, "requests", html=True)
    assert html.status_code == 200
    anchors = srkit.parse_html(html.text)
    hrefs = [a for a in html.text.split('href="')[1:]]
    assert any(h.startswith(f"../../upstream/files/requests/{old.sha256}/{old.filename}#sha256={old.sha256}")
               for h in hrefs), html.text
    assert upstream.files_origin not in html.text and upstream.files_origin not in resp.text
    assert 'data-yanked="broken build"' in html.text
    assert anchors is not None

    # mirrors see local projects only: the upstream project is not in the index
    index = gw.simple_json()
    assert index.status_code == 200
    assert "requests" not in {p["name"] for p in index.json()["projects"]}

    # the JSON API document holds what the page says, nothing invented
    api = gw.get("/pypi/requests/json")
    assert api.status_code == 200, api.text
    assert "X-Strongroom-Upstream-Age" in api.headers
    j = api.json()
    assert j["info"]["name"] == "requests"
    assert j["info"]["version"] == "2.0", "the yanked 2.1 is not the latest"
    assert j["info"]["requires_python"] == ">=3.8"
    assert "summary" not in j["info"] and "author" not in j["info"]
    assert set(j["releases"]) == {"2.0", "2.1"}
    (url,) = j["urls"]
    assert url["digests"] == {"sha256": old.sha256}
    assert url["url"] == f"{gw.url}/upstream/files/requests/{old.sha256}/{old.filename}"
    assert url["upload_time_iso_8601"] == pypi_time(old.upload_time)
    one = gw.get("/pypi/requests/2.1/json")
    assert one.status_code == 200 and one.json()["info"]["yanked_reason"] == "broken build"
    assert "releases" not in one.json()
    assert gw.get("/pypi/requests/9.9/json").status_code == 404
    assert page(gw, "no-such-project").status_code == 404

    # PEP 792 status and reason pass through; a quarantined upstream project lists no files
    upstream.add_wheel("retired", "1.0", upload_time=ago(days=400))
    upstream.set_status("retired", "deprecated", "use requests")
    upstream.add_wheel("suspect", "1.0", upload_time=ago(days=400))
    upstream.set_status("suspect", "quarantined", "under review")
    retired = page(gw, "retired").json()
    assert retired["project-status"] == {"status": "deprecated", "reason": "use requests"}
    assert len(retired["files"]) == 1
    suspect = page(gw, "suspect")
    assert suspect.json()["project-status"] == {"status": "quarantined", "reason": "under review"}
    assert suspect.json()["files"] == []
    assert 'content="under review"' in page(gw, "suspect", html=True).text


def test_pages_are_kept_for_the_ttl_then_revalidated_and_served_stale_when_the_upstream_is_down(
        backend_kind, upstream, gateway, clock):
    first = upstream.add_wheel("demo", "1.0", upload_time=ago(days=10))
    gw = gateway(backend_kind, upstream, timeout_seconds=3,
                 env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)})
    assert page(gw, "demo").status_code == 200
    assert page(gw, "never-there").status_code == 404
    asked = upstream.count("/simple/")
    # within the TTL (300 s by default) neither the page nor the "not found" is asked again
    assert page(gw, "demo").status_code == 200
    assert page(gw, "never-there").status_code == 404
    assert upstream.count("/simple/") == asked

    etag = page(gw, "demo").headers["ETag"]
    same = gw.get("/simple/demo/", headers={"Accept": SIMPLE_JSON, "If-None-Match": etag})
    assert same.status_code == 304 and "X-Strongroom-Upstream-Age" in same.headers
    # after the TTL the page is revalidated: a 304 keeps it, a change shows
    second = upstream.add_wheel("demo", "2.0", upload_time=ago(days=5))
    move_clock(clock, 301)
    resp = page(gw, "demo")
    assert resp.headers["ETag"] != etag, "a new revision is a new ETag"
    assert upstream.count("/simple/demo/") > 1
    assert {f["filename"] for f in resp.json()["files"]} == {first.filename, second.filename}
    assert int(resp.headers["X-Strongroom-Upstream-Age"]) <= 5

    # the upstream goes down: the stored page keeps installing, saying how old and why
    upstream.stop()
    move_clock(clock, 600)
    stale = page(gw, "demo")
    assert stale.status_code == 200, stale.text
    assert {f["filename"] for f in stale.json()["files"]} == {first.filename, second.filename}
    assert stale.headers.get("X-Strongroom-Upstream-Stale"), stale.headers
    assert int(stale.headers["X-Strongroom-Upstream-Age"]) >= 600
    assert gw.get("/pypi/demo/json").headers.get("X-Strongroom-Upstream-Stale")
    # a project never fetched: the gateway says the upstream cannot be reached
    down = page(gw, "other")
    assert down.status_code == 502, (down.status_code, down.text)
    assert "upstream" in down.text and "127.0.0.1" not in down.text

    # a slow upstream: an error within the timeout, never a hang (past the 30 s in which an
    # upstream that did not answer is left alone)
    upstream.start()
    move_clock(clock, 31)
    upstream.add_wheel("slow", "1.0", upload_time=ago(days=10))
    upstream.delay = 30
    started = time.monotonic()
    slow = page(gw, "slow")
    elapsed = time.monotonic() - started
    assert slow.status_code == 504, (slow.status_code, slow.text)
    assert elapsed < 20, elapsed


def test_local_and_reserved_names_never_resolve_upstream(backend_kind, upstream, gateway, clock, tmp_path):
    upstream.add_wheel("private-lib", "99.0", upload_time=ago(days=400))
    upstream.add_wheel("acme-tools", "99.0", upload_time=ago(days=400))
    upstream.add_wheel("held-back", "1.0", upload_time=ago(days=400))
    gw = gateway(backend_kind, upstream, private_patterns=["acme-*"])
    token = gw.user_with_token("alice")
    srkit.ok_upload(gw, token, srkit.make_wheel("private-lib", "1.0"))
    upstream.reset_counts()

    resp = page(gw, "private-lib")
    assert resp.status_code == 200
    assert [f["filename"] for f in resp.json()["files"]] == ["private_lib-1.0-py3-none-any.whl"]
    assert gw.get("/pypi/private-lib/json").json()["info"]["version"] == "1.0"
    # a reserved pattern with no local project: 404, the upstream never asked (any spelling)
    for name in ["acme-tools", "ACME_tools", "acme.tools"]:
        r = gw.get(f"/simple/{name}/", headers={"Accept": SIMPLE_JSON}, allow_redirects=True)
        assert r.status_code == 404, (name, r.status_code)
    assert gw.get("/pypi/acme-tools/json").status_code == 404
    # a local project the public does not see (quarantined) is a 404, not the upstream's
    srkit.ok_upload(gw, token, srkit.make_wheel("held-back", "0.1"))
    gw.cli("admin", "quarantine", "held-back", "--reason", "under review")
    assert page(gw, "held-back").status_code == 404
    assert gw.get("/pypi/held-back/json").status_code == 404
    assert upstream.count("/simple/") == 0, upstream.hits
    # pip and uv install the local one (the upstream's 99.0 is never offered)
    for install in (srkit.pip_install, srkit.uv_install):
        target = tmp_path / install.__name__
        install(gw, ["private-lib"], target, tmp_path)
        assert srkit.installed(target).get("private-lib") == "1.0"


def test_the_cooldown_hides_new_upstream_files_until_they_are_old_enough(backend_kind, upstream, gateway, clock):
    old = upstream.add_wheel("fresh", "1.0", upload_time=ago(days=30))
    new = upstream.add_wheel("fresh", "1.1", upload_time=ago(hours=1))
    undated = upstream.add_wheel("fresh", "0.9", upload_time=None)
    gw = gateway(backend_kind, upstream, min_age_days=3,
                 env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)})
    names = {f["filename"] for f in page(gw, "fresh").json()["files"]}
    assert names == {old.filename}, names
    assert gw.get("/pypi/fresh/json").json()["info"]["version"] == "1.0"
    assert gw.get("/pypi/fresh/1.1/json").status_code == 404
    # four days later 1.1 is old enough; a file without upload-time never is
    move_clock(clock, 4 * 86400)
    names = {f["filename"] for f in page(gw, "fresh").json()["files"]}
    assert names == {old.filename, new.filename}, names
    assert undated.filename not in names
    assert gw.get("/pypi/fresh/json").json()["info"]["version"] == "1.1"


def test_a_second_strongroom_is_an_upstream(backend_kind, strongroom, gateway):
    origin = strongroom(backend_kind)
    token = origin.user_with_token("bob")
    wheel = srkit.make_wheel("shared-lib", "3.1", requires_python=">=3.9")
    srkit.ok_upload(origin, token, wheel)
    gw = gateway(backend_kind, origin)
    resp = page(gw, "shared-lib")
    assert resp.status_code == 200, resp.text
    (f,) = resp.json()["files"]
    assert f["filename"] == wheel.filename
    assert f["url"] == f"../../upstream/files/shared-lib/{wheel.sha256}/{wheel.filename}"
    assert f["requires-python"] == ">=3.9"
    assert f["core-metadata"]["sha256"]
    assert gw.get("/pypi/shared-lib/3.1/json").status_code == 200


def test_the_first_upstream_that_knows_a_name_answers_alone(backend_kind, upstream, gateway, tmp_path):
    import upstream_fixture

    second = upstream_fixture.Upstream(tmp_path / "second")
    try:
        first_alpha = upstream.add_wheel("alpha", "1.0", upload_time=ago(days=400))
        second.add_wheel("alpha", "2.0", upload_time=ago(days=400))
        beta = second.add_wheel("beta", "1.0", upload_time=ago(days=400))
        gw = gateway(backend_kind, upstream, second)
        alpha = page(gw, "alpha").json()
        # versions are never merged across upstreams: the first one's page alone
        assert [f["filename"] for f in alpha["files"]] == [first_alpha.filename]
        assert alpha["versions"] == ["1.0"]
        assert second.count("/simple/alpha/") == 0
        assert [f["filename"] for f in page(gw, "beta").json()["files"]] == [beta.filename]
        assert gw.get("/pypi/alpha/json").json()["info"]["version"] == "1.0"
    finally:
        second.stop()


# --------------------------------------------------------------------------------------------
# red-team round (RT12): F3 page-fetch budget and stored-page eviction, F9 a slow page fails one
# project, F12 a name stays bound to the upstream that answered for it, F13 revisions never repeat


def test_upstream_page_fetches_are_budgeted_per_client_address(backend_kind, upstream, gateway, clock):
    for i in range(4):
        upstream.add_wheel(f"bulk{i}", "1.0", upload_time=ago(days=400))
    gw = gateway(backend_kind, upstream, page_fetches_per_minute=3,
                 env={"STRONGROOM_RATE_LIMITS": "true", "STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)})
    for i in range(3):
        assert page(gw, f"bulk{i}").status_code == 200
    # a stored, fresh page costs nothing
    for _ in range(5):
        assert page(gw, "bulk0").status_code == 200
    asked = upstream.count("/simple/")
    refused = page(gw, "bulk3")
    assert refused.status_code == 429, (refused.status_code, refused.text)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "upstream.page_fetches_per_minute" in refused.text
    assert gw.get("/pypi/bulk3/json").status_code == 429
    assert upstream.count("/simple/") == asked, "the upstream was not asked"
    # a minute (and the TTL) later: the budget is back, and revalidations spend it too
    move_clock(clock, 301)
    for name in ["bulk3", "bulk0", "bulk1"]:
        assert page(gw, name).status_code == 200, name
    assert page(gw, "bulk2").status_code == 429


def test_the_default_page_fetch_budget_refuses_a_flood_of_names(backend_kind, upstream, gateway):
    # upstream.page_fetches_per_minute as shipped (300), rate limits on as shipped
    gw = gateway(backend_kind, upstream, env={"STRONGROOM_RATE_LIMITS": "true"})
    codes = [page(gw, f"made-up-{i}").status_code for i in range(301)]
    assert codes[:300] == [404] * 300, sorted(set(codes[:300]))
    assert codes[300] == 429
    assert upstream.count("/simple/") == 300


def test_stored_pages_not_served_for_long_are_evicted(backend_kind, upstream, gateway, clock):
    upstream.add_wheel("kept", "1.0", upload_time=ago(days=400))
    upstream.add_wheel("dropped", "1.0", upload_time=ago(days=400))
    gw = gateway(backend_kind, upstream, timeout_seconds=3,
                 env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)})
    assert page(gw, "kept").status_code == 200
    assert page(gw, "dropped").status_code == 200
    move_clock(clock, 20 * 86400)
    assert page(gw, "kept").status_code == 200  # served (revalidated): its last use moves
    move_clock(clock, 15 * 86400)
    out = gw.cli("admin", "run-jobs").stdout
    assert "upstream pages: evicted 1" in out, out
    upstream.stop()
    move_clock(clock, 31)
    stale = page(gw, "kept")
    assert stale.status_code == 200 and stale.headers.get("X-Strongroom-Upstream-Stale")
    assert page(gw, "dropped").status_code == 502, "its stored page went"


def test_a_slow_page_body_fails_that_project_only(backend_kind, upstream, gateway):
    upstream.add_wheel("drippage-lib", "1.0", upload_time=ago(days=400))
    upstream.add_wheel("drip-lib", "1.0", upload_time=ago(days=400))
    gw = gateway(backend_kind, upstream, timeout_seconds=2)
    upstream.drip = (8, 1.0)
    slow = page(gw, "drippage-lib")
    assert slow.status_code == 504, (slow.status_code, slow.text)
    upstream.drip = None
    # the upstream answered the head: it is not down, the next project is asked at once
    fine = page(gw, "drip-lib")
    assert fine.status_code == 200, (fine.status_code, fine.text)
    assert page(gw, "drippage-lib").status_code == 200


def test_a_name_stays_bound_to_the_private_upstream_that_answered_for_it(
        backend_kind, strongroom, upstream, gateway, clock, tmp_path):
    private = strongroom(backend_kind)
    token = private.user_with_token("carol")
    mine = srkit.make_wheel("corp-lib", "1.0")
    srkit.ok_upload(private, token, mine)
    hostile = upstream.add_wheel("corp-lib", "9.9", upload_time=ago(days=400))
    upstream.add_wheel("requests", "2.0", upload_time=ago(days=400))
    gw = gateway(backend_kind, private, upstream,
                 env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)})
    assert [f["filename"] for f in page(gw, "corp-lib").json()["files"]] == [mine.filename]
    # the private index quarantines it (answers 404): the gateway answers 404 too, never with
    # the public project of that name, after any number of TTLs
    private.cli("admin", "quarantine", "corp-lib", "--reason", "incident")
    assert srkit.settled(private, lambda: private.simple_json("corp-lib").status_code == 404)
    for _ in range(2):
        move_clock(clock, 301)
        assert page(gw, "never-anywhere").status_code == 404
        for html in (False, True):
            r = page(gw, "corp-lib", html=html)
            assert r.status_code == 404, (r.status_code, r.text)
            assert hostile.filename not in r.text
        assert gw.get("/pypi/corp-lib/json").status_code == 404
    assert upstream.count("/simple/corp-lib/") == 0, upstream.hits
    target = tmp_path / "t"
    result = srkit.pip_install(gw, ["corp-lib"], target, tmp_path, check=False)
    assert result.returncode != 0
    assert "corp-lib" not in srkit.installed(target)
    # names never resolved still walk the list
    assert page(gw, "requests").status_code == 200


def test_a_page_revision_never_repeats_when_a_name_comes_back(backend_kind, upstream, gateway, clock):
    upstream.add_wheel("etag-lib", "1.0", upload_time=ago(days=400))
    gw = gateway(backend_kind, upstream, env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)})
    first = page(gw, "etag-lib", html=True)
    assert first.status_code == 200
    old_etag = first.headers["ETag"]
    upstream.remove_project("etag-lib")
    move_clock(clock, 301)
    assert page(gw, "etag-lib", html=True).status_code == 404
    move_clock(clock, 301)
    assert page(gw, "nonexistent-zz1").status_code == 404  # forgets expired "not found" answers
    back = upstream.add_wheel("etag-lib", "2.0", upload_time=ago(days=400))
    again = page(gw, "etag-lib", html=True)
    assert again.status_code == 200
    assert back.filename in again.text and "etag_lib-1.0" not in again.text, again.text
    assert again.headers["ETag"] != old_etag
    revalidated = gw.get("/simple/etag-lib/", headers={"Accept": "text/html", "If-None-Match": old_etag})
    assert revalidated.status_code == 200
