"""Rate limits under a burst: attempts sent at once, against started servers with the rate limits
ON at their defaults.

A limit takes each attempt's place before the password or code is checked, in one store
operation (`core::ratelimit`), so a burst cannot pass a count that none of its attempts has added
to yet (the finding: 100 parallel wrong passwords got 87 checked against `ratelimit.login_user`
of 10, and 60 parallel TOTP codes got 8 checked against `ratelimit.two_factor_user` of 5).

- 60 wrong passwords for one account from one address at once: exactly 10 are checked (403),
  the other 50 get 429 naming `ratelimit.login_user`; the right password in the same window is
  refused too (the per-account limit refuses before any work), and signs in once the window has
  passed.
- 60 wrong TOTP codes for one login at once: exactly 5 are checked, the other 55 get 429 naming
  `ratelimit.two_factor_user`; the right code in the same window is refused too, and a new login
  after the window completes with a valid code."""

from __future__ import annotations

import threading
from pathlib import Path

import requests

import srkit
from test_limits import PW, Clock, enrol_totp, from_address, login_answer
from webclient import Web, page_text

LIMITS_ON = {"STRONGROOM_RATE_LIMITS": "true"}
BURST = 60


def burst(server: srkit.Server, path: str, web: Web, fields: dict, vary) -> list[tuple[int, str]]:
    """POST `fields` (with `vary(i)` merged in) to `path` BURST times at once, with `web`'s cookies."""
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in web.cookies.items()),
               "Origin": server.url, "Referer": server.url + path,
               "X-Forwarded-For": "192.0.2.50"}
    start = threading.Barrier(BURST)
    answers: list[tuple[int, str]] = [(0, "")] * BURST

    def go(i: int) -> None:
        data = dict(fields, **vary(i))
        start.wait()
        resp = requests.post(server.url + path, data=data, headers=headers, allow_redirects=False, timeout=300)
        answers[i] = (resp.status_code, page_text(resp))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def env(clock: Clock) -> dict:
    return {
        **LIMITS_ON,
        "STRONGROOM_PROXY__TRUSTED_IPS": "127.0.0.1",
        "STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock.file),
        # Not a limit: only so that no attempt of the old, unlimited burst waits into a 503.
        "STRONGROOM_PASSWORD__HASH_WAIT_SECONDS": "300",
    }


def test_a_burst_of_wrong_passwords_gets_exactly_the_per_account_limit_checked(
        strongroom, backend_kind, tmp_path: Path):
    clock = Clock(tmp_path)
    server = strongroom(backend_kind, env=env(clock))
    server.create_user("vic", PW)
    web = from_address(Web(server.url), "192.0.2.50")
    form = web.form("/account/login/", "/account/login/")
    answers = burst(server, "/account/login/", web, dict(form.fields, username="vic"),
                    lambda i: {"password": f"wrong password {i:03d}"})
    codes = [c for c, _ in answers]
    assert codes.count(403) == 10 and codes.count(429) == BURST - 10, sorted(codes)
    checked = [t for c, t in answers if c == 403]
    assert all("The username or password is incorrect." in t for t in checked), checked[0][:400]
    refused = [t for c, t in answers if c == 429]
    assert all("ratelimit.login_user: 10 per 5 minutes" in t for t in refused), refused[0][:400]

    # The right password within the window: refused before any work, like every attempt.
    ok, status, text = login_answer(server, "vic", PW, "192.0.2.51")
    assert not ok and status == 429 and "ratelimit.login_user" in text, (status, text[:300])
    # Once the window has passed, it signs in.
    clock.advance(5 * 60 + 1)
    ok, status, text = login_answer(server, "vic", PW, "192.0.2.51")
    assert ok, (status, text[:400])


def test_a_burst_of_wrong_totp_codes_gets_exactly_the_two_factor_limit_checked(
        strongroom, backend_kind, tmp_path: Path):
    clock = Clock(tmp_path)
    server = strongroom(backend_kind, env=env(clock))
    server.create_user("tim", PW)
    auth = enrol_totp(server, "tim", clock)
    clock.advance(60)

    web = from_address(Web(server.url), "192.0.2.50")
    resp = web.login("tim", PW)
    assert "/account/two-factor/" in resp.url, (resp.status_code, resp.url)
    form = web.form("/account/two-factor/", "/account/two-factor/")
    right = auth.now()
    answers = burst(server, form.action, web, form.fields,
                    lambda i: {"totp_code": f"{(int(right) + 500_000 + i) % 1_000_000:06d}"})
    codes = [c for c, _ in answers]
    checked = [c for c in codes if c != 429]
    assert len(checked) == 5 and codes.count(429) == BURST - 5, sorted(codes)
    assert all(c != 429 and "Invalid authentication code." in t for c, t in answers if c != 429), answers
    refused = [t for c, t in answers if c == 429]
    assert all("ratelimit.two_factor_user" in t for t in refused), refused[0][:400]

    # The right code within the window: refused before it is checked.
    resp = web.submit("/account/two-factor/", "/account/two-factor/", {"totp_code": right})
    assert resp.status_code == 429 and not web.logged_in(), (resp.status_code, page_text(resp)[:300])
    # After the window (the ticket has expired with it), a new login completes with a valid code.
    clock.advance(5 * 60 + 1)
    ok, status, text = login_answer(server, "tim", PW, "192.0.2.51", totp=auth)
    assert ok, (status, text[:400])
