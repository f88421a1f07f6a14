"""Email-domain checks against a local DNS server (UDP, RFC 1035) and a local RDAP server (RFC 9083
documents) on 127.0.0.1: a healthy domain stays verified; a redemption status or a registration
after the address was verified unverify it at once, NXDOMAIN only when confirmed (a second round
minutes later, or the registry has no such domain), and the account's other verified addresses are
told (never the suspicious one); RDAP or DNS being down changes nothing; a password reset is never
sent to an unverified address. Through `strongroom admin check-domains` and the periodic job."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import HOUR, Incident
from netfakes import FakeDNS, FakeRDAP, rdap_domain
from webclient import page_text

NOW = dt.datetime.now(dt.timezone.utc)
LONG_AGO = NOW - dt.timedelta(days=3650)
LATER = NOW + dt.timedelta(days=365)


def healthy(world: Incident, domain: str) -> None:
    world.dns.zone[domain] = {"MX": [f"mx.{domain}"], "A": ["192.0.2.10"]}
    world.rdap.domains[domain] = rdap_domain(domain, registered=LONG_AGO, expires=LATER)


def unverified_events(world: Incident, user: str) -> list[dict]:
    return [e for e in world.timeline("--user", user) if e["action"] == "account:email:unverified"]


@pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
def test_domain_checks_unverify_only_on_evidence(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        for d in ("good.test", "rereg.test", "redeem.test", "down.test", "flaky.test"):
            healthy(world, d)
        # re-registered an hour after the addresses below are verified
        world.rdap.domains["rereg.test"] = rdap_domain("rereg.test", registered=NOW + dt.timedelta(hours=1),
                                                       expires=LATER)
        world.rdap.domains["redeem.test"] = rdap_domain("redeem.test", registered=LONG_AGO, expires=LATER,
                                                        status=["redemption period", "client transfer prohibited"])
        world.user("gail", "gail@good.test")
        world.user("nora", "nora@gone.test")  # gone.test is not in the zone: NXDOMAIN
        world.user("rex", "rex@rereg.test")
        world.user("rita", "rita@redeem.test")
        world.user("dan", "dan@down.test")
        world.user("fay", "fay@flaky.test")
        flaky = world.dns.zone.pop("flaky.test")  # a resolver glitch: NXDOMAIN for a while
        # nora has a second, healthy address, verified through the web
        nora = world.login("nora")
        nora.submit("/manage/account/", "/manage/account/email/", {"address": "nora@good.test"},
                    match={"action": "add"})
        link = world.mail.link(world.mail.wait_for("nora@good.test", "Verify"), "/account/verify-email/")
        assert nora.get(link).status_code == 200

        # -- RDAP down: the domains that resolve get no verdict; NXDOMAIN is only a suspicion.
        world.rdap.down = True
        out = world.admin("check-domains").stdout
        assert "unknown" in out and "down.test" in out, out
        assert "domain gone.test: suspect: unresolvable" in out, out
        assert "domain flaky.test: suspect: unresolvable" in out, out
        for u in ("gail", "nora", "rex", "rita", "dan", "fay"):
            assert unverified_events(world, u) == [], u
        # A quarter of an hour later: flaky.test resolves again, gone.test still does not. The
        # second sighting takes nora's address; fay's glitch is forgotten.
        world.dns.zone["flaky.test"] = flaky
        world.advance(15 * 60)
        out = world.admin("check-domains").stdout
        assert "domain flaky.test: unknown" in out, out  # resolves; RDAP still down
        assert [e["details"]["address"] for e in unverified_events(world, "nora")] == ["nora@gone.test"]
        assert "also seen on" in unverified_events(world, "nora")[0]["details"]["detail"]
        world.rdap.down = False
        # An address at a domain that neither DNS nor the registry knows: confirmed at once.
        world.user("olga", "olga@vanished.test")

        # -- Everything reachable: verdicts by evidence.
        out = world.admin("check-domains").stdout
        assert "domain good.test: healthy" in out, out
        assert "domain down.test: healthy" in out, out
        assert "domain flaky.test: healthy" in out, out
        got = {u: [(e["details"]["address"], e["details"]["reason"]) for e in unverified_events(world, u)]
               for u in ("gail", "nora", "rex", "rita", "dan", "fay", "olga")}
        assert got == {
            "gail": [],
            "nora": [("nora@gone.test", "unresolvable")],
            "rex": [("rex@rereg.test", "re-registered")],
            "rita": [("rita@redeem.test", "lapsed")],
            "dan": [],
            "fay": [],
            "olga": [("olga@vanished.test", "unresolvable")],
        }, got
        assert "registry has no such domain" in unverified_events(world, "olga")[0]["details"]["detail"]
        assert all(e["actor"].startswith("cli:") for e in unverified_events(world, "rex"))
        # nora's other address is told; the suspicious ones never are.
        m = world.mail.wait_for("nora@good.test", "no longer verified")
        assert "nora@gone.test" in world.mail.body(m) and "NXDOMAIN" in world.mail.body(m)
        time.sleep(1)
        for addr in ("nora@gone.test", "rex@rereg.test", "rita@redeem.test"):
            assert world.mails_to(addr, "no longer verified") == [], addr
        # The account page says why.
        page = page_text(world.login("nora").get("/manage/account/"))
        assert "domain check" in page and "NXDOMAIN" in page, page[:1500]

        # -- A reset asked for by name or by the unverified address reaches no unverified address.
        anon = world.web("anon/1")
        for who in ("rex", "rex@rereg.test", "nora@gone.test", "gail"):
            anon.submit("/account/forgot-password/", "/account/forgot-password/", {"username_or_email": who})
        world.mail.wait_for("gail@good.test", "reset")  # delivered in order: the others were handled
        world.mail.wait_for("nora@good.test", "reset")
        time.sleep(1)
        assert world.mails_to("rex@rereg.test", "reset") == []
        assert world.mails_to("nora@gone.test", "reset") == []
        requests_ = [e for e in world.timeline("--user", "rex") if e["action"] == "account:password:reset_request"]
        assert requests_ and all(e["details"].get("mailed") is False for e in requests_), requests_

        # -- A second round changes nothing more (unverified addresses are not checked again).
        out = world.admin("check-domains").stdout
        assert "checked 4 addresses" in out, out
        assert not any(line.startswith("unverified") for line in out.splitlines()), out
        assert len(unverified_events(world, "rex")) == 1
        assert "intact" in world.log_verify()
    finally:
        world.close()


def test_the_periodic_job_checks_addresses_once_per_interval(strongroom, mail_sink, tmp_path):  # noqa: F811
    dns, rdap = FakeDNS(), FakeRDAP()
    clock = tmp_path / "clock-offset"
    clock.write_text("0")
    try:
        dns.zone["good.test"] = {"MX": ["mx.good.test"]}
        rdap.domains["good.test"] = rdap_domain("good.test", registered=LONG_AGO, expires=LATER)
        server = strongroom("sqlite", env={
            "STRONGROOM_SMTP__HOST": "127.0.0.1",
            "STRONGROOM_SMTP__PORT": str(mail_sink.port),
            "STRONGROOM_SMTP__TLS": "none",
            "STRONGROOM_TESTING__CLOCK_OFFSET_FILE": str(clock),
            "STRONGROOM_DOMAINS__RESOLVER": dns.addr,
            "STRONGROOM_DOMAINS__RDAP_URL": rdap.url,
            "STRONGROOM_DOMAINS__CHECK_INTERVAL_HOURS": "24",
            "STRONGROOM_JOBS__INTERVAL_SECONDS": "1",
        })
        server.create_user("vera", email="vera@good.test")
        server.create_user("walt", email="walt@lapsing.test")
        # flicker.test is registered but missing from DNS: a suspicion the job confirms later.
        rdap.domains["flicker.test"] = rdap_domain("flicker.test", registered=LONG_AGO, expires=LATER)
        server.create_user("xena", email="xena@flicker.test")
        time.sleep(2.5)
        assert dns.queries == [], "addresses verified less than an interval ago are not checked"
        # A day later the job checks both; lapsing.test has vanished from DNS.
        clock.write_text(str(25 * HOUR))

        def unverified(user="walt"):
            r = server.cli("admin", "timeline", "--user", user, "--json")
            return [e for e in json.loads(r.stdout) if e["action"] == "account:email:unverified"]

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not unverified():
            time.sleep(0.5)
        events = unverified()
        assert len(events) == 1 and events[0]["details"]["address"] == "walt@lapsing.test", events
        assert events[0]["actor"].startswith("job:"), events[0]
        assert ("good.test", "MX") in dns.queries
        n = len(dns.queries)
        time.sleep(2.5)
        assert len(dns.queries) == n, "healthy addresses and the suspicion wait for their time"
        assert unverified("xena") == [], "one NXDOMAIN sighting changes nothing"
        # Ten minutes after the first sighting the job asks again and confirms it.
        clock.write_text(str(25 * HOUR + 11 * 60))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not unverified("xena"):
            time.sleep(0.5)
        events = unverified("xena")
        assert len(events) == 1 and events[0]["details"]["address"] == "xena@flicker.test", events
    finally:
        dns.stop()
        rdap.stop()


def test_the_admin_area_runs_the_check_and_shows_what_it_found(strongroom, mail_sink, tmp_path):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, "sqlite")
    try:
        healthy(world, "fine.test")
        healthy(world, "example.test")
        world.user("pat", "pat@fine.test")
        world.user("quin", "quin@lapsed.test")
        world.dns.zone["lapsed.test"] = {"MX": ["mx.lapsed.test"]}
        world.rdap.domains["lapsed.test"] = rdap_domain(
            "lapsed.test", registered=LONG_AGO, expires=NOW - dt.timedelta(days=40),
            status=["redemption period"])
        world.user("admin", "admin@example.test", admin=True)
        web = world.login("admin", "admin-browser/1")
        resp = web.submit("/admin/site/", "/admin/site/domains/")
        assert resp.status_code == 200, page_text(resp)[:300]
        report = page_text(resp)
        assert "domain fine.test: healthy" in report, report[:2000]
        assert "unverified quin@lapsed.test of quin" in report, report[:2000]
        assert len(unverified_events(world, "quin")) == 1
        assert unverified_events(world, "pat") == []
        assert any(e["action"] == "admin:domains:check" and e["actor"] == "admin"
                   for e in world.timeline("--user", "admin")), world.timeline("--user", "admin")
    finally:
        world.close()
