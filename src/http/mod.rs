//! HTTP: listener (TCP or TLS), limits, authentication, routing and request logs.

pub mod admin;
pub mod auth;
mod client_addr;
mod connection_limit;
mod dav;
mod mkcol;
mod password_checks;
mod principals;
pub mod response;
pub(crate) mod routes;
mod server;
mod throttle;

pub use response::{Reply, reply};
pub use server::{RunningServer, start};

use std::sync::Arc;

use crate::config::Config;
use crate::push::Push;
use crate::store::Store;

/// What every request handler can reach.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub auth: auth::Authenticator,
    /// WebDAV-Push: keys, settings, and the signal of this server's writes to its delivery task.
    pub push: Arc<Push>,
}

impl AppState {
    pub fn new(config: Config, store: Store) -> Arc<AppState> {
        let auth = auth::Authenticator::new(config.auth.clone());
        let push = Arc::new(Push::new(&config.push));
        Arc::new(AppState { config, store, auth, push })
    }
}
