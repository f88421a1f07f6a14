"""Two servers on one PostgreSQL and one bucket behind a real nginx terminating TLS, configured by
the nginx block of docs/operations.md ("Production setup from nothing"), read from the document
here so that the document cannot drift from what is tested; twine uploads and pip installs go
through https with a self-signed certificate (`--cert`)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import requests

import srkit

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
SECTION = "## Production setup from nothing"


def fenced(lang: str) -> str:
    """The one ```lang block of the doc's production-setup section."""
    text = DOC.read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ", len(SECTION))]
    blocks = re.findall(rf"^```{lang}\n(.*?)^```", section, flags=re.S | re.M)
    assert len(blocks) == 1, f"docs/operations.md, {SECTION!r}: expected one {lang} block, found {len(blocks)}"
    return blocks[0]


def size_bytes(value: str) -> int:
    m = re.fullmatch(r"(\d+)([kmg]?)", value.strip().lower())
    assert m, value
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2)]


def substitute(block: str, replacements: dict[str, str]) -> str:
    """Replace each placeholder of the doc's block; every one must be there (else the test no
    longer runs what the doc says)."""
    for old, new in replacements.items():
        assert old in block, f"the nginx block of docs/operations.md no longer contains {old!r}"
        block = block.replace(old, new)
    return block


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_bin() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found:
        pytest.fail("nginx is not installed (scripts/test.sh installs it with apt)", pytrace=False)
    return found


def self_signed(tmp: Path) -> tuple[Path, Path]:
    crt, key = tmp / "localhost.crt", tmp / "localhost.key"
    srkit.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
               "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
               "-keyout", key, "-out", crt], timeout=60)
    return crt, key


def test_the_documented_production_setup_pip_and_twine_through_nginx_with_tls(strongroom, dists, tmp_path):
    block = fenced("nginx")
    settings = tomllib.loads(fenced("toml"))
    # The doc's own numbers agree: nginx takes a file as large as strongroom does, and streams it.
    max_body = re.search(r"client_max_body_size\s+(\S+);", block)
    assert max_body and size_bytes(max_body.group(1)) > settings["limits"]["max_file_size"], max_body
    assert re.search(r"proxy_request_buffering\s+off;", block)
    assert settings["migrate_on_start"] is False and "trusted_ips" in settings["proxy"]
    # strongroom itself takes the doc's file as written (unknown or misspelt keys are refused).
    example = tmp_path / "strongroom.toml"
    example.write_text(fenced("toml"))
    shown = srkit.run([srkit.strongroom_bin(), "--config", example, "config", "show"], timeout=60)
    assert shown.returncode == 0, srkit.output(shown)
    for line in ("migrate_on_start", "db.pool_size", "log_format", "proxy.trusted_ips"):
        assert re.search(rf"^{re.escape(line)}\s+= .*# file", shown.stdout, re.M), (line, shown.stdout)
    assert "SECRET" not in shown.stdout and "PASSWORD" not in shown.stdout, shown.stdout

    https_port, http_port = free_port(), free_port()
    public_url = f"https://localhost:{https_port}"
    backend = strongroom.pool.backend("pg_s3")
    # The scale-out setup: the schema migrated once, both servers started without migrating.
    env = {"STRONGROOM_PUBLIC_URL": public_url, "STRONGROOM_PROXY__TRUSTED_IPS": "127.0.0.1",
           "STRONGROOM_MIGRATE_ON_START": "false"}
    srkit.Server(backend, tmp_path / "migrate", env).cli("migrate")
    a = strongroom(backend, env=env)
    b = strongroom(backend, env=env)

    crt, key = self_signed(tmp_path)
    conf = substitute(block, {
        "server 10.0.0.11:8080": f"server {a.host}",
        "server 10.0.0.12:8080": f"server {b.host}",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "server_name pypi.example.org;": "server_name localhost;",
        "/etc/nginx/tls/pypi.example.org.crt": str(crt),
        "/etc/nginx/tls/pypi.example.org.key": str(key),
    })
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    temp = "\n".join(f"    {d}_temp_path {prefix / d};" for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (prefix / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
        + "events { worker_connections 256; }\n"
        + "http {\n    log_format upstream '$upstream_addr $status \"$request\"';\n"
        + f"    access_log {prefix / 'access.log'} upstream;\n{temp}\n{conf}\n}}\n")
    srkit.run([nginx_bin(), "-t", "-p", prefix, "-c", prefix / "nginx.conf"], timeout=30)
    proc = subprocess.Popen([nginx_bin(), "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                r = requests.get(f"{public_url}/healthz", verify=str(crt), timeout=5)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, (prefix / "error.log").read_text()
                time.sleep(0.1)
        assert r.status_code == 200 and r.text.strip() == "ok", r.text
        # HSTS goes out through the TLS proxy (X-Forwarded-Proto: https from a trusted proxy)...
        r = requests.get(f"{public_url}/simple/", verify=str(crt), timeout=10)
        assert r.status_code == 200 and "max-age=" in r.headers.get("Strict-Transport-Security", ""), r.headers
        # ...and plain HTTP is sent to https.
        r = requests.get(f"http://127.0.0.1:{http_port}/simple/", allow_redirects=False, timeout=10)
        assert r.status_code == 301 and r.headers["Location"].startswith("https://"), r.headers

        # The clients trust the certificate through --cert alone (a CA bundle named in the
        # environment would win over twine's --cert: requests prefers REQUESTS_CA_BUNDLE).
        env = {k: v for k, v in srkit.client_env(tmp_path).items()
               if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")}
        token = a.user_with_token("alice")
        srkit.run([srkit.tool("twine"), "upload", "--repository-url", f"{public_url}/legacy/", "--cert", crt,
                   "-u", "__token__", "-p", token, "--non-interactive", "--disable-progress-bar",
                   *dists.demo_v1], env=env, timeout=300)
        # Several installs, so nginx's round robin sends them to both servers.
        for i in range(3):
            target = tmp_path / f"pip{i}"
            srkit.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", "--cert", crt,
                       "--index-url", f"{public_url}/simple/", "--target", target, "sr-demo"],
                      env=env, timeout=300)
            assert srkit.installed(target) == {"sr-demo": "1.0"}
        # The simple page links files through public_url: https, the proxy's port.
        page = requests.get(f"{public_url}/simple/sr-demo/", verify=str(crt), timeout=10,
                            headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
        assert page["files"] and all(not f["url"].startswith("http://") for f in page["files"]), page
        # The id is nginx's own: a client's X-Request-Id is replaced by the proxy (strongroom
        # keeps a trusted proxy's id, so without the doc's proxy_set_header the client chose it).
        r = requests.get(f"{public_url}/simple/", verify=str(crt), timeout=10,
                         headers={"X-Request-Id": "client-chosen-id"})
        assert r.status_code == 200 and re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-Id"]), r.headers
        assert "client-chosen-id" not in (a.stderr_text() + b.stderr_text())
        # Both servers answered through the proxy.
        upstreams = {ln.split()[0] for ln in (prefix / "access.log").read_text().splitlines() if ln.strip()}
        assert {a.host, b.host} <= upstreams, upstreams
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
