//! The ES5 delivery over real loopback transports: the embedded SMSC simulator (SMPP), the
//! device agent hosting a software eUICC (with a TS.48 bootstrap profile), a SQLite store with
//! the EIS and the sealed ISD-R keysets, and the SCP81 PSK-TLS server. Every wait is bounded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use esim_apdu::apdu::CommandApdu;
use esim_apdu::gp::get_data::GetData;
use esim_apdu::gp::install::{CreateIsdp, Install};
use esim_apdu::gp::sgp02::Notification;
use esim_apdu::gp::status::{GetStatus, StatusSubset, parse_entries};
use esim_apdu::gp::store_data::{StoreDataP1, command};
use esim_codec::{Aid, Eid, Iccid, Imsi, Tar};
use esim_crypto::SecretKey;
use esim_crypto::cert::Date;
use esim_crypto::ecka::{KeyParams, OffCardAwaitingChallenge};
use esim_crypto::pki::{self, EuiccParams, IssuedEuicc, PkiParams, TestPki};
use esim_crypto::scp03::StaticKeys;
use esim_crypto::scp03t::Scp03tHostAwaitingInitUpdateResponse;
use esim_device::config::{CardEntry, DeviceConfig};
use esim_device::store::{self as card_store, Bootstrap};
use esim_device::{Device, EventKind, Listeners};
use esim_euicc::{CardConfig, Euicc};
use esim_smpp::Password;
use esim_smpp::smsc::SmscConfig;
use esim_smsr::delivery::{
    Delivery, DeliveryConfig, DeliveryError, DeliveryListeners, Es5Executor, Es5Job, Es5Outcome,
    HttpsSettings, JobPayload, JobTarget, NotificationSink, RunError, SmppSettings,
};
use esim_store::{
    AesSealer, Backoff, CommandStatus, EisRecord, KeysetKind, KeysetRecord, OperationId, Sealer,
    Store, Timestamp,
};
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast, oneshot};
use tokio::task::JoinHandle;

const MSISDN: &str = "447700900001";
const SMSR: &str = "SMSR";
const LIMIT: Duration = Duration::from_secs(60);

struct Fixture {
    pki: TestPki,
    issued: IssuedEuicc,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let pki =
            TestPki::generate(&PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap())).unwrap();
        let eid = pki::eid_from_prefix("8904903200", 21).unwrap();
        let p = EuiccParams::test_defaults(eid, Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
        let issued = pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap();
        Fixture { pki, issued }
    })
}

fn eid() -> Eid {
    fixture().issued.eid.clone()
}

fn template() -> Vec<u8> {
    let path = esim_vectors::saip_files()
        .into_iter()
        .find(|p| p.ends_with("TS48V1-A-UNIQUE.der"))
        .expect("TS.48 template in the vectors");
    std::fs::read(path).unwrap()
}

/// Writes a card with a TS.48 bootstrap profile to `dir`.
fn make_card(dir: &Path) {
    let keys = StaticKeys::new(
        0x30,
        SecretKey::random(16).unwrap(),
        SecretKey::random(16).unwrap(),
        SecretKey::random(16).unwrap(),
    )
    .unwrap();
    let package = card_store::personalize(&Bootstrap {
        template: template(),
        iccid: Some(Iccid::parse("8949449999000000011").unwrap()),
        imsi: Some(Imsi::parse("001010000000001").unwrap()),
    })
    .unwrap();
    let card = Euicc::with_bootstrap_profile(
        &fixture().issued,
        CardConfig {
            memory_capacity: 300_000,
            default_isdp_quota: 60_000,
        },
        &package,
        keys,
    )
    .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    card_store::save_card(dir, &card).unwrap();
}

/// Records the notifications the delivery hands over.
#[derive(Debug, Default)]
struct Sink {
    got: Mutex<Vec<(Eid, Notification, u16)>>,
    notify: Notify,
    /// Refuse notifications (as an SM-SR that cannot record them).
    refuse: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl NotificationSink for Sink {
    async fn on_notification(
        &self,
        eid: &Eid,
        notification: Notification,
        seq: u16,
    ) -> Result<(), DeliveryError> {
        self.got
            .lock()
            .unwrap()
            .push((eid.clone(), notification, seq));
        self.notify.notify_waiters();
        if self.refuse.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(DeliveryError::Shutdown);
        }
        Ok(())
    }
}

struct Running<T> {
    stop: oneshot::Sender<()>,
    task: JoinHandle<T>,
}

struct Lab {
    _dir: tempfile::TempDir,
    card_dir: PathBuf,
    smsc_addr: String,
    _smsc_stop: oneshot::Sender<()>,
    store: Arc<dyn Store>,
    sealer: Arc<dyn Sealer>,
    sink: Arc<Sink>,
    device: Option<Running<Result<(), esim_device::DeviceError>>>,
    events: Option<broadcast::Receiver<esim_device::DeviceEvent>>,
    delivery: Option<(Delivery, Running<Result<(), RunError>>)>,
    https_addr: Option<String>,
    https_listener: Option<TcpListener>,
    /// The device posts notifications by HTTPS (`?msg=`) instead of SMS.
    notify_https: bool,
    /// Device events received while waiting for it to start.
    seen: Vec<EventKind>,
}

fn config(smsc: &str) -> DeliveryConfig {
    let mut c = DeliveryConfig::new(
        SMSR,
        SmppSettings {
            server: smsc.to_string(),
            system_id: "smsr".into(),
            password: Password::new("pw"),
        },
    );
    c.initial_timeout_ms = 4_000;
    c.max_attempts = 2;
    c.max_claims = 2;
    c.backoff = Backoff {
        base_ms: 200,
        max_ms: 1_000,
    };
    c.lease_margin_ms = 500;
    c.poll_interval_ms = 100;
    // Workers retire quickly, so the tests also cover their ending and restarting.
    c.worker_idle_ms = 300;
    c
}

impl Lab {
    /// SMSC, store with the eUICC registered (MSISDN as additional property), a card directory.
    async fn new(https: bool) -> Lab {
        Lab::with_store(https, None).await
    }

    /// Like [`Lab::new`] on the store at `url` (default: SQLite in the temporary directory).
    async fn with_store(https: bool, url: Option<&str>) -> Lab {
        let lab = Lab::unregistered(https, url).await;
        lab.register(https).await;
        lab
    }

    /// Like [`Lab::with_store`] without the eUICC in the store.
    async fn unregistered(https: bool, url: Option<&str>) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let card_dir = dir.path().join("card");
        make_card(&card_dir);
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let smsc_addr = l.local_addr().unwrap().to_string();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(esim_smpp::smsc::run(SmscConfig::default(), l, async {
            let _ = rx.await;
        }));
        let sqlite = format!("sqlite:{}", dir.path().join("x.db").display());
        // PostgreSQL: a fresh schema per run, so no run sees another's queues or counters.
        let pg = url.map(|u| {
            let sep = if u.contains('?') { '&' } else { '?' };
            let unique = OperationId::random().unwrap();
            format!(
                "{u}{sep}schema=dlv_{}",
                unique.as_str().to_ascii_lowercase()
            )
        });
        let store = esim_store::connect(pg.as_deref().unwrap_or(&sqlite))
            .await
            .unwrap();
        let sealer: Arc<dyn Sealer> =
            Arc::new(AesSealer::new("k1", &SecretKey::random(32).unwrap()).unwrap());
        let (https_addr, https_listener) = if https {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            (Some(l.local_addr().unwrap().to_string()), Some(l))
        } else {
            (None, None)
        };
        let lab = Lab {
            _dir: dir,
            card_dir,
            smsc_addr,
            _smsc_stop: tx,
            store,
            sealer,
            sink: Arc::new(Sink::default()),
            device: None,
            events: None,
            delivery: None,
            https_addr,
            https_listener,
            notify_https: false,
            seen: Vec::new(),
        };
        if url.is_some() {
            lab.forget_previous_runs().await;
        }
        lab
    }

    /// On a shared database: the eUICC of an earlier run and its queued commands go.
    async fn forget_previous_runs(&self) {
        for c in self.pending().await {
            let _ = self.store.fail(c.id, "left by an earlier test run").await;
        }
        let _ = self.store.delete_eis(&eid()).await;
    }

    async fn register(&self, https: bool) {
        let issued = &fixture().issued;
        let doc = issued.eis.to_json().unwrap();
        let now = Timestamp(1);
        let mut props = BTreeMap::new();
        props.insert("msisdn".to_string(), MSISDN.to_string());
        if https {
            props.insert("es5-transport".to_string(), "https".to_string());
        }
        let eis = EisRecord {
            eid: eid(),
            eum_id: issued.eis.eum_signed_info.eum_id.clone(),
            smsr_id: "SMSR-TEST".into(),
            platform_type: "t".into(),
            platform_version: "1".into(),
            signed_eis: self
                .sealer
                .seal(doc.as_bytes(), &esim_smsr::keys::eis_aad(&eid()))
                .unwrap(),
            remaining_memory: 1,
            available_memory_for_profiles: 1,
            last_audit: None,
            locked_by: None,
            additional_properties: props,
            version: 0,
            registered_at: now,
            updated_at: now,
        };
        let keysets: Vec<KeysetRecord> = issued
            .eis
            .eum_signed_info
            .isd_r
            .keysets
            .iter()
            .map(|k| KeysetRecord {
                eid: eid(),
                kvn: k.version,
                kind: if k.keyset_type == "SCP81" {
                    KeysetKind::Scp81
                } else {
                    KeysetKind::Scp80
                },
                keys: esim_smsr::keys::seal_keyset(self.sealer.as_ref(), &eid(), k).unwrap(),
                psk_identity: k.psk_identity.as_deref().map(|h| hex::decode(h).unwrap()),
                counter: 0,
                created_at: now,
            })
            .collect();
        self.store.register_eis(&eis, &keysets, &[]).await.unwrap();
    }

    fn delivery_config(&self) -> DeliveryConfig {
        let mut c = config(&self.smsc_addr);
        if self.https_addr.is_some() {
            c.https = Some(HttpsSettings {
                admin_uri: "/gp/admin".into(),
                trigger_host: Some("smsr.test".into()),
            });
        }
        c
    }

    async fn start_delivery_with(&mut self, c: DeliveryConfig) -> Delivery {
        let d = Delivery::new(
            c,
            self.store.clone(),
            self.sealer.clone(),
            self.sink.clone(),
        )
        .unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let listeners = DeliveryListeners {
            https: self.https_listener.take(),
        };
        let d2 = d.clone();
        let task = tokio::spawn(async move {
            d2.run(listeners, async {
                let _ = rx.await;
            })
            .await
        });
        self.delivery = Some((d.clone(), Running { stop: tx, task }));
        d
    }

    async fn start_delivery(&mut self) -> Delivery {
        let c = self.delivery_config();
        self.start_delivery_with(c).await
    }

    async fn stop_delivery(&mut self) {
        if let Some((_, r)) = self.delivery.take() {
            let _ = r.stop.send(());
            tokio::time::timeout(LIMIT, r.task)
                .await
                .expect("delivery stops")
                .unwrap()
                .unwrap();
        }
    }

    async fn start_device(&mut self) {
        let mut config = DeviceConfig::default();
        config.cards.push(CardEntry {
            dir: self.card_dir.clone(),
            msisdn: MSISDN.into(),
            system_id: Some("device1".into()),
        });
        config.smsc.address = self.smsc_addr.clone();
        config.smsr.sms_address = SMSR.into();
        config.smsr.https_address = self.https_addr.clone();
        config.network.reachable = vec!["00101".into()];
        config.timing.notification_retry_ms = 1_500;
        config.timing.admin_backoff_ms = 100;
        if self.notify_https {
            config.smsr.notification_transport = esim_device::config::NotificationTransport::Https;
        }
        let device = Arc::new(Device::new(config).unwrap());
        let mut events = device.events();
        let (tx, rx) = oneshot::channel::<()>();
        let d = device.clone();
        let task = tokio::spawn(async move {
            d.run(Listeners::default(), async {
                let _ = rx.await;
            })
            .await
        });
        let mut seen = Vec::new();
        tokio::time::timeout(LIMIT, async {
            loop {
                if let Ok(e) = events.recv().await {
                    let started = matches!(e.kind, EventKind::Started);
                    seen.push(e.kind);
                    if started {
                        return;
                    }
                }
            }
        })
        .await
        .expect("device started");
        self.seen = seen;
        self.events = Some(events);
        self.device = Some(Running { stop: tx, task });
    }

    async fn stop_device(&mut self) {
        if let Some(r) = self.device.take() {
            let _ = r.stop.send(());
            tokio::time::timeout(LIMIT, r.task)
                .await
                .expect("device stops")
                .unwrap()
                .unwrap();
        }
    }

    fn card(&self) -> Euicc {
        card_store::load_card(&self.card_dir).unwrap()
    }

    async fn pending(&self) -> Vec<esim_store::QueuedCommand> {
        self.store.pending_commands(&eid()).await.unwrap()
    }

    /// Waits for a device event matching `pred` (also among those seen during start-up).
    async fn event(&mut self, pred: impl Fn(&EventKind) -> bool) -> EventKind {
        if let Some(i) = self.seen.iter().position(&pred) {
            return self.seen.remove(i);
        }
        let events = self.events.as_mut().expect("device running");
        tokio::time::timeout(LIMIT, async {
            loop {
                if let Ok(e) = events.recv().await {
                    if pred(&e.kind) {
                        return e.kind;
                    }
                }
            }
        })
        .await
        .expect("the device event within the limit")
    }

    /// Every command ever queued (ids are 1, 2, 3, ...).
    async fn commands(&self) -> Vec<esim_store::QueuedCommand> {
        let mut out = Vec::new();
        let mut id = 1;
        while let Ok(c) = self.store.get_command(id).await {
            out.push(c);
            id += 1;
        }
        out
    }
}

fn apdus(cmds: &[CommandApdu]) -> JobPayload {
    JobPayload::Apdus(
        cmds.iter()
            .map(|c| hex::encode(c.encode().unwrap()))
            .collect(),
    )
}

fn get_status_job(step: &str) -> Es5Job {
    Es5Job {
        target: JobTarget::IsdR,
        payload: apdus(&[GetStatus::all(StatusSubset::Applications).to_command()]),
        step: step.into(),
    }
}

fn in_minutes(m: i64) -> Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    Timestamp(now + m * 60_000)
}

async fn execute(d: &Delivery, op: &OperationId, job: Es5Job, deadline: Timestamp) -> Es5Outcome {
    tokio::time::timeout(LIMIT, d.execute(&eid(), op, job, deadline))
        .await
        .expect("an outcome within the limit")
        .expect("the executor works")
}

fn assert_bootstrap_listed(outcome: &Es5Outcome) {
    let Es5Outcome::Completed { responses, data } = outcome else {
        panic!("expected Completed, got {outcome:?}");
    };
    assert!(!data.is_empty());
    let last = responses.last().expect("a response");
    assert_eq!(last.sw.to_u16(), 0x9000);
    let entries = parse_entries(&last.data).unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.aid == Aid::isd_p(esim_euicc::card::BOOTSTRAP_TAR)),
        "{entries:?}"
    );
}

/// A GET STATUS over SMS completes with the card's real answer (the bootstrap ISD-P listed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_status_over_sms_completes_with_the_cards_answer() {
    let mut lab = Lab::new(false).await;
    lab.start_device().await;
    let d = lab.start_delivery().await;
    let op = OperationId::random().unwrap();
    let out = execute(&d, &op, get_status_job("status"), in_minutes(10)).await;
    assert_bootstrap_listed(&out);
    // The command is done in the store; nothing of this operation is left queued.
    assert!(
        lab.pending()
            .await
            .iter()
            .all(|c| c.operation_id.as_ref() != Some(&op))
    );
    lab.stop_delivery().await;
    lab.stop_device().await;
}

/// Two jobs for one eUICC run one after the other, in queue order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_run_in_order() {
    let mut lab = Lab::new(false).await;
    lab.start_device().await;
    let d = lab.start_delivery().await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let op_a = OperationId::random().unwrap();
    let op_b = OperationId::random().unwrap();
    let (d1, o1, a) = (d.clone(), order.clone(), op_a.clone());
    let first = tokio::spawn(async move {
        let job = Es5Job {
            target: JobTarget::IsdR,
            payload: apdus(&[GetData::new(0x5A).to_command()]),
            step: "eid".into(),
        };
        let out = execute(&d1, &a, job, in_minutes(10)).await;
        o1.lock().unwrap().push("a");
        out
    });
    // B is queued only once A is.
    tokio::time::timeout(LIMIT, async {
        loop {
            if lab
                .pending()
                .await
                .iter()
                .any(|c| c.operation_id.as_ref() == Some(&op_a))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let (d2, o2, b) = (d.clone(), order.clone(), op_b.clone());
    let second = tokio::spawn(async move {
        let out = execute(&d2, &b, get_status_job("status"), in_minutes(10)).await;
        o2.lock().unwrap().push("b");
        out
    });
    let out_a = first.await.unwrap();
    let out_b = second.await.unwrap();
    let Es5Outcome::Completed { responses, .. } = &out_a else {
        panic!("{out_a:?}");
    };
    let last = responses.last().unwrap();
    assert_eq!(last.sw.to_u16(), 0x9000);
    assert!(
        hex::encode_upper(&last.data).contains(eid().as_str()),
        "GET DATA 5A answers the EID"
    );
    assert_bootstrap_listed(&out_b);
    assert_eq!(*order.lock().unwrap(), vec!["a", "b"]);
    lab.stop_delivery().await;
    lab.stop_device().await;
}

/// A raw job to an ISD-P reaches it: the ISD-R creates an ISD-P and runs the SM-DP's key
/// establishment (two ISD-R jobs), then SCP03t INITIALIZE UPDATE (`84`) goes raw to the new
/// ISD-P, whose answer carries a card cryptogram the SM-DP's host side verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isd_p_raw_job_reaches_the_card() {
    let mut lab = Lab::new(false).await;
    lab.start_device().await;
    let d = lab.start_delivery().await;
    let f = fixture();
    let op = OperationId::random().unwrap();
    let aid = Aid::isd_p(Tar([0x00, 0x00, 0x11]));
    let (oc, m1) = OffCardAwaitingChallenge::start(
        f.pki.smdp.key.clone(),
        &f.pki.smdp.cert,
        f.issued.ecasd_cert.public_key().clone(),
        KeyParams::isd_p_scp03(0x30),
    )
    .unwrap();
    let create = Es5Job {
        target: JobTarget::IsdR,
        payload: apdus(&[
            CreateIsdp::new(aid.clone(), Some(60_000))
                .to_command()
                .unwrap(),
            Install::for_personalization(&aid),
            command(StoreDataP1::sgp02_more_with_response(), 0, m1),
        ]),
        step: "create".into(),
    };
    let r1 = last_data(&execute(&d, &op, create, in_minutes(10)).await);
    let (oc, m2) = oc.handle(&r1).unwrap();
    let keys_job = Es5Job {
        target: JobTarget::IsdR,
        // Self-contained: other jobs (e.g. a notification confirmation) may run between two
        // jobs of one operation, so the ISD-P is named again and the block starts a new chain.
        payload: apdus(&[
            Install::for_personalization(&aid),
            command(StoreDataP1::sgp02_last_with_response(), 0, m2),
        ]),
        step: "keys".into(),
    };
    let r2 = last_data(&execute(&d, &op, keys_job, in_minutes(10)).await);
    let k = oc.handle(&r2).unwrap();
    let k = k.scp03().unwrap();
    let keys = StaticKeys::new(k.kvn, k.enc, k.mac, k.dek).unwrap();
    let (host, c84) = Scp03tHostAwaitingInitUpdateResponse::start_random(keys, 0).unwrap();
    let job = Es5Job {
        target: JobTarget::IsdP(aid.clone()),
        payload: JobPayload::Raw(hex::encode(&c84)),
        step: "scp03t-84".into(),
    };
    let out = execute(&d, &op, job, in_minutes(10)).await;
    let Es5Outcome::Completed { responses, data } = out else {
        panic!("{out:?}");
    };
    assert!(responses.is_empty());
    host.handle(&data)
        .expect("the ISD-P's answer verifies under its SCP03 keys");
    lab.stop_delivery().await;
    lab.stop_device().await;
}

fn last_data(outcome: &Es5Outcome) -> Vec<u8> {
    let Es5Outcome::Completed { responses, .. } = outcome else {
        panic!("expected Completed, got {outcome:?}");
    };
    let last = responses.last().unwrap();
    assert_eq!(last.sw.to_u16(), 0x9000);
    last.data.clone()
}

/// A job whose ValidityPeriod already ended is Expired without being sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_past_its_deadline_is_expired() {
    let mut lab = Lab::new(false).await;
    let d = lab.start_delivery().await;
    let op = OperationId::random().unwrap();
    let out = execute(&d, &op, get_status_job("late"), in_minutes(-1)).await;
    assert_eq!(out, Es5Outcome::Expired);
    lab.stop_delivery().await;
}

/// No device bound: every send goes unanswered; after every attempt of every claim the job ends
/// Unreachable and the command is failed in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_card_ends_unreachable() {
    let mut lab = Lab::new(false).await;
    let mut c = lab.delivery_config();
    c.initial_timeout_ms = 300;
    let d = lab.start_delivery_with(c).await;
    let op = OperationId::random().unwrap();
    let out = execute(&d, &op, get_status_job("nobody"), in_minutes(10)).await;
    let Es5Outcome::Unreachable { reason } = &out else {
        panic!("{out:?}");
    };
    assert!(reason.contains("no answer"), "{reason}");
    // Two claims were made, and the command is failed.
    assert!(lab.pending().await.is_empty());
    let cmd = lab
        .commands()
        .await
        .into_iter()
        .find(|c| c.operation_id.as_ref() == Some(&op))
        .unwrap();
    assert_eq!(cmd.status, CommandStatus::Failed);
    assert_eq!(cmd.attempts, 2);
    lab.stop_delivery().await;
}

/// The delivery is stopped while a job is in flight; a new delivery on the same store attaches
/// the same (operation, step) to the queued command (no second command) and completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_job_attaches_and_completes() {
    let mut lab = Lab::new(false).await;
    let d = lab.start_delivery().await;
    let op = OperationId::random().unwrap();
    let (d1, o1) = (d.clone(), op.clone());
    let waiting = tokio::spawn(async move {
        d1.execute(&eid(), &o1, get_status_job("status"), in_minutes(10))
            .await
    });
    // In flight (sent to a card whose device is not running).
    let id = tokio::time::timeout(LIMIT, async {
        loop {
            if let Some(c) = lab
                .pending()
                .await
                .into_iter()
                .find(|c| c.status == CommandStatus::InFlight)
            {
                return c.id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    lab.stop_delivery().await;
    let first = tokio::time::timeout(LIMIT, waiting).await.unwrap().unwrap();
    assert!(matches!(first, Err(DeliveryError::Shutdown)), "{first:?}");
    assert_eq!(
        lab.store.get_command(id).await.unwrap().status,
        CommandStatus::InFlight
    );
    // Restart: the device comes up, a new delivery runs on the same store.
    lab.start_device().await;
    let d = lab.start_delivery().await;
    let out = execute(&d, &op, get_status_job("status"), in_minutes(10)).await;
    assert_bootstrap_listed(&out);
    let cmd = lab.store.get_command(id).await.unwrap();
    assert_eq!(
        cmd.status,
        CommandStatus::Done,
        "the same command completed"
    );
    assert!(cmd.attempts >= 2, "claimed again after the restart");
    // No other command of this operation was ever queued.
    let mine: Vec<i64> = lab
        .commands()
        .await
        .iter()
        .filter(|c| c.operation_id.as_ref() == Some(&op))
        .map(|c| c.id)
        .collect();
    assert_eq!(mine, vec![id]);
    lab.stop_delivery().await;
    lab.stop_device().await;
}

/// HTTPS transport: the trigger goes by SMS, the card opens a PSK-TLS admin session and the
/// GET STATUS runs in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_status_over_https_session() {
    let mut lab = Lab::new(true).await;
    let d = lab.start_delivery().await;
    lab.start_device().await;
    let op = OperationId::random().unwrap();
    let out = execute(&d, &op, get_status_job("status"), in_minutes(10)).await;
    assert_bootstrap_listed(&out);
    let ev = lab
        .event(|k| matches!(k, EventKind::AdminSession { .. }))
        .await;
    assert!(
        matches!(ev, EventKind::AdminSession { success: true, scripts, .. } if scripts >= 1),
        "{ev:?}"
    );
    lab.stop_delivery().await;
    lab.stop_device().await;
}

async fn first_notification(sink: &Sink) -> (Eid, Notification, u16) {
    tokio::time::timeout(LIMIT, async {
        loop {
            let n = sink.notify.notified();
            if let Some(first) = sink.got.lock().unwrap().first() {
                return first.clone();
            }
            n.await;
        }
    })
    .await
    .expect("a notification")
}

/// The card's pending notification (its declaration at first attach, by SMS) reaches the sink;
/// the delivery queues the 3A08 confirmation and the card stops re-sending it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_reaches_the_sink_and_is_confirmed() {
    let mut lab = Lab::new(false).await;
    lab.start_device().await;
    let _d = lab.start_delivery().await;
    let (from, n, _) = first_notification(&lab.sink).await;
    assert_eq!(from, eid());
    assert_eq!(n.kind.to_byte(), 0x01, "eUICC declaration");
    // The confirmation is queued and runs to completion (the card answered 9000).
    tokio::time::timeout(LIMIT, async {
        loop {
            let done = lab.commands().await.iter().any(|c| {
                c.status == CommandStatus::Done
                    && String::from_utf8_lossy(&c.payload).contains("notification-confirmation/")
            });
            if done && lab.pending().await.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    lab.stop_delivery().await;
    lab.stop_device().await;
    assert!(
        lab.card().registry().notifications().is_empty(),
        "the card holds no unconfirmed notification"
    );
}

/// A notification posted by HTTPS (`?msg=` on the first POST of a PSK-TLS session) reaches the
/// sink and is confirmed with 3A08 inside that session; the card holds no unconfirmed
/// notification afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_notification_is_confirmed_in_the_session() {
    let mut lab = Lab::new(true).await;
    lab.notify_https = true;
    let _d = lab.start_delivery().await;
    lab.start_device().await;
    let (from, n, _) = first_notification(&lab.sink).await;
    assert_eq!(from, eid());
    assert_eq!(n.kind.to_byte(), 0x01, "eUICC declaration");
    // The session (notification, confirmation script) completed on the device's side.
    lab.event(|k| matches!(k, EventKind::NotificationSent { via, .. } if via == "https"))
        .await;
    lab.stop_delivery().await;
    lab.stop_device().await;
    assert!(
        lab.card().registry().notifications().is_empty(),
        "the card holds no unconfirmed notification"
    );
    // Nothing was queued for it: the confirmation ran in the session.
    assert!(lab.commands().await.is_empty());
}

/// A command the card refuses (GET DATA of an unknown tag) is delivered and reported as a card
/// error with its status word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_error_status_word_is_reported() {
    let mut lab = Lab::new(false).await;
    lab.start_device().await;
    let d = lab.start_delivery().await;
    let job = Es5Job {
        target: JobTarget::IsdR,
        payload: apdus(&[GetData::new(0x7F7E).to_command()]),
        step: "bad-tag".into(),
    };
    let out = execute(&d, &OperationId::random().unwrap(), job, in_minutes(10)).await;
    let Es5Outcome::CardError { responses, sw } = &out else {
        panic!("{out:?}");
    };
    assert_ne!(*sw, 0x9000);
    assert_eq!(responses.last().unwrap().sw.to_u16(), *sw);
    lab.stop_delivery().await;
    lab.stop_device().await;
}

/// Two `execute` calls with the same operation and step share one queued command and both
/// get its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_operation_and_step_share_one_command() {
    let mut lab = Lab::new(false).await;
    let d = lab.start_delivery().await;
    let op = OperationId::random().unwrap();
    let (d1, o1) = (d.clone(), op.clone());
    let first =
        tokio::spawn(
            async move { execute(&d1, &o1, get_status_job("status"), in_minutes(10)).await },
        );
    tokio::time::timeout(LIMIT, async {
        while lab.pending().await.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let (d2, o2) = (d.clone(), op.clone());
    let second =
        tokio::spawn(
            async move { execute(&d2, &o2, get_status_job("status"), in_minutes(10)).await },
        );
    // The card comes up only now: both wait for the same command.
    tokio::time::sleep(Duration::from_millis(200)).await;
    lab.start_device().await;
    let (a, b) = (first.await.unwrap(), second.await.unwrap());
    assert_bootstrap_listed(&a);
    assert_eq!(a, b);
    let mine = lab
        .commands()
        .await
        .into_iter()
        .filter(|c| c.operation_id.as_ref() == Some(&op))
        .count();
    assert_eq!(mine, 1);
    lab.stop_delivery().await;
    lab.stop_device().await;
}

/// An operation resumed after its step's command was answered (the SM-SR died between the PoR
/// and saving the step) gets the stored answer from a new delivery: the command is not sent to
/// the card again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_step_is_answered_from_the_store_not_sent_again() {
    let mut lab = Lab::new(false).await;
    lab.start_device().await;
    let d = lab.start_delivery().await;
    let op = OperationId::random().unwrap();
    let first = execute(&d, &op, get_status_job("status"), in_minutes(10)).await;
    assert_bootstrap_listed(&first);
    lab.stop_delivery().await;
    let d = lab.start_delivery().await;
    let again = execute(&d, &op, get_status_job("status"), in_minutes(10)).await;
    assert_eq!(again, first, "the stored answer");
    let mine: Vec<_> = lab
        .commands()
        .await
        .into_iter()
        .filter(|c| c.operation_id.as_ref() == Some(&op))
        .collect();
    assert_eq!(mine.len(), 1, "no second command: {mine:?}");
    assert_eq!(mine[0].status, CommandStatus::Done);
    assert_eq!(mine[0].attempts, 1, "sent once");
    lab.stop_delivery().await;
    lab.stop_device().await;
}

/// Jobs that cannot be sent are refused before anything is queued: bad hex, an eUICC without
/// ISD-R keyset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_job_and_unknown_euicc_are_refused() {
    let lab = Lab::new(false).await;
    let d = Delivery::new(
        config(&lab.smsc_addr),
        lab.store.clone(),
        lab.sealer.clone(),
        lab.sink.clone(),
    )
    .unwrap();
    let op = OperationId::random().unwrap();
    let bad = Es5Job {
        target: JobTarget::IsdR,
        payload: JobPayload::Apdus(vec!["not hex".into()]),
        step: "bad".into(),
    };
    let r = d.execute(&eid(), &op, bad, in_minutes(10)).await;
    assert!(matches!(r, Err(DeliveryError::BadJob(_))), "{r:?}");
    let other = pki::eid_from_prefix("8904903200", 99).unwrap();
    let r = d
        .execute(&other, &op, get_status_job("s"), in_minutes(10))
        .await;
    assert!(matches!(r, Err(DeliveryError::NoKeyset(_))), "{r:?}");
    assert!(lab.commands().await.is_empty());
}

/// HTTPS: two jobs queued before the card is reachable both run in the first admin session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_session_carries_the_queued_jobs() {
    let mut lab = Lab::new(true).await;
    let d = lab.start_delivery().await;
    let (op_a, op_b) = (
        OperationId::random().unwrap(),
        OperationId::random().unwrap(),
    );
    let (d1, a) = (d.clone(), op_a.clone());
    let first = tokio::spawn(async move {
        let job = Es5Job {
            target: JobTarget::IsdR,
            payload: apdus(&[GetData::new(0x5A).to_command()]),
            step: "eid".into(),
        };
        execute(&d1, &a, job, in_minutes(10)).await
    });
    tokio::time::timeout(LIMIT, async {
        while lab.pending().await.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let (d2, b) = (d.clone(), op_b.clone());
    let second =
        tokio::spawn(
            async move { execute(&d2, &b, get_status_job("status"), in_minutes(10)).await },
        );
    tokio::time::timeout(LIMIT, async {
        while lab.pending().await.len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    lab.start_device().await;
    let out_a = first.await.unwrap();
    let out_b = second.await.unwrap();
    let Es5Outcome::Completed { responses, .. } = &out_a else {
        panic!("{out_a:?}");
    };
    assert!(hex::encode_upper(&responses.last().unwrap().data).contains(eid().as_str()));
    assert_bootstrap_listed(&out_b);
    let ev = lab
        .event(|k| matches!(k, EventKind::AdminSession { .. }))
        .await;
    // (a notification confirmation queued meanwhile may ride along)
    let EventKind::AdminSession {
        success, scripts, ..
    } = ev
    else {
        unreachable!()
    };
    assert!(success && scripts >= 2, "both scripts in the first session");
    lab.stop_delivery().await;
    lab.stop_device().await;
}

/// The GET STATUS over SMS and the restart on PostgreSQL (claims with row locks); skipped
/// without `ESIM_TEST_PG_URL`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_get_status_and_shared_command() {
    let Ok(url) = std::env::var("ESIM_TEST_PG_URL") else {
        println!("SKIP postgres delivery test: ESIM_TEST_PG_URL not set");
        return;
    };
    let mut lab = Lab::with_store(false, Some(&url)).await;
    let d = lab.start_delivery().await;
    let op = OperationId::random().unwrap();
    let (d1, o1) = (d.clone(), op.clone());
    let first =
        tokio::spawn(
            async move { execute(&d1, &o1, get_status_job("status"), in_minutes(10)).await },
        );
    tokio::time::timeout(LIMIT, async {
        while lab.pending().await.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let (d2, o2) = (d.clone(), op.clone());
    let second =
        tokio::spawn(
            async move { execute(&d2, &o2, get_status_job("status"), in_minutes(10)).await },
        );
    tokio::time::sleep(Duration::from_millis(200)).await;
    lab.start_device().await;
    let (a, b) = (first.await.unwrap(), second.await.unwrap());
    assert_bootstrap_listed(&a);
    assert_eq!(a, b);
    assert!(
        lab.pending()
            .await
            .iter()
            .all(|c| c.operation_id.as_ref() != Some(&op))
    );
    lab.stop_delivery().await;
    lab.stop_device().await;
}

/// An eUICC registered after the delivery started: its SCP81 identity is unknown at the first
/// handshake, its keys are then loaded, and the card's next attempt gets its notification
/// through and confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_keys_of_an_euicc_registered_later_are_loaded() {
    let mut lab = Lab::unregistered(true, None).await;
    lab.notify_https = true;
    let d = lab.start_delivery().await;
    tokio::time::timeout(LIMIT, d.ready()).await.unwrap();
    lab.register(true).await;
    lab.start_device().await;
    let (from, n, _) = first_notification(&lab.sink).await;
    assert_eq!(from, eid());
    assert_eq!(n.kind.to_byte(), 0x01);
    lab.event(|k| matches!(k, EventKind::NotificationSent { via, .. } if via == "https"))
        .await;
    lab.stop_delivery().await;
    lab.stop_device().await;
    assert!(lab.card().registry().notifications().is_empty());
}

/// The ValidityPeriod ends while the command waits for its PoR: the job is Expired and so is
/// the command in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_expiring_in_flight_is_expired() {
    let mut lab = Lab::new(false).await;
    let d = lab.start_delivery().await;
    let op = OperationId::random().unwrap();
    let deadline = Timestamp(in_minutes(0).0 + 1_000);
    let out = execute(&d, &op, get_status_job("short"), deadline).await;
    assert_eq!(out, Es5Outcome::Expired);
    let cmd = lab
        .commands()
        .await
        .into_iter()
        .find(|c| c.operation_id.as_ref() == Some(&op))
        .unwrap();
    assert_eq!(cmd.status, CommandStatus::Expired);
    assert_eq!(cmd.attempts, 1, "it was sent once");
    lab.stop_delivery().await;
}

/// An eUICC registered after the delivery started: its PoRs are routed to it at once (the
/// channel indexes its MSISDN), so a job sent right away completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn euicc_registered_after_start_is_reached_over_sms() {
    let mut lab = Lab::unregistered(false, None).await;
    lab.start_device().await;
    let d = lab.start_delivery().await;
    tokio::time::timeout(LIMIT, d.ready()).await.unwrap();
    lab.register(false).await;
    let op = OperationId::random().unwrap();
    let out = execute(&d, &op, get_status_job("status"), in_minutes(10)).await;
    assert_bootstrap_listed(&out);
    lab.stop_delivery().await;
    lab.stop_device().await;
}

/// A notification the sink refuses is not confirmed: the card sends it again; once the sink
/// accepts it, it is confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_notification_is_not_confirmed() {
    let mut lab = Lab::new(false).await;
    lab.sink
        .refuse
        .store(true, std::sync::atomic::Ordering::SeqCst);
    lab.start_device().await;
    let _d = lab.start_delivery().await;
    let sink = lab.sink.clone();
    tokio::time::timeout(LIMIT, async {
        loop {
            let n = sink.notify.notified();
            if sink.got.lock().unwrap().len() >= 2 {
                return;
            }
            n.await;
        }
    })
    .await
    .expect("the notification is sent again");
    assert!(
        lab.commands().await.is_empty(),
        "no confirmation for a refused notification"
    );
    sink.refuse
        .store(false, std::sync::atomic::Ordering::SeqCst);
    tokio::time::timeout(LIMIT, async {
        loop {
            let done = lab.commands().await.iter().any(|c| {
                c.status == CommandStatus::Done
                    && String::from_utf8_lossy(&c.payload).contains("notification-confirmation/")
            });
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    lab.stop_delivery().await;
    lab.stop_device().await;
    assert!(lab.card().registry().notifications().is_empty());
}
