"""Voice notes, driven by python `caldav`: a jtx Board journal entry with an inline audio
recording is uploaded to alice's notes collection, read back as an entry linking the recording,
and the recording is fetched byte for byte, through the entry's link and through the URL the
client's card lists, with a Range request."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import caldav

from davutil import norm_path

NOTES = "/dav/calendars/alice/notes/"
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "ical" / "jtx_board_journal_audio.ics"


def _audio() -> bytes:
    # An m4a header, then bytes that are not UTF-8 text.
    head = b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00"
    return head + bytes((i * 7 % 251) | 0x80 for i in range(6000 - len(head)))


def _journal(uid: str, client_name: str, audio: bytes) -> str:
    encoded = base64.b64encode(audio).decode()
    folded = "\r\n ".join(encoded[i : i + 74] for i in range(0, len(encoded), 74))
    text = FIXTURE.read_text()
    return text.replace("{{UID}}", uid).replace("{{CLIENT}}", client_name).replace("{{AUDIO}}", folded)


def test_a_recording_on_a_journal_entry_is_read_back_byte_for_byte(root_url, base_url, alice, db):
    rows = db.query(
        "SELECT c.name, k.href FROM clients c JOIN contacts k ON k.client_id = c.id WHERE c.status = ? "
        "AND c.account_manager_id = (SELECT id FROM reps WHERE login = ?) ORDER BY c.id, k.id LIMIT 1",
        ("active", "alice"),
    )
    client_name, card_href = rows[0]["name"], rows[0]["href"]
    audio = _audio()
    uid = f"interop-voice-{uuid.uuid4()}"
    with caldav.DAVClient(url=root_url, username="alice", password="demo", timeout=30) as client:
        by = {norm_path(str(c.url)): c for c in client.principal().calendars()}
        assert NOTES in by, sorted(by)
        notes = by[NOTES]
        url = f"{base_url}{NOTES}{uid}.ics"
        caldav.Journal(client, url=url, data=_journal(uid, client_name, audio), parent=notes).save()

        entry = caldav.Journal(client, url=url, parent=notes)
        entry.load()
        comp = entry.icalendar_component
        assert str(comp["UID"]) == uid
        attach = comp["ATTACH"]
        link = str(attach)
        assert link.startswith("/dav/voice-notes/"), link
        assert attach.params["FMTTYPE"] == "audio/mp4"
        assert "BASE64" not in entry.data

        # Through python caldav's own HTTP session, and through requests.
        fetched = client.request(base_url + link)
        assert fetched.status == 200
        assert fetched._raw == audio
    whole = alice.get(base_url + link)
    assert whole.status_code == 200
    assert whole.headers["Content-Type"] == "audio/mp4"
    assert whole.content == audio

    # The client's card lists the recording; its URL streams with ranges.
    card = alice.get(f"{base_url}/dav/addressbooks/alice/clients/{card_href}").text.replace("\r\n ", "")
    assert f": {link}" in card, card
    part = alice.get(base_url + link, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(audio)}"
    assert part.content == audio[1000:2000]
    assert alice.get(base_url + link, headers={"Range": "bytes=99999-"}).status_code == 416


AUDIO = Path(__file__).resolve().parents[2] / "fixtures" / "audio"
EVENTS = "/dav/calendars/alice/activities/"


def _event(uid: str, client_code: str, audio: bytes) -> str:
    encoded = base64.b64encode(audio).decode()
    folded = "\r\n ".join(encoded[i : i + 74] for i in range(0, len(encoded), 74))
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.5.1//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261115T090000Z\r\nDTSTART:20261120T090000Z\r\nDTEND:20261120T100000Z\r\n"
        f"SUMMARY:Site visit\r\nX-CRM-CLIENT:{client_code}\r\n"
        f"ATTACH;FMTTYPE=audio/mp4;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=visit.m4a:{folded}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def test_a_recording_on_an_event_and_an_rfc_8607_attachment_are_read_back(root_url, base_url, alice, db):
    """A real m4a sent inline on an event through python caldav comes back as a managed attachment
    (MANAGED-ID, SIZE) whose URL serves it byte for byte; an Ogg recording added by RFC 8607
    attachment-add (requests) is served at the Location answered, with ranges, and removed."""
    code = db.query(
        "SELECT code FROM clients WHERE status = ? AND account_manager_id = (SELECT id FROM reps WHERE login = ?) "
        "ORDER BY id LIMIT 1",
        ("active", "alice"),
    )[0]["code"]
    m4a = (AUDIO / "memo.m4a").read_bytes()
    uid = f"interop-event-voice-{uuid.uuid4()}"
    path = f"{EVENTS}{uid}.ics"
    with caldav.DAVClient(url=root_url, username="alice", password="demo", timeout=30) as client:
        by = {norm_path(str(c.url)): c for c in client.principal().calendars()}
        events = by[EVENTS]
        caldav.Event(client, url=base_url + path, data=_event(uid, code, m4a), parent=events).save()
        event = caldav.Event(client, url=base_url + path, parent=events)
        event.load()
        assert "BASE64" not in event.data
        attach = event.icalendar_component["ATTACH"]
        link = str(attach)
        assert link.startswith("/dav/voice-notes/"), link
        assert attach.params["MANAGED-ID"] == link.rsplit("/", 1)[1]
        assert attach.params["SIZE"] == str(len(m4a))
        fetched = client.request(base_url + link)
        assert fetched.status == 200
        assert fetched._raw == m4a

    etag = alice.get(base_url + path).headers["ETag"]
    ogg = (AUDIO / "memo.ogg").read_bytes()
    added = alice.post(
        f"{base_url}{path}?action=attachment-add",
        data=ogg,
        headers={"Content-Type": "audio/ogg", "Content-Disposition": "attachment;filename=memo.ogg", "If-Match": etag},
    )
    assert added.status_code == 201, added.text
    managed_id, location = added.headers["Cal-Managed-ID"], added.headers["Location"]
    assert location == f"/dav/voice-notes/{managed_id}"
    assert added.headers["ETag"] != etag
    assert f"MANAGED-ID={managed_id};FMTTYPE=audio/ogg" in added.text.replace("\r\n ", "")
    assert alice.get(base_url + location).content == ogg
    part = alice.get(base_url + location, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == ogg[100:200]
    removed = alice.post(f"{base_url}{path}?action=attachment-remove&managed-id={managed_id}")
    assert removed.status_code == 204
    assert alice.get(base_url + location).status_code == 404
    assert f"MANAGED-ID={managed_id}" not in alice.get(base_url + path).text.replace("\r\n ", "")
