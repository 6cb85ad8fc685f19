//! The SM-SR side of SCP81 (GP Amd B §3; digest §5.3): a PSK-TLS 1.2 listener whose handshake
//! refuses unknown identities, and HTTP/1.1 served by hand with hyper on the TLS stream (axum's
//! acceptor cannot do PSK). Each authenticated connection is one administration session
//! ([`ServerAwaitingPost`] → [`AdminHandler::on_post`] → response), ended by a `204` without
//! `X-Admin-Next-URI`, after which the connection closes.
//!
//! Robustness: handshake, request and session time bounds; body size bound (`413`); malformed
//! HTTP gets hyper's `400` and the connection closes; protocol errors get `400`/`403`/`404`/
//! `405`/`429` ([`AdminError::http_status`]) and close the session; at most one session per EID
//! at a time and a bound on concurrent connections.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use esim_codec::ids::Eid;
use esim_crypto::SecretKey;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use openssl::ex_data::Index;
use openssl::ssl::{Ssl, SslContext};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_openssl::SslStream;

use crate::admin::session::DEFAULT_MAX_EXCHANGES;
use crate::admin::{
    AdminError, AdminStep, CardPost, CardRequest, HeaderFields, PskIdentity, ServerAwaitingPost,
    ServerNext, SessionEnded, http::check_uri,
};
pub use crate::tls::PskStore;
use crate::tls::{self, CipherSuite};
use crate::wire::{self, BodyError, ChunkedBody};

/// An authenticated session as the handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The PSK-TLS identity the handshake accepted.
    pub identity: PskIdentity,
    /// The card's address.
    pub peer: SocketAddr,
    /// Negotiated cipher suite (IANA name).
    pub cipher: String,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutcome {
    /// The handler ended it with [`AdminStep::End`].
    Ended(SessionEnded),
    /// It broke off (protocol error, timeout, connection lost, shutdown).
    Failed(String),
}

/// The SM-SR's administration logic: decides, after each card `POST`, what comes next.
pub trait AdminHandler: Send + Sync + 'static {
    /// A `POST` from the authenticated card (the opening one, a poll, or a script result);
    /// returns the next step. An opening `POST` to `<admin URI>?msg=<hex>` carries an SGP.02
    /// notification ([`CardPost::notification`], digest §3.3), which the SM-SR answers with the
    /// confirmation script.
    fn on_post(
        &self,
        session: &SessionInfo,
        post: CardPost,
    ) -> impl Future<Output = AdminStep> + Send;

    /// Called once when a session in which [`AdminHandler::on_post`] was called is over.
    fn on_session_end(&self, session: &SessionInfo, outcome: &SessionOutcome) {
        let _ = (session, outcome);
    }
}

impl<T: AdminHandler> AdminHandler for Arc<T> {
    fn on_post(
        &self,
        session: &SessionInfo,
        post: CardPost,
    ) -> impl Future<Output = AdminStep> + Send {
        (**self).on_post(session, post)
    }

    fn on_session_end(&self, session: &SessionInfo, outcome: &SessionOutcome) {
        (**self).on_session_end(session, outcome)
    }
}

/// A [`PskStore`] in memory.
#[derive(Default)]
pub struct MemoryPskStore {
    keys: RwLock<HashMap<PskIdentity, SecretKey>>,
}

impl MemoryPskStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a key.
    pub fn insert(&self, identity: PskIdentity, key: SecretKey) {
        if let Ok(mut m) = self.keys.write() {
            m.insert(identity, key);
        }
    }

    /// Removes a key.
    pub fn remove(&self, identity: &PskIdentity) {
        if let Ok(mut m) = self.keys.write() {
            m.remove(identity);
        }
    }
}

impl fmt::Debug for MemoryPskStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.keys.read().map(|m| m.len()).unwrap_or(0);
        write!(f, "MemoryPskStore({n} keys)")
    }
}

impl PskStore for MemoryPskStore {
    fn psk(&self, identity: &PskIdentity) -> Option<SecretKey> {
        self.keys.read().ok()?.get(identity).cloned()
    }
}

/// Settings, key store and administration logic of the server.
pub struct ServerConfig<S, H> {
    /// Target of the card's first `POST` (what the trigger's `8C` says).
    pub admin_uri: String,
    /// Keys by identity.
    pub psk_store: S,
    /// Administration logic.
    pub handler: H,
    /// Suites accepted (default both).
    pub cipher_suites: Vec<CipherSuite>,
    /// Bound on the PSK-TLS handshake.
    pub handshake_timeout: Duration,
    /// Bound on reading one request (headers, then body).
    pub request_timeout: Duration,
    /// Bound on a whole session.
    pub session_timeout: Duration,
    /// Largest request body (response script) accepted.
    pub max_body: usize,
    /// Bound on HTTP exchanges per session.
    pub max_exchanges: u32,
    /// Bound on simultaneous connections (more are closed at once).
    pub max_connections: usize,
    /// Chunk size of response bodies.
    pub chunk_size: usize,
    /// How long sessions may run on after `shutdown` before they are cut.
    pub shutdown_grace: Duration,
}

impl<S, H> ServerConfig<S, H> {
    /// Defaults: both suites, 10 s handshake, 30 s per request, 5 min per session, 64 KiB
    /// bodies, 64 exchanges, 256 connections, 1 KiB chunks, 5 s grace.
    pub fn new(admin_uri: impl Into<String>, psk_store: S, handler: H) -> Self {
        ServerConfig {
            admin_uri: admin_uri.into(),
            psk_store,
            handler,
            cipher_suites: CipherSuite::ALL.to_vec(),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(300),
            max_body: 64 * 1024,
            max_exchanges: DEFAULT_MAX_EXCHANGES,
            max_connections: 256,
            chunk_size: wire::DEFAULT_CHUNK,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl<S, H> fmt::Debug for ServerConfig<S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("admin_uri", &self.admin_uri)
            .field("cipher_suites", &self.cipher_suites)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("session_timeout", &self.session_timeout)
            .field("max_body", &self.max_body)
            .field("max_exchanges", &self.max_exchanges)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is unusable (bad admin URI, no cipher suite, OpenSSL set-up).
    #[error("configuration: {0}")]
    Config(String),
}

struct Shared<H> {
    handler: H,
    ctx: SslContext,
    index: Index<Ssl, PskIdentity>,
    admin_uri: String,
    handshake_timeout: Duration,
    request_timeout: Duration,
    session_timeout: Duration,
    max_body: usize,
    max_exchanges: u32,
    chunk_size: usize,
    active: Mutex<HashSet<Eid>>,
}

/// Serves SCP81 sessions on `listener` until `shutdown` completes (the project's service
/// signature). Sessions still running then get `shutdown_grace` to finish.
pub async fn run<S: PskStore, H: AdminHandler>(
    config: ServerConfig<S, H>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    check_uri("admin URI", &config.admin_uri).map_err(|e| ServerError::Config(e.to_string()))?;
    let index = tls::identity_index().map_err(ServerError::Config)?;
    let ctx = tls::server_context(Arc::new(config.psk_store), &config.cipher_suites, index)
        .map_err(ServerError::Config)?;
    let shared = Arc::new(Shared {
        handler: config.handler,
        ctx,
        index,
        admin_uri: config.admin_uri,
        handshake_timeout: config.handshake_timeout,
        request_timeout: config.request_timeout,
        session_timeout: config.session_timeout,
        max_body: config.max_body,
        max_exchanges: config.max_exchanges,
        chunk_size: config.chunk_size,
        active: Mutex::new(HashSet::new()),
    });
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, "SCP81: connection limit reached, closing");
                        continue;
                    };
                    let shared = shared.clone();
                    let stop = stop_rx.clone();
                    tasks.spawn(async move {
                        connection(shared, tcp, peer, stop).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!("SCP81: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let _ = timeout(config.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    Ok(())
}

/// Marks an EID as in session; released on drop.
struct ActiveSession<'a> {
    set: &'a Mutex<HashSet<Eid>>,
    eid: Eid,
}

impl<'a> ActiveSession<'a> {
    fn claim(set: &'a Mutex<HashSet<Eid>>, eid: &Eid) -> Option<Self> {
        let mut s = set.lock().ok()?;
        if s.insert(eid.clone()) {
            Some(ActiveSession {
                set,
                eid: eid.clone(),
            })
        } else {
            None
        }
    }
}

impl Drop for ActiveSession<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.eid);
        }
    }
}

struct ConnState {
    machine: Option<ServerAwaitingPost>,
    outcome: Option<SessionOutcome>,
    handler_called: bool,
}

async fn connection<H: AdminHandler>(
    shared: Arc<Shared<H>>,
    tcp: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    let Ok(ssl) = Ssl::new(&shared.ctx) else {
        return;
    };
    let Ok(mut stream) = SslStream::new(ssl, tcp) else {
        return;
    };
    match timeout(shared.handshake_timeout, Pin::new(&mut stream).accept()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::info!(%peer, "SCP81: PSK-TLS handshake failed: {e}");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "SCP81: PSK-TLS handshake timed out");
            return;
        }
    }
    let Some(identity) = stream.ssl().ex_data(shared.index).cloned() else {
        tracing::warn!(%peer, "SCP81: handshake finished without a PSK identity");
        return;
    };
    let (cipher, _) = tls::negotiated(stream.ssl());
    let Some(_active) = ActiveSession::claim(&shared.active, &identity.eid) else {
        tracing::warn!(%peer, eid = %identity.eid, "SCP81: a session for this eUICC is already open");
        return;
    };
    let machine =
        match ServerAwaitingPost::new(identity.clone(), &shared.admin_uri, shared.max_exchanges) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("SCP81: {e}");
                return;
            }
        };
    let info = Arc::new(SessionInfo {
        identity,
        peer,
        cipher,
    });
    let state = Arc::new(tokio::sync::Mutex::new(ConnState {
        machine: Some(machine),
        outcome: None,
        handler_called: false,
    }));
    let svc = {
        let shared = shared.clone();
        let info = info.clone();
        let state = state.clone();
        service_fn(move |req| serve(shared.clone(), info.clone(), state.clone(), req))
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.request_timeout)
        .max_buf_size(16 * 1024)
        .title_case_headers(true)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let served = timeout(shared.session_timeout, async {
        let mut stopping = false;
        loop {
            tokio::select! {
                r = conn.as_mut() => break r.map_err(|e| e.to_string()),
                changed = stop.changed(), if !stopping => {
                    stopping = true;
                    if changed.is_ok() {
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    })
    .await;
    let mut st = state.lock().await;
    let outcome = st.outcome.take().unwrap_or_else(|| {
        SessionOutcome::Failed(match served {
            Err(_) => "session timed out".to_string(),
            Ok(Err(e)) => format!("connection failed: {e}"),
            Ok(Ok(())) => "connection closed before the session ended".to_string(),
        })
    });
    if st.handler_called {
        shared.handler.on_session_end(&info, &outcome);
    }
}

fn plain(status: u16, message: &str) -> Response<ChunkedBody> {
    let mut r = Response::new(ChunkedBody::new(Bytes::from(message.to_string()), 1024));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    r
}

async fn serve<H: AdminHandler>(
    shared: Arc<Shared<H>>,
    info: Arc<SessionInfo>,
    state: Arc<tokio::sync::Mutex<ConnState>>,
    req: Request<Incoming>,
) -> Result<Response<ChunkedBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match timeout(
        shared.request_timeout,
        wire::read_body(body, shared.max_body),
    )
    .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(BodyError::TooLong(n))) => {
            fail(&state, format!("request body longer than {n} bytes")).await;
            return Ok(plain(413, "body too long"));
        }
        Ok(Err(BodyError::Broken(m))) => {
            fail(&state, format!("request body: {m}")).await;
            return Ok(plain(400, "malformed body"));
        }
        Err(_) => {
            fail(&state, "request body timed out".into()).await;
            return Ok(plain(408, "request timeout"));
        }
    };
    let mut st = state.lock().await;
    let Some(machine) = st.machine.take() else {
        return Ok(plain(400, "no session in progress"));
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let parsed = HeaderFields::from_pairs(
        parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes())),
    )
    .and_then(|h| CardRequest::parse(parts.method.as_str(), path, &h, body))
    .and_then(|r| machine.handle(r));
    let has = match parsed {
        Ok(h) => h,
        Err(e) => return Ok(protocol_error(&mut st, &info, e)),
    };
    st.handler_called = true;
    let step = shared.handler.on_post(&info, has.post.clone()).await;
    let (response, next) = match has.reply(step) {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(eid = %info.identity.eid, "SCP81: handler step rejected: {e}");
            st.outcome = Some(SessionOutcome::Failed(format!("handler step: {e}")));
            return Ok(plain(500, "internal error"));
        }
    };
    let close = match next {
        ServerNext::AwaitingPost(m) => {
            st.machine = Some(m);
            false
        }
        ServerNext::Ended(e) => {
            st.outcome = Some(SessionOutcome::Ended(e));
            true
        }
    };
    let mut r = Response::new(ChunkedBody::new(response.body(), shared.chunk_size));
    *r.status_mut() = StatusCode::from_u16(response.status()).unwrap_or(StatusCode::OK);
    match wire::header_pairs(response.header_fields()) {
        Ok(pairs) => {
            for (n, v) in pairs {
                r.headers_mut().append(n, v);
            }
        }
        Err(e) => {
            st.outcome = Some(SessionOutcome::Failed(format!("response header: {e}")));
            return Ok(plain(500, "internal error"));
        }
    }
    if close {
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(r)
}

async fn fail(state: &tokio::sync::Mutex<ConnState>, reason: String) {
    let mut st = state.lock().await;
    st.machine = None;
    if st.outcome.is_none() {
        st.outcome = Some(SessionOutcome::Failed(reason));
    }
}

fn protocol_error(st: &mut ConnState, info: &SessionInfo, e: AdminError) -> Response<ChunkedBody> {
    tracing::info!(eid = %info.identity.eid, peer = %info.peer, "SCP81: {e}");
    st.outcome = Some(SessionOutcome::Failed(e.to_string()));
    plain(e.http_status(), &e.to_string())
}
