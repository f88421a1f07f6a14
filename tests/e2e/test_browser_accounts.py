"""The account journey in headless Chromium, against `strongroom serve` with real SMTP (aiosmtpd
on loopback): register → verify by the mailed link → enrol TOTP (code computed with pyotp) and
confirm by mail → log out → log in with password + TOTP → enrol a passkey with Chrome's virtual
authenticator → log out → log in with the passkey alone → create tokens in the UI → `twine
upload` with them → the project-scoped token cannot upload to another project.
Screenshots of each main page go to .test-work/screenshots/.
"""

from __future__ import annotations

import time

import pyotp
import pytest

import srkit
from browserkit import browser, mail_sink, probe, web_server  # noqa: F401  (fixtures)

PASSWORD = "a long and unusual passphrase 42"


def fresh_totp(secret: str, used: set[str]) -> str:
    """A current code not used before (TOTP codes are single use): waits for the next step."""
    totp = pyotp.TOTP(secret)
    for _ in range(40):
        code = totp.now()
        if code not in used:
            used.add(code)
            return code
        time.sleep(1)
    raise AssertionError("no fresh TOTP code within 40 s")


@pytest.mark.timeout(420)
def test_register_verify_totp_passkey_tokens_and_upload(web_server, mail_sink, probe, dists, tmp_path):
    srv = web_server({
        "STRONGROOM_REQUIRE_2FA": "true",
        "STRONGROOM_SMTP__HOST": "127.0.0.1",
        "STRONGROOM_SMTP__PORT": str(mail_sink.port),
        "STRONGROOM_SMTP__TLS": "none",
        "STRONGROOM_SMTP__FROM": "strongroom <noreply@localhost>",
        "STRONGROOM_HIBP__URL": "",
        "STRONGROOM_ACCOUNTS__REGISTRATION": "open",  # the journey starts on the registration page
    })
    page = probe.page
    base = srv.web_url
    user, address = "webuser", "webuser@example.test"

    # register
    page.goto(base + "/account/register/")
    page.fill("#username", user)
    page.fill("#email", address)
    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    probe.screenshot("register-filled")
    page.click("#register-submit")
    assert "Check your email" in page.inner_text("main")

    # verify by the link in the mail
    mail = mail_sink.wait_for(address, "verify")
    link = mail_sink.link(mail, "/account/verify-email/")
    assert link.startswith(base + "/"), link
    page.goto(link)
    assert "verified" in page.inner_text("main").lower()
    probe.screenshot("email-verified")

    # log in: 2FA is required and there is none yet → only enrolment is allowed
    page.goto(base + "/account/login/")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url("**/manage/account/two-factor/")
    probe.screenshot("two-factor-settings")
    page.goto(base + "/manage/account/tokens/")
    page.wait_for_url("**/manage/account/two-factor/")

    # enrol TOTP
    page.click("#totp-enrol-link")
    page.wait_for_url("**/manage/account/totp/")
    assert page.is_visible(".qr img")
    secret = page.inner_text("#totp-secret").strip()
    probe.screenshot("totp-enrol")
    used: set[str] = set()
    page.fill("#code", fresh_totp(secret, used))
    page.click("#totp-confirm")
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
    assert len(codes) == 8, codes
    assert "follow the link" in page.inner_text("main")
    probe.screenshot("recovery-codes")

    # the first second factor is confirmed through the primary address
    mail = mail_sink.wait_for(address, "two-factor")
    page.goto(mail_sink.link(mail, "/account/confirm-two-factor/"))
    assert "Two-factor authentication is now on" in page.inner_text("main")

    # log out, log in with password + TOTP
    page.goto(base + "/")
    page.click("#logout-button")
    page.wait_for_url(base + "/")
    assert page.is_visible("#nav-login")
    page.goto(base + "/account/login/")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url("**/account/two-factor/**")
    probe.screenshot("login-second-factor")
    page.fill("#totp_code", fresh_totp(secret, used))
    page.click("#totp-submit")
    page.wait_for_url(base + "/")
    assert user in page.inner_text("header")

    # enrol a passkey with the virtual authenticator
    probe.add_virtual_authenticator()
    page.goto(base + "/manage/account/two-factor/")
    page.fill("#webauthn-label", "laptop passkey")
    page.click("#webauthn-register")
    page.wait_for_url("**/manage/account/two-factor/?done=key-added")
    assert "laptop passkey" in page.inner_text("#webauthn-keys")
    creds = probe.credentials()
    assert len(creds) == 1 and creds[0]["isResidentCredential"], creds
    probe.screenshot("two-factor-with-passkey")

    # log out, log in with the passkey alone (no username, no password)
    page.click("#logout-button")
    page.wait_for_url(base + "/")
    page.goto(base + "/account/login/")
    page.click("#passkey-login")
    page.wait_for_url(base + "/")
    assert user in page.inner_text("header")
    assert probe.credentials()[0]["signCount"] >= 1

    def password_step() -> None:
        page.click("#logout-button")
        page.wait_for_url(base + "/")
        page.goto(base + "/account/login/")
        page.fill("#username", user)
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url("**/account/two-factor/**")

    # password, then the security key as second factor
    password_step()
    probe.screenshot("login-second-factor-with-key")
    page.click("#webauthn-2fa")
    page.wait_for_url(base + "/")
    assert user in page.inner_text("header")

    # password, then a recovery code (each works once)
    password_step()
    page.click("details summary")
    page.fill("#recovery_code", codes[0])
    page.click("#recovery-submit")
    page.wait_for_url(base + "/")
    assert user in page.inner_text("header")
    password_step()
    page.click("details summary")
    page.fill("#recovery_code", codes[0])
    page.click("#recovery-submit")
    assert page.is_visible("#form-error")
    probe.console_errors.clear()  # the refused code's 403 page was expected
    page.fill("#totp_code", fresh_totp(secret, used))
    page.click("#totp-submit")
    page.wait_for_url(base + "/")

    # account page: emails, sessions, history with time/IP/UA
    page.goto(base + "/manage/account/")
    history = page.inner_text("#events")
    assert "127.0.0.1" in history and "HeadlessChrome" in history, history
    probe.screenshot("account")

    # an account-wide token creates the project; a project-scoped token is limited to it
    def create_token(name: str, scope: str) -> str:
        page.goto(base + "/manage/account/tokens/")
        page.fill("#name", name)
        page.select_option("#scope", scope)
        page.click("#token-create")
        token = page.inner_text("#new-token").strip()
        assert token.startswith("strongroom-"), token
        return token

    account_token = create_token("bootstrap", "")
    probe.screenshot("token-created")
    srkit.twine_upload(srv, account_token, dists.demo_v1, tmp_path)
    scoped = create_token("ci for sr-demo", "sr-demo")
    page.goto(base + "/manage/account/tokens/")
    tokens = page.inner_text("#tokens")
    assert "Project: sr-demo" in tokens and "Entire account" in tokens, tokens
    probe.screenshot("tokens")
    srkit.twine_upload(srv, scoped, dists.demo_v2, tmp_path)
    refused = srkit.twine_upload(srv, scoped, dists.app_v1, tmp_path, check=False)
    assert refused.returncode != 0
    assert "403" in srkit.output(refused), srkit.output(refused)
    assert srv.get("/simple/sr-app/").status_code == 404

    # the project page shows both releases
    page.goto(base + "/project/sr-demo/")
    history = page.inner_text(".release-history")
    assert "1.0" in history and "2.0" in history
    probe.assert_no_errors()
