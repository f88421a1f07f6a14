"""Issue 10, failure 5: limits that lock out neither everyone nor no one, against started servers
with the rate limits ON (the suite turns them off elsewhere).

- About 1,000 failed logins from as many addresses (behind a trusted proxy, so X-Forwarded-For
  names each client) fill the global login limit: a password-only login is then held back with a
  429 naming `ratelimit.login_global`, but an admin whose login goes on to a valid TOTP code signs
  in.
- Each limit is its own `ratelimit.<name>` setting: a sample of them, set lower, refuses at the
  new threshold and names the key.
- The project-creation limit does not apply to administrators (a seeding account), and a
  non-admin's 21st new project in an hour gets a 429 naming `ratelimit.project_create_user`.
- 64 concurrent logins with the default Argon2 cost (19 MiB each) stay under a memory ceiling
  during and after the burst: hashing runs on `password.hash_concurrency` slots that reuse their
  memory. The server runs 16 request threads, as a 16-core machine would, so that without the
  pool 16 hashes would run at once. A login that waits longer than `password.hash_wait_seconds`
  for a slot gets 503 with Retry-After and a message, not an unbounded queue."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyotp
import pytest
import requests

import srkit
from webclient import Web, page_text

PW = "correct horse battery staple 42"
LIMITS_ON = {"STRONGROOM_RATE_LIMITS": "true"}


class Clock:
    """The server's clock offset: a TOTP step is accepted once, so a login moves it on a step."""

    def __init__(self, tmp: Path):
        self.file = tmp / "clock-offset"
        self.offset = 0
        self.file.write_text("0")

    def advance(self, seconds: int) -> None:
        self.offset += seconds
        self.file.write_text(str(self.offset))


class Authenticator:
    def __init__(self, secret: str, clock: Clock):
        self.totp = pyotp.TOTP(secret)
        self.clock = clock

    def now(self) -> str:
        return self.totp.at(time.time() + self.clock.offset)


def from_address(web: Web, ip: str) -> Web:
    """Every request of `web` comes through the trusted proxy on behalf of `ip`."""
    plain = web._headers

    def with_xff(extra=None):
        h = plain(extra)
        h["X-Forwarded-For"] = ip
        return h

    web._headers = with_xff
    return web


def outbox_link(server: srkit.Server, to: str, subject: str, fragment: str) -> str:
    import email
    import email.policy
    import urllib.parse

    found: list[str] = []

    def ready():
        found.clear()
        for p in sorted((server.data_dir / "outbox").glob("*.eml")):
            msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            if to in str(msg["To"]) and subject in str(msg["Subject"]):
                found.append(msg.get_content())
        return bool(found)

    assert srkit.wait_until(ready, timeout=20), f"no mail to {to} about {subject!r}"
    for url in re.findall(r"https?://[^\s<>\"']+", found[-1]):
        if fragment in url:
            parts = urllib.parse.urlsplit(url)
            return parts.path + ("?" + parts.query if parts.query else "")
    pytest.fail(f"no link with {fragment!r} in:\n{found[-1]}")


def enrol_totp(server: srkit.Server, name: str, clock: Clock) -> Authenticator:
    web = from_address(Web(server.url), "192.0.2.10")
    web.login(name, PW)
    assert web.logged_in(), page_text(web.last)[:400]
    form = web.form("/manage/account/totp/", "/manage/account/totp/")
    auth = Authenticator(form.fields["secret"], clock)
    resp = web.request("POST", "/manage/account/totp/", data=dict(form.fields, code=auth.now()),
                       headers={"Referer": server.url + "/manage/account/totp/"})
    assert resp.status_code == 200, page_text(resp)[:400]
    link = outbox_link(server, f"{name}@example.test", "Confirm two-factor", "/account/confirm-two-factor/")
    assert web.get(link).status_code == 200
    return auth


def login_answer(server: srkit.Server, name: str, password: str, ip: str, totp=None) -> tuple[bool, int, str]:
    web = from_address(Web(server.url), ip)
    resp = web.login(name, password, totp=totp)
    return web.logged_in(), resp.status_code, page_text(resp)


def test_a_thousand_failed_logins_from_many_addresses_do_not_stop_an_admin_with_totp(
        strongroom, backend_kind, tmp_path):
    clock = Clock(tmp_path)
    server = strongroom(backend_kind, env={
        **LIMITS_ON,
        "STRONGROOM_PROXY__TRUSTED_IPS": "127.0.0.1",
        "STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock.file),
        # The limits are at their defaults; only the hash is cheap, so 1,000 guesses are quick.
        "STRONGROOM_PASSWORD__ARGON2_MEMORY_KIB": "1024",
        "STRONGROOM_PASSWORD__ARGON2_ITERATIONS": "1",
    })
    server.create_user("root", PW, admin=True)
    server.create_user("pat", PW)
    auth = enrol_totp(server, "root", clock)

    # The flood: one guess per address, for names that do not exist, as a botnet would.
    flood = Web(server.url)
    form = flood.form("/account/login/", "/account/login/")
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in flood.cookies.items()),
               "Origin": server.url, "Referer": server.url + "/account/login/"}

    def guess(i: int) -> int:
        data = dict(form.fields, username=f"guess{i}", password="wrong password 123")
        h = dict(headers, **{"X-Forwarded-For": f"10.{i // 250}.{i % 250}.7"})
        return requests.post(server.url + "/account/login/", data=data, headers=h,
                             allow_redirects=False, timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(guess, range(1080)))
    assert set(codes) <= {403, 429}, set(codes)
    assert codes.count(403) >= 990 and codes.count(429) >= 50, (codes.count(403), codes.count(429))

    # A password-only account waits, and is told which limit holds it back.
    ok, status, text = login_answer(server, "pat", PW, "192.0.2.20")
    assert not ok and status == 429, (status, text[:300])
    assert "ratelimit.login_global" in text, text[:400]
    # The admin's wrong password gets the same answer (a full limit is no password oracle)...
    ok, status, text = login_answer(server, "root", "not the password 1", "192.0.2.21")
    assert not ok and status == 429 and "ratelimit.login_global" in text, (status, text[:300])
    # ...and the right password with a valid TOTP code signs in.
    clock.advance(60)
    ok, status, text = login_answer(server, "root", PW, "192.0.2.21", totp=auth)
    assert ok, (status, text[:400])


@pytest.mark.parametrize("setting", ["login_user", "login_ip", "project_create_user"])
def test_each_limit_is_its_own_setting(strongroom, backend_kind, setting):
    rate = {"login_user": "3 per hour", "login_ip": "2 per 10 minutes",
            "project_create_user": "2 per hour"}[setting]
    server = strongroom(backend_kind, env={**LIMITS_ON, f"STRONGROOM_RATELIMIT__{setting.upper()}": rate})
    shown = server.cli("config", "show").stdout
    assert re.search(rf"^ratelimit\.{setting} +=\s+{re.escape(rate)} +# env", shown, re.M), shown
    if setting == "project_create_user":
        token = server.user_with_token("carol")
        for i in range(2):
            srkit.ok_upload(server, token, srkit.make_wheel(f"sr-lim-{i}", "1.0"))
        resp = srkit.upload_raw(server, token, srkit.make_wheel("sr-lim-2", "1.0"))
        assert resp.status_code == 429, (resp.status_code, resp.text)
        assert f"ratelimit.project_create_user: {rate}" in resp.text, resp.text
        return
    server.create_user("ann", PW)
    # Below the default (10 per 5 minutes) for both: the setting, not the default, refuses.
    for i in range({"login_user": 3, "login_ip": 2}[setting]):
        who = "ann" if setting == "login_user" else f"nobody{i}"
        ok, status, text = login_answer(server, who, "wrong password 123", "192.0.2.30")
        assert not ok and status == 403, (status, text[:300])
    ok, status, text = login_answer(server, "ann", PW, "192.0.2.30")
    assert not ok and status == 429, (status, text[:300])
    assert f"ratelimit.{setting}: {rate}" in text, text[:400]


def test_admins_are_exempt_from_the_project_creation_limit(strongroom, backend_kind):
    server = strongroom(backend_kind, env=LIMITS_ON)
    server.create_user("seeder", PW, admin=True)
    admin_token = server.create_token("seeder")
    user_token = server.user_with_token("dora")
    for i in range(21):
        srkit.ok_upload(server, admin_token, srkit.make_wheel(f"sr-seed-{i:02d}", "1.0"))
    for i in range(20):
        srkit.ok_upload(server, user_token, srkit.make_wheel(f"sr-dora-{i:02d}", "1.0"))
    resp = srkit.upload_raw(server, user_token, srkit.make_wheel("sr-dora-20", "1.0"))
    assert resp.status_code == 429, (resp.status_code, resp.text)
    assert "ratelimit.project_create_user: 20 per hour" in resp.text, resp.text
    assert 0 < int(resp.headers["Retry-After"]) <= 3600, resp.headers
    assert server.get("/simple/sr-seed-20/").status_code == 200
    assert server.get("/simple/sr-dora-20/").status_code == 404


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def test_concurrent_logins_hash_on_a_bounded_pool_whose_memory_stays_bounded(strongroom, backend_kind):
    # Default Argon2 cost (19 MiB a hash); two slots; sixteen request threads.
    server = strongroom(backend_kind, env={
        "STRONGROOM_PASSWORD__HASH_CONCURRENCY": "2",
        "STRONGROOM_PASSWORD__HASH_WAIT_SECONDS": "300",
        "TOKIO_WORKER_THREADS": "16",
    })
    assert "password.argon2_memory_kib" in server.cli("config", "show").stdout
    server.create_user("mia", PW)
    pid = server.proc.pid
    web = Web(server.url)
    form = web.form("/account/login/", "/account/login/")
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in web.cookies.items()),
               "Origin": server.url, "Referer": server.url + "/account/login/"}
    base = rss_kib(pid)

    def login(i: int) -> int:
        # Half right, half wrong: both cost one full hash.
        password = PW if i % 2 else f"wrong password {i}"
        return requests.post(server.url + "/account/login/", data=dict(form.fields, username="mia", password=password),
                             headers=headers, allow_redirects=False, timeout=300).status_code

    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for burst in range(2):
            with ThreadPoolExecutor(64) as pool:
                codes = list(pool.map(login, range(64)))
            assert sorted(set(codes)) == [303, 403], codes
            after = rss_kib(pid)
            if burst == 0:
                first_after = after
    finally:
        done.set()
        sampler.join()
    hwm = rss_kib(pid, "VmHWM")
    mib = 1024
    report = f"base {base // mib} MiB, peak {max(peak[0], hwm) // mib} MiB, after {after // mib} MiB"
    print(report)
    # Two slots hold 2 x 19 MiB; generous room for everything else.
    assert max(peak[0], hwm) < base + 80 * mib and max(peak[0], hwm) < 150 * mib, report
    assert after < base + 60 * mib, report
    # The second burst reused the first one's memory instead of adding to it.
    assert after < first_after + 8 * mib, report + f", after the first burst {first_after // mib} MiB"
    if backend_kind != "sqlite":
        return  # the pool is the same on both backends: its idle release is waited for once
    # Quiet for longer than the pool's idle time (30 s): the slots' memory (2 x 19 MiB) is
    # dropped and given back to the system, not kept for the life of the process.
    released = srkit.wait_until(lambda: rss_kib(pid) < after - 30 * mib, timeout=45, interval=1)
    assert released, report + f", {rss_kib(pid) // mib} MiB after 45 s idle"


def test_a_login_that_waits_too_long_for_a_hashing_slot_gets_503_with_retry_after(strongroom, backend_kind):
    # One slot and a one-second wait: 64 logins cannot all be served in time. The default memory
    # with three times the default passes makes that so on a fast machine too (at the default
    # cost, 64 hashes took under a second on some).
    server = strongroom(backend_kind, env={
        "STRONGROOM_PASSWORD__HASH_CONCURRENCY": "1",
        "STRONGROOM_PASSWORD__HASH_WAIT_SECONDS": "1",
        "STRONGROOM_PASSWORD__ARGON2_ITERATIONS": "6",
    })
    server.create_user("max", PW)
    web = Web(server.url)
    form = web.form("/account/login/", "/account/login/")
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in web.cookies.items()),
               "Origin": server.url, "Referer": server.url + "/account/login/"}

    def login(i: int) -> requests.Response:
        return requests.post(server.url + "/account/login/",
                             data=dict(form.fields, username="max", password=f"wrong password {i}"),
                             headers=headers, allow_redirects=False, timeout=120)

    with ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(login, range(64)))
    codes = [r.status_code for r in answers]
    assert set(codes) <= {403, 503}, codes
    busy = [r for r in answers if r.status_code == 503]
    assert busy and codes.count(403) >= 1, codes
    assert all(r.headers.get("Retry-After") == "5" for r in busy), [r.headers for r in busy]
    assert "busy checking other passwords" in page_text(busy[0]), page_text(busy[0])[:300]
