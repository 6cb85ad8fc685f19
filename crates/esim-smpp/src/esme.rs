//! The ESME client (SMPP v3.4 §2.2: an External Short Message Entity bound to an SMSC).
//!
//! [`Esme::connect`] opens a TCP connection, binds (`bind_transmitter` / `bind_receiver` /
//! `bind_transceiver`, §4.1) and returns an [`EsmeHandle`] to submit messages (`submit_sm`,
//! §4.4) and an [`Incoming`] receiver of the messages the SMSC delivers (`deliver_sm`, §4.6).
//!
//! Behaviour:
//! - **Window.** At most [`EsmeConfig::window`] requests are outstanding at once (SMPP 3.4
//!   leaves the window size to the implementation); further [`EsmeHandle::submit`] calls wait
//!   for a free slot. Each request waits at most [`EsmeConfig::response_timeout`] for its
//!   response and then fails with [`EsmeError::ResponseTimeout`] (the slot is freed; a late
//!   response is ignored).
//! - **Throttling.** A `submit_sm_resp` with `ESME_RTHROTTLED` (or `ESME_RMSGQFUL`) is retried
//!   after a back-off, at most [`RetryPolicy::max_retries`] times; then the status is returned
//!   as [`EsmeError::Status`].
//! - **Keep-alive.** Every [`EsmeConfig::enquire_link_interval`] an `enquire_link` (§4.11) is
//!   sent; no `enquire_link_resp` within `response_timeout` counts as a lost connection. The
//!   SMSC's own `enquire_link` is answered.
//! - **Incoming.** Each `deliver_sm` is handed to [`Incoming`] and answered with
//!   `deliver_sm_resp` / `ESME_ROK`. If the [`Incoming`] buffer is full the answer is
//!   `ESME_RX_T_APPN` (temporary: the SMSC keeps the message and retries); if [`Incoming`] was
//!   dropped, `ESME_RX_P_APPN`.
//! - **Reconnect.** When the connection drops (socket error, EOF, `unbind` from the SMSC,
//!   keep-alive timeout) the client reconnects and re-binds with exponential back-off
//!   ([`ReconnectPolicy`]). **PDUs in flight are not resent**: every request waiting for a
//!   response fails at once with [`EsmeError::ConnectionLost`] — the SMSC may or may not have
//!   accepted it, so the caller decides whether to resubmit (at-least-once) or not
//!   (at-most-once). Requests made while the link is down wait up to `response_timeout` for
//!   the re-bind, then fail with [`EsmeError::NotBound`].
//! - **Shutdown.** [`EsmeHandle::shutdown`] (or dropping every handle) stops new requests,
//!   waits up to `response_timeout` for the outstanding ones, sends `unbind` (§4.2), waits up
//!   to `response_timeout` for `unbind_resp` and closes the socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::pdu::{
    Address, Bind, BindMode, Body, DecodeError, EncodeError, INTERFACE_VERSION_34, Password, Pdu,
};
use crate::sms::Sms;
use crate::status::CommandStatus;
use crate::transport::{Inbound, ReadEnd, spawn_reader, write_bytes, write_pdu};

/// Errors of the ESME client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EsmeError {
    /// The TCP connection to the SMSC could not be opened.
    #[error("cannot connect to SMSC {server}: {source}")]
    Connect {
        /// The configured server address.
        server: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The TCP connection was not established within `connect_timeout`.
    #[error("connecting to SMSC {server} timed out")]
    ConnectTimeout {
        /// The configured server address.
        server: String,
    },
    /// The SMSC refused the bind (e.g. `ESME_RINVPASWD`, `ESME_RINVSYSID`, `ESME_RBINDFAIL`).
    #[error("bind rejected by SMSC: {0}")]
    BindRejected(CommandStatus),
    /// The SMSC answered a request with an error `command_status` (after any retries, for
    /// transient ones such as `ESME_RTHROTTLED`).
    #[error("SMSC answered {0}")]
    Status(CommandStatus),
    /// The SMSC answered a request with `generic_nack` (§4.3) and this status.
    #[error("SMSC answered generic_nack: {0}")]
    GenericNack(CommandStatus),
    /// No response within `response_timeout`.
    #[error("no response to PDU {sequence_number} within the response timeout")]
    ResponseTimeout {
        /// The request's `sequence_number`.
        sequence_number: u32,
    },
    /// The connection dropped while the request was outstanding; the SMSC may or may not
    /// have processed it. It is not resent.
    #[error("connection lost while PDU {sequence_number} was outstanding")]
    ConnectionLost {
        /// The request's `sequence_number`.
        sequence_number: u32,
    },
    /// The link was down and not re-bound within `response_timeout`.
    #[error("not bound to the SMSC")]
    NotBound,
    /// The client was shut down (or gave up reconnecting).
    #[error("ESME client closed")]
    Closed,
    /// The SMSC answered with a PDU of an unexpected type (`command_id`).
    #[error("unexpected response command_id 0x{0:08X}")]
    UnexpectedResponse(u32),
    /// The request could not be encoded (a field too long, ...).
    #[error("cannot encode PDU: {0}")]
    Encode(#[from] EncodeError),
    /// The SMSC sent bytes that are not a valid PDU while binding.
    #[error("invalid PDU from SMSC: {0}")]
    Decode(#[from] DecodeError),
    /// The session was refused by the bind mode: e.g. `submit` on a receiver-only bind.
    #[error("operation not allowed in bind mode {0:?}")]
    WrongBindMode(BindMode),
    /// A socket error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Reconnection back-off.
#[derive(Debug, Clone)]
pub struct ReconnectPolicy {
    /// Delay before the first reconnection attempt.
    pub initial_delay: Duration,
    /// Upper bound of the doubling delay.
    pub max_delay: Duration,
    /// Give up after this many failed attempts in a row (`None`: never).
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            max_attempts: None,
        }
    }
}

/// Retry of transient submit failures (`ESME_RTHROTTLED`, `ESME_RMSGQFUL`).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: report the status at once).
    pub max_retries: u32,
    /// Delay before the first retry; doubles each time.
    pub initial_delay: Duration,
    /// Upper bound of the delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// ESME configuration.
#[derive(Debug, Clone)]
pub struct EsmeConfig {
    /// SMSC address, `host:port`.
    pub server: String,
    /// Which bind to perform (§4.1).
    pub bind_mode: BindMode,
    /// `system_id` (at most 15 characters).
    pub system_id: String,
    /// `password` (at most 8 characters).
    pub password: Password,
    /// `system_type` (at most 12 characters).
    pub system_type: String,
    /// `addr_ton`, `addr_npi`, `address_range`: the addresses this ESME serves.
    pub address_range: Address,
    /// Maximum outstanding requests.
    pub window: usize,
    /// How long to wait for each response (and for a re-bind).
    pub response_timeout: Duration,
    /// How long to wait for the TCP connection.
    pub connect_timeout: Duration,
    /// Interval between `enquire_link`s.
    pub enquire_link_interval: Duration,
    /// Reconnection back-off.
    pub reconnect: ReconnectPolicy,
    /// Retry of throttled submits.
    pub retry: RetryPolicy,
    /// Capacity of the [`Incoming`] buffer.
    pub incoming_capacity: usize,
}

impl EsmeConfig {
    /// A transceiver bind with the defaults: window 10, response timeout 10 s, connect
    /// timeout 5 s, enquire_link every 30 s, incoming buffer 1024.
    #[must_use]
    pub fn new(
        server: impl Into<String>,
        system_id: impl Into<String>,
        password: Password,
    ) -> Self {
        Self {
            server: server.into(),
            bind_mode: BindMode::Transceiver,
            system_id: system_id.into(),
            password,
            system_type: String::new(),
            address_range: Address::default(),
            window: 10,
            response_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            enquire_link_interval: Duration::from_secs(30),
            reconnect: ReconnectPolicy::default(),
            retry: RetryPolicy::default(),
            incoming_capacity: 1024,
        }
    }
}

/// The state of the link, as seen by [`EsmeHandle::link_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Bound: requests are sent.
    Bound,
    /// Connection lost; reconnecting.
    Reconnecting,
    /// Shutting down: no new requests.
    Closing,
    /// Closed for good.
    Closed,
}

type Waiter = oneshot::Sender<Result<Pdu, EsmeError>>;

struct Shared {
    config: EsmeConfig,
    sequence: AtomicU32,
    window: Semaphore,
    pending: Mutex<HashMap<u32, Waiter>>,
    /// The current connection's outbox (`None` while not bound).
    outbox: watch::Sender<Option<mpsc::Sender<Vec<u8>>>>,
    state: watch::Sender<LinkState>,
}

impl Shared {
    fn next_sequence(&self) -> u32 {
        // §5.1.4: 0x00000001..=0x7FFFFFFF.
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        (n % 0x7FFF_FFFF) + 1
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Waiter>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail_pending(&self) {
        for (sequence_number, waiter) in self.pending().drain() {
            let _ = waiter.send(Err(EsmeError::ConnectionLost { sequence_number }));
        }
    }
}

/// Sends the shutdown signal when the last handle is dropped.
struct Guard {
    shutdown: watch::Sender<bool>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// A cloneable handle to a running ESME session.
#[derive(Clone)]
pub struct EsmeHandle {
    shared: Arc<Shared>,
    guard: Arc<Guard>,
}

impl std::fmt::Debug for EsmeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsmeHandle")
            .field("server", &self.shared.config.server)
            .field("system_id", &self.shared.config.system_id)
            .field("state", &*self.shared.state.borrow())
            .finish()
    }
}

/// Messages delivered by the SMSC (`deliver_sm`), in arrival order.
#[derive(Debug)]
pub struct Incoming {
    rx: mpsc::Receiver<Sms>,
}

impl Incoming {
    /// The next message; `None` once the client is closed and the buffer is drained.
    pub async fn recv(&mut self) -> Option<Sms> {
        self.rx.recv().await
    }

    /// A message if one is buffered.
    pub fn try_recv(&mut self) -> Option<Sms> {
        self.rx.try_recv().ok()
    }
}

/// Entry point of the ESME client.
#[derive(Debug)]
pub struct Esme;

impl Esme {
    /// Connects, binds and starts the session task.
    ///
    /// The first connection is not retried: a refused connection or bind is returned here
    /// so configuration errors surface at once. Later losses are handled by reconnecting.
    ///
    /// # Errors
    /// [`EsmeError::Connect`], [`EsmeError::ConnectTimeout`], [`EsmeError::BindRejected`],
    /// [`EsmeError::ResponseTimeout`], ...
    pub async fn connect(config: EsmeConfig) -> Result<(EsmeHandle, Incoming), EsmeError> {
        let window = config.window.max(1);
        let (incoming_tx, incoming_rx) = mpsc::channel(config.incoming_capacity.max(1));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            config,
            sequence: AtomicU32::new(0),
            window: Semaphore::new(window),
            pending: Mutex::new(HashMap::new()),
            outbox: watch::channel(None).0,
            state: watch::channel(LinkState::Reconnecting).0,
        });
        let conn = connect_and_bind(&shared).await?;
        // Publish the first connection before returning, so the handle is usable at once.
        let outbox = publish(&shared);
        tokio::spawn(run_session(
            Arc::clone(&shared),
            (conn, outbox),
            incoming_tx,
            shutdown_rx,
        ));
        Ok((
            EsmeHandle {
                shared,
                guard: Arc::new(Guard {
                    shutdown: shutdown_tx,
                }),
            },
            Incoming { rx: incoming_rx },
        ))
    }
}

impl EsmeHandle {
    /// Submits a message (`submit_sm`, §4.4) and returns the SMSC's `message_id`.
    ///
    /// # Errors
    /// [`EsmeError::Status`] for an error `command_status` (transient ones after the
    /// configured retries), [`EsmeError::ResponseTimeout`], [`EsmeError::ConnectionLost`],
    /// [`EsmeError::NotBound`], [`EsmeError::Closed`], [`EsmeError::Encode`], ...
    pub async fn submit(&self, sms: &Sms) -> Result<String, EsmeError> {
        let mode = self.shared.config.bind_mode;
        if !mode.can_submit() {
            return Err(EsmeError::WrongBindMode(mode));
        }
        let body = Body::SubmitSm(Box::new(sms.to_short_message()));
        let retry = &self.shared.config.retry;
        let mut delay = retry.initial_delay;
        let mut attempt = 0;
        loop {
            let resp = self.request(body.clone()).await?;
            match (resp.command_status, resp.body) {
                (CommandStatus::Ok, Body::SubmitSmResp(id)) => return Ok(id.unwrap_or_default()),
                (status, Body::SubmitSmResp(_))
                    if matches!(
                        status,
                        CommandStatus::Throttled | CommandStatus::MessageQueueFull
                    ) && attempt < retry.max_retries =>
                {
                    tracing::debug!(%status, attempt, "submit_sm refused, retrying");
                    attempt += 1;
                    sleep(delay).await;
                    delay = (delay * 2).min(retry.max_delay);
                }
                (status, Body::SubmitSmResp(_)) => return Err(EsmeError::Status(status)),
                (status, Body::GenericNack) => return Err(EsmeError::GenericNack(status)),
                (_, other) => {
                    let id = Pdu::request(0, other).command_id();
                    return Err(EsmeError::UnexpectedResponse(id));
                }
            }
        }
    }

    /// Sends one request and waits for its response (within the window).
    async fn request(&self, body: Body) -> Result<Pdu, EsmeError> {
        let shared = &self.shared;
        let timeout_after = shared.config.response_timeout;
        let _permit = shared
            .window
            .acquire()
            .await
            .map_err(|_| EsmeError::Closed)?;
        let outbox = self.wait_bound(timeout_after).await?;
        let sequence_number = shared.next_sequence();
        let bytes = Pdu::request(sequence_number, body).encode()?;
        let (tx, rx) = oneshot::channel();
        shared.pending().insert(sequence_number, tx);
        if outbox.send(bytes).await.is_err() {
            shared.pending().remove(&sequence_number);
            return Err(EsmeError::ConnectionLost { sequence_number });
        }
        match timeout(timeout_after, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(EsmeError::ConnectionLost { sequence_number }),
            Err(_) => {
                shared.pending().remove(&sequence_number);
                Err(EsmeError::ResponseTimeout { sequence_number })
            }
        }
    }

    async fn wait_bound(&self, limit: Duration) -> Result<mpsc::Sender<Vec<u8>>, EsmeError> {
        let mut state = self.shared.state.subscribe();
        let wait = state.wait_for(|s| *s != LinkState::Reconnecting);
        let state = match timeout(limit, wait).await {
            Err(_) => return Err(EsmeError::NotBound),
            Ok(Err(_)) => return Err(EsmeError::Closed),
            Ok(Ok(s)) => *s,
        };
        if state != LinkState::Bound {
            return Err(EsmeError::Closed);
        }
        self.shared
            .outbox
            .borrow()
            .clone()
            .ok_or(EsmeError::NotBound)
    }

    /// The current link state.
    #[must_use]
    pub fn link_state(&self) -> LinkState {
        *self.shared.state.borrow()
    }

    /// Waits until the link is bound (e.g. after a reconnect), at most `limit`.
    ///
    /// # Errors
    /// [`EsmeError::NotBound`] on timeout, [`EsmeError::Closed`] if the client closed.
    pub async fn wait_bound_for(&self, limit: Duration) -> Result<(), EsmeError> {
        self.wait_bound(limit).await.map(|_| ())
    }

    /// Number of requests waiting for a response.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.shared.pending().len()
    }

    /// Graceful shutdown: drain outstanding requests, `unbind`, close. Returns when the
    /// session has ended (at most about three response timeouts).
    ///
    /// # Errors
    /// [`EsmeError::ResponseTimeout`] if the session did not end in time.
    pub async fn shutdown(&self) -> Result<(), EsmeError> {
        self.guard.shutdown.send_replace(true);
        let mut state = self.shared.state.subscribe();
        let limit = self.shared.config.response_timeout * 3;
        match timeout(limit, state.wait_for(|s| *s == LinkState::Closed)).await {
            Ok(_) => Ok(()),
            Err(_) => Err(EsmeError::ResponseTimeout { sequence_number: 0 }),
        }
    }
}

/// A bound connection.
struct Connection {
    inbound: mpsc::Receiver<Result<Inbound, ReadEnd>>,
    writer: OwnedWriteHalf,
}

async fn connect_and_bind(shared: &Shared) -> Result<Connection, EsmeError> {
    let cfg = &shared.config;
    let stream = match timeout(cfg.connect_timeout, TcpStream::connect(&cfg.server)).await {
        Err(_) => {
            return Err(EsmeError::ConnectTimeout {
                server: cfg.server.clone(),
            });
        }
        Ok(Err(source)) => {
            return Err(EsmeError::Connect {
                server: cfg.server.clone(),
                source,
            });
        }
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    let (read, mut writer) = stream.into_split();
    let mut inbound = spawn_reader(read);
    let sequence_number = shared.next_sequence();
    let bind = Pdu::request(
        sequence_number,
        Body::Bind(
            cfg.bind_mode,
            Bind {
                system_id: cfg.system_id.clone(),
                password: cfg.password.clone(),
                system_type: cfg.system_type.clone(),
                interface_version: INTERFACE_VERSION_34,
                address_range: cfg.address_range.clone(),
            },
        ),
    );
    write_bytes(&mut writer, &bind.encode()?).await?;
    let deadline = Instant::now() + cfg.response_timeout;
    loop {
        let item = match timeout(
            deadline.saturating_duration_since(Instant::now()),
            inbound.recv(),
        )
        .await
        {
            Err(_) => return Err(EsmeError::ResponseTimeout { sequence_number }),
            Ok(None) => return Err(EsmeError::ConnectionLost { sequence_number }),
            Ok(Some(item)) => item,
        };
        let pdu = match item {
            Ok(Inbound::Pdu(pdu)) => pdu,
            Ok(Inbound::Malformed { error, .. }) => return Err(EsmeError::Decode(error)),
            Err(ReadEnd::Io(e)) => return Err(EsmeError::Io(e)),
            Err(ReadEnd::BadLength { error, .. }) => return Err(EsmeError::Decode(error)),
            Err(ReadEnd::Eof | ReadEnd::Truncated { .. }) => {
                return Err(EsmeError::ConnectionLost { sequence_number });
            }
        };
        match pdu.body {
            Body::BindResp(..) | Body::GenericNack if pdu.sequence_number == sequence_number => {
                if pdu.command_status.is_ok() && matches!(pdu.body, Body::BindResp(..)) {
                    tracing::info!(server = %cfg.server, system_id = %cfg.system_id, "bound to SMSC");
                    return Ok(Connection { inbound, writer });
                }
                return Err(EsmeError::BindRejected(pdu.command_status));
            }
            Body::EnquireLink => {
                let resp = Pdu::response(
                    pdu.sequence_number,
                    CommandStatus::Ok,
                    Body::EnquireLinkResp,
                );
                write_pdu(&mut writer, &resp).await?;
            }
            other => {
                let id = Pdu::request(0, other).command_id();
                return Err(EsmeError::UnexpectedResponse(id));
            }
        }
    }
}

/// Completes once `rx` is `true` (or its sender is gone).
async fn signalled(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Why a connection's serve loop ended.
enum End {
    /// Shutdown requested and completed.
    Shutdown,
    /// The connection was lost.
    Lost,
}

/// Opens a new outbox for a freshly bound connection and marks the link bound.
fn publish(shared: &Shared) -> mpsc::Receiver<Vec<u8>> {
    let (outbox_tx, outbox_rx) = mpsc::channel(shared.config.window.max(1));
    shared.outbox.send_replace(Some(outbox_tx));
    shared.state.send_replace(LinkState::Bound);
    outbox_rx
}

async fn run_session(
    shared: Arc<Shared>,
    first: (Connection, mpsc::Receiver<Vec<u8>>),
    incoming: mpsc::Sender<Sms>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut next = Some(first);
    loop {
        let (conn, outbox_rx) = match next.take() {
            Some(first) => first,
            None => match reconnect(&shared, &mut shutdown).await {
                Some(c) => (c, publish(&shared)),
                None => break,
            },
        };
        let end = serve(&shared, conn, outbox_rx, &incoming, &mut shutdown).await;
        shared.outbox.send_replace(None);
        shared.fail_pending();
        match end {
            End::Shutdown => break,
            End::Lost => {
                if *shutdown.borrow() {
                    break;
                }
                tracing::warn!(server = %shared.config.server, "SMSC connection lost; reconnecting");
                shared.state.send_replace(LinkState::Reconnecting);
            }
        }
    }
    shared.outbox.send_replace(None);
    shared.fail_pending();
    shared.window.close();
    shared.state.send_replace(LinkState::Closed);
}

async fn reconnect(shared: &Shared, shutdown: &mut watch::Receiver<bool>) -> Option<Connection> {
    let policy = &shared.config.reconnect;
    let mut delay = policy.initial_delay;
    let mut attempts = 0u32;
    loop {
        tokio::select! {
            () = sleep(delay) => {}
            () = signalled(shutdown) => return None,
        }
        let attempt = tokio::select! {
            r = connect_and_bind(shared) => r,
            () = signalled(shutdown) => return None,
        };
        match attempt {
            Ok(c) => return Some(c),
            Err(e) => {
                attempts += 1;
                tracing::debug!(error = %e, attempts, "reconnect failed");
                if policy.max_attempts.is_some_and(|max| attempts >= max) {
                    tracing::warn!(attempts, "giving up reconnecting to SMSC");
                    return None;
                }
                delay = (delay * 2).min(policy.max_delay);
            }
        }
    }
}

/// Where the serve loop is in its life.
enum Phase {
    /// Normal operation.
    Serving,
    /// Shutdown requested: waiting for outstanding responses until the deadline.
    Draining(Instant),
    /// `unbind` sent: waiting for `unbind_resp`.
    Unbinding {
        sequence_number: u32,
        deadline: Instant,
    },
}

async fn serve(
    shared: &Shared,
    mut conn: Connection,
    mut outbox: mpsc::Receiver<Vec<u8>>,
    incoming: &mpsc::Sender<Sms>,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    let cfg = &shared.config;
    let mut phase = Phase::Serving;
    let mut next_enquire = Instant::now() + cfg.enquire_link_interval;
    // (sequence_number, deadline) of the enquire_link waiting for its response.
    let mut enquire: Option<(u32, Instant)> = None;
    loop {
        // Move on from draining once nothing is outstanding (or the deadline passed).
        if let Phase::Draining(deadline) = phase
            && (shared.pending().is_empty() || Instant::now() >= deadline)
        {
            let sequence_number = shared.next_sequence();
            if write_pdu(
                &mut conn.writer,
                &Pdu::request(sequence_number, Body::Unbind),
            )
            .await
            .is_err()
            {
                return End::Shutdown;
            }
            phase = Phase::Unbinding {
                sequence_number,
                deadline: Instant::now() + cfg.response_timeout,
            };
        }
        let timer = match (&phase, enquire) {
            (Phase::Unbinding { deadline, .. }, _) | (Phase::Draining(deadline), _) => *deadline,
            (Phase::Serving, Some((_, deadline))) => deadline,
            (Phase::Serving, None) => next_enquire,
        };
        let shutting_down = !matches!(phase, Phase::Serving);
        tokio::select! {
            item = conn.inbound.recv() => {
                let pdu = match item {
                    Some(Ok(Inbound::Pdu(pdu))) => pdu,
                    Some(Ok(Inbound::Malformed { header, error })) => {
                        tracing::warn!(%error, "malformed PDU from SMSC");
                        let nack = Pdu::response(header.sequence_number, error.status(), Body::GenericNack);
                        if write_pdu(&mut conn.writer, &nack).await.is_err() {
                            return End::Lost;
                        }
                        continue;
                    }
                    Some(Err(ReadEnd::BadLength { sequence_number, error })) => {
                        tracing::warn!(%error, "unframeable PDU from SMSC; closing");
                        let nack = Pdu::response(sequence_number, error.status(), Body::GenericNack);
                        let _ = write_pdu(&mut conn.writer, &nack).await;
                        return End::Lost;
                    }
                    Some(Err(_)) | None => {
                        return if shutting_down { End::Shutdown } else { End::Lost };
                    }
                };
                match handle_inbound(shared, &mut conn.writer, pdu, incoming, &mut enquire, &phase).await {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Unbound) => return if shutting_down { End::Shutdown } else { End::Lost },
                    Err(_) => return End::Lost,
                }
            }
            Some(bytes) = outbox.recv(), if matches!(phase, Phase::Serving | Phase::Draining(_)) => {
                if write_bytes(&mut conn.writer, &bytes).await.is_err() {
                    return End::Lost;
                }
            }
            () = sleep_until(timer) => {
                match phase {
                    Phase::Unbinding { .. } => return End::Shutdown,
                    Phase::Draining(_) => {} // handled at the top of the loop
                    Phase::Serving => {
                        if enquire.is_some() {
                            tracing::warn!("no enquire_link_resp in time; connection considered lost");
                            return End::Lost;
                        }
                        let sequence_number = shared.next_sequence();
                        if write_pdu(&mut conn.writer, &Pdu::request(sequence_number, Body::EnquireLink)).await.is_err() {
                            return End::Lost;
                        }
                        enquire = Some((sequence_number, Instant::now() + cfg.response_timeout));
                        next_enquire = Instant::now() + cfg.enquire_link_interval;
                    }
                }
            }
            () = signalled(shutdown), if !shutting_down => {
                shared.state.send_replace(LinkState::Closing);
                phase = Phase::Draining(Instant::now() + cfg.response_timeout);
            }
        }
    }
}

enum Flow {
    Continue,
    /// The peer unbound us, or answered our unbind.
    Unbound,
}

async fn handle_inbound(
    shared: &Shared,
    writer: &mut OwnedWriteHalf,
    pdu: Pdu,
    incoming: &mpsc::Sender<Sms>,
    enquire: &mut Option<(u32, Instant)>,
    phase: &Phase,
) -> std::io::Result<Flow> {
    let seq = pdu.sequence_number;
    match &pdu.body {
        Body::DeliverSm(sm) => {
            let status = if shared.config.bind_mode.can_receive() {
                match incoming.try_send(crate::sms::Sms::from_short_message(sm)) {
                    Ok(()) => CommandStatus::Ok,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        CommandStatus::ReceiverTemporaryError
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        CommandStatus::ReceiverPermanentError
                    }
                }
            } else {
                CommandStatus::InvalidBindStatus
            };
            let resp = Pdu::response(seq, status, Body::DeliverSmResp(Some(String::new())));
            write_pdu(writer, &resp).await?;
        }
        Body::EnquireLink => {
            write_pdu(
                writer,
                &Pdu::response(seq, CommandStatus::Ok, Body::EnquireLinkResp),
            )
            .await?;
        }
        Body::EnquireLinkResp if enquire.is_some_and(|(s, _)| s == seq) => *enquire = None,
        Body::Unbind => {
            tracing::info!("SMSC sent unbind");
            write_pdu(
                writer,
                &Pdu::response(seq, CommandStatus::Ok, Body::UnbindResp),
            )
            .await?;
            return Ok(Flow::Unbound);
        }
        Body::UnbindResp if matches!(phase, Phase::Unbinding { sequence_number, .. } if *sequence_number == seq) =>
        {
            return Ok(Flow::Unbound);
        }
        Body::Unknown { command_id, .. } if !crate::pdu::command_id::is_response(*command_id) => {
            let nack = Pdu::response(seq, CommandStatus::InvalidCommandId, Body::GenericNack);
            write_pdu(writer, &nack).await?;
        }
        Body::Bind(..) | Body::SubmitSm(..) => {
            let nack = Pdu::response(seq, CommandStatus::InvalidCommandId, Body::GenericNack);
            write_pdu(writer, &nack).await?;
        }
        _ => {
            // A response (or generic_nack) to one of our requests.
            let waiter = shared.pending().remove(&seq);
            match waiter {
                Some(w) => {
                    let _ = w.send(Ok(pdu));
                }
                None => {
                    tracing::debug!(seq, "response to no outstanding request (late or unknown)")
                }
            }
        }
    }
    Ok(Flow::Continue)
}
