"""The account pages as a person meets them, against a started server (its web UI, real SMTP, a
movable clock):

- a session that must set up two-factor authentication is told why on the page it is sent to;
- a TOTP enrolment interrupted by the password prompt keeps its secret (the code typed is sent
  once the password is confirmed, so the entry already in the app stays valid), as a wrong code
  does;
- the password prompt keeps what was typed into the form it interrupted (a new token's name and
  expiry) and completes it afterwards;
- invitations waiting for an answer are on the account page;
- error pages keep the signed-in header and offer the way back to the page the person came from;
- deleting the account asks for the user name, typed;
- a session failing the password prompt five times is ended, and never locks the owner's login."""

from __future__ import annotations

import html
import json

import pytest

import srkit
from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import PASSWORD, Incident
from test_account_safety import ServerTimeTotp
from test_incident_undo import enrol_totp
from webclient import forms_of, page_text

REAUTH_WINDOW = 11 * 60  # past the default reauth_minutes


def post_form(w, resp, form_id: str, fields: dict[str, str]):
    """Post the form `form_id` of the page `resp` (not loaded again), as a browser would."""
    form = next(f for f in forms_of(resp.text) if f.attrs.get("id") == form_id)
    data = dict(form.fields, **fields)
    return w.request("POST", form.action, data=data, headers={"Referer": resp.url})


def invite(w, project: str, who: str):
    """`w` (an Owner) invites `who` as Maintainer from the project's manage page."""
    path = f"/manage/project/{project}/"
    form = next(f for f in w.forms(path) if "username" in f.fields and "role" in f.fields
                and (f.fields.get("action") == "invite" or "/invite" in f.action))
    match = {k: v for k, v in form.fields.items() if k == "action"}
    return w.submit(path, form.action, {"username": who, "role": "Maintainer"}, match=match)


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_forced_two_factor_says_why_and_enrolment_keeps_its_secret(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind, env={"STRONGROOM_REQUIRE_2FA": "true"})
    try:
        addr = world.user("rita")
        rita = world.login("rita")
        page = rita.get("/manage/account/tokens/")
        assert page.url.endswith("/manage/account/two-factor/"), page.url
        text = page_text(page)
        assert "Why you are here" in text, text[:800]
        assert "requires two-factor authentication for every account" in text, text[:800]
        assert 'href="/help/#two-factor"' in page.text

        enrol = rita.get("/manage/account/totp/")
        secret = next(f for f in forms_of(enrol.text) if f.attrs.get("id") == "totp-confirm-form").fields["secret"]
        totp = ServerTimeTotp(secret, world)
        wrong = post_form(rita, enrol, "totp-confirm-form", {"code": "000000" if totp.now() != "000000" else "111111"})
        assert wrong.status_code == 400, (wrong.status_code, page_text(wrong)[:400])
        assert "Invalid authentication code" in page_text(wrong)
        assert f'value="{secret}"' in wrong.text, "a wrong code shows the same secret again"

        # The password prompt comes between: the secret and the code typed are kept, and sent
        # once the password is confirmed.
        world.advance(REAUTH_WINDOW)
        prompt = post_form(rita, wrong, "totp-confirm-form", {"code": totp.now()})
        assert "/manage/account/reauth/" in prompt.url and "Confirm it is you" in page_text(prompt), prompt.url
        assert f'value="{secret}"' in prompt.text, "the prompt carries the secret"
        done = post_form(rita, prompt, "reauth-form", {"reauth_password": PASSWORD})
        assert done.status_code == 200, (done.status_code, page_text(done)[:600])
        assert done.url.endswith("/manage/account/totp/"), done.url
        assert "recovery" in page_text(done).lower(), page_text(done)[:600]
        confirm = world.mail.wait_for(addr, "Confirm two-factor")
        assert rita.get(world.mail.link(confirm, "/account/confirm-two-factor/")).status_code == 200
        # the secret the app holds is the one that works
        world.advance(60)
        again = world.web("rita-laptop/2")
        again.login("rita", PASSWORD, totp=totp)
        assert again.logged_in(), page_text(again.last)[:400]
        assert again.get("/manage/account/tokens/").url.endswith("/manage/account/tokens/")
    finally:
        world.close()


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_account_pages_keep_the_form_show_invitations_and_lead_back(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        world.user("olga")
        world.user("pete")
        srkit.ok_upload(server, server.create_token("olga"), srkit.make_wheel("sr-acct-proj", "1.0"))
        olga = world.login("olga")
        resp = invite(olga, "sr-acct-proj", "pete")
        assert resp.status_code == 200, page_text(resp)[:400]

        # -- the invitation is on the account page, with the way to answer it
        pete = world.login("pete", "pete-browser/1")
        account = pete.get("/manage/account/")
        assert 'id="account-invitations"' in account.text, page_text(account)[:800]
        text = page_text(account)
        assert "olga invited you to be Maintainer of sr-acct-proj" in text, text[:800]
        assert 'href="/manage/account/invitations/"' in account.text

        # -- delete asks for the user name, typed; another name deletes nothing
        assert "Type your username, pete, to confirm" in text, text[:800]
        refused = pete.submit("/manage/account/", "/manage/account/delete/", {"confirm_username": "olga"})
        assert refused.status_code == 400 and pete.logged_in(), (refused.status_code, page_text(refused)[:300])

        # -- an error page keeps the signed-in header and leads back where the person came from
        tokens = server.url + "/manage/account/tokens/"
        csrf = pete.form("/manage/account/tokens/", "/manage/account/tokens/").fields["csrf_token"]
        gone = pete.request("POST", "/manage/account/token/999999/revoke/", data={"csrf_token": csrf},
                            headers={"Referer": tokens})
        assert gone.status_code == 404, gone.status_code
        assert 'href="/manage/account/">pete</a>' in gone.text, "the signed-in header is kept"
        assert 'id="logout-button"' in gone.text
        back = html.unescape(gone.text)
        assert '<a href="/manage/account/tokens/" id="back-link">' in back, back[-1500:]
        missing = pete.request("GET", "/project/sr-no-such-project/", headers={"Referer": tokens,
                                                                               "Accept": "text/html"})
        assert missing.status_code == 404 and 'href="/manage/account/">pete</a>' in missing.text

        # -- the password prompt keeps what was typed into the new-token form, then creates it
        world.advance(REAUTH_WINDOW)
        page = pete.get("/manage/account/tokens/")
        prompt = post_form(pete, page, "token-form", {"name": "kept-across-the-prompt", "expires_days": "30"})
        assert "/manage/account/reauth/" in prompt.url and "Confirm it is you" in page_text(prompt), prompt.url
        assert 'value="kept-across-the-prompt"' in prompt.text
        wrong = post_form(pete, prompt, "reauth-form", {"reauth_password": "not the password"})
        assert wrong.status_code == 403 and 'value="kept-across-the-prompt"' in wrong.text
        created = post_form(pete, wrong, "reauth-form", {"reauth_password": PASSWORD})
        assert created.status_code == 200, (created.status_code, page_text(created)[:400])
        assert "kept-across-the-prompt" in page_text(created)
        listed = page_text(pete.get("/manage/account/tokens/"))
        assert "kept-across-the-prompt" in listed, listed[:800]
    finally:
        world.close()


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_failed_password_prompts_end_their_session_and_never_lock_the_owners_login(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    """A stolen session that fails the password prompt five times is ended (logged, the owner
    told), and its failures never refuse the owner's own login with password and code."""
    world = Incident(strongroom, mail_sink, tmp_path, kind, env={"STRONGROOM_RATE_LIMITS": "true"})
    try:
        addr = world.user("carol")
        owner = world.login("carol", "owner-laptop/1")
        totp = enrol_totp(owner, world, addr)
        world.advance(60)
        thief = world.web("thief-browser/1")
        thief.login("carol", PASSWORD, totp=totp)
        assert thief.logged_in()
        world.advance(REAUTH_WINDOW)
        for i in range(5):
            resp = thief.submit("/manage/account/reauth/?next=/manage/account/", "/manage/account/reauth/",
                                {"password": f"wrong{i}"})
            assert resp.status_code == 403, (i, resp.status_code, page_text(resp)[:400])
        assert "session has been ended" in page_text(resp), page_text(resp)[:400]
        assert not thief.logged_in(), "the session that failed five times is ended"
        world.mail.wait_for(addr, "session was ended")
        ended = [e for e in world.timeline("--user", "carol")
                 if e["action"] == "account:session:end" and "reauthenticate" in json.dumps(e)]
        assert len(ended) == 1 and "thief-browser/1" in json.dumps(ended[0]), ended
        assert "wrong" not in json.dumps(ended), "no secret logged"
        # The owner signs in at once, from another device, with password and code.
        world.advance(31)
        fresh = world.web("owner-phone/1")
        resp = fresh.login("carol", PASSWORD, totp=totp)
        assert fresh.logged_in(), (resp.status_code, page_text(resp)[:400])
    finally:
        world.close()
