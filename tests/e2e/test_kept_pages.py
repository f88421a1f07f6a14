"""A kept simple page is answered at the front door, before the router (`server::entry`, issue
14): the answer is the router's, header for header and byte for byte, to every kind of client
(HTML, PEP 691 JSON, gzip, zstd, no coding, revalidation); the request has its request line and
id, and is counted under its route; a Host the index does not answer for is still refused; and a
change to the project is seen at once. On both backends.

The router answers the same page when the URL has a query (`?via=router`: only `format` is read,
and a query never takes the front door's path), so each answer is compared with the router's.
"""

from __future__ import annotations

import json
import re
import time

import requests

import srkit
from srkit import SIMPLE_JSON
from test_host_links import start_public
from test_metrics_shutdown import free_port, metrics_url, scrape, value

# the headers that differ between any two answers
VOLATILE = {"date", "x-request-id"}

CLIENTS = [
    {},  # requests' own: Accept */*, Accept-Encoding gzip, deflate
    {"Accept": SIMPLE_JSON, "Accept-Encoding": "gzip"},
    {"Accept": SIMPLE_JSON, "Accept-Encoding": "zstd, gzip"},
    {"Accept": "text/html", "Accept-Encoding": "identity"},
    {"Accept": f"{SIMPLE_JSON};q=0.1, text/html", "Accept-Encoding": "br"},
    {"Accept": SIMPLE_JSON, "Accept-Encoding": "identity"},
]


def answer(server: srkit.Server, path: str, headers: dict) -> tuple[int, list, bytes]:
    r = requests.get(server.url + path, headers=headers, stream=True, timeout=30)
    body = r.raw.read(decode_content=False)
    heads = sorted((k.lower(), v) for k, v in r.headers.items() if k.lower() not in VOLATILE)
    return r.status_code, heads, body


def test_a_kept_page_is_the_routers_answer_to_every_client(strongroom, backend_kind):
    server = strongroom(backend_kind, env={"STRONGROOM_LOG_FORMAT": "json",
                                           "STRONGROOM_METRICS__BIND": f"127.0.0.1:{free_port()}"})
    token = server.user_with_token("kim")
    # two files: a page over GZIP_MIN (1 KiB), so it has a gzip copy for the gzip clients
    for version in ("1.0", "1.1"):
        srkit.ok_upload(server, token, srkit.make_wheel("sr-kept", version))
    page = "/simple/sr-kept/"
    assert len(server.get(page, headers={"Accept-Encoding": "identity"}).content) > 1024
    metrics = metrics_url(server)
    before = scrape(metrics)
    asked = 0
    plain = 0  # requests without a query: the only ones the front door may take

    def at_front_door(path: str, headers: dict) -> tuple[int, list, bytes]:
        """The answer to a request the front door took (seen on its counter). Whether one
        does is timing (on SQLite a request that finds the write-ahead log moved since the
        last catch-up takes the router, and the page-read counters are written every 2 s;
        a server too busy to catch up within the staleness bound answers from the database),
        so a request the router took is asked again."""
        nonlocal asked, plain
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            was = value(scrape(metrics), "strongroom_front_door_pages_total")
            got = answer(server, path, headers)
            asked += 1
            plain += 1
            if value(scrape(metrics), "strongroom_front_door_pages_total") == was + 1:
                return got
            time.sleep(0.1)
        raise AssertionError(f"the front door never took {path} with {headers} in 30 s")

    for headers in CLIENTS:
        server.get(page, headers=headers)  # rendered, then kept
        front, router = at_front_door(page, headers), answer(server, page + "?via=router", headers)
        asked += 2
        plain += 1
        assert front[0] == 200 and front == router, (headers, front[:2], router[:2])
        heads = dict(front[1])
        assert heads["x-content-type-options"] == "nosniff" and "etag" in heads, heads
        if headers.get("Accept-Encoding") not in (None, "identity", "br"):
            assert heads["content-encoding"] in headers["Accept-Encoding"], heads
        # revalidation with this answer's tag: 304 on both ways, and the same 304
        again = {**headers, "If-None-Match": heads["etag"]}
        front304, router304 = at_front_door(page, again), answer(server, page + "?via=router", again)
        asked += 1
        assert front304[0] == 304 and front304 == router304, (front304, router304)

    # the request line and id of an answer from the front door
    r = server.get(page, headers={"User-Agent": "kept-check/1"})
    asked += 1
    plain += 1
    rid = r.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid), rid

    def line():
        for text in server.stderr_text().splitlines():
            if rid in text:
                e = json.loads(text)
                if e.get("target") == "strongroom::request":
                    return e
        return None

    assert srkit.wait_until(lambda: line() is not None, timeout=20), "no request line for " + rid
    found = line()
    assert (found["method"], found["path"], found["status"]) == ("GET", page, 200), found
    assert found["client"] == "127.0.0.1" and found["user_agent"] == "kept-check/1", found

    # every answer counted under the route's template
    after = scrape(metrics)
    route = dict(route="/simple/{name}/", method="GET")
    counted = sum(value(after, "strongroom_http_requests_total", status=s, **{"class": c}, **route)
                  - value(before, "strongroom_http_requests_total", status=s, **{"class": c}, **route)
                  for s, c in (("200", "2xx"), ("304", "3xx")))
    assert counted == asked, (counted, asked)
    # the front door took a plain and a revalidating request of every client (above), and
    # never one with a query: there were as many of those as plain requests
    front = value(after, "strongroom_front_door_pages_total") - value(before, "strongroom_front_door_pages_total")
    assert front <= plain < asked, (front, plain, asked)

    # a new release is on the next answer, on both ways
    srkit.ok_upload(server, token, srkit.make_wheel("sr-kept", "2.0"))
    for path in (page, page + "?via=router"):
        listed = server.get(path, headers={"Accept": SIMPLE_JSON}).json()
        assert {f["filename"] for f in listed["files"]} >= {"sr_kept-2.0-py3-none-any.whl"}, listed


def test_a_kept_page_is_refused_to_a_host_the_index_does_not_answer_for(strongroom, backend_kind):
    server = start_public(strongroom, backend_kind)  # answers localhost and 127.0.0.1 only
    token = server.user_with_token("kim")
    srkit.ok_upload(server, token, srkit.make_wheel("sr-kept-host", "1.0"))
    page = "/simple/sr-kept-host/"
    for _ in range(2):  # the second one from the kept page
        assert server.get(page).status_code == 200
    refused = server.get(page, headers={"Host": "evil.example"})
    assert refused.status_code == 421, (refused.status_code, refused.text)
    bad = server.get(page, headers={"Host": "bad host"})
    assert bad.status_code == 400, (bad.status_code, bad.text)
