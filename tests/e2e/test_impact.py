"""The impact report (issue 13): after a scripted mix of real clients (pip and uv installs, a
bandersnatch mirror run, a browser and a script reading the page), `strongroom admin impact
PROJECT --json` counts exactly what they did, per client kind: page reads (simple page and JSON
API) and downloads; each file's installable window closes at its yank; the local project that
requires it is named; the admin page draws the chart with the events on its time axis.

One client address asking for one file again within a minute is one download (the download
log's repeat filter), so the suite's clock moves 61 seconds between installs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests

import srkit
from test_mirror import bandersnatch_conf, mirror_once
from webclient import Web, page_text

PW = "correct horse battery staple 42"
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
PIP_INSTALLS = 3
UV_INSTALLS = 2


def impact(server: srkit.Server, project: str, *extra: str) -> dict:
    return json.loads(server.cli("admin", "impact", project, "--json", *extra).stdout)


def kinds(report: dict) -> dict[str, tuple[int, int]]:
    return {k["kind"]: (k["page_hits"], k["downloads"]) for k in report["kinds"]}


def wait_for(server: srkit.Server, project: str, downloads: int, hits: int, timeout: float = 30) -> dict:
    """The recorder flushes every two seconds: wait until the counts reach what was sent, then
    one flush more so nothing else is on its way."""
    deadline = time.monotonic() + timeout
    while True:
        r = impact(server, project)
        got = kinds(r)
        if (sum(d for _, d in got.values()) >= downloads and sum(h for h, _ in got.values()) >= hits) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    time.sleep(2.5)
    return impact(server, project)


class Clock:
    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        path.write_text("0")

    def step(self, seconds: int = 61) -> None:
        self.offset += seconds
        self.path.write_text(str(self.offset))


def test_a_scripted_mix_of_clients_is_counted_exactly(strongroom, backend_kind, tmp_path):
    clock = Clock(tmp_path / "clock")
    server = strongroom(backend_kind, env={"STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock.path)})
    token = server.user_with_token("maint")
    wheel = srkit.make_wheel("imp-pkg", "1.0", payload="VERSION = '1.0'\n")
    srkit.ok_upload(server, token, wheel)
    # A local project whose latest release requires it (any spelling of the name).
    srkit.ok_upload(server, token, srkit.make_wheel("imp-app", "2.0", requires_dist=["Imp_Pkg>=1.0"]))
    srkit.ok_upload(server, token, srkit.make_wheel("imp-unrelated", "1.0", requires_dist=["imp-pkgx"]))

    # Installers: each install reads the project page once and downloads the wheel once.
    for i in range(PIP_INSTALLS):
        clock.step()
        srkit.pip_install(server, ["imp-pkg==1.0"], tmp_path / f"pip-{i}", tmp_path)
        assert srkit.installed(tmp_path / f"pip-{i}") == {"imp-pkg": "1.0"}
    for i in range(UV_INSTALLS):
        clock.step()
        srkit.uv_install(server, ["imp-pkg==1.0"], tmp_path / f"uv-{i}", tmp_path)
    # A browser and a script read the page; a 304 is a read too.
    clock.step()
    page = requests.get(f"{server.url}/simple/imp-pkg/", headers={"User-Agent": CHROME}, timeout=30)
    assert page.status_code == 200
    again = requests.get(f"{server.url}/simple/imp-pkg/",
                         headers={"User-Agent": CHROME, "If-None-Match": page.headers["ETag"]}, timeout=30)
    assert again.status_code == 304
    assert requests.get(f"{server.url}/pypi/imp-pkg/json", headers={"User-Agent": "curl/8.5.0"},
                        timeout=30).status_code == 200
    # A name that is not normalised is a redirect, not a read.
    assert requests.get(f"{server.url}/simple/Imp_Pkg/", allow_redirects=False,
                        timeout=30).status_code == 301

    report = wait_for(server, "imp-pkg", PIP_INSTALLS + UV_INSTALLS, PIP_INSTALLS + UV_INSTALLS + 3)
    got = kinds(report)
    assert got["pip"] == (PIP_INSTALLS, PIP_INSTALLS), report["kinds"]
    assert got["uv"] == (UV_INSTALLS, UV_INSTALLS), report["kinds"]
    assert got["browser"] == (2, 0), report["kinds"]
    assert got["other"] == (1, 0), report["kinds"]
    assert got["bandersnatch"] == (0, 0) and got["mirror"] == (0, 0), report["kinds"]
    assert report["downloads_with_kind"] == PIP_INSTALLS + UV_INSTALLS

    # A mirror run: bandersnatch reads the project once (its JSON document, which lists the
    # files) and fetches every file of every project once.
    clock.step()
    mirror_once(bandersnatch_conf(tmp_path, server, tmp_path / "mirror", "simple"), tmp_path)
    report = wait_for(server, "imp-pkg", PIP_INSTALLS + UV_INSTALLS + 1, PIP_INSTALLS + UV_INSTALLS + 3 + 1)
    got = kinds(report)
    assert got["bandersnatch"] == (1, 1), report["kinds"]
    assert got["pip"] == (PIP_INSTALLS, PIP_INSTALLS) and got["uv"] == (UV_INSTALLS, UV_INSTALLS)

    # Per file: one wheel, every download of it; per day they add up to the same.
    [f] = report["files"]
    assert (f["filename"], f["sha256"], f["version"]) == (wheel.filename, wheel.sha256, "1.0")
    total = PIP_INSTALLS + UV_INSTALLS + 1
    assert f["downloads"] == total
    assert sum(d["count"] for d in report["daily"]) == total
    assert f["installable_from"] and f["installable_until"] is None, f
    # One machine (loopback) did it all.
    assert [(a["version"], a["on_record"]) for a in report["addresses"]] == [("1.0", 1)]
    assert [(c["ip"], c["downloads"]) for c in report["clients"]] == [("127.0.0.1", total)]
    assert [(d["project"], d["requirement"]) for d in report["dependents"]] == [("imp-app", "Imp_Pkg>=1.0")]
    assert [e["kind"] for e in report["events"]] == ["upload"]

    # A yank closes the window and is an event; --version narrows, --csv is a table.
    clock.step()
    server.yank("imp-pkg", "1.0", "compromised")
    report = impact(server, "imp-pkg", "--version", "1.0")
    [f] = report["files"]
    assert f["ended_by"] == "yanked" and f["installable_until"], f
    assert [e["kind"] for e in report["events"]] == ["upload", "yank"]
    assert impact(server, "imp-pkg", "--version", "2.0")["files"] == []
    csv = server.cli("admin", "impact", "imp-pkg", "--csv").stdout
    assert f"file,1.0,{wheel.filename},{wheel.sha256}," in csv, csv
    assert f"kind,pip,{PIP_INSTALLS},{PIP_INSTALLS}" in csv, csv
    text = server.cli("admin", "impact", "imp-pkg").stdout
    assert "imp-app 2.0" in text and "(yanked)" in text, text
    bad = server.cli("admin", "impact", "not a name!", check=False)
    assert bad.returncode != 0 and "not a valid project name" in srkit.output(bad)

    # The admin page: the tables and an SVG chart with the events on its axis; 404 for others.
    server.create_user("root", PW, admin=True)
    web = Web(server.url)
    web.login("root", PW)
    page = web.get("/admin/impact/imp-pkg/")
    assert page.status_code == 200, page.text[:500]
    assert "<svg" in page.text and 'class="event event-upload"' in page.text
    assert 'class="event event-yank"' in page.text
    assert page.text.count("<rect ") >= 1
    shown = page_text(page)
    assert wheel.filename in shown and "127.0.0.1" in shown and "imp-app" in shown, shown[:2000]
    assert "<script" not in page.text.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert web.get("/admin/impact/imp-pkg/?since=nonsense").status_code == 400
    server.create_user("mallory", PW)
    other = Web(server.url)
    other.login("mallory", PW)
    assert other.get("/admin/impact/imp-pkg/").status_code == 404


def test_reads_of_an_upstream_project_through_the_gateway_are_counted(gateway, upstream, backend_kind):
    """The gateway's pages count as local ones: the first read (asked upstream), the reads of
    the kept page, a 304, the JSON API, by client kind; a 404 for a name nobody serves counts
    nothing."""
    upstream.add_wheel("far-away", "1.0")
    gw = gateway(backend_kind, upstream)
    pip = {"User-Agent": 'pip/24.2 {"ci":null,"implementation":{"name":"CPython"}}'}
    uv = {"User-Agent": "uv/0.5.1", "Accept": srkit.SIMPLE_JSON}
    browser = {"User-Agent": CHROME}
    first = gw.get("/simple/far-away/", headers=pip)
    assert first.status_code == 200, first.text[:300]
    assert gw.get("/simple/far-away/", headers=pip).status_code == 200  # the kept page
    etag = first.headers.get("ETag")
    assert etag, first.headers
    again = gw.get("/simple/far-away/", headers={**pip, "If-None-Match": etag})
    assert again.status_code == 304, again.status_code
    assert gw.get("/simple/far-away/", headers=uv).status_code == 200
    assert gw.get("/pypi/far-away/json", headers=browser).status_code == 200
    assert gw.get("/simple/nobody-serves-this/", headers=pip).status_code == 404
    report = wait_for(gw, "far-away", downloads=0, hits=5)
    got = kinds(report)
    assert got.get("pip", (0, 0))[0] == 3, got
    assert got.get("uv", (0, 0))[0] == 1, got
    assert got.get("browser", (0, 0))[0] == 1, got
    assert sum(h for h, _ in got.values()) == 5, got
    assert "nobody-serves-this" not in json.dumps(report)
