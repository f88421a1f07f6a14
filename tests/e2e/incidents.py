"""What the incident replays share: a server with real SMTP (aiosmtpd), a movable clock, a local
DNS and RDAP server for the domain checks, and small readers of the state after each step (who
owns what, what pip can install, which mails went to whom, what the log says)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

import srkit
from netfakes import FakeDNS, FakeRDAP
from webclient import Web, page_text

PASSWORD = "correct horse battery staple 42"
DAY = 86_400
HOUR = 3_600


class Incident:
    """One replay's world: server, mail, clock, DNS, RDAP."""

    def __init__(self, strongroom, mail_sink, tmp: Path, kind: str, env: dict[str, str] | None = None):
        self.tmp = tmp
        self.mail = mail_sink
        self.dns = FakeDNS()
        self.rdap = FakeRDAP()
        self.clock_file = tmp / "clock-offset"
        self.offset = 0
        self.clock_file.write_text("0")
        self.server = strongroom(kind, env={
            "STRONGROOM_SMTP__HOST": "127.0.0.1",
            "STRONGROOM_SMTP__PORT": str(mail_sink.port),
            "STRONGROOM_SMTP__TLS": "none",
            "STRONGROOM_SMTP__FROM": "strongroom <noreply@strongroom.test>",
            "STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(self.clock_file),
            "STRONGROOM_DOMAINS__RESOLVER": self.dns.addr,
            "STRONGROOM_DOMAINS__RDAP_URL": self.rdap.url,
            # the replays run the jobs and the domain check by hand, step by step
            "STRONGROOM_DOMAINS__CHECK_INTERVAL_HOURS": "0",
            "STRONGROOM_JOBS__INTERVAL_SECONDS": "3600",
            "STRONGROOM_PASSWORD__ARGON2_MEMORY_KIB": "1024",
            **(env or {}),
        })

    def close(self) -> None:
        self.dns.stop()
        self.rdap.stop()

    # -- time
    def advance(self, seconds: int) -> None:
        self.offset += seconds
        self.clock_file.write_text(str(self.offset))

    # -- people
    def user(self, name: str, email: str | None = None, admin: bool = False) -> str:
        addr = email or f"{name}@example.test"
        self.server.create_user(name, PASSWORD, email=addr, admin=admin)
        return addr

    def web(self, agent: str) -> Web:
        return Web(self.server.url, user_agent=agent)

    def login(self, name: str, agent: str = "e2e-browser/1", password: str = PASSWORD) -> Web:
        w = self.web(agent)
        w.login(name, password)
        assert w.logged_in(), f"{name} could not log in: {page_text(w.last)[:400]}"
        return w

    def web_token(self, w: Web, project: str | None = None) -> tuple[int, str]:
        """Create an API token on the tokens page: (status, token or page text)."""
        fields = {"name": f"tok-{time.monotonic_ns()}"}
        if project:
            fields["scope"] = project
        resp = w.submit("/manage/account/tokens/", "/manage/account/tokens/", fields, match={})
        text = page_text(resp)
        if resp.status_code == 200 and "strongroom-" in resp.text and 'id="new-token"' in resp.text:
            start = resp.text.index('id="new-token">') + len('id="new-token">')
            return 200, resp.text[start: resp.text.index("<", start)]
        return resp.status_code, text

    # -- state readers
    def roles(self, project: str, admin: str = "admin") -> dict[str, str]:
        """{username: role} as the admin area's project page lists them (a fresh admin login each
        time: the clock moves by days between steps, and sessions expire)."""
        resp = self.login(admin, "admin-browser/1").get(f"/admin/projects/{project}/")
        assert resp.status_code == 200, (project, resp.status_code, page_text(resp)[:300])
        return dict(re.findall(r'>([A-Za-z0-9._-]+)</a> \((Owner|Maintainer)\)', resp.text))

    def installable(self, project: str, version: str) -> bool:
        target = self.tmp / f"pip-{project}-{version}-{time.monotonic_ns()}"
        r = srkit.pip_install(self.server, [f"{project}=={version}"], target, self.tmp, check=False)
        return r.returncode == 0

    def simple_versions(self, project: str) -> set[str] | None:
        r = self.server.simple_json(project)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.status_code
        return set(r.json().get("versions", []))

    def mails_to(self, addr: str, subject_contains: str = "") -> list:
        return [m for m in self.mail.messages() if addr.lower() in str(m.get("To", "")).lower()
                and subject_contains.lower() in str(m.get("Subject", "")).lower()]

    def admin(self, *args: str, check: bool = True):
        return self.server.cli("admin", *args, check=check)

    def timeline(self, *args: str) -> list[dict]:
        out = self.admin("timeline", *args, "--json").stdout
        return json.loads(out)

    def log_verify(self) -> str:
        r = self.admin("log", "verify", check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout


def actions(events: list[dict]) -> list[str]:
    return [e["action"] for e in events]


def assert_in_order(seq: list[str], wanted: list[str]) -> None:
    """Every item of `wanted` appears in `seq`, in that order (other items may come between)."""
    pos = 0
    for w in wanted:
        try:
            pos = seq.index(w, pos) + 1
        except ValueError:
            pytest.fail(f"{w!r} missing (or out of order) after position {pos} in {seq}", pytrace=False)


def manage(project: str) -> str:
    """The project's manage page."""
    return f"/manage/project/{project}/"


def reset_password(world: Incident, name: str, addr: str, new_pw: str) -> None:
    """Whoever reads `addr` resets `name`'s password through the mailed link."""
    web = world.web(f"{name}-reset/1")
    before = len(world.mails_to(addr, "reset"))
    web.submit("/account/forgot-password/", "/account/forgot-password/", {"username_or_email": name})
    mail = world.mail.wait_for(addr, "reset", after=before)
    link = world.mail.link(mail, "/account/reset-password/")
    resp = web.submit(link, "/account/reset-password/", {"password": new_pw, "password_confirm": new_pw})
    assert resp.status_code == 200, page_text(resp)[:400]


def invite_and_accept(world: Incident, inviter, project: str, invitee: str, role: str = "Owner",
                      password: str = PASSWORD) -> None:
    """`inviter` (a signed-in Web) invites `invitee` on the project's manage page; it accepts."""
    resp = inviter.submit(manage(project), manage(project) + "invite/", {"username": invitee, "role": role})
    assert resp.status_code == 200 and "done=invited" in resp.url, (resp.status_code, page_text(resp)[:400])
    web = world.login(invitee, f"{invitee}-browser/1", password)
    resp = web.submit("/manage/account/invitations/", "/accept/")
    assert resp.status_code == 200 and "done=accepted" in resp.url, (resp.status_code, page_text(resp)[:400])
