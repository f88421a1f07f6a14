"""Browser fixtures of the end-to-end suite: headless Chromium (the Debian package at
/usr/bin/chromium, never a downloaded one) driven by Playwright, a real SMTP server on loopback
(aiosmtpd with the Mailbox handler) whose mails the tests read, and a strongroom server that the
browser reaches as http://localhost:PORT (WebAuthn needs the RP ID `localhost`: an IP address is
never a valid RP ID).

A missing browser fails the tests; nothing here skips.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import srkit

CHROMIUM = os.environ.get("STRONGROOM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = srkit.REPO_ROOT / ".test-work" / "screenshots"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------------------------
# SMTP sink


class MailSink:
    """aiosmtpd on 127.0.0.1 (its own process) writing every mail into a Maildir."""

    def __init__(self, root: Path):
        self.dir = root / "maildir"
        for sub in ("tmp", "new", "cur"):  # the Mailbox handler needs all three
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = open(root / "aiosmtpd.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
             "-c", "aiosmtpd.handlers.Mailbox", str(self.dir)],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"aiosmtpd exited with {self.proc.returncode}", pytrace=False)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail("aiosmtpd did not listen within 20 s", pytrace=False)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()

    def messages(self) -> list[email.message.EmailMessage]:
        box = mailbox.Maildir(str(self.dir), factory=None, create=False)
        out = []
        for key in sorted(box.keys()):
            raw = box.get_bytes(key)
            out.append(email.message_from_bytes(raw, policy=email.policy.default))
        return out

    def wait_for(self, to: str, subject_contains: str = "", timeout: float = 30.0, after: int = 0):
        """The first mail to `to` (whose subject contains `subject_contains`) beyond the first `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages() if to in str(m.get("To", ""))
                     and subject_contains.lower() in str(m.get("Subject", "")).lower()]
            if len(found) > after:
                return found[after]
            time.sleep(0.2)
        seen = [(str(m.get("To")), str(m.get("Subject"))) for m in self.messages()]
        pytest.fail(f"no mail to {to} with {subject_contains!r} within {timeout}s; mails seen: {seen}", pytrace=False)

    @staticmethod
    def body(msg) -> str:
        part = msg.get_body(preferencelist=("plain", "html"))
        return part.get_content() if part is not None else msg.get_payload(decode=True).decode()

    @staticmethod
    def link(msg, path_fragment: str) -> str:
        for url in re.findall(r"https?://[^\s<>\"']+", MailSink.body(msg)):
            if path_fragment in url:
                return url
        pytest.fail(f"no link with {path_fragment!r} in mail:\n{MailSink.body(msg)}", pytrace=False)


@pytest.fixture
def mail_sink(tmp_path):
    sink = MailSink(tmp_path)
    yield sink
    sink.stop()


# --------------------------------------------------------------------------------------------
# a server reachable as http://localhost:PORT


class LocalhostServer(srkit.Server):
    """`strongroom serve` on a fixed loopback port, with public_url http://localhost:PORT."""

    def __init__(self, backend, data_dir, extra_env=None):
        self.port = free_port()
        env = dict(extra_env or {})
        env.setdefault("STRONGROOM_PUBLIC_URL", f"http://localhost:{self.port}")
        # with public_url set, other Host names get 421: the suite's HTTP helpers (twine, srkit)
        # reach the same server as 127.0.0.1
        env.setdefault("STRONGROOM_HTTP__ALLOWED_HOSTS", "127.0.0.1")
        super().__init__(backend, data_dir, env)

    def start(self):
        self._stderr = open(self.stderr_path, "wb")
        cmd = [str(srkit.strongroom_bin()), "serve", *self.global_args(), "--bind", f"127.0.0.1:{self.port}"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, env=self.env(), text=True)
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(srkit.SERVER_START_TIMEOUT) or not self.url:
            code = self.proc.poll()
            self.kill()
            pytest.fail(f"strongroom serve did not start (exit {code}):\n{self.stderr_text()[-4000:]}", pytrace=False)
        return self

    @property
    def web_url(self) -> str:
        return f"http://localhost:{self.port}"


@pytest.fixture
def web_server(tmp_path):
    """Factory: web_server(env=None) -> LocalhostServer on SQLite, stopped after the test."""
    started: list[LocalhostServer] = []

    def start(env: dict[str, str] | None = None) -> LocalhostServer:
        backend = srkit.Backend.fresh("sqlite")
        srv = LocalhostServer(backend, tmp_path / f"web{len(started)}", env).start()
        started.append(srv)
        return srv

    yield start
    problems = []
    for srv in started:
        srv.stop()
        if srv.problems():
            problems.append(srv.problems())
        srv.backend.cleanup()
    if problems:
        pytest.fail("server panicked:\n" + "\n".join(problems), pytrace=False)


# --------------------------------------------------------------------------------------------
# Chromium


_BROWSER: dict = {}


@pytest.fixture(scope="session")
def browser(request):
    """One Chromium for the whole session (test modules import this fixture, so it may be
    requested under several names; the Playwright driver must start only once)."""
    if "browser" in _BROWSER:
        return _BROWSER["browser"]
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install the chromium package (scripts/test.sh does)", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:  # a broken venv is a failure, not a skip
        pytest.fail(f"playwright is not installed in the test venv: {e}", pytrace=False)
    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    _BROWSER.update(browser=b, playwright=pw)

    def close() -> None:
        _BROWSER.clear()
        b.close()
        pw.stop()

    request.session.config.add_cleanup(close)
    return b


class PageProbe:
    """A page plus what the browser complained about (console errors, CSP violations)."""

    def __init__(self, context, page):
        self.context = context
        self.page = page
        self.console_errors: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        self.cdp = None
        self.authenticator_id = None

    def add_virtual_authenticator(self) -> str:
        """Chrome's CDP virtual authenticator: CTAP2, internal, resident keys, user verified."""
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        res = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
        }})
        self.authenticator_id = res["authenticatorId"]
        return self.authenticator_id

    def credentials(self) -> list[dict]:
        assert self.cdp and self.authenticator_id
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id})["credentials"]

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_no_errors(self) -> None:
        csp = [e for e in self.console_errors if "Content Security Policy" in e or "Refused to" in e]
        assert not csp, f"CSP violations: {csp}"
        assert not self.console_errors, f"console errors: {self.console_errors}"


@pytest.fixture
def probe(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    p = PageProbe(context, page)
    yield p
    context.close()
