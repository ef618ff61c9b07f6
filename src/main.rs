//! The `crmdav` command: serve, migrate, demo data, reps, tokens, rules and clients.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crmdav::config::Config;
use crmdav::crm::credentials::{self, TokenKind};
use crmdav::crm::{demo, reassign, reps, rules};
use crmdav::http;
use crmdav::store::Store;

#[derive(Parser)]
#[command(name = "crmdav", version, about = "CalDAV/CardDAV bridge for a CRM database")]
struct Cli {
    /// TOML configuration file (CRMDAV_* environment variables override it).
    #[arg(long, global = true, env = "CRMDAV_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, global = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (default: 127.0.0.1:5232 over ./data/crmdav.sqlite3).
    Serve {
        /// Address to listen on.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Load the demo CRM first (only into an empty database) and print the demo logins.
        #[arg(long)]
        demo: bool,
    },
    /// Create or upgrade the database schema.
    Migrate,
    /// Load the demo CRM into an empty database.
    Demo {
        /// Number of clients (activities scale with it: ten per client).
        #[arg(long, default_value_t = demo::DemoSize::FULL.clients)]
        clients: usize,
        #[arg(long, default_value_t = demo::DemoSize::FULL.seed)]
        seed: u64,
        /// Write the demo CRM as import CSV files (clients.csv, contacts.csv, ...) into this folder
        /// instead of loading it (its reps alice, bob and carol must exist where they are imported).
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Manage reps, managers and admins.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage per-device app tokens and feed tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Manage the visibility rules (which clients each rep sees).
    Rule {
        #[command(subcommand)]
        action: RuleAction,
    },
    /// Manage clients (their account manager).
    Client {
        #[command(subcommand)]
        action: ClientAction,
    },
    /// List exactly the clients a rep's address book holds, with the rule that let each in.
    Preview { login: String },
    /// A management report on the activity and results data, as CSV, JSON or an SVG chart.
    Report {
        /// clients-seen-weekly, clients-seen-monthly, activities-per-client, activity-results, untouched-clients,
        /// activities-per-result, results-vs-objectives, new-business or prospect-conversion.
        kind: crmdav::reports::Kind,
        /// Only this rep (default: every rep).
        #[arg(long)]
        rep: Option<String>,
        /// First day, YYYY-MM-DD (default: 1 January of the last day's year).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last day, included (default: today).
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// Compare reps (side by side, or each against the team) or years (the period against the same days a year earlier).
        #[arg(long)]
        compare: Option<crmdav::reports::Compare>,
        /// csv, json or svg.
        #[arg(long, default_value = "csv")]
        format: crmdav::reports::Format,
        /// Start CSV with a UTF-8 byte order mark (Excel needs it to read accents right).
        #[arg(long)]
        bom: bool,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Import a CSV file of clients, contacts, activities, notes, results or objectives (columns in
    /// README.md, samples in fixtures/import/): new keys are inserted, changed rows updated, all in
    /// one transaction; any rejected row (listed with its line and reason) means nothing is written.
    Import {
        /// clients, contacts, activities, notes, results or objectives.
        entity: crmdav::import::Entity,
        /// The CSV file (UTF-8, a header row first).
        file: PathBuf,
        /// Say what would change (inserted, updated, unchanged, rejected) and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Write the valid rows even when some are rejected.
        #[arg(long)]
        partial: bool,
    },
    /// Export clients, contacts, activities, notes, results or objectives as CSV, in the columns
    /// import reads.
    Export {
        entity: crmdav::import::Entity,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RuleAction {
    /// List the rules in evaluation order.
    List,
    /// Add a rule (at the end). Conditions are ANDed; deny rules win over allow rules.
    Add {
        /// allow or deny.
        effect: rules::Effect,
        /// The rule applies to this rep only (default: everyone).
        #[arg(long)]
        rep: Option<String>,
        /// Match clients whose account manager is the rep.
        #[arg(long)]
        account_manager: bool,
        #[arg(long)]
        territory: Option<String>,
        /// Client statuses, comma-separated: prospect, active, inactive, closed.
        #[arg(long, value_delimiter = ',')]
        status: Option<Vec<String>>,
        #[arg(long)]
        category: Option<String>,
        /// One client, by code.
        #[arg(long)]
        client: Option<String>,
    },
    /// Delete a rule by id.
    Delete { id: i64 },
    /// Set the evaluation order: every rule id, in the new order.
    Order {
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}

#[derive(Subcommand)]
enum ClientAction {
    /// Make LOGIN the account manager of the client CODE (audited).
    Reassign {
        /// The client's code.
        code: String,
        /// Login of the new account manager.
        #[arg(long)]
        to: String,
        /// The client's planned activities of the old account manager: move them to the new one,
        /// or keep them with their owner (who still sees them). Completed ones never move.
        #[arg(long, default_value_t = reassign::OpenActivities::Move)]
        open_activities: reassign::OpenActivities,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a rep; the password is read from CRMDAV_PASSWORD or the --password flag.
    Add {
        login: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long, default_value = "rep", value_parser = ["rep", "manager", "admin"])]
        role: String,
        #[arg(long, env = "CRMDAV_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Set a new password.
    Passwd {
        login: String,
        #[arg(long, env = "CRMDAV_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// List reps.
    List,
    /// Disable a rep: every credential stops working at once.
    Disable { login: String },
    /// Enable a disabled rep again.
    Enable { login: String },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a token; it is printed once.
    Add {
        login: String,
        /// What the token is for, e.g. "Alice's iPhone".
        #[arg(long, default_value = "")]
        label: String,
        /// A feed token (read-only subscription URLs) instead of an app token.
        #[arg(long)]
        feed: bool,
        /// Host name (or https://... URL) devices reach the server at, for the printed feed links
        /// (default: the listen address).
        #[arg(long)]
        host: Option<String>,
    },
    /// List tokens (of one rep, or all).
    List { login: Option<String> },
    /// Revoke a token by id: it stops working at once.
    Revoke { id: i64 },
}

fn main() -> std::process::ExitCode {
    tune_malloc();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(Cli::parse())) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line a person can act on, with its causes; no backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc's malloc, set for a server whose large answers come and go. By default it keeps up to
/// eight arenas per core, each holding on to what it freed, and raises its mmap threshold after the
/// first large free, so that every later multi-megabyte answer lands in an arena and stays
/// resident after it was sent. One arena per core and a fixed 256 KiB threshold (large buffers are
/// mapped, and unmapped when freed) took the benchmark's peak RSS from 127 to 85 MB at the same
/// throughput (bench/RESULTS.md). Set before any thread exists, so that it holds for all.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
    let cores = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets allocator parameters, and no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, cores);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

async fn run(cli: Cli) -> Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(database) = cli.database {
        config.database = database;
    }
    init_logging(&config.log_format);
    let store = Store::open(&config.database).await?;
    match cli.command {
        Command::Serve { listen, demo: load_demo } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            if load_demo {
                load_demo_data(&store, demo::DemoSize::FULL).await?;
            }
            serve(config, store.clone()).await?;
        }
        Command::Migrate => println!("database is up to date: {}", crmdav::store::redact(&config.database)),
        Command::Demo { clients, seed, csv } => {
            let size = demo::DemoSize { clients, activities: clients * 10, seed };
            match csv {
                None => load_demo_data(&store, size).await?,
                Some(dir) => {
                    for (entity, rows) in crmdav::import::demo_csv::write(&dir, size)? {
                        println!("{}: {rows} rows", dir.join(format!("{entity}.csv")).display());
                    }
                }
            }
        }
        Command::User { action } => user(&store, action).await?,
        Command::Token { action } => token(&store, &config, action).await?,
        Command::Rule { action } => rule(&store, action).await?,
        Command::Client { action: ClientAction::Reassign { code, to, open_activities } } => {
            let done = reassign::reassign(&store, rules::Actor::CLI, &code, &to, open_activities).await?;
            println!("{}", reassign::summary(&done));
        }
        Command::Report { kind, rep, from, to, compare, format, bom, output } => {
            let today = chrono::Utc::now().date_naive();
            let params = crmdav::reports::Params::new(kind, rep, from, to, compare, today)?;
            let report = crmdav::reports::run(&store, &params).await?;
            let text = crmdav::reports::output::render(&report, format, bom)?;
            match output {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().lock().write_all(text.as_bytes())?;
                }
            }
        }
        Command::Import { entity, file, dry_run, partial } => {
            let input = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let options = crmdav::import::Options { dry_run, partial };
            let bar = ProgressBar::new(&file);
            let outcome = crmdav::import::import(&store, entity, &input, options, &bar).await?;
            bar.finish();
            for rejected in &outcome.rejected {
                eprintln!("{}:{}: {}", file.display(), rejected.line, rejected.reason);
            }
            println!("{}", outcome.summary());
            if !outcome.rejected.is_empty() {
                store.close().await;
                anyhow::bail!("{} of {} rows rejected", outcome.rejected.len(), outcome.rows);
            }
        }
        Command::Export { entity, output } => {
            let csv = crmdav::import::export::export(&store, entity).await?;
            match output {
                Some(path) => std::fs::write(&path, csv).with_context(|| format!("cannot write {}", path.display()))?,
                None => {
                    use std::io::Write;
                    std::io::stdout().lock().write_all(&csv)?;
                }
            }
        }
        Command::Preview { login } => {
            let clients = rules::visible_clients(&store, &login).await?;
            println!("{:<8} {:<40} {:<9} {:<8} {:<10} RULE", "CODE", "NAME", "STATUS", "TERR.", "MANAGER");
            for c in &clients {
                println!(
                    "{:<8} {:<40} {:<9} {:<8} {:<10} #{}",
                    c.code,
                    c.name,
                    c.status,
                    c.territory,
                    c.account_manager.as_deref().unwrap_or("-"),
                    c.rule_id
                );
            }
            println!("{} clients visible to {login}", clients.len());
        }
    }
    store.close().await;
    Ok(())
}

async fn serve(config: Config, store: Store) -> Result<()> {
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    let state = http::AppState::new(config, store);
    let server = http::start(state).await?;
    println!("crmdav listening on {scheme}://{}/ (CalDAV and CardDAV at /dav/)", server.addr);
    let stop = server.stopper();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    server.wait().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// An import's progress on a terminal (standard error); drawn nothing when it is not one.
struct ProgressBar {
    bar: indicatif::ProgressBar,
    file: String,
}

impl ProgressBar {
    fn new(file: &std::path::Path) -> ProgressBar {
        let bar = indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) = indicatif::ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} ({eta})") {
            bar.set_style(style.progress_chars("=> "));
        }
        ProgressBar { bar, file: file.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()) }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl crmdav::import::Progress for ProgressBar {
    fn stage(&self, name: &str, total: u64) {
        self.bar.set_message(format!("{} {name}", self.file));
        self.bar.set_length(total);
        self.bar.set_position(0);
    }

    fn advance(&self, steps: u64) {
        self.bar.inc(steps);
    }
}

async fn load_demo_data(store: &Store, size: demo::DemoSize) -> Result<()> {
    let summary = demo::load(store, size).await.context("cannot load demo data")?;
    if summary.loaded {
        println!(
            "demo CRM loaded: {} clients, {} contacts, {} activities, {} notes, {} results, {} objectives",
            summary.clients, summary.contacts, summary.activities, summary.notes, summary.results, summary.objectives
        );
    } else {
        println!("database already holds CRM data: demo data not loaded again");
    }
    println!(
        "demo logins (password \"{}\"): {}",
        demo::DEMO_PASSWORD,
        demo::DEMO_REPS.iter().map(|(login, _, role)| format!("{login} ({role})")).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

async fn user(store: &Store, action: UserAction) -> Result<()> {
    match action {
        UserAction::Add { login, name, email, role, password } => {
            let rep = reps::add(store, &login, name.as_deref().unwrap_or(&login), &email, &role, &password).await?;
            println!("added {} ({}) with id {}", rep.login, rep.role, rep.id);
        }
        UserAction::Passwd { login, password } => {
            reps::set_password(store, &login, &password).await?;
            println!("password of {login} changed");
        }
        UserAction::List => {
            println!("{:<20} {:<8} {:<7} NAME", "LOGIN", "ROLE", "ACTIVE");
            for rep in reps::list(store).await? {
                println!(
                    "{:<20} {:<8} {:<7} {}",
                    rep.login,
                    rep.role,
                    if rep.active { "yes" } else { "no" },
                    rep.display_name
                );
            }
        }
        UserAction::Disable { login } => {
            reps::set_active(store, &login, false).await?;
            println!("{login} disabled");
        }
        UserAction::Enable { login } => {
            reps::set_active(store, &login, true).await?;
            println!("{login} enabled");
        }
    }
    Ok(())
}

async fn token(store: &Store, config: &Config, action: TokenAction) -> Result<()> {
    match action {
        TokenAction::Add { login, label, feed, host } => {
            let kind = if feed { TokenKind::Feed } else { TokenKind::App };
            let (id, secret) = credentials::create_token(store, &login, kind, &label).await?;
            println!("{} {id} for {login}: {secret}", kind.as_str());
            if feed {
                let links = crmdav::feeds::links(&crmdav::feeds::base_url(config, host.as_deref()), &secret);
                println!("calendar (subscribe): {}", links.webcal);
                println!("calendar (URL):       {}", links.activities);
                println!("clients (vCard):      {}", links.clients);
            }
            println!("(shown once; revoke with `crmdav token revoke {id}`)");
        }
        TokenAction::List { login } => {
            println!("{:<6} {:<16} {:<11} {:<21} {:<21} LABEL", "ID", "LOGIN", "KIND", "LAST USED", "REVOKED");
            for t in credentials::list_tokens(store, login.as_deref()).await? {
                let when = |ts: Option<crmdav::store::Ts>| {
                    ts.map(|t| t.0.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "-".into())
                };
                println!(
                    "{:<6} {:<16} {:<11} {:<21} {:<21} {}",
                    t.id,
                    t.login,
                    t.kind,
                    when(t.last_used_at),
                    when(t.revoked_at),
                    t.label
                );
            }
        }
        TokenAction::Revoke { id } => {
            credentials::revoke_token(store, id).await?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}

async fn rule(store: &Store, action: RuleAction) -> Result<()> {
    match action {
        RuleAction::List => {
            for rule in rules::list(store).await? {
                println!("{rule}");
            }
        }
        RuleAction::Add { effect, rep, account_manager, territory, status, category, client } => {
            let new = rules::NewRule {
                rep,
                effect: Some(effect),
                match_account_manager: account_manager,
                territory,
                statuses: status,
                category,
                client,
            };
            println!("added {}", rules::create(store, rules::Actor::CLI, &new).await?);
        }
        RuleAction::Delete { id } => println!("deleted {}", rules::delete(store, rules::Actor::CLI, id).await?),
        RuleAction::Order { ids } => {
            for rule in rules::reorder(store, rules::Actor::CLI, &ids).await? {
                println!("{rule}");
            }
        }
    }
    Ok(())
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CRMDAV_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
