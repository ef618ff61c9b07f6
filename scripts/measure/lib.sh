# Shared set-up of the measurement scripts: a release binary, a scratch database, a server on a
# free loopback port. Source it; it sets BIN, WORK, DB and, after start_server, PORT and PID.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${CRMDAV_BIN:-$ROOT/target/release/crmdav}"
if [[ -z "${CRMDAV_BIN:-}" ]]; then (cd "$ROOT" && cargo build --release --locked --bin crmdav >&2); fi
WORK="$(mktemp -d)"
PID=""
trap '[[ -n "$PID" ]] && kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
DB="${MEASURE_DATABASE:-sqlite://$WORK/crm.sqlite3}"

# Runs SQL on the scratch database (SQLite file or PostgreSQL URL).
run_sql() {
    if [[ "$DB" == postgres* ]]; then psql -q "$DB" -c "$1"; else python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()' "${DB#sqlite://}" "$1"; fi
}

start_server() {
    # A database in service has current planner statistics; bulk set-up changes above must not hide that.
    run_sql "ANALYZE;"
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    CRMDAV_LOG=warn "$BIN" --database "$DB" serve --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
    PID=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return; sleep 0.1; done
    echo "server did not start" >&2; exit 1
}
