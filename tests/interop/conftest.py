"""Session fixture: start the real crmdav binary on a free loopback port with a fresh database
and the demo CRM, hand tests its URL, credentials and a raw-SQL handle, stop it at the end.

Environment:
  CRMDAV_BIN                 server binary (default: <repo>/target/debug/crmdav; built with
                             `cargo build` once if missing)
  CRMDAV_TEST_DATABASE       postgres://... to run against PostgreSQL (default: SQLite in a temp
                             dir). A fresh database named <db>_interop_<random> is created next to
                             the given one and dropped at the end, unless
                             CRMDAV_TEST_DATABASE_REUSE=1 (then the URL is used as is).
  CRMDAV_TEST_STARTUP_TIMEOUT  seconds to wait for GET /healthz == 200 (default 60)
  CRMDAV_TEST_KEEP=1         keep the temp dir (database, server log) after the run
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

DEMO_PASSWORD = "demo"
DEMO_REPS = ("alice", "bob", "carol")
DEMO_ADMIN = "admin"

_SERVER_LOG: list[Path] = []  # for the failure-report hook


# ------------------------------------------------------------------------------- database

class Database:
    """Raw SQL against the server's database, as 'another program writing the CRM tables'.

    Placeholders are `?` in both dialects. For PostgreSQL the statement goes through `psql`
    with parameters inlined as quoted literals (so do not put a literal '?' in SQL text).
    Rows come back as dicts; with PostgreSQL every non-NULL value is a string.
    """

    def __init__(self, kind: str, url: str, sqlite_path: Path | None = None):
        self.kind = kind
        self.url = url
        self.sqlite_path = sqlite_path

    # -- public API
    def query(self, sql: str, params: tuple | list = ()) -> list[dict]:
        if self.kind == "sqlite":
            con = self._sqlite()
            try:
                con.row_factory = sqlite3.Row
                return [dict(r) for r in con.execute(sql, tuple(params)).fetchall()]
            finally:
                con.close()
        out = self._psql(self._inline(sql, params), csv_out=True)
        rows = list(csv.DictReader(io.StringIO(out)))
        return [{k: (None if v == _PG_NULL else v) for k, v in r.items()} for r in rows]

    def execute(self, sql: str, params: tuple | list = ()) -> int:
        """Run one data-changing statement, committed; returns the affected row count."""
        if self.kind == "sqlite":
            con = self._sqlite()
            try:
                cur = con.execute(sql, tuple(params))
                con.commit()
                return cur.rowcount
            finally:
                con.close()
        out = self._psql(self._inline(sql, params), csv_out=False)
        last = [l for l in out.splitlines() if l.strip()]
        tag = last[-1].split() if last else []
        return int(tag[-1]) if tag and tag[-1].isdigit() else -1

    def scalar(self, sql: str, params: tuple | list = ()):
        rows = self.query(sql, params)
        assert rows, f"no row for: {sql} {params}"
        return next(iter(rows[0].values()))

    def columns(self, table: str) -> list[str]:
        if self.kind == "sqlite":
            return [r["name"] for r in self.query(f"PRAGMA table_info({table})")]
        return [
            r["column_name"]
            for r in self.query(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
                (table,),
            )
        ]

    def require_columns(self, table: str, *cols: str) -> None:
        have = self.columns(table)
        missing = [c for c in cols if c not in have]
        if missing:
            pytest.fail(
                f"the CRM table {table!r} lacks column(s) {missing}; it has {have}. "
                "The interop tests write the CRM tables directly as 'another program' would.",
                pytrace=False,
            )

    # -- internals
    def _sqlite(self) -> sqlite3.Connection:
        con = sqlite3.connect(str(self.sqlite_path), timeout=30)
        con.execute("PRAGMA busy_timeout = 30000")
        return con

    @staticmethod
    def _inline(sql: str, params) -> str:
        parts = sql.split("?")
        assert len(parts) - 1 == len(params), f"{len(params)} params for {len(parts) - 1} '?' in {sql}"
        out = [parts[0]]
        for p, rest in zip(params, parts[1:]):
            out.append(_pg_literal(p))
            out.append(rest)
        return "".join(out)

    def _psql(self, sql: str, csv_out: bool) -> str:
        cmd = ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", self.url, "-P", f"null={_PG_NULL}"]
        if csv_out:
            cmd += ["--csv", "-q"]
        cmd += ["-c", sql]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise RuntimeError(f"psql failed ({p.returncode}) on: {sql}\n{p.stderr}")
        return p.stdout


_PG_NULL = "\x01NULL\x01"


def _pg_literal(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def _psql_admin(url: str, sql: str) -> None:
    p = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    if p.returncode != 0:
        raise RuntimeError(f"psql failed on {sql!r}: {p.stderr}")


# ------------------------------------------------------------------------------- server

class Server:
    def __init__(self, base_url: str, db: Database, proc: subprocess.Popen, log: Path, tmp: Path):
        self.base_url = base_url  # no trailing slash
        self.root_url = base_url + "/"
        self.db = db
        self.proc = proc
        self.log = log
        self.tmp = tmp

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_binary() -> Path:
    env_bin = os.environ.get("CRMDAV_BIN")
    if env_bin:
        p = Path(env_bin)
        if not p.is_file():
            pytest.exit(f"CRMDAV_BIN={env_bin} does not exist", returncode=2)
        return p
    p = REPO / "target" / "debug" / "crmdav"
    if not p.is_file():
        print(f"\n[interop] {p} missing: running `cargo build` once", file=sys.stderr)
        r = subprocess.run(["cargo", "build", "--bin", "crmdav"], cwd=REPO)
        if r.returncode != 0 or not p.is_file():
            pytest.exit("cargo build failed; cannot run the interop suite", returncode=2)
    else:
        newest_src = max(
            (f.stat().st_mtime for d in ("src", "schema") for f in (REPO / d).rglob("*") if f.is_file()),
            default=0,
        )
        if newest_src > p.stat().st_mtime:
            print(
                f"\n[interop] warning: {p} is older than the sources; run `cargo build` for a fresh one",
                file=sys.stderr,
            )
    return p


def _make_database(tmp: Path) -> tuple[Database, callable]:
    url = os.environ.get("CRMDAV_TEST_DATABASE", "").strip()
    if not url or url.startswith("sqlite:"):
        path = tmp / "crmdav.sqlite3"
        if url.startswith("sqlite:"):
            path = Path(url.split("://", 1)[-1].split("?", 1)[0])
        return Database("sqlite", f"sqlite://{path}", sqlite_path=path), lambda: None
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.exit(f"CRMDAV_TEST_DATABASE must be sqlite:// or postgres://, got {url}", returncode=2)
    if shutil.which("psql") is None:
        pytest.exit("CRMDAV_TEST_DATABASE is PostgreSQL but `psql` is not installed", returncode=2)
    if os.environ.get("CRMDAV_TEST_DATABASE_REUSE") == "1":
        return Database("postgres", url), lambda: None
    parts = urlsplit(url)
    base = parts.path.lstrip("/") or "postgres"
    name = f"{base}_interop_{uuid.uuid4().hex[:10]}"
    _psql_admin(url, f'CREATE DATABASE "{name}"')
    fresh = urlunsplit(parts._replace(path="/" + name))

    def drop():
        try:
            _psql_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as e:  # noqa: BLE001 - best effort cleanup
            print(f"[interop] could not drop {name}: {e}", file=sys.stderr)

    return Database("postgres", fresh), drop


@pytest.fixture(scope="session")
def crmdav_server():
    binary = _server_binary()
    tmp = Path(tempfile.mkdtemp(prefix="crmdav-interop-"))
    db, drop_db = _make_database(tmp)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    _SERVER_LOG[:] = [log]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRMDAV_TEST", "CRMDAV_BIN"))}
    env.setdefault("RUST_LOG", "info")
    env.setdefault("RUST_BACKTRACE", "1")
    env.setdefault("NO_COLOR", "1")
    cmd = [str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--database", db.url, "--demo"]
    logf = open(log, "wb")
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp, env=env)

    def stop():
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        logf.close()

    server = Server(base_url, db, proc, log, tmp)
    timeout = float(os.environ.get("CRMDAV_TEST_STARTUP_TIMEOUT", "60"))
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        if proc.poll() is not None:
            stop()
            msg = f"crmdav exited with code {proc.returncode} before answering /healthz\n$ {' '.join(cmd)}\n{server.log_tail(200)}"
            print(msg, file=sys.stderr)
            drop_db()
            pytest.fail(msg, pytrace=False)
        try:
            r = requests.get(base_url + "/healthz", timeout=2)
            if r.status_code == 200:
                break
            last = f"{r.status_code} {r.text[:200]}"
        except requests.RequestException as e:
            last = repr(e)
        if time.monotonic() > deadline:
            stop()
            msg = (
                f"crmdav did not answer GET /healthz with 200 within {timeout:.0f} s (last: {last})\n"
                f"$ {' '.join(cmd)}\n--- server output\n{server.log_tail(200)}"
            )
            print(msg, file=sys.stderr)
            drop_db()
            pytest.fail(msg, pytrace=False)
        time.sleep(0.2)

    yield server

    stop()
    drop_db()
    if os.environ.get("CRMDAV_TEST_KEEP") == "1":
        print(f"\n[interop] kept {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def base_url(crmdav_server) -> str:
    """http://127.0.0.1:PORT (no trailing slash)."""
    return crmdav_server.base_url


@pytest.fixture(scope="session")
def root_url(crmdav_server) -> str:
    """http://127.0.0.1:PORT/ : what a user types into a client."""
    return crmdav_server.root_url


@pytest.fixture(scope="session")
def credentials() -> dict[str, str]:
    """Demo logins -> passwords (reps alice, bob, carol; admin)."""
    return {u: DEMO_PASSWORD for u in (*DEMO_REPS, DEMO_ADMIN)}


@pytest.fixture(scope="session")
def alice_auth(credentials) -> tuple[str, str]:
    return ("alice", credentials["alice"])


@pytest.fixture(scope="session")
def db(crmdav_server) -> Database:
    return crmdav_server.db


@pytest.fixture
def http_session():
    """Factory: http_session(user, password) -> requests.Session with Basic auth."""
    made = []

    def make(user: str, password: str = DEMO_PASSWORD) -> requests.Session:
        s = requests.Session()
        s.auth = (user, password)
        s.headers["User-Agent"] = "crmdav-interop/1 (python-requests)"
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def alice(http_session) -> requests.Session:
    return http_session("alice")


# Append the server's last log lines to every failing test's report.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _SERVER_LOG and _SERVER_LOG[0].exists():
        try:
            tail = "\n".join(_SERVER_LOG[0].read_text(errors="replace").splitlines()[-40:])
        except OSError:
            return
        rep.sections.append(("crmdav server log (last 40 lines)", tail))
