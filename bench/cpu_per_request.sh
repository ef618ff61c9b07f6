#!/usr/bin/env bash
# Server CPU per request for one kind of small request, the figure that shows per-request overhead
# (authentication, routing, statements, framing) without depending on how busy the machine is:
#
#   bench/cpu_per_request.sh sync BIN [BIN2 ...]      # empty-token sync-collection (activities), 50 connections
#   bench/cpu_per_request.sh multiget BIN [BIN2 ...]  # 50-card addressbook-multiget, 8 connections
#   bench/cpu_per_request.sh put BIN [BIN2 ...]       # new event PUTs, 8 connections
#
# Each BIN runs on a fresh copy of the demo CRM (loaded once by the first BIN into a temporary
# folder; binaries with an older schema need their own: set DEMO_DIR per run). Needs wrk.
# Prints utime+stime of the server process (from /proc) divided by the requests wrk completed.
set -euo pipefail
MODE=$1; shift
SECS=${SECS:-5}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
DEMO_DIR=${DEMO_DIR:-$WORK/demo}
if [[ ! -f $DEMO_DIR/demo.sqlite3 ]]; then
    mkdir -p "$DEMO_DIR"
    "$1" --database "sqlite://$DEMO_DIR/demo.sqlite3" demo >/dev/null
fi
AUTH="Basic $(printf alice:demo | base64)"
PORT=$((20000 + RANDOM % 20000))
for BIN in "$@"; do
    D=$(mktemp -d -p "$WORK"); cp "$DEMO_DIR"/demo.sqlite3* "$D"/
    "$BIN" --database "sqlite://$D/demo.sqlite3" serve --listen "127.0.0.1:$PORT" >"$D/log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
    SYNC='<d:sync-collection xmlns:d="DAV:"><d:sync-token>TOKEN</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>'
    case $MODE in
        sync)
            URL=/dav/calendars/alice/activities/; CONNS=50
            TOKEN=$(curl -s -X REPORT -H "Authorization: $AUTH" -H 'Depth: 1' --data "${SYNC/TOKEN/}" "http://127.0.0.1:$PORT$URL" | grep -o 'urn:crmdav:sync:[^<]*' | head -1 || true)
            printf 'wrk.method="REPORT"\nwrk.headers["Authorization"]="%s"\nwrk.headers["Depth"]="1"\nwrk.body=[[%s]]\n' "$AUTH" "${SYNC/TOKEN/$TOKEN}" >"$D/s.lua" ;;
        multiget)
            URL=/dav/addressbooks/alice/clients/; CONNS=8
            HREFS=$(curl -s -X REPORT -H "Authorization: $AUTH" -H 'Depth: 1' --data "${SYNC/TOKEN/}" "http://127.0.0.1:$PORT$URL" | grep -o '<d:href>[^<]*</d:href>' | head -50 | tr -d "\n" || true)
            printf 'wrk.method="REPORT"\nwrk.headers["Authorization"]="%s"\nwrk.headers["Depth"]="1"\nwrk.body=[[<C:addressbook-multiget xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><C:address-data/></d:prop>%s</C:addressbook-multiget>]]\n' "$AUTH" "$HREFS" >"$D/s.lua" ;;
        put)
            URL=/; CONNS=8
            cat >"$D/s.lua" <<LUA
local n = 0
local tid = math.random(1, 1000000000)
request = function()
  n = n + 1
  local uid = "put-" .. tid .. "-" .. n
  local body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:" .. uid .. "\r\nDTSTAMP:20261201T100000Z\r\nDTSTART:20261202T100000Z\r\nDTEND:20261202T110000Z\r\nSUMMARY:Put test\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
  return wrk.format("PUT", "/dav/calendars/alice/activities/" .. uid .. ".ics", {["Authorization"] = "$AUTH", ["Content-Type"] = "text/calendar", ["If-None-Match"] = "*"}, body)
end
LUA
            ;;
        *) echo "unknown mode $MODE (sync, multiget, put)" >&2; exit 2 ;;
    esac
    T0=$(awk '{print $14+$15}' "/proc/$PID/stat")
    OUT=$(wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$D/s.lua" "http://127.0.0.1:$PORT$URL")
    T1=$(awk '{print $14+$15}' "/proc/$PID/stat")
    N=$(echo "$OUT" | grep -o '[0-9]* requests in' | cut -d' ' -f1)
    TICK=$(getconf CLK_TCK)
    echo "$BIN $MODE: $(( (T1 - T0) * 1000000 / TICK / N )) us CPU per request, $(echo "$OUT" | grep Requests/sec | awk '{print $2}') req/s, $N requests $(echo "$OUT" | grep Non-2xx || true)"
    kill "$PID"; wait "$PID" 2>/dev/null || true
done
