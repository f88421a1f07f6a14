"""A plain-HTTP client for strongroom's web UI, for tests that drive account and project
management without a browser: it keeps cookies itself (the server's cookies are `__Host-` and
`Secure`, which `requests` will not send over http://127.0.0.1), sends a same-origin `Origin`,
and fills each form's hidden fields (the CSRF token) from the page that holds the form."""

from __future__ import annotations

import html.parser
import re
import urllib.parse

import requests


class Form:
    def __init__(self, action: str, method: str, attrs: dict[str, str]):
        self.action = action
        self.method = method
        self.attrs = attrs
        self.fields: dict[str, str] = {}
        self.buttons: list[dict[str, str]] = []

    def __repr__(self) -> str:
        return f"Form({self.method} {self.action} {sorted(self.fields)})"


class _FormParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._current = Form(a.get("action", ""), a.get("method", "get").lower(), a)
            self.forms.append(self._current)
        elif self._current is not None and tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind == "submit":
                self._current.buttons.append(a)
                return
            self._current.fields[a["name"]] = a.get("value", "")
        elif self._current is not None and tag == "button":
            self._current.buttons.append(a)
        elif self._current is not None and tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self._current.fields[a["name"]] = ""
        elif self._current is not None and tag == "select" and a.get("name"):
            self._current.fields.setdefault(a["name"], "")
            self._select = a["name"]
        elif self._current is not None and tag == "option":
            name = getattr(self, "_select", None)
            if name and ("selected" in a or not self._current.fields.get(name)):
                self._current.fields[name] = a.get("value", "")

    def handle_data(self, data):
        if self._current is not None and self._textarea:
            self._current.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def forms_of(page_html: str) -> list[Form]:
    p = _FormParser()
    p.feed(page_html)
    return p.forms


class Web:
    """One browser-like visitor of one server."""

    def __init__(self, base_url: str, user_agent: str = "strongroom-e2e-web/1"):
        self.base = base_url.rstrip("/")
        self.cookies: dict[str, str] = {}
        self.user_agent = user_agent
        self.last: requests.Response | None = None

    # -- transport
    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = {"User-Agent": self.user_agent, "Origin": self.base}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        h.update(extra or {})
        return h

    def _keep_cookies(self, resp: requests.Response) -> None:
        for raw in resp.raw.headers.getlist("Set-Cookie") if hasattr(resp.raw, "headers") else []:
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            attrs = rest.lower()
            if value == "" or "max-age=0" in attrs or "expires=thu, 01 jan 1970" in attrs:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value

    def _url(self, path: str) -> str:
        """Absolute links (from mails, which name the configured public URL or the bind address)
        are followed on this client's server."""
        if path.startswith("http"):
            parts = urllib.parse.urlsplit(path)
            return self.base + urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))
        return self.base + path

    def request(self, method: str, path: str, *, data=None, follow: bool = True, headers=None) -> requests.Response:
        url = self._url(path)
        for _ in range(10):
            resp = requests.request(method, url, data=data, headers=self._headers(headers),
                                    allow_redirects=False, timeout=60)
            self._keep_cookies(resp)
            if follow and resp.status_code in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                url = urllib.parse.urljoin(url, resp.headers["Location"])
                if resp.status_code in (301, 302, 303):
                    method, data = "GET", None
                continue
            break
        self.last = resp
        return resp

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    # -- forms
    def forms(self, path: str) -> list[Form]:
        resp = self.get(path)
        assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text[:500]}"
        return forms_of(resp.text)

    def form(self, path: str, action_contains: str = "", *, index: int = 0,
             match: dict[str, str] | None = None) -> Form:
        """The `index`th form on `path` whose action contains `action_contains` and whose hidden or
        preset fields include every item of `match` (e.g. {"action": "remove", "email_id": "3"})."""
        found = [f for f in self.forms(path) if action_contains in f.action
                 and all(f.fields.get(k) == v for k, v in (match or {}).items())]
        assert len(found) > index, f"no form with action containing {action_contains!r} on {path}: {self.forms(path)}"
        return found[index]

    def submit(self, path: str, action_contains: str = "", fields: dict[str, str] | None = None, *,
               index: int = 0, match: dict[str, str] | None = None, follow: bool = True) -> requests.Response:
        """Load `path`, take its form whose action contains `action_contains` (and `match`), fill
        `fields`, post it."""
        f = self.form(path, action_contains, index=index, match=match)
        data = dict(f.fields)
        data.update(fields or {})
        action = f.action or path
        if f.method == "get":
            return self.get(action + "?" + urllib.parse.urlencode(data), follow=follow)
        # like a browser: the page that held the form is the Referer
        return self.request("POST", urllib.parse.urljoin(self._url(path), action), data=data, follow=follow,
                            headers={"Referer": self._url(path)})

    # -- account flows
    def login(self, username: str, password: str, *, totp=None) -> requests.Response:
        resp = self.submit("/account/login/", "/account/login/", {"username": username, "password": password})
        if "/account/two-factor/" in resp.url and totp is not None:
            resp = self.submit("/account/two-factor/", "/account/two-factor/", {"totp_code": totp.now()})
        return resp

    def logged_in(self) -> bool:
        return self.get("/manage/account/", follow=False).status_code == 200

    def logout(self) -> requests.Response:
        return self.submit("/manage/account/", "/account/logout/")


def page_text(resp: requests.Response) -> str:
    """The visible text of a page (tags stripped), for asserting messages."""
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", resp.text, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()
