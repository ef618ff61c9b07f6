import base64, json, statistics, subprocess, sys, time, urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}"
database = sys.argv[2]


def request(method, path, login, body=None):
    auth = "Basic " + base64.b64encode(f"{login}:demo".encode()).decode()
    req = urllib.request.Request(base + path, data=body.encode() if body else None, method=method, headers={"Authorization": auth, "Depth": "1"})
    with urllib.request.urlopen(req) as r:
        return r.read().decode()


def sql(statement):
    if database.startswith("postgres"):
        subprocess.run(["psql", "-q", database, "-c", statement], check=True)
    else:
        import sqlite3
        db = sqlite3.connect(database.removeprefix("sqlite://"))
        db.execute(statement)
        db.commit()


reps = json.loads(request("GET", "/admin/api/reps", "admin"))
logins = [r["login"] for r in reps if r["role"] == "rep"]
times, sizes = [], []
for login in logins:
    t = time.perf_counter()
    clients = json.loads(request("GET", f"/admin/api/reps/{login}/visible-clients", "admin"))
    times.append((time.perf_counter() - t) * 1000)
    sizes.append(len(clients["clients"]) if isinstance(clients, dict) else len(clients))
times.sort()
print(f"visible set of each of {len(logins)} reps over 10,000 clients: median {statistics.median(times):.1f} ms, "
      f"p95 {times[int(len(times) * 0.95)]:.1f} ms, max {times[-1]:.1f} ms (HTTP round trip included); "
      f"{statistics.mean(sizes):.0f} clients per rep on average")

book = "/dav/addressbooks/alice/clients/"
sync = '<d:sync-collection xmlns:d="DAV:"><d:sync-token>{}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>'
body = request("REPORT", book, "alice", sync.format(""))
token = body.split("<d:sync-token>")[1].split("</d:sync-token>")[0]
cards = body.count("<d:response>")
delays = []
for i in range(10):
    t = time.perf_counter()
    sql(f"UPDATE contacts SET phone = '+1 555 01{i:02d}' WHERE id = (SELECT MIN(k.id) FROM contacts k JOIN clients c ON c.id = k.client_id "
        f"WHERE c.account_manager_id = (SELECT id FROM reps WHERE login = 'alice') AND c.status = 'active')")
    committed = time.perf_counter()
    body = request("REPORT", book, "alice", sync.format(token))
    seen = time.perf_counter()
    assert body.count("<d:response>") == 1, body[:500]
    token = body.split("<d:sync-token>")[1].split("</d:sync-token>")[0]
    delays.append(((committed - t) * 1000, (seen - committed) * 1000))
print(f"plain-SQL change -> next sync of alice's {cards}-card book shows it: the very next sync, "
      f"which took median {statistics.median(d[1] for d in delays):.1f} ms (max {max(d[1] for d in delays):.1f} ms) "
      f"after the commit; no polling interval, no cache to expire")
