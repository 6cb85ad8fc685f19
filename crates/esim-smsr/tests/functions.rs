//! The SM-SR's functions against real software eUICCs: a test double of the ES5 executor
//! (`CardExecutor`) feeds each job to an `esim_euicc::Euicc` exactly as the real transports
//! carry it (an expanded command script for the ISD-R, SCP03t data for an ISD-P), on the memory
//! and SQLite stores.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use esim_apdu::apdu::{CommandApdu, ResponseApdu};
use esim_apdu::etsi102226::{CommandScript, ResponseScript};
use esim_apdu::gp::sgp02::{Es5Command, Notification};
use esim_codec::{Aid, Eid, Iccid, Tar};
use esim_crypto::cert::Date;
use esim_crypto::pki::{self, EuiccParams, IssuedEuicc, PkiParams, TestPki};
use esim_crypto::primitives::SecretKey;
use esim_euicc::card::{Action, CardConfig, Euicc, ScriptStatus};
use esim_euicc::registry::LifeCycle;
use esim_proto::codes::{reason, subject};
use esim_proto::common::Status;
use esim_proto::function::{AnyRequest, Function, decode_request};
use esim_proto::smdp::{AwaitingIsdpCreated, Config, DownloadParams, Next, Outgoing};
use esim_service::{CallOutcome, Callback, Callbacks, Caller, ClientError, FunctionService, role};
use esim_smsr::delivery::{
    DeliveryError, Es5Executor, Es5Job, Es5Outcome, JobPayload, JobTarget, NotificationSink,
};
use esim_smsr::{Registration, Smsr, SmsrConfig};
use esim_store::{AesSealer, MemoryStore, OperationId, SqliteStore, Store, Timestamp};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Fixtures.

struct Pkis {
    pki: TestPki,
    other: TestPki,
}

fn pkis() -> &'static Pkis {
    static P: OnceLock<Pkis> = OnceLock::new();
    P.get_or_init(|| {
        let params = PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap());
        Pkis {
            pki: TestPki::generate(&params).unwrap(),
            other: TestPki::generate(&params).unwrap(),
        }
    })
}

fn issue(pki: &TestPki, serial: u64) -> IssuedEuicc {
    let eid = pki::eid_from_prefix("8904903200", serial).unwrap();
    let p = EuiccParams::test_defaults(eid, Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
    pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap()
}

/// EID serials unique across runs (a PostgreSQL database outlives the test process).
fn next_serial() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    static BASE: OnceLock<u64> = OnceLock::new();
    let base = *BASE.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        (t.as_micros() as u64 % 1_000_000_000_000) * 1000
    });
    base + N.fetch_add(1, Ordering::SeqCst)
}

/// The TS.48 package from the vectors.
fn base_package() -> Vec<u8> {
    let path = esim_vectors::saip_files()
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "TS48V1-A-UNIQUE.der"))
        .expect("TS48V1-A-UNIQUE.der in the vectors");
    std::fs::read(path).unwrap()
}

/// The package with another ICCID and POL1.
fn package_with(iccid: &str, pol1: u8) -> (Vec<u8>, Iccid) {
    let mut p = esim_saip::ProfilePackage::decode(&base_package()).unwrap();
    let iccid = Iccid::parse(iccid).unwrap();
    let h = p.header_mut().unwrap();
    h.iccid = esim_saip::access::iccid_to_header_bcd(&iccid)
        .to_vec()
        .into();
    h.pol = if pol1 == 0 {
        None
    } else {
        Some(vec![pol1].into())
    };
    (p.encode().unwrap(), iccid)
}

const ICCID_A: &str = "89019990001234567893";
const ICCID_B: &str = "89019990001234567802";

fn caller(id: &str, r: &str) -> Caller {
    Caller {
        id: id.into(),
        roles: vec![r.into()],
    }
}

fn admin() -> Caller {
    caller("admin", role::ADMIN)
}
fn smdp() -> Caller {
    caller("smdp1", role::SM_DP)
}
fn mno1() -> Caller {
    caller("mno1", role::MNO)
}
fn mno2() -> Caller {
    caller("mno2", role::MNO)
}
fn eum() -> Caller {
    caller(&pkis().pki.eum.id, role::EUM)
}

// ---------------------------------------------------------------------------------------------
// The ES5 test double.

#[derive(Debug, Default)]
struct CardExecutor {
    cards: Mutex<HashMap<Eid, Euicc>>,
    /// Outcomes per (operation, step): a repeated execute attaches to the first one.
    memo: Mutex<HashMap<(String, String), Es5Outcome>>,
    /// Jobs actually run on a card, by step name.
    runs: Mutex<Vec<String>>,
    /// After running a job of this step, never answer (the SM-SR is killed while waiting).
    hang_after: Mutex<Option<String>>,
}

impl CardExecutor {
    fn add(&self, card: Euicc) {
        self.cards.lock().unwrap().insert(card.eid().clone(), card);
    }

    fn with<T>(&self, eid: &Eid, f: impl FnOnce(&mut Euicc) -> T) -> T {
        f(self.cards.lock().unwrap().get_mut(eid).expect("card"))
    }

    fn runs(&self, step: &str) -> usize {
        self.runs
            .lock()
            .unwrap()
            .iter()
            .filter(|s| *s == step)
            .count()
    }

    fn run_job(card: &mut Euicc, job: &Es5Job) -> Es5Outcome {
        match (&job.target, &job.payload) {
            (JobTarget::IsdR, JobPayload::Apdus(hexes)) => {
                let cmds: Vec<CommandApdu> = hexes
                    .iter()
                    .map(|h| CommandApdu::decode(&hex::decode(h).unwrap()).unwrap())
                    .collect();
                let script = CommandScript::of_apdus(cmds).encode().unwrap();
                let out = card.admin_script(None, &script);
                let rs = ResponseScript::decode(&out.response).unwrap();
                let responses: Vec<ResponseApdu> = rs.responses().cloned().collect();
                match responses.last() {
                    Some(r) if !(r.sw.is_success() || r.sw.is_warning()) => {
                        let sw = r.sw.to_u16();
                        Es5Outcome::CardError { responses, sw }
                    }
                    _ => Es5Outcome::Completed {
                        responses,
                        data: out.response,
                    },
                }
            }
            (target, JobPayload::Raw(h)) => {
                let aid = match target {
                    JobTarget::IsdP(a) => Some(a),
                    JobTarget::IsdR => None,
                };
                let out = card.admin_script(aid, &hex::decode(h).unwrap());
                if out.status != ScriptStatus::Ok {
                    return Es5Outcome::Unreachable {
                        reason: out.status.header_value().into(),
                    };
                }
                Es5Outcome::Completed {
                    responses: Vec::new(),
                    data: out.response,
                }
            }
            (JobTarget::IsdP(_), JobPayload::Apdus(_)) => Es5Outcome::Unreachable {
                reason: "APDUs to an ISD-P".into(),
            },
        }
    }
}

#[async_trait]
impl Es5Executor for CardExecutor {
    async fn execute(
        &self,
        eid: &Eid,
        operation: &OperationId,
        job: Es5Job,
        deadline: Timestamp,
    ) -> Result<Es5Outcome, DeliveryError> {
        let key = (operation.to_string(), job.step.clone());
        if let Some(o) = self.memo.lock().unwrap().get(&key) {
            return Ok(o.clone());
        }
        if esim_service::now() >= deadline {
            return Ok(Es5Outcome::Expired);
        }
        let outcome = {
            let mut cards = self.cards.lock().unwrap();
            match cards.get_mut(eid) {
                Some(card) => Self::run_job(card, &job),
                None => Es5Outcome::Unreachable {
                    reason: "no such card".into(),
                },
            }
        };
        self.runs.lock().unwrap().push(job.step.clone());
        self.memo.lock().unwrap().insert(key, outcome.clone());
        let hang = self.hang_after.lock().unwrap().as_deref() == Some(job.step.as_str());
        if hang {
            std::future::pending::<()>().await;
        }
        Ok(outcome)
    }
}

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<(String, Callback)>>);

#[async_trait]
impl Callbacks for Recorder {
    async fn deliver(&self, party: &str, message: Callback) -> Result<(), ClientError> {
        self.0.lock().unwrap().push((party.into(), message));
        Ok(())
    }
}

impl Recorder {
    fn notifications(&self, party: &str) -> Vec<Function> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == party)
            .filter_map(|(_, c)| match c {
                Callback::Notification(r) => Some(r.function()),
                _ => None,
            })
            .collect()
    }
    fn results(&self, party: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, c)| p == party && matches!(c, Callback::Result { .. }))
            .count()
    }
}

// ---------------------------------------------------------------------------------------------
// Environment.

struct Env {
    smsr: Arc<Smsr>,
    store: Arc<dyn Store>,
    exec: Arc<CardExecutor>,
    cb: Arc<Recorder>,
    issued: IssuedEuicc,
    eid: Eid,
    calls: std::sync::atomic::AtomicU64,
}

fn sealer() -> Arc<AesSealer> {
    Arc::new(AesSealer::new("test", &SecretKey::new(&[0x42; 32])).unwrap())
}

fn config(lease_ms: i64) -> SmsrConfig {
    let p = &pkis().pki;
    let mut c = SmsrConfig::new("smsr1", p.ci.cert.clone(), vec![p.eum.cert.clone()]);
    c.lease_ms = lease_ms;
    c.poll_interval = Duration::from_millis(50);
    c
}

fn new_smsr(
    store: &Arc<dyn Store>,
    exec: &Arc<CardExecutor>,
    cb: &Arc<Recorder>,
    lease_ms: i64,
) -> Arc<Smsr> {
    Arc::new(
        Smsr::new(
            config(lease_ms),
            store.clone(),
            sealer(),
            exec.clone(),
            cb.clone(),
        )
        .unwrap(),
    )
}

async fn sqlite() -> Arc<dyn Store> {
    Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap())
}

fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// A fresh eUICC (no profile), registered through ES1 by its EUM.
async fn env(store: Arc<dyn Store>) -> Env {
    let exec = Arc::new(CardExecutor::default());
    let cb = Arc::new(Recorder::default());
    let smsr = new_smsr(&store, &exec, &cb, 30_000);
    let issued = issue(&pkis().pki, next_serial());
    exec.add(Euicc::new(
        &issued,
        CardConfig {
            memory_capacity: 200_000,
            default_isdp_quota: 40_000,
        },
    ));
    let e = Env {
        smsr,
        store,
        exec,
        cb,
        eid: issued.eid.clone(),
        issued,
        calls: Default::default(),
    };
    let r = e
        .call(
            &eum(),
            Function::Es1RegisterEis,
            json!({ "Eis": e.issued.eis }),
        )
        .await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    e
}

fn request(f: Function, who: &Caller, fcid: &str, body: Value) -> AnyRequest {
    let j = json!({
        "Header": {
            "FunctionRequesterIdentifier": who.id,
            "FunctionCallIdentifier": fcid,
            "ValidityPeriod": 600,
        },
        "Body": body,
    });
    decode_request(f, &j.to_string()).unwrap()
}

fn status(v: &Value) -> Status {
    esim_service::status_of(v).expect("status").status
}

fn codes(v: &Value) -> (String, String) {
    let d = esim_service::status_of(v)
        .expect("status")
        .status_code_data
        .expect("status code data");
    (d.subject_code, d.reason_code)
}

/// Runs `smsr`'s resumer until `operation` is done; its response.
async fn resumed(smsr: &Smsr, who: &Caller, operation: &OperationId, what: &str) -> Value {
    for _ in 0..200 {
        smsr.resume_once().await.unwrap();
        if let CallOutcome::Done(v) = smsr
            .outcome(who, operation, Duration::from_millis(50))
            .await
            .unwrap()
        {
            return v;
        }
    }
    panic!("not {what}");
}

async fn done(o: CallOutcome) -> Value {
    match o {
        CallOutcome::Done(v) => v,
        other => panic!("not done: {other:?}"),
    }
}

impl Env {
    fn fcid(&self) -> String {
        format!(
            "{}-{}",
            self.eid.as_str(),
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        )
    }

    async fn call(&self, who: &Caller, f: Function, body: Value) -> Value {
        let fcid = self.fcid();
        self.call_id(who, f, &fcid, body).await
    }

    async fn call_id(&self, who: &Caller, f: Function, fcid: &str, body: Value) -> Value {
        let o = self
            .smsr
            .call(who, request(f, who, fcid, body), Duration::from_secs(60))
            .await
            .unwrap();
        done(o).await
    }

    fn eid_iccid(&self, iccid: &Iccid) -> Value {
        json!({ "Eid": self.eid, "Iccid": iccid })
    }

    /// Downloads `package` through ES3 driven by the real SM-DP machine, then
    /// ProfileDownloadCompleted with `pol2`.
    async fn download(&self, tar: u8, package: Vec<u8>, iccid: &Iccid, mno: &str, pol2: Value) {
        let p = &pkis().pki;
        let aid = Aid::isd_p(Tar([0, 0, tar]));
        let params = DownloadParams {
            isdp_aid: aid.clone(),
            iccid: iccid.clone(),
            signing_key: p.smdp.key.clone(),
            certificate: p.smdp.cert.clone(),
            ecasd_key: self.issued.ecasd_cert.public_key().clone(),
            package: package.into(),
            config: Config::default(),
        };
        let (state, out) = AwaitingIsdpCreated::start(params).unwrap();
        assert!(matches!(out, Outgoing::CreateIsdp(_)));
        let r = self
            .call(
                &smdp(),
                Function::Es3CreateIsdp,
                json!({"Eid": self.eid, "Iccid": iccid, "Mno-id": mno, "RequiredMemory": 40000}),
            )
            .await;
        assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
        let got: Aid = serde_json::from_value(r["Body"]["Isd-p-aid"].clone()).unwrap();
        assert_eq!(got, aid);
        let rapdu = ResponseApdu::decode(
            &hex::decode(r["Body"]["EuiccResponseData"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        let mut next = state.handle(&got, &rapdu).unwrap();
        loop {
            next = match next {
                Next::AwaitingChallenge(s, Outgoing::IsdRApdus(cmds)) => {
                    s.handle(&self.send_isd_r(cmds).await).unwrap()
                }
                Next::AwaitingReceipt(s, Outgoing::IsdRApdus(cmds)) => {
                    s.handle(&self.send_isd_r(cmds).await).unwrap()
                }
                Next::AwaitingInitUpdate(s, Outgoing::IsdPData { isdp_aid, data }) => {
                    s.handle(&self.send_isd_p(&isdp_aid, &data).await).unwrap()
                }
                Next::Downloading(s, Outgoing::IsdPData { isdp_aid, data }) => {
                    s.handle(&self.send_isd_p(&isdp_aid, &data).await).unwrap()
                }
                Next::Completed(c) => {
                    assert_eq!(&c.iccid, iccid);
                    break;
                }
                other => panic!("download did not complete: {other:?}"),
            };
        }
        let r = self
            .call(
                &smdp(),
                Function::Es3ProfileDownloadCompleted,
                json!({"Eid": self.eid, "Iccid": iccid, "ProfileType": "test",
                       "SubscriptionAddress": {"Msisdn": "123456"}, "pol2": pol2}),
            )
            .await;
        assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    }

    async fn send_data(&self, sd: &Aid, data: &[u8]) -> Vec<u8> {
        let r = self
            .call(
                &smdp(),
                Function::Es3SendData,
                json!({"Eid": self.eid, "Sd-aid": sd, "Data": hex::encode_upper(data)}),
            )
            .await;
        assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
        hex::decode(r["Body"]["EuiccResponseData"].as_str().unwrap()).unwrap()
    }

    async fn send_isd_r(&self, cmds: Vec<CommandApdu>) -> Vec<ResponseApdu> {
        let script = CommandScript::of_apdus(cmds).encode().unwrap();
        let resp = self.send_data(&Aid::isd_r(), &script).await;
        ResponseScript::decode(&resp)
            .unwrap()
            .responses()
            .cloned()
            .collect()
    }

    async fn send_isd_p(&self, aid: &Aid, data: &[u8]) -> Vec<u8> {
        self.send_data(aid, data).await
    }

    /// The device attaches after a REFRESH; returns the card's notifications.
    fn attach(&self) -> Vec<(Notification, u16)> {
        self.exec.with(&self.eid, |card| {
            card.network_attach(true);
            std::iter::from_fn(|| card.poll_action())
                .filter_map(|a| match a {
                    Action::SendNotification {
                        sequence,
                        notification,
                        ..
                    } => Some((Notification::decode(&notification).unwrap(), sequence)),
                    _ => None,
                })
                .collect()
        })
    }

    /// What the delivery does with a notification: hand it to the SM-SR, then confirm (3A08).
    async fn deliver_notifications(&self, ns: Vec<(Notification, u16)>) {
        for (n, seq) in ns {
            self.smsr.on_notification(&self.eid, n, seq).await.unwrap();
            self.card_es5(Es5Command::NotificationConfirmation { sequence: seq });
        }
    }

    /// An ES5 command sent straight to the card, behind the SM-SR's back.
    fn card_es5(&self, c: Es5Command) -> u16 {
        let cmds = c.to_commands(255).unwrap();
        self.card_script(cmds)
    }

    fn card_script(&self, cmds: Vec<CommandApdu>) -> u16 {
        let script = CommandScript::of_apdus(cmds).encode().unwrap();
        self.exec.with(&self.eid, |card| {
            let out = card.admin_script(None, &script);
            ResponseScript::decode(&out.response)
                .unwrap()
                .responses()
                .last()
                .unwrap()
                .sw
                .to_u16()
        })
    }

    fn card_state(&self, tar: u8) -> Option<LifeCycle> {
        let aid = Aid::isd_p(Tar([0, 0, tar]));
        self.exec
            .with(&self.eid, |c| c.registry().get(&aid).map(|p| p.state))
    }

    async fn eis(&self) -> Value {
        let r = self
            .call(&admin(), Function::Es4GetEis, json!({ "Eid": self.eid }))
            .await;
        assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
        r["Body"]["Eis"].clone()
    }

    async fn state_of(&self, iccid: &Iccid) -> Option<String> {
        let eis = self.eis().await;
        eis["ProfileInfo"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["Iccid"] == json!(iccid))
            .map(|p| p["State"].as_str().unwrap().to_owned())
    }

    async fn enable(&self, who: &Caller, iccid: &Iccid) -> Value {
        self.call(who, Function::Es4EnableProfile, self.eid_iccid(iccid))
            .await
    }
}

/// Memory and SQLite, and PostgreSQL when `ESIM_TEST_PG_URL` is set.
fn both_stores() -> Vec<&'static str> {
    if std::env::var("ESIM_TEST_PG_URL").is_ok() {
        vec!["memory", "sqlite", "postgres"]
    } else {
        println!("SKIP postgres variant: ESIM_TEST_PG_URL not set");
        vec!["memory", "sqlite"]
    }
}

async fn store_named(name: &str) -> Arc<dyn Store> {
    match name {
        "memory" => memory(),
        "postgres" => {
            // A fresh schema per store: no run sees another's data.
            let url = std::env::var("ESIM_TEST_PG_URL").unwrap();
            let schema = format!(
                "fn_{}",
                esim_store::OperationId::random()
                    .unwrap()
                    .as_str()
                    .to_ascii_lowercase()
            );
            Arc::new(
                esim_store::PgStore::connect_in_schema(&url, &schema)
                    .await
                    .unwrap(),
            )
        }
        _ => sqlite().await,
    }
}

// ---------------------------------------------------------------------------------------------
// ES1.RegisterEIS.

#[tokio::test(flavor = "multi_thread")]
async fn register_eis_then_get_eis_and_duplicate() {
    for s in both_stores() {
        let e = env(store_named(s).await).await;
        let eis = e.eis().await;
        assert_eq!(eis["EumSignedInfo"]["Eid"], json!(e.eid), "{s}");
        assert_eq!(eis["Smsr-id"], "smsr1");
        // The public view has no keyset metadata, and no key anywhere.
        assert_eq!(eis["Isd-r"]["Keyset"], json!([]));
        let kic = hex::encode_upper(e.issued.scp80[0].kic.expose());
        assert!(!eis.to_string().contains(&kic));
        // The keys are stored sealed, and open again to the EUM's values.
        let ks = e.store.keysets(&e.eid).await.unwrap();
        assert_eq!(ks.len(), 2);
        let opened =
            esim_smsr::keys::open_keyset(sealer().as_ref(), &e.eid, 1, &ks[0].keys).unwrap();
        assert_eq!(opened, e.issued.eis.eum_signed_info.isd_r.keysets[0]);
        // The stored operation of RegisterEIS holds the request sealed: no key in clear.
        let op = e
            .store
            .find_operation(&eum().id, &format!("{}-0", e.eid.as_str()))
            .await
            .unwrap()
            .expect("the RegisterEIS operation");
        assert!(op.state.get("request").unwrap().get("SealedBody").is_some());
        let psk = hex::encode_upper(e.issued.scp81[0].psk.expose());
        assert!(!op.state.to_string().contains(&kic) && !op.state.to_string().contains(&psk));
        assert!(
            !op.state
                .to_string()
                .to_lowercase()
                .contains(&kic.to_lowercase())
        );
        // Registered twice: 8.1.1 / 3.3.
        let r = e
            .call(
                &eum(),
                Function::Es1RegisterEis,
                json!({ "Eis": e.issued.eis }),
            )
            .await;
        assert_eq!(status(&r), Status::Failed);
        assert_eq!(codes(&r), ("8.1.1".into(), "3.3".into()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn register_eis_refusals() {
    let store = memory();
    let exec = Arc::new(CardExecutor::default());
    let cb = Arc::new(Recorder::default());
    let smsr = new_smsr(&store, &exec, &cb, 30_000);
    let call = |doc: Value, who: Caller| {
        let smsr = smsr.clone();
        async move {
            let r = request(
                Function::Es1RegisterEis,
                &who,
                &format!("reg-{}", next_serial()),
                json!({ "Eis": doc }),
            );
            done(smsr.call(&who, r, Duration::from_secs(30)).await.unwrap()).await
        }
    };
    // Bad signature: the signed info changed after signing.
    let mut doc = issue(&pkis().pki, next_serial()).eis;
    doc.eum_signed_info.platform_version = "tampered".into();
    let r = call(serde_json::to_value(&doc).unwrap(), eum()).await;
    assert_eq!(status(&r), Status::Failed);
    assert_eq!(codes(&r), ("8.1.2".into(), "6.1".into()));
    // Unknown EUM (another PKI's EUM certificate).
    let other = &pkis().other;
    let doc = issue(other, next_serial()).eis;
    let r = call(
        serde_json::to_value(&doc).unwrap(),
        caller(&other.eum.id, role::EUM),
    )
    .await;
    assert_eq!(codes(&r), ("8.1.2".into(), "6.1".into()));
    // ECASD certificate of another eUICC, re-signed by the EUM: the EID does not match.
    let a = issue(&pkis().pki, next_serial());
    let b = issue(&pkis().pki, next_serial());
    let mut doc = a.eis.clone();
    doc.eum_signed_info.ecasd.certificate = b.eis.eum_signed_info.ecasd.certificate.clone();
    let sig = pkis()
        .pki
        .eum
        .key
        .sign(&doc.eum_signed_info.canonical_bytes().unwrap())
        .unwrap();
    doc.eum_signature = hex::encode(sig);
    let r = call(serde_json::to_value(&doc).unwrap(), eum()).await;
    assert_eq!(status(&r), Status::Failed);
    assert_eq!(codes(&r), ("8.1.3".into(), "6.1".into()), "{r}");
    // An EUM registering another EUM's eUICC.
    let doc = issue(&pkis().pki, next_serial()).eis;
    let r = call(
        serde_json::to_value(&doc).unwrap(),
        caller("eum-other", role::EUM),
    )
    .await;
    assert_eq!(codes(&r), ("8.5".into(), "1.2".into()));
    // The wrong role never reaches the function.
    let doc = issue(&pkis().pki, next_serial()).eis;
    let who = mno1();
    let req = request(
        Function::Es1RegisterEis,
        &who,
        "x1",
        json!({ "Eis": serde_json::to_value(&doc).unwrap() }),
    );
    assert!(matches!(
        smsr.call(&who, req, Duration::from_secs(5)).await,
        Err(esim_service::ServiceError::Forbidden(_))
    ));
    // Nothing was registered.
    assert!(store.list_eids(None, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn register_with_msisdn_and_bootstrap_profile() {
    let store = memory();
    let exec = Arc::new(CardExecutor::default());
    let cb = Arc::new(Recorder::default());
    let smsr = new_smsr(&store, &exec, &cb, 30_000);
    let issued = issue(&pkis().pki, next_serial());
    let boot = esim_store::ProfileRecord {
        eid: issued.eid.clone(),
        iccid: Iccid::parse(ICCID_A).unwrap(),
        isd_p_aid: Aid::isd_p(Tar([0, 0, 0x10])),
        mno_id: "mno1".into(),
        smdp_id: "smdp1".into(),
        profile_type: "bootstrap".into(),
        state: esim_store::ProfileState::Enabled,
        fallback: true,
        subscription_address: Default::default(),
        pol2: None,
        allocated_memory: 0,
        free_memory: 0,
        updated_at: Timestamp(0),
    };
    let st = smsr
        .register_eis_with(
            &eum(),
            &issued.eis,
            &Registration {
                msisdn: Some("4912345".into()),
                profiles: vec![boot],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(st.is_executed(), "{st:?}");
    let rec = store.get_eis(&issued.eid).await.unwrap();
    assert_eq!(rec.additional_properties["msisdn"], "4912345");
    // The MNO of the bootstrap Profile now sees the eUICC, with its Profile.
    let who = mno1();
    let r = done(
        smsr.call(
            &who,
            request(
                Function::Es4GetEis,
                &who,
                "g1",
                json!({ "Eid": issued.eid }),
            ),
            Duration::from_secs(10),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    assert_eq!(r["Body"]["Eis"]["ProfileInfo"][0]["State"], "Enabled");
    assert_eq!(
        r["Body"]["Eis"]["ProfileInfo"][0]["FallbackAttribute"],
        true
    );
}

// ---------------------------------------------------------------------------------------------
// Download, enable, disable, delete.

#[tokio::test(flavor = "multi_thread")]
async fn download_by_the_smdp_machine_then_enable() {
    for s in both_stores() {
        let e = env(store_named(s).await).await;
        let (pkg, iccid) = package_with(ICCID_A, 0);
        let before = e.store.get_eis(&e.eid).await.unwrap();
        e.download(0x11, pkg, &iccid, "mno1", json!({})).await;
        assert_eq!(e.card_state(0x11), Some(LifeCycle::Disabled), "{s}");
        // The memory granted to the ISD-P is no longer available for Profiles.
        let after = e.store.get_eis(&e.eid).await.unwrap();
        assert_eq!(
            after.available_memory_for_profiles,
            before.available_memory_for_profiles - 40_000
        );
        assert_eq!(e.state_of(&iccid).await.as_deref(), Some("Disabled"));
        let r = e.enable(&mno1(), &iccid).await;
        assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
        assert_eq!(e.card_state(0x11), Some(LifeCycle::Enabled));
        assert_eq!(e.state_of(&iccid).await.as_deref(), Some("Enabled"));
        // The SM-DP was told (ES3); the MNO got the result in its call, so no callback.
        assert!(
            e.cb.notifications("smdp1")
                .contains(&Function::Es3HandleProfileEnabledNotification)
        );
        assert_eq!(e.cb.results("mno1"), 0);
        // The audit trail has every call.
        let trail = e
            .store
            .query_audit(&esim_store::AuditQuery {
                eid: Some(e.eid.clone()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(trail.iter().any(|a| a.function == "ES4.EnableProfile"
            && a.status == "Executed-Success"
            && a.operator.as_deref() == Some("mno1")));
        assert!(trail.iter().any(|a| a.function == "ES3.CreateISDP"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn senddata_to_the_isd_r_only_carries_download_commands() {
    let e = env(memory()).await;
    // An enable smuggled in a SendData to the ISD-R is refused before reaching the card.
    let cmds = Es5Command::EnableProfile {
        isdp_aid: Aid::isd_p(Tar([0, 0, 0x11])),
    }
    .to_commands(255)
    .unwrap();
    let script = CommandScript::of_apdus(cmds).encode().unwrap();
    let r = e
        .call(
            &smdp(),
            Function::Es3SendData,
            json!({"Eid": e.eid, "Sd-aid": Aid::isd_r(), "Data": hex::encode_upper(script)}),
        )
        .await;
    assert_eq!(status(&r), Status::Failed);
    assert_eq!(codes(&r).1, "1.2");
    assert_eq!(e.exec.runs("send-data"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn pol2_and_pol1_rules() {
    let e = env(memory()).await;
    let (pa, a) = package_with(ICCID_A, 0);
    // B: POL1 "disabling not allowed".
    let (pb, b) = package_with(ICCID_B, 0x01);
    e.download(
        0x11,
        pa,
        &a,
        "mno1",
        json!({"Rule": [
            {"Subject": "PROFILE", "Action": "DISABLE", "Qualification": "Not-Allowed"}
        ]}),
    )
    .await;
    e.download(0x12, pb, &b, "mno1", json!({})).await;
    assert_eq!(
        status(&e.enable(&mno1(), &a).await),
        Status::ExecutedSuccess
    );
    e.deliver_notifications(e.attach()).await;
    // POL2 of A forbids disabling it, so B can't be enabled: 8.2.2 / 3.8 naming A.
    let r = e.enable(&mno1(), &b).await;
    assert_eq!(status(&r), Status::Failed);
    assert_eq!(codes(&r), ("8.2.2".into(), "3.8".into()));
    let d = esim_service::status_of(&r)
        .unwrap()
        .status_code_data
        .unwrap();
    assert_eq!(d.subject_identifier.as_deref(), Some(ICCID_A));
    assert_eq!(e.card_state(0x12), Some(LifeCycle::Disabled));
    let r = e
        .call(&mno1(), Function::Es4DisableProfile, e.eid_iccid(&a))
        .await;
    assert_eq!(codes(&r), ("8.2.2".into(), "3.8".into()));
    // Lift the rule (ES4.UpdatePolicyRules), then B can be enabled.
    let r = e
        .call(
            &mno1(),
            Function::Es4UpdatePolicyRules,
            json!({"Eid": e.eid, "Iccid": a, "pol2": {"Rule": []}}),
        )
        .await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    let r = e.enable(&mno1(), &b).await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    e.deliver_notifications(e.attach()).await;
    assert_eq!(e.card_state(0x12), Some(LifeCycle::Enabled));
    assert_eq!(e.state_of(&a).await.as_deref(), Some("Disabled"));
    // POL1 of B (on the card) forbids disabling it: the card answers 69E1.
    let r = e.enable(&mno1(), &a).await;
    assert_eq!(status(&r), Status::Failed, "{r}");
    assert_eq!(codes(&r), ("8.2".into(), "3.8".into()));
    assert_eq!(e.state_of(&b).await.as_deref(), Some("Enabled"));
    // The enabled Profile can't be deleted; A can, unless its POL2 says no.
    let r = e
        .call(&mno1(), Function::Es4DeleteProfile, e.eid_iccid(&b))
        .await;
    assert_eq!(codes(&r), ("8.2.1".into(), "3.5".into()));
    e.call(
        &mno1(),
        Function::Es4UpdatePolicyRules,
        json!({"Eid": e.eid, "Iccid": a, "pol2": {"Rule": [
            {"Subject": "PROFILE", "Action": "DELETE", "Qualification": "Not-Allowed"}]}}),
    )
    .await;
    let r = e
        .call(&mno1(), Function::Es4DeleteProfile, e.eid_iccid(&a))
        .await;
    assert_eq!(codes(&r), ("8.2.2".into(), "3.8".into()));
    assert_eq!(e.card_state(0x11), Some(LifeCycle::Disabled));
    e.call(
        &mno1(),
        Function::Es4UpdatePolicyRules,
        json!({"Eid": e.eid, "Iccid": a, "pol2": {}}),
    )
    .await;
    let r = e
        .call(&mno1(), Function::Es4DeleteProfile, e.eid_iccid(&a))
        .await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    assert_eq!(e.card_state(0x11), None);
    assert_eq!(e.state_of(&a).await, None);
    assert!(
        e.cb.notifications("smdp1")
            .contains(&Function::Es3HandleProfileDeletedNotification)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn disable_to_fallback_and_pol2_auto_delete() {
    let e = env(memory()).await;
    let (pa, a) = package_with(ICCID_A, 0);
    let (pb, b) = package_with(ICCID_B, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    e.download(
        0x12,
        pb,
        &b,
        "mno1",
        json!({"Rule": [
            {"Subject": "PROFILE", "Action": "DISABLE", "Qualification": "Auto-Delete"}
        ]}),
    )
    .await;
    assert_eq!(
        status(&e.enable(&mno1(), &a).await),
        Status::ExecutedSuccess
    );
    e.deliver_notifications(e.attach()).await;
    // A gets the fall-back attribute (3A05).
    let r = e
        .call(&mno1(), Function::Es4SetFallbackAttribute, e.eid_iccid(&a))
        .await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    assert!(e.exec.with(&e.eid, |c| {
        c.registry()
            .fallback_holder()
            .is_some_and(|p| p.aid == Aid::isd_p(Tar([0, 0, 0x11])))
    }));
    // The fall-back Profile can't be disabled.
    let r = e
        .call(&mno1(), Function::Es4DisableProfile, e.eid_iccid(&a))
        .await;
    assert_eq!(codes(&r), ("8.2.1".into(), "3.5".into()));
    assert_eq!(
        status(&e.enable(&mno1(), &b).await),
        Status::ExecutedSuccess
    );
    e.deliver_notifications(e.attach()).await;
    // Disabling B: the card enables the fall-back A; POL2 of B deletes B afterwards.
    let r = e
        .call(&mno1(), Function::Es4DisableProfile, e.eid_iccid(&b))
        .await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    e.deliver_notifications(e.attach()).await;
    for _ in 0..200 {
        if e.card_state(0x12).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(e.card_state(0x12), None, "auto-delete reached the card");
    assert_eq!(e.card_state(0x11), Some(LifeCycle::Enabled));
    for _ in 0..100 {
        if e.state_of(&b).await.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(e.state_of(&b).await, None);
    assert_eq!(e.state_of(&a).await.as_deref(), Some("Enabled"));
}

#[tokio::test(flavor = "multi_thread")]
async fn fallback_notification_updates_the_eis() {
    let e = env(memory()).await;
    let (pa, a) = package_with(ICCID_A, 0);
    let (pb, b) = package_with(ICCID_B, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    e.download(0x12, pb, &b, "mno2", json!({})).await;
    e.enable(&mno1(), &a).await;
    e.deliver_notifications(e.attach()).await;
    e.call(&mno1(), Function::Es4SetFallbackAttribute, e.eid_iccid(&a))
        .await;
    assert_eq!(
        status(&e.enable(&mno2(), &b).await),
        Status::ExecutedSuccess
    );
    let switched_to_b = e.attach();
    assert!(!switched_to_b.is_empty());
    e.deliver_notifications(switched_to_b.clone()).await;
    assert_eq!(e.state_of(&b).await.as_deref(), Some("Enabled"));
    // B loses the network: the card falls back to A on its own and notifies.
    let ns = e.exec.with(&e.eid, |card| {
        card.connectivity_lost();
        while card.poll_action().is_some() {}
        card.network_attach(true);
        std::iter::from_fn(|| card.poll_action())
            .filter_map(|a| match a {
                Action::SendNotification {
                    sequence,
                    notification,
                    ..
                } => Some((Notification::decode(&notification).unwrap(), sequence)),
                _ => None,
            })
            .collect::<Vec<_>>()
    });
    assert!(!ns.is_empty());
    e.deliver_notifications(ns).await;
    assert_eq!(e.state_of(&a).await.as_deref(), Some("Enabled"));
    assert_eq!(e.state_of(&b).await.as_deref(), Some("Disabled"));
    assert!(
        e.cb.notifications("mno2")
            .contains(&Function::Es4HandleProfileDisabledNotification)
    );
    assert!(
        e.cb.notifications("mno1")
            .contains(&Function::Es4HandleProfileEnabledNotification)
    );
    // The card re-sends the older notification of the switch to B (e.g. its confirmation was
    // lost): it is confirmed but not applied over the newer fall-back.
    e.deliver_notifications(switched_to_b).await;
    assert_eq!(e.state_of(&a).await.as_deref(), Some("Enabled"));
    assert_eq!(e.state_of(&b).await.as_deref(), Some("Disabled"));
}

// ---------------------------------------------------------------------------------------------
// Audit.

#[tokio::test(flavor = "multi_thread")]
async fn audit_repairs_drift() {
    for s in both_stores() {
        let e = env(store_named(s).await).await;
        let (pa, a) = package_with(ICCID_A, 0);
        let (pb, b) = package_with(ICCID_B, 0);
        e.download(0x11, pa, &a, "mno1", json!({})).await;
        e.download(0x12, pb, &b, "mno1", json!({})).await;
        e.enable(&mno1(), &a).await;
        e.deliver_notifications(e.attach()).await;
        // Behind the SM-SR's back: B enabled, then... (A disabled by the switch).
        let sw = e.card_es5(Es5Command::EnableProfile {
            isdp_aid: Aid::isd_p(Tar([0, 0, 0x12])),
        });
        assert_eq!(sw, 0x9000);
        e.attach();
        assert_eq!(e.state_of(&a).await.as_deref(), Some("Enabled"), "{s}");
        let before = e.store.get_eis(&e.eid).await.unwrap();
        let r = e
            .call(&mno1(), Function::Es4AuditEis, json!({ "Eid": e.eid }))
            .await;
        assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
        let infos = r["Body"]["Eis"]["ProfileInfo"].as_array().unwrap().clone();
        let st = |i: &Iccid| {
            infos
                .iter()
                .find(|p| p["Iccid"] == json!(i))
                .map(|p| p["State"].clone())
        };
        assert_eq!(st(&b), Some(json!("Enabled")));
        assert_eq!(st(&a), Some(json!("Disabled")));
        assert!(r["Body"]["Eis"]["LastAuditDate"].is_string());
        // Memory from GET DATA FF21.
        let free = e.exec.with(&e.eid, |c| c.registry().free_memory());
        let after = e.store.get_eis(&e.eid).await.unwrap();
        assert_eq!(after.remaining_memory, free);
        assert_ne!(before.remaining_memory, after.remaining_memory);
        // A deleted behind the SM-SR's back disappears from the EIS.
        let sw = e.card_script(vec![
            esim_apdu::gp::delete::Delete::new(Aid::isd_p(Tar([0, 0, 0x11])), true).to_command(),
        ]);
        assert_eq!(sw, 0x9000);
        let r = e
            .call(&admin(), Function::Es3AuditEis, json!({ "Eid": e.eid }))
            .await;
        assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
        assert_eq!(e.state_of(&a).await, None);
        assert_eq!(e.state_of(&b).await.as_deref(), Some("Enabled"));
        // An ISD-P created behind the SM-SR's back: reported to an administrator.
        let sw = e.card_script(vec![
            esim_apdu::gp::install::CreateIsdp::new(Aid::isd_p(Tar([0, 0, 0x30])), None)
                .to_command()
                .unwrap(),
        ]);
        assert_eq!(sw, 0x9000);
        let r = e
            .call(&admin(), Function::Es4AuditEis, json!({ "Eid": e.eid }))
            .await;
        assert_eq!(status(&r), Status::ExecutedWithWarning, "{r}");
        let d = esim_service::status_of(&r)
            .unwrap()
            .status_code_data
            .unwrap();
        assert!(
            d.message
                .unwrap()
                .contains("A0000005591010FFFFFFFF8900003000")
        );
        assert!(r["Body"]["Eis"].is_object());
    }
}

// ---------------------------------------------------------------------------------------------
// Authorisation.

#[tokio::test(flavor = "multi_thread")]
async fn operator_denied_on_another_operators_euicc() {
    let e = env(memory()).await;
    let (pa, a) = package_with(ICCID_A, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    // mno2 owns nothing here: it can't see the eUICC, nor act on mno1's Profile.
    let r = e
        .call(&mno2(), Function::Es4GetEis, json!({ "Eid": e.eid }))
        .await;
    assert_eq!(codes(&r), ("8.1.1".into(), "1.2".into()));
    let r = e.enable(&mno2(), &a).await;
    assert_eq!(codes(&r), ("8.1.1".into(), "1.2".into()));
    assert_eq!(e.card_state(0x11), Some(LifeCycle::Disabled));
    // An unknown EID looks the same to an operator (no leak); an admin is told it is unknown.
    let unknown = pki::eid_from_prefix("8904903200", 999_999).unwrap();
    let r = e
        .call(&mno2(), Function::Es4GetEis, json!({ "Eid": unknown }))
        .await;
    assert_eq!(codes(&r), ("8.1.1".into(), "1.2".into()));
    let r = e
        .call(&admin(), Function::Es4GetEis, json!({ "Eid": unknown }))
        .await;
    assert_eq!(codes(&r), ("8.1.1".into(), "3.9".into()));
    // mno1 sees its eUICC and Profile; another SM-DP can't touch the Profile.
    let r = e
        .call(&mno1(), Function::Es4GetEis, json!({ "Eid": e.eid }))
        .await;
    assert_eq!(status(&r), Status::ExecutedSuccess);
    let other_dp = caller("smdp2", role::SM_DP);
    let r = e
        .call(&other_dp, Function::Es3EnableProfile, e.eid_iccid(&a))
        .await;
    assert_eq!(codes(&r), ("8.2.1".into(), "1.2".into()));
    // A requester identifier that isn't the caller is refused outright.
    let req = request(
        Function::Es4GetEis,
        &mno1(),
        "spoof",
        json!({ "Eid": e.eid }),
    );
    assert!(matches!(
        e.smsr.call(&mno2(), req, Duration::from_secs(5)).await,
        Err(esim_service::ServiceError::Forbidden(_))
    ));
    // Every call is in the audit trail, refusals included.
    let trail = e
        .store
        .query_audit(&esim_store::AuditQuery {
            operator: Some("mno2".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        trail
            .iter()
            .all(|a| a.status == "Failed" || a.status == "Forbidden")
    );
    assert!(trail.iter().filter(|a| a.status == "Failed").count() >= 3);
    assert!(trail.iter().any(|a| a.status == "Forbidden"
        && a.function == "ES4.GetEIS"
        && a.eid.as_ref() == Some(&e.eid)));
}

// ---------------------------------------------------------------------------------------------
// Idempotency, expiry and restart.

#[tokio::test(flavor = "multi_thread")]
async fn repeated_function_call_identifier_is_not_reexecuted() {
    let e = env(sqlite().await).await;
    let (pa, a) = package_with(ICCID_A, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    let r1 = e
        .call_id(&mno1(), Function::Es4EnableProfile, "same", e.eid_iccid(&a))
        .await;
    assert_eq!(status(&r1), Status::ExecutedSuccess);
    let r2 = e
        .call_id(&mno1(), Function::Es4EnableProfile, "same", e.eid_iccid(&a))
        .await;
    assert_eq!(r1, r2, "the stored answer");
    assert_eq!(e.exec.runs("enable"), 1);
    // Same identifier, different request: conflict.
    let (_, b) = package_with(ICCID_B, 0);
    let who = mno1();
    let req = request(Function::Es4EnableProfile, &who, "same", e.eid_iccid(&b));
    assert!(matches!(
        e.smsr.call(&who, req, Duration::from_secs(5)).await,
        Err(esim_service::ServiceError::Conflict(_))
    ));
    // The same identifier from another caller is another call.
    let r3 = e
        .call_id(
            &mno2(),
            Function::Es4GetEis,
            "same",
            json!({ "Eid": e.eid }),
        )
        .await;
    assert_eq!(codes(&r3), ("8.1.1".into(), "1.2".into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_mid_operation_resumes_to_completion() {
    for s in both_stores() {
        let e = env(store_named(s).await).await;
        let (pa, a) = package_with(ICCID_A, 0);
        e.download(0x11, pa, &a, "mno1", json!({})).await;
        let restart_id = format!("{}-restart", e.eid.as_str());
        // A short-lease SM-SR is killed after the card executed the enable but before the
        // answer came back.
        let smsr1 = new_smsr(&e.store, &e.exec, &e.cb, 600);
        *e.exec.hang_after.lock().unwrap() = Some("enable".into());
        let who = mno1();
        let o = smsr1
            .call(
                &who,
                request(
                    Function::Es4EnableProfile,
                    &who,
                    &restart_id,
                    e.eid_iccid(&a),
                ),
                Duration::from_millis(300),
            )
            .await
            .unwrap();
        let CallOutcome::Pending { operation_id, .. } = o else {
            panic!("expected Pending, got {o:?}")
        };
        assert_eq!(e.exec.runs("enable"), 1);
        // Repeated while running: the same operation, not a second one.
        let again = smsr1
            .call(
                &who,
                request(
                    Function::Es4EnableProfile,
                    &who,
                    &restart_id,
                    e.eid_iccid(&a),
                ),
                Duration::from_millis(100),
            )
            .await
            .unwrap();
        assert!(
            matches!(&again, CallOutcome::Pending { operation_id: o, .. } if *o == operation_id),
            "{again:?}"
        );
        assert_eq!(e.exec.runs("enable"), 1);
        drop(smsr1);
        *e.exec.hang_after.lock().unwrap() = None;
        assert_eq!(e.state_of(&a).await.as_deref(), Some("Disabled"), "{s}");
        // A new SM-SR on the same store resumes it once the lease has run out.
        let smsr2 = new_smsr(&e.store, &e.exec, &e.cb, 600);
        let v = resumed(&smsr2, &who, &operation_id, "resumed to completion").await;
        assert_eq!(status(&v), Status::ExecutedSuccess, "{v}");
        assert_eq!(
            e.exec.runs("enable"),
            1,
            "the card command was not sent twice"
        );
        assert_eq!(e.state_of(&a).await.as_deref(), Some("Enabled"));
        // The repeated request is answered from the operation.
        let r = done(
            smsr2
                .call(
                    &who,
                    request(
                        Function::Es4EnableProfile,
                        &who,
                        &restart_id,
                        e.eid_iccid(&a),
                    ),
                    Duration::from_secs(5),
                )
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r, v);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn validity_period_expiry() {
    let e = env(memory()).await;
    let (pa, a) = package_with(ICCID_A, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    let who = mno1();
    let j = json!({
        "Header": {"FunctionRequesterIdentifier": "mno1", "FunctionCallIdentifier": "exp",
                   "ValidityPeriod": 0},
        "Body": e.eid_iccid(&a),
    });
    let req = decode_request(Function::Es4EnableProfile, &j.to_string()).unwrap();
    let r = done(
        e.smsr
            .call(&who, req, Duration::from_secs(10))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status(&r), Status::Expired, "{r}");
    assert_eq!(e.card_state(0x11), Some(LifeCycle::Disabled));
}

// ---------------------------------------------------------------------------------------------
// Master Delete.

#[derive(Debug)]
struct Tokens(SecretKey);

#[async_trait]
impl esim_smsr::DeleteTokenSource for Tokens {
    async fn delete_token(&self, r: &esim_smsr::DeleteTokenRequest) -> Result<Vec<u8>, String> {
        assert_eq!(r.smdp_id, "smdp1");
        esim_euicc::master_delete::compute_token(&self.0, r.p1, r.p2, &r.isdp_aid, &r.crt)
            .map(|t| t.to_vec())
            .ok_or_else(|| "CRT too long".into())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn master_delete_with_the_smdp_token_ignores_pol1_and_pol2() {
    let store = memory();
    let exec = Arc::new(CardExecutor::default());
    let cb = Arc::new(Recorder::default());
    let smsr = new_smsr(&store, &exec, &cb, 30_000);
    let issued = issue(&pkis().pki, next_serial());
    // The bootstrap Profile: POL1 "deletion not allowed", SCP03 keys known to its SM-DP.
    let (boot_pkg, boot) = package_with(ICCID_B, 0x02);
    let mac = SecretKey::new(&[0x22; 16]);
    let keys = esim_crypto::scp03::StaticKeys::new(
        0x30,
        SecretKey::new(&[0x11; 16]),
        mac.clone(),
        SecretKey::new(&[0x33; 16]),
    )
    .unwrap();
    exec.add(
        Euicc::with_bootstrap_profile(
            &issued,
            CardConfig {
                memory_capacity: 200_000,
                default_isdp_quota: 40_000,
            },
            &boot_pkg,
            keys,
        )
        .unwrap(),
    );
    let record = esim_store::ProfileRecord {
        eid: issued.eid.clone(),
        iccid: boot.clone(),
        isd_p_aid: Aid::isd_p(Tar([0, 0, 0x10])),
        mno_id: "mno1".into(),
        smdp_id: "smdp1".into(),
        profile_type: "bootstrap".into(),
        state: esim_store::ProfileState::Enabled,
        fallback: true,
        subscription_address: Default::default(),
        pol2: Some(json!({"Rule": [
            {"Subject": "PROFILE", "Action": "DELETE", "Qualification": "Not-Allowed"}]})),
        allocated_memory: 0,
        free_memory: 0,
        updated_at: Timestamp(0),
    };
    let st = smsr
        .register_eis_with(
            &eum(),
            &issued.eis,
            &Registration {
                profiles: vec![record],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(st.is_executed());
    let e = Env {
        smsr,
        store,
        exec,
        cb,
        eid: issued.eid.clone(),
        issued,
        calls: Default::default(),
    };
    async fn md(e: &Env, boot: &Iccid) -> Value {
        e.call(&mno1(), Function::Es4MasterDelete, e.eid_iccid(boot))
            .await
    }
    // The enabled fall-back Profile can't be master-deleted.
    assert_eq!(codes(&md(&e, &boot).await), ("8.2.1".into(), "3.5".into()));
    let (pa, a) = package_with(ICCID_A, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    e.call(&mno1(), Function::Es4SetFallbackAttribute, e.eid_iccid(&a))
        .await;
    assert_eq!(
        status(&e.enable(&mno1(), &a).await),
        Status::ExecutedSuccess
    );
    e.deliver_notifications(e.attach()).await;
    // Ordinary deletion is refused by POL2 (and POL1 on the card).
    let r = e
        .call(&mno1(), Function::Es4DeleteProfile, e.eid_iccid(&boot))
        .await;
    assert_eq!(codes(&r), ("8.2.2".into(), "3.8".into()));
    // No token source: unavailable.
    assert_eq!(codes(&md(&e, &boot).await), ("8.8".into(), "3.7".into()));
    // The ES3 source without a link to the Profile's SM-DP: refused, the card untouched.
    e.smsr
        .set_delete_token_source(Arc::new(esim_smsr::Es3DeleteTokens::new(
            "smsr1",
            HashMap::new(),
            Duration::from_secs(5),
        )));
    let r = md(&e, &boot).await;
    assert_eq!(codes(&r), ("8.8".into(), "3.8".into()), "{r}");
    assert!(r.to_string().contains("no ES3 link"), "{r}");
    assert_eq!(e.card_state(0x10), Some(LifeCycle::Disabled));
    // A token under the wrong key: the ISD-P refuses it.
    e.smsr
        .set_delete_token_source(Arc::new(Tokens(SecretKey::new(&[0x99; 16]))));
    let r = md(&e, &boot).await;
    assert_eq!(status(&r), Status::Failed);
    assert_eq!(codes(&r).0, "8.4", "{r}");
    assert_eq!(e.card_state(0x10), Some(LifeCycle::Disabled));
    // The SM-DP's token: deleted regardless of POL1 and POL2.
    e.smsr.set_delete_token_source(Arc::new(Tokens(mac)));
    let r = md(&e, &boot).await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    assert_eq!(e.card_state(0x10), None);
    assert_eq!(e.state_of(&boot).await, None);
    assert!(
        e.cb.notifications("smdp1")
            .contains(&Function::Es3HandleProfileDeletedNotification)
    );
}

// ---------------------------------------------------------------------------------------------
// Connectivity parameters and the runner.

#[tokio::test(flavor = "multi_thread")]
async fn update_connectivity_parameters_reach_the_isd_p() {
    let e = env(memory()).await;
    let (pa, a) = package_with(ICCID_A, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    let r = e
        .call(
            &smdp(),
            Function::Es3UpdateConnectivityParameters,
            json!({"Eid": e.eid, "Iccid": a, "ConnectivityParameters": "A00412345678"}),
        )
        .await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    let stored = e.exec.with(&e.eid, |c| {
        c.profiles()
            .iter()
            .find(|s| s.aid == Aid::isd_p(Tar([0, 0, 0x11])))
            .and_then(|s| s.connectivity_parameters.clone())
    });
    assert_eq!(stored, Some(hex::decode("A00412345678").unwrap()));
    // Another SM-DP may not.
    let r = e
        .call(
            &caller("smdp2", role::SM_DP),
            Function::Es3UpdateConnectivityParameters,
            json!({"Eid": e.eid, "Iccid": a, "ConnectivityParameters": "A000"}),
        )
        .await;
    assert_eq!(codes(&r), ("8.2.1".into(), "1.2".into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_loop_resumes_an_abandoned_operation_and_stops_on_shutdown() {
    let e = env(sqlite().await).await;
    let (pa, a) = package_with(ICCID_A, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    let smsr1 = new_smsr(&e.store, &e.exec, &e.cb, 400);
    *e.exec.hang_after.lock().unwrap() = Some("enable".into());
    let who = mno1();
    let o = smsr1
        .call(
            &who,
            request(Function::Es4EnableProfile, &who, "run-1", e.eid_iccid(&a)),
            Duration::from_millis(200),
        )
        .await
        .unwrap();
    let CallOutcome::Pending { operation_id, .. } = o else {
        panic!("expected Pending")
    };
    drop(smsr1);
    *e.exec.hang_after.lock().unwrap() = None;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut cfg = config(400);
    cfg.poll_interval = Duration::from_millis(50);
    let runner = tokio::spawn(esim_smsr::run(
        cfg,
        e.store.clone(),
        sealer(),
        e.exec.clone(),
        e.cb.clone(),
        async move {
            let _ = rx.await;
        },
    ));
    let mut finished = false;
    for _ in 0..200 {
        let op = e.store.get_operation(&operation_id).await.unwrap();
        if op.status.is_terminal() {
            assert_eq!(op.status, esim_store::OperationStatus::Succeeded);
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(finished, "the runner resumed the operation");
    assert_eq!(e.card_state(0x11), Some(LifeCycle::Enabled));
    // The caller was answered Pending: the result went to it as a callback.
    assert!(e.cb.results("mno1") >= 1);
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), runner)
        .await
        .expect("runner stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_notification_restores_the_previous_profile() {
    let e = env(memory()).await;
    let (pa, a) = package_with(ICCID_A, 0);
    let (pb, b) = package_with(ICCID_B, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    // B would be auto-deleted once disabled; a roll-back must not trigger that.
    e.download(
        0x12,
        pb,
        &b,
        "mno2",
        json!({"Rule": [
            {"Subject": "PROFILE", "Action": "DISABLE", "Qualification": "Auto-Delete"}
        ]}),
    )
    .await;
    e.enable(&mno1(), &a).await;
    e.deliver_notifications(e.attach()).await;
    assert_eq!(
        status(&e.enable(&mno2(), &b).await),
        Status::ExecutedSuccess
    );
    assert_eq!(e.state_of(&b).await.as_deref(), Some("Enabled"));
    // B can't attach: the card rolls back to A and says so once attached again.
    let ns = e.exec.with(&e.eid, |card| {
        card.network_attach(false);
        while card.poll_action().is_some() {}
        card.network_attach(true);
        std::iter::from_fn(|| card.poll_action())
            .filter_map(|a| match a {
                Action::SendNotification {
                    sequence,
                    notification,
                    ..
                } => Some((Notification::decode(&notification).unwrap(), sequence)),
                _ => None,
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(ns.len(), 1);
    assert_eq!(
        ns[0].0.kind,
        esim_apdu::gp::sgp02::NotificationType::ProfileChangeFailedRolledBack
    );
    e.deliver_notifications(ns).await;
    assert_eq!(e.state_of(&a).await.as_deref(), Some("Enabled"));
    assert_eq!(e.state_of(&b).await.as_deref(), Some("Disabled"));
    assert!(
        e.cb.notifications("mno2")
            .contains(&Function::Es4HandleProfileDisabledNotification)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        e.card_state(0x12),
        Some(LifeCycle::Disabled),
        "no auto-delete"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_euicc_takes_no_card_procedure() {
    let e = env(memory()).await;
    let (pa, a) = package_with(ICCID_A, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    let mut rec = e.store.get_eis(&e.eid).await.unwrap();
    rec.locked_by = Some(OperationId::random().unwrap());
    e.store.update_eis(&rec).await.unwrap();
    let r = e.enable(&mno1(), &a).await;
    assert_eq!(codes(&r), ("8.1.1".into(), "3.7".into()));
    assert_eq!(e.card_state(0x11), Some(LifeCycle::Disabled));
    // Reading the EIS is still possible.
    assert_eq!(e.state_of(&a).await.as_deref(), Some("Disabled"));
}

#[tokio::test(flavor = "multi_thread")]
async fn additional_properties_by_the_eum_or_an_admin() {
    let e = env(memory()).await;
    e.smsr
        .set_additional_property(&eum(), &e.eid, "msisdn", Some("4911112222"))
        .await
        .unwrap();
    assert_eq!(
        e.store.get_eis(&e.eid).await.unwrap().additional_properties["msisdn"],
        "4911112222"
    );
    let eis = e.eis().await;
    assert_eq!(
        eis["AdditionalProperties"],
        json!([["msisdn", "4911112222"]])
    );
    assert!(matches!(
        e.smsr
            .set_additional_property(&mno1(), &e.eid, "msisdn", Some("1"))
            .await,
        Err(esim_service::ServiceError::Forbidden(_))
    ));
    let unknown = pki::eid_from_prefix("8904903200", 999_998).unwrap();
    assert!(matches!(
        e.smsr
            .set_additional_property(&eum(), &unknown, "msisdn", Some("1"))
            .await,
        Err(esim_service::ServiceError::Forbidden(_))
    ));
    e.smsr
        .set_additional_property(&admin(), &e.eid, "msisdn", None)
        .await
        .unwrap();
    assert!(
        !e.store
            .get_eis(&e.eid)
            .await
            .unwrap()
            .additional_properties
            .contains_key("msisdn")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_resumer_leaves_other_services_operations_alone() {
    let e = env(sqlite().await).await;
    let foreign = esim_store::NewOperation {
        id: OperationId::random().unwrap(),
        kind: "SM-DP/ES2.DownloadProfile".into(),
        owner: "mno1".into(),
        function_call_id: Some(format!("{}-foreign", e.eid.as_str())),
        eid: Some(e.eid.clone()),
        state: json!({"anything": 1}),
        status: esim_store::OperationStatus::Runnable,
        wake_at: None,
        lease: Some(esim_store::Lease {
            holder: "smdp-replica".into(),
            until: Timestamp(1),
        }),
        now: Timestamp(1),
    };
    let created = e.store.create_operation(&foreign).await.unwrap();
    let before = created.operation().clone();
    e.smsr.resume_once().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = e.store.get_operation(&before.id).await.unwrap();
    assert_eq!(after, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn card_refusals_and_unreachable_cards() {
    let e = env(memory()).await;
    let (_, a) = package_with(ICCID_A, 0);
    // The EIS allows it, the card has less room: 6A84 → 8.1 / 4.8, nothing left in the EIS.
    let r = e
        .call(
            &smdp(),
            Function::Es3CreateIsdp,
            json!({"Eid": e.eid, "Iccid": a, "Mno-id": "mno1", "RequiredMemory": 300000}),
        )
        .await;
    assert_eq!(status(&r), Status::Failed, "{r}");
    assert_eq!(codes(&r), ("8.1".into(), "4.8".into()));
    assert!(e.store.profiles(&e.eid).await.unwrap().is_empty());
    // More than the EIS says is available: refused before the card.
    let runs = e.exec.runs("create-isdp");
    let r = e
        .call(
            &smdp(),
            Function::Es3CreateIsdp,
            json!({"Eid": e.eid, "Iccid": a, "Mno-id": "mno1", "RequiredMemory": 10000000}),
        )
        .await;
    assert_eq!(codes(&r), ("8.1".into(), "4.8".into()));
    assert_eq!(e.exec.runs("create-isdp"), runs);
    // The card disappears: 8.1 / 5.1.
    let (pa, a) = package_with(ICCID_A, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    e.exec.cards.lock().unwrap().clear();
    let r = e.enable(&mno1(), &a).await;
    assert_eq!(status(&r), Status::Failed, "{r}");
    assert_eq!(codes(&r), ("8.1".into(), "5.1".into()));
    assert_eq!(e.state_of(&a).await.as_deref(), Some("Disabled"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_executed_before_a_crash_is_honoured_after_the_deadline() {
    let e = env(memory()).await;
    let (pa, a) = package_with(ICCID_A, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    let smsr1 = new_smsr(&e.store, &e.exec, &e.cb, 300);
    *e.exec.hang_after.lock().unwrap() = Some("enable".into());
    let who = mno1();
    let j = json!({
        "Header": {"FunctionRequesterIdentifier": "mno1",
                   "FunctionCallIdentifier": format!("{}-late", e.eid.as_str()),
                   "ValidityPeriod": 1},
        "Body": e.eid_iccid(&a),
    });
    let req = decode_request(Function::Es4EnableProfile, &j.to_string()).unwrap();
    let CallOutcome::Pending { operation_id, .. } = smsr1
        .call(&who, req, Duration::from_millis(200))
        .await
        .unwrap()
    else {
        panic!("expected Pending")
    };
    drop(smsr1);
    *e.exec.hang_after.lock().unwrap() = None;
    // Past the ValidityPeriod: the card did enable, so the resumed operation says so.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let smsr2 = new_smsr(&e.store, &e.exec, &e.cb, 300);
    let v = resumed(&smsr2, &who, &operation_id, "finished").await;
    assert_eq!(status(&v), Status::ExecutedSuccess, "{v}");
    assert_eq!(e.card_state(0x11), Some(LifeCycle::Enabled));
    assert_eq!(e.state_of(&a).await.as_deref(), Some("Enabled"));
    assert_eq!(e.exec.runs("enable"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_with_the_sqlite_file_closed_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("smsr.db").display());
    let store1 = Arc::new(SqliteStore::connect(&url).await.unwrap());
    let e = env(store1.clone()).await;
    let (pa, a) = package_with(ICCID_A, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    let smsr1 = new_smsr(&e.store, &e.exec, &e.cb, 600);
    *e.exec.hang_after.lock().unwrap() = Some("enable".into());
    let who = mno1();
    let fcid = format!("{}-file", e.eid.as_str());
    let CallOutcome::Pending { operation_id, .. } = smsr1
        .call(
            &who,
            request(Function::Es4EnableProfile, &who, &fcid, e.eid_iccid(&a)),
            Duration::from_millis(200),
        )
        .await
        .unwrap()
    else {
        panic!("expected Pending")
    };
    // The whole SM-SR goes away, database connection included.
    drop(smsr1);
    let Env {
        smsr,
        exec,
        cb,
        eid,
        ..
    } = e;
    drop(smsr);
    store1.close().await;
    drop(store1);
    *exec.hang_after.lock().unwrap() = None;
    // A new one opens the file again and finishes the operation.
    let store2: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url).await.unwrap());
    let smsr2 = new_smsr(&store2, &exec, &cb, 600);
    let v = resumed(&smsr2, &who, &operation_id, "finished after reopening").await;
    assert_eq!(status(&v), Status::ExecutedSuccess, "{v}");
    assert_eq!(
        store2.get_profile(&eid, &a).await.unwrap().state,
        esim_store::ProfileState::Enabled
    );
    assert_eq!(exec.runs("enable"), 1);
}

// ---------------------------------------------------------------------------------------------
// ES3.UpdateSubscriptionAddress and ES1.RegisterEIS extras over the protocol.

#[tokio::test(flavor = "multi_thread")]
async fn update_subscription_address_by_the_profiles_smdp() {
    for s in both_stores() {
        let e = env(store_named(s).await).await;
        let (pkg, iccid) = package_with(ICCID_A, 0);
        e.download(0x11, pkg, &iccid, "mno1", json!({})).await;
        let runs_before = e.exec.runs.lock().unwrap().len();
        let body = json!({"Eid": e.eid, "Iccid": iccid,
            "SubscriptionAddress": {"Imsi": "001010000000123", "Msisdn": "447700900777"}});
        let r = e
            .call(
                &smdp(),
                Function::Es3UpdateSubscriptionAddress,
                body.clone(),
            )
            .await;
        assert_eq!(status(&r), Status::ExecutedSuccess, "{s}: {r}");
        let p = e.store.get_profile(&e.eid, &iccid).await.unwrap();
        assert_eq!(
            p.subscription_address.msisdn.as_deref(),
            Some("447700900777"),
            "{s}"
        );
        assert_eq!(
            p.subscription_address.imsi.as_ref().map(|i| i.to_string()),
            Some("001010000000123".to_string())
        );
        // The MNO sees the new address in its EIS; no card command was sent.
        let eis = e
            .call(&mno1(), Function::Es4GetEis, json!({"Eid": e.eid}))
            .await;
        assert_eq!(
            eis["Body"]["Eis"]["ProfileInfo"][0]["SubscriptionAddress"]["Msisdn"],
            "447700900777"
        );
        assert_eq!(e.exec.runs.lock().unwrap().len(), runs_before, "{s}");
        // Another SM-DP, and an MNO on ES3's function: refused, nothing changed.
        let other = caller("smdp2", role::SM_DP);
        let mut b2 = body.clone();
        b2["SubscriptionAddress"]["Msisdn"] = json!("1");
        let r = e
            .call(&other, Function::Es3UpdateSubscriptionAddress, b2.clone())
            .await;
        assert_eq!(
            codes(&r),
            (subject::ICCID.to_string(), reason::NOT_ALLOWED.to_string()),
            "{r}"
        );
        let o = e
            .smsr
            .call(
                &mno1(),
                request(Function::Es3UpdateSubscriptionAddress, &mno1(), "u-mno", b2),
                Duration::from_secs(10),
            )
            .await;
        assert!(o.is_err(), "an MNO may not call ES3");
        let p = e.store.get_profile(&e.eid, &iccid).await.unwrap();
        assert_eq!(
            p.subscription_address.msisdn.as_deref(),
            Some("447700900777")
        );
        // Audited under the SM-DP.
        let trail = e
            .store
            .query_audit(&esim_store::AuditQuery {
                eid: Some(e.eid.clone()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            trail
                .iter()
                .any(|a| a.function == "ES3.UpdateSubscriptionAddress"
                    && a.status == "Executed-Success"
                    && a.operator.as_deref() == Some("smdp1")
                    && a.iccid.as_ref() == Some(&iccid))
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn register_eis_over_the_protocol_with_profiles_and_properties() {
    for s in both_stores() {
        let store = store_named(s).await;
        let exec = Arc::new(CardExecutor::default());
        let cb = Arc::new(Recorder::default());
        let smsr = new_smsr(&store, &exec, &cb, 30_000);
        let issued = issue(&pkis().pki, next_serial());
        let boot = json!({
            "Iccid": ICCID_A, "Isd-p-aid": Aid::isd_p(Tar([0, 0, 0x10])), "Mno-id": "mno1",
            "FallbackAttribute": true, "State": "Enabled", "Smdp-id": "smdp1",
            "ProfileType": "bootstrap",
            "SubscriptionAddress": {"Msisdn": "447700900001"},
            "AllocatedMemory": 30000, "FreeMemory": 1000
        });
        let who = eum();
        let call = |fcid: &str, body: Value| {
            let smsr = smsr.clone();
            let who = who.clone();
            let req = request(Function::Es1RegisterEis, &who, fcid, body);
            async move { done(smsr.call(&who, req, Duration::from_secs(30)).await.unwrap()).await }
        };
        // Two Enabled Profiles: refused, nothing registered.
        let mut second = boot.clone();
        second["Iccid"] = json!(ICCID_B);
        second["Isd-p-aid"] = json!(Aid::isd_p(Tar([0, 0, 0x11])));
        second["FallbackAttribute"] = json!(false);
        let r = call(
            "r0",
            json!({"Eis": issued.eis, "ProfileInfo": [boot.clone(), second]}),
        )
        .await;
        assert_eq!(status(&r), Status::Failed, "{s}: {r}");
        assert_eq!(
            codes(&r),
            (
                subject::REQUEST_FIELD.to_string(),
                reason::INVALID_FORMAT.to_string()
            )
        );
        assert!(store.get_eis(&issued.eid).await.is_err(), "{s}");
        // The bootstrap Profile with its MSISDN and the transport property.
        let r = call(
            "r1",
            json!({"Eis": issued.eis, "ProfileInfo": [boot],
                   "AdditionalProperties": {"es5-transport": "sms", "site": "A"}}),
        )
        .await;
        assert_eq!(status(&r), Status::ExecutedSuccess, "{s}: {r}");
        let rec = store.get_eis(&issued.eid).await.unwrap();
        assert_eq!(rec.additional_properties["es5-transport"], "sms");
        assert_eq!(rec.additional_properties["site"], "A");
        let p = store
            .get_profile(&issued.eid, &Iccid::parse(ICCID_A).unwrap())
            .await
            .unwrap();
        assert_eq!(
            p.subscription_address.msisdn.as_deref(),
            Some("447700900001")
        );
        assert_eq!(p.state, esim_store::ProfileState::Enabled);
        assert!(p.fallback);
        assert_eq!((p.mno_id.as_str(), p.smdp_id.as_str()), ("mno1", "smdp1"));
        // The MNO of the bootstrap Profile sees it, with the MSISDN.
        let m = mno1();
        let r = done(
            smsr.call(
                &m,
                request(Function::Es4GetEis, &m, "g1", json!({ "Eid": issued.eid })),
                Duration::from_secs(10),
            )
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(
            r["Body"]["Eis"]["ProfileInfo"][0]["SubscriptionAddress"]["Msisdn"], "447700900001",
            "{s}: {r}"
        );
        // An unknown field next to them is still refused at decoding.
        let bad = json!({"Header": {"FunctionRequesterIdentifier": who.id,
            "FunctionCallIdentifier": "r2"},
            "Body": {"Eis": issued.eis, "Msisdn": "1"}});
        assert!(decode_request(Function::Es1RegisterEis, &bad.to_string()).is_err());
    }
}

/// The INSTALL of CreateISDP reached the card but its answer was lost with the SM-SR (killed
/// before the PoR came back); the restarted SM-SR sends it again and the card refuses it
/// (`6A80`, the AID exists). The SM-SR finds the fresh ISD-P it allocated and completes, so no
/// half-made ISD-P is left that the EIS does not know (docs/spec-choices.md row 77).
#[tokio::test(flavor = "multi_thread")]
async fn create_isdp_whose_answer_was_lost_completes_after_a_restart() {
    for s in both_stores() {
        let e = env(store_named(s).await).await;
        let (_, a) = package_with(ICCID_A, 0);
        let smsr1 = new_smsr(&e.store, &e.exec, &e.cb, 600);
        *e.exec.hang_after.lock().unwrap() = Some("create-isdp".into());
        let who = smdp();
        let fcid = format!("{}-lost-answer", e.eid.as_str());
        let body = json!({"Eid": e.eid, "Iccid": a, "Mno-id": "mno1", "RequiredMemory": 40000});
        let o = smsr1
            .call(
                &who,
                request(Function::Es3CreateIsdp, &who, &fcid, body.clone()),
                Duration::from_millis(300),
            )
            .await
            .unwrap();
        let CallOutcome::Pending { operation_id, .. } = o else {
            panic!("expected Pending, got {o:?}")
        };
        drop(smsr1);
        *e.exec.hang_after.lock().unwrap() = None;
        // The answer is lost: the next execute sends the INSTALL to the card again.
        e.exec.memo.lock().unwrap().clear();
        let aid = Aid::isd_p(Tar([0, 0, 0x11]));
        assert!(e.exec.with(&e.eid, |c| c.registry().get(&aid).is_some()));
        let smsr2 = new_smsr(&e.store, &e.exec, &e.cb, 600);
        let v = resumed(&smsr2, &who, &operation_id, "resumed to completion").await;
        assert_eq!(status(&v), Status::ExecutedSuccess, "{s}: {v}");
        assert_eq!(v["Body"]["Isd-p-aid"], json!(aid), "{v}");
        assert_eq!(
            e.exec.runs("create-isdp"),
            2,
            "sent again after the restart"
        );
        assert_eq!(e.exec.runs("create-isdp-check"), 1);
        let p = e.store.profiles(&e.eid).await.unwrap();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].isd_p_aid, aid);
        assert_eq!(p[0].state, esim_store::ProfileState::Created);
        // The SM-DP can clean it up as its own.
        let r = e.call(&who, Function::Es3DeleteIsdp, e.eid_iccid(&a)).await;
        assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
        assert!(e.exec.with(&e.eid, |c| c.registry().get(&aid).is_none()));
    }
}

/// The same for EnableProfile: the card enabled the Profile, the answer was lost, the repeated
/// `3A03` is refused (the Profile is not disabled any more) and the SM-SR reads the card's
/// state instead of failing.
#[tokio::test(flavor = "multi_thread")]
async fn enable_whose_answer_was_lost_completes_after_a_restart() {
    let e = env(memory()).await;
    let (pa, a) = package_with(ICCID_A, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    let smsr1 = new_smsr(&e.store, &e.exec, &e.cb, 600);
    *e.exec.hang_after.lock().unwrap() = Some("enable".into());
    let who = mno1();
    let fcid = format!("{}-lost-enable", e.eid.as_str());
    let o = smsr1
        .call(
            &who,
            request(Function::Es4EnableProfile, &who, &fcid, e.eid_iccid(&a)),
            Duration::from_millis(300),
        )
        .await
        .unwrap();
    let CallOutcome::Pending { operation_id, .. } = o else {
        panic!("expected Pending, got {o:?}")
    };
    drop(smsr1);
    *e.exec.hang_after.lock().unwrap() = None;
    e.exec.memo.lock().unwrap().clear();
    let smsr2 = new_smsr(&e.store, &e.exec, &e.cb, 600);
    let v = resumed(&smsr2, &who, &operation_id, "resumed to completion").await;
    assert_eq!(status(&v), Status::ExecutedSuccess, "{v}");
    assert_eq!(e.exec.runs("enable"), 2, "sent again after the restart");
    assert_eq!(e.exec.runs("enable-check"), 1);
    assert_eq!(e.state_of(&a).await.as_deref(), Some("Enabled"));
}

/// A replica with a stable name releases its previous run's leases before it starts anything,
/// never under an operation it is running itself: an operation started through the API before
/// the resumer loop comes up keeps its lease and is not run a second time.
#[tokio::test(flavor = "multi_thread")]
async fn a_replica_never_releases_its_own_running_operations() {
    let e = env(memory()).await;
    let (pa, a) = package_with(ICCID_A, 0);
    e.download(0x11, pa, &a, "mno1", json!({})).await;
    let mut c = config(30_000);
    c.holder = Some("replica-1".into());
    let smsr =
        Arc::new(Smsr::new(c, e.store.clone(), sealer(), e.exec.clone(), e.cb.clone()).unwrap());
    // The card never answers the enable while this test looks.
    *e.exec.hang_after.lock().unwrap() = Some("enable".into());
    let who = mno1();
    let fcid = format!("{}-own-lease", e.eid.as_str());
    let o = smsr
        .call(
            &who,
            request(Function::Es4EnableProfile, &who, &fcid, e.eid_iccid(&a)),
            Duration::from_millis(300),
        )
        .await
        .unwrap();
    let CallOutcome::Pending { operation_id, .. } = o else {
        panic!("expected Pending, got {o:?}")
    };
    // The resumer starts only now (as when the API is served before the loop runs).
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let s2 = smsr.clone();
    let runner = tokio::spawn(async move {
        s2.run_until(async {
            let _ = rx.await;
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    let op = e.store.get_operation(&operation_id).await.unwrap();
    assert!(
        !op.status.is_terminal(),
        "not run again and finished: {op:?}"
    );
    assert_eq!(
        op.lease.as_ref().map(|l| l.holder.as_str()),
        Some("replica-1"),
        "the lease stays with the running operation"
    );
    assert!(op.lease.is_some_and(|l| l.until > esim_service::now()));
    assert!(matches!(
        smsr.outcome(&who, &operation_id, Duration::from_millis(10))
            .await
            .unwrap(),
        CallOutcome::Pending { .. }
    ));
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), runner)
        .await
        .unwrap()
        .unwrap();
    *e.exec.hang_after.lock().unwrap() = None;
}
