"""Health and readiness: outages of the database and the blob store are fast, clear and temporary.

- `/healthz` says only that the process answers (200 even while storage is down: an orchestrator
  must not restart a server for an outage it cannot fix); `/readyz` checks the database (a write),
  the blob store (write, read back, delete) and the schema, answers 200 `ready` or 503 with one
  line per failed check, and is exempt from the Host allow-list like `/healthz`.
- PostgreSQL stopped under a pip loop: requests that need it get 503 with a reason and
  Retry-After within seconds (they hung 30 s), and service returns by itself when it is back.
- `serve` started while PostgreSQL is down binds, answers 503 (and `/readyz` 503), and opens by
  itself once PostgreSQL answers (it refused to start).
- The S3 server stopped: downloads get 503 at once (they took 2-3 s of retries, then a 500),
  and come back with it.
- A file whose upload was refused during an S3 outage uploads at once when S3 is back (its failed
  clean-up held the key for ten minutes: every retry waited 15 s and got 409).
- A wrong S3 secret, or an http:// endpoint without `s3.allow_http`, stops `serve` at start
  with a message naming the keys to fix (it started, `/healthz` said 200, every upload got 500).

The tests that stop PostgreSQL or S3 start their own private cluster / S3 server.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

import srkit

# Generous ceilings: an outage must be answered in seconds, not after a 30 s timeout.
FAST = 5.0


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def timed_get(url: str, **kw) -> tuple[requests.Response, float]:
    kw.setdefault("timeout", 60)
    kw.setdefault("allow_redirects", False)
    t = time.monotonic()
    resp = requests.get(url, **kw)
    return resp, time.monotonic() - t


def assert_fast_503(url: str, says: str) -> None:
    resp, took = timed_get(url)
    assert resp.status_code == 503, (url, resp.status_code, resp.text)
    assert took < FAST, f"{url}: 503 after {took:.1f}s"
    assert says in resp.text, resp.text
    assert int(resp.headers["Retry-After"]) >= 1


def assert_ready(base: str, timeout: float = 60.0) -> None:
    ok = srkit.wait_until(lambda: requests.get(base + "/readyz", timeout=30).status_code == 200,
                          timeout=timeout, interval=0.5)
    last = requests.get(base + "/readyz", timeout=30)
    assert ok, f"not ready after {timeout}s: {last.status_code} {last.text}"
    assert last.text == "ready\n"


# --------------------------------------------------------------------------------------------
# a private PostgreSQL cluster and a private S3 server (they are stopped and started again)


def pg_bin() -> Path:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql", pytrace=False)
    raise AssertionError


class PgCluster:
    """A throwaway cluster on 127.0.0.1 (as scripts/test.sh starts one), with a fixed port."""

    def __init__(self):
        self.bin = pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="sr-health-pg-", dir="/tmp"))
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.dir.chmod(0o700)
        self.port = free_port()
        srkit.run([*self.as_pg, self.bin / "initdb", "-D", self.dir / "data", "-A", "trust", "-U", "postgres",
                   "--no-sync"], timeout=120)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        opts = (f"-k {self.dir} -c listen_addresses=127.0.0.1 -p {self.port} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        srkit.run([*self.as_pg, self.bin / "pg_ctl", "-D", self.dir / "data", "-l", self.dir / "log", "-w",
                   "-t", "45", "-o", opts, "start"], timeout=60)

    def stop(self, mode: str = "fast") -> None:
        srkit.run([*self.as_pg, self.bin / "pg_ctl", "-D", self.dir / "data", "-m", mode, "-w", "-t", "30",
                   "stop"], timeout=60, check=False)

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def pg_cluster():
    c = PgCluster()
    yield c
    c.close()


class S3Server:
    """A private strongroom-s3-test-server (s3s-fs, SigV4) with a fixed port and folder, so that
    a restart serves the same objects."""

    def __init__(self, root: Path):
        target = Path(os.environ.get("CARGO_TARGET_DIR") or srkit.REPO_ROOT / "target")
        self.bin = target / "debug" / "strongroom-s3-test-server"
        if not self.bin.exists():
            pytest.fail(f"{self.bin} not found (cargo build -p strongroom-testkit)", pytrace=False)
        self.root = root
        self.port = free_port()
        self.s3 = srkit.S3(endpoint=f"http://127.0.0.1:{self.port}", access_key="health-access",
                           secret_key="health-secret-0123456789abcdef")
        self.bucket = "health"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        out = open(self.root.parent / "s3-health.out", "ab")
        self.proc = subprocess.Popen(
            [str(self.bin), "--root", str(self.root), "--host", "127.0.0.1", "--port", str(self.port),
             "--access-key", self.s3.access_key, "--secret-key", self.s3.secret_key, "--bucket", self.bucket],
            stdout=out, stderr=subprocess.STDOUT)
        out.close()

        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False

        assert srkit.wait_until(up, timeout=30), "the private S3 server did not start"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def backend(self) -> srkit.Backend:
        return srkit.Backend("sqlite_s3", bucket=self.bucket, s3=self.s3)


@pytest.fixture
def s3_server(tmp_path):
    s = S3Server(tmp_path / "s3")
    s.start()
    yield s
    s.stop()


def publish(server: srkit.Server, name: str) -> tuple[srkit.Dist, str]:
    """Upload `name` 1.0 as a new account; returns the file and the account's token."""
    token = server.user_with_token(name.replace("-", "") + "owner")
    dist = srkit.make_wheel(name, "1.0", payload="VERSION = '1.0'\n")
    srkit.ok_upload(server, token, dist)
    return dist, token


# --------------------------------------------------------------------------------------------
# readiness on the default backends


def test_readyz_checks_storage_and_answers_for_any_host(strongroom, backend_kind):
    server = strongroom(backend_kind, env={"STRONGROOM_PUBLIC_URL": "http://index.example.test"})
    resp = server.get("/readyz", headers={"Host": "10.9.8.7:1234"})
    assert resp.status_code == 200, resp.text
    assert resp.text == "ready\n"
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.headers.get("Cache-Control") == "no-store"
    # Other routes still refuse that Host.
    assert server.get("/simple/", headers={"Host": "10.9.8.7:1234"}).status_code == 421
    # The probe leaves nothing in the blob store.
    assert server.blob_keys() == set()
    if backend_kind == "pg_s3":
        # Each server names itself to PostgreSQL.
        names = srkit.pg_exec(server.backend.database,
                              "SELECT DISTINCT application_name FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        pid = server.proc.pid
        assert re.search(rf"^strongroom \S+:{pid}$", names, re.M), names


# --------------------------------------------------------------------------------------------
# PostgreSQL stopped and started again


def test_postgres_outage_is_answered_503_fast_and_service_returns_by_itself(strongroom, pg_cluster, tmp_path):
    pg_cluster.start()
    backend = srkit.Backend("pg_files", database=pg_cluster.url, secrets_key=srkit.new_secrets_key())
    server = strongroom(backend)
    dist, token = publish(server, "sr-pgdown")
    download = server.url + dist.path
    assert requests.get(download, timeout=30).content == dist.data
    pid = server.proc.pid

    pg_cluster.stop()
    # What the server keeps (pages, and what it knows of a download) is served without a
    # database read while its last catch-up read began under a second ago (the staleness
    # bound); a killed server's sessions may still answer for a few seconds. After that every
    # answer needs the database, and fails fast with the reason.
    t = time.monotonic()
    assert srkit.wait_until(lambda: requests.get(download, timeout=30).status_code == 503, timeout=20), \
        "a kept download was still served 20 s into the outage"
    print(f"the kept download was served for {time.monotonic() - t:.1f} s into the outage")
    for _ in range(3):
        # A pip loop while the database is down: each run fails in seconds, with the reason.
        t = time.monotonic()
        proc = srkit.pip(["download", "--no-cache-dir", "--retries", "0", "--timeout", "60", "--no-deps",
                          "--index-url", server.simple_url + "sr-pgdown/", "--dest", str(tmp_path / "dl"),
                          "sr-pgdown"], tmp_path, check=False, timeout=120)
        took = time.monotonic() - t
        assert proc.returncode != 0
        assert took < 30, f"pip took {took:.0f}s to give up"
        assert_fast_503(download, "database")
        assert_fast_503(f"{server.url}/pypi/sr-newproj/json", "database")
    resp, took = timed_get(server.url + "/healthz")
    assert (resp.status_code, resp.text) == (200, "ok\n") and took < FAST
    resp, took = timed_get(server.url + "/readyz")
    assert resp.status_code == 503 and took < FAST + 5, (resp.text, took)
    assert re.search(r"^database: ", resp.text, re.M), resp.text
    upload = srkit.upload_raw(server, token, srkit.make_wheel("sr-pgdown", "2.0"))
    assert upload.status_code == 503 and "database" in upload.text, (upload.status_code, upload.text)

    pg_cluster.start()
    assert_ready(server.url)
    assert server.proc.poll() is None and server.proc.pid == pid, "served on without a restart"
    target = tmp_path / "target"
    srkit.pip_install(server, ["sr-pgdown"], target, tmp_path)
    assert srkit.installed(target) == {"sr-pgdown": "1.0"}
    # Writes work again too.
    publish(server, "sr-pgback")


def test_serve_started_while_postgres_is_down_opens_when_it_answers(pg_cluster, tmp_path):
    port = free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_SECRETS__KEY=srkit.new_secrets_key(), STRONGROOM_DATA=str(data))
    err = open(tmp_path / "serve.err", "wb")
    proc = subprocess.Popen([str(srkit.strongroom_bin()), "serve", "--data", str(data), "--database", pg_cluster.url,
                             "--bind", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=err, env=env, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def answers() -> bool:
            try:
                return requests.get(base + "/healthz", timeout=5).status_code == 200
            except requests.ConnectionError:
                return False

        assert srkit.wait_until(answers, timeout=30), (
            f"serve does not answer while the database is down (exit {proc.poll()}):\n"
            + (tmp_path / "serve.err").read_text(errors="replace")[-3000:])
        resp, took = timed_get(base + "/readyz")
        assert resp.status_code == 503 and took < FAST, (resp.text, took)
        assert re.search(r"^database: not reachable yet", resp.text, re.M), resp.text
        assert "postgres://" not in resp.text
        assert_fast_503(base + "/simple/", "database is not reachable yet")
        assert_fast_503(base + "/account/login/", "database is not reachable yet")

        pg_cluster.start()
        assert_ready(base)
        assert proc.poll() is None
        resp = requests.get(base + "/simple/", timeout=30)
        assert resp.status_code == 200, resp.text
        login = requests.get(base + "/account/login/", timeout=30)
        assert login.status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        err.close()
    assert "panicked at" not in (tmp_path / "serve.err").read_text(errors="replace")


# --------------------------------------------------------------------------------------------
# S3 stopped and started again; S3 misconfigured at start


def test_s3_outage_is_answered_503_fast_and_service_returns_by_itself(strongroom, s3_server, tmp_path):
    server = strongroom(s3_server.backend())
    dist, _ = publish(server, "sr-s3down")
    download = server.url + dist.path
    assert requests.get(download, timeout=30).content == dist.data

    s3_server.stop()
    for _ in range(5):
        assert_fast_503(download, "file store")
        assert_fast_503(download + ".metadata", "file store")
    resp = server.get("/healthz")
    assert resp.status_code == 200
    resp, took = timed_get(server.url + "/readyz")
    assert resp.status_code == 503 and took < FAST + 5, (resp.text, took)
    assert re.search(r"^blob store: unreachable", resp.text, re.M), resp.text
    assert "database" not in resp.text
    t = time.monotonic()
    token = server.user_with_token("s3downer")
    upload = srkit.upload_raw(server, token, srkit.make_wheel("sr-s3other", "1.0"))
    assert upload.status_code == 503 and "file store" in upload.text, (upload.status_code, upload.text)
    assert time.monotonic() - t < 20

    s3_server.start()
    assert_ready(server.url)
    assert requests.get(download, timeout=30).content == dist.data
    target = tmp_path / "target"
    srkit.pip_install(server, ["sr-s3down"], target, tmp_path)
    assert srkit.installed(target) == {"sr-s3down": "1.0"}
    publish(server, "sr-s3back")


def test_a_file_tried_during_an_s3_outage_uploads_at_once_when_s3_is_back(strongroom, s3_server, backend_kind,
                                                                          tmp_path):
    """The upload refused during the outage could not delete what it had claimed; that failed
    deletion held the key for its whole ten-minute lease, and every retry of the same file waited
    15 s and got 409 long after S3 was back. A failed delete now ends its lease."""
    backend = s3_server.backend()
    if backend_kind == "pg_s3":
        backend = srkit.Backend("pg_s3", database=srkit.create_pg_database(), bucket=s3_server.bucket,
                                s3=s3_server.s3, secrets_key=srkit.new_secrets_key())
    server = strongroom(backend)
    token = server.user_with_token("blipowner")
    dist = srkit.make_wheel("sr-blip", "1.0", payload="VERSION = '1.0'\n")

    s3_server.stop()
    upload = srkit.upload_raw(server, token, dist)
    assert upload.status_code == 503 and "file store" in upload.text, (upload.status_code, upload.text)

    s3_server.start()
    assert_ready(server.url)
    again = srkit.upload_raw(server, token, dist)
    assert again.status_code == 200, (again.status_code, again.text)
    target = tmp_path / "target"
    srkit.pip_install(server, ["sr-blip"], target, tmp_path)
    assert srkit.installed(target) == {"sr-blip": "1.0"}
    assert requests.get(server.url + dist.path, timeout=30).content == dist.data


def serve_fails(tmp_path: Path, extra_env: dict[str, str]) -> str:
    """Start `serve` on the suite's S3 server with `extra_env`; it must exit non-zero in time.
    Returns what it wrote."""
    s3 = srkit.S3.from_env()
    bucket = s3.create_bucket()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(s3.server_env())
    env.update(extra_env)
    data = tmp_path / "data"
    proc = srkit.run([srkit.strongroom_bin(), "serve", "--data", str(data), "--storage", f"s3://{bucket}",
                      "--bind", "127.0.0.1:0"], env=env, timeout=60, check=False)
    assert proc.returncode != 0, f"serve started:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert "strongroom listening on" not in proc.stdout
    assert s3.list_keys(bucket) == []
    return srkit.output(proc)


def test_a_wrong_s3_secret_stops_serve_with_a_message_naming_the_keys(tmp_path):
    said = serve_fails(tmp_path, {"STRONGROOM_S3__SECRET_ACCESS_KEY": "not-the-secret"})
    assert "refused" in said and "s3.secret_access_key" in said, said
    assert "not-the-secret" not in said


def test_an_http_endpoint_without_allow_http_stops_serve_with_a_message(tmp_path):
    said = serve_fails(tmp_path, {"STRONGROOM_S3__ALLOW_HTTP": "false"})
    assert "s3.allow_http" in said and "plain HTTP" in said, said
