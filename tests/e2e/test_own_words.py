"""The product speaks for itself: no user-facing text names PyPI or links pypi.org.

Scanned: every page template, every string literal of the product's Rust sources outside tests
(errors, mail, CLI output and config help all start as string literals), the static assets, every
`--help` of the built CLI and `strongroom config show`, and the live help page. The protocol names
clients depend on stay, and each allowed spelling is listed below with its reason; anything else
fails with the file and line. A second test follows a refusal's help link the way a person reading
twine's output would.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import requests

import srkit
from browserkit import browser, probe, web_server  # noqa: F401  (fixtures)

REPO = srkit.REPO_ROOT
CRATES = REPO / "crates"

# Each entry: a pattern naming one protocol (or otherwise necessary) spelling, and why it stays.
# They are removed from the text before it is searched; whatever "pypi" is left is a finding.
ALLOWED: list[tuple[str, str]] = [
    (r"x-pypi-last-serial", "the serial header mirrors (bandersnatch) read"),
    (r"application/vnd\.pypi\.simple[\w.+-]*", "PEP 691 simple API media types"),
    (r"vnd\.pypi\.simple[\w.+-]*", "PEP 691 media type suffixes in content negotiation"),
    (r"pypi:repository-version", "PEP 691/700 meta key in the simple API"),
    (r"pypi:project-status", "PEP 792 meta name in the simple API"),
    (r"/pypi/(\{name\}|<p(roject)?>|\{normalized\})(/(\{v\}|\{version\}|<v(ersion)?>))?/json/?", "the JSON API's paths"),
    (r"^/pypi$", "the XML-RPC endpoint path (bandersnatch's default), a literal of its own"),
    (r"\bpypi-json\b", "the JSON API's cache and metrics label"),
    (r"\[pypi\]", "a .pypirc section name"),
    (r"\.?\bpypirc\b", "twine's configuration file (.pypirc), named in the token page's snippet and its ids"),
    (r"\bpypi-token\.", "poetry's configuration key for an index's token (`poetry config pypi-token.NAME`)"),
    (r"STRONGROOM_PYPI_SAMPLES", "the test suite's own variable for the sample files"),
]
# Exact literals that are not text anyone reads, by file.
ALLOWED_LITERALS: dict[str, set[str]] = {
    # a weak-password word zxcvbn penalises, never shown
    "crates/strongroom-core/src/passwords.rs": {"pypi"},
    # the OSV schema's ecosystem name for Python packages: a protocol value records carry
    "crates/strongroom-protocol/src/osv.rs": {"PyPI"},
    # user-agent product tokens of mirror software, matched to count downloads, never shown
    "crates/strongroom-core/src/client_kind.rs": {"pypicloud", "pypi-mirror", "python-pypi-mirror"},
}

ALLOWED_RE = re.compile("|".join(f"(?:{p})" for p, _ in ALLOWED), re.IGNORECASE)
WORD = re.compile(r"pypi", re.IGNORECASE)


def findings_in(text: str) -> bool:
    return bool(WORD.search(ALLOWED_RE.sub(" ", text)))


# --- Rust string literals -------------------------------------------------------------------

_RAW = re.compile(r'b?r(#*)"')


def rust_string_literals(src: str):
    """(line, literal) for every string literal in `src`, comments skipped (a small lexer: line and
    block comments, char literals, plain, byte and raw strings)."""
    i, n, line = 0, len(src), 1
    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    line += src[i] == "\n"
                    i += 1
        elif (m := _RAW.match(src, i)) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            close = '"' + m.group(1)
            j = src.find(close, m.end())
            j = n if j < 0 else j
            yield line, src[m.end():j]
            line += src.count("\n", i, j)
            i = j + len(close)
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            yield line, src[i + 1:j]
            line += src.count("\n", i, j)
            i = j + 1
        elif c == "'":
            # a char literal ('"', '\'', 'x', '\u{..}') or a lifetime ('a)
            m = re.compile(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'").match(src, i)
            i = m.end() if m else i + 1
        else:
            i += 1


def product_sources():
    """The product's Rust sources without their tests."""
    for path in sorted(CRATES.glob("*/src/**/*.rs")):
        rel = path.relative_to(REPO).as_posix()
        crate = rel.split("/")[1]
        if crate in ("strongroom-testkit",):
            continue
        parts = path.relative_to(CRATES / crate / "src").parts
        if (
            any(p == "tests" or p.endswith("_tests") for p in parts[:-1])
            or path.name in ("tests.rs", "test_harness.rs", "fuzz_entry.rs")
            or path.stem.endswith("_tests")
            or path.stem.startswith("test_")
        ):
            continue
        src = path.read_text()
        # a module's unit tests sit at its end, after `#[cfg(test)]`
        cut = re.search(r"^#\[cfg\(test\)\]\s*\nmod \w+ \{", src, re.MULTILINE)
        yield rel, src[: cut.start()] if cut else src


def test_the_lexer_finds_literals_and_skips_comments():
    src = 'let a = "one"; // "not"\n/* "no" */ let b = r#"two "x""#; let c = \'"\'; let d = "th\\"ree";\n'
    assert [s for _, s in rust_string_literals(src)] == ["one", 'two "x"', 'th\\"ree']
    assert findings_in("See https://pypi.org/help/") and findings_in("the PyPI way")
    assert not findings_in("X-PyPI-Last-Serial: 3; application/vnd.pypi.simple.v1+json")


def test_no_template_message_or_cli_text_names_pypi(tmp_path):
    found: list[str] = []
    # page templates and static assets, line by line
    for path in sorted([*CRATES.glob("*/templates/**/*.html"), *CRATES.glob("*/static/**/*")]):
        if not path.is_file():
            continue
        rel = path.relative_to(REPO).as_posix()
        for no, text in enumerate(path.read_text().splitlines(), 1):
            if findings_in(text):
                found.append(f"{rel}:{no}: {text.strip()[:160]}")
    templates = list(CRATES.glob("*/templates/*.html"))
    assert len(templates) > 20, "the templates moved: point this test at them"

    # every string literal of the product's sources (messages, mail, CLI output, config help)
    scanned = 0
    for rel, src in product_sources():
        allowed = ALLOWED_LITERALS.get(rel, set())
        for no, lit in rust_string_literals(src):
            scanned += 1
            if lit not in allowed and findings_in(lit):
                found.append(f"{rel}:{no}: \"{lit[:160]}\"")
    assert scanned > 5000, f"only {scanned} literals: the sources moved or the lexer broke"

    # the CLI's help, every subcommand, and the settings it shows
    binary = str(srkit.strongroom_bin())
    helps = 0
    todo: list[list[str]] = [[]]
    seen: set[tuple[str, ...]] = set()
    while todo:
        cmd = todo.pop()
        if tuple(cmd) in seen or len(cmd) > 3:
            continue
        seen.add(tuple(cmd))
        proc = subprocess.run([binary, *cmd, "--help"], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, (cmd, proc.stderr)
        helps += 1
        for no, text in enumerate(proc.stdout.splitlines(), 1):
            if findings_in(text):
                found.append(f"`strongroom {' '.join(cmd)} --help` line {no}: {text.strip()}")
        in_commands = False
        for text in proc.stdout.splitlines():
            if text.strip().startswith("Commands:"):
                in_commands = True
            elif in_commands and (m := re.match(r"^  (\S+)\s", text)):
                if m.group(1) != "help":
                    todo.append([*cmd, m.group(1)])
            elif in_commands and text and not text.startswith(" "):
                in_commands = False
    assert helps > 10, f"only {helps} help pages: the CLI's help output changed shape"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    proc = srkit.run([binary, "config", "show", "--data", str(tmp_path / "d")], env=env, timeout=60)
    assert "upload.strict_metadata" in proc.stdout, proc.stdout
    for no, text in enumerate(proc.stdout.splitlines(), 1):
        if findings_in(text):
            found.append(f"`strongroom config show` line {no}: {text.strip()}")

    assert not found, "user-facing text names PyPI (say 'this index', link /help/#…):\n" + "\n".join(found)


def test_every_help_link_names_a_section_of_the_help_page():
    """A link to `/help/#x` in a template or a message lands on a section that exists."""
    page = (CRATES / "strongroom-server/templates/help.html").read_text()
    sections = set(re.findall(r'<section[^>]* id="([a-z-]+)"', page))
    assert len(sections) >= 7, sections
    links: list[tuple[str, str]] = []
    for path in sorted(CRATES.glob("*/templates/*.html")):
        rel = path.relative_to(REPO).as_posix()
        for no, text in enumerate(path.read_text().splitlines(), 1):
            links += [(f"{rel}:{no}", a) for a in re.findall(r"/help/#([a-z-]+)", text)]
    for rel, src in product_sources():
        for no, lit in rust_string_literals(src):
            links += [(f"{rel}:{no}", a) for a in re.findall(r"/help/#([a-z-]+)", lit)]
    anchors = re.findall(r'HelpTopic::\w+ => "([a-z-]+)"', (CRATES / "strongroom-core/src/help.rs").read_text())
    links += [("core::help::HelpTopic", a) for a in anchors]
    assert len(links) > 10, links
    broken = [f"{where}: /help/#{a}" for where, a in links if a not in sections]
    assert not broken, "help links to no section of /help/:\n" + "\n".join(broken)


def test_help_page_has_every_topic_and_refusals_link_it_absolutely(server, tmp_path):
    page = requests.get(server.url + "/help/", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert not findings_in(page.text), "the help page names PyPI"
    anchors = re.findall(r'HelpTopic::\w+ => "([a-z-]+)"', (CRATES / "strongroom-core/src/help.rs").read_text())
    assert sorted(anchors) == sorted(
        ["two-factor", "api-tokens", "project-names", "file-name-reuse", "verified-email", "invitations", "yanking"]
    )
    for a in anchors:
        assert f'id="{a}"' in page.text, a
    assert requests.get(server.url + "/help", timeout=30, allow_redirects=False).headers["location"] == "/help/"
    # the page tells this index's settings: the suite's servers run with require_2fa off
    assert "two-factor authentication is optional" in page.text

    # A refusal read in a terminal: twine prints the message with a link a person can open.
    server.create_user("alice", "correct horse battery staple 42")
    token = server.create_token("alice")
    wheel = srkit.make_wheel("own-words", "1.0", payload=b"one")
    other = srkit.make_wheel("own-words", "1.0", payload=b"two")
    srkit.ok_upload(server, token, wheel)
    files = tmp_path / "dist"
    files.mkdir()
    (files / other.filename).write_bytes(other.data)
    proc = srkit.twine_upload(server, token, [files / other.filename], tmp_path, check=False)
    out = srkit.output(proc)
    assert proc.returncode != 0 and "File already exists" in out, out
    link = re.search(r"See (\S+/help/#file-name-reuse) for more information", out)
    assert link and link.group(1).startswith(server.url + "/help/#"), out
    assert not findings_in(out), out
    opened = requests.get(link.group(1), timeout=30)
    assert opened.status_code == 200 and 'id="file-name-reuse"' in opened.text

    # without credentials: the same structure, pointing at the section on tokens
    resp = srkit.upload_raw(server, None, other)
    assert resp.status_code == 403, resp.text
    assert resp.reason.startswith("Invalid or non-existent authentication information"), resp.reason
    assert f"See {server.url}/help/#api-tokens for more information." in resp.text, resp.text


def test_help_page_in_a_browser_with_the_defaults(web_server, probe):
    """Reached from every page's footer, says what this index's default asks (2FA required), and
    fits a phone's width as well as a desktop's."""
    srv = web_server({"STRONGROOM_REQUIRE_2FA": None})  # the default, which the suite turns off
    page = probe.page
    page.goto(srv.web_url + "/")
    page.click("footer >> text=Help")
    page.wait_for_url("**/help/")
    assert page.title() == "Help · strongroom"
    assert "two-factor authentication is required" in page.inner_text("#two-factor")
    assert "72 hours" in page.inner_text("#invitations")
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(srv.web_url + "/help/#file-name-reuse")
        wide = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert wide <= 0, f"the help page overflows by {wide}px at {width}px"
        probe.screenshot(f"help-{width}")
    probe.assert_no_errors()
