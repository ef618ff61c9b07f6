//! The listener: accepts TCP connections (within the connection caps), wraps them in TLS when
//! configured, and serves HTTP/1.1 until asked to stop, letting requests in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::connection_limit::ConnectionLimit;
use super::{AppState, routes};

pub struct RunningServer {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// WebDAV-Push delivery (src/push), stopped with the server.
    push: Option<JoinHandle<()>>,
    /// The check for activities due a report (crm::report_tasks), stopped with the server.
    reports: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, waits (bounded) for requests in flight, then returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        for task in [self.push, self.reports].into_iter().flatten() {
            let _ = task.await;
        }
    }

    /// Serves until the task ends (it ends only through `shutdown`).
    pub async fn wait(self) {
        let _ = self.task.await;
        for task in [self.push, self.reports].into_iter().flatten() {
            let _ = task.await;
        }
    }

    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }
}

fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<tokio_rustls::TlsAcceptor> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).with_context(|| format!("cannot open TLS certificate {}", cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .with_context(|| format!("invalid PEM certificate {}", cert.display()))?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).with_context(|| format!("cannot open TLS key {}", key.display()))?,
    ))?
    .with_context(|| format!("no private key in {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Binds the configured address and serves in a background task.
pub async fn start(state: Arc<AppState>) -> Result<RunningServer> {
    state.config.check_transport_security()?;
    let tls = match &state.config.tls {
        Some(tls) => Some(tls_acceptor(&tls.cert, &tls.key)?),
        None => None,
    };
    let listener = TcpListener::bind(state.config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", state.config.listen))?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let push =
        crate::push::delivery::start(state.store.clone(), state.config.clone(), state.push.clone(), stop.subscribe());
    let poke = state.push.clone();
    let reports = crate::crm::report_tasks::start(
        state.store.clone(),
        state.config.calendar.clone(),
        std::sync::Arc::new(move || poke.changed()),
        stop.subscribe(),
    );
    let limits = &state.config.connections;
    let connection_limit = ConnectionLimit::new(
        limits.max_connections,
        limits.max_connections_per_address,
        state.config.trusted_proxies.clone(),
    );
    // Slowloris: headers dribbled (or never sent) would hold a connection forever.
    let header_timeout = Duration::from_secs(limits.header_timeout_secs);
    let task = tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(pair) => pair,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let admission = match connection_limit.admit(peer.ip()) {
                        Ok(admission) => admission,
                        Err(refusal) => {
                            tracing::warn!(%peer, ?refusal, "connection refused");
                            // Plain HTTP only: a TLS client could not read it. A full socket buffer
                            // just loses the courtesy.
                            if tls.is_none() {
                                let _ = stream.try_write(refusal.response().as_bytes());
                            }
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let state = state.clone();
                    let service = service_fn(move |request| routes::handle(state.clone(), peer, request));
                    let mut builder = http1::Builder::new();
                    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
                    match &tls {
                        Some(acceptor) => {
                            let acceptor = acceptor.clone();
                            let watcher = graceful.watcher();
                            tokio::spawn(async move {
                                let _admission = admission;
                                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                                    Ok(Ok(tls_stream)) => {
                                        let connection = builder.serve_connection(TokioIo::new(tls_stream), service);
                                        if let Err(e) = watcher.watch(connection).await {
                                            tracing::debug!(error = %e, "connection ended with an error");
                                        }
                                    }
                                    Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                                }
                            });
                        }
                        None => {
                            let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                            tokio::spawn(async move {
                                let _admission = admission;
                                if let Err(e) = connection.await {
                                    tracing::debug!(error = %e, "connection ended with an error");
                                }
                            });
                        }
                    }
                }
                _ = stopped.changed() => break,
            }
        }
        drop(listener);
        let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    });
    Ok(RunningServer { addr, stop, task, push, reports })
}
