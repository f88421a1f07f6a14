"""Issue 8, finding 8, against a started server through HTTP and the CLI: who may register
(`accounts.registration`). The default is closed: the page says so with no form and the POST is
refused too, while the operator's `user create` still makes the first admin. Registration is
verify-first: the form makes a pending registration that reserves the username whatever the
address, and the account exists only once the link mailed to the address is followed, so neither
the page, nor the name's availability afterwards, nor a login tells a taken address from a free
one (red-team R1); the owner of a taken address is mailed instead (also when the address is added
in account settings; a password reset answers alike for unknown names). Addresses are compared in
one canonical form (NFKC, invisible code points dropped, IDNA domain), and an address added but
never verified expires and blocks no invitation (R2). `domains` admits the listed domain and its
subdomains, never a look-alike. `invite`: an admin's link (CLI or admin area) registers its address once,
and is refused for another address, replayed, expired or revoked. Mail is read from the
server's file outbox (<data>/outbox/*.eml)."""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
import urllib.parse

import pytest

import srkit
from webclient import Web, page_text

PW = "correct horse battery staple 42"
HOUR = 3600
TRIED = "Someone tried to use your email address"


def outbox(server: srkit.Server) -> list[tuple[str, str, str]]:
    """Every delivered mail as (to, subject, body)."""
    out = []
    for p in sorted((server.data_dir / "outbox").glob("*.eml")):
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        out.append((str(msg["To"]), str(msg["Subject"]), msg.get_content()))
    return out


def mails(server: srkit.Server, to: str, subject: str) -> list[str]:
    return [b for t, s, b in outbox(server) if t.lower() == to.lower() and subject in s]


def wait_mail(server: srkit.Server, to: str, subject: str) -> str:
    if not srkit.wait_until(lambda: mails(server, to, subject), timeout=20):
        pytest.fail(f"no mail to {to} about {subject!r}; seen: {[(t, s) for t, s, _ in outbox(server)]}")
    return mails(server, to, subject)[-1]


def link_path(body: str, fragment: str) -> str:
    for url in re.findall(r"https?://[^\s<>\"']+", body):
        if fragment in url:
            parts = urllib.parse.urlsplit(url)
            return parts.path + ("?" + parts.query if parts.query else "")
    pytest.fail(f"no link with {fragment!r} in:\n{body}")


def start(strongroom, kind: str, mode: str | None, **env: str) -> srkit.Server:
    """A server in registration `mode` (None: the default, nothing set)."""
    extra = {"STRONGROOM_HIBP__URL": "", **env}
    if mode is not None:
        extra["STRONGROOM_ACCOUNTS__REGISTRATION"] = mode
    return strongroom(kind, env=extra)


def anonymous_token(web: Web) -> str:
    """The anonymous CSRF token (any anonymous form's): a POST needs no form on the page."""
    return web.form("/account/login/", "/account/login/").fields["csrf_token"]


def post_register(web: Web, username: str, address: str, invite: str | None = None):
    data = {"csrf_token": anonymous_token(web), "username": username, "email": address,
            "password": PW, "password_confirm": PW}
    if invite is not None:
        data["invite"] = invite
    return web.request("POST", "/account/register/", data=data,
                       headers={"Referer": web.base + "/account/register/"})


def follow_link(server: srkit.Server, address: str) -> None:
    """Follow the newest registration link mailed to `address`: the account is made now."""
    page = Web(server.url).get(link_path(wait_mail(server, address, "Verify"), "/account/verify-email/"))
    assert page.status_code == 200 and "verified" in page_text(page), page_text(page)[:300]


def login_answer(server: srkit.Server, name: str) -> tuple[int, str, str]:
    web = Web(server.url)
    r = web.submit("/account/login/", "/account/login/", {"username": name, "password": PW})
    return r.status_code, r.url.replace(server.url, ""), page_text(r)


def exists(server: srkit.Server, name: str) -> bool:
    """Whether an account `name` exists: the CLI finds its timeline, which has its creation."""
    r = server.cli("admin", "timeline", "--user", name, "--json", check=False)
    if r.returncode != 0:
        assert f"no such user: {name}" in r.stderr, r.stderr
        return False
    return any(e["action"] == "account:create" for e in json.loads(r.stdout))


def test_the_default_closed_registration_refuses_the_page_and_the_post(strongroom, backend_kind):
    server = start(strongroom, backend_kind, None)  # the default: nothing set
    shown = server.cli("config", "show").stdout
    assert re.search(r"^accounts\.registration\s+= closed\s+# default", shown, re.M), shown
    web = Web(server.url)
    page = web.get("/account/register/")
    assert page.status_code == 403, page.status_code
    assert "Registration is closed on this index" in page_text(page)
    assert 'id="register-form"' not in page.text, "no form that would fail on submit"
    assert "nav-register" not in web.get("/").text and "/account/register/" not in web.get("/account/login/").text
    # Never trust the page: a hand-made POST with a valid CSRF token is refused as well.
    resp = post_register(web, "mallory", "mallory@example.test")
    assert resp.status_code == 403, (resp.status_code, page_text(resp)[:300])
    assert "Registration is closed" in page_text(resp)
    assert not exists(server, "mallory")
    assert not outbox(server)
    # The first admin comes from the CLI, as the README says, and can sign in.
    server.create_user("admin", PW, admin=True)
    root = Web(server.url)
    root.login("admin", PW)
    assert root.logged_in()
    assert "Invitation links do not work while registration is closed" in page_text(root.get("/admin/invitations/"))
    r = server.cli("admin", "invite-user", "--email", "x@example.test", "--reason", "r", check=False)
    assert r.returncode == 1 and "Registration is closed" in r.stderr, r.stderr


def test_open_registration_answers_a_taken_address_like_a_free_one(strongroom, backend_kind):
    server = start(strongroom, backend_kind, "open")
    server.create_user("alice", PW)
    web = Web(server.url)
    assert web.get("/account/register/").status_code == 200
    taken = post_register(web, "mallory", "Alice@example.test")
    free = post_register(web, "frank", "frank@example.test")
    assert taken.status_code == free.status_code == 200, (taken.status_code, free.status_code)
    assert (page_text(taken).replace("Alice@example.test", "ADDR")
            == page_text(free).replace("frank@example.test", "ADDR")), (page_text(taken), page_text(free))
    assert not exists(server, "mallory") and not exists(server, "frank"), "no account before the link"
    # The owner of the taken address is told, by account name; no verification link for it.
    told = wait_mail(server, "alice@example.test", TRIED)
    assert "your account alice" in told and "/account/forgot-password/" in told, told
    assert not mails(server, "alice@example.test", "Verify")
    # Both usernames are now reserved alike, and a login with either answers as for an unknown
    # name: the second request tells nothing about the address either (red-team R1).
    for name in ("mallory", "frank"):
        resp = post_register(web, name, "third@example.test")
        assert resp.status_code == 409 and "username is already being used" in page_text(resp), name
    assert login_answer(server, "mallory") == login_answer(server, "frank") \
        == login_answer(server, "nobody-at-all"), login_answer(server, "mallory")
    follow_link(server, "frank@example.test")
    assert exists(server, "frank") and not exists(server, "mallory")
    assert not login_answer(server, "frank")[1].startswith("/account/login/"), "frank can log in now"
    # Usernames are public (project pages name their maintainers): a taken one is said plainly.
    resp = post_register(web, "ALICE", "another@example.test")
    assert resp.status_code == 409 and "username is already being used" in page_text(resp)

    # Adding an address another account has: the same answer as a free one; the owner is told.
    server.create_user("bob", PW)
    bob = Web(server.url)
    bob.login("bob", PW)
    answers = []
    for addr in ["alice@example.test", "bob2@example.test"]:
        resp = bob.submit("/manage/account/", "/manage/account/email/add/", {"address": addr})
        answers.append((resp.status_code, resp.url.replace(server.url, "")))
    assert answers[0] == answers[1], answers
    assert srkit.wait_until(lambda: len(mails(server, "alice@example.test", TRIED)) == 2, timeout=20), outbox(server)
    assert "add it to another account" in mails(server, "alice@example.test", TRIED)[-1]

    # A password reset already answers the same for an unknown name: checked here.
    def forgot(name: str):
        resp = web.submit("/account/forgot-password/", "/account/forgot-password/", {"username_or_email": name})
        return resp.status_code, page_text(resp)

    assert forgot("alice") == forgot("nobody-at-all"), (forgot("alice"), forgot("nobody-at-all"))

    # A disguised form of the taken address is the taken address (full-width letter, soft
    # hyphen, ideographic full stop): the same answer, no link goes anywhere, and each attempt
    # is logged against alice's account (red-team R2).
    def tried() -> int:
        story = json.loads(server.cli("admin", "timeline", "--user", "alice", "--json").stdout)
        return sum(e["action"] == "account:register:address_taken" for e in story)

    before = tried()
    for i, disguised in enumerate(["alice@\uff45xample.test", "ali\u00adce@example.test",
                                   "alice@example\u3002test"]):
        resp = post_register(web, f"disguise{i}", disguised)
        assert resp.status_code == 200, (disguised, resp.status_code, page_text(resp)[:300])
    assert tried() == before + 3
    time.sleep(1)
    assert not [t for t, s, _ in outbox(server) if "Verify" in s and "alice" in t.lower()], outbox(server)
    assert all(t.isascii() for t, _, _ in outbox(server)), [t for t, _, _ in outbox(server)]
    assert "intact" in server.cli("admin", "log", "verify").stdout


def test_domains_admit_the_domain_and_its_subdomains_never_a_look_alike(strongroom, backend_kind):
    server = start(strongroom, backend_kind, "domains",
                   STRONGROOM_ACCOUNTS__ALLOWED_EMAIL_DOMAINS="Example.org")
    web = Web(server.url)
    page = web.get("/account/register/")
    assert page.status_code == 200 and "open to addresses at example.org" in page_text(page)
    for name, addr in [("ann", "ann@example.org"), ("cy", "cy@mail.example.org"), ("di", "di@EXAMPLE.ORG")]:
        resp = post_register(web, name, addr)
        assert resp.status_code == 200, (addr, resp.status_code, page_text(resp)[:300])
        follow_link(server, addr.lower())
        assert exists(server, name), addr
    for name, addr in [("eve1", "eve@example.org.evil.test"), ("eve2", "eve@evilexample.org"),
                       ("eve3", "eve@example.com")]:
        resp = post_register(web, name, addr)
        assert resp.status_code == 403, (addr, resp.status_code)
        assert "open to addresses at example.org" in page_text(resp), page_text(resp)[:300]
        assert 'id="register-form"' in resp.text, "the form again, to fix the address"
        assert not exists(server, name), addr
        assert not mails(server, addr, "")
    # The account exists only once the address is proven, so it acts at once (2FA off here).
    ann = Web(server.url)
    ann.login("ann", PW)
    assert ann.logged_in()
    resp = ann.submit("/manage/account/tokens/", "/manage/account/tokens/", {"name": "ci"})
    assert resp.status_code == 200 and "strongroom-" in resp.text, page_text(resp)[:300]


def test_invitation_links_register_their_address_once(strongroom, backend_kind, tmp_path):
    clock = tmp_path / "clock-offset"
    clock.write_text("0")
    server = start(strongroom, backend_kind, "invite", STRONGROOM_TESTING__CLOCK_OFFSET_FILE=str(clock))
    web = Web(server.url)
    page = web.get("/account/register/")
    assert page.status_code == 403 and "by invitation only" in page_text(page)
    assert 'id="register-form"' not in page.text
    assert post_register(web, "walkin", "walkin@example.test").status_code == 403
    assert not exists(server, "walkin")

    # The CLI: the link is printed once and mailed to the address.
    made = server.cli("admin", "invite-user", "--email", "New@example.test", "--expires-hours", "24",
                      "--reason", "new colleague")
    out = made.stdout
    printed = link_path(out, "/account/register/?invite=")
    # public_url is not set in the suite: the CLI can only name its bind address, and says so
    assert "note: public_url is not set, so this link names http://127.0.0.1:8080" in made.stderr, made.stderr
    mailed = link_path(wait_mail(server, "New@example.test", "invited"), "/account/register/?invite=")
    assert printed == mailed, (printed, mailed)
    invite = urllib.parse.parse_qs(urllib.parse.urlsplit(printed).query)["invite"][0]
    page = web.get(printed)
    assert page.status_code == 200, page_text(page)[:300]
    assert re.search(r'value="New@example.test" readonly', page.text), page.text
    # Another address with the link: refused, and the link still works afterwards.
    resp = post_register(web, "thief", "thief@example.test", invite)
    assert resp.status_code == 403 and "made for another email address" in page_text(resp)
    assert not exists(server, "thief")
    resp = web.submit(printed, "/account/register/", {"username": "newbie", "password": PW, "password_confirm": PW})
    assert resp.status_code == 200 and "Check your email" in page_text(resp), page_text(resp)[:300]
    assert not exists(server, "newbie")
    follow_link(server, "New@example.test")
    assert exists(server, "newbie")
    # Used up: the page shows no form, a replayed POST is refused.
    again = web.get(printed)
    assert again.status_code == 403 and "already used" in page_text(again)
    assert 'id="register-form"' not in again.text
    assert post_register(web, "newbie2", "new@example.test", invite).status_code == 403
    assert not exists(server, "newbie2")
    listed = server.cli("admin", "invites").stdout
    assert re.search(r"used\s+New@example.test\s+by cli:\S+\s+expires \S+ registered newbie", listed), listed
    story = [e["action"] for e in json.loads(server.cli("admin", "timeline", "--user", "newbie", "--json").stdout)]
    assert "account:create" in story and "account:invite:use" in story, story

    # Expired.
    out = server.cli("admin", "invite-user", "--email", "late@example.test", "--expires-hours", "1",
                     "--reason", "x").stdout
    late = link_path(out, "?invite=")
    clock.write_text(str(HOUR + 1))
    page = web.get(late)
    assert page.status_code == 403 and "expired" in page_text(page)
    late_secret = urllib.parse.parse_qs(urllib.parse.urlsplit(late).query)["invite"][0]
    assert post_register(web, "late", "late@example.test", late_secret).status_code == 403
    assert not exists(server, "late")

    # The admin area: make one (the link shown once), then revoke it: the link stops working.
    server.create_user("root", PW, admin=True)
    root = Web(server.url)
    root.login("root", PW)
    resp = root.submit("/admin/invitations/", "/admin/invitations/new/",
                       {"email": "gone@example.test", "expires_hours": "48", "reason": "hire"})
    assert resp.status_code == 200, page_text(resp)[:300]
    gone = link_path(resp.text.replace("&#x2f;", "/").replace("&amp;", "&"), "?invite=")
    # the server's own mail names the address it is listening on (not the `--bind ...:0` it was
    # given), like every other mail it sends
    assert server.url.rstrip("/") + gone in wait_mail(server, "gone@example.test", "invited"), \
        (server.url, wait_mail(server, "gone@example.test", "invited"))
    assert "public_url is not set: links in mail name " + server.url.rstrip("/") + "/" in "".join(server.stdout_lines)
    assert gone.split("invite=")[1] not in root.get("/admin/invitations/").text, "shown once"
    assert web.get(gone).status_code == 200
    resp = root.submit("/admin/invitations/", "/revoke/", {"reason": "sent by mistake"})
    assert resp.status_code == 200 and "The invitation was revoked" in page_text(resp), page_text(resp)[:300]
    page = web.get(gone)
    assert page.status_code == 403 and "withdrawn" in page_text(page)
    gone_secret = urllib.parse.parse_qs(urllib.parse.urlsplit(gone).query)["invite"][0]
    assert post_register(web, "gone", "gone@example.test", gone_secret).status_code == 403
    assert not exists(server, "gone")
    listed = server.cli("admin", "invites").stdout
    assert re.search(r"revoked\s+gone@example.test\s+by root", listed), listed
    assert "intact" in server.cli("admin", "log", "verify").stdout


def test_an_address_added_but_never_verified_expires_and_blocks_no_invitation(strongroom, backend_kind, tmp_path):
    """Red-team R2: an outsider's account adds a colleague's address it cannot verify. The claim
    blocks neither `admin invite-user` nor the colleague's own registration (whose followed link
    takes the address over), and it expires after accounts.unverified_address_hours (default)."""
    clock = tmp_path / "clock-offset"
    clock.write_text("0")
    server = start(strongroom, backend_kind, "open", STRONGROOM_TESTING__CLOCK_OFFSET_FILE=str(clock))
    shown = server.cli("config", "show").stdout
    assert re.search(r"^accounts\.unverified_address_hours\s+= 72\s+# default", shown, re.M), shown
    server.create_user("outsider", PW, email="outsider@example.test")
    out = Web(server.url)
    out.login("outsider", PW)
    for addr in ("colleague@example.test", "other@example.test"):
        resp = out.submit("/manage/account/", "/manage/account/email/add/", {"address": addr})
        assert resp.status_code == 200, page_text(resp)[:300]
    # an invitation for the claimed address is made all the same
    made = server.cli("admin", "invite-user", "--email", "colleague@example.test", "--reason", "hire")
    assert "invitation #" in made.stdout, made.stdout + made.stderr
    # the colleague registers with the invitation; the followed link takes the address over
    printed = link_path(made.stdout, "/account/register/?invite=")
    # the outsider's claim already mailed the address a verification link: wait for the
    # registration's own, the newer one (the outbox is delivered in the background)
    assert srkit.wait_until(lambda: mails(server, "colleague@example.test", "Verify"), timeout=20)
    claims = len(mails(server, "colleague@example.test", "Verify"))
    web = Web(server.url)
    resp = web.submit(printed, "/account/register/", {"username": "colleague", "password": PW, "password_confirm": PW})
    assert resp.status_code == 200 and "Check your email" in page_text(resp), page_text(resp)[:300]
    assert not mails(server, "colleague@example.test", TRIED), "a claim is not an owner to tell"
    assert srkit.wait_until(lambda: len(mails(server, "colleague@example.test", "Verify")) > claims, timeout=20)
    follow_link(server, "colleague@example.test")
    assert exists(server, "colleague")
    story = [e["action"] for e in json.loads(server.cli("admin", "timeline", "--user", "outsider", "--json").stdout)]
    assert "account:email:claim_released" in story, story
    # the other claim expires after 72 hours (the default)
    clock.write_text(str(72 * HOUR + 60))
    jobs = server.cli("admin", "run-jobs").stdout
    assert "never verified within 72 hours" in jobs, jobs
    story = json.loads(server.cli("admin", "timeline", "--user", "outsider", "--json").stdout)
    expired = [e for e in story if e["action"] == "account:email:expired"]
    assert [e["details"]["email"] for e in expired] == ["other@example.test"], expired
    made = server.cli("admin", "invite-user", "--email", "other@example.test", "--reason", "hire")
    assert made.returncode == 0
