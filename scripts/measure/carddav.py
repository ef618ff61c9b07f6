import base64, statistics, sys, time, urllib.request, re
base = f"http://127.0.0.1:{sys.argv[1]}"
auth = "Basic " + base64.b64encode(b"alice:demo").decode()
book = "/dav/addressbooks/alice/clients/"
def call(method, path, body, depth="1"):
    req = urllib.request.Request(base + path, data=body.encode(), method=method,
                                 headers={"Authorization": auth, "Depth": depth, "Content-Type": "application/xml"})
    with urllib.request.urlopen(req) as r:
        return r.read().decode()
for _ in range(100):
    try:
        urllib.request.urlopen(base + "/healthz"); break
    except Exception:
        time.sleep(0.1)
def sync(token):
    return call("REPORT", book, f'<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>')
def timed(label, fn, runs=5):
    times = []
    for _ in range(runs):
        t = time.perf_counter(); out = fn(); times.append((time.perf_counter() - t) * 1000)
    print(f"{label:<48} median {statistics.median(times):8.1f} ms  (min {min(times):.1f}, max {max(times):.1f})")
    return out
first = sync("")  # the very first sync also builds the membership table
hrefs = re.findall(r"<d:href>([^<]+\.vcf)</d:href>", first)
token = re.search(r"<d:sync-token>([^<]+)</d:sync-token>", first).group(1)
print(f"address book: {len(hrefs)} cards")
timed("initial sync-collection (empty token, etags)", lambda: sync(""))
multiget = ('<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>'
            + "".join(f"<D:href>{h}</D:href>" for h in hrefs) + "</C:addressbook-multiget>")
out = timed(f"addressbook-multiget of all {len(hrefs)} cards", lambda: call("REPORT", book, multiget))
assert out.count("BEGIN:VCARD") == len(hrefs)
timed("empty-token sync (no change)", lambda: sync(token), runs=50)
