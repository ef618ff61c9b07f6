import base64, concurrent.futures, re, statistics, sys, time, urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}"
auth = "Basic " + base64.b64encode(b"alice:demo").decode()
events = "/dav/calendars/alice/activities/"
tasks = "/dav/calendars/alice/follow-ups/"


def call(method, path, body, headers=None):
    h = {"Authorization": auth, "Depth": "1", "Content-Type": "application/xml"}
    h.update(headers or {})
    req = urllib.request.Request(base + path, data=body.encode(), method=method, headers=h)
    with urllib.request.urlopen(req) as r:
        return r.status, r.read().decode()


def timed(label, fn, runs=5):
    times = []
    out = None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    print(f"{label:<58} median {statistics.median(times):8.1f} ms  (min {min(times):.1f}, max {max(times):.1f})")
    return out


def query(start, end):
    return (
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>'
        f'<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/>'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )


sync = '<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>'
_, first = call("REPORT", events, sync)
_, first_tasks = call("REPORT", tasks, sync)
print(f"calendars: {first.count('<d:response>')} events, {first_tasks.count('<d:response>')} follow-ups")
timed("initial sync-collection of the events calendar", lambda: call("REPORT", events, sync))
_, week = timed("calendar-query, one week (2026-03-02..09), with data", lambda: call("REPORT", events, query("20260302T000000Z", "20260309T000000Z")))
print(f"{'':<58} -> {week.count('<d:response>')} events")
_, month = timed("calendar-query, one month (2026-03), with data", lambda: call("REPORT", events, query("20260301T000000Z", "20260401T000000Z")))
print(f"{'':<58} -> {month.count('<d:response>')} events")

event = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//measure//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T090000Z\r\n"
    "DTSTART:20261210T090000Z\r\nDTEND:20261210T100000Z\r\nSUMMARY:Measured meeting {uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def put(uid):
    status, _ = call("PUT", f"{events}{uid}.ics", event.format(uid=uid), {"Content-Type": "text/calendar", "If-None-Match": "*"})
    assert status == 201, status


n = 300
t = time.perf_counter()
for i in range(n):
    put(f"seq-{i}")
elapsed = time.perf_counter() - t
print(f"{'PUT of new events, 1 writer':<58} {n / elapsed:8.1f} PUT/s ({elapsed * 1000 / n:.1f} ms each)")
t = time.perf_counter()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    list(pool.map(put, [f"par-{i}" for i in range(n)]))
elapsed = time.perf_counter() - t
print(f"{'PUT of new events, 8 concurrent writers':<58} {n / elapsed:8.1f} PUT/s")
