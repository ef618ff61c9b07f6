"""CalDAV interop with the python `caldav` library (discovery, create, expand, ETags, tasks,
sync tokens), raw HTTP where the exact status/body matters, and a vdirsyncer two-way sync."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urljoin

import caldav
import icalendar
import pytest
from caldav.lib import error as caldav_error

from davutil import (
    CAL, DAV, check_vdirsyncer, describe, dav_request, first_prop, list_members, norm_path,
    propfind, q, replace_or_add_prop, report, sync_collection, vdirsyncer_config,
)

PRINCIPAL = "/dav/principals/alice/"
CAL_HOME = "/dav/calendars/alice/"
ACT = CAL_HOME + "activities/"
FUP = CAL_HOME + "follow-ups/"
UTC = timezone.utc


def _ics(*lines: str) -> str:
    return "\r\n".join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//crmdav//interop tests//EN", *lines, "END:VCALENDAR"]
    ) + "\r\n"


def _stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _event(uid: str, summary: str, start: datetime, minutes: int = 60, extra: tuple[str, ...] = ()) -> str:
    return _ics(
        "BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{_stamp(datetime.now(UTC))}",
        f"DTSTART:{_stamp(start)}", f"DTEND:{_stamp(start + timedelta(minutes=minutes))}",
        f"SUMMARY:{summary}", *extra, "END:VEVENT",
    )


def _next_week(hour: int = 10) -> datetime:
    d = datetime.now(UTC) + timedelta(days=7)
    return d.replace(hour=hour, minute=0, second=0, microsecond=0)


@pytest.fixture
def client(root_url):
    with caldav.DAVClient(url=root_url, username="alice", password="demo", timeout=30) as c:
        yield c


def _calendar(client, path: str) -> caldav.Calendar:
    cals = client.principal().calendars()
    by = {norm_path(str(c.url)): c for c in cals}
    assert path in by, f"{path} not among alice's calendars {sorted(by)}"
    return by[path]


@pytest.fixture
def activities(client):
    return _calendar(client, ACT)


@pytest.fixture
def follow_ups(client):
    return _calendar(client, FUP)


def _alice_id(db) -> str:
    return str(db.scalar("SELECT id FROM reps WHERE login = ?", ("alice",)))


def _activity_row(db, uid: str) -> dict | None:
    rows = db.query(
        "SELECT * FROM activities WHERE uid = ? AND rep_id = (SELECT id FROM reps WHERE login = ?)",
        (uid, "alice"),
    )
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


# ------------------------------------------------------------------------------ discovery

def test_discovery_from_root_finds_both_calendars(client):
    principal = client.principal()
    assert norm_path(str(principal.url)) == PRINCIPAL
    assert norm_path(str(principal.calendar_home_set.url)) == CAL_HOME
    cals = {norm_path(str(c.url)): c for c in principal.calendars()}
    assert ACT in cals and FUP in cals, sorted(cals)
    assert [str(x) for x in cals[ACT].get_supported_components()] == ["VEVENT"]
    assert [str(x) for x in cals[FUP].get_supported_components()] == ["VTODO"]


def test_well_known_caldav_redirects(alice, base_url):
    r = dav_request(alice, "PROPFIND", base_url + "/.well-known/caldav", depth="0",
                    body='<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
                         "<D:current-user-principal/></D:prop></D:propfind>")
    assert r.status_code in (301, 302, 307, 308), describe(r)
    target = urljoin(base_url + "/.well-known/caldav", r.headers.get("Location", ""))
    _, ms = propfind(alice, target, "<D:current-user-principal/>", depth="0")
    assert [h for x in ms.responses for h in x.hrefs_in(q(DAV, "current-user-principal"))] == [PRINCIPAL], ms.raw


# ------------------------------------------------------------------------------ events

def test_create_event_lands_in_crm(activities, alice, base_url, db):
    uid = f"interop-create-{uuid.uuid4().hex}"
    start = _next_week()
    ev = activities.add_event(_event(uid, "Quarterly review with buyer", start, extra=("LOCATION:Main office",)))
    path = norm_path(str(ev.url))
    assert path.startswith(ACT), path

    r = alice.get(base_url + path, timeout=30)
    assert r.status_code == 200, describe(r)
    assert r.headers.get("ETag"), describe(r)
    assert first_prop(r.text, "UID") == uid and first_prop(r.text, "SUMMARY") == "Quarterly review with buyer"
    assert path in list_members(alice, base_url + ACT)

    row = _activity_row(db, uid)
    assert row, f"no CRM activity for uid {uid}"
    assert row["subject"] == "Quarterly review with buyer", row
    assert row["location"] == "Main office", row
    assert row["status"] == "planned", row
    assert str(row["rep_id"]) == _alice_id(db), row
    assert str(row["kind"]) != "task", row


def _expanded_instances(text: str, uid: str) -> list[icalendar.Event]:
    cal = icalendar.Calendar.from_ical(text)
    return [c for c in cal.walk("VEVENT") if str(c.get("UID")) == uid]


def _raw_expand(session, base_url, start: datetime, end: datetime, uid: str) -> list[icalendar.Event]:
    s, e = _stamp(start), _stamp(end)
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="{CAL}">
  <D:prop><D:getetag/><C:calendar-data><C:expand start="{s}" end="{e}"/></C:calendar-data></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="{s}" end="{e}"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""
    _, ms = report(session, base_url + ACT, body, depth="1")
    out = []
    for r in ms.responses:
        data = r.text(q(CAL, "calendar-data"))
        if data:
            inst = _expanded_instances(data, uid)
            for i in inst:
                assert "RRULE" not in i, f"expanded data still carries RRULE:\n{data}"
            out += inst
    return out


def test_expand_recurring_event_with_override(activities, alice, base_url):
    uid = f"interop-rrule-{uuid.uuid4().hex}"
    first = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)  # a Monday
    moved_rid = first + timedelta(weeks=2)
    moved_start = datetime(2030, 3, 19, 14, 0, tzinfo=UTC)
    ics = _ics(
        "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20300101T000000Z",
        f"DTSTART:{_stamp(first)}", f"DTEND:{_stamp(first + timedelta(hours=1))}",
        "RRULE:FREQ=WEEKLY;COUNT=4", "SUMMARY:Weekly pipeline review", "END:VEVENT",
        "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20300101T000000Z", f"RECURRENCE-ID:{_stamp(moved_rid)}",
        f"DTSTART:{_stamp(moved_start)}", f"DTEND:{_stamp(moved_start + timedelta(hours=1))}",
        "SUMMARY:Pipeline review (moved for trade fair)", "END:VEVENT",
    )
    activities.add_event(ics)

    # The caldav library, asking the server to expand.
    found = activities.search(
        start=datetime(2030, 3, 1, tzinfo=UTC), end=datetime(2030, 4, 1, tzinfo=UTC),
        event=True, expand=True, server_expand=True,
    )
    inst = [o.icalendar_component for o in found if str(o.icalendar_component.get("UID")) == uid]
    assert len(inst) == 4, [c.to_ical() for c in inst]
    by_rid = {c["RECURRENCE-ID"].dt.astimezone(UTC): c for c in inst if "RECURRENCE-ID" in c}
    assert set(by_rid) == {first + timedelta(weeks=i) for i in range(4)}, sorted(by_rid)
    for rid, c in by_rid.items():
        if rid == moved_rid:
            assert str(c["SUMMARY"]) == "Pipeline review (moved for trade fair)", c.to_ical()
            assert c["DTSTART"].dt.astimezone(UTC) == moved_start, c.to_ical()
        else:
            assert str(c["SUMMARY"]) == "Weekly pipeline review", c.to_ical()
            assert c["DTSTART"].dt.astimezone(UTC) == rid, c.to_ical()

    # Raw time ranges: the moved instance is found at its new time and not at its old slot.
    at_new = _raw_expand(alice, base_url, moved_start - timedelta(hours=1), moved_start + timedelta(hours=2), uid)
    assert [str(c["SUMMARY"]) for c in at_new] == ["Pipeline review (moved for trade fair)"], at_new
    at_old = _raw_expand(alice, base_url, moved_rid - timedelta(minutes=30), moved_rid + timedelta(hours=2), uid)
    assert at_old == [], [c.to_ical() for c in at_old]
    week4 = _raw_expand(alice, base_url, first + timedelta(weeks=3), first + timedelta(weeks=3, hours=1), uid)
    assert [str(c["SUMMARY"]) for c in week4] == ["Weekly pipeline review"], week4


def test_edit_with_etag(activities, alice, base_url, db):
    uid = f"interop-etag-{uuid.uuid4().hex}"
    ev = activities.add_event(_event(uid, "Call about renewal", _next_week(11)))
    ev.load()
    etag0 = ev.etag
    assert etag0, "GET gave no ETag"
    stale = activities.event_by_url(ev.url)
    stale.load()

    etags = [etag0]
    for summary in ("Call about renewal (v2)", "Call about renewal (v3)"):
        with ev.edit_icalendar_component() as comp:
            comp.pop("SUMMARY", None)
            comp.add("SUMMARY", summary)
        ev.save()
        ev.load()
        assert ev.etag and ev.etag not in etags, f"ETag did not change on save: {etags} -> {ev.etag}"
        etags.append(ev.etag)
        assert str(ev.icalendar_component["SUMMARY"]) == summary
    assert _activity_row(db, uid)["subject"] == "Call about renewal (v3)"

    # A client holding the first ETag must be refused: caldav sends If-Match by itself ...
    with stale.edit_icalendar_component() as comp:
        comp.pop("SUMMARY", None)
        comp.add("SUMMARY", "Lost update")
    with pytest.raises(caldav_error.ETagMismatchError):
        stale.save()
    # ... and raw HTTP gives exactly 412.
    url = base_url + norm_path(str(ev.url))
    body = _event(uid, "Lost update (raw)", _next_week(11))
    r = alice.put(url, data=body.encode(), timeout=30,
                  headers={"Content-Type": "text/calendar; charset=utf-8", "If-Match": etag0})
    assert r.status_code == 412, describe(r)
    r = alice.put(url, data=body.encode(), timeout=30,
                  headers={"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"})
    assert r.status_code == 412, describe(r)
    g = alice.get(url, timeout=30)
    assert first_prop(g.text, "SUMMARY") == "Call about renewal (v3)", g.text
    assert g.headers.get("ETag") == etags[-1]
    # The current ETag is accepted.
    r = alice.put(url, data=body.encode(), timeout=30,
                  headers={"Content-Type": "text/calendar; charset=utf-8", "If-Match": etags[-1]})
    assert r.status_code in (200, 201, 204), describe(r)
    assert _activity_row(db, uid)["subject"] == "Lost update (raw)"


# ------------------------------------------------------------------------------ tasks

def _linked_open_task(alice, base_url, db) -> tuple[str, str, str, dict]:
    """(path, etag, ics, crm row) of an open follow-up of alice that is linked to a client."""
    for path, etag in sorted(list_members(alice, base_url + FUP).items()):
        r = alice.get(base_url + path, timeout=30)
        assert r.status_code == 200, describe(r)
        uid = first_prop(r.text, "UID")
        row = _activity_row(db, uid) if uid else None
        if row and row["client_id"] not in (None, "") and row["status"] == "planned" \
                and (first_prop(r.text, "STATUS") or "").upper() != "COMPLETED":
            return path, r.headers.get("ETag") or etag, r.text, row
    pytest.fail("the demo CRM gives alice no open follow-up linked to a client", pytrace=False)


def test_complete_task_needs_note(client, follow_ups, alice, base_url, db):
    path, etag, ics, row = _linked_open_task(alice, base_url, db)
    url = base_url + path
    now = _stamp(datetime.now(UTC))

    # 1. Raw: completing without a note -> 403 note-required; nothing changes.
    done = ics
    for name, value in (("STATUS", "COMPLETED"), ("COMPLETED", now), ("PERCENT-COMPLETE", "100")):
        done = replace_or_add_prop(done, "VTODO", name, value)
    r = alice.put(url, data=done.encode(), timeout=30,
                  headers={"Content-Type": "text/calendar; charset=utf-8", "If-Match": etag})
    assert r.status_code == 403, describe(r)
    assert "note-required" in r.text, describe(r)
    after = alice.get(url, timeout=30)
    assert after.headers.get("ETag") == etag, "a refused completion changed the resource"
    assert (first_prop(after.text, "STATUS") or "").upper() != "COMPLETED", after.text
    again = _activity_row(db, row["uid"])
    assert again["status"] == "planned" and again["completed_at"] in (None, ""), again

    # 2. The caldav library's own complete() without a note is refused too.
    todo = caldav.Todo(client, url=url, parent=follow_ups)
    todo.load()
    with pytest.raises(caldav_error.DAVError):
        todo.complete()
    assert _activity_row(db, row["uid"])["status"] == "planned"

    # 3. With a DESCRIPTION note -> accepted; the CRM activity is completed and the note stored.
    note = f"Called the buyer; wants a quote for 40 units by Friday ({uuid.uuid4().hex[:8]})"
    todo = caldav.Todo(client, url=url, parent=follow_ups)
    todo.load()
    with todo.edit_icalendar_component() as comp:
        comp.pop("DESCRIPTION", None)
        comp.add("DESCRIPTION", note)
    todo.complete()

    final = _activity_row(db, row["uid"])
    assert final["status"] == "completed", final
    assert final["completed_at"] not in (None, ""), final
    notes = [n for n in db.query("SELECT * FROM notes") if note in str(n.get("body"))]
    assert len(notes) == 1, f"expected one CRM note holding {note!r}, found {notes}"
    assert str(notes[0]["activity_id"]) == str(row["id"]), notes
    assert str(notes[0]["client_id"]) == str(row["client_id"]), notes
    g = alice.get(url, timeout=30)
    assert (first_prop(g.text, "STATUS") or "").upper() == "COMPLETED", g.text


# ------------------------------------------------------------------------------ sync

def test_sync_token_sees_new_event(activities, alice, base_url):
    first = activities.get_objects_by_sync_token(disable_fallback=True)
    token = first.sync_token
    assert token, "no sync-token from sync-collection"
    members = set(list_members(alice, base_url + ACT))
    assert {norm_path(str(o.url)) for o in first} == members

    uid = f"interop-sync-{uuid.uuid4().hex}"
    ev = activities.add_event(_event(uid, "Demo at prospect", _next_week(15)))
    changed = activities.get_objects_by_sync_token(sync_token=token, disable_fallback=True, load_objects=True)
    paths = {norm_path(str(o.url)) for o in changed}
    assert paths == {norm_path(str(ev.url))}, f"after one PUT, changes since token: {sorted(paths)}"
    (obj,) = list(changed)
    assert str(obj.icalendar_component["UID"]) == uid
    assert changed.sync_token and changed.sync_token != token


# ------------------------------------------------------------------------------ vdirsyncer

def test_vdirsyncer_two_way_activities(alice, base_url, root_url, db, tmp_path):
    cfg = vdirsyncer_config(tmp_path, "crm_cal", "caldav", root_url, "alice", "demo", "activities", ".ics")
    check_vdirsyncer(cfg, "discover")
    check_vdirsyncer(cfg, "sync")
    folder = tmp_path / "local" / "activities"
    assert folder.is_dir(), list((tmp_path / "local").glob("*"))
    _, ms = sync_collection(alice, base_url + ACT, None)
    assert len(list(folder.glob("*.ics"))) == len(ms.responses), (
        f"local {len(list(folder.glob('*.ics')))} .ics vs server {len(ms.responses)} members"
    )

    uid = f"interop-vds-{uuid.uuid4().hex}"
    summary = "Site visit planned offline"
    (folder / f"{uid}.ics").write_text(
        _event(uid, summary, _next_week(13), extra=("LOCATION:Warehouse 3", "X-INTEROP-KEEP:yes")), newline=""
    )
    check_vdirsyncer(cfg, "sync")

    r = alice.get(base_url + ACT + f"{uid}.ics", timeout=30)
    assert r.status_code == 200, describe(r)
    assert first_prop(r.text, "UID") == uid and first_prop(r.text, "SUMMARY") == summary, r.text
    assert first_prop(r.text, "X-INTEROP-KEEP") == "yes", f"unmodelled property lost:\n{r.text}"
    row = _activity_row(db, uid)
    assert row and row["subject"] == summary and row["location"] == "Warehouse 3", row

    check_vdirsyncer(cfg, "sync")  # stable: nothing to do, no conflict
    assert len(list(folder.glob("*.ics"))) == len(ms.responses) + 1
