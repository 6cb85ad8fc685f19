//! The ES5 delivery: the async adapter around the sans-I/O engine `esim_proto::es5::Channel`
//! (SGP.02 §2.7, §3.3, §5; digest §2.7, §3.3, §5.1–5.3).
//!
//! - [`Delivery::execute`] persists a job in the eUICC's queue (`esim_store::QueueStore`, payload
//!   = JSON `{step, job}`), or attaches to the queued command with the same operation and step,
//!   then waits for its outcome.
//! - One worker task per eUICC claims the queue head with a lease, feeds it to the eUICC's
//!   `Channel` (one command at a time), sends what the channel asks over SMPP, feeds PoRs and
//!   notifications back, and acknowledges / fails / retries / expires the command in the store
//!   before waking the waiters. A command whose holder died is claimed again once its lease ran
//!   out, under a fresh SCP80 counter (allocated from the store before the channel sees it).
//! - A scanner expires commands past their ValidityPeriod and claims commands nobody is
//!   working on (left by a previous process, or due again after a back-off); a worker with
//!   nothing to do for [`DeliveryConfig::worker_idle_ms`] ends.
//! - SCP81: the `https` module serves the admin sessions the trigger opens.
//! - Notifications (SMS or HTTPS `?msg=`) go to the [`NotificationSink`]; once it accepted one,
//!   the `3A08` confirmation is queued like any job (SMS) or answered in the session (HTTPS).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use esim_apdu::apdu::CommandApdu;
use esim_apdu::gp::sgp02::{Es5Command, Notification};
use esim_apdu::sms::{
    Address as SmsAddress, AddressValue, Alphabet, PacketKind, Reassembler, ReassemblyLimits,
    UserData,
};
use esim_codec::Eid;
use esim_crypto::scp80::Counter;
use esim_proto::es5::{
    self, Action, AdminScript, Channel, CounterSource, CounterSourceError, FailureReason, Payload,
    Target, Transport,
};
use esim_smpp::{Address, Esme, EsmeConfig, EsmeHandle, Incoming, Sms};
use esim_store::{
    CommandStatus, KeysetKind, KeysetRecord, NewCommand, OperationId, QueuedCommand, Sealer, Store,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use super::config::{DeliveryConfig, TransportKind};
use super::{
    DeliveryError, Es5Executor, Es5Job, Es5Outcome, JobPayload, JobTarget, NotificationSink,
};

/// The eUICC additional property naming its MSISDN when no Profile record has one
/// (docs/spec-choices.md).
pub const MSISDN_PROPERTY: &str = "msisdn";
/// The eUICC additional property choosing its ES5 transport (`sms` / `https`).
pub const TRANSPORT_PROPERTY: &str = "es5-transport";
/// Step prefix of the `3A08` confirmations the delivery queues itself.
pub const CONFIRMATION_STEP: &str = "notification-confirmation/";

/// Outcomes kept in memory for late attachers.
const KEPT_OUTCOMES: usize = 1024;

/// The queued command's payload: the job and its step.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Envelope {
    step: String,
    job: Es5Job,
}

/// Listening sockets of the delivery.
#[derive(Debug, Default)]
pub struct DeliveryListeners {
    /// The SCP81 (PSK-TLS) listener; required for eUICCs using HTTPS.
    pub https: Option<TcpListener>,
}

/// Why [`Delivery::run`] could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The SMSC refused or could not be reached.
    #[error("SMPP: {0}")]
    Smpp(#[from] esim_smpp::EsmeError),
    /// The SCP81 server could not start.
    #[error("SCP81 server: {0}")]
    Https(String),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// `run` was called twice at the same time.
    #[error("the delivery is already running")]
    AlreadyRunning,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn now_ts() -> Timestamp {
    Timestamp(i64::try_from(now_ms()).unwrap_or(i64::MAX))
}

fn ts_ms(t: Timestamp) -> u64 {
    u64::try_from(t.0).unwrap_or(0)
}

fn ms_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Hands out the one counter allocated (and persisted) in the store before the channel is
/// called; a second request fails (the engine then reports the command failed).
struct PreAllocated(Option<Counter>);

impl CounterSource for PreAllocated {
    fn allocate(&mut self, _eid: &Eid, _kvn: u8) -> Result<Counter, CounterSourceError> {
        self.0
            .take()
            .ok_or_else(|| CounterSourceError("no counter pre-allocated".into()))
    }
}

/// Messages to an eUICC's worker.
pub(crate) enum WorkerMsg {
    /// Look at the queue.
    Wake,
    /// A command claimed by the scanner.
    Claimed(QueuedCommand),
    /// An MO short message (reassembled, UDH `02 70 00` / `02 71 00` in front).
    Sms(Vec<u8>),
    /// A `POST` of an admin session: the opening one (`result: None`) or a script result.
    SessionPost {
        result: Option<(es5::ScriptStatus, Vec<u8>)>,
        reply: oneshot::Sender<Option<AdminScript>>,
    },
    /// The admin session ended.
    SessionClosed,
}

struct Running {
    esme: EsmeHandle,
    workers: HashMap<Eid, mpsc::UnboundedSender<WorkerMsg>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Default)]
struct Outcomes {
    slots: HashMap<i64, watch::Sender<Option<Es5Outcome>>>,
    finished: VecDeque<i64>,
}

pub(crate) struct Inner {
    pub(crate) config: DeliveryConfig,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) sealer: Arc<dyn Sealer>,
    pub(crate) sink: Arc<dyn NotificationSink>,
    holder: String,
    outcomes: Mutex<Outcomes>,
    running: Mutex<Option<Running>>,
    stop: watch::Sender<bool>,
    /// `true` while running, from the moment the queues are served.
    ready: watch::Sender<bool>,
    msisdns: Mutex<HashMap<String, Eid>>,
    last_rebuild: Mutex<Option<std::time::Instant>>,
    pub(crate) psks: Arc<super::https::PskMap>,
}

/// The SM-SR's ES5 delivery (see the module documentation). Cheap to clone; every clone is the
/// same delivery.
#[derive(Clone)]
pub struct Delivery {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("holder", &self.inner.holder)
            .field("sms_address", &self.inner.config.sms_address)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// A delivery over `store` (EIS, keysets, counters, queues), opening sealed keysets with
    /// `sealer` and handing notifications to `sink`. Nothing is sent before [`Delivery::run`].
    pub fn new(
        config: DeliveryConfig,
        store: Arc<dyn Store>,
        sealer: Arc<dyn Sealer>,
        sink: Arc<dyn NotificationSink>,
    ) -> Result<Self, DeliveryError> {
        let holder = match &config.holder {
            Some(h) => h.clone(),
            None => format!("es5-{}", OperationId::random()?),
        };
        Ok(Delivery {
            inner: Arc::new(Inner {
                config,
                store,
                sealer,
                sink,
                holder,
                outcomes: Mutex::new(Outcomes::default()),
                running: Mutex::new(None),
                stop: watch::channel(false).0,
                ready: watch::channel(false).0,
                msisdns: Mutex::new(HashMap::new()),
                last_rebuild: Mutex::new(None),
                psks: Arc::new(super::https::PskMap::default()),
            }),
        })
    }

    /// Waits until [`Delivery::run`] serves the queues (bound to the SMSC, the eUICC index and
    /// SCP81 keys loaded).
    pub async fn ready(&self) {
        let mut rx = self.inner.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// The lease holder name of this delivery in the store.
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// Binds to the SMSC, serves SCP81 sessions on `listeners.https` and runs the queues until
    /// `shutdown` completes. Commands in flight keep their lease: a later delivery on the same
    /// store claims them again once it ran out.
    pub async fn run(
        &self,
        listeners: DeliveryListeners,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RunError> {
        let inner = &self.inner;
        if lock(&inner.running).is_some() {
            return Err(RunError::AlreadyRunning);
        }
        let c = &inner.config;
        if listeners.https.is_some() && c.https.is_none() {
            return Err(RunError::Config(
                "an HTTPS listener without HTTPS settings".into(),
            ));
        }
        if listeners.https.is_none() && c.https.is_some() {
            tracing::warn!(
                "ES5: HTTPS settings without an HTTPS listener: admin sessions go elsewhere"
            );
        }
        let mut ec = EsmeConfig::new(
            c.smpp.server.clone(),
            c.smpp.system_id.clone(),
            c.smpp.password.clone(),
        );
        ec.address_range = Address::unknown(c.sms_address.clone());
        let (esme, incoming) = Esme::connect(ec).await?;
        inner.stop.send_replace(false);
        let mut tasks = Vec::new();
        {
            let mut r = lock(&inner.running);
            if r.is_some() {
                return Err(RunError::AlreadyRunning);
            }
            *r = Some(Running {
                esme: esme.clone(),
                workers: HashMap::new(),
                tasks: Vec::new(),
            });
        }
        if inner.config.holder.is_some() {
            match inner
                .store
                .release_command_leases(&inner.holder, now_ts())
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(n, "sending the commands of the previous run again"),
                Err(e) => tracing::warn!(error = %e, "releasing the previous run's command leases"),
            }
        }
        inner.rebuild_index().await;
        tasks.push(tokio::spawn(sms_loop(inner.clone(), incoming)));
        tasks.push(tokio::spawn(scanner(inner.clone())));
        if c.https.is_some() {
            tasks.push(tokio::spawn(psk_loader(inner.clone())));
        }
        let https = match (listeners.https, &c.https) {
            (Some(l), Some(h)) => {
                let handler = super::https::AdminSessions::new(inner.clone());
                let cfg = esim_scp81::server::ServerConfig::new(
                    h.admin_uri.clone(),
                    inner.psks.clone(),
                    handler,
                );
                let mut stop = inner.stop.subscribe();
                Some(tokio::spawn(async move {
                    esim_scp81::server::run(cfg, l, async move {
                        while stop.changed().await.is_ok() {
                            if *stop.borrow() {
                                break;
                            }
                        }
                    })
                    .await
                }))
            }
            _ => None,
        };
        inner.ready.send_replace(true);
        tracing::info!(holder = %inner.holder, "ES5 delivery running");
        let mut https = https;
        let result = match &mut https {
            Some(h) => {
                tokio::select! {
                    () = shutdown => Ok(()),
                    r = h => {
                        https = None;
                        match r {
                            Ok(Ok(())) => Ok(()),
                            Ok(Err(e)) => Err(RunError::Https(e.to_string())),
                            Err(e) => Err(RunError::Https(e.to_string())),
                        }
                    }
                }
            }
            None => {
                shutdown.await;
                Ok(())
            }
        };
        inner.ready.send_replace(false);
        inner.shutdown_now().await;
        if let Some(h) = https {
            // The server gives its sessions a grace period, then returns.
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
        let _ = esme.shutdown().await;
        tracing::info!(holder = %inner.holder, "ES5 delivery stopped");
        result
    }
}

/// The project's service signature: a [`Delivery`] over `store` run until `shutdown`.
pub async fn run(
    config: DeliveryConfig,
    store: Arc<dyn Store>,
    sealer: Arc<dyn Sealer>,
    sink: Arc<dyn NotificationSink>,
    listeners: DeliveryListeners,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let d =
        Delivery::new(config, store, sealer, sink).map_err(|e| RunError::Config(e.to_string()))?;
    d.run(listeners, shutdown).await
}

fn job_payload(job: &Es5Job) -> Result<Payload, DeliveryError> {
    match &job.payload {
        JobPayload::Apdus(list) => {
            if list.is_empty() {
                return Err(DeliveryError::BadJob("no APDU".into()));
            }
            let mut out = Vec::with_capacity(list.len());
            for (i, h) in list.iter().enumerate() {
                let bytes = hex::decode(h)
                    .map_err(|e| DeliveryError::BadJob(format!("APDU {i}: hex: {e}")))?;
                out.push(
                    CommandApdu::decode(&bytes)
                        .map_err(|e| DeliveryError::BadJob(format!("APDU {i}: {e}")))?,
                );
            }
            Ok(Payload::Apdus(out))
        }
        JobPayload::Raw(h) => {
            let bytes =
                hex::decode(h).map_err(|e| DeliveryError::BadJob(format!("raw data: hex: {e}")))?;
            if bytes.is_empty() {
                return Err(DeliveryError::BadJob("empty raw data".into()));
            }
            Ok(Payload::Raw(bytes))
        }
    }
}

fn job_target(job: &Es5Job) -> Target {
    match &job.target {
        JobTarget::IsdR => Target::IsdR,
        JobTarget::IsdP(aid) => Target::IsdP(aid.clone()),
    }
}

fn envelope_of(cmd: &QueuedCommand) -> Option<Envelope> {
    serde_json::from_slice(&cmd.payload).ok()
}

fn describe(reason: &FailureReason) -> String {
    match reason {
        FailureReason::PorStatus(s @ esim_crypto::scp80::PorStatus::CounterLow) => format!(
            "PoR status {s:?}: the card refused a re-sent packet; it probably ran the first \
             one and its PoR was lost (outcome unknown)"
        ),
        FailureReason::PorStatus(s) => format!("PoR status {s:?}"),
        FailureReason::Sw { sw, .. } => format!("status word {sw:04X}"),
        FailureReason::BadResponse(r) => format!("unusable answer: {r}"),
        FailureReason::NoResponse { attempts } => format!("no answer after {attempts} sends"),
        FailureReason::ScriptStatus(s) => format!("admin script status {s:?}"),
        FailureReason::SessionClosed => "admin session closed before the answer".into(),
        FailureReason::Build(r) => format!("command not built: {r}"),
        FailureReason::Counter(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

impl Inner {
    fn subscribe(&self, id: i64) -> watch::Receiver<Option<Es5Outcome>> {
        let mut o = lock(&self.outcomes);
        o.slots
            .entry(id)
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    fn forget(&self, id: i64) {
        lock(&self.outcomes).slots.remove(&id);
    }

    /// Publishes the outcome of command `id` (right after the store recorded it).
    fn resolve(&self, id: i64, outcome: Es5Outcome) {
        let mut o = lock(&self.outcomes);
        o.slots
            .entry(id)
            .or_insert_with(|| watch::channel(None).0)
            .send_replace(Some(outcome));
        o.finished.push_back(id);
        while o.finished.len() > KEPT_OUTCOMES {
            if let Some(old) = o.finished.pop_front() {
                o.slots.remove(&old);
            }
        }
    }

    /// The worker of `eid` (started if needed); `None` when the delivery is not running.
    pub(crate) fn worker(self: &Arc<Self>, eid: &Eid) -> Option<mpsc::UnboundedSender<WorkerMsg>> {
        let mut guard = lock(&self.running);
        let running = guard.as_mut()?;
        if let Some(tx) = running.workers.get(eid) {
            if !tx.is_closed() {
                return Some(tx.clone());
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let worker = Worker {
            inner: self.clone(),
            eid: eid.clone(),
            esme: running.esme.clone(),
            rx,
            chan: None,
            current: None,
            want_claim: true,
            in_session: false,
            tx: tx.clone(),
        };
        running.tasks.retain(|t| !t.is_finished());
        running.tasks.push(tokio::spawn(worker.run()));
        running.workers.insert(eid.clone(), tx.clone());
        Some(tx)
    }

    /// Hands `msg` to the worker of `eid`; `false` when the delivery is not running.
    pub(crate) fn send(self: &Arc<Self>, eid: &Eid, msg: WorkerMsg) -> bool {
        let Some(tx) = self.worker(eid) else {
            return false;
        };
        match tx.send(msg) {
            Ok(()) => true,
            // The worker retired between the look-up and the send: a new one takes it.
            Err(mpsc::error::SendError(msg)) => {
                self.worker(eid).is_some_and(|tx| tx.send(msg).is_ok())
            }
        }
    }

    async fn shutdown_now(&self) {
        self.stop.send_replace(true);
        let running = lock(&self.running).take();
        if let Some(r) = running {
            drop(r.workers);
            for t in r.tasks {
                let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
            }
        }
    }

    /// Rebuilds the MSISDN → EID index (and the SCP81 keys when HTTPS is configured) from the
    /// EIS: every MSISDN of a Profile and the `msisdn` additional property.
    async fn rebuild_index(&self) {
        let mut after: Option<Eid> = None;
        let mut map = HashMap::new();
        loop {
            let page = match self.store.list_eids(after.as_ref(), 500).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "ES5: cannot list eUICCs");
                    return;
                }
            };
            let Some(last) = page.last().cloned() else {
                break;
            };
            for eid in page {
                for m in self.msisdns_of(&eid).await {
                    map.insert(m, eid.clone());
                }
                if self.config.https.is_some() {
                    self.load_psks(&eid).await;
                }
            }
            after = Some(last);
        }
        *lock(&self.msisdns) = map;
    }

    async fn msisdns_of(&self, eid: &Eid) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(profiles) = self.store.profiles(eid).await {
            out.extend(
                profiles
                    .into_iter()
                    .filter_map(|p| p.subscription_address.msisdn),
            );
        }
        if let Ok(eis) = self.store.get_eis(eid).await {
            if let Some(m) = eis.additional_properties.get(MSISDN_PROPERTY) {
                out.push(m.clone());
            }
        }
        out
    }

    /// The MSISDN MT SMS go to: the enabled Profile's, else the `msisdn` additional property.
    async fn msisdn(&self, eid: &Eid) -> Result<String, String> {
        let profiles = self.store.profiles(eid).await.map_err(|e| e.to_string())?;
        if let Some(m) = profiles
            .iter()
            .filter(|p| p.state == esim_store::ProfileState::Enabled)
            .find_map(|p| p.subscription_address.msisdn.clone())
        {
            return Ok(m);
        }
        let eis = self.store.get_eis(eid).await.map_err(|e| e.to_string())?;
        eis.additional_properties
            .get(MSISDN_PROPERTY)
            .cloned()
            .ok_or_else(|| format!("no MSISDN known for {eid}"))
    }

    pub(crate) async fn load_psks(&self, eid: &Eid) {
        let Ok(keysets) = self.store.keysets(eid).await else {
            return;
        };
        for k in keysets.iter().filter(|k| k.kind == KeysetKind::Scp81) {
            match super::keys::scp81_psk(self.sealer.as_ref(), k) {
                Ok((kid, psk)) => self.psks.insert(
                    esim_scp81::admin::PskIdentity::new(eid.clone(), k.kvn, kid),
                    psk,
                ),
                Err(e) => tracing::warn!(%eid, kvn = k.kvn, error = %e, "SCP81 keyset unusable"),
            }
        }
    }

    async fn eid_of_msisdn(&self, msisdn: &str) -> Option<Eid> {
        if let Some(e) = lock(&self.msisdns).get(msisdn) {
            return Some(e.clone());
        }
        // A flood of SMS from unknown numbers must not rescan the EIS each time.
        let min_gap = Duration::from_millis(self.config.poll_interval_ms.max(10) * 10);
        {
            let mut last = lock(&self.last_rebuild);
            if last.is_some_and(|t| t.elapsed() < min_gap) {
                return None;
            }
            *last = Some(std::time::Instant::now());
        }
        self.rebuild_index().await;
        lock(&self.msisdns).get(msisdn).cloned()
    }

    async fn scan(self: &Arc<Self>) {
        let now = now_ts();
        match self.store.expire_due(now).await {
            Ok(expired) => {
                for c in expired {
                    self.resolve(c.id, Es5Outcome::Expired);
                }
            }
            Err(e) => tracing::warn!(error = %e, "ES5: expiry scan failed"),
        }
        let lease = now.plus_ms(ms_i64(self.config.lease_ms()));
        match self.store.claim_ready(&self.holder, now, lease, 64).await {
            Ok(cmds) => {
                for c in cmds {
                    let eid = c.eid.clone();
                    let id = c.id;
                    if !self.send(&eid, WorkerMsg::Claimed(c)) {
                        let _ = self.store.retry(id, &self.holder, now, "not running").await;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "ES5: queue scan failed"),
        }
    }
}

async fn scanner(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let mut tick =
        tokio::time::interval(Duration::from_millis(inner.config.poll_interval_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    return;
                }
            }
            _ = tick.tick() => inner.scan().await,
        }
    }
}

/// Loads the SCP81 keys of eUICCs whose identity the TLS handshake did not know.
async fn psk_loader(inner: Arc<Inner>) {
    loop {
        inner.psks.missed().await;
        for eid in inner.psks.take_misses() {
            inner.load_psks(&eid).await;
        }
    }
}

async fn sms_loop(inner: Arc<Inner>, mut incoming: Incoming) {
    let mut reassembler = Reassembler::new(ReassemblyLimits::default());
    while let Some(sms) = incoming.recv().await {
        let Ok(udl) = u8::try_from(sms.user_data.len()) else {
            tracing::debug!("ES5: MO SMS user data too long");
            continue;
        };
        let ud = match UserData::decode(udl, &sms.user_data, sms.has_udh(), Alphabet::EightBit, 0) {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "ES5: undecodable MO SMS");
                continue;
            }
        };
        let sender = SmsAddress {
            ton: sms.source.ton,
            npi: sms.source.npi,
            value: AddressValue::Digits(sms.source.address.clone()),
        };
        let complete = match reassembler.push(&sender, &ud) {
            Ok(p) => p.complete,
            Err(e) => {
                tracing::debug!(error = %e, "ES5: concatenation error");
                continue;
            }
        };
        let Some(r) = complete else { continue };
        let udh = match r.packet_kind() {
            Some(PacketKind::Response) => [0x02, 0x71, 0x00],
            Some(PacketKind::Command) => [0x02, 0x70, 0x00],
            None => {
                tracing::debug!("ES5: MO SMS without a packet identifier");
                continue;
            }
        };
        let mut data = udh.to_vec();
        data.extend_from_slice(&r.data);
        match inner.eid_of_msisdn(&sms.source.address).await {
            Some(eid) => {
                inner.send(&eid, WorkerMsg::Sms(data));
            }
            None => tracing::info!(msisdn = %sms.source.address, "ES5: SMS from an unknown MSISDN"),
        }
    }
}

/// The eUICC's channel and how to reach it.
struct ChanState {
    channel: Channel,
    kvn: u8,
    msisdn: String,
    https: bool,
}

struct Worker {
    inner: Arc<Inner>,
    eid: Eid,
    esme: EsmeHandle,
    rx: mpsc::UnboundedReceiver<WorkerMsg>,
    chan: Option<ChanState>,
    current: Option<QueuedCommand>,
    want_claim: bool,
    /// An admin session of this eUICC is open.
    in_session: bool,
    /// The sender the delivery holds for this worker (to retire only itself).
    tx: mpsc::UnboundedSender<WorkerMsg>,
}

impl Worker {
    fn idle(&self) -> bool {
        self.current.is_none()
            && !self.in_session
            && self
                .chan
                .as_ref()
                .is_none_or(|c| !c.channel.is_busy() && c.channel.queued() == 0)
    }

    /// Leaves the delivery's worker map; messages that raced in go to a new worker.
    fn retire(&mut self) {
        {
            let mut g = lock(&self.inner.running);
            if let Some(r) = g.as_mut() {
                if r.workers
                    .get(&self.eid)
                    .is_some_and(|t| t.same_channel(&self.tx))
                {
                    r.workers.remove(&self.eid);
                }
            }
        }
        self.rx.close();
        while let Ok(m) = self.rx.try_recv() {
            self.inner.send(&self.eid, m);
        }
    }

    async fn run(mut self) {
        let mut stop = self.inner.stop.subscribe();
        let idle_after = Duration::from_millis(self.inner.config.worker_idle_ms.max(10));
        loop {
            if *stop.borrow() {
                break;
            }
            if self.current.is_none() && self.want_claim {
                self.want_claim = false;
                self.try_claim().await;
            }
            let due = self
                .chan
                .as_ref()
                .and_then(|c| c.channel.poll_timeout())
                .map(|t| Duration::from_millis(t.saturating_sub(now_ms())));
            tokio::select! {
                r = stop.changed() => { if r.is_err() { break; } }
                msg = self.rx.recv() => match msg {
                    Some(m) => self.on_msg(m).await,
                    None => break,
                },
                () = async {
                    match due {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending::<()>().await,
                    }
                } => self.on_timeout().await,
                () = tokio::time::sleep(idle_after), if self.idle() => {
                    // Nothing for a while: leave (the scanner and `execute` start a new one).
                    self.retire();
                    return;
                }
            }
        }
    }

    async fn on_msg(&mut self, msg: WorkerMsg) {
        match msg {
            WorkerMsg::Wake => self.want_claim = true,
            WorkerMsg::Claimed(cmd) => match &self.current {
                Some(cur) if cur.id == cmd.id => self.current = Some(cmd),
                Some(_) => {
                    let _ = self
                        .inner
                        .store
                        .retry(cmd.id, &self.inner.holder, now_ts(), "worker busy")
                        .await;
                }
                None => self.start(cmd).await,
            },
            WorkerMsg::Sms(data) => {
                if self.ensure_channel().await.is_err() {
                    return;
                }
                let now = now_ms();
                let mut none = PreAllocated(None);
                if let Some(c) = self.chan.as_mut() {
                    if let Err(e) = c.channel.handle_sms(&data, now, &mut none) {
                        tracing::debug!(eid = %self.eid, error = %e, "ES5: MO SMS ignored");
                    }
                }
                self.drain().await;
            }
            WorkerMsg::SessionPost { result, reply } => {
                self.in_session = true;
                let script = self.session_post(result).await;
                let _ = reply.send(script);
            }
            WorkerMsg::SessionClosed => {
                self.in_session = false;
                let mut counters = self.counter_if_https().await;
                if let Some(c) = self.chan.as_mut() {
                    c.channel.session_closed(now_ms(), &mut counters);
                }
                self.drain().await;
            }
        }
    }

    async fn session_post(
        &mut self,
        result: Option<(es5::ScriptStatus, Vec<u8>)>,
    ) -> Option<AdminScript> {
        self.ensure_channel().await.ok()?;
        let now = now_ms();
        if let Some(c) = self.chan.as_mut() {
            match result {
                None => c.channel.session_opened(now, &mut PreAllocated(None)),
                Some((status, body)) => {
                    if let Err(e) = c.channel.handle_script_response(status, &body) {
                        tracing::debug!(eid = %self.eid, error = %e, "ES5: script answer ignored");
                    }
                }
            }
        }
        self.drain().await;
        if self.current.is_none() {
            self.try_claim().await;
        }
        let script = self.chan.as_mut()?.channel.next_script(now_ms());
        self.drain().await;
        script
    }

    async fn counter_if_https(&self) -> PreAllocated {
        match &self.chan {
            Some(c) if c.https && self.current.is_some() => self.allocate(c.kvn).await,
            _ => PreAllocated(None),
        }
    }

    async fn allocate(&self, kvn: u8) -> PreAllocated {
        match self.inner.store.allocate_counter(&self.eid, kvn).await {
            Ok(v) => PreAllocated(Counter::new(v).ok()),
            Err(e) => {
                tracing::warn!(eid = %self.eid, error = %e, "ES5: counter allocation failed");
                PreAllocated(None)
            }
        }
    }

    async fn on_timeout(&mut self) {
        let mut counters = self.counter_if_https().await;
        if let Some(c) = self.chan.as_mut() {
            c.channel.handle_timeout(now_ms(), &mut counters);
        }
        self.drain().await;
    }

    async fn try_claim(&mut self) {
        let store = &self.inner.store;
        let now = now_ts();
        let lease = now.plus_ms(ms_i64(self.inner.config.lease_ms()));
        match store
            .claim_next(&self.eid, &self.inner.holder, now, lease)
            .await
        {
            Ok(Some(cmd)) => self.start(cmd).await,
            Ok(None) => {
                // A head past its ValidityPeriod blocks the queue until it is expired.
                let head_expired = store
                    .pending_commands(&self.eid)
                    .await
                    .ok()
                    .and_then(|p| p.first().and_then(|c| c.expires_at))
                    .is_some_and(|t| t <= now);
                if head_expired {
                    if let Ok(expired) = store.expire_due(now).await {
                        for c in expired {
                            self.inner.resolve(c.id, Es5Outcome::Expired);
                        }
                    }
                    self.want_claim = true;
                }
            }
            Err(e) => tracing::warn!(eid = %self.eid, error = %e, "ES5: claim failed"),
        }
    }

    async fn ensure_channel(&mut self) -> Result<(), String> {
        if self.chan.is_some() {
            return Ok(());
        }
        let inner = &self.inner;
        let msisdn = inner.msisdn(&self.eid).await?;
        // Index the eUICC now, so its PoRs route here without waiting for a rebuild.
        let known = inner.msisdns_of(&self.eid).await;
        {
            let mut index = lock(&inner.msisdns);
            for m in known {
                index.insert(m, self.eid.clone());
            }
        }
        let keysets = inner
            .store
            .keysets(&self.eid)
            .await
            .map_err(|e| e.to_string())?;
        let record: &KeysetRecord = keysets
            .iter()
            .find(|k| k.kind == KeysetKind::Scp80)
            .ok_or_else(|| format!("no SCP80 keyset for {}", self.eid))?;
        let keys = super::keys::scp80_keyset(inner.sealer.as_ref(), record)?;
        let eis = inner
            .store
            .get_eis(&self.eid)
            .await
            .map_err(|e| e.to_string())?;
        let kind = eis
            .additional_properties
            .get(TRANSPORT_PROPERTY)
            .and_then(|s| TransportKind::parse(s))
            .unwrap_or(inner.config.default_transport);
        let transport = match kind {
            TransportKind::Https => Transport::Https {
                trigger: super::https::trigger(inner, &self.eid, &keysets)?,
            },
            _ => Transport::Sms,
        };
        let https = matches!(transport, Transport::Https { .. });
        if https {
            inner.load_psks(&self.eid).await;
        }
        let config = es5::Config {
            initial_timeout: inner.config.initial_timeout_ms,
            max_attempts: inner.config.max_attempts.max(1),
            confirmation_validity: inner.config.confirmation_validity_ms,
            ..es5::Config::default()
        };
        self.chan = Some(ChanState {
            channel: Channel::new(self.eid.clone(), record.kvn, keys, transport, config),
            kvn: record.kvn,
            msisdn,
            https,
        });
        Ok(())
    }

    /// Fails a claimed command that cannot be sent and wakes its waiters.
    async fn give_up(&mut self, cmd: &QueuedCommand, reason: String) {
        if let Err(e) = self.inner.store.fail(cmd.id, &reason).await {
            tracing::warn!(eid = %self.eid, error = %e, "ES5: cannot fail command");
        }
        self.inner
            .resolve(cmd.id, Es5Outcome::Unreachable { reason });
        self.want_claim = true;
    }

    async fn start(&mut self, cmd: QueuedCommand) {
        let max_claims = self.inner.config.max_claims.max(1);
        if cmd.attempts > max_claims {
            let reason = format!("no answer after {} claims", cmd.attempts - 1);
            return self.give_up(&cmd, reason).await;
        }
        let Some(env) = envelope_of(&cmd) else {
            return self.give_up(&cmd, "unreadable queued job".into()).await;
        };
        let payload = match job_payload(&env.job) {
            Ok(p) => p,
            Err(e) => return self.give_up(&cmd, e.to_string()).await,
        };
        if let Err(e) = self.ensure_channel().await {
            return self.give_up(&cmd, e).await;
        }
        let Ok(op) = u64::try_from(cmd.id) else {
            return self.give_up(&cmd, "bad command id".into()).await;
        };
        let request = es5::Es5Request {
            operation: es5::OperationId(op),
            target: job_target(&env.job),
            payload,
            deadline: cmd.expires_at.map_or(u64::MAX, ts_ms),
        };
        let kvn = self.chan.as_ref().map_or(0, |c| c.kvn);
        let mut counters = self.allocate(kvn).await;
        tracing::debug!(eid = %self.eid, id = cmd.id, step = %env.step, attempt = cmd.attempts, "ES5: command claimed");
        self.current = Some(cmd);
        if let Some(c) = self.chan.as_mut() {
            c.channel.enqueue(request, now_ms(), &mut counters);
        }
        self.drain().await;
    }

    async fn drain(&mut self) {
        loop {
            let Some(action) = self.chan.as_mut().and_then(|c| c.channel.poll_action()) else {
                return;
            };
            match action {
                Action::SendSms { parts, .. } => self.send_sms(parts).await,
                Action::Completed {
                    operation,
                    responses,
                    raw,
                    ..
                } => {
                    self.finish(
                        operation,
                        Finish::Done(Es5Outcome::Completed {
                            responses,
                            data: raw,
                        }),
                    )
                    .await
                }
                Action::Failed { operation, reason } => {
                    self.finish(operation, Finish::Failed(reason)).await
                }
                Action::Expired { operation } => self.finish(operation, Finish::Expired).await,
                Action::Notification {
                    notification, seq, ..
                } => self.on_notification(notification, seq).await,
            }
        }
    }

    async fn send_sms(&mut self, parts: Vec<UserData>) {
        let Some(c) = &self.chan else { return };
        for p in parts {
            let ud = match p.encode(Alphabet::EightBit) {
                Ok((_, ud)) => ud,
                Err(e) => {
                    tracing::warn!(eid = %self.eid, error = %e, "ES5: SMS not encodable");
                    return;
                }
            };
            let sms = Sms::sim_data_download(
                Address::unknown(self.inner.config.sms_address.clone()),
                Address::international(c.msisdn.clone()),
                ud,
            );
            if let Err(e) = self.esme.submit(&sms).await {
                // The channel re-sends on its timer.
                tracing::warn!(eid = %self.eid, error = %e, "ES5: submit_sm failed");
                return;
            }
        }
    }

    async fn finish(&mut self, operation: es5::OperationId, how: Finish) {
        let Some(cmd) = self
            .current
            .take_if(|c| u64::try_from(c.id).ok() == Some(operation.0))
        else {
            tracing::debug!(eid = %self.eid, "ES5: outcome of a command no longer current");
            return;
        };
        self.want_claim = true;
        let store = &self.inner.store;
        let holder = &self.inner.holder;
        let now = now_ts();
        // The store first, then the waiters: a waiter that sees the command terminal in the
        // store finds the outcome here a moment later (`Delivery::wait`).
        let (result, outcome) = match how {
            Finish::Done(outcome) => {
                let kept = StoredOutcome::encode(&outcome);
                (
                    store.ack(cmd.id, holder, kept.as_deref()).await,
                    Some(outcome),
                )
            }
            Finish::Expired => {
                let r = match store.retry(cmd.id, holder, now, "expired").await {
                    Ok(()) => store.expire_due(now).await,
                    Err(e) => Err(e),
                };
                if let Ok(others) = &r {
                    for c in others.iter().filter(|c| c.id != cmd.id) {
                        self.inner.resolve(c.id, Es5Outcome::Expired);
                    }
                }
                (r.map(|_| ()), Some(Es5Outcome::Expired))
            }
            Finish::Failed(FailureReason::Sw { responses, sw }) => {
                let outcome = Es5Outcome::CardError { responses, sw };
                let kept = StoredOutcome::encode(&outcome);
                (
                    store.ack(cmd.id, holder, kept.as_deref()).await,
                    Some(outcome),
                )
            }
            Finish::Failed(
                reason @ (FailureReason::NoResponse { .. } | FailureReason::SessionClosed),
            ) => {
                let text = describe(&reason);
                if cmd.attempts < self.inner.config.max_claims.max(1) {
                    let at = self.inner.config.backoff.next_attempt(now, cmd.attempts);
                    tracing::info!(eid = %self.eid, id = cmd.id, attempt = cmd.attempts, "ES5: {text}; retrying later");
                    (store.retry(cmd.id, holder, at, &text).await, None)
                } else {
                    let reason = format!(
                        "{text} (claim {} of {})",
                        cmd.attempts, self.inner.config.max_claims
                    );
                    (
                        store.fail(cmd.id, &reason).await,
                        Some(Es5Outcome::Unreachable { reason }),
                    )
                }
            }
            Finish::Failed(reason) => {
                let text = describe(&reason);
                (
                    store.fail(cmd.id, &text).await,
                    Some(Es5Outcome::Unreachable { reason: text }),
                )
            }
        };
        if let Err(e) = result {
            tracing::warn!(eid = %self.eid, id = cmd.id, error = %e, "ES5: cannot record the outcome");
        }
        if let Some(o) = outcome {
            self.inner.resolve(cmd.id, o);
        }
    }

    async fn on_notification(&mut self, notification: Notification, seq: u16) {
        let inner = self.inner.clone();
        if let Err(e) = inner
            .sink
            .on_notification(&self.eid, notification, seq)
            .await
        {
            tracing::warn!(eid = %self.eid, seq, error = %e, "ES5: notification not accepted; not confirmed");
            return;
        }
        match queue_confirmation(&inner, &self.eid, seq).await {
            Ok(()) => self.want_claim = true,
            Err(e) => {
                tracing::warn!(eid = %self.eid, seq, error = %e, "ES5: cannot queue the confirmation")
            }
        }
    }
}

enum Finish {
    Done(Es5Outcome),
    Failed(FailureReason),
    Expired,
}

/// A card's answer as kept with its command in the store (`QueuedCommand::result`, JSON), so
/// that an operation resumed after a restart gets the answer the card gave before it
/// (docs/spec-choices.md row 66). R-APDUs in hex, status word included.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome")]
enum StoredOutcome {
    /// [`Es5Outcome::Completed`].
    Completed {
        responses: Vec<String>,
        data: String,
    },
    /// [`Es5Outcome::CardError`].
    CardError { responses: Vec<String>, sw: u16 },
}

impl StoredOutcome {
    fn encode(o: &Es5Outcome) -> Option<Vec<u8>> {
        let hexes = |rs: &[esim_apdu::apdu::ResponseApdu]| {
            rs.iter().map(|r| hex::encode_upper(r.encode())).collect()
        };
        let kept = match o {
            Es5Outcome::Completed { responses, data } => StoredOutcome::Completed {
                responses: hexes(responses),
                data: hex::encode_upper(data),
            },
            Es5Outcome::CardError { responses, sw } => StoredOutcome::CardError {
                responses: hexes(responses),
                sw: *sw,
            },
            _ => return None,
        };
        serde_json::to_vec(&kept).ok()
    }

    /// `None` for bytes that are not a kept outcome (the caller reports the status instead).
    fn decode(bytes: &[u8]) -> Option<Es5Outcome> {
        let apdus = |hs: &[String]| -> Option<Vec<esim_apdu::apdu::ResponseApdu>> {
            hs.iter()
                .map(|h| {
                    hex::decode(h)
                        .ok()
                        .and_then(|b| esim_apdu::apdu::ResponseApdu::decode(&b).ok())
                })
                .collect()
        };
        match serde_json::from_slice(bytes).ok()? {
            StoredOutcome::Completed { responses, data } => Some(Es5Outcome::Completed {
                responses: apdus(&responses)?,
                data: hex::decode(data).ok()?,
            }),
            StoredOutcome::CardError { responses, sw } => Some(Es5Outcome::CardError {
                responses: apdus(&responses)?,
                sw,
            }),
        }
    }
}

/// The `3A08` confirmation of notification `seq` as a job (SGP.02 ES5.HandleNotificationConfirmation).
pub fn confirmation_job(seq: u16) -> Result<Es5Job, DeliveryError> {
    let apdus = Es5Command::NotificationConfirmation { sequence: seq }
        .to_commands(255)
        .map_err(|e| DeliveryError::BadJob(e.to_string()))?;
    let mut hexes = Vec::with_capacity(apdus.len());
    for a in apdus {
        hexes.push(hex::encode_upper(
            a.encode()
                .map_err(|e| DeliveryError::BadJob(e.to_string()))?,
        ));
    }
    Ok(Es5Job {
        target: JobTarget::IsdR,
        payload: JobPayload::Apdus(hexes),
        step: format!("{CONFIRMATION_STEP}{seq}"),
    })
}

/// Queues the confirmation of `seq` unless one is already queued.
async fn queue_confirmation(inner: &Inner, eid: &Eid, seq: u16) -> Result<(), DeliveryError> {
    let job = confirmation_job(seq)?;
    let pending = inner.store.pending_commands(eid).await?;
    if pending
        .iter()
        .filter_map(envelope_of)
        .any(|e| e.step == job.step)
    {
        return Ok(());
    }
    let now = now_ts();
    let payload = serde_json::to_vec(&Envelope {
        step: job.step.clone(),
        job,
    })
    .map_err(|e| DeliveryError::BadJob(e.to_string()))?;
    inner
        .store
        .enqueue(&NewCommand {
            eid: eid.clone(),
            operation_id: None,
            payload,
            not_before: now,
            expires_at: Some(now.plus_ms(ms_i64(inner.config.confirmation_validity_ms))),
            now,
        })
        .await?;
    Ok(())
}

impl Delivery {
    /// Waits for command `id`: its outcome from this process, or its terminal status in the
    /// store (polled).
    async fn wait(&self, id: i64) -> Result<Es5Outcome, DeliveryError> {
        let inner = &self.inner;
        let mut rx = inner.subscribe(id);
        let mut stop = inner.stop.subscribe();
        let poll = Duration::from_millis(inner.config.poll_interval_ms.max(10));
        // Seen terminal in the store once: the in-process outcome follows the store update, so
        // one more poll is allowed for it before the stored status is reported.
        let mut seen_terminal = false;
        loop {
            if let Some(o) = rx.borrow_and_update().clone() {
                return Ok(o);
            }
            tokio::select! {
                r = rx.changed() => {
                    if r.is_err() {
                        rx = inner.subscribe(id);
                    }
                }
                () = tokio::time::sleep(poll) => {
                    let c = inner.store.get_command(id).await?;
                    if c.status.is_terminal() {
                        if let Some(o) = rx.borrow().clone() {
                            return Ok(o);
                        }
                        if !seen_terminal {
                            seen_terminal = true;
                            continue;
                        }
                        if let Some(o) = c.result.as_deref().and_then(StoredOutcome::decode) {
                            // Answered before this process (re)started: the card's answer was
                            // kept with the command.
                            return Ok(o);
                        }
                        return Ok(match c.status {
                            CommandStatus::Expired => Es5Outcome::Expired,
                            _ => Es5Outcome::Unreachable {
                                reason: c.last_error.unwrap_or_else(|| {
                                    format!("command ended {} elsewhere; its answer is not kept", c.status)
                                }),
                            },
                        });
                    }
                }
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() {
                        return Err(DeliveryError::Shutdown);
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Es5Executor for Delivery {
    async fn execute(
        &self,
        eid: &Eid,
        operation: &OperationId,
        job: Es5Job,
        deadline: Timestamp,
    ) -> Result<Es5Outcome, DeliveryError> {
        let inner = &self.inner;
        job_payload(&job)?;
        let keysets = inner.store.keysets(eid).await?;
        if !keysets.iter().any(|k| k.kind == KeysetKind::Scp80) {
            return Err(DeliveryError::NoKeyset(eid.clone()));
        }
        // The command of this operation's step, queued or finished (docs/spec-choices.md row
        // 73): an operation resumed after a restart gets the card's stored answer instead of
        // sending the command to the card a second time.
        let commands = inner.store.operation_commands(operation).await?;
        let existing = commands
            .iter()
            .rfind(|c| &c.eid == eid && envelope_of(c).is_some_and(|e| e.step == job.step));
        let id = match existing {
            Some(c) => {
                tracing::debug!(%eid, id = c.id, step = %job.step, status = %c.status, "ES5: attaching to the command of this step");
                c.id
            }
            None => {
                let now = now_ts();
                let payload = serde_json::to_vec(&Envelope {
                    step: job.step.clone(),
                    job,
                })
                .map_err(|e| DeliveryError::BadJob(e.to_string()))?;
                inner
                    .store
                    .enqueue(&NewCommand {
                        eid: eid.clone(),
                        operation_id: Some(operation.clone()),
                        payload,
                        not_before: now,
                        expires_at: Some(deadline),
                        now,
                    })
                    .await?
                    .id
            }
        };
        inner.send(eid, WorkerMsg::Wake);
        let r = self.wait(id).await;
        if r.is_ok() {
            inner.forget(id);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esim_apdu::etsi102226::CommandScript;

    #[test]
    fn pre_allocated_hands_out_one_counter() {
        let eid = esim_crypto::pki::eid_from_prefix("8904903200", 21).expect("eid");
        let c = Counter::new(7).expect("counter");
        let mut p = PreAllocated(Some(c));
        assert_eq!(p.allocate(&eid, 1), Ok(c));
        assert!(p.allocate(&eid, 1).is_err());
    }

    #[test]
    fn kept_outcomes_round_trip() {
        use esim_apdu::apdu::ResponseApdu;
        let completed = Es5Outcome::Completed {
            responses: vec![
                ResponseApdu::new(vec![0xE3, 0x01, 0x00], 0x9000),
                ResponseApdu::status(0x6310),
            ],
            data: vec![0xAB, 0x03, 0x80, 0x01, 0x02],
        };
        let card_error = Es5Outcome::CardError {
            responses: vec![ResponseApdu::status(0x69E1)],
            sw: 0x69E1,
        };
        for o in [completed, card_error] {
            let kept = StoredOutcome::encode(&o).expect("kept");
            assert_eq!(StoredOutcome::decode(&kept), Some(o));
        }
        // Nothing is kept for outcomes without a card answer; junk is not an outcome.
        assert!(StoredOutcome::encode(&Es5Outcome::Expired).is_none());
        for junk in [
            &b""[..],
            b"{}",
            b"{\"outcome\":\"Completed\",\"responses\":[\"zz\"],\"data\":\"\"}",
        ] {
            assert!(StoredOutcome::decode(junk).is_none());
        }
    }

    #[test]
    fn confirmation_job_is_3a08_to_the_isd_r() {
        let job = confirmation_job(5).expect("job");
        assert_eq!(job.target, JobTarget::IsdR);
        assert_eq!(job.step, "notification-confirmation/5");
        let Payload::Apdus(apdus) = job_payload(&job).expect("payload") else {
            panic!("APDUs expected");
        };
        let expected = Es5Command::NotificationConfirmation { sequence: 5 }
            .to_commands(255)
            .expect("commands");
        assert_eq!(apdus, expected);
        assert!(CommandScript::of_apdus(apdus).encode().is_ok());
    }

    #[test]
    fn bad_jobs_are_refused() {
        let job = |payload| Es5Job {
            target: JobTarget::IsdR,
            payload,
            step: "s".into(),
        };
        for p in [
            JobPayload::Apdus(vec![]),
            JobPayload::Apdus(vec!["zz".into()]),
            JobPayload::Apdus(vec!["80".into()]),
            JobPayload::Raw(String::new()),
            JobPayload::Raw("0".into()),
        ] {
            assert!(
                matches!(job_payload(&job(p.clone())), Err(DeliveryError::BadJob(_))),
                "{p:?}"
            );
        }
        assert!(job_payload(&job(JobPayload::Raw("81 00".replace(' ', "")))).is_ok());
    }

    #[test]
    fn describe_never_panics_and_names_the_cause() {
        assert!(describe(&FailureReason::NoResponse { attempts: 3 }).contains("no answer"));
        assert!(describe(&FailureReason::SessionClosed).contains("session"));
    }
}
