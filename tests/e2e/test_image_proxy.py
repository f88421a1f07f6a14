"""External images in project descriptions (issue 11): off by default, where they are shown as
links and the proxy answers nothing; on, through `/image-proxy/<hmac>/<hex url>` with the server's
own headers, no cookies either way, raster images only (served as the one type their bytes
prove, never the origin's Content-Type), a size cap, and an SSRF guard that
refuses loopback (here admitted only by the test knob) and private addresses, also after a
redirect. The images come from a real HTTP server on 127.0.0.1. The rewrite happens when a page
is built, so turning the proxy on takes effect at the next start without re-rendering."""

from __future__ import annotations

import http.server
import re
import threading
import time

import pytest

import srkit
from test_descriptions import assert_sanitised, description_of, upload

# a 1x1 PNG
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
MAX_BYTES = 4096
PHISHING = b"<!doctype html><title>Sign in</title><form action=https://evil.example/>password</form>"


class _Images(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # bodies without Content-Length end at close
    seen: list[dict[str, str]] = []

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        _Images.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        if self.path == "/ok.png":
            self._send(200, "image/png", PNG, [("Set-Cookie", "tracker=1; Path=/")])
        elif self.path == "/big.png":
            # no Content-Length: the proxy must stop reading at its cap
            self._send(200, "image/png", PNG + b"\0" * (MAX_BYTES * 4), length=False)
        elif self.path == "/endless.png":
            # 64 MiB with no Content-Length: held whole, eight of these would be 512 MiB
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            try:
                for _ in range(1024):
                    self.wfile.write(b"\0" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif self.path == "/slow.png":
            time.sleep(4)
            self._send(200, "image/png", PNG)
        elif self.path == "/listed.png":
            # a list of types: a browser takes the last one, so passed on this would be a page
            self._send(200, "image/png, text/html", PHISHING)
        elif self.path == "/html.png":
            self._send(200, "image/png", PHISHING)
        elif self.path == "/twice.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)
        elif self.path == "/mislabelled.jpg":
            # a PNG declared as a JPEG, in capitals with a parameter: served as what its bytes are
            self._send(200, "IMAGE/JPEG; charset=binary", PNG)
        elif self.path == "/page.html":
            self._send(200, "text/html", b"<script>alert(1)</script>")
        elif self.path == "/logo.svg":
            self._send(200, "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
        elif self.path == "/to-private.png":
            self._send(302, "text/plain", b"", [("Location", "http://10.0.0.1/x.png")])
        elif self.path == "/to-ok.png":
            self._send(302, "text/plain", b"", [("Location", "/ok.png")])
        else:
            self._send(404, "text/plain", b"no")

    def _send(self, status, ctype, body, headers=(), length=True):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def image_server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    _Images.seen.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


NAMES = ["ok", "big", "page", "svg", "to-private", "to-ok", "by-name", "endless", "slow",
         "listed", "html", "twice", "mislabelled", "tall", "wide"]


def description(base: str) -> str:
    port = base.rsplit(":", 1)[1]
    return "\n\n".join([
        "# Images",
        f'<p align="center"><img src="{base}/ok.png" alt="ok" width="20"></p>',
        f"![big]({base}/big.png)",
        f"![page]({base}/page.html)",
        f"![svg]({base}/logo.svg)",
        f"![to-private]({base}/to-private.png)",
        f"![to-ok]({base}/to-ok.png)",
        f"![endless]({base}/endless.png)",
        f"![slow]({base}/slow.png)",
        f"![listed]({base}/listed.png)",
        f"![html]({base}/html.png)",
        f"![twice]({base}/twice.png)",
        f"![mislabelled]({base}/mislabelled.jpg)",
        # absurd dimensions (the page would be 10^8 px tall) are dropped when rendered
        f'<p><img src="{base}/ok.png" alt="tall" width="1" height="99999999"><img src="{base}/ok.png" alt="wide" width="99999999" height="20"></p>',
        # a name that resolves to loopback: the resolver's check, not the literal's
        f"![by-name](http://localhost:{port}/ok.png)",
    ])


def proxied_sources(page: str) -> dict[str, str]:
    """alt text → the <img src> of each image in the description."""
    fragment = description_of(page)
    found = {}
    for tag in re.findall(r"<img [^>]*>", fragment):
        src = re.search(r'src="([^"]*)"', tag).group(1)
        alt = re.search(r'alt="([^"]*)"', tag).group(1)
        found[alt] = src.replace("&amp;", "&")
    return found


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def proxy_env(**extra: str) -> dict[str, str]:
    env = {"STRONGROOM_IMAGES__PROXY": "true", "STRONGROOM_IMAGES__PROXY_MAX_BYTES": str(MAX_BYTES),
           "STRONGROOM_IMAGES__PROXY_TIMEOUT_SECONDS": "2"}
    env.update(extra)
    return env


def test_images_are_links_by_default_and_proxied_once_turned_on(strongroom, backend_kind, image_server):
    # the default: no proxy; images are links, and the browser is never sent to the image host
    server = strongroom(backend_kind)
    token = server.user_with_token("alice")
    upload(server, token, "pictures", description(image_server), "text/markdown")
    fragment = description_of(server.get("/project/pictures/").text)
    assert_sanitised(fragment)
    assert "<img" not in fragment, fragment
    assert f'<a class="description-image" href="{image_server}/ok.png" rel="nofollow noopener noreferrer">image: ok</a>' in fragment, fragment
    assert '<p align="center">' in fragment, fragment
    assert server.get("/image-proxy/00/00").status_code == 404
    assert _Images.seen == [], "a page view made the server fetch an image with the proxy off"

    # turned on (with the loopback knob for this local image server): the stored HTML is the
    # same, the page now points at the proxy
    server.stop()
    on = srkit.Server(server.backend, server.data_dir, extra_env=proxy_env(STRONGROOM_TESTING__IMAGE_PROXY_ALLOW_LOOPBACK="true"))
    strongroom.pool.servers.append(on)
    on.start()
    page = on.get("/project/pictures/").text
    sources = proxied_sources(page)
    assert set(sources) == set(NAMES), sources
    for alt, src in sources.items():
        assert src.startswith("/image-proxy/"), (alt, src)
        assert image_server not in src and "localhost" not in src
    tags = {re.search(r'alt="([^"]*)"', t).group(1): t for t in re.findall(r"<img [^>]*>", description_of(page))}
    assert 'width="20"' in tags["ok"], tags["ok"]
    assert 'width="1"' in tags["tall"] and "height" not in tags["tall"], tags["tall"]
    assert 'height="20"' in tags["wide"] and "width" not in tags["wide"], tags["wide"]

    # served through the proxy with our headers only; the browser's cookie is not passed on,
    # the image host's cookie is not passed back
    r = on.get(sources["ok"], headers={"Cookie": "session=secret-value", "Referer": on.url + "project/pictures/"})
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.content == PNG
    assert r.headers["Content-Type"] == "image/png"
    assert "set-cookie" not in {k.lower() for k in r.headers}
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    fetched = [s for s in _Images.seen if s["path"] == "/ok.png"][-1]
    assert "cookie" not in fetched and "secret-value" not in str(fetched), fetched
    assert "referer" not in fetched, fetched
    assert fetched["user-agent"].startswith("strongroom-image-proxy/"), fetched

    # a redirect to another allowed place is followed (and checked)
    r = on.get(sources["to-ok"])
    assert r.status_code == 200 and r.content == PNG, r.status_code

    # refused: too large (no Content-Length, cut at the cap), not an image, SVG, a redirect to a
    # private address (the origin never reaches 10.0.0.1: the redirect is checked first)
    assert on.get(sources["big"]).status_code == 502
    assert on.get(sources["page"]).status_code == 502
    assert on.get(sources["svg"]).status_code == 502
    # the served type is never the origin's: a list of types (a browser would read the last,
    # text/html), two Content-Type headers, or HTML labelled image/png are refused; an image is
    # served as the one type its bytes prove, whatever it was declared as
    for alt in ("listed", "html", "twice"):
        r = on.get(sources[alt])
        assert r.status_code == 502, (alt, r.status_code, r.headers, r.text)
        assert "passes on PNG, JPEG, GIF, WebP, AVIF and icon images only" in r.text, (alt, r.text)
        assert b"Sign in" not in r.content and r.headers["Content-Type"] == "text/plain; charset=utf-8", alt
    r = on.get(sources["mislabelled"])
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.content == PNG and r.headers["Content-Type"] == "image/png", r.headers
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    r = on.get(sources["to-private"])
    assert r.status_code == 403, (r.status_code, r.text)
    # too slow: the timeout answers (the image server sleeps 4 s, the proxy waits 2)
    assert on.get(sources["slow"]).status_code == 504

    # memory: an endless image is read only up to the cap (generous ceiling: 8 x 64 MiB offered)
    rss_before = rss_bytes(on.proc.pid)
    for _ in range(8):
        assert on.get(sources["endless"]).status_code == 502
    grown = rss_bytes(on.proc.pid) - rss_before
    print(f"8 endless images: server RSS grew by {grown / 2**20:.1f} MiB")
    assert grown < 48 * 2**20, f"RSS grew by {grown} bytes"

    # not an open proxy: a URL of our choosing, or the signature of another, is refused unread
    seen_before = len(_Images.seen)
    sig, hex_url = sources["ok"].removeprefix("/image-proxy/").split("/")
    other = (image_server + "/page.html").encode().hex()
    assert on.get(f"/image-proxy/{sig}/{other}").status_code == 404
    assert on.get(f"/image-proxy/{'0' * 64}/{hex_url}").status_code == 404
    assert on.get(f"/image-proxy/{sig[:-2]}/{hex_url}").status_code == 404
    assert len(_Images.seen) == seen_before
    on.stop()


def test_the_guard_refuses_loopback_without_the_test_knob(strongroom, backend_kind, image_server):
    server = strongroom(backend_kind, env=proxy_env())
    token = server.user_with_token("alice")
    upload(server, token, "pictures", description(image_server), "text/markdown")
    sources = proxied_sources(server.get("/project/pictures/").text)
    assert set(sources) == set(NAMES), sources
    for alt in ("ok", "by-name"):
        r = server.get(sources[alt])
        assert r.status_code == 403, (alt, r.status_code, r.text)
        assert "does not fetch from that address" in r.text
    assert _Images.seen == [], "the guard let a request reach the loopback image server"
    server.stop()
