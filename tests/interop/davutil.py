"""Small helpers shared by the interop tests: raw WebDAV requests, multistatus parsing,
vCard/iCalendar line parsing, running vdirsyncer. No server knowledge beyond the RFCs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import requests

DAV = "DAV:"
CARD = "urn:ietf:params:xml:ns:carddav"
CAL = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"

TIMEOUT = 30


def q(ns: str, name: str) -> str:
    """Clark notation: q(DAV, 'href') -> '{DAV:}href'."""
    return f"{{{ns}}}{name}"


def norm_path(href: str, base: str = "http://x/") -> str:
    """Path part of an href (absolute or relative), percent-decoded, for comparisons."""
    return unquote(urlsplit(urljoin(base, href.strip())).path)


def http_status_code(status_line: str | None) -> int | None:
    """'HTTP/1.1 404 Not Found' -> 404."""
    if not status_line:
        return None
    m = re.search(r"\s(\d{3})(\s|$)", status_line.strip() + " ")
    return int(m.group(1)) if m else None


@dataclass
class DavResponse:
    """One DAV:response of a multistatus."""

    href: str  # percent-decoded path
    status: int | None  # DAV:response/DAV:status (e.g. 404 for sync-collection deletions)
    props: dict[str, ET.Element] = field(default_factory=dict)  # found (2xx) props
    prop_status: dict[str, int] = field(default_factory=dict)  # every prop -> its propstat status

    def text(self, tag: str) -> str | None:
        el = self.props.get(tag)
        if el is None:
            return None
        return "".join(el.itertext())

    def hrefs_in(self, tag: str) -> list[str]:
        el = self.props.get(tag)
        if el is None:
            return []
        return [norm_path(h.text or "") for h in el.iter(q(DAV, "href"))]


@dataclass
class Multistatus:
    responses: list[DavResponse]
    sync_token: str | None
    raw: str

    def by_href(self) -> dict[str, DavResponse]:
        return {r.href: r for r in self.responses}


def parse_multistatus(body: str | bytes) -> Multistatus:
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    root = ET.fromstring(body if isinstance(body, bytes) else body.encode("utf-8"))
    assert root.tag == q(DAV, "multistatus"), f"not a DAV:multistatus: {root.tag}\n{raw[:2000]}"
    out: list[DavResponse] = []
    for resp in root.findall(q(DAV, "response")):
        hrefs = resp.findall(q(DAV, "href"))
        assert hrefs, f"DAV:response without DAV:href in\n{raw[:2000]}"
        r = DavResponse(
            href=norm_path(hrefs[0].text or ""),
            status=http_status_code(getattr(resp.find(q(DAV, "status")), "text", None)),
        )
        for ps in resp.findall(q(DAV, "propstat")):
            code = http_status_code(getattr(ps.find(q(DAV, "status")), "text", None))
            prop = ps.find(q(DAV, "prop"))
            if prop is None:
                continue
            for p in prop:
                r.prop_status[p.tag] = code
                if code is not None and 200 <= code < 300:
                    r.props[p.tag] = p
        out.append(r)
    tok = root.find(q(DAV, "sync-token"))
    return Multistatus(out, tok.text.strip() if tok is not None and tok.text else None, raw)


def describe(resp: requests.Response, limit: int = 3000) -> str:
    """A request/response dump for assertion messages."""
    req = resp.request
    body = req.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    hdrs = {k: v for k, v in req.headers.items() if k.lower() != "authorization"}
    return textwrap.dedent(
        f"""
        >>> {req.method} {req.url}
        >>> headers: {hdrs}
        >>> body: {(body or '')[:limit]}
        <<< {resp.status_code} {resp.reason}
        <<< headers: {dict(resp.headers)}
        <<< body: {resp.text[:limit]}
        """
    )


def dav_request(
    session: requests.Session,
    method: str,
    url: str,
    body: str | bytes | None = None,
    depth: str | None = None,
    headers: dict | None = None,
    **kw,
) -> requests.Response:
    h = {}
    if body is not None:
        h["Content-Type"] = 'application/xml; charset="utf-8"'
    if depth is not None:
        h["Depth"] = depth
    if headers:
        h.update(headers)
    if isinstance(body, str):
        body = body.encode("utf-8")
    kw.setdefault("timeout", TIMEOUT)
    kw.setdefault("allow_redirects", False)
    return session.request(method, url, data=body, headers=h, **kw)


def propfind(session, url, props_xml: str, depth: str = "0", **kw) -> tuple[requests.Response, Multistatus]:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<D:propfind xmlns:D="DAV:" xmlns:C="{CAL}" xmlns:CR="{CARD}" xmlns:CS="{CS}">'
        f"<D:prop>{props_xml}</D:prop></D:propfind>"
    )
    resp = dav_request(session, "PROPFIND", url, body, depth=depth, **kw)
    assert resp.status_code == 207, "PROPFIND did not answer 207 Multi-Status" + describe(resp)
    return resp, parse_multistatus(resp.content)


def report(session, url, body: str, depth: str | None = "1", expect: int | None = 207, **kw):
    resp = dav_request(session, "REPORT", url, body, depth=depth, **kw)
    if expect is not None:
        assert resp.status_code == expect, f"REPORT did not answer {expect}" + describe(resp)
    ms = parse_multistatus(resp.content) if resp.status_code == 207 else None
    return resp, ms


def list_members(session, collection_url: str) -> dict[str, str]:
    """PROPFIND Depth 1 on a collection: {member path: etag}, the collection itself excluded."""
    _, ms = propfind(session, collection_url, "<D:getetag/><D:resourcetype/>", depth="1")
    coll = norm_path(collection_url)
    out = {}
    for r in ms.responses:
        if r.href.rstrip("/") == coll.rstrip("/"):
            continue
        rt = r.props.get(q(DAV, "resourcetype"))
        if rt is not None and rt.find(q(DAV, "collection")) is not None:
            continue
        out[r.href] = r.text(q(DAV, "getetag")) or ""
    return out


def sync_collection(session, url, token: str | None, props_xml: str = "<D:getetag/>", expect=207):
    tok = f"<D:sync-token>{xml_escape(token)}</D:sync-token>" if token else "<D:sync-token/>"
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<D:sync-collection xmlns:D="DAV:" xmlns:C="{CAL}" xmlns:CR="{CARD}">'
        f"{tok}<D:sync-level>1</D:sync-level><D:prop>{props_xml}</D:prop></D:sync-collection>"
    )
    # RFC 6578: Depth header must be 0 (or absent) for sync-collection.
    return report(session, url, body, depth="0", expect=expect)


def xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# ---------------------------------------------------------------- vCard / iCalendar text

def unfold(text: str) -> list[str]:
    lines: list[str] = []
    for line in re.split(r"\r\n|\n|\r", text):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += line[1:]
        elif line:
            lines.append(line)
    return lines


@dataclass
class ContentLine:
    name: str  # upper-case, group stripped
    params: str  # raw parameter text after the first ';' (may be '')
    value: str  # raw (escaped) value


def content_lines(text: str) -> list[ContentLine]:
    out = []
    for line in unfold(text):
        m = re.match(r'^((?:[^:;"]|"[^"]*")+?)(;(?:[^:"]|"[^"]*")*)?:(.*)$', line)
        if not m:
            continue
        name = m.group(1).split(".")[-1].upper()
        out.append(ContentLine(name, (m.group(2) or "")[1:], m.group(3)))
    return out


def unescape_text(v: str) -> str:
    return re.sub(r"\\([\\,;nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), v)


def prop_values(text: str, name: str) -> list[str]:
    return [unescape_text(c.value) for c in content_lines(text) if c.name == name.upper()]


def first_prop(text: str, name: str) -> str | None:
    vals = prop_values(text, name)
    return vals[0] if vals else None


def digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def replace_or_add_prop(text: str, comp_end: str, name: str, value: str) -> str:
    """Set property `name` (all occurrences replaced by one) in the first component that ends
    with `END:<comp_end>`; text is re-emitted with CRLF, unfolded."""
    lines = unfold(text)
    out, done = [], False
    for line in lines:
        head = re.split(r"[;:]", line, 1)[0].split(".")[-1].upper()
        if head == name.upper() and not done:
            continue  # drop; re-added before END
        if line.upper() == f"END:{comp_end.upper()}" and not done:
            out.append(f"{name}:{value}")
            done = True
        out.append(line)
    assert done, f"no END:{comp_end} in\n{text}"
    return "\r\n".join(out) + "\r\n"


# ---------------------------------------------------------------- vdirsyncer

def run_vdirsyncer(config: Path, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    """Run `vdirsyncer -c CONFIG ARGS` with the venv's python, never interactive."""
    cmd = [sys.executable, "-m", "vdirsyncer", "-v", "INFO", "-c", str(config), *args]
    env = dict(os.environ)
    env.pop("VDIRSYNCER_CONFIG", None)
    return subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, env=env
    )


def check_vdirsyncer(config: Path, *args: str) -> subprocess.CompletedProcess:
    p = run_vdirsyncer(config, *args)
    assert p.returncode == 0, (
        f"vdirsyncer {' '.join(args)} exited {p.returncode}\n--- stdout\n{p.stdout[-6000:]}"
        f"\n--- stderr\n{p.stderr[-6000:]}"
    )
    # vdirsyncer exits 0 even when some items failed in a few versions; be strict.
    bad = [l for l in p.stderr.splitlines() if l.startswith(("error:", "critical:"))]
    assert not bad, f"vdirsyncer {' '.join(args)} reported errors:\n" + "\n".join(bad) + "\n" + p.stderr[-6000:]
    return p


def vdirsyncer_config(
    tmp: Path, pair: str, storage_type: str, root_url: str, user: str, password: str,
    collection: str, fileext: str,
) -> Path:
    """A config syncing one server collection (a) with a local folder (b). `implicit = "create"`
    makes `discover` create the local collection without prompting."""
    cfg = tmp / "vdirsyncer.conf"
    cfg.write_text(
        textwrap.dedent(
            f"""\
            [general]
            status_path = "{tmp / 'status'}/"

            [pair {pair}]
            a = "{pair}_remote"
            b = "{pair}_local"
            collections = ["{collection}"]
            implicit = "create"

            [storage {pair}_remote]
            type = "{storage_type}"
            url = "{root_url}"
            username = "{user}"
            password = "{password}"

            [storage {pair}_local]
            type = "filesystem"
            path = "{tmp / 'local'}/"
            fileext = "{fileext}"
            """
        )
    )
    return cfg


def write_atomically(path: Path, text: str) -> None:
    """Replace a file by rename (new inode, new mtime) so vdirsyncer surely sees the change."""
    tmp = path.with_name(path.name + ".tmp-edit")
    with open(tmp, "w", newline="") as f:
        f.write(text)
    os.replace(tmp, path)
