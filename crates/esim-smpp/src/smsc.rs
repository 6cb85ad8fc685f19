//! An SMSC simulator: the server side of SMPP 3.4, for development, tests and the embedded
//! default deployment (DESIGN §3.3).
//!
//! - **Bind** (§4.1): `bind_transmitter` / `bind_receiver` / `bind_transceiver` are
//!   authenticated against [`Authentication::Accounts`] (`ESME_RINVSYSID` for an unknown
//!   `system_id`, `ESME_RINVPASWD` for a wrong password) or accepted as they come
//!   ([`Authentication::Open`]). A second bind on a bound session gets `ESME_RALYBND`;
//!   requests before bind get `ESME_RINVBNDSTS`. A connection that does not bind within
//!   [`SmscConfig::bind_timeout`] is closed.
//! - **Routing.** Each `submit_sm` (§4.4) is answered with `submit_sm_resp` carrying a fresh
//!   `message_id`, then delivered as `deliver_sm` (§4.6) to the receiver-capable session that
//!   owns the destination address, with `source`, `destination`, `esm_class` (UDHI),
//!   `protocol_id`, `data_coding`, `priority_flag`, `short_message` and TLVs copied
//!   byte-exact. The owner is found first in the configured [`Route`]s (exact MSISDN, then the
//!   longest prefix, naming a `system_id`), else among bound sessions by their bind
//!   `address_range` (see [`address_range_matches`]).
//! - **Store and forward.** Messages whose owner is not bound wait in a bounded queue
//!   ([`SmscConfig::queue_capacity`]; `ESME_RMSGQFUL` when full) and go out when it binds;
//!   messages older than [`SmscConfig::queue_expiry`] are discarded (counted as expired).
//!   Delivery is at-least-once: a `deliver_sm` that is unanswered within
//!   [`SmscConfig::response_timeout`], answered with a transient error
//!   (`ESME_RX_T_APPN`, `ESME_RTHROTTLED`, `ESME_RMSGQFUL`) or outstanding when the session
//!   ends is routed again; a permanent error drops it.
//! - **Windowing.** At most [`SmscConfig::delivery_window`] `deliver_sm`s are outstanding per
//!   session.
//! - **Impairments** ([`Impairments`], for tests): fixed latency plus uniform jitter before
//!   routing, loss and duplication probabilities (after `submit_sm_resp`, so the submitter
//!   sees success), and a throughput limit (token bucket, `ESME_RTHROTTLED` beyond it).
//!   Random decisions come from a generator seeded by [`SmscConfig::seed`].
//! - **Session upkeep**: `enquire_link` is answered (§4.11); `unbind` is answered and the
//!   connection closed (§4.2); unknown commands get `generic_nack` / `ESME_RINVCMDID`, bodies
//!   that do not decode get `generic_nack` with the matching status (§4.3); an impossible
//!   `command_length` gets `generic_nack` / `ESME_RINVCMDLEN` and the connection is closed,
//!   since the stream cannot be re-synchronised. One bad client never affects the others.
//! - **Shutdown**: when the `shutdown` future completes the listener closes, every bound
//!   session is sent `unbind` and given a second to answer, then [`run`] returns.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until};

use crate::pdu::{
    Address, Bind, BindMode, BindResp, Body, INTERFACE_VERSION_34, Password, Pdu, ShortMessage,
    Tlv, tag,
};
use crate::rng::SplitMix64;
use crate::status::CommandStatus;
use crate::transport::{Inbound, ReadEnd, spawn_reader, write_pdu};

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmscError {
    /// A configuration value is out of range.
    #[error("invalid SMSC configuration: {field}: {reason}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The listener failed in a way that is not transient.
    #[error("SMSC listener error: {0}")]
    Io(#[from] std::io::Error),
}

/// One ESME account.
#[derive(Debug, Clone)]
pub struct Account {
    /// `system_id` the ESME binds with.
    pub system_id: String,
    /// Its password (compared in constant time).
    pub password: Password,
}

/// How binds are authenticated.
#[derive(Debug, Clone, Default)]
pub enum Authentication {
    /// Any `system_id` / password is accepted.
    #[default]
    Open,
    /// Only these accounts.
    Accounts(Vec<Account>),
}

/// Which destination addresses a route covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutePattern {
    /// Exactly this address (e.g. an MSISDN).
    Exact(String),
    /// Every address starting with this prefix.
    Prefix(String),
}

/// A static route: destination addresses → the `system_id` whose sessions receive them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The addresses.
    pub pattern: RoutePattern,
    /// The ESME `system_id` that serves them.
    pub system_id: String,
}

/// Network impairments for tests.
#[derive(Debug, Clone, Default)]
pub struct Impairments {
    /// Fixed delay between `submit_sm` acceptance and routing.
    pub latency: Duration,
    /// Additional uniformly distributed delay in `[0, jitter)`.
    pub jitter: Duration,
    /// Probability in `[0, 1]` that an accepted message is silently lost.
    pub loss: f64,
    /// Probability in `[0, 1]` that an accepted message is delivered twice.
    pub duplication: f64,
    /// Accepted `submit_sm` per second over the whole SMSC (burst of one second's worth);
    /// beyond it `ESME_RTHROTTLED`. `None`: unlimited.
    pub max_messages_per_second: Option<u32>,
}

/// Simulator configuration.
#[derive(Debug, Clone)]
pub struct SmscConfig {
    /// `system_id` returned in `bind_*_resp`.
    pub system_id: String,
    /// Bind authentication.
    pub authentication: Authentication,
    /// Static routes (checked before bind address ranges).
    pub routes: Vec<Route>,
    /// Maximum messages waiting for their ESME.
    pub queue_capacity: usize,
    /// How long a message may wait for its ESME.
    pub queue_expiry: Duration,
    /// Maximum outstanding `deliver_sm` per session.
    pub delivery_window: usize,
    /// How long to wait for a `deliver_sm_resp`.
    pub response_timeout: Duration,
    /// How long a new connection may take to bind.
    pub bind_timeout: Duration,
    /// Impairments.
    pub impairments: Impairments,
    /// Seed of the impairment generator.
    pub seed: u64,
}

impl Default for SmscConfig {
    fn default() -> Self {
        Self {
            system_id: "esim-smsc".into(),
            authentication: Authentication::Open,
            routes: Vec::new(),
            queue_capacity: 10_000,
            queue_expiry: Duration::from_secs(24 * 3600),
            delivery_window: 10,
            response_timeout: Duration::from_secs(10),
            bind_timeout: Duration::from_secs(30),
            impairments: Impairments::default(),
            seed: 0,
        }
    }
}

impl SmscConfig {
    fn validate(&self) -> Result<(), SmscError> {
        let bad = |field, reason| Err(SmscError::InvalidConfig { field, reason });
        let im = &self.impairments;
        if !(0.0..=1.0).contains(&im.loss) {
            return bad("impairments.loss", "must be within 0..=1");
        }
        if !(0.0..=1.0).contains(&im.duplication) {
            return bad("impairments.duplication", "must be within 0..=1");
        }
        if im.max_messages_per_second == Some(0) {
            return bad("impairments.max_messages_per_second", "must be at least 1");
        }
        if self.delivery_window == 0 {
            return bad("delivery_window", "must be at least 1");
        }
        if self.system_id.len() > 15 || !self.system_id.is_ascii() {
            return bad("system_id", "at most 15 ASCII characters");
        }
        Ok(())
    }
}

/// Counters since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// `submit_sm` accepted (answered `ESME_ROK`).
    pub submitted: u64,
    /// `deliver_sm` acknowledged with `ESME_ROK`.
    pub delivered: u64,
    /// Messages dropped: loss impairment, queue overflow after acceptance, permanent
    /// delivery errors.
    pub dropped: u64,
    /// Extra copies made by the duplication impairment.
    pub duplicated: u64,
    /// `submit_sm` answered `ESME_RTHROTTLED`.
    pub throttled: u64,
    /// Messages discarded after waiting longer than the queue expiry.
    pub expired: u64,
    /// `deliver_sm` routed again (transient error, timeout, session lost).
    pub redelivered: u64,
    /// Messages waiting for their ESME now.
    pub queued: u64,
    /// Sessions bound now.
    pub bound_sessions: u64,
    /// Session tasks that panicked (a bug: always expected to be 0).
    pub session_panics: u64,
}

#[derive(Debug, Default)]
struct Metrics {
    submitted: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    throttled: AtomicU64,
    expired: AtomicU64,
    redelivered: AtomicU64,
    bound_sessions: AtomicU64,
    session_panics: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A message on its way to an ESME.
#[derive(Debug, Clone)]
struct Message {
    message_id: String,
    /// The `deliver_sm` body.
    sm: Box<ShortMessage>,
    accepted_at: Instant,
}

#[derive(Debug)]
struct SessionEntry {
    system_id: String,
    address_range: Address,
    tx: mpsc::UnboundedSender<Message>,
}

#[derive(Debug, Default)]
struct Routing {
    sessions: HashMap<u64, SessionEntry>,
    queue: VecDeque<Message>,
}

#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
struct Core {
    config: SmscConfig,
    metrics: Metrics,
    rng: Mutex<SplitMix64>,
    bucket: Mutex<TokenBucket>,
    routing: Mutex<Routing>,
    next_session: AtomicU64,
    next_message: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether a bind `address_range` covers `address`.
///
/// SMPP v3.4 §5.2.7 makes `address_range` a UNIX regular expression; the simulator honours
/// the forms ESMEs use in practice: an exact address (`447700900001`), a prefix with a
/// trailing `*` or `.*` (`44770*`), optionally anchored with `^` and/or ending in `$`.
/// An empty range covers nothing. (docs/spec-choices.md)
#[must_use]
pub fn address_range_matches(range: &str, address: &str) -> bool {
    let r = range.strip_prefix('^').unwrap_or(range);
    let r = r.strip_suffix('$').unwrap_or(r);
    if let Some(prefix) = r.strip_suffix(".*").or_else(|| r.strip_suffix('*')) {
        return address.starts_with(prefix);
    }
    !r.is_empty() && r == address
}

impl Routing {
    /// The session that should receive a message for `dest`.
    fn owner(&self, routes: &[Route], dest: &str) -> Option<u64> {
        let exact = routes
            .iter()
            .find(|r| r.pattern == RoutePattern::Exact(dest.to_owned()));
        let routed = exact.or_else(|| {
            routes
                .iter()
                .filter(|r| matches!(&r.pattern, RoutePattern::Prefix(p) if dest.starts_with(p.as_str())))
                .max_by_key(|r| match &r.pattern {
                    RoutePattern::Prefix(p) => p.len(),
                    RoutePattern::Exact(_) => 0,
                })
        });
        if let Some(route) = routed {
            return self
                .sessions
                .iter()
                .filter(|(_, s)| s.system_id == route.system_id)
                .map(|(id, _)| *id)
                .min();
        }
        // Bind address ranges: an exact range beats a prefix, a longer prefix a shorter one.
        self.sessions
            .iter()
            .filter(|(_, s)| address_range_matches(&s.address_range.address, dest))
            .max_by_key(|(id, s)| {
                let exact = s.address_range.address == dest;
                (
                    exact,
                    s.address_range.address.len(),
                    std::cmp::Reverse(**id),
                )
            })
            .map(|(id, _)| *id)
    }
}

impl Core {
    fn route(&self, msg: Message) {
        let mut routing = lock(&self.routing);
        let dest = msg.sm.destination.address.clone();
        let msg = match routing.owner(&self.config.routes, &dest) {
            Some(id) => match routing.sessions.get(&id).map(|s| s.tx.send(msg)) {
                Some(Ok(())) => return,
                Some(Err(mpsc::error::SendError(m))) => {
                    routing.sessions.remove(&id);
                    m
                }
                None => return,
            },
            None => msg,
        };
        if routing.queue.len() >= self.config.queue_capacity {
            tracing::warn!(dest = %dest, "SMSC queue full; message dropped");
            bump(&self.metrics.dropped);
        } else {
            tracing::debug!(dest = %dest, "no ESME bound for destination; queued");
            routing.queue.push_back(msg);
        }
    }

    /// `true` if a message for `dest` would have to be queued and the queue is full.
    fn queue_full_for(&self, dest: &str) -> bool {
        let routing = lock(&self.routing);
        routing.owner(&self.config.routes, dest).is_none()
            && routing.queue.len() >= self.config.queue_capacity
    }

    fn expire(&self, routing: &mut Routing) {
        let expiry = self.config.queue_expiry;
        let before = routing.queue.len();
        routing.queue.retain(|m| m.accepted_at.elapsed() < expiry);
        for _ in routing.queue.len()..before {
            bump(&self.metrics.expired);
        }
    }

    fn sweep(&self) {
        let mut routing = lock(&self.routing);
        self.expire(&mut routing);
    }

    /// Registers a receiver-capable session and hands it the queued messages it owns.
    fn register(&self, id: u64, entry: SessionEntry) {
        let mut routing = lock(&self.routing);
        routing.sessions.insert(id, entry);
        self.expire(&mut routing);
        let queue = std::mem::take(&mut routing.queue);
        for msg in queue {
            let owner = routing.owner(&self.config.routes, &msg.sm.destination.address);
            match owner.and_then(|o| routing.sessions.get(&o)) {
                Some(s) if owner == Some(id) => {
                    let _ = s.tx.send(msg);
                }
                _ => routing.queue.push_back(msg),
            }
        }
    }

    fn unregister(&self, id: u64) {
        lock(&self.routing).sessions.remove(&id);
    }

    /// Token bucket: `true` if one more `submit_sm` may be accepted now.
    fn admit(&self) -> bool {
        let Some(rate) = self.config.impairments.max_messages_per_second else {
            return true;
        };
        let rate = f64::from(rate);
        let mut b = lock(&self.bucket);
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(rate);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Applies the impairments to an accepted message, then routes it.
    fn accept(self: &Arc<Self>, msg: Message) {
        let im = &self.config.impairments;
        let (lost, duplicate, delays) = {
            let mut rng = lock(&self.rng);
            let lost = rng.chance(im.loss);
            let duplicate = !lost && rng.chance(im.duplication);
            let mut delay = || im.latency + im.jitter.mul_f64(rng.next_f64());
            let delays = [delay(), delay()];
            (lost, duplicate, delays)
        };
        if lost {
            tracing::debug!(id = %msg.message_id, "impairment: message lost");
            bump(&self.metrics.dropped);
            return;
        }
        let copies = if duplicate {
            bump(&self.metrics.duplicated);
            2
        } else {
            1
        };
        for delay in delays.into_iter().take(copies) {
            let msg = msg.clone();
            if delay.is_zero() {
                self.route(msg);
            } else {
                let core = Arc::clone(self);
                tokio::spawn(async move {
                    sleep(delay).await;
                    core.route(msg);
                });
            }
        }
    }

    /// Routes a message again after a delivery failure.
    fn redeliver(self: &Arc<Self>, msg: Message, after: Duration) {
        bump(&self.metrics.redelivered);
        let core = Arc::clone(self);
        tokio::spawn(async move {
            sleep(after).await;
            core.route(msg);
        });
    }

    fn authenticate(&self, bind: &Bind) -> CommandStatus {
        match &self.config.authentication {
            Authentication::Open => CommandStatus::Ok,
            Authentication::Accounts(accounts) => {
                match accounts.iter().find(|a| a.system_id == bind.system_id) {
                    None => CommandStatus::InvalidSystemId,
                    Some(a) if a.password == bind.password => CommandStatus::Ok,
                    Some(_) => CommandStatus::InvalidPassword,
                }
            }
        }
    }
}

/// The SMSC simulator; cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct Smsc {
    core: Arc<Core>,
}

impl Smsc {
    /// A simulator with this configuration.
    ///
    /// # Errors
    /// [`SmscError::InvalidConfig`] for out-of-range values.
    pub fn new(config: SmscConfig) -> Result<Self, SmscError> {
        config.validate()?;
        let rate = config
            .impairments
            .max_messages_per_second
            .map_or(0.0, f64::from);
        Ok(Self {
            core: Arc::new(Core {
                rng: Mutex::new(SplitMix64::new(config.seed)),
                bucket: Mutex::new(TokenBucket {
                    tokens: rate,
                    last: Instant::now(),
                }),
                config,
                metrics: Metrics::default(),
                routing: Mutex::new(Routing::default()),
                next_session: AtomicU64::new(1),
                next_message: AtomicU64::new(1),
            }),
        })
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn metrics(&self) -> MetricsSnapshot {
        let m = &self.core.metrics;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            submitted: get(&m.submitted),
            delivered: get(&m.delivered),
            dropped: get(&m.dropped),
            duplicated: get(&m.duplicated),
            throttled: get(&m.throttled),
            expired: get(&m.expired),
            redelivered: get(&m.redelivered),
            queued: lock(&self.core.routing).queue.len() as u64,
            bound_sessions: get(&m.bound_sessions),
            session_panics: get(&m.session_panics),
        }
    }

    /// Serves ESMEs on `listener` until `shutdown` completes.
    ///
    /// # Errors
    /// None at present beyond configuration errors caught by [`Smsc::new`]; transient
    /// `accept` errors are logged and retried.
    pub async fn run(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), SmscError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut sessions = JoinSet::new();
        let sweep_every = (self.core.config.queue_expiry / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut sweep = tokio::time::interval(sweep_every);
        tokio::pin!(shutdown);
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "SMSC simulator listening");
        }
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        tracing::debug!(%peer, "ESME connected");
                        let core = Arc::clone(&self.core);
                        sessions.spawn(session(core, stream, stop_rx.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = sweep.tick() => self.core.sweep(),
                Some(joined) = sessions.join_next(), if !sessions.is_empty() => {
                    if let Err(e) = joined && e.is_panic() {
                        tracing::error!("SMSC session task panicked");
                        bump(&self.core.metrics.session_panics);
                    }
                }
            }
        }
        drop(listener);
        stop_tx.send_replace(true);
        let metrics = &self.core.metrics;
        let count_panic = |joined: Result<(), tokio::task::JoinError>| {
            if let Err(e) = joined
                && e.is_panic()
            {
                bump(&metrics.session_panics);
            }
        };
        let grace = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(joined) = sessions.join_next().await {
                count_panic(joined);
            }
        });
        if grace.await.is_err() {
            sessions.abort_all();
            while let Some(joined) = sessions.join_next().await {
                count_panic(joined);
            }
        }
        tracing::info!("SMSC simulator stopped");
        Ok(())
    }
}

/// The project's service signature: serve ESMEs on `listener` until `shutdown` completes.
///
/// # Errors
/// [`SmscError::InvalidConfig`].
pub async fn run(
    config: SmscConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SmscError> {
    Smsc::new(config)?.run(listener, shutdown).await
}

/// What a session waits for.
enum State {
    /// Connected, waiting for a bind until the deadline.
    Open(Instant),
    /// Bound.
    Bound(Bound),
    /// `unbind` sent at shutdown: waiting for `unbind_resp` until the deadline.
    Unbinding(Instant),
}

struct Bound {
    mode: BindMode,
    /// Receiver-capable sessions: the id under which they are registered and their queue.
    delivery: Option<(u64, mpsc::UnboundedReceiver<Message>)>,
}

struct Session {
    core: Arc<Core>,
    writer: OwnedWriteHalf,
    next_sequence: u32,
    /// Outstanding `deliver_sm`: sequence → (message, deadline).
    outstanding: HashMap<u32, (Message, Instant)>,
}

impl Session {
    fn sequence(&mut self) -> u32 {
        self.next_sequence = self.next_sequence % 0x7FFF_FFFF + 1;
        self.next_sequence
    }

    async fn send(&mut self, pdu: &Pdu) -> std::io::Result<()> {
        write_pdu(&mut self.writer, pdu).await
    }

    async fn nack(&mut self, sequence_number: u32, status: CommandStatus) -> std::io::Result<()> {
        self.send(&Pdu::response(sequence_number, status, Body::GenericNack))
            .await
    }
}

async fn session(core: Arc<Core>, stream: TcpStream, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let (read, writer) = stream.into_split();
    let mut inbound = spawn_reader(read);
    let mut s = Session {
        core: Arc::clone(&core),
        writer,
        next_sequence: 0,
        outstanding: HashMap::new(),
    };
    let mut state = State::Open(Instant::now() + core.config.bind_timeout);
    let result = serve(&mut s, &mut state, &mut inbound, &mut stop).await;
    if let Err(e) = result {
        tracing::debug!(?peer, error = %e, "ESME session ended with an error");
    }
    // Hand back whatever was not acknowledged.
    let mut leftovers: Vec<Message> = s.outstanding.drain().map(|(_, (m, _))| m).collect();
    if matches!(state, State::Bound(_) | State::Unbinding(_)) {
        core.metrics.bound_sessions.fetch_sub(1, Ordering::Relaxed);
    }
    if let State::Bound(Bound {
        delivery: Some((id, mut rx)),
        ..
    }) = state
    {
        core.unregister(id);
        while let Ok(m) = rx.try_recv() {
            leftovers.push(m);
        }
    }
    for m in leftovers {
        core.redeliver(m, Duration::ZERO);
    }
    tracing::debug!(?peer, "ESME disconnected");
}

async fn serve(
    s: &mut Session,
    state: &mut State,
    inbound: &mut mpsc::Receiver<Result<Inbound, ReadEnd>>,
    stop: &mut watch::Receiver<bool>,
) -> std::io::Result<()> {
    let window = s.core.config.delivery_window;
    loop {
        let deadline = match state {
            State::Open(d) | State::Unbinding(d) => Some(*d),
            State::Bound(_) => s.outstanding.values().map(|(_, d)| *d).min(),
        };
        let can_deliver = s.outstanding.len() < window;
        let stopping = matches!(state, State::Unbinding(_));
        let delivery_rx = match state {
            State::Bound(Bound {
                delivery: Some((_, rx)),
                ..
            }) => Some(rx),
            _ => None,
        };
        tokio::select! {
            item = inbound.recv() => {
                let pdu = match item {
                    Some(Ok(Inbound::Pdu(pdu))) => pdu,
                    Some(Ok(Inbound::Malformed { header, error })) => {
                        tracing::warn!(%error, "malformed PDU from ESME");
                        s.nack(header.sequence_number, error.status()).await?;
                        continue;
                    }
                    Some(Err(ReadEnd::BadLength { sequence_number, error })) => {
                        tracing::warn!(%error, "unframeable PDU from ESME; closing");
                        s.nack(sequence_number, error.status()).await?;
                        return Ok(());
                    }
                    Some(Err(ReadEnd::Io(e))) => return Err(e),
                    Some(Err(ReadEnd::Truncated { got })) => {
                        tracing::debug!(got, "ESME closed the connection inside a PDU");
                        return Ok(());
                    }
                    Some(Err(ReadEnd::Eof)) | None => return Ok(()),
                };
                if !handle(s, state, pdu).await? {
                    return Ok(());
                }
            }
            Some(msg) = recv_opt(delivery_rx), if can_deliver && !stopping => {
                let seq = s.sequence();
                let pdu = Pdu::request(seq, Body::DeliverSm(msg.sm.clone()));
                let deadline = Instant::now() + s.core.config.response_timeout;
                s.outstanding.insert(seq, (msg, deadline));
                s.send(&pdu).await?;
            }
            () = sleep_until_opt(deadline) => {
                match state {
                    State::Open(_) => {
                        tracing::debug!("no bind in time; closing");
                        return Ok(());
                    }
                    State::Unbinding(_) => return Ok(()),
                    State::Bound(_) => {
                        let now = Instant::now();
                        let expired: Vec<u32> = s.outstanding.iter().filter(|(_, (_, d))| *d <= now).map(|(k, _)| *k).collect();
                        for seq in expired {
                            if let Some((m, _)) = s.outstanding.remove(&seq) {
                                tracing::debug!(id = %m.message_id, "deliver_sm_resp timed out; redelivering");
                                s.core.redeliver(m, Duration::ZERO);
                            }
                        }
                    }
                }
            }
            () = signalled(stop), if !stopping => {
                if matches!(state, State::Bound(_)) {
                    let seq = s.sequence();
                    s.send(&Pdu::request(seq, Body::Unbind)).await?;
                    // Keep the delivery registration until the session ends so that the
                    // cleanup hands queued messages back.
                    let old = std::mem::replace(state, State::Unbinding(Instant::now() + Duration::from_secs(1)));
                    if let State::Bound(Bound { delivery: Some((id, mut rx)), .. }) = old {
                        s.core.unregister(id);
                        while let Ok(m) = rx.try_recv() {
                            s.core.route(m);
                        }
                    }
                } else {
                    return Ok(());
                }
            }
        }
    }
}

async fn signalled(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

async fn recv_opt(rx: Option<&mut mpsc::UnboundedReceiver<Message>>) -> Option<Message> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Handles one PDU from the ESME; `Ok(false)` ends the session.
async fn handle(s: &mut Session, state: &mut State, pdu: Pdu) -> std::io::Result<bool> {
    let seq = pdu.sequence_number;
    match pdu.body {
        Body::Bind(mode, bind) => {
            let resp = |status: CommandStatus, system_id: Option<String>| {
                let tlvs = if system_id.is_some() {
                    vec![Tlv {
                        tag: tag::SC_INTERFACE_VERSION,
                        value: vec![INTERFACE_VERSION_34],
                    }]
                } else {
                    Vec::new()
                };
                Pdu::response(
                    seq,
                    status,
                    Body::BindResp(mode, BindResp { system_id, tlvs }),
                )
            };
            if !matches!(state, State::Open(_)) {
                s.send(&resp(CommandStatus::AlreadyBound, None)).await?;
                return Ok(true);
            }
            let status = s.core.authenticate(&bind);
            if !status.is_ok() {
                tracing::info!(system_id = %bind.system_id, %status, "bind refused");
                s.send(&resp(status, None)).await?;
                return Ok(true);
            }
            let delivery = if mode.can_receive() {
                let id = s.core.next_session.fetch_add(1, Ordering::Relaxed);
                let (tx, rx) = mpsc::unbounded_channel();
                s.core.register(
                    id,
                    SessionEntry {
                        system_id: bind.system_id.clone(),
                        address_range: bind.address_range.clone(),
                        tx,
                    },
                );
                Some((id, rx))
            } else {
                None
            };
            bump(&s.core.metrics.bound_sessions);
            *state = State::Bound(Bound { mode, delivery });
            tracing::info!(system_id = %bind.system_id, ?mode, range = %bind.address_range.address, "ESME bound");
            s.send(&resp(
                CommandStatus::Ok,
                Some(s.core.config.system_id.clone()),
            ))
            .await?;
        }
        Body::SubmitSm(sm) => {
            let status = match state {
                State::Bound(b) if b.mode.can_submit() => submit_status(&s.core, &sm),
                _ => CommandStatus::InvalidBindStatus,
            };
            if !status.is_ok() {
                if status == CommandStatus::Throttled {
                    bump(&s.core.metrics.throttled);
                }
                s.send(&Pdu::response(seq, status, Body::SubmitSmResp(None)))
                    .await?;
                return Ok(true);
            }
            let n = s.core.next_message.fetch_add(1, Ordering::Relaxed);
            let message_id = format!("{n:08X}");
            bump(&s.core.metrics.submitted);
            s.send(&Pdu::response(
                seq,
                CommandStatus::Ok,
                Body::SubmitSmResp(Some(message_id.clone())),
            ))
            .await?;
            let deliver = ShortMessage {
                schedule_delivery_time: String::new(),
                validity_period: String::new(),
                registered_delivery: 0,
                replace_if_present_flag: 0,
                sm_default_msg_id: 0,
                ..*sm
            };
            s.core.accept(Message {
                message_id,
                sm: Box::new(deliver),
                accepted_at: Instant::now(),
            });
        }
        Body::DeliverSmResp(_) | Body::GenericNack => {
            if let Some((msg, _)) = s.outstanding.remove(&seq) {
                let status = pdu.command_status;
                if status.is_ok() && !matches!(pdu.body, Body::GenericNack) {
                    bump(&s.core.metrics.delivered);
                } else if status.is_transient() {
                    tracing::debug!(id = %msg.message_id, %status, "deliver_sm refused for now; redelivering");
                    s.core.redeliver(msg, Duration::from_millis(100));
                } else {
                    tracing::info!(id = %msg.message_id, %status, "deliver_sm refused; dropped");
                    bump(&s.core.metrics.dropped);
                }
            }
        }
        Body::EnquireLink => {
            s.send(&Pdu::response(
                seq,
                CommandStatus::Ok,
                Body::EnquireLinkResp,
            ))
            .await?;
        }
        Body::Unbind => {
            s.send(&Pdu::response(seq, CommandStatus::Ok, Body::UnbindResp))
                .await?;
            return Ok(false);
        }
        Body::UnbindResp => {
            if matches!(state, State::Unbinding(_)) {
                return Ok(false);
            }
        }
        Body::EnquireLinkResp | Body::BindResp(..) | Body::SubmitSmResp(_) => {}
        Body::DeliverSm(_) => s.nack(seq, CommandStatus::InvalidCommandId).await?,
        Body::Unknown { command_id, .. } => {
            if !crate::pdu::command_id::is_response(command_id) {
                s.nack(seq, CommandStatus::InvalidCommandId).await?;
            }
        }
    }
    Ok(true)
}

fn submit_status(core: &Core, sm: &ShortMessage) -> CommandStatus {
    if sm.destination.address.is_empty() {
        return CommandStatus::InvalidDestinationAddress;
    }
    if !core.admit() {
        return CommandStatus::Throttled;
    }
    if core.queue_full_for(&sm.destination.address) {
        return CommandStatus::MessageQueueFull;
    }
    CommandStatus::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_ranges() {
        assert!(address_range_matches("447700900001", "447700900001"));
        assert!(!address_range_matches("447700900001", "4477009000011"));
        assert!(address_range_matches("44770*", "447700900001"));
        assert!(address_range_matches("^44770.*", "447700900001"));
        assert!(address_range_matches("^447700900001$", "447700900001"));
        assert!(!address_range_matches("44771*", "447700900001"));
        assert!(!address_range_matches("", "447700900001"));
        assert!(address_range_matches("*", "447700900001"));
    }

    #[test]
    fn routing_prefers_routes_then_exact_then_longest_prefix() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let entry = |system_id: &str, range: &str| SessionEntry {
            system_id: system_id.into(),
            address_range: Address::international(range),
            tx: tx.clone(),
        };
        let mut r = Routing::default();
        r.sessions.insert(1, entry("a", "44*"));
        r.sessions.insert(2, entry("b", "447700*"));
        r.sessions.insert(3, entry("c", "447700900001"));
        assert_eq!(r.owner(&[], "447700900001"), Some(3));
        assert_eq!(r.owner(&[], "447700900002"), Some(2));
        assert_eq!(r.owner(&[], "440000000000"), Some(1));
        assert_eq!(r.owner(&[], "330000000000"), None);
        let routes = vec![
            Route {
                pattern: RoutePattern::Prefix("4477".into()),
                system_id: "a".into(),
            },
            Route {
                pattern: RoutePattern::Exact("447700900002".into()),
                system_id: "z".into(),
            },
        ];
        assert_eq!(r.owner(&routes, "447700900001"), Some(1));
        // Routed to a system_id that is not bound: no owner (the message waits).
        assert_eq!(r.owner(&routes, "447700900002"), None);
    }

    #[test]
    fn config_is_validated() {
        let mut c = SmscConfig::default();
        c.impairments.loss = 1.5;
        assert!(matches!(
            Smsc::new(c),
            Err(SmscError::InvalidConfig {
                field: "impairments.loss",
                ..
            })
        ));
        let c = SmscConfig {
            delivery_window: 0,
            ..SmscConfig::default()
        };
        assert!(Smsc::new(c).is_err());
    }
}
