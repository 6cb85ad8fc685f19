//! SM-SR change between two SM-SR instances (SGP.02 §3.8, digest §3.6): each with its own store
//! and its own CERT.SR.ECDSA from the same CI, connected over ES7 with in-process
//! `esim_service::LocalClient`s, and one software eUICC that either SM-SR can drive only while
//! its keysets match the card's (the executor double checks the SCP80 KVN and compares the
//! SCP81 PSK it holds sealed with the card's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use esim_apdu::apdu::{CommandApdu, ResponseApdu};
use esim_apdu::etsi102226::{CommandScript, ResponseScript};
use esim_apdu::gp::sgp02::{Es5Command, Notification};
use esim_codec::{Aid, Eid, Iccid, Tar};
use esim_crypto::cert::{CertType, Date};
use esim_crypto::ec::KeyPair;
use esim_crypto::pki::{self, EuiccParams, IssuedEuicc, PkiParams, TestPki};
use esim_crypto::primitives::SecretKey;
use esim_crypto::x509::ValidityDays;
use esim_euicc::card::{Action, CardConfig, Euicc, ScriptStatus};
use esim_euicc::registry::LifeCycle;
use esim_proto::common::Status;
use esim_proto::function::{AnyRequest, Function, decode_request};
use esim_proto::smdp::{AwaitingIsdpCreated, Config, DownloadParams, Next, Outgoing};
use esim_service::{
    CallOutcome, Callback, Callbacks, Caller, ClientError, FunctionClient, FunctionService,
    LocalClient, role,
};
use esim_smsr::delivery::{
    DeliveryError, Es5Executor, Es5Job, Es5Outcome, JobPayload, JobTarget, NotificationSink,
};
use esim_smsr::{GpIdentity, Registration, Smsr, SmsrConfig};
use esim_store::{
    AesSealer, KeysetKind, MemoryStore, OperationId, Sealer, SqliteStore, Store, Timestamp,
};
use serde_json::{Value, json};

struct Pkis {
    pki: TestPki,
    other: TestPki,
    /// A second SM-SR identity from the same CI.
    smsr2: GpIdentity,
}

fn pkis() -> &'static Pkis {
    static P: OnceLock<Pkis> = OnceLock::new();
    P.get_or_init(|| {
        let params = PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap());
        let pki = TestPki::generate(&params).unwrap();
        let other = TestPki::generate(&params).unwrap();
        let body = pki.smsr.cert.body();
        let key = KeyPair::generate().unwrap();
        let cert = pki::issue_gp_certificate(
            &pki.ci,
            b"smsr2",
            key.public_key(),
            CertType::SmSr,
            &esim_crypto::cert::KEY_USAGE_SIGNATURE_VERIFICATION,
            ValidityDays {
                not_before: body.effective_date.unwrap(),
                not_after: body.expiry_date,
            },
        )
        .unwrap();
        Pkis {
            pki,
            other,
            smsr2: GpIdentity {
                certificate: cert,
                key,
            },
        }
    })
}

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

fn caller(id: &str, r: &str) -> Caller {
    Caller {
        id: id.into(),
        roles: vec![r.into()],
    }
}

fn mno1() -> Caller {
    caller("mno1", role::MNO)
}

fn sealer(b: u8) -> Arc<AesSealer> {
    Arc::new(AesSealer::new("test", &SecretKey::new(&[b; 32])).unwrap())
}

// ---------------------------------------------------------------------------------------------
// The ES5 double: one card shared by both SM-SRs, reachable only with matching keys.

#[derive(Debug)]
struct Card(Mutex<Euicc>);

#[derive(Debug)]
struct KeyedExecutor {
    card: Arc<Card>,
    store: Arc<dyn Store>,
    sealer: Arc<AesSealer>,
    memo: Mutex<HashMap<(String, String), Es5Outcome>>,
    runs: Mutex<Vec<String>>,
    /// After running a job of this step, answer only once `gate` is notified (never, when the
    /// SM-SR dies while waiting).
    hang_after: Mutex<Option<String>>,
    gate: tokio::sync::Notify,
}

impl KeyedExecutor {
    fn runs(&self, step: &str) -> usize {
        self.runs
            .lock()
            .unwrap()
            .iter()
            .filter(|s| *s == step)
            .count()
    }

    /// Whether this SM-SR holds keys the card accepts: an SCP80 keyset with a KVN the card has,
    /// and an SCP81 keyset whose PSK equals the card's.
    async fn has_keys(&self, eid: &Eid) -> bool {
        let Ok(keysets) = self.store.keysets(eid).await else {
            return false;
        };
        let card = self.card.0.lock().unwrap();
        let kvns80 = card.scp80_kvns();
        let scp80 = keysets
            .iter()
            .any(|k| k.kind == KeysetKind::Scp80 && kvns80.contains(&k.kvn));
        let scp81 = keysets.iter().any(|k| {
            k.kind == KeysetKind::Scp81
                && card.scp81_psk(k.kvn).is_some_and(|(_, psk)| {
                    let ks =
                        esim_smsr::keys::open_keyset(self.sealer.as_ref(), eid, k.kvn, &k.keys)
                            .unwrap();
                    ks.keys[0].value.0 == *psk
                })
        });
        scp80 && scp81
    }
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

#[async_trait]
impl Es5Executor for KeyedExecutor {
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
        if !self.has_keys(eid).await {
            return Err(DeliveryError::NoKeyset(eid.clone()));
        }
        let outcome = run_job(&mut self.card.0.lock().unwrap(), &job);
        self.runs.lock().unwrap().push(job.step.clone());
        self.memo.lock().unwrap().insert(key, outcome.clone());
        let hang = self.hang_after.lock().unwrap().as_deref() == Some(job.step.as_str());
        if hang {
            self.gate.notified().await;
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
    fn notifications(&self, party: &str) -> Vec<AnyRequest> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == party)
            .filter_map(|(_, c)| match c {
                Callback::Notification(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// ES7 link doubles (the layer above what is tested).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// The first HandoverEUICC is executed by SM-SR2 but its answer never reaches SM-SR1.
    LoseHandoverAnswer,
    /// One byte of the card's receipt is changed on its way back to SM-SR2.
    TamperReceipt,
}

#[derive(Debug)]
struct Link {
    inner: Arc<dyn FunctionClient>,
    fault: Mutex<Fault>,
    /// While a HandoverEUICC is on its way, ask this SM-SR (the current one) for an AuditEIS
    /// and a second SMSRChange of the eUICC, and keep the answers.
    probe: Mutex<Option<(Arc<Smsr>, Eid)>>,
    probed: Mutex<Vec<Value>>,
}

async fn probe_call(smsr: &Smsr, f: Function, fcid: &str, body: Value) -> Value {
    let j = json!({
        "Header": {"FunctionRequesterIdentifier": "mno1", "FunctionCallIdentifier": fcid},
        "Body": body,
    });
    let req = decode_request(f, &j.to_string()).unwrap();
    match smsr
        .call(&mno1(), req, Duration::from_secs(30))
        .await
        .unwrap()
    {
        CallOutcome::Done(v) => v,
        other => panic!("{other:?}"),
    }
}

#[async_trait]
impl FunctionClient for Link {
    async fn call(&self, request: &AnyRequest, limit: Duration) -> Result<Value, ClientError> {
        let probe = self.probe.lock().unwrap().take();
        if let (Some((smsr, eid)), Function::Es7HandoverEuicc) = (probe, request.function()) {
            let a = probe_call(
                &smsr,
                Function::Es4AuditEis,
                "probe-audit",
                json!({"Eid": eid}),
            )
            .await;
            let c = probe_call(
                &smsr,
                Function::Es4SmsrChange,
                "probe-change",
                json!({"Eid": eid, "Target-Smsr-id": "smsr2"}),
            )
            .await;
            self.probed.lock().unwrap().extend([a, c]);
        }
        let mut v = self.inner.call(request, limit).await?;
        let mut fault = self.fault.lock().unwrap();
        match (*fault, request.function()) {
            (Fault::LoseHandoverAnswer, Function::Es7HandoverEuicc) => {
                *fault = Fault::None;
                return Err(ClientError::Transport("connection reset".into()));
            }
            (Fault::TamperReceipt, Function::Es7CreateAdditionalKeySet) => {
                if let Some(r) = v["Body"]["Receipt"].as_str() {
                    let mut b = hex::decode(r).unwrap();
                    b[0] ^= 1;
                    v["Body"]["Receipt"] = json!(hex::encode_upper(b));
                }
            }
            _ => {}
        }
        Ok(v)
    }
}

/// An ES7 client that, like an HTTP client in front of replicas, asks whichever SM-SR instance
/// is current, polling a pending operation with short waits (so an instance can die between
/// two polls).
#[derive(Debug)]
struct Polling {
    target: Mutex<Arc<Smsr>>,
    caller: Caller,
}

#[async_trait]
impl FunctionClient for Polling {
    async fn call(&self, request: &AnyRequest, limit: Duration) -> Result<Value, ClientError> {
        let refused = |e: esim_service::ServiceError| ClientError::Refused {
            status: 0,
            message: e.to_string(),
        };
        let start = std::time::Instant::now();
        let smsr = self.target.lock().unwrap().clone();
        let mut o = smsr
            .call(&self.caller, request.clone(), Duration::from_millis(100))
            .await
            .map_err(refused)?;
        drop(smsr);
        loop {
            match o {
                CallOutcome::Done(v) => return Ok(v),
                CallOutcome::Pending { operation_id, .. } => {
                    if start.elapsed() > limit {
                        return Err(ClientError::Timeout(limit));
                    }
                    let smsr = self.target.lock().unwrap().clone();
                    o = smsr
                        .outcome(&self.caller, &operation_id, Duration::from_millis(100))
                        .await
                        .map_err(refused)?;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Environment.

struct Side {
    smsr: Arc<Smsr>,
    store: Arc<dyn Store>,
    exec: Arc<KeyedExecutor>,
    cb: Arc<Recorder>,
}

struct Env {
    one: Side,
    two: Side,
    card: Arc<Card>,
    issued: IssuedEuicc,
    eid: Eid,
    boot: Iccid,
    /// SM-SR1 → SM-SR2 link.
    to_two: Arc<Link>,
    /// SM-SR2 → SM-SR1 link.
    to_one: Arc<Link>,
    calls: std::sync::atomic::AtomicU64,
}

fn side(id: &str, store: Arc<dyn Store>, card: &Arc<Card>, seal: u8, gp: GpIdentity) -> Side {
    let p = &pkis().pki;
    let mut c = SmsrConfig::new(id, p.ci.cert.clone(), vec![p.eum.cert.clone()]);
    c.poll_interval = Duration::from_millis(50);
    c.lease_ms = 1500;
    c.gp_identity = Some(gp);
    let s = sealer(seal);
    let exec = Arc::new(KeyedExecutor {
        card: card.clone(),
        store: store.clone(),
        sealer: s.clone(),
        memo: Mutex::default(),
        runs: Mutex::default(),
        hang_after: Mutex::default(),
        gate: tokio::sync::Notify::new(),
    });
    let cb = Arc::new(Recorder::default());
    let smsr = Arc::new(Smsr::new(c, store.clone(), s, exec.clone(), cb.clone()).unwrap());
    Side {
        smsr,
        store,
        exec,
        cb,
    }
}

const BOOT_ICCID: &str = "89019990001234567893";

/// Two SM-SRs; the eUICC (bootstrap Profile of mno1) registered at SM-SR1.
async fn env(store1: Arc<dyn Store>, store2: Arc<dyn Store>, smsr2_gp: GpIdentity) -> Env {
    let p = &pkis().pki;
    let eid = pki::eid_from_prefix("8904903200", next_serial()).unwrap();
    let params = EuiccParams::test_defaults(eid, Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
    let issued = pki::issue_euicc(&p.eum, &p.ci.cert, &params).unwrap();
    let boot_pkg = {
        let path = esim_vectors::saip_files()
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n == "TS48V1-A-UNIQUE.der"))
            .unwrap();
        let mut pp = esim_saip::ProfilePackage::decode(&std::fs::read(path).unwrap()).unwrap();
        let h = pp.header_mut().unwrap();
        h.iccid = esim_saip::access::iccid_to_header_bcd(&Iccid::parse(BOOT_ICCID).unwrap())
            .to_vec()
            .into();
        h.pol = None;
        pp.encode().unwrap()
    };
    let keys = esim_crypto::scp03::StaticKeys::new(
        0x30,
        SecretKey::new(&[0x11; 16]),
        SecretKey::new(&[0x22; 16]),
        SecretKey::new(&[0x33; 16]),
    )
    .unwrap();
    let card = Arc::new(Card(Mutex::new(
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
    )));
    let one = side(
        "smsr1",
        store1,
        &card,
        0x41,
        GpIdentity {
            certificate: p.smsr.cert.clone(),
            key: p.smsr.key.clone(),
        },
    );
    let two = side("smsr2", store2, &card, 0x42, smsr2_gp);
    let to_two = Arc::new(Link {
        inner: Arc::new(LocalClient::new(
            two.smsr.clone(),
            caller("smsr1", role::SM_SR),
        )),
        fault: Mutex::new(Fault::None),
        probe: Mutex::default(),
        probed: Mutex::default(),
    });
    let to_one = Arc::new(Link {
        inner: Arc::new(LocalClient::new(
            one.smsr.clone(),
            caller("smsr2", role::SM_SR),
        )),
        fault: Mutex::new(Fault::None),
        probe: Mutex::default(),
        probed: Mutex::default(),
    });
    one.smsr.set_peer_smsrs(HashMap::from([(
        "smsr2".to_owned(),
        to_two.clone() as Arc<dyn FunctionClient>,
    )]));
    two.smsr.set_peer_smsrs(HashMap::from([(
        "smsr1".to_owned(),
        to_one.clone() as Arc<dyn FunctionClient>,
    )]));
    let boot = Iccid::parse(BOOT_ICCID).unwrap();
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
        pol2: None,
        allocated_memory: 0,
        free_memory: 0,
        updated_at: Timestamp(0),
    };
    let st = one
        .smsr
        .register_eis_with(
            &caller(&p.eum.id, role::EUM),
            &issued.eis,
            &Registration {
                msisdn: Some("4912345".into()),
                profiles: vec![record],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(st.is_executed(), "{st:?}");
    Env {
        one,
        two,
        card,
        eid: issued.eid.clone(),
        issued,
        boot,
        to_two,
        to_one,
        calls: Default::default(),
    }
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

impl Env {
    async fn call(&self, at: &Side, who: &Caller, f: Function, body: Value) -> Value {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let j = json!({
            "Header": {
                "FunctionRequesterIdentifier": who.id,
                "FunctionCallIdentifier": format!("c{n}"),
                "ValidityPeriod": 600,
            },
            "Body": body,
        });
        let req = decode_request(f, &j.to_string()).unwrap();
        match at
            .smsr
            .call(who, req, Duration::from_secs(60))
            .await
            .unwrap()
        {
            CallOutcome::Done(v) => v,
            other => panic!("not done: {other:?}"),
        }
    }

    async fn prepare(&self) -> Value {
        self.call(
            &self.two,
            &mno1(),
            Function::Es4PrepareSmsrChange,
            json!({"Eid": self.eid, "CurrentSMSRid": "smsr1"}),
        )
        .await
    }

    async fn change(&self) -> Value {
        self.call(
            &self.one,
            &mno1(),
            Function::Es4SmsrChange,
            json!({"Eid": self.eid, "Target-Smsr-id": "smsr2"}),
        )
        .await
    }

    fn kvns80(&self) -> Vec<u8> {
        self.card.0.lock().unwrap().scp80_kvns()
    }

    fn kvns81(&self) -> Vec<u8> {
        self.card
            .0
            .lock()
            .unwrap()
            .scp81_keysets()
            .iter()
            .map(|k| k.kvn)
            .collect()
    }

    async fn audit(&self, at: &Side) -> Value {
        self.call(at, &mno1(), Function::Es4AuditEis, json!({"Eid": self.eid}))
            .await
    }
}

impl Env {
    /// Downloads a Profile through SM-SR2's ES3 (driven by the real SM-DP machine), which needs
    /// SM-SR2's keys on the card for every step.
    async fn download_at_two(&self, tar: u8, iccid: &Iccid) {
        let p = &pkis().pki;
        let mut pp = esim_saip::ProfilePackage::decode(
            &std::fs::read(
                esim_vectors::saip_files()
                    .into_iter()
                    .find(|p| p.file_name().is_some_and(|n| n == "TS48V1-A-UNIQUE.der"))
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let h = pp.header_mut().unwrap();
        h.iccid = esim_saip::access::iccid_to_header_bcd(iccid)
            .to_vec()
            .into();
        h.pol = None;
        let aid = Aid::isd_p(Tar([0, 0, tar]));
        let params = DownloadParams {
            isdp_aid: aid.clone(),
            iccid: iccid.clone(),
            signing_key: p.smdp.key.clone(),
            certificate: p.smdp.cert.clone(),
            ecasd_key: self.issued.ecasd_cert.public_key().clone(),
            package: pp.encode().unwrap().into(),
            config: Config::default(),
        };
        let smdp = caller("smdp1", role::SM_DP);
        let (state, _) = AwaitingIsdpCreated::start(params).unwrap();
        let r = self
            .call(
                &self.two,
                &smdp,
                Function::Es3CreateIsdp,
                json!({"Eid": self.eid, "Iccid": iccid, "Mno-id": "mno1", "RequiredMemory": 40000}),
            )
            .await;
        assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
        let got: Aid = serde_json::from_value(r["Body"]["Isd-p-aid"].clone()).unwrap();
        assert_eq!(got, aid);
        let rapdu = ResponseApdu::decode(
            &hex::decode(r["Body"]["EuiccResponseData"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        let send = |sd: Aid, data: Vec<u8>| {
            let smdp = smdp.clone();
            async move {
                let r = self
                    .call(
                        &self.two,
                        &smdp,
                        Function::Es3SendData,
                        json!({"Eid": self.eid, "Sd-aid": sd, "Data": hex::encode_upper(data)}),
                    )
                    .await;
                assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
                hex::decode(r["Body"]["EuiccResponseData"].as_str().unwrap()).unwrap()
            }
        };
        let isd_r = |cmds: Vec<CommandApdu>| {
            let script = CommandScript::of_apdus(cmds).encode().unwrap();
            let send = &send;
            async move {
                let resp = send(Aid::isd_r(), script).await;
                ResponseScript::decode(&resp)
                    .unwrap()
                    .responses()
                    .cloned()
                    .collect::<Vec<_>>()
            }
        };
        let mut next = state.handle(&got, &rapdu).unwrap();
        loop {
            next = match next {
                Next::AwaitingChallenge(s, Outgoing::IsdRApdus(cmds)) => {
                    s.handle(&isd_r(cmds).await).unwrap()
                }
                Next::AwaitingReceipt(s, Outgoing::IsdRApdus(cmds)) => {
                    s.handle(&isd_r(cmds).await).unwrap()
                }
                Next::AwaitingInitUpdate(s, Outgoing::IsdPData { isdp_aid, data }) => {
                    s.handle(&send(isdp_aid, data).await).unwrap()
                }
                Next::Downloading(s, Outgoing::IsdPData { isdp_aid, data }) => {
                    s.handle(&send(isdp_aid, data).await).unwrap()
                }
                Next::Completed(_) => break,
                other => panic!("download did not complete: {other:?}"),
            };
        }
        let r = self
            .call(
                &self.two,
                &smdp,
                Function::Es3ProfileDownloadCompleted,
                json!({"Eid": self.eid, "Iccid": iccid, "ProfileType": "test",
                       "SubscriptionAddress": {"Msisdn": "123456"}, "pol2": {}}),
            )
            .await;
        assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    }

    /// The device attaches after the REFRESH; the card's notifications go to `at` and are
    /// confirmed (`3A08`), as the delivery does.
    async fn attach_and_confirm(&self, at: &Side) {
        let ns: Vec<(Notification, u16)> = {
            let mut card = self.card.0.lock().unwrap();
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
        };
        assert!(!ns.is_empty());
        for (n, seq) in ns {
            at.smsr.on_notification(&self.eid, n, seq).await.unwrap();
            let cmds = Es5Command::NotificationConfirmation { sequence: seq }
                .to_commands(255)
                .unwrap();
            let script = CommandScript::of_apdus(cmds).encode().unwrap();
            self.card.0.lock().unwrap().admin_script(None, &script);
        }
    }

    fn card_state(&self, tar: u8) -> Option<LifeCycle> {
        let aid = Aid::isd_p(Tar([0, 0, tar]));
        self.card
            .0
            .lock()
            .unwrap()
            .registry()
            .get(&aid)
            .map(|p| p.state)
    }
}

async fn sqlite() -> Arc<dyn Store> {
    Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap())
}

fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

fn smsr2_gp() -> GpIdentity {
    pkis().smsr2.clone()
}

// ---------------------------------------------------------------------------------------------
// Tests.

async fn change_succeeds(store1: Arc<dyn Store>, store2: Arc<dyn Store>) {
    let e = env(store1, store2, smsr2_gp()).await;
    assert_eq!(e.kvns80(), vec![0x01]);
    assert_eq!(e.kvns81(), vec![0x40]);
    // Before: SM-SR1 reaches the card, SM-SR2 does not know it.
    assert_eq!(status(&e.audit(&e.one).await), Status::ExecutedSuccess);
    let r = e.prepare().await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    *e.to_two.probe.lock().unwrap() = Some((e.one.smsr.clone(), e.eid.clone()));
    let r = e.change().await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    // While it ran, the eUICC was locked at SM-SR1: no card procedure, no second change.
    let probed = e.to_two.probed.lock().unwrap().clone();
    assert_eq!(probed.len(), 2);
    for p in &probed {
        assert_eq!(codes(p), ("8.1.1".into(), "3.7".into()), "{p}");
    }
    assert_eq!(e.one.exec.runs("audit"), 1);
    // The card: SM-SR2's keysets only (new KVNs), SM-SR1's deleted.
    assert_eq!(e.kvns80(), vec![0x02]);
    assert_eq!(e.kvns81(), vec![0x41]);
    // SM-SR1 forgot the eUICC; SM-SR2 holds it with its own keysets (sealed under its key).
    assert!(e.one.store.get_eis(&e.eid).await.is_err());
    assert!(
        e.one
            .store
            .keysets(&e.eid)
            .await
            .unwrap_or_default()
            .is_empty()
    );
    let rec = e.two.store.get_eis(&e.eid).await.unwrap();
    assert_eq!(rec.smsr_id, "smsr2");
    assert_eq!(rec.locked_by, None);
    assert_eq!(rec.additional_properties["msisdn"], "4912345");
    let ks = e.two.store.keysets(&e.eid).await.unwrap();
    let mut kvns: Vec<u8> = ks.iter().map(|k| k.kvn).collect();
    kvns.sort();
    assert_eq!(kvns, vec![0x02, 0x41]);
    // The relayed card steps ran at SM-SR1, the deletion at SM-SR2 with the new keys.
    assert_eq!(e.one.exec.runs("authenticate-smsr"), 2);
    assert_eq!(e.one.exec.runs("create-keyset"), 2);
    assert_eq!(e.two.exec.runs("finalise-handover-01"), 1);
    assert_eq!(e.two.exec.runs("finalise-handover-40"), 1);
    // SM-SR2 now manages the card: GetEIS and AuditEIS for the Profile's MNO.
    let r = e
        .call(&e.two, &mno1(), Function::Es4GetEis, json!({"Eid": e.eid}))
        .await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    assert_eq!(r["Body"]["Eis"]["Smsr-id"], "smsr2");
    assert_eq!(r["Body"]["Eis"]["ProfileInfo"][0]["Iccid"], e.boot.as_str());
    let r = e.audit(&e.two).await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    assert_eq!(e.two.exec.runs("audit"), 1);
    // SM-SR1 can no longer do anything with it.
    let r = e.audit(&e.one).await;
    assert_eq!(status(&r), Status::Failed, "{r}");
    // The operator was notified by SM-SR2.
    let n = e.two.cb.notifications("mno1");
    assert!(
        n.iter()
            .any(|r| r.function() == Function::Es4HandleSmsrChangeNotification),
        "{n:?}"
    );
    let n = e.two.cb.notifications("smdp1");
    assert!(
        n.iter()
            .any(|r| r.function() == Function::Es3HandleSmsrChangeNotification),
        "{n:?}"
    );
    // SM-SR2 downloads, enables and disables a Profile with its new keys.
    let a = Iccid::parse("89019990001234567802").unwrap();
    e.download_at_two(0x11, &a).await;
    assert_eq!(e.card_state(0x11), Some(LifeCycle::Disabled));
    let r = e
        .call(
            &e.two,
            &mno1(),
            Function::Es4EnableProfile,
            json!({"Eid": e.eid, "Iccid": a}),
        )
        .await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    assert_eq!(e.card_state(0x11), Some(LifeCycle::Enabled));
    assert_eq!(e.card_state(0x10), Some(LifeCycle::Disabled));
    e.attach_and_confirm(&e.two).await;
    let r = e
        .call(
            &e.two,
            &mno1(),
            Function::Es4DisableProfile,
            json!({"Eid": e.eid, "Iccid": a}),
        )
        .await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    assert_eq!(e.card_state(0x11), Some(LifeCycle::Disabled));
    assert_eq!(e.card_state(0x10), Some(LifeCycle::Enabled));
    // The card's EIS certificate is unchanged (same ECASD).
    assert_eq!(rec.eid, e.issued.eid, "the EIS moved for the same eUICC");
}

#[tokio::test]
async fn smsr_change_memory_stores() {
    change_succeeds(memory(), memory()).await;
}

#[tokio::test]
async fn smsr_change_sqlite_and_memory() {
    change_succeeds(sqlite().await, memory()).await;
}

#[tokio::test]
async fn change_without_preparation_is_refused_and_unlocks() {
    let e = env(memory(), memory(), smsr2_gp()).await;
    let r = e.change().await;
    assert_eq!(status(&r), Status::Failed, "{r}");
    assert_eq!(codes(&r), ("8.1.1".into(), "1.2".into()));
    assert_eq!(e.one.store.get_eis(&e.eid).await.unwrap().locked_by, None);
    assert_eq!(e.kvns80(), vec![0x01]);
    assert_eq!(status(&e.audit(&e.one).await), Status::ExecutedSuccess);
}

#[tokio::test]
async fn certificate_from_another_ci_is_refused_by_the_card() {
    let other = &pkis().other.smsr;
    let e = env(
        memory(),
        memory(),
        GpIdentity {
            certificate: other.cert.clone(),
            key: other.key.clone(),
        },
    )
    .await;
    assert_eq!(status(&e.prepare().await), Status::ExecutedSuccess);
    let r = e.change().await;
    assert_eq!(status(&r), Status::Failed, "{r}");
    // The card answered 6982 to 3A01.
    let msg = esim_service::status_of(&r)
        .unwrap()
        .status_code_data
        .unwrap()
        .message
        .unwrap_or_default();
    assert!(msg.contains("6982"), "{msg}");
    assert_eq!(e.kvns80(), vec![0x01]);
    assert_eq!(e.kvns81(), vec![0x40]);
    assert!(e.two.store.get_eis(&e.eid).await.is_err());
    // Unlocked: SM-SR1 still manages the card.
    assert_eq!(e.one.store.get_eis(&e.eid).await.unwrap().locked_by, None);
    assert_eq!(status(&e.audit(&e.one).await), Status::ExecutedSuccess);
}

#[tokio::test]
async fn receipt_mismatch_is_refused() {
    let e = env(memory(), memory(), smsr2_gp()).await;
    *e.to_one.fault.lock().unwrap() = Fault::TamperReceipt;
    assert_eq!(status(&e.prepare().await), Status::ExecutedSuccess);
    let r = e.change().await;
    assert_eq!(status(&r), Status::Failed, "{r}");
    assert_eq!(codes(&r), ("8.1".into(), "6.1".into()));
    // Not committed: SM-SR2 has nothing, SM-SR1 keeps the eUICC and reaches it.
    assert!(e.two.store.get_eis(&e.eid).await.is_err());
    assert_eq!(e.one.store.get_eis(&e.eid).await.unwrap().locked_by, None);
    assert!(e.kvns80().contains(&0x01));
    assert_eq!(status(&e.audit(&e.one).await), Status::ExecutedSuccess);
}

#[tokio::test]
async fn locked_euicc_refuses_change_and_card_procedures() {
    let e = env(memory(), memory(), smsr2_gp()).await;
    let mut rec = e.one.store.get_eis(&e.eid).await.unwrap();
    rec.locked_by = Some(OperationId::random().unwrap());
    e.one.store.update_eis(&rec).await.unwrap();
    assert_eq!(status(&e.prepare().await), Status::ExecutedSuccess);
    let r = e.change().await;
    assert_eq!(status(&r), Status::Failed, "{r}");
    assert_eq!(codes(&r), ("8.1.1".into(), "3.7".into()));
    let r = e.audit(&e.one).await;
    assert_eq!(codes(&r), ("8.1.1".into(), "3.7".into()));
    // Nothing reached the card or SM-SR2.
    assert_eq!(e.one.exec.runs("authenticate-smsr"), 0);
    assert!(e.two.store.get_eis(&e.eid).await.is_err());
    // ES7 relays are refused to an SM-SR that is not the target of a running change.
    let r = e
        .call(
            &e.one,
            &caller("smsr2", role::SM_SR),
            Function::Es7AuthenticateSmsr,
            json!({"Eid": e.eid, "SmsrCertificate": hex::encode_upper(pkis().smsr2.certificate.encode())}),
        )
        .await;
    assert_eq!(status(&r), Status::Failed, "{r}");
    assert_eq!(codes(&r), ("8.1.1".into(), "1.2".into()));
}

#[tokio::test]
async fn retry_after_the_commit_point_answers_a_warning() {
    let e = env(memory(), memory(), smsr2_gp()).await;
    *e.to_two.fault.lock().unwrap() = Fault::LoseHandoverAnswer;
    assert_eq!(status(&e.prepare().await), Status::ExecutedSuccess);
    // SM-SR2 took the eUICC over, but SM-SR1 never heard: it fails and unlocks.
    let r = e.change().await;
    assert_eq!(status(&r), Status::Failed, "{r}");
    assert_eq!(codes(&r), ("8.7".into(), "5.1".into()));
    assert_eq!(e.two.store.get_eis(&e.eid).await.unwrap().smsr_id, "smsr2");
    assert_eq!(e.one.store.get_eis(&e.eid).await.unwrap().locked_by, None);
    assert_eq!(e.kvns80(), vec![0x02]);
    let relayed = e.one.exec.runs("create-keyset");
    // The operator retries: recognised, answered with a warning, nothing repeated on the card.
    let r = e.change().await;
    assert_eq!(status(&r), Status::ExecutedWithWarning, "{r}");
    assert_eq!(e.one.exec.runs("create-keyset"), relayed);
    assert_eq!(e.one.exec.runs("authenticate-smsr"), relayed);
    assert!(e.one.store.get_eis(&e.eid).await.is_err());
    assert_eq!(e.kvns80(), vec![0x02]);
    assert_eq!(status(&e.audit(&e.two).await), Status::ExecutedSuccess);
}

#[tokio::test]
async fn es7_needs_role_sm_sr() {
    let e = env(memory(), memory(), smsr2_gp()).await;
    let j = json!({
        "Header": {"FunctionRequesterIdentifier": "mno1", "FunctionCallIdentifier": "x"},
        "Body": {"Eid": e.eid, "SmsrCertificate": "7F2100"},
    });
    let req = decode_request(Function::Es7AuthenticateSmsr, &j.to_string()).unwrap();
    let err = e
        .one
        .smsr
        .call(&mno1(), req, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, esim_service::ServiceError::Forbidden(_)),
        "{err}"
    );
    let _ = e.issued.eid.clone();
    let _: &dyn Sealer = e.one.exec.sealer.as_ref();
}

#[tokio::test]
async fn new_smsr_dies_after_the_commit_point_and_another_instance_finishes() {
    let e = env(memory(), memory(), smsr2_gp()).await;
    let polling = Arc::new(Polling {
        target: Mutex::new(e.two.smsr.clone()),
        caller: caller("smsr1", role::SM_SR),
    });
    e.one.smsr.set_peer_smsrs(HashMap::from([(
        "smsr2".to_owned(),
        polling.clone() as Arc<dyn FunctionClient>,
    )]));
    *e.two.exec.hang_after.lock().unwrap() = Some("finalise-handover-40".into());
    assert_eq!(status(&e.prepare().await), Status::ExecutedSuccess);
    // SMSRChange runs in the background at SM-SR1.
    let j = json!({
        "Header": {"FunctionRequesterIdentifier": "mno1", "FunctionCallIdentifier": "change-1",
                   "ValidityPeriod": 600},
        "Body": {"Eid": e.eid, "Target-Smsr-id": "smsr2"},
    });
    let req = decode_request(Function::Es4SmsrChange, &j.to_string()).unwrap();
    let o = e
        .one
        .smsr
        .call(&mno1(), req, Duration::from_millis(10))
        .await
        .unwrap();
    let CallOutcome::Pending { operation_id, .. } = o else {
        panic!("{o:?}")
    };
    // SM-SR2 committed, registered and deleted the old keysets, then died before answering.
    for _ in 0..600 {
        if e.two.exec.runs("finalise-handover-40") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(e.two.exec.runs("finalise-handover-40"), 1);
    assert_eq!(e.kvns80(), vec![0x02]);
    let store2 = e.two.store.clone();
    let Env {
        one,
        two,
        card,
        to_two,
        ..
    } = e;
    drop(to_two);
    let gp = smsr2_gp();
    let new_two = side("smsr2", store2, &card, 0x42, gp);
    *polling.target.lock().unwrap() = new_two.smsr.clone();
    drop(two);
    // The new instance takes the operation over once the dead one's lease ran out.
    let mut resumed = 0;
    for _ in 0..200 {
        resumed += new_two.smsr.resume_once().await.unwrap();
        if resumed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(resumed > 0);
    let r = match one
        .smsr
        .outcome(&mno1(), &operation_id, Duration::from_secs(60))
        .await
        .unwrap()
    {
        CallOutcome::Done(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    // The key establishment was not repeated; the deletion was re-sent (6A88 = done).
    assert_eq!(one.exec.runs("create-keyset"), 2);
    assert_eq!(new_two.exec.runs("finalise-handover-01"), 1);
    assert_eq!(new_two.exec.runs("finalise-handover-40"), 1);
    {
        let c = card.0.lock().unwrap();
        assert_eq!(c.scp80_kvns(), vec![0x02]);
        assert!(c.scp81_psk(0x40).is_none() && c.scp81_psk(0x41).is_some());
    }
    assert!(one.store.get_eis(&card_eid(&card)).await.is_err());
    let rec = new_two.store.get_eis(&card_eid(&card)).await.unwrap();
    assert_eq!(rec.smsr_id, "smsr2");
    assert!(
        new_two
            .cb
            .notifications("mno1")
            .iter()
            .any(|r| r.function() == Function::Es4HandleSmsrChangeNotification)
    );
}

fn card_eid(card: &Arc<Card>) -> Eid {
    card.0.lock().unwrap().eid().clone()
}

#[tokio::test]
async fn current_smsr_dies_during_the_handover_and_another_instance_finishes() {
    let e = env(memory(), memory(), smsr2_gp()).await;
    let to_two = Arc::new(Polling {
        target: Mutex::new(e.two.smsr.clone()),
        caller: caller("smsr1", role::SM_SR),
    });
    let to_one = Arc::new(Polling {
        target: Mutex::new(e.one.smsr.clone()),
        caller: caller("smsr2", role::SM_SR),
    });
    e.one.smsr.set_peer_smsrs(HashMap::from([(
        "smsr2".to_owned(),
        to_two.clone() as Arc<dyn FunctionClient>,
    )]));
    e.two.smsr.set_peer_smsrs(HashMap::from([(
        "smsr1".to_owned(),
        to_one.clone() as Arc<dyn FunctionClient>,
    )]));
    // SM-SR2 holds its answer back until SM-SR1 has died and been replaced.
    *e.two.exec.hang_after.lock().unwrap() = Some("finalise-handover-40".into());
    assert_eq!(status(&e.prepare().await), Status::ExecutedSuccess);
    let j = json!({
        "Header": {"FunctionRequesterIdentifier": "mno1", "FunctionCallIdentifier": "change-1",
                   "ValidityPeriod": 600},
        "Body": {"Eid": e.eid, "Target-Smsr-id": "smsr2"},
    });
    let req = decode_request(Function::Es4SmsrChange, &j.to_string()).unwrap();
    let o = e
        .one
        .smsr
        .call(&mno1(), req, Duration::from_millis(10))
        .await
        .unwrap();
    let CallOutcome::Pending { operation_id, .. } = o else {
        panic!("{o:?}")
    };
    for _ in 0..600 {
        if e.two.exec.runs("finalise-handover-40") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(e.two.exec.runs("finalise-handover-40"), 1);
    let relayed = e.one.exec.runs("create-keyset");
    assert_eq!(relayed, 2);
    // SM-SR1 dies while waiting for HandoverEUICC; another instance on its store takes over.
    let store1 = e.one.store.clone();
    let Env {
        one,
        two,
        card,
        to_two: link2,
        to_one: link1,
        ..
    } = e;
    drop((link1, link2));
    let new_one = side(
        "smsr1",
        store1,
        &card,
        0x41,
        GpIdentity {
            certificate: pkis().pki.smsr.cert.clone(),
            key: pkis().pki.smsr.key.clone(),
        },
    );
    new_one.smsr.set_peer_smsrs(HashMap::from([(
        "smsr2".to_owned(),
        to_two.clone() as Arc<dyn FunctionClient>,
    )]));
    *to_one.target.lock().unwrap() = new_one.smsr.clone();
    let old_exec = one.exec.clone();
    drop(one);
    let mut resumed = 0;
    for _ in 0..200 {
        resumed += new_one.smsr.resume_once().await.unwrap();
        if resumed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(resumed > 0);
    // SM-SR2 answers now; the resumed SMSRChange gets the answer to the same call.
    two.exec.gate.notify_one();
    let r = match new_one
        .smsr
        .outcome(&mno1(), &operation_id, Duration::from_secs(60))
        .await
        .unwrap()
    {
        CallOutcome::Done(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    assert_eq!(old_exec.runs("create-keyset"), 2);
    assert_eq!(new_one.exec.runs("create-keyset"), 0);
    let eid = card_eid(&card);
    assert!(new_one.store.get_eis(&eid).await.is_err());
    assert_eq!(two.store.get_eis(&eid).await.unwrap().smsr_id, "smsr2");
    assert_eq!(card.0.lock().unwrap().scp80_kvns(), vec![0x02]);
}
