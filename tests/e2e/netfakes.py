"""A DNS server and an RDAP server on 127.0.0.1 for the email-domain checks: real sockets and real
protocols (DNS over UDP, RFC 1035; RDAP over HTTP, RFC 9083 documents), zones the test edits.

    dns = FakeDNS(); dns.zone["example.test"] = {"MX": ["mx.example.test"], "A": ["192.0.2.1"]}
    rdap = FakeRDAP(); rdap.domains["example.test"] = rdap_domain("example.test", registered=..., expires=...)
    env = {"STRONGROOM_DOMAINS__RESOLVER": dns.addr, "STRONGROOM_DOMAINS__RDAP_URL": rdap.url}

A name missing from `dns.zone` answers NXDOMAIN; `dns.servfail` answers SERVFAIL for everything;
`rdap.down` makes every RDAP request a 503.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socket
import struct
import threading

TYPES = {"A": 1, "MX": 15, "AAAA": 28}


def _name(labels: str) -> bytes:
    out = b""
    for part in labels.rstrip(".").split("."):
        out += bytes([len(part)]) + part.encode()
    return out + b"\0"


def _read_qname(msg: bytes, off: int) -> tuple[str, int]:
    labels = []
    while msg[off]:
        n = msg[off]
        labels.append(msg[off + 1: off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    return ".".join(labels), off + 1


class FakeDNS:
    def __init__(self) -> None:
        self.zone: dict[str, dict[str, list[str]]] = {}
        self.servfail = False
        self.queries: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _answer(self, query: bytes) -> bytes:
        (qid, flags, qd, _an, _ns, _ar) = struct.unpack(">HHHHHH", query[:12])
        qname, off = _read_qname(query, 12)
        qtype, qclass = struct.unpack(">HH", query[off: off + 4])
        question = query[12: off + 4]
        kind = {v: k for k, v in TYPES.items()}.get(qtype, str(qtype))
        self.queries.append((qname.lower(), kind))
        rd = flags & 0x0100
        if self.servfail:
            return struct.pack(">HHHHHH", qid, 0x8000 | rd | 0x0080 | 2, 1, 0, 0, 0) + question
        records = self.zone.get(qname.lower().rstrip("."))
        if records is None:
            return struct.pack(">HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080 | 3, 1, 0, 0, 0) + question
        answers = b""
        count = 0
        for value in records.get(kind, []):
            if kind == "A":
                rdata = socket.inet_pton(socket.AF_INET, value)
            elif kind == "AAAA":
                rdata = socket.inet_pton(socket.AF_INET6, value)
            else:  # MX: preference + exchange
                rdata = struct.pack(">H", 10) + _name(value)
            answers += b"\xc0\x0c" + struct.pack(">HHIH", qtype, qclass, 300, len(rdata)) + rdata
            count += 1
        return struct.pack(">HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080, 1, count, 0, 0) + question + answers

    def _serve(self) -> None:
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                self.sock.sendto(self._answer(data), peer)
            except Exception:  # a malformed query gets no answer, like a real server would drop it
                continue

    def stop(self) -> None:
        self._stop = True
        self.sock.close()


def rdap_time(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rdap_domain(name: str, *, registered: dt.datetime, expires: dt.datetime,
                status: list[str] | None = None) -> dict:
    """An RFC 9083 domain object, as registries answer it."""
    return {
        "objectClassName": "domain",
        "rdapConformance": ["rdap_level_0"],
        "ldhName": name.upper(),
        "handle": f"{name.upper()}-TEST",
        "status": status if status is not None else ["active"],
        "events": [
            {"eventAction": "registration", "eventDate": rdap_time(registered)},
            {"eventAction": "expiration", "eventDate": rdap_time(expires)},
            {"eventAction": "last update of RDAP database", "eventDate": rdap_time(dt.datetime.now(dt.timezone.utc))},
        ],
        "links": [{"rel": "self", "href": f"https://rdap.test/domain/{name}", "type": "application/rdap+json"}],
    }


class FakeRDAP:
    def __init__(self) -> None:
        self.domains: dict[str, dict] = {}
        self.down = False
        self.requests: list[str] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                fake.requests.append(self.path)
                if fake.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                prefix = "/domain/"
                name = self.path[len(prefix):].lower().rstrip(".") if self.path.startswith(prefix) else ""
                doc = fake.domains.get(name)
                if doc is None:
                    body = json.dumps({"errorCode": 404, "title": "Not Found",
                                       "rdapConformance": ["rdap_level_0"]}).encode()
                    self.send_response(404)
                else:
                    body = json.dumps(doc).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/rdap+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
