"""Helpers for the strongroom end-to-end suite.

Everything here is plain Python (stdlib + requests) so that the tests read like what a user does:
start `strongroom serve`, run its CLI, run twine/pip/uv/bandersnatch against it, or send raw
HTTP requests. Nothing in here skips a test: a missing service or tool is a test failure.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

# the distributions the tests make (their own module; named here, as every test says `srkit.X`)
from distkit import (  # noqa: F401
    ZIP_DATE, SMALL_PAYLOAD, Dist, _record_hash, blake2_256, blob_path, dist_escape, make_sdist, make_wheel,
    metadata_text, normalize, sha256, wheel_metadata, write_project,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
LISTEN_RE = re.compile(r"strongroom listening on (http://[^\s/]+)/")
SERVER_START_TIMEOUT = 30.0


# --------------------------------------------------------------------------------------------
# environment


def require_env(name: str) -> str:
    """The value of an environment variable the suite needs; a missing one fails the test."""
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(
            f"{name} is not set: the PostgreSQL + S3 backend cannot be tested. "
            "Run the suite through `bash scripts/test.sh`, which starts the services.",
            pytrace=False,
        )
    return value


def strongroom_bin() -> Path:
    path = Path(os.environ.get("STRONGROOM_BIN") or REPO_ROOT / "target/debug/strongroom")
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.exists():
        pytest.fail(f"strongroom binary not found at {path} (build it: cargo build -p strongroom)", pytrace=False)
    return path


def tool(name: str) -> str:
    """Path of a console script of the test venv (twine, uv, bandersnatch, ...)."""
    path = VENV_BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(f"required tool {name!r} is missing; install tests/requirements.txt", pytrace=False)
    raise AssertionError  # unreachable


def client_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for client subprocesses: no user config, no caches, no proxies, no keyring."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "TWINE_", "STRONGROOM_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    uv_cache = tmp / "uv-cache"
    uv_cache.mkdir(parents=True, exist_ok=True)
    env.update(
        PIP_CONFIG_FILE="/dev/null",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_ROOT_USER_ACTION="ignore",
        UV_CACHE_DIR=str(uv_cache),
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        TWINE_NON_INTERACTIVE="1",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        NO_COLOR="1",
        COLUMNS="400",
        TERM="dumb",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def run(cmd, *, env=None, timeout=180, input=None, check=True, cwd=None) -> subprocess.CompletedProcess:
    """Run a command, capture output; with check=True a non-zero exit fails the test with its output."""
    cmd = [str(c) for c in cmd]
    try:
        proc = subprocess.run(
            cmd,
            env=env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"command timed out after {timeout}s: {' '.join(cmd)}\nstdout:\n{e.stdout}\nstderr:\n{e.stderr}")
    if check and proc.returncode != 0:
        pytest.fail(
            f"command failed with exit {proc.returncode}: {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
        )
    return proc


ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def output(proc: subprocess.CompletedProcess) -> str:
    """stdout + stderr without colour codes and with whitespace runs (rich's line wrapping) collapsed."""
    text = ANSI_RE.sub("", (proc.stdout or "") + "\n" + (proc.stderr or ""))
    return re.sub(r"\s+", " ", text)


# --------------------------------------------------------------------------------------------
# PostgreSQL and S3 (the services scripts/test.sh starts)


def psql_bin() -> str:
    found = shutil.which("psql")
    if found:
        return found
    for cand in sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"), reverse=True):
        return str(cand)
    pytest.fail("psql not found (install postgresql-client)", pytrace=False)
    raise AssertionError


def pg_url_with_db(base_url: str, dbname: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def pg_exec(base_url: str, sql: str) -> str:
    proc = run([psql_bin(), base_url, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql], timeout=60, check=False)
    if proc.returncode != 0:
        pytest.fail(f"psql failed on {base_url!r} ({sql}):\n{proc.stderr}", pytrace=False)
    return proc.stdout


def create_pg_database() -> str:
    """A fresh, empty database on the test cluster; returns its URL."""
    base = require_env("STRONGROOM_TEST_PG_URL")
    name = "sr_" + uuid.uuid4().hex[:16]
    pg_exec(base, f"CREATE DATABASE {name}")
    return pg_url_with_db(base, name)


def drop_pg_database(url: str) -> None:
    base = require_env("STRONGROOM_TEST_PG_URL")
    name = urllib.parse.urlsplit(url).path.lstrip("/")
    if re.fullmatch(r"sr_[0-9a-f]{16}", name):
        subprocess.run(
            [psql_bin(), base, "-At", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
            capture_output=True,
            timeout=60,
        )


@dataclass
class S3:
    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    @classmethod
    def from_env(cls) -> S3:
        return cls(
            endpoint=require_env("STRONGROOM_TEST_S3_ENDPOINT").rstrip("/"),
            access_key=require_env("STRONGROOM_TEST_S3_ACCESS_KEY"),
            secret_key=require_env("STRONGROOM_TEST_S3_SECRET_KEY"),
        )

    def request(self, method: str, path: str, *, query: dict | None = None, body: bytes = b"",
                secret_key: str | None = None) -> requests.Response:
        """A SigV4-signed path-style request (the same signing object_store uses)."""
        url = urllib.parse.urlsplit(self.endpoint)
        host = url.netloc
        now = _dt.datetime.now(_dt.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        datestamp = now.strftime("%Y%m%d")
        canonical_uri = urllib.parse.quote(path, safe="/-_.~")
        query = query or {}
        canonical_query = "&".join(
            f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(str(v), safe='-_.~')}"
            for k, v in sorted(query.items())
        )
        payload_hash = hashlib.sha256(body).hexdigest()
        headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
        signed = ";".join(sorted(headers))
        canonical_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
        canonical = "\n".join([method, canonical_uri, canonical_query, canonical_headers, signed, payload_hash])
        scope = f"{datestamp}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])

        def _h(key: bytes, msg: str) -> bytes:
            return hmac.new(key, msg.encode(), hashlib.sha256).digest()

        k = _h(("AWS4" + (secret_key or self.secret_key)).encode(), datestamp)
        k = _h(_h(_h(k, self.region), "s3"), "aws4_request")
        signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        auth = f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        send = {"x-amz-content-sha256": payload_hash, "x-amz-date": amz_date, "Authorization": auth}
        full = f"{self.endpoint}{canonical_uri}" + (f"?{canonical_query}" if canonical_query else "")
        return requests.request(method, full, headers=send, data=body, timeout=30)

    def create_bucket(self) -> str:
        name = "sr-" + uuid.uuid4().hex[:20]
        resp = self.request("PUT", f"/{name}")
        if resp.status_code != 200:
            pytest.fail(f"S3 CreateBucket {name} failed: {resp.status_code} {resp.text}", pytrace=False)
        return name

    def list_keys(self, bucket: str) -> list[str]:
        keys: list[str] = []
        token = None
        while True:
            q = {"list-type": "2"}
            if token:
                q["continuation-token"] = token
            resp = self.request("GET", f"/{bucket}", query=q)
            assert resp.status_code == 200, resp.text
            keys += re.findall(r"<Key>([^<]*)</Key>", resp.text)
            m = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", resp.text)
            if not m or "<IsTruncated>true</IsTruncated>" not in resp.text:
                return keys
            token = m.group(1)

    def server_env(self) -> dict[str, str]:
        return {
            "STRONGROOM_S3__ENDPOINT": self.endpoint,
            "STRONGROOM_S3__REGION": self.region,
            "STRONGROOM_S3__ACCESS_KEY_ID": self.access_key,
            "STRONGROOM_S3__SECRET_ACCESS_KEY": self.secret_key,
            "STRONGROOM_S3__ALLOW_HTTP": "true",
        }


# --------------------------------------------------------------------------------------------
# the strongroom server


def new_secrets_key() -> str:
    """32 random bytes as base64, as `openssl rand -base64 32` writes them."""
    return base64.b64encode(os.urandom(32)).decode()


@dataclass
class Backend:
    """Where one index keeps its state: `sqlite` (only --data) or `pg_s3` (PostgreSQL + S3)."""

    kind: str
    database: str | None = None
    bucket: str | None = None
    s3: S3 | None = None
    # The key sealing secrets in the database: PostgreSQL needs one configured, shared by every
    # server of the backend (SQLite makes <data>/secret.key at first start).
    secrets_key: str | None = None

    @classmethod
    def fresh(cls, kind: str) -> Backend:
        if kind == "sqlite":
            return cls(kind)
        if kind == "pg_s3":
            s3 = S3.from_env()
            return cls(kind, database=create_pg_database(), bucket=s3.create_bucket(), s3=s3,
                       secrets_key=new_secrets_key())
        raise ValueError(kind)

    def args(self, data_dir: Path) -> list[str]:
        out = ["--data", str(data_dir)]
        if self.database:
            out += ["--database", self.database]
        if self.bucket:
            out += ["--storage", f"s3://{self.bucket}"]
        return out

    def env(self) -> dict[str, str]:
        env = self.s3.server_env() if self.s3 else {}
        if self.secrets_key:
            env["STRONGROOM_SECRETS__KEY"] = self.secrets_key
        return env

    def cleanup(self) -> None:
        if self.database:
            drop_pg_database(self.database)


class Server:
    """One `strongroom serve` process plus its CLI bound to the same data dir / database / storage."""

    def __init__(self, backend: Backend, data_dir: Path, extra_env: dict[str, str | None] | None = None):
        self.backend = backend
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.extra_env = dict(extra_env or {})
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.stdout_lines: list[str] = []
        self.stderr_path = data_dir.parent / f"{data_dir.name}.stderr.log"
        self._stderr = None
        self._ready = threading.Event()
        # run in the child before exec (e.g. resource.setrlimit for a low open-files limit)
        self.preexec_fn = None
        # the folder `serve` runs in (None: the suite's own), e.g. one with a ./strongroom.toml
        self.cwd: Path | None = None
        # flags given to `serve` only (e.g. --no-migrate)
        self.serve_flags: list[str] = []

    # -- process
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        env.update(self.backend.env())
        env.setdefault("RUST_BACKTRACE", "1")
        # The index suite publishes as accounts made with `strongroom user create`, which have no
        # second factor; the account policy (require_2fa, rate limits on logins and new projects)
        # has its own tests. A test can turn either back on through extra_env.
        env["STRONGROOM_REQUIRE_2FA"] = "false"
        env["STRONGROOM_RATE_LIMITS"] = "false"
        # The suite's addresses (example.test) do not resolve, and tests move the clock by days:
        # the periodic email-domain check would unverify them. Tests of the check start their own
        # DNS and RDAP servers and turn it on (`admin check-domains` runs regardless).
        env["STRONGROOM_DOMAINS__CHECK_INTERVAL_HOURS"] = "0"
        env["STRONGROOM_DOMAINS__RDAP_URL"] = ""
        # The race tests upload 20 files at once as one account; the per-account limit of uploads
        # in progress has its own test, which unsets this (a None in extra_env removes a key).
        env["STRONGROOM_HTTP__MAX_UPLOADS_PER_USER"] = "1000"
        for k, v in self.extra_env.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def global_args(self) -> list[str]:
        return self.backend.args(self.data_dir)

    def blob_keys(self) -> set[str]:
        """Every object in the blob store (the bucket, or the local files folder without its
        temp folder): what a refused upload must not leave behind."""
        if self.backend.s3:
            return set(self.backend.s3.list_keys(self.backend.bucket))
        root = self.data_dir / "files"
        return {p.relative_to(root).as_posix() for p in root.rglob("*")
                if p.is_file() and p.relative_to(root).parts[0] != ".tmp"}

    def db_blob_keys(self) -> set[str]:
        """The blob keys the database references (files in every state, removed ones included)
        with the `.metadata` beside each wheel: what the blob store holds once nothing refused
        or abandoned is left (compare with `blob_keys()`)."""
        sql = "SELECT blob_key, CASE WHEN metadata_sha256 IS NULL THEN 0 ELSE 1 END FROM files"
        url = self.backend.database or ""
        if url.startswith("postgres"):
            rows = [ln.split("|") for ln in pg_exec(url, sql).splitlines() if ln.strip()]
        else:
            path = url.removeprefix("sqlite://").split("?")[0] if url else str(self.data_dir / "strongroom.db")
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            try:
                rows = con.execute(sql).fetchall()
            finally:
                con.close()
        keys: set[str] = set()
        for key, has_metadata in rows:
            keys.add(key)
            if int(has_metadata):
                keys.add(f"{key}.metadata")
        return keys

    def start(self) -> Server:
        self._stderr = open(self.stderr_path, "wb")
        cmd = [str(strongroom_bin()), "serve", *self.serve_flags, *self.global_args(), "--bind", "127.0.0.1:0"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, env=self.env(), text=True,
                                     preexec_fn=self.preexec_fn, cwd=self.cwd)
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(SERVER_START_TIMEOUT) or not self.url:
            code = self.proc.poll()
            self.kill()
            pytest.fail(
                f"strongroom serve did not print 'strongroom listening on http://HOST:PORT/' within "
                f"{SERVER_START_TIMEOUT:.0f}s (exit code {code}).\ncommand: {' '.join(cmd)}\n"
                f"--- stdout ---\n{''.join(self.stdout_lines)[-3000:]}\n--- stderr ---\n{self.stderr_text()[-6000:]}",
                pytrace=False,
            )
        return self

    def _pump(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self.stdout_lines.append(line)
            if not self.url:
                m = LISTEN_RE.search(line)
                if m:
                    self.url = m.group(1)
                    self._ready.set()
        self._ready.set()

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._stderr:
            self._stderr.close()
            self._stderr = None

    def problems(self) -> str | None:
        """A panic in the server log is a bug whatever the HTTP client saw."""
        text = self.stderr_text()
        if "panicked at" in text:
            idx = text.index("panicked at")
            return text[max(0, idx - 500): idx + 3000]
        return None

    # -- addresses
    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).netloc

    @property
    def simple_url(self) -> str:
        return f"{self.url}/simple/"

    @property
    def upload_url(self) -> str:
        return f"{self.url}/legacy/"

    def get(self, path: str, **kw) -> requests.Response:
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 30)
        return requests.get(self.url + path, **kw)

    # -- CLI
    def cli(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return run([strongroom_bin(), *args, *self.global_args()], env=self.env(), input=input, check=check, timeout=60)

    def create_user(self, name: str, password: str = "correct horse battery staple 42", *,
                    email: str | None = None, admin: bool = False) -> str:
        args = ["user", "create", name, "--email", email or f"{name}@example.test", "--password-stdin"]
        if admin:
            args.append("--admin")
        self.cli(*args, input=password + "\n")
        return password

    def create_token(self, user: str, project: str | None = None, expires_days: int | None = None) -> str:
        args = ["token", "create", "--user", user]
        if project:
            args += ["--project", project]
        if expires_days is not None:
            args += ["--expires-days", str(expires_days)]
        proc = self.cli(*args)
        lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
        assert len(lines) == 1, f"token create must print the token alone on one line, got {proc.stdout!r}"
        token = lines[0]
        assert re.fullmatch(r"strongroom-[A-Za-z0-9_-]+", token), token
        return token

    def user_with_token(self, name: str, project: str | None = None) -> str:
        self.create_user(name)
        return self.create_token(name, project)

    def yank(self, project: str, version: str, reason: str | None = None) -> None:
        args = ["yank", project, version]
        if reason is not None:
            args += ["--reason", reason]
        self.cli(*args)

    def unyank(self, project: str, version: str) -> None:
        self.cli("unyank", project, version)

    # -- common reads
    def simple_json(self, project: str | None = None) -> requests.Response:
        path = f"/simple/{project}/" if project else "/simple/"
        return self.get(path, headers={"Accept": SIMPLE_JSON})

    def global_serial(self) -> int:
        resp = self.simple_json()
        assert resp.status_code == 200, resp.text
        return int(resp.headers["X-PyPI-Last-Serial"])

    def project_files(self, project: str) -> list[dict]:
        """The PEP 691 file list, each `url` resolved against the page as pip and uv do (the
        server links files relative to the page unless public_url is set)."""
        resp = self.simple_json(project)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        files = resp.json()["files"]
        for f in files:
            f["url"] = urllib.parse.urljoin(resp.url, f["url"])
        return files


class ServerPool:
    """Starts servers (and their backends) and tears all of them down, checking for panics."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.servers: list[Server] = []
        self.backends: list[Backend] = []
        self.n = 0

    def backend(self, kind: str) -> Backend:
        b = Backend.fresh(kind)
        self.backends.append(b)
        return b

    def start(self, kind_or_backend: str | Backend = "sqlite", *, env: dict[str, str] | None = None,
              data_dir: Path | None = None, preexec_fn=None) -> Server:
        backend = self.backend(kind_or_backend) if isinstance(kind_or_backend, str) else kind_or_backend
        self.n += 1
        server = Server(backend, data_dir or self.tmp / f"server{self.n}", env)
        server.preexec_fn = preexec_fn
        self.servers.append(server)
        return server.start()

    def close(self) -> None:
        problems = []
        for s in self.servers:
            s.stop()
            p = s.problems()
            if p:
                problems.append(f"server {s.url} ({s.backend.kind}) panicked:\n{p}")
        for b in self.backends:
            b.cleanup()
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)


# --------------------------------------------------------------------------------------------
# the gateway to upstream indexes (issue 12)


def upstream_env(*upstreams, **settings) -> dict[str, str]:
    """The environment that makes `strongroom serve` a gateway: `upstream.url` from each upstream
    (a `tests/tools/upstream_fixture.Upstream`, another `Server`, or a URL string; in priority
    order) and any other `upstream.*` key as a keyword (`min_age_days=3`,
    `private_patterns=["acme-*"]`; lists are comma-joined). Loopback is never proxied.
    `upstream.file_hosts` lists the files host of each fixture upstream that has one (a second
    127.0.0.1 port, which the default refuses as a loopback address); `file_hosts=None` keeps
    the default."""
    urls = [u if isinstance(u, str) else u.simple_url for u in upstreams]
    if "file_hosts" not in settings:
        hosts = [u.files_origin.split("://", 1)[1] for u in upstreams if hasattr(u, "files_origin")]
        if hosts:
            settings["file_hosts"] = hosts
    elif settings["file_hosts"] is None:
        del settings["file_hosts"]
    env = {"STRONGROOM_UPSTREAM__URL": ",".join(urls), "NO_PROXY": "127.0.0.1,localhost",
           "no_proxy": "127.0.0.1,localhost"}
    for key, value in settings.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"STRONGROOM_UPSTREAM__{key.upper()}"] = str(value)
    return env


# --------------------------------------------------------------------------------------------
# digests and uploads


def upload_raw(server: Server, token: str | None, dist: Dist | None, *, fields=None, set_fields=None,
               drop_fields=(), content_type: str | None = "application/octet-stream", filename=None,
               data=None, auth=None, headers=None, include_content: bool = True) -> requests.Response:
    """POST /legacy/ like twine does, with knobs to break any part of the request."""
    form = list(fields) if fields is not None else (dist.form() if dist else [])
    if set_fields:
        keys = set(set_fields)
        form = [(k, v) for k, v in form if k not in keys] + [(k, v) for k, v in set_fields.items() if v is not None]
    form = [(k, v) for k, v in form if k not in set(drop_fields)]
    # every field as a multipart part (as twine does), so the body is multipart even without a file
    files = [(k, (None, v)) for k, v in form]
    if include_content:
        fn = filename if filename is not None else dist.filename
        body = data if data is not None else dist.data
        part = (fn, body, content_type) if content_type is not None else (fn, body)
        files.append(("content", part))
    if auth is None and token is not None:
        auth = ("__token__", token)
    return requests.post(server.upload_url, files=files, auth=auth, headers=headers,
                         allow_redirects=False, timeout=120)


def ok_upload(server: Server, token: str, dist: Dist) -> requests.Response:
    resp = upload_raw(server, token, dist)
    assert resp.status_code == 200, f"upload of {dist.filename} failed: {resp.status_code} {resp.reason}: {resp.text}"
    return resp


# --------------------------------------------------------------------------------------------
# projects built with real build backends (python -m build --no-isolation; written by
# distkit.write_project)


def build_project(proj: Path, outdir: Path) -> list[Path]:
    """Wheel + sdist with `python -m build --no-isolation` (the venv's python and backends)."""
    outdir.mkdir(parents=True, exist_ok=True)
    before = set(outdir.iterdir())
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(outdir), str(proj)],
        env=client_env(proj.parent), timeout=300)
    new = sorted(set(outdir.iterdir()) - before)
    assert any(p.suffix == ".whl" for p in new) and any(p.name.endswith(".tar.gz") for p in new), new
    return new


# --------------------------------------------------------------------------------------------
# clients


def twine_upload(server: Server, token: str, files, tmp: Path, *, extra=(), check=True, user="__token__"):
    cmd = [tool("twine"), "upload", "--repository-url", server.upload_url, "-u", user, "-p", token,
           "--non-interactive", "--disable-progress-bar", *extra, *[str(f) for f in files]]
    return run(cmd, env=client_env(tmp), timeout=300, check=check)


def uv_publish(server: Server, token: str, files, tmp: Path, *, extra=(), check=True):
    cmd = [tool("uv"), "publish", "--no-cache", "--publish-url", server.upload_url, "--token", token,
           *extra, *[str(f) for f in files]]
    return run(cmd, env=client_env(tmp), timeout=300, check=check)


def pip(args, tmp: Path, *, check=True, timeout=300):
    return run([sys.executable, "-m", "pip", *args], env=client_env(tmp), timeout=timeout, check=check)


def pip_install(server: Server, reqs, target: Path, tmp: Path, *, extra=(), check=True):
    return pip(["install", "--no-cache-dir", "--index-url", server.simple_url, "--target", str(target),
                *extra, *reqs], tmp, check=check)


def uv_install(server: Server, reqs, target: Path, tmp: Path, *, extra=(), check=True):
    cmd = [tool("uv"), "pip", "install", "--no-cache", "--index-url", server.simple_url,
           "--python", sys.executable, "--target", str(target), *extra, *reqs]
    return run(cmd, env=client_env(tmp), timeout=300, check=check)


def installed(target: Path) -> dict[str, str]:
    """{normalized name: version} of the dists installed in a --target dir."""
    out = {}
    for d in target.glob("*.dist-info"):
        meta = (d / "METADATA").read_text()
        name = re.search(r"^Name: (.+)$", meta, re.M).group(1).strip()
        version = re.search(r"^Version: (.+)$", meta, re.M).group(1).strip()
        out[normalize(name)] = version
    return out


def import_check(target: Path, module: str, tmp: Path) -> str:
    proc = run([sys.executable, "-c", f"import {module}; print({module}.VERSION)"],
               env=client_env(tmp, PYTHONPATH=str(target)), timeout=60)
    return proc.stdout.strip()


_REQUEST_ID = re.compile(r"(?i)request id: [0-9A-Za-z._:-]+")


def without_request_id(text: str) -> str:
    """`text` with its request id blanked: two answers that must not differ (no enumeration
    oracle) differ only in the id every response carries."""
    return _REQUEST_ID.sub("request id: ID", text)


def wait_until(pred, timeout=10.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


# A write by another process (the admin CLI a test runs) reaches a server's kept pages within
# the staleness bound (1 s, docs/architecture.md). On SQLite at once: the server looks at the
# write-ahead log before answering from a kept page. On PostgreSQL through the journal's
# notification, which PostgreSQL delivers after the writer's commit has returned, so a loaded
# machine can answer the very next request from the page kept before. Five times the bound.
SETTLE_SECONDS = 5.0


def settled(server: Server, pred) -> bool:
    """`pred` holds right after a CLI write: at once on a SQLite server, within the staleness
    bound on PostgreSQL."""
    if server.backend.kind == "sqlite":
        return pred()
    return wait_until(pred, timeout=SETTLE_SECONDS, interval=0.05)


# --------------------------------------------------------------------------------------------
# HTML


class _Anchors(__import__("html.parser").parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict, str]] = []
        self.metas: list[dict] = []
        self._cur: dict | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._cur = dict(attrs)
            self._text = []
        elif tag == "meta":
            self.metas.append(dict(attrs))

    def handle_data(self, data):
        if self._cur is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._cur is not None:
            self.anchors.append((self._cur, "".join(self._text)))
            self._cur = None


def parse_html(text: str) -> _Anchors:
    p = _Anchors()
    p.feed(text)
    p.close()
    return p


# --------------------------------------------------------------------------------------------
# races


def race(fns):
    """Run the callables at the same moment (a barrier per thread); return their results in order."""
    barrier = threading.Barrier(len(fns))
    results = [None] * len(fns)

    def go(i):
        barrier.wait(30)
        try:
            results[i] = fns[i]()
        except Exception as e:  # noqa: BLE001 - a transport error is a result too
            results[i] = e

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    return results


def describe(r):
    if isinstance(r, Exception):
        return f"exception {r!r}"
    return f"{r.status_code} {r.reason!r} {r.text[:200]!r}"
