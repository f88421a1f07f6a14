"""The web UI in headless Chromium (Playwright over the Debian chromium package): public pages
render without CSP violations, forms carry CSRF tokens, and screenshots of the main pages land
in .test-work/screenshots/.
"""

from __future__ import annotations

import pytest

import srkit
from browserkit import browser, mail_sink, probe, web_server  # noqa: F401  (fixtures)


def test_public_pages_in_a_browser(web_server, probe, dists, tmp_path):
    # a CLI account uploads with its token; registration open for the registration form's screenshot
    srv = web_server({"STRONGROOM_REQUIRE_2FA": "false", "STRONGROOM_ACCOUNTS__REGISTRATION": "open"})
    token = srv.user_with_token("maintainer")
    srkit.twine_upload(srv, token, dists.demo_v1, tmp_path)
    page = probe.page

    page.goto(srv.web_url + "/")
    assert page.title() == "Home · strongroom"
    assert "1 project hosted" in page.inner_text("main")
    probe.screenshot("home")

    page.fill("#q", "demo")
    page.click("form.search button")
    page.wait_for_url("**/projects/?q=demo")
    page.click("text=sr-demo")
    page.wait_for_url("**/project/sr-demo/")
    assert page.inner_text("#project-title").startswith("sr-demo")
    files = page.inner_text("table.files")
    assert "sr_demo-1.0-py3-none-any.whl" in files and "sha256" in files
    assert "pip install --index-url http://localhost:" in page.inner_text("pre.command")
    # the stylesheet was applied (it is a separate file: the CSP forbids inline styles)
    bg = page.eval_on_selector(".site-header", "e => getComputedStyle(e).backgroundColor")
    assert bg == "rgb(22, 33, 58)", bg
    probe.screenshot("project")

    page.goto(srv.web_url + "/projects/")
    probe.screenshot("projects")
    page.goto(srv.web_url + "/account/login/")
    assert page.get_attribute("input[name=csrf_token]", "value")
    assert page.is_visible("#passkey-login")
    probe.screenshot("login")
    page.goto(srv.web_url + "/account/register/")
    probe.screenshot("register")
    probe.assert_no_errors()
    resp = page.goto(srv.web_url + "/project/no-such-thing/")
    assert resp.status == 404
    probe.screenshot("not-found")


def test_cross_site_form_post_is_refused(web_server, probe):
    """A page on another site that auto-submits a form to our login gets 403: its Origin is
    foreign and it cannot know the CSRF token."""
    srv = web_server()
    page = probe.page
    page.goto(srv.web_url + "/account/login/")  # the visitor holds our CSRF cookie
    evil_html = f"""<!DOCTYPE html><html><body>
        <form id=f method=post action="{srv.web_url}/account/login/">
        <input name=username value=victim><input name=password value=x>
        <input name=csrf_token value=guess></form>
        <script>document.getElementById('f').submit()</script></body></html>"""
    page.route("http://evil.test/**", lambda route: route.fulfill(status=200, content_type="text/html", body=evil_html))
    with page.expect_navigation(url=srv.web_url + "/account/login/") as nav:
        page.goto("http://evil.test/attack")
    assert nav.value.status == 403
    assert "cross-site request check failed" in page.inner_text("main")
    probe.screenshot("csrf-refused")


def test_admin_area_and_the_429_page(web_server, probe, dists, tmp_path):
    srv = web_server({"STRONGROOM_REQUIRE_2FA": "false", "STRONGROOM_RATE_LIMITS": "true", "STRONGROOM_HIBP__URL": ""})
    password = srv.create_user("root", admin=True)
    srv.create_user("plainuser")
    token = srv.create_token("root")
    srkit.twine_upload(srv, token, dists.demo_v1, tmp_path)
    page = probe.page
    base = srv.web_url

    # an admin logs in and sees users and projects
    page.goto(base + "/account/login/")
    page.fill("#username", "root")
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(base + "/")
    page.click("text=Admin")
    page.click("text=Users")
    users = page.inner_text("#admin-users")
    assert "root" in users and "plainuser" in users
    probe.screenshot("admin-users")
    page.goto(base + "/admin/projects/")
    assert "sr-demo" in page.inner_text("#admin-projects")
    probe.screenshot("admin-projects")
    page.goto(base + "/admin/invitations/")
    assert "Registration mode: closed" in page.inner_text("#registration-mode")
    probe.screenshot("admin-invitations")
    probe.assert_no_errors()
    page.click("#logout-button")
    page.wait_for_url(base + "/")
    assert page.goto(base + "/admin/").status == 404

    # wrong passwords, again and again: the login limiter answers 429 with Retry-After
    status = None
    for _ in range(15):
        page.goto(base + "/account/login/")
        page.fill("#username", "plainuser")
        page.fill("#password", "not the password at all")
        with page.expect_navigation() as nav:
            page.click("#login-submit")
        status = nav.value.status
        if status == 429:
            assert int(nav.value.headers["retry-after"]) > 0
            break
    assert status == 429
    assert "Please wait" in page.inner_text("main")
    probe.screenshot("too-many-requests")
