"""CardDAV interop: discovery and REPORTs with raw HTTP (as iOS/DAVx5 send them), and a real
two-way sync with vdirsyncer, checked against the CRM tables."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from urllib.parse import urljoin

import pytest

from davutil import (
    CARD, DAV, check_vdirsyncer, describe, dav_request, digits, first_prop, list_members,
    prop_values, propfind, q, replace_or_add_prop, report, sync_collection, vdirsyncer_config,
    write_atomically,
)

PRINCIPAL = "/dav/principals/alice/"
AB_HOME = "/dav/addressbooks/alice/"
AB = "/dav/addressbooks/alice/clients/"


# ------------------------------------------------------------------------------ discovery

def test_root_current_user_principal(alice, base_url):
    _, ms = propfind(alice, base_url + "/", "<D:current-user-principal/>", depth="0")
    assert len(ms.responses) == 1, ms.raw
    assert ms.responses[0].hrefs_in(q(DAV, "current-user-principal")) == [PRINCIPAL], ms.raw


def test_principal_addressbook_home_set(alice, base_url):
    _, ms = propfind(alice, base_url + PRINCIPAL, "<CR:addressbook-home-set/>", depth="0")
    assert ms.responses[0].hrefs_in(q(CARD, "addressbook-home-set")) == [AB_HOME], ms.raw


def test_home_lists_clients_addressbook(alice, base_url):
    _, ms = propfind(alice, base_url + AB_HOME, "<D:resourcetype/><D:displayname/>", depth="1")
    by = ms.by_href()
    assert AB in by, f"{AB} not listed in {sorted(by)}\n{ms.raw}"
    rt = by[AB].props.get(q(DAV, "resourcetype"))
    assert rt is not None, ms.raw
    assert rt.find(q(DAV, "collection")) is not None, ms.raw
    assert rt.find(q(CARD, "addressbook")) is not None, ms.raw


def test_well_known_carddav_redirects(alice, base_url):
    r = dav_request(alice, "PROPFIND", base_url + "/.well-known/carddav", depth="0",
                    body='<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
                         "<D:current-user-principal/></D:prop></D:propfind>")
    assert r.status_code in (301, 302, 307, 308), describe(r)
    loc = r.headers.get("Location")
    assert loc, describe(r)
    target = urljoin(base_url + "/.well-known/carddav", loc)
    _, ms = propfind(alice, target, "<D:current-user-principal/>", depth="0")
    principals = [h for resp in ms.responses for h in resp.hrefs_in(q(DAV, "current-user-principal"))]
    assert principals == [PRINCIPAL], ms.raw


# ------------------------------------------------------------------------------ REPORTs

def _cards(session, base_url) -> dict[str, str]:
    """Every card of alice's address book, by path, fetched with plain GETs."""
    out = {}
    for href in list_members(session, base_url + AB):
        r = session.get(base_url + href, timeout=30)
        assert r.status_code == 200, describe(r)
        assert "BEGIN:VCARD" in r.text, describe(r)
        out[href] = r.text
    assert out, f"alice's address book {AB} is empty: the demo CRM should give her cards"
    return out


def _pick_fn_term(cards: dict[str, str]) -> tuple[str, set[str]]:
    """An ASCII word from some FN matching (case-insensitively) at least one card but not all."""
    fns = {h: (first_prop(t, "FN") or "") for h, t in cards.items()}
    words = sorted({w for fn in fns.values() for w in re.findall(r"[A-Za-z]{3,}", fn)})
    best = None
    for w in words:
        match = {h for h, fn in fns.items() if w.casefold() in fn.casefold()}
        if 0 < len(match) < len(cards):
            key = (len(match) >= 2, -len(match), w)  # prefer a term hitting several cards
            if best is None or key > best[0]:
                best = (key, w, match)
    assert best, f"no FN word separates the cards: {fns}"
    return best[1], best[2]


def test_addressbook_query_fn_contains(alice, base_url):
    cards = _cards(alice, base_url)
    term, expected = _pick_fn_term(cards)
    sent = term.swapcase()  # i;unicode-casemap must match regardless of case
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<C:addressbook-query xmlns:D="DAV:" xmlns:C="{CARD}">
  <D:prop><D:getetag/><C:address-data/></D:prop>
  <C:filter test="anyof">
    <C:prop-filter name="FN">
      <C:text-match collation="i;unicode-casemap" match-type="contains">{sent}</C:text-match>
    </C:prop-filter>
  </C:filter>
</C:addressbook-query>"""
    _, ms = report(alice, base_url + AB, body, depth="1")
    got = {r.href for r in ms.responses if r.href.rstrip("/") != AB.rstrip("/")}
    assert got == expected, (
        f"query FN contains {sent!r}: expected {sorted(expected)}, got {sorted(got)} "
        f"(of {len(cards)} cards)\n{ms.raw[:3000]}"
    )
    for r in ms.responses:
        data = r.text(q(CARD, "address-data"))
        assert data and "BEGIN:VCARD" in data, ms.raw[:3000]
        assert term.casefold() in (first_prop(data, "FN") or "").casefold()


def test_addressbook_multiget_three(alice, base_url):
    members = sorted(list_members(alice, base_url + AB))
    assert len(members) >= 3, f"need 3 cards for multiget, alice has {members}"
    hrefs = members[:3]
    body = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="{CARD}">'
        "<D:prop><D:getetag/><C:address-data/></D:prop>"
        + "".join(f"<D:href>{h}</D:href>" for h in hrefs)
        + "</C:addressbook-multiget>"
    )
    _, ms = report(alice, base_url + AB, body, depth="1")
    by = ms.by_href()
    assert set(by) == set(hrefs), ms.raw[:3000]
    for h in hrefs:
        data = by[h].text(q(CARD, "address-data"))
        assert data and "BEGIN:VCARD" in data and "END:VCARD" in data, f"{h}\n{ms.raw[:3000]}"
        assert by[h].text(q(DAV, "getetag")), f"{h} without getetag\n{ms.raw[:3000]}"


def test_sync_collection_initial_then_empty_then_invalid(alice, base_url):
    members = set(list_members(alice, base_url + AB))
    _, ms = sync_collection(alice, base_url + AB, None)
    assert ms.sync_token, f"no DAV:sync-token in initial sync\n{ms.raw[:2000]}"
    got = {r.href for r in ms.responses}
    assert got == members, f"initial sync-collection lists {len(got)} members, PROPFIND {len(members)}\n" \
                           f"only in sync: {sorted(got - members)}\nonly in PROPFIND: {sorted(members - got)}"
    assert all(r.status is None or r.status == 200 for r in ms.responses), ms.raw[:3000]

    _, ms2 = sync_collection(alice, base_url + AB, ms.sync_token)
    assert ms2.responses == [], f"no change since the token, yet members reported:\n{ms2.raw[:3000]}"
    assert ms2.sync_token, ms2.raw

    r, _ = sync_collection(alice, base_url + AB, "http://example.invalid/not-a-crmdav-token/42", expect=None)
    assert r.status_code == 403, describe(r)
    assert "valid-sync-token" in r.text, describe(r)


# ------------------------------------------------------------------------------ vdirsyncer

def _local_cards(folder: Path) -> dict[str, Path]:
    out = {}
    for f in folder.glob("*.vcf"):
        uid = first_prop(f.read_text(), "UID")
        assert uid, f"{f} has no UID"
        out[uid] = f
    return out


def _eventually(check, what: str, sync, attempts: int = 4, pause: float = 2.0):
    """The bridge must notice direct CRM writes by itself; allow it a few seconds."""
    for i in range(attempts):
        sync()
        if check():
            if i:
                print(f"[interop] {what}: seen only after sync #{i + 1}")
            return
        time.sleep(pause)
    pytest.fail(f"{what} not seen after {attempts} syncs over ~{attempts * pause:.0f} s", pytrace=False)


def test_vdirsyncer_two_way_addressbook(alice, base_url, root_url, db, tmp_path):
    db.require_columns("contacts", "uid", "first_name", "last_name", "title", "email", "phone", "mobile")
    cfg = vdirsyncer_config(tmp_path, "crm_contacts", "carddav", root_url, "alice", "demo", "clients", ".vcf")
    check_vdirsyncer(cfg, "discover")
    check_vdirsyncer(cfg, "sync")

    folder = tmp_path / "local" / "clients"
    assert folder.is_dir(), f"vdirsyncer did not create {folder}: {list((tmp_path / 'local').glob('*'))}"
    _, ms = sync_collection(alice, base_url + AB, None)
    local = _local_cards(folder)
    assert len(list(folder.glob("*.vcf"))) == len(ms.responses), (
        f"local folder has {len(local)} cards, server sync-collection lists {len(ms.responses)}"
    )

    crm_uids = {r["uid"] for r in db.query("SELECT uid FROM contacts")}
    mine = sorted(set(local) & crm_uids)
    assert len(mine) >= 2, f"need 2 contact cards that are CRM contacts; local UIDs {sorted(local)[:10]}..."

    # (a) the CRM changes a phone number directly in its tables -> the local card follows.
    uid_a = mine[0]
    new_phone = f"+1 555 01{uuid.uuid4().int % 100:02d} {uuid.uuid4().int % 10000:04d}"
    n = db.execute("UPDATE contacts SET phone = ? WHERE uid = ?", (new_phone, uid_a))
    assert n == 1, f"UPDATE contacts touched {n} rows for uid {uid_a}"

    def local_has_phone():
        text = _local_cards(folder)[uid_a].read_text()
        return digits(new_phone) in {digits(v) for v in prop_values(text, "TEL")}

    _eventually(local_has_phone, f"CRM phone change {new_phone!r} in local card {uid_a}",
                lambda: check_vdirsyncer(cfg, "sync"))

    # (b) the rep edits TITLE in the local card -> the CRM row changes.
    uid_b = mine[1]
    path_b = _local_cards(folder)[uid_b]
    new_title = f"Head of Purchasing {uuid.uuid4().hex[:6]}"
    write_atomically(path_b, replace_or_add_prop(path_b.read_text(), "VCARD", "TITLE", new_title))
    check_vdirsyncer(cfg, "sync")
    row = db.query("SELECT title, phone FROM contacts WHERE uid = ?", (uid_b,))
    assert row and row[0]["title"] == new_title, f"CRM contact {uid_b} after local TITLE edit: {row}"

    # A further sync is clean (no conflict from the server's own rewrite of the card), and
    # both edits survive on both sides.
    check_vdirsyncer(cfg, "sync")
    local = _local_cards(folder)
    assert first_prop(local[uid_b].read_text(), "TITLE") == new_title
    assert local_has_phone()
    _, ms = sync_collection(alice, base_url + AB, None, "<D:getetag/><CR:address-data/>")
    server = {first_prop(r.text(q(CARD, "address-data")) or "", "UID"): r for r in ms.responses}
    assert uid_a in server and uid_b in server, f"cards {uid_a}/{uid_b} gone from the server: {sorted(server)}"
    assert first_prop(server[uid_b].text(q(CARD, "address-data")), "TITLE") == new_title, ms.raw[:3000]
    assert digits(new_phone) in {
        digits(v) for v in prop_values(server[uid_a].text(q(CARD, "address-data")), "TEL")
    }, ms.raw[:3000]
