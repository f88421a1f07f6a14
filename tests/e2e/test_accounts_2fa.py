"""Issue 3 at the upload endpoint: with the default `require_2fa`, an account without two-factor
authentication cannot upload, even with a valid API token (PyPI's 403 and message); with the
default rate limits, a user's 21st new project within the hour gets PyPI's 429."""

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


def test_the_21st_new_project_in_an_hour_gets_429_with_retry_after(strongroom):
    server = strongroom("sqlite", env={"STRONGROOM_RATE_LIMITS": "true"})
    token = server.user_with_token("carol")
    for i in range(20):
        srkit.ok_upload(server, token, srkit.make_wheel(f"sr-many-{i:02d}", "1.0"))
    # New files in existing projects are not limited...
    srkit.ok_upload(server, token, srkit.make_wheel("sr-many-00", "1.1"))
    # ...new projects are.
    resp = srkit.upload_raw(server, token, srkit.make_wheel("sr-many-20", "1.0"))
    assert resp.status_code == 429, (resp.status_code, resp.text)
    assert "Too many new projects created" in resp.text, resp.text
    assert 0 < int(resp.headers["Retry-After"]) <= 3600, resp.headers
    assert server.get("/simple/sr-many-20/").status_code == 404
