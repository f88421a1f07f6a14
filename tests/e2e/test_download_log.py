"""The download log (issue 12, item 6): every download of a file is recorded (origin, project,
version, filename, sha256, time, client address, user agent) without a database round trip on
the download path, written in batches by the recorder, and shown by
`strongroom admin upstream log --project NAME [--since T] [--json]` and `/admin/upstream/log`.
Past `downloads.retention_days` (default 90) the rows are folded into daily counts by the
periodic jobs, so addresses are kept for the retention period only.

Real pip and uv install from a started server; the clock moves with the suite's offset file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import srkit
from test_metrics_shutdown import parse_exposition, value
from webclient import Web, page_text

PW = "correct horse battery staple 42"
DAY = 86_400


def log_lines(server: srkit.Server, project: str, *extra: str) -> list[dict]:
    proc = server.cli("admin", "upstream", "log", "--project", project, "--json", *extra)
    return [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]


def downloads(server: srkit.Server, project: str, *extra: str) -> list[dict]:
    return [d for d in log_lines(server, project, *extra) if d["kind"] == "download"]


def wait_for_downloads(server: srkit.Server, project: str, n: int, timeout: float = 30) -> list[dict]:
    """The recorder writes every two seconds: wait until `n` downloads are on record."""
    deadline = time.monotonic() + timeout
    while True:
        got = downloads(server, project)
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def publish(server: srkit.Server, token: str, name: str, version: str) -> srkit.Dist:
    dist = srkit.make_wheel(name, version, payload=f"VERSION = {version!r}\n")
    srkit.ok_upload(server, token, dist)
    return dist


def test_pip_and_uv_installs_are_on_record_in_the_cli_and_the_admin_page(strongroom, backend_kind, tmp_path):
    """Default settings (retention 90 days): two real installs, each one download (the metadata
    files pip and uv read while resolving are not installs), with address and user agent."""
    server = strongroom(backend_kind)
    token = server.user_with_token("maint")
    dist = publish(server, token, "dl-pkg", "1.0")
    publish(server, token, "dl-other", "2.0")
    srkit.pip_install(server, ["dl-pkg==1.0"], tmp_path / "pip-target", tmp_path)
    srkit.uv_install(server, ["dl-pkg==1.0"], tmp_path / "uv-target", tmp_path)
    assert srkit.installed(tmp_path / "pip-target") == {"dl-pkg": "1.0"}

    got = wait_for_downloads(server, "dl-pkg", 2)
    assert len(got) == 2, got
    for d in got:
        assert d["origin"] == "local"
        assert d["project"] == "dl-pkg"
        assert d["version"] == "1.0"
        assert d["filename"] == dist.filename
        assert d["sha256"] == dist.sha256
        assert d["ip"] == "127.0.0.1"
        assert d["at"].endswith("Z")
    agents = sorted(d["user_agent"].split("/", 1)[0] for d in got)
    assert agents == ["pip", "uv"], [d["user_agent"] for d in got]
    # Any spelling of the name; another project's log is its own.
    assert len(downloads(server, "DL_Pkg")) == 2
    assert downloads(server, "dl-other") == []
    files = [d for d in log_lines(server, "dl-pkg") if d["kind"] == "file"]
    assert [(f["filename"], f["downloads"], f["origin"]) for f in files] == [(dist.filename, 2, "local")]

    # --since: a time (RFC 3339) or a date.
    assert downloads(server, "dl-pkg", "--since", "2999-01-01") == []
    assert downloads(server, "dl-pkg", "--since", "2000-01-01T00:00:00Z") == got
    bad = server.cli("admin", "upstream", "log", "--project", "dl-pkg", "--since", "yesterday", check=False)
    assert bad.returncode != 0 and "invalid time" in srkit.output(bad), srkit.output(bad)
    bad = server.cli("admin", "upstream", "log", "--project", "not a name!", check=False)
    assert bad.returncode != 0 and "not a valid project name" in srkit.output(bad), srkit.output(bad)

    # The text form says the same, with the retention in force.
    text = server.cli("admin", "upstream", "log", "--project", "dl-pkg").stdout
    assert dist.filename in text and dist.sha256 in text and "127.0.0.1" in text, text
    assert "kept 90 days" in text, text
    none = server.cli("admin", "upstream", "log", "--project", "never-downloaded").stdout
    assert "no downloads of never-downloaded on record" in none, none

    # The admin area: linked from the start page, the same rows, 404 for anyone else.
    server.create_user("root", PW, admin=True)
    web = Web(server.url)
    web.login("root", PW)
    assert web.logged_in()
    start = web.get("/admin/")
    assert 'href="/admin/upstream/log"' in start.text
    page = web.get("/admin/upstream/log?project=DL.Pkg")
    assert page.status_code == 200, page.text[:500]
    shown = page_text(page)
    assert dist.filename in shown and dist.sha256 in shown and "127.0.0.1" in shown, shown[:2000]
    assert page.text.count('class="download origin-local"') == 2
    assert web.get("/admin/upstream/log").status_code == 200  # the empty form
    assert web.get("/admin/upstream/log?project=dl-pkg&since=nonsense").status_code == 400
    server.create_user("mallory", PW)
    other = Web(server.url)
    other.login("mallory", PW)
    assert other.logged_in()
    assert other.get("/admin/upstream/log?project=dl-pkg").status_code == 404
    assert Web(server.url).get("/admin/upstream/log?project=dl-pkg").status_code == 404

    # The recorder's counters.
    admin_token = server.create_token("root")
    samples = parse_exposition(server.get("/metrics", headers={"Authorization": f"Bearer {admin_token}"}).text)
    assert value(samples, "strongroom_download_log_written_total") >= 2
    assert value(samples, "strongroom_download_log_dropped_total") == 0
    assert ("strongroom_download_log_buffered", frozenset()) in samples


def test_old_downloads_are_folded_into_daily_counts_after_the_retention(strongroom, backend_kind, tmp_path):
    """With the clock 91 days on, the periodic jobs fold the rows past the default 90-day
    retention into a count for their day: the address and user agent are gone, the count and
    the file's first download stay."""
    clock = tmp_path / "clock"
    clock.write_text("0")
    server = strongroom(backend_kind, env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)})
    dist = publish(server, server.user_with_token("maint"), "dl-fold", "1.0")
    srkit.pip_install(server, ["dl-fold==1.0"], tmp_path / "t1", tmp_path)
    got = wait_for_downloads(server, "dl-fold", 1)
    assert len(got) == 1, got
    day = got[0]["at"][:10]

    clock.write_text(str(89 * DAY))
    server.cli("admin", "run-jobs")
    assert len(downloads(server, "dl-fold")) == 1, "within the retention the row stays"

    clock.write_text(str(91 * DAY))
    # A download now (91 days later) is recent and stays a row.
    srkit.pip_install(server, ["dl-fold==1.0"], tmp_path / "t2", tmp_path)
    assert len(wait_for_downloads(server, "dl-fold", 2)) == 2
    jobs = server.cli("admin", "run-jobs")
    assert "1 downloads older than 90 days folded" in srkit.output(jobs), srkit.output(jobs)

    lines = log_lines(server, "dl-fold")
    rows = [d for d in lines if d["kind"] == "download"]
    assert len(rows) == 1 and rows[0]["at"][:10] != day, rows
    counts = [d for d in lines if d["kind"] == "count"]
    assert [(c["day"], c["filename"], c["sha256"], c["count"], c["origin"]) for c in counts] == [
        (day, dist.filename, dist.sha256, 1, "local")
    ], counts
    assert "ip" not in counts[0] and "user_agent" not in counts[0]
    files = [d for d in lines if d["kind"] == "file"]
    assert [(f["downloads"], f["first_seen"][:10]) for f in files] == [(2, day)], files
    text = server.cli("admin", "upstream", "log", "--project", "dl-fold").stdout
    assert "older downloads, counted per day" in text and day in text, text


def test_downloads_still_in_memory_are_written_at_shutdown(strongroom, backend_kind, tmp_path):
    """A download answered just before SIGTERM is written by the last flush, not lost."""
    server = strongroom(backend_kind)
    dist = publish(server, server.user_with_token("maint"), "dl-stop", "1.0")
    path = dist.path
    resp = server.get(path, headers={"User-Agent": "last-one/1"})
    assert resp.status_code == 200 and resp.content == dist.data
    server.stop()
    assert "download log flushed at shutdown" in server.stderr_text()
    got = downloads(server, "dl-stop")
    assert [(d["user_agent"], d["sha256"]) for d in got] == [("last-one/1", dist.sha256)], got


def test_partial_head_and_metadata_requests_are_not_installs(strongroom, backend_kind, tmp_path: Path):
    server = strongroom(backend_kind)
    dist = publish(server, server.user_with_token("maint"), "dl-part", "1.0")
    path = dist.path
    assert server.get(path, headers={"Range": "bytes=0-9"}).status_code == 206
    assert srkit.requests.head(server.url + path, timeout=30).status_code == 200
    assert server.get(path + ".metadata").status_code == 200
    assert server.get(path, headers={"User-Agent": "whole/1"}).status_code == 200
    got = wait_for_downloads(server, "dl-part", 1)
    time.sleep(3)  # one more flush: nothing else arrives
    got = downloads(server, "dl-part")
    assert [d["user_agent"] for d in got] == ["whole/1"], got


def test_which_machines_installed_an_upstream_file(gateway, upstream, backend_kind, tmp_path):
    """The issue's question after an advisory: a private project depending on an upstream one
    is installed by pip, then by uv (the upstream file fetched once, then served from the
    cache); the log of the upstream project names both installs (origin upstream, the
    upstream's filename and sha256), the private project's log names its own (origin local)."""
    from upstream_fixture import ago

    ctx = upstream.add_wheel("ctx", "0.2.2", upload_time=ago(days=30))
    gw = gateway(backend_kind, upstream)
    app = srkit.make_wheel("acme-app", "1.0", requires_dist=["ctx==0.2.2"], payload="VERSION = '1.0'\n")
    srkit.ok_upload(gw, gw.user_with_token("maint"), app)
    srkit.pip_install(gw, ["acme-app"], tmp_path / "pip", tmp_path / "pipc")
    srkit.uv_install(gw, ["acme-app"], tmp_path / "uv", tmp_path / "uvc")
    assert srkit.installed(tmp_path / "uv") == {"acme-app": "1.0", "ctx": "0.2.2"}

    got = wait_for_downloads(gw, "ctx", 2)
    assert sorted(d["user_agent"].split("/", 1)[0] for d in got) == ["pip", "uv"], got
    for d in got:
        assert (d["origin"], d["version"], d["filename"], d["sha256"], d["ip"]) == (
            "upstream", "0.2.2", ctx.filename, ctx.sha256, "127.0.0.1"), d
    mine = wait_for_downloads(gw, "acme-app", 2)
    assert {(d["origin"], d["filename"]) for d in mine} == {("local", app.filename)}, mine
    files = [d for d in log_lines(gw, "ctx", "--since", got[-1]["at"][:10]) if d["kind"] == "file"]
    assert [(f["origin"], f["filename"], f["downloads"]) for f in files] == [("upstream", ctx.filename, 2)]
    text = gw.cli("admin", "upstream", "log", "--project", "ctx").stdout
    assert "upstream\t0.2.2\t" + ctx.filename in text, text


def test_only_whole_files_are_downloads_and_repeats_are_one(gateway, upstream, backend_kind, tmp_path):
    """RT12 F11: every request for a kept upstream file, a bare 304 included, was a row (and a
    local 304 too), so an anonymous client could insert rows at will. Now only a whole file
    sent (200 to a GET) is a download, for local and upstream files alike, and one client
    address fetching one file again within a minute is one download (per user agent, up to
    four); the next minute counts again. Also RT12 F7: the text form escapes a hostile user
    agent (8-bit CSI, bidi override, tab), the JSON form keeps it exact."""
    from upstream_fixture import ago

    clock = tmp_path / "clock"
    clock.write_text("0")
    up = upstream.add_wheel("dl-rep-up", "1.0", upload_time=ago(days=30))
    gw = gateway(backend_kind, upstream, env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock)})
    local = publish(gw, gw.user_with_token("maint"), "dl-rep-local", "1.0")
    up_path = f"/upstream/files/dl-rep-up/{up.sha256}/{up.filename}"
    assert gw.simple_json("dl-rep-up").status_code == 200  # the gateway stores the page
    for project, path, data, etag in [
        ("dl-rep-local", local.path, local.data, f'"{local.sha256}"'),
        ("dl-rep-up", up_path, up.data, f'"{up.sha256}"'),
    ]:
        first = gw.get(path, headers={"User-Agent": "pip/25.0"})
        assert first.status_code == 200 and first.content == data, (project, first.status_code)
        deadline = time.monotonic() + 15  # an upstream file is kept (Range answered) once fetched
        while gw.get(path, headers={"User-Agent": "pip/25.0", "Range": "bytes=0-0"}).status_code != 206:
            assert time.monotonic() < deadline, "the upstream file was not kept"
            time.sleep(0.2)
        for _ in range(30):
            assert gw.get(path, headers={"User-Agent": "pip/25.0"}).status_code == 200
            assert gw.get(path, headers={"User-Agent": "pip/25.0", "If-None-Match": etag}).status_code == 304
            assert gw.get(path, headers={"User-Agent": "flood/1", "If-None-Match": etag}).status_code == 304
            assert gw.get(path, headers={"User-Agent": "flood/1", "Range": "bytes=0-9"}).status_code == 206
            assert srkit.requests.head(gw.url + path, headers={"User-Agent": "flood/1"}, timeout=30).status_code == 200
        # Made-up user agents buy at most four rows per address, file and minute.
        for i in range(10):
            assert gw.get(path, headers={"User-Agent": f"made-up/{i}"}).status_code == 200
        # The next minute, the same client's download counts again.
        clock.write_text("61")
        assert gw.get(path, headers={"User-Agent": "pip/25.0"}).status_code == 200
        clock.write_text("0")
        got = wait_for_downloads(gw, project, 5)
        time.sleep(3)  # one more flush: nothing else arrives
        got = downloads(gw, project)
        agents = sorted(d["user_agent"] for d in got)
        assert agents == ["made-up/0", "made-up/1", "made-up/2", "pip/25.0", "pip/25.0"], (project, agents)

    # RT12 F7: a hostile user agent is escaped in the text form, exact in the JSON form.
    hostile = "pip/1.0 \u009b31mC1CSI \u202e reversed\tforged"
    resp = gw.get(up_path, headers={"User-Agent": hostile.encode("utf-8")})
    assert resp.status_code == 200
    deadline = time.monotonic() + 30
    while hostile not in [d["user_agent"] for d in downloads(gw, "dl-rep-up")] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert hostile in [d["user_agent"] for d in downloads(gw, "dl-rep-up")]
    text = gw.cli("admin", "upstream", "log", "--project", "dl-rep-up").stdout
    assert "\u009b" not in text and "\u202e" not in text, repr(text)
    line = next(ln for ln in text.splitlines() if "C1CSI" in ln)
    assert line.endswith("\tpip/1.0 \\u{9b}31mC1CSI \\u{202e} reversed\\tforged"), repr(line)
    assert len(line.split("\t")) == 7, repr(line)
