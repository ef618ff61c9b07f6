"""Closing from any phone, driven by python `caldav`: the demo server asks for reports of the
activities that ended (at start), alice's follow-ups list the report tasks, and ticking one done
closes its activity only with a report in its notes."""

from __future__ import annotations

import time
import uuid

import caldav
import pytest
from caldav.lib import error as caldav_error

from davutil import first_prop, list_members, norm_path

FUP = "/dav/calendars/alice/follow-ups/"
ACT = "/dav/calendars/alice/activities/"


@pytest.fixture
def client(root_url):
    with caldav.DAVClient(url=root_url, username="alice", password="demo", timeout=30) as c:
        yield c


@pytest.fixture
def follow_ups(client):
    by = {norm_path(str(c.url)): c for c in client.principal().calendars()}
    assert FUP in by, sorted(by)
    return by[FUP]


def _report_task_paths(alice, base_url) -> list[str]:
    # The server's first check runs as it starts: give it a moment.
    for _ in range(50):
        paths = sorted(p for p in list_members(alice, base_url + FUP) if p.rsplit("/", 1)[-1].startswith("report-"))
        if paths:
            return paths
        time.sleep(0.2)
    pytest.fail("alice's follow-ups hold no report task", pytrace=False)


def _activity(db, uid: str) -> dict:
    rows = db.query(
        "SELECT id, status, completed_at FROM activities WHERE uid = ? AND rep_id = (SELECT id FROM reps WHERE login = ?)",
        (uid, "alice"),
    )
    assert len(rows) == 1, rows
    return rows[0]


def test_report_task_completed_with_notes_closes_the_activity(client, follow_ups, alice, base_url, db):
    path = _report_task_paths(alice, base_url)[0]
    todo = caldav.Todo(client, url=base_url + path, parent=follow_ups)
    todo.load()
    comp = todo.icalendar_component
    assert str(comp["SUMMARY"]).startswith("Report: "), comp
    related = str(comp["RELATED-TO"])
    assert str(comp["UID"]) == "crmdav-report-" + related
    assert _activity(db, related)["status"] == "planned"

    # Ticked done without a report: refused (403 note-required), the activity stays open.
    with pytest.raises(caldav_error.DAVError) as refused:
        todo.complete()
    assert "Forbidden" in str(refused.value) or "403" in str(refused.value), refused.value
    assert _activity(db, related)["status"] == "planned"

    # With a report in its notes: the activity is closed, the report is its one new client note.
    note = f"Visited the plant; they order 40 units in March ({uuid.uuid4().hex[:8]})"
    todo = caldav.Todo(client, url=base_url + path, parent=follow_ups)
    todo.load()
    with todo.edit_icalendar_component() as c:
        c.pop("DESCRIPTION", None)
        c.add("DESCRIPTION", note)
    todo.complete()

    row = _activity(db, related)
    assert row["status"] == "completed" and row["completed_at"] not in (None, ""), row
    notes = db.query("SELECT body, activity_id, source FROM notes WHERE body = ?", (note,))
    assert len(notes) == 1 and str(notes[0]["activity_id"]) == str(row["id"]), notes
    assert notes[0]["source"] == "dav", notes
    assert path not in list_members(alice, base_url + FUP), "the report task left the follow-ups"
    event_href = db.scalar("SELECT href FROM activities WHERE id = ?", (row["id"],))
    event = alice.get(base_url + ACT + event_href, timeout=30)
    assert event.status_code == 200, event.text
    assert (first_prop(event.text, "X-CRM-STATUS") or "").upper() == "COMPLETED", event.text
