"""The project list and full-text search, on both backends, through a real server: cards carry
the summary, the latest version and its date; words of a project's name, summary and description
find it (SQLite FTS5, PostgreSQL text search); a quarantined or removed project is never found and
comes back when released; a query that matches nothing gets an honest page; long queries and
absurd page numbers are bounded.
"""

from __future__ import annotations

import html
import re

import srkit


def cards(body: str) -> list[str]:
    """The normalised names of the result cards, in order."""
    return re.findall(r'<a class="card-name" href="/project/([^/]+)/">', body)


def search(server: srkit.Server, q: str, **params) -> tuple[int, str]:
    resp = server.get("/projects/", params={"q": q, **params})
    return resp.status_code, resp.text


def test_search_finds_words_of_public_projects_only(server):
    token = server.user_with_token("author")
    srkit.ok_upload(server, token, srkit.make_wheel(
        "sr-orchard", "1.0", summary="Tools for apple orchards",
        description="The pruning scheduler knows every variety of quince.\n"))
    srkit.ok_upload(server, token, srkit.make_wheel(
        "sr-orchard", "1.1", summary="Tools for apple orchards, newer",
        description="The pruning scheduler knows every variety of quince.\n"))
    srkit.ok_upload(server, token, srkit.make_wheel(
        "sr-orchard", "2.0b1", summary="A pre-release", description="pre\n"))
    srkit.ok_upload(server, token, srkit.make_wheel(
        "sr-plain", "0.3", summary="Nothing about fruit", description="Just text.\n"))
    srkit.ok_upload(server, token, srkit.make_wheel(
        "sr-secret", "1.0", summary="Hidden gem", description="A marmoset lives here.\n"))

    # the list: every project, each card with the latest final version, its date and summary
    status, body = search(server, "")
    assert status == 200
    assert cards(body) == ["sr-orchard", "sr-plain", "sr-secret"], cards(body)
    card = body[body.index('href="/project/sr-orchard/"'):]
    card = card[:card.index("</li>")]
    assert ">1.1<" in card and "Tools for apple orchards, newer" in card, card
    assert re.search(r"\d{4}-\d{2}-\d{2}", card), card

    # words of the description, the summary, the name (any spelling of it); all words must match
    assert cards(search(server, "quince")[1]) == ["sr-orchard"]
    assert cards(search(server, "orchards apple")[1]) == ["sr-orchard"]
    assert cards(search(server, "prun")[1]) == ["sr-orchard"], "a word's beginning finds it"
    assert cards(search(server, "SR_Plain")[1])[0] == "sr-plain"
    assert cards(search(server, "quince marmoset")[1]) == []

    # an honest no-match page: says what was searched, how search works, and the way back
    status, body = search(server, "xylophonist")
    assert status == 200
    assert 'id="no-match"' in body and "No projects match “xylophonist”" in body, body
    assert 'href="/projects/"' in body and cards(body) == []

    # hidden projects are never found, by any word, and come back when released
    assert cards(search(server, "marmoset")[1]) == ["sr-secret"]
    server.cli("admin", "quarantine", "sr-secret", "--reason", "malware report")
    for q in ("marmoset", "hidden gem", "sr-secret", ""):
        assert "sr-secret" not in cards(search(server, q)[1]), q
    server.cli("admin", "release", "sr-secret", "--reason", "false alarm")
    assert cards(search(server, "marmoset")[1]) == ["sr-secret"]
    server.cli("admin", "remove", "sr-secret", "--reason", "spam")
    for q in ("marmoset", "gem", "sr-secret", ""):
        assert "sr-secret" not in cards(search(server, q)[1]), q

    # engine syntax is only text; long queries are cut; absurd pages are bounded
    for q in ('"', "NEAR(a b)", "quince OR marmoset", "a:* & !b", "*", "' OR 1=1 --", "%_", "-"):
        status, body = search(server, q)
        assert status == 200, (q, status)
    status, body = search(server, "quince " * 500)
    assert status == 200 and len(html.unescape(re.search(r'name="q"[^>]*value="([^"]*)"', body).group(1))) <= 200
    for page in ("0", "999999999", "-3"):
        resp = server.get("/projects/", params={"q": "orchard", "page": page})
        assert resp.status_code in (200, 400), (page, resp.status_code)
