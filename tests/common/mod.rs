//! Test harness: a real crmdav server on an ephemeral loopback port, over a fresh SQLite file or
//! a fresh PostgreSQL database (created for the test, dropped after it), spoken to over HTTP.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use crmdav::config::Config;
use crmdav::crm::demo::{self, DemoSize};
use crmdav::http::{self, RunningServer};
use crmdav::store::Store;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the storage tests run on (`CRMDAV_TEST_PG` overrides).
pub fn postgres_admin_url() -> String {
    std::env::var("CRMDAV_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub struct TestDb {
    pub url: String,
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/crm.sqlite3", dir.path().display());
                let store = Store::open(&url).await.expect("open SQLite");
                TestDb { url, store, _dir: Some(dir), pg_name: None }
            }
            Backend::Postgres => {
                let name = format!(
                    "crmdav_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    chrono::Utc::now().timestamp_micros() % 1_000_000
                );
                let admin = postgres_admin_url();
                let admin_store = Store::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL is required for the storage tests and is not reachable at {admin}: {e:#}")
                });
                crmdav::on_db!(admin_store, write, |pool| {
                    sqlx::query(&format!("CREATE DATABASE {name}")).execute(pool).await.expect("create test database");
                });
                admin_store.close().await;
                let url = replace_database(&admin, &name);
                let store = Store::open(&url).await.expect("open PostgreSQL test database");
                TestDb { url, store, _dir: None, pg_name: Some(name) }
            }
        }
    }

    /// Runs one SQL statement, as another program writing the CRM tables would.
    pub async fn exec(&self, sql: &str) -> u64 {
        crmdav::on_db!(self.store, write, |pool| sqlx::query(sql)
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows_affected())
    }

    pub async fn count(&self, sql: &str) -> i64 {
        crmdav::on_db!(self.store, read, |pool| sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}")))
    }

    pub async fn text(&self, sql: &str) -> Option<String> {
        crmdav::on_db!(self.store, read, |pool| sqlx::query_scalar::<_, Option<String>>(sql)
            .fetch_optional(pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .flatten())
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(head, _)| head);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let admin = postgres_admin_url();
        // Drop runs inside the test's runtime: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                if let Ok(store) = Store::connect(&admin).await {
                    crmdav::on_db!(store, write, |pool| {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(pool).await;
                    });
                    store.close().await;
                }
            });
        })
        .join();
    }
}

pub struct TestServer {
    pub db: TestDb,
    pub base: String,
    pub http: reqwest::Client,
    server: Option<RunningServer>,
}

impl TestServer {
    /// A server over an empty CRM (schema only).
    pub async fn empty(backend: Backend) -> TestServer {
        TestServer::with_config(backend, Config::default(), None).await
    }

    /// A server over the small demo CRM (reps alice, bob, carol, admin; password "demo"), as of the
    /// demo's reference day: cards' figures ("this year to date") do not change with the clock.
    pub async fn demo(backend: Backend) -> TestServer {
        let config = Config { today: Some(demo::reference_day()), ..Config::default() };
        TestServer::with_config(backend, config, Some(DemoSize::SMALL)).await
    }

    /// A server with `config`, except that it does not look for activities due a report by itself
    /// (`calendar.report_check_secs`): a test compares views at chosen moments, and the clock
    /// would stamp activities between them. Tests call `crm::report_tasks::request_due`.
    pub async fn with_config(backend: Backend, mut config: Config, demo_size: Option<DemoSize>) -> TestServer {
        config.calendar.report_check_secs = 0;
        TestServer::with_config_as_given(backend, config, demo_size).await
    }

    /// A server with `config` exactly as given.
    pub async fn with_config_as_given(backend: Backend, mut config: Config, demo_size: Option<DemoSize>) -> TestServer {
        let db = TestDb::new(backend).await;
        if let Some(size) = demo_size {
            demo::load(&db.store, size).await.expect("load demo data");
        }
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.database = db.url.clone();
        let server = http::start(http::AppState::new(config, db.store.clone())).await.expect("start server");
        let base = format!("http://{}", server.addr);
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        TestServer { db, base, http, server: Some(server) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request as `login` with password "demo".
    pub fn as_user(&self, method: &str, path: &str, login: &str) -> reqwest::RequestBuilder {
        self.request(method, path).basic_auth(login, Some("demo"))
    }

    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), self.url(path))
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// Declares each listed `async fn name(backend: Backend)` as two tests, one per database.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// One `<d:response>` of a multistatus body (the server writes fixed namespace prefixes).
#[derive(Debug)]
pub struct DavResponse {
    pub href: String,
    pub body: String,
}

impl DavResponse {
    pub fn prop(&self, name: &str) -> Option<String> {
        let open = format!("<{name}>");
        let start = self.body.find(&open)? + open.len();
        let end = self.body[start..].find(&format!("</{name}>"))? + start;
        Some(unescape(&self.body[start..end]))
    }

    pub fn status(&self) -> Option<u16> {
        let start = self.body.find("HTTP/1.1 ")? + 9;
        self.body[start..start + 3].parse().ok()
    }
}

pub fn unescape(text: &str) -> String {
    text.replace("&#13;", "\r")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

pub fn responses(multistatus: &str) -> Vec<DavResponse> {
    multistatus
        .split("<d:response>")
        .skip(1)
        .map(|part| {
            let body = part.split("</d:response>").next().unwrap_or("").to_string();
            let href =
                body.split("<d:href>").nth(1).and_then(|h| h.split("</d:href>").next()).unwrap_or("").to_string();
            DavResponse { href: percent_encoding::percent_decode_str(&href).decode_utf8_lossy().into_owned(), body }
        })
        .collect()
}

pub fn sync_token(multistatus: &str) -> String {
    multistatus
        .split("<d:sync-token>")
        .nth(1)
        .and_then(|t| t.split("</d:sync-token>").next())
        .map(unescape)
        .unwrap_or_default()
}

pub const SYNC_ETAGS: &str = r#"<d:sync-collection xmlns:d="DAV:"><d:sync-token>TOKEN</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#;

pub fn sync_body(token: &str) -> String {
    SYNC_ETAGS.replace("TOKEN", token)
}

/// A qualified XML name: namespace URI and local name, whatever prefix the server chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmlName {
    pub ns: String,
    pub local: String,
}

impl XmlName {
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }
}

/// One property of a propstat: its name, its text (unescaped, all descendants) and its inner XML
/// as the server wrote it; `children` and `hrefs` are read namespace-aware.
#[derive(Clone, Debug)]
pub struct XmlProp {
    pub name: XmlName,
    pub text: String,
    pub inner_xml: String,
    /// Names of the direct child elements (e.g. the kinds in `DAV:resourcetype`).
    pub children: Vec<XmlName>,
    /// Texts of the `DAV:href` elements inside the property.
    pub hrefs: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Propstat {
    pub status: u16,
    pub props: Vec<XmlProp>,
}

/// One `DAV:response` of a multistatus.
#[derive(Clone, Debug, Default)]
pub struct MultistatusResponse {
    /// The `DAV:href`, percent-decoded.
    pub href: String,
    /// The response-level `DAV:status` (a multiget miss, a sync-collection removal), if any.
    pub status: Option<u16>,
    pub propstats: Vec<Propstat>,
}

impl MultistatusResponse {
    /// The property `ns`:`local` from the propstat with status 200.
    pub fn prop(&self, ns: &str, local: &str) -> Option<&XmlProp> {
        self.propstats.iter().filter(|p| p.status == 200).flat_map(|p| &p.props).find(|p| p.name.is(ns, local))
    }

    /// The status under which the property `ns`:`local` was reported.
    pub fn prop_status(&self, ns: &str, local: &str) -> Option<u16> {
        self.propstats.iter().find(|p| p.props.iter().any(|prop| prop.name.is(ns, local))).map(|p| p.status)
    }
}

/// A `DAV:multistatus` body read with a namespace-aware XML reader.
#[derive(Clone, Debug, Default)]
pub struct Multistatus {
    pub responses: Vec<MultistatusResponse>,
    /// The top-level `DAV:sync-token` of a sync-collection answer.
    pub sync_token: Option<String>,
}

impl Multistatus {
    pub fn response(&self, href: &str) -> Option<&MultistatusResponse> {
        self.responses.iter().find(|r| r.href == href)
    }
}

pub const DAV_NS: &str = "DAV:";
pub const CALDAV_NS: &str = "urn:ietf:params:xml:ns:caldav";
pub const CARDDAV_NS: &str = "urn:ietf:params:xml:ns:carddav";

/// The `NNN` of a `DAV:status` line such as `HTTP/1.1 404 Not Found`.
fn status_code(line: &str) -> u16 {
    line.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("status line {line:?}"))
}

/// Parses a multistatus; panics (naming the body) on anything that is not one.
pub fn parse_multistatus(body: &str) -> Multistatus {
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;

    let mut reader = quick_xml::NsReader::from_str(body);
    let mut out = Multistatus::default();
    // The open elements, outermost first.
    let mut path: Vec<XmlName> = Vec::new();
    // The property being read: where its inner XML starts in `body`.
    let mut open_prop: Option<(XmlProp, usize)> = None;
    let at = |path: &[XmlName], names: &[&str]| {
        path.len() == names.len() && path.iter().zip(names).all(|(n, local)| n.ns == DAV_NS && n.local == *local)
    };
    loop {
        let before = reader.buffer_position() as usize;
        let (resolved, event) = reader.read_resolved_event().unwrap_or_else(|e| panic!("not XML ({e}): {body}"));
        let ns = match resolved {
            ResolveResult::Bound(ns) => String::from_utf8(ns.0.to_vec()).unwrap(),
            _ => String::new(),
        };
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                let name = XmlName { ns, local: String::from_utf8(start.local_name().as_ref().to_vec()).unwrap() };
                if path.is_empty() {
                    assert!(name.is(DAV_NS, "multistatus"), "root {name:?} of {body}");
                }
                if at(&path, &["multistatus"]) && name.is(DAV_NS, "response") {
                    out.responses.push(MultistatusResponse::default());
                }
                if at(&path, &["multistatus", "response"]) && name.is(DAV_NS, "propstat") {
                    out.responses.last_mut().unwrap().propstats.push(Propstat::default());
                }
                match &mut open_prop {
                    // A direct child: the path is multistatus/response/propstat/prop/NAME.
                    Some((prop, _)) if path.len() == 5 => prop.children.push(name.clone()),
                    Some(_) => {}
                    None if at(&path, &["multistatus", "response", "propstat", "prop"]) => {
                        let prop = XmlProp {
                            name: name.clone(),
                            text: String::new(),
                            inner_xml: String::new(),
                            children: Vec::new(),
                            hrefs: Vec::new(),
                        };
                        if matches!(event, Event::Empty(_)) {
                            out.responses.last_mut().unwrap().propstats.last_mut().unwrap().props.push(prop);
                        } else {
                            open_prop = Some((prop, reader.buffer_position() as usize));
                        }
                    }
                    None => {}
                }
                if matches!(event, Event::Start(_)) {
                    path.push(name);
                }
            }
            Event::Text(ref text) => {
                let text = text.unescape().unwrap_or_else(|e| panic!("bad text ({e}): {body}")).into_owned();
                let Some(name) = path.last() else { continue };
                if let Some((prop, _)) = &mut open_prop {
                    prop.text.push_str(&text);
                    if name.is(DAV_NS, "href") {
                        prop.hrefs.push(text);
                    }
                } else if at(&path, &["multistatus", "response", "href"]) {
                    let decoded = percent_encoding::percent_decode_str(&text).decode_utf8_lossy().into_owned();
                    out.responses.last_mut().unwrap().href = decoded;
                } else if at(&path, &["multistatus", "response", "status"]) {
                    out.responses.last_mut().unwrap().status = Some(status_code(&text));
                } else if at(&path, &["multistatus", "response", "propstat", "status"]) {
                    out.responses.last_mut().unwrap().propstats.last_mut().unwrap().status = status_code(&text);
                } else if at(&path, &["multistatus", "sync-token"]) {
                    out.sync_token = Some(text);
                }
            }
            Event::End(_) => {
                path.pop();
                // Back at multistatus/response/propstat/prop: the property element just closed.
                if path.len() == 4
                    && let Some((mut prop, start)) = open_prop.take()
                {
                    prop.inner_xml = body[start..before].to_string();
                    out.responses.last_mut().unwrap().propstats.last_mut().unwrap().props.push(prop);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// An XML body re-indented for people to read (snapshots): one element per line, texts unescaped
/// where they are safe to show and line breaks (CRLF of iCalendar/vCard data) shown as plain ones.
pub fn pretty_xml(xml: &str) -> String {
    use quick_xml::events::{BytesStart, BytesText, Event};

    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut writer = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    // A start tag is held back one event so that `<a></a>` (an empty sync-token) prints as `<a/>`.
    let mut pending: Option<BytesStart> = None;
    loop {
        let event = reader.read_event().unwrap_or_else(|e| panic!("not XML ({e}): {xml}"));
        if let Some(start) = pending.take() {
            if matches!(event, Event::End(_)) {
                writer.write_event(Event::Empty(start)).unwrap();
                continue;
            }
            writer.write_event(Event::Start(start)).unwrap();
        }
        match event {
            Event::Eof => break,
            Event::Start(start) => pending = Some(start.into_owned()),
            Event::Text(text) => {
                let text = text.unescape().unwrap_or_else(|e| panic!("bad text ({e}): {xml}")).replace("\r\n", "\n");
                let escaped = quick_xml::escape::partial_escape(&text).into_owned();
                writer.write_event(Event::Text(BytesText::from_escaped(escaped))).unwrap();
            }
            other => writer.write_event(other).unwrap(),
        }
    }
    String::from_utf8(writer.into_inner()).unwrap()
}

/// A `DAV:error` body (RFC 4918 16) read namespace-aware: its precondition elements, the
/// `DAV:href`s inside them, and the server's sentence for people (`crm:message`).
#[derive(Clone, Debug, Default)]
pub struct DavErrorBody {
    pub preconditions: Vec<XmlName>,
    pub hrefs: Vec<String>,
    pub message: String,
}

pub const CRM_NS: &str = "urn:crmdav:ns";

/// Parses a `DAV:error` body; panics (naming the body) on anything else.
pub fn parse_dav_error(body: &str) -> DavErrorBody {
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;

    let mut reader = quick_xml::NsReader::from_str(body);
    let mut path: Vec<XmlName> = Vec::new();
    let mut out = DavErrorBody::default();
    loop {
        let (resolved, event) = reader.read_resolved_event().unwrap_or_else(|e| panic!("not XML ({e}): {body}"));
        let ns = match resolved {
            ResolveResult::Bound(ns) => String::from_utf8(ns.0.to_vec()).unwrap(),
            _ => String::new(),
        };
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                let name = XmlName { ns, local: String::from_utf8(start.local_name().as_ref().to_vec()).unwrap() };
                if path.is_empty() {
                    assert!(name.is(DAV_NS, "error"), "root {name:?} of {body}");
                } else if path.len() == 1 && !name.is(CRM_NS, "message") {
                    out.preconditions.push(name.clone());
                }
                if matches!(event, Event::Start(_)) {
                    path.push(name);
                }
            }
            Event::Text(ref text) => {
                let text = text.unescape().unwrap_or_else(|e| panic!("bad text ({e}): {body}")).into_owned();
                match path.last() {
                    Some(name) if name.is(DAV_NS, "href") && path.len() == 3 => out.hrefs.push(text),
                    Some(name) if name.is(CRM_NS, "message") => out.message.push_str(&text),
                    _ => {}
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}
