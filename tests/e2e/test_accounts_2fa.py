"""Issue 3: with the default `require_2fa`, an account without two-factor authentication cannot
upload, even with a valid API token (PyPI's 403 and message); the project is not created."""

from __future__ import annotations

import srkit


def test_default_requires_2fa_for_token_uploads(strongroom):
    server = strongroom("sqlite", env={"STRONGROOM_REQUIRE_2FA": "true"})
    token = server.user_with_token("alice")
    resp = srkit.upload_raw(server, token, srkit.make_wheel("sr-twofa", "1.0"))
    assert resp.status_code == 403, (resp.status_code, resp.text)
    assert "User 'alice' does not have two-factor authentication enabled" in resp.text, resp.text
    assert "does not have two-factor authentication enabled" in resp.reason, resp.reason
    assert server.get("/simple/sr-twofa/").status_code == 404


def test_the_suite_default_turns_2fa_off_for_cli_accounts(server):
    token = server.user_with_token("bob")
    srkit.ok_upload(server, token, srkit.make_wheel("sr-twofa-off", "1.0"))
