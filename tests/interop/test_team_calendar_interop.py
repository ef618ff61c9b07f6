"""A manager's team calendar with the python `caldav` library: the manager's client discovers
`/dav/calendars/<login>/team/` among their calendars, reads the team rep's events (named by the
rep), finds them by time range, and a write is refused (403 need-privileges). A rep's client does
not see a team calendar."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import caldav
import pytest
from caldav.lib import error as caldav_error

from davutil import norm_path

UTC = timezone.utc
PASSWORD = "Interop-manager-1"


@pytest.fixture
def manager(base_url, http_session, db):
    """A manager (made through the admin API) leading a team with bob in it; bob has a visit."""
    admin = http_session("admin")
    login = "mgr" + uuid.uuid4().hex[:6]
    made = admin.post(f"{base_url}/admin/api/reps", json={
        "login": login, "display_name": "Interop Manager", "role": "manager", "password": PASSWORD,
    })
    assert made.status_code == 201, made.text
    team = f"Interop {login}"
    assert admin.post(f"{base_url}/admin/api/teams", json={"name": team, "manager": login}).status_code == 201
    joined = admin.post(f"{base_url}/admin/api/reps/bob/team", json={"team": team})
    assert joined.status_code == 200, joined.text
    start = (datetime.now(UTC) + timedelta(days=5 * 365)).replace(hour=3, minute=17, second=0, microsecond=0)
    uid = f"team-interop-{uuid.uuid4().hex[:8]}"
    db.execute(
        "INSERT INTO activities (uid, href, rep_id, kind, subject, start_at, end_at) "
        "SELECT ?, ?, id, 'visit', 'Team interop visit', ?, ? FROM reps WHERE login = ?",
        (uid, uid + ".ics", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
         (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "bob"),
    )
    yield {"login": login, "start": start, "uid": uid}
    admin.post(f"{base_url}/admin/api/reps/bob/team", json={"team": None})


def test_a_managers_client_lists_and_reads_the_team_calendar(manager, root_url):
    login = manager["login"]
    team_path = f"/dav/calendars/{login}/team/"
    with caldav.DAVClient(url=root_url, username=login, password=PASSWORD, timeout=30) as client:
        calendars = {norm_path(str(c.url)): c for c in client.principal().calendars()}
        assert team_path in calendars, sorted(calendars)
        team = calendars[team_path]
        assert team.get_display_name() == "Team activities"
        assert [str(c) for c in team.get_supported_components()] == ["VEVENT"]
        # bob's events of the next two months, each named by bob.
        now = datetime.now(UTC)
        events = team.search(start=now, end=now + timedelta(days=60), event=True, expand=False)
        assert events, "bob's events are in the team calendar"
        summaries = [str(e.icalendar_component.get("summary")) for e in events]
        assert all(s.startswith("Bob Keller") for s in summaries), summaries
        # A time range finds the new visit, and only what lies in it.
        start = manager["start"]
        found = team.search(start=start - timedelta(hours=1), end=start + timedelta(hours=2), event=True, expand=False)
        found_uids = [str(e.icalendar_component.get("uid")) for e in found]
        assert found_uids == [manager["uid"]], found_uids
        visit = found[0]
        assert str(visit.icalendar_component.get("summary")) == "Bob Keller: Team interop visit"
        assert str(visit.icalendar_component.get("x-crm-rep")) == "bob"
        # Read-only: saving an edit is refused and changes nothing.
        visit.icalendar_component["summary"] = "Edited by the manager"
        with pytest.raises(caldav_error.AuthorizationError) as refused:
            visit.save()
        assert "Forbidden" in str(refused.value), refused.value
        again = team.search(start=start - timedelta(hours=1), end=start + timedelta(hours=2), event=True, expand=False)
        assert str(again[0].icalendar_component.get("summary")) == "Bob Keller: Team interop visit"


def test_a_reps_client_has_no_team_calendar(root_url):
    with caldav.DAVClient(url=root_url, username="alice", password="demo", timeout=30) as client:
        paths = [norm_path(str(c.url)) for c in client.principal().calendars()]
        assert not any(p.endswith("/team/") for p in paths), paths
