//! The card/device side of an SCP81 administration session (GP Amd B §3.5; digest §5.3): one
//! PSK-TLS 1.2 connection to the SM-SR, then `POST`s with chunked bodies until the server
//! answers `204` without `X-Admin-Next-URI`. Each script the server sends is handed to the
//! caller's handler (the eUICC's ISD-R or its agent), whose reply is posted back.
//!
//! Bounds: connect + handshake time, time per HTTP exchange, total session time, number of
//! exchanges, script size.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use esim_codec::ids::{Aid, Eid};
use esim_crypto::SecretKey;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use openssl::ssl::Ssl;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_openssl::SslStream;

use crate::admin::{
    AdminError, AdminFrom, CardAwaitingScript, CardNext, CardRequest, CardSessionParams,
    HeaderFields, PskIdentity, ScriptStatus, ServerResponse,
};
use crate::tls::{self, CipherSuite};
use crate::wire::{self, BodyError, ChunkedBody};

/// Settings of a card-side session.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Address of the SM-SR's SCP81 port.
    pub server: SocketAddr,
    /// `Host` header (trigger `8A`).
    pub host: String,
    /// Target of the first `POST` (trigger `8C`).
    pub admin_uri: String,
    /// PSK-TLS identity (SGP.02 §2.4.4.1).
    pub identity: PskIdentity,
    /// The pre-shared key (zeroized on drop, redacted in `Debug`).
    pub psk: SecretKey,
    /// Cipher suites offered, in order of preference.
    pub cipher_suites: Vec<CipherSuite>,
    /// The administration agent in `X-Admin-From` (the ISD-R in SGP.02).
    pub agent: Aid,
    /// Send `X-Admin-Resume: true` on the first `POST`.
    pub resume: bool,
    /// A notification (`E1` TLV) posted on the first `POST` as `?msg=<HEX>` (SGP.02 default
    /// notification transport over HTTPS, digest §3.3). `None` by default.
    pub notification: Option<Vec<u8>>,
    /// Bound on TCP connect + TLS handshake.
    pub connect_timeout: Duration,
    /// Bound on one `POST` and its whole response.
    pub exchange_timeout: Duration,
    /// Bound on the whole session.
    pub session_timeout: Duration,
    /// Bound on HTTP exchanges.
    pub max_exchanges: u32,
    /// Longest script accepted (bytes).
    pub max_script_len: usize,
    /// Chunk size of posted bodies.
    pub chunk_size: usize,
}

impl ClientConfig {
    /// Defaults: both suites, ISD-R agent, 10 s connect, 30 s per exchange, 5 min per session,
    /// 64 exchanges, 64 KiB scripts, 1 KiB chunks.
    pub fn new(
        server: SocketAddr,
        host: impl Into<String>,
        admin_uri: impl Into<String>,
        identity: PskIdentity,
        psk: SecretKey,
    ) -> Self {
        ClientConfig {
            server,
            host: host.into(),
            admin_uri: admin_uri.into(),
            identity,
            psk,
            cipher_suites: CipherSuite::ALL.to_vec(),
            agent: Aid::isd_r(),
            resume: false,
            notification: None,
            connect_timeout: Duration::from_secs(10),
            exchange_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(300),
            max_exchanges: crate::admin::session::DEFAULT_MAX_EXCHANGES,
            max_script_len: 64 * 1024,
            chunk_size: wire::DEFAULT_CHUNK,
        }
    }
}

/// A script received from the server (GP Amd B §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRequest {
    /// `X-Admin-Targeted-Application`; `None` = the agent's own domain (the ISD-R).
    pub targeted: Option<Aid>,
    /// The command script (TS 102 226 expanded format).
    pub script: Bytes,
}

/// The card's answer to a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminReply {
    /// `X-Admin-Script-Status`.
    pub status: ScriptStatus,
    /// The response script.
    pub body: Bytes,
}

/// How a session went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    /// HTTP exchanges made.
    pub exchanges: u32,
    /// Scripts received (and answered).
    pub scripts: u32,
    /// Negotiated cipher suite (IANA name).
    pub cipher: String,
    /// Negotiated protocol (`TLSv1.2`).
    pub tls_version: String,
}

/// Why a card-side session failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The configuration is unusable (e.g. no cipher suite, EID not the identity's).
    #[error("configuration: {0}")]
    Config(String),
    /// TCP connection failed.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The server address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The PSK-TLS handshake failed (wrong key, unknown identity, no common suite, …).
    #[error("PSK-TLS handshake: {0}")]
    Handshake(String),
    /// A phase took longer than its bound.
    #[error("timeout: {0}")]
    Timeout(&'static str),
    /// HTTP failure (connection closed, malformed response, …).
    #[error("HTTP: {0}")]
    Http(String),
    /// The server sent a script longer than `max_script_len`.
    #[error("script longer than {0} bytes")]
    ScriptTooLong(usize),
    /// The server's response broke the administration protocol.
    #[error("admin protocol: {0}")]
    Admin(#[from] AdminError),
}

/// Runs one administration session for `eid` (GP Amd B §3.5): connects, posts, hands each
/// script to `handler`, posts its reply, until the server ends the session.
///
/// `eid` must be the EID of `config.identity` (it goes into `X-Admin-From`). `handler` runs on
/// the session's task; its time counts against `session_timeout` (not `exchange_timeout`).
/// Keep it short (a software eUICC processing a script in memory).
pub async fn run_admin_session<F>(
    config: &ClientConfig,
    eid: &Eid,
    handler: F,
) -> Result<SessionReport, ClientError>
where
    F: FnMut(AdminRequest) -> AdminReply,
{
    if *eid != config.identity.eid {
        return Err(ClientError::Config(format!(
            "EID {eid} is not the PSK identity's EID {}",
            config.identity.eid
        )));
    }
    match timeout(config.session_timeout, session(config, eid, handler)).await {
        Ok(r) => r,
        Err(_) => Err(ClientError::Timeout("session")),
    }
}

/// Aborts the HTTP connection task when the session returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn session<F>(
    config: &ClientConfig,
    eid: &Eid,
    mut handler: F,
) -> Result<SessionReport, ClientError>
where
    F: FnMut(AdminRequest) -> AdminReply,
{
    let (first, mut state) = CardAwaitingScript::open(CardSessionParams {
        host: config.host.clone(),
        admin_uri: config.admin_uri.clone(),
        from: AdminFrom {
            eid: eid.clone(),
            agent: config.agent.clone(),
        },
        resume: config.resume,
        max_exchanges: config.max_exchanges,
        notification: config.notification.clone(),
    })?;
    let ctx = tls::client_context(&config.identity, &config.psk, &config.cipher_suites)
        .map_err(ClientError::Config)?;
    let ssl = Ssl::new(&ctx).map_err(|e| ClientError::Config(e.to_string()))?;

    let connect = async {
        let tcp =
            TcpStream::connect(config.server)
                .await
                .map_err(|source| ClientError::Connect {
                    addr: config.server,
                    source,
                })?;
        let _ = tcp.set_nodelay(true);
        let mut stream =
            SslStream::new(ssl, tcp).map_err(|e| ClientError::Handshake(e.to_string()))?;
        Pin::new(&mut stream)
            .connect()
            .await
            .map_err(|e| ClientError::Handshake(e.to_string()))?;
        Ok::<_, ClientError>(stream)
    };
    let stream = timeout(config.connect_timeout, connect)
        .await
        .map_err(|_| ClientError::Timeout("connect and PSK-TLS handshake"))??;
    let (cipher, tls_version) = tls::negotiated(stream.ssl());

    // Title-case header names ("X-Admin-Next-Uri"): HTTP names are case-insensitive, but card
    // agents are small parsers; docs/spec-choices.md.
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    let conn_task = AbortOnDrop(tokio::spawn(async move {
        // Errors surface through `send_request`.
        let _ = conn.await;
    }));

    let mut request = first;
    let ended = loop {
        let response = timeout(
            config.exchange_timeout,
            exchange(&mut sender, &request, config),
        )
        .await
        .map_err(|_| ClientError::Timeout("HTTP exchange"))??;
        match state.handle(response)? {
            CardNext::Script(has) => {
                let reply = handler(AdminRequest {
                    targeted: has.targeted.clone(),
                    script: has.script.clone(),
                });
                (request, state) = has.respond(reply.status, reply.body);
            }
            CardNext::Poll(next, s) => (request, state) = (next, s),
            CardNext::Ended(e) => break e,
        }
    };
    // Close the connection: dropping the sender lets the connection task shut the TLS stream
    // down (close_notify); wait briefly for it.
    drop(sender);
    let mut conn_task = conn_task;
    let _ = timeout(Duration::from_secs(1), &mut conn_task.0).await;
    Ok(SessionReport {
        exchanges: ended.exchanges,
        scripts: ended.scripts,
        cipher,
        tls_version,
    })
}

async fn exchange(
    sender: &mut hyper::client::conn::http1::SendRequest<ChunkedBody>,
    request: &CardRequest,
    config: &ClientConfig,
) -> Result<ServerResponse, ClientError> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(request.target());
    for (name, value) in wire::header_pairs(request.header_fields()).map_err(ClientError::Http)? {
        builder = builder.header(name, value);
    }
    let req = builder
        .body(ChunkedBody::new(request.body(), config.chunk_size))
        .map_err(|e| ClientError::Http(e.to_string()))?;
    sender
        .ready()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    let (parts, body) = resp.into_parts();
    let body = wire::read_body(body, config.max_script_len)
        .await
        .map_err(|e| match e {
            BodyError::TooLong(n) => ClientError::ScriptTooLong(n),
            BodyError::Broken(m) => ClientError::Http(m),
        })?;
    let headers = HeaderFields::from_pairs(
        parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes())),
    )?;
    Ok(ServerResponse::parse(
        parts.status.as_u16(),
        &headers,
        body,
    )?)
}
