#!/usr/bin/env python3
"""Statements per request on PostgreSQL, counted exactly by pg_stat_statements (so independent of
the machine's load): an empty-token sync, a 50-card multiget, and a poll of the address book and
the calendar after each change to a client the rep cannot see. Needs PostgreSQL at 127.0.0.1:5432
with shared_preload_libraries = pg_stat_statements (the script creates the extension in its own
scratch database and drops it at the end).

    python3 bench/statements.py target/debug/crmdav     # set TOP=1 to list the statements of the poll
"""
import subprocess, sys, time, os, re, http.client, base64, random
BIN = sys.argv[1]
db = f"stmt_{os.getpid()}"
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atq"]
subprocess.run(PSQL + ["-d", "postgres", "-c", f"CREATE DATABASE {db}"], check=True)
url = f"postgres://postgres@127.0.0.1:5432/{db}"
port = random.randint(20000, 30000)
srv = subprocess.Popen([BIN, "serve", "--demo", "--database", url, "--listen", f"127.0.0.1:{port}"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port); c.request("OPTIONS", "/"); c.getresponse().read(); break
        except Exception:
            time.sleep(0.2)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    auth = "Basic " + base64.b64encode(b"alice:demo").decode()
    def req(method, path, body=b"", depth="1"):
        conn.request(method, path, body, {"Authorization": auth, "Depth": depth, "Content-Type": "application/xml"})
        r = conn.getresponse(); data = r.read(); return r.status, data
    book = "/dav/addressbooks/alice/contacts/"
    st, d = req("PROPFIND", "/dav/addressbooks/alice/", b'<propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>')
    hrefs = re.findall(rb"<(?:\w+:)?href>([^<]*)</", d)
    book = [h.decode() for h in hrefs if h.decode().rstrip("/") != "/dav/addressbooks/alice"][0]
    sync = lambda tok: f'<sync-collection xmlns="DAV:"><sync-token>{tok}</sync-token><sync-level>1</sync-level><prop><getetag/></prop></sync-collection>'.encode()
    st, d = req("REPORT", book, sync(""))
    token = re.search(rb"<(?:\w+:)?sync-token>([^<]*)<", d).group(1).decode()
    cards = [h.decode() for h in re.findall(rb"<(?:\w+:)?href>([^<]*\.vcf)</", d)]
    mg = ('<C:addressbook-multiget xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><prop><getetag/><C:address-data/></prop>'
          + "".join(f"<href>{h}</href>" for h in cards[:50]) + "</C:addressbook-multiget>").encode()
    for _ in range(5):
        req("REPORT", book, sync(token)); req("REPORT", book, mg)
    def count():
        return int(subprocess.run(PSQL + ["-d", db, "-c", "SELECT COALESCE(SUM(calls),0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE 'UPDATE clients SET name = name%'"], capture_output=True, text=True).stdout.strip() or 0)
    subprocess.run(PSQL + ["-d", db, "-c", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"], check=True)
    N = 200
    for name, body in (("empty-token sync", sync(token)), ("50-card multiget", mg)):
        before = count()
        for _ in range(N):
            st, d = req("REPORT", book, body); assert st == 207, st
        after = count()
        print(f"{os.path.basename(BIN)}: {name}: {(after - before) / N:.2f} statements per request ({len(cards)} cards)")
    cal = "/dav/calendars/alice/activities/"
    st, d = req("REPORT", cal, sync(""))
    ctoken = re.search(rb"<(?:\w+:)?sync-token>([^<]*)<", d).group(1).decode()
    hidden = subprocess.run(PSQL + ["-d", db, "-c", "SELECT id FROM clients WHERE id NOT IN (SELECT source_id FROM collection_members WHERE collection LIKE '%book%' AND collection LIKE '%' || (SELECT id FROM reps WHERE login = 'alice') AND source_id IS NOT NULL) AND account_manager_id <> (SELECT id FROM reps WHERE login = 'alice') LIMIT 50"], capture_output=True, text=True).stdout.split()
    subprocess.run(PSQL + ["-d", db, "-c", "SELECT pg_stat_statements_reset()"], check=True, capture_output=True)
    before = count()
    for i in range(N // 4):
        subprocess.run(PSQL + ["-d", db, "-c", f"UPDATE clients SET name = name WHERE id = {hidden[i % len(hidden)]}"], check=True)
        st, d = req("REPORT", book, sync(token)); assert st == 207 and b".vcf" not in d, d[:300]
        st, d = req("REPORT", cal, sync(ctoken)); assert st == 207 and b".ics" not in d, d[:300]
    after = count()
    if os.environ.get("TOP"):
        print(subprocess.run(PSQL + ["-d", db, "-c", "SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 150) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() ORDER BY calls DESC LIMIT 15"], capture_output=True, text=True).stdout)
    print(f"{os.path.basename(BIN)}: a poll of both collections after a change to a hidden client: {(after - before) / (N // 4):.2f} statements ({len(hidden)} hidden clients)")
finally:
    srv.terminate(); srv.wait()
    subprocess.run(PSQL + ["-d", "postgres", "-c", f"DROP DATABASE {db} WITH (FORCE)"])
