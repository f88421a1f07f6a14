"""Every page template in real Chromium at 375 px (a phone) and 1280 px (a laptop): nothing is
wider than the viewport (`document.documentElement.scrollWidth <= innerWidth`), and a full-page
screenshot of each lands in .test-work/screenshots/<page>-<width>.png for a person to look at.

The walk reaches every template in crates/strongroom-server/templates that extends base.html:
`base.html` marks each page with the template that rendered it (`<body data-page=…>`), and the
test fails naming any template it did not see, so a new page must be added here. The data is
chosen to stress narrow screens: a long project name and version, a long summary, a description
with a long unbroken word, a wide code block and a table. Also: dark mode follows
`prefers-color-scheme`, the copy buttons copy (the new token, the install command, the recovery
codes), and the snippets after a token is made carry the index's public URL and the token.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
import pytest

import srkit
from browserkit import SCREENSHOTS as SHOTS
from browserkit import browser, mail_sink, web_server  # noqa: F401  (fixtures)

PASSWORD = "correct horse battery staple 42"
TEMPLATES = srkit.REPO_ROOT / "crates" / "strongroom-server" / "templates"
WIDTHS = (375, 1280)
LONG = "sr-a-rather-long-project-name-for-narrow-screens"
LONG_VERSION = "2024.10.15.post1234"
DESCRIPTION = """\
A project description that tries hard to be wide
=================================================

Averyveryverylongwordwithoutanyspacesthatwouldpushthepagewiderthanaphonescreencanshow_and_then_some.

::

    strongroom --a-very-long-command-line-option=with-a-long-value --and-another-one=that-goes-on-and-on --until-the-line-is-far-wider-than-any-phone

+------------------------+------------------------+------------------------+------------------------+
| a wide table           | with four columns      | of quite long headers  | that will not fit      |
+========================+========================+========================+========================+
| cell one               | cell two               | cell three             | cell four              |
+------------------------+------------------------+------------------------+------------------------+
"""


def page_templates() -> set[str]:
    """Every template that is a page (extends base.html), by file name."""
    return {p.name for p in TEMPLATES.glob("*.html") if '{% extends "base.html" %}' in p.read_text()}


def fresh_totp(secret: str, used: set[str], offset: int) -> str:
    """A code not used before, at the server's clock (`offset` seconds ahead of ours)."""
    totp = pyotp.TOTP(secret)
    for _ in range(40):
        code = totp.at(time.time() + offset)
        if code not in used:
            used.add(code)
            return code
        time.sleep(1)
    raise AssertionError("no fresh TOTP code within 40 s")


class Walker:
    """Looks at the current page at each width: measures, photographs, records its template."""

    def __init__(self):
        self.seen: dict[str, str] = {}  # template -> the first shot's name
        self.too_wide: list[str] = []
        SHOTS.mkdir(parents=True, exist_ok=True)

    def look(self, page, name: str) -> None:
        template = page.get_attribute("body", "data-page") or "?"
        self.seen.setdefault(template, name)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            sizes = page.evaluate(
                "() => [document.documentElement.scrollWidth, window.innerWidth]")
            if sizes[0] > sizes[1]:
                # name the widest elements that no scrolling ancestor contains
                wide = page.evaluate("""() => {
                    const free = e => { if (getComputedStyle(e).position === 'absolute') return true;
                        for (let a = e.parentElement; a && a !== document.body; a = a.parentElement)
                            if (getComputedStyle(a).overflowX !== 'visible') return false;
                        return true; };
                    return Array.from(document.querySelectorAll('body *'))
                        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5 && free(e))
                        .slice(0, 4).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className).join(', ');
                }""")
                self.too_wide.append(f"{name} ({template}) at {width}px: scrollWidth {sizes[0]} > {sizes[1]}: {wide}")
            page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})


def login(page, base: str, user: str) -> None:
    page.goto(base + "/account/login/")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(base + "/")


@pytest.mark.timeout(420)
def test_every_page_at_375_and_1280(web_server, mail_sink, browser, tmp_path):  # noqa: F811
    clock = tmp_path / "clock"
    clock.write_text("0")
    srv = web_server({
        "STRONGROOM_REQUIRE_2FA": "false",
        "STRONGROOM_ACCOUNTS__REGISTRATION": "open",
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
    alice_token = srv.create_token("alice")
    summary = "A long summary that goes on for a while, describing " + "every feature " * 8
    for version in ("1.0", LONG_VERSION):
        srkit.ok_upload(srv, alice_token, srkit.make_wheel(LONG, version, summary=summary, description=DESCRIPTION))
    srkit.ok_upload(srv, alice_token, srkit.make_wheel("sr-orchard", "1.0", summary="Tools for apple orchards"))
    offset = 30 * 86_400
    clock.write_text(str(offset))  # alice has owned her projects for a month: removals are held
    walk = Walker()
    contexts = []

    def person(**kw):
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, **kw)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 404" not in m.text else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        return page, errors

    try:
        # -- anonymous: the public pages, the account forms, an error page
        anon, anon_errors = person(permissions=["clipboard-read", "clipboard-write"])
        for name, path in [
            ("home", "/"),
            ("projects", "/projects/"),
            ("search", "/projects/?q=orchard"),
            ("search-no-match", "/projects/?q=xylophonist"),
            ("project", f"/project/{LONG}/"),
            ("release-older", f"/project/{LONG}/1.0/"),
            ("login", "/account/login/"),
            ("register", "/account/register/"),
            ("forgot-password", "/account/forgot-password/"),
            ("reset-password", "/account/reset-password/?token=not-a-real-token"),
            ("freeze", "/account/freeze/?token=not-a-real-token"),
        ] + ([("help", "/help/")] if (TEMPLATES / "help.html").exists() else []):
            anon.goto(base + path)
            walk.look(anon, name)
        assert anon.is_visible("#nav-login")
        resp = anon.goto(base + "/project/no-such-thing/")
        assert resp.status == 404
        walk.look(anon, "error-404")
        anon.goto(base + "/account/forgot-password/")
        anon.fill("main form input:not([type=hidden])", "nobody")
        anon.click("main form button[type=submit]")
        assert "Check your email" in anon.inner_text("main")
        walk.look(anon, "message")

        # the install command's copy button copies exactly the command
        anon.goto(base + f"/project/{LONG}/")
        anon.click("button[data-copy=install-command]")
        copied = anon.evaluate("() => navigator.clipboard.readText()")
        assert copied == anon.inner_text("#install-command") and copied.startswith("pip install --index-url"), copied
        assert "Copied" in anon.inner_text("button[data-copy=install-command]")

        # dark mode follows the system setting
        light = anon.evaluate("() => getComputedStyle(document.body).backgroundColor")
        anon.emulate_media(color_scheme="dark")
        dark = anon.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert light != dark and sum(int(c) for c in dark[4:-1].split(",")[:3]) < 150, (light, dark)
        walk.look(anon, "project-dark")
        anon.goto(base + "/projects/?q=orchard")
        walk.look(anon, "search-dark")
        anon.emulate_media(color_scheme="light")
        assert not anon_errors, anon_errors

        # -- alice: her account, tokens (copy and snippets), two-factor, her projects
        alice, alice_errors = person(permissions=["clipboard-read", "clipboard-write"])
        login(alice, base, "alice")
        for name, path in [
            ("account", "/manage/account/"),
            ("tokens", "/manage/account/tokens/"),
            ("two-factor-settings", "/manage/account/two-factor/"),
            ("reauth", "/manage/account/reauth/?next=/manage/account/"),
            ("review", "/manage/account/review/"),
            ("my-projects", "/manage/projects/"),
            ("manage-project", f"/manage/project/{LONG}/"),
        ]:
            alice.goto(base + path)
            walk.look(alice, name)
        resp = alice.goto(base + "/manage/project/no-such-thing/")
        assert resp.status == 404
        walk.look(alice, "error-404-signed-in")

        alice.goto(base + "/manage/account/tokens/")
        alice.fill("#name", "ci")
        alice.click("#token-create")
        token = alice.inner_text("#new-token").strip()
        assert token.startswith("strongroom-"), token
        walk.look(alice, "token-created")
        alice.click("button[data-copy=new-token]")
        assert alice.evaluate("() => navigator.clipboard.readText()") == token
        for snippet, must in [
            ("snippet-pypirc", [f"repository = {base}/legacy/", "username = __token__", f"password = {token}"]),
            ("snippet-uv", ["uv publish", f"--publish-url {base}/legacy/", f"--check-url {base}/simple/", f"--token {token}"]),
            ("snippet-poetry", [f"poetry config repositories.strongroom {base}/legacy/", f"pypi-token.strongroom {token}"]),
            ("snippet-pdm", [f"repository.strongroom.url {base}/legacy/", f"repository.strongroom.password {token}"]),
        ]:
            text = alice.inner_text(f"#{snippet}")
            for m in must:
                assert m in text, (snippet, m, text)
        alice.click("button[data-copy=snippet-pypirc]")
        assert alice.evaluate("() => navigator.clipboard.readText()") == alice.inner_text("#snippet-pypirc")

        alice.goto(base + "/manage/account/two-factor/")
        alice.click("#totp-enrol-link")
        alice.wait_for_url("**/manage/account/totp/")
        secret = alice.inner_text("#totp-secret").strip()
        walk.look(alice, "totp-enrol")
        used: set[str] = set()
        alice.fill("#code", fresh_totp(secret, used, offset))
        alice.click("#totp-confirm")
        codes = [c.strip() for c in alice.locator("#recovery-codes code").all_inner_texts()]
        assert len(codes) == 8, codes
        walk.look(alice, "recovery-codes")
        alice.click("button[data-copy=recovery-codes]")
        assert alice.evaluate("() => navigator.clipboard.readText()").split() == codes
        assert not alice_errors, alice_errors

        # -- bob is invited, accepts, asks to remove alice: held; alice's veto page
        alice.goto(base + f"/manage/project/{LONG}/")
        alice.fill("#invite-username", "bob")
        alice.select_option("#invite-role", "Owner")
        alice.click("#invite-button")
        walk.look(alice, "manage-project-invited")
        bob, _ = person()
        login(bob, base, "bob")
        bob.goto(base + "/manage/account/invitations/")
        walk.look(bob, "invitations")
        bob.click("#invitations button:has-text('Accept')")
        bob.goto(base + f"/manage/project/{LONG}/")
        bob.click("#member-alice button:has-text('Remove')")
        walk.look(bob, "manage-project-pending")
        veto = mail_sink.wait_for("alice@example.test", "Veto")
        alice.goto(mail_sink.link(veto, "/account/veto/"))
        walk.look(alice, "veto")

        # alice's second factor is confirmed from the mail; her next login asks for it
        confirm = mail_sink.wait_for("alice@example.test", "two-factor")
        alice.goto(mail_sink.link(confirm, "/account/confirm-two-factor/"))
        alice.goto(base + "/")
        alice.click("#logout-button")
        alice.wait_for_url(base + "/")
        alice.goto(base + "/account/login/")
        alice.fill("#username", "alice")
        alice.fill("#password", PASSWORD)
        alice.click("#login-submit")
        alice.wait_for_url("**/account/two-factor/**")
        walk.look(alice, "login-second-factor")

        # -- the administrator's pages
        root, root_errors = person()
        login(root, base, "root")
        for name, path in [
            ("admin", "/admin/"),
            ("admin-users", "/admin/users/"),
            ("admin-user", "/admin/users/alice/"),
            ("admin-projects", "/admin/projects/"),
            ("admin-project", f"/admin/projects/{LONG}/"),
            ("admin-names", "/admin/names/"),
            ("admin-site", "/admin/site/"),
            ("admin-invitations", "/admin/invitations/"),
            ("admin-log", "/admin/log/"),
            ("admin-signals", "/admin/signals/?kind=role:change:veto"),
            ("admin-changes", "/admin/changes/"),
        ]:
            resp = root.goto(base + path)
            assert resp.status == 200, (path, resp.status)
            walk.look(root, name)
        assert not root_errors, root_errors
    finally:
        for ctx in contexts:
            ctx.close()

    missing = page_templates() - set(walk.seen)
    assert not missing, f"templates no page of this walk rendered (add a visit): {sorted(missing)}"
    assert not walk.too_wide, "pages wider than the viewport:\n" + "\n".join(walk.too_wide)
    for name in ("home", "project", "token-created", "admin-log"):
        for width in WIDTHS:
            shot = SHOTS / f"{name}-{width}.png"
            assert shot.stat().st_size > 5_000, shot
