"""Ownership and the admin area in headless Chromium (real SMTP, a moved clock): an Owner invites
a newcomer from the project's manage page, the newcomer accepts on the invitations page and asks
to remove the Owner, the manage page shows the held change, the Owner vetoes it from the mailed
link and reports the newcomer to the administrators (which freezes nobody), and an administrator,
mailed, freezes the account from its admin page, then unfreezes it with a
reason (which mails a password reset to the newcomer's address and revives neither its session
nor its password), reads the project's timeline and checks the log. No console errors or CSP violations on
any page; screenshots go to .test-work/screenshots/."""

from __future__ import annotations

import pytest

import srkit
from browserkit import browser, mail_sink, probe, web_server  # noqa: F401  (fixtures)

PASSWORD = "correct horse battery staple 42"
PROJECT = "sr-browser-owned"


def login(page, base: str, user: str) -> None:
    page.goto(base + "/account/login/")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(base + "/")
    assert user in page.inner_text("header")


@pytest.mark.timeout(300)
def test_invite_accept_held_removal_veto_report_and_admin(web_server, mail_sink, browser, tmp_path):  # noqa: F811
    clock = tmp_path / "clock"
    clock.write_text("0")
    srv = web_server({
        "STRONGROOM_SMTP__HOST": "127.0.0.1",
        "STRONGROOM_SMTP__PORT": str(mail_sink.port),
        "STRONGROOM_SMTP__TLS": "none",
        "STRONGROOM_SMTP__FROM": "strongroom <noreply@localhost>",
        "STRONGROOM_HIBP__URL": "",
        "STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock),
    })
    base = srv.web_url
    srv.create_user("alice", PASSWORD, email="alice@example.test")
    srv.create_user("bob", PASSWORD, email="bob@example.test")
    srv.create_user("root", PASSWORD, email="root@example.test", admin=True)
    srkit.ok_upload(srv, srv.create_token("alice"), srkit.make_wheel(PROJECT, "1.0"))
    clock.write_text(str(30 * 86_400))  # alice has owned the project for a month

    contexts = []

    def person():
        ctx = browser.new_context(viewport={"width": 1200, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        p = probe_for(ctx, page)
        return p

    try:
        # -- alice invites bob from the manage page
        alice = person()
        login(alice.page, base, "alice")
        alice.page.goto(base + "/manage/projects/")
        alice.page.click(f"#my-projects a[href*='/manage/project/{PROJECT}/']")
        alice.page.wait_for_url(f"**/manage/project/{PROJECT}/")
        assert "Owner" in alice.page.inner_text("#my-role")
        alice.page.fill("#invite-username", "bob")
        alice.page.select_option("#invite-role", "Owner")
        alice.page.click("#invite-button")
        assert "bob" in alice.page.inner_text("#invitations")
        alice.screenshot("ownership-invited")
        mail_sink.wait_for("bob@example.test", f"Invitation to be Owner of {PROJECT}")
        mail_sink.wait_for("alice@example.test", f"bob was invited to {PROJECT}")

        # -- bob accepts, then asks to remove alice: held, shown on the manage page
        bob = person()
        login(bob.page, base, "bob")
        bob.page.goto(base + "/manage/account/invitations/")
        bob.screenshot("ownership-invitations")
        bob.page.click("#invitations button:has-text('Accept')")
        bob.page.goto(base + f"/manage/project/{PROJECT}/")
        assert "Owner" in bob.page.inner_text("#member-bob")
        bob.page.click("#member-alice button:has-text('Remove')")
        pending = bob.page.inner_text("#pending-changes")
        assert "remove alice" in pending and "bob" in pending, pending
        assert "Owner" in bob.page.inner_text("#member-alice")  # not yet
        bob.screenshot("ownership-pending-removal")

        # -- alice vetoes from the mail and reports bob to the administrators
        veto = mail_sink.wait_for("alice@example.test", "Veto")
        link = mail_sink.link(veto, "/account/veto/")
        alice.page.goto(link)
        assert "bob" in alice.page.inner_text("#veto-summary")
        alice.screenshot("ownership-veto")
        alice.page.click("#veto-report-button")
        assert "veto" in alice.page.inner_text("main").lower()
        alice.page.goto(base + f"/manage/project/{PROJECT}/")
        assert "Owner" in alice.page.inner_text("#member-alice")
        assert alice.page.locator("#pending-changes").count() == 0 or "remove alice" not in alice.page.inner_text("#pending-changes")

        # no member freezes another: bob's session lives until an administrator acts
        bob.page.goto(base + "/manage/account/")
        assert "/account/login/" not in bob.page.url

        # -- the administrator is mailed, freezes bob from his admin page, then (having talked to
        #    bob) unfreezes with a reason, reads the timeline and the log
        mail_sink.wait_for("root@example.test", "Freeze requested")
        root = person()
        login(root.page, base, "root")
        root.page.goto(base + "/admin/users/bob/")
        root.page.fill("#freeze-form input[name=reason]", "reported by alice's veto")
        root.page.click("#freeze-form button")
        assert "frozen" in root.page.inner_text("#user-status").lower()
        bob.page.goto(base + "/manage/account/")
        assert "/account/login/" in bob.page.url
        root.page.fill("#unfreeze-form input[name=reason]", "spoke to bob: lost laptop, new password set")
        root.page.click("#unfreeze-form button")
        assert "frozen" not in root.page.inner_text("#user-status").lower()
        assert "password reset" in root.page.inner_text("#done"), root.page.inner_text("#done")
        root.screenshot("admin-user-unfrozen")
        # bob is back only through the reset mailed to him: his password alone does not sign in.
        mail_sink.wait_for("bob@example.test", "Set a new password")
        bob.page.goto(base + "/account/login/")
        bob.page.fill("#username", "bob")
        bob.page.fill("#password", PASSWORD)
        bob.page.click("#login-submit")
        assert "Reset your password" in bob.page.inner_text("main")
        # that refusal is a 403 page, which Chromium logs as a failed load: expected here
        assert bob.console_errors == ["Failed to load resource: the server responded with a status of 403 (Forbidden)"], bob.console_errors
        bob.console_errors.clear()
        root.page.goto(base + f"/admin/projects/{PROJECT}/")
        text = root.page.inner_text("main")
        for action in ("project:create", "role:invite", "role:invite:accept", "role:change:pending", "role:change:veto"):
            assert action in text, (action, text[:2000])
        root.screenshot("admin-project-timeline")
        root.page.goto(base + "/admin/log/")
        assert "intact" in root.page.inner_text("#log-result")
        for p in (alice, bob, root):
            p.assert_no_errors()
    finally:
        for ctx in contexts:
            ctx.close()


def probe_for(ctx, page):
    from browserkit import PageProbe
    return PageProbe(ctx, page)
