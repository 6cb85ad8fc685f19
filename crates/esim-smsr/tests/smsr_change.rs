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
    /// A fault for one job (interruption matrix); taken when it fires.
    fault: Mutex<Option<ExecFault>>,
    /// Operations seen per step, in order (the `nth` of [`ExecFault`]).
    seen: Mutex<HashMap<String, Vec<String>>>,
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
        let nth = {
            let mut seen = self.seen.lock().unwrap();
            let ops = seen.entry(job.step.clone()).or_default();
            if !ops.contains(&key.0) {
                ops.push(key.0.clone());
            }
            ops.iter().position(|o| *o == key.0).unwrap() + 1
        };
        let fault = self
            .fault
            .lock()
            .unwrap()
            .take_if(|f| f.step == job.step && f.nth == nth);
        if esim_service::now() >= deadline {
            return Ok(Es5Outcome::Expired);
        }
        if !self.has_keys(eid).await {
            return Err(DeliveryError::NoKeyset(eid.clone()));
        }
        if let Some(f) = fault {
            match f.loss {
                // The command SMS never reached the card: no PoR after every attempt.
                Loss::Request => {
                    return Ok(Es5Outcome::Unreachable {
                        reason: "no PoR after every attempt (command lost)".into(),
                    });
                }
                // The card ran it; its PoR was lost. Nothing is kept: a re-send runs again.
                Loss::Answer => {
                    run_job(&mut self.card.0.lock().unwrap(), &job);
                    self.runs.lock().unwrap().push(job.step.clone());
                    return Ok(Es5Outcome::Unreachable {
                        reason: "no PoR after every attempt (answer lost)".into(),
                    });
                }
                // The card ran it and the answer is kept in the queue, but the SM-SR waiting
                // for it is held (to be killed there).
                Loss::Pause | Loss::Tamper => {
                    let outcome = run_job(&mut self.card.0.lock().unwrap(), &job);
                    self.runs.lock().unwrap().push(job.step.clone());
                    self.memo.lock().unwrap().insert(key, outcome.clone());
                    f.hold.reach_and_wait().await;
                    return Ok(outcome);
                }
                // The card ran it, the PoR was lost and the SM-SR waiting for it is held (to
                // be killed there): nothing is kept, the restarted SM-SR sends it again.
                Loss::PauseForget => {
                    let outcome = run_job(&mut self.card.0.lock().unwrap(), &job);
                    self.runs.lock().unwrap().push(job.step.clone());
                    f.hold.reach_and_wait().await;
                    return Ok(outcome);
                }
            }
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
    /// SM-SR2's binding refuses every HandoverEUICC before running it (wrong ES7 credentials:
    /// HTTP 401).
    RefuseHandover,
    /// The first CreateAdditionalKeySet is answered as SM-SR1 answers when the card refused
    /// the `3A02` (`Failed 8.4/4.2`, SW 6985), without reaching the card.
    CardRefusesKeysetOnce,
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
        if *self.fault.lock().unwrap() == Fault::RefuseHandover
            && request.function() == Function::Es7HandoverEuicc
        {
            return Err(ClientError::Refused {
                status: 401,
                message: "unknown token".into(),
            });
        }
        {
            let mut fault = self.fault.lock().unwrap();
            if *fault == Fault::CardRefusesKeysetOnce
                && request.function() == Function::Es7CreateAdditionalKeySet
            {
                *fault = Fault::None;
                return Ok(json!({"Header": {"FunctionExecutionStatus": {
                    "Status": "Failed",
                    "StatusCodeData": {"Subject": "8.4", "Reason": "4.2",
                        "Message": "CreateAdditionalKeySet: the eUICC answered SW 6985"}}}}));
            }
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
        fault: Mutex::default(),
        seen: Mutex::default(),
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

/// SM-SR2 refuses the hand-over before running it (ES7 credentials wrong): SM-SR1 does not ask
/// again forever with the eUICC locked; it unlocks and answers Failed (docs/spec-choices.md
/// row 83), and the eUICC stays managed by SM-SR1.
#[tokio::test]
async fn handover_refused_before_it_ran_unlocks_at_once() {
    let e = env(memory(), memory(), smsr2_gp()).await;
    *e.to_two.fault.lock().unwrap() = Fault::RefuseHandover;
    assert_eq!(status(&e.prepare().await), Status::ExecutedSuccess);
    let r = tokio::time::timeout(Duration::from_secs(20), e.change())
        .await
        .expect("answered, not retried forever");
    assert_eq!(status(&r), Status::Failed, "{r}");
    assert_eq!(codes(&r), ("8.7".into(), "1.2".into()), "{r}");
    assert_eq!(e.one.store.get_eis(&e.eid).await.unwrap().locked_by, None);
    assert!(e.two.store.get_eis(&e.eid).await.is_err());
    assert_eq!(e.kvns80(), vec![0x01]);
    assert_eq!(status(&e.audit(&e.one).await), Status::ExecutedSuccess);
}

/// The card refuses a key establishment's `3A02` (as after SM-SR1 restarted and sent it again):
/// SM-SR2 runs the establishment again from AuthenticateSMSR and the change completes
/// (docs/spec-choices.md row 84).
#[tokio::test]
async fn a_refused_key_establishment_is_run_again() {
    let e = env(memory(), memory(), smsr2_gp()).await;
    *e.to_one.fault.lock().unwrap() = Fault::CardRefusesKeysetOnce;
    assert_eq!(status(&e.prepare().await), Status::ExecutedSuccess);
    let r = e.change().await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    assert_eq!(e.two.store.get_eis(&e.eid).await.unwrap().smsr_id, "smsr2");
    assert!(e.one.store.get_eis(&e.eid).await.is_err());
    // Three challenges asked for (one more for the refused attempt), two keysets created.
    assert_eq!(e.one.exec.runs("authenticate-smsr"), 3);
    assert_eq!(
        *e.to_one.fault.lock().unwrap(),
        Fault::None,
        "the refusal happened"
    );
    assert_eq!(e.one.exec.runs("create-keyset"), 2);
    assert_eq!(e.kvns80(), vec![0x02]);
    assert_eq!(status(&e.audit(&e.two).await), Status::ExecutedSuccess);
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
async fn lost_handover_answer_is_asked_for_again_and_a_stale_copy_is_dropped() {
    let e = env(memory(), memory(), smsr2_gp()).await;
    *e.to_two.fault.lock().unwrap() = Fault::LoseHandoverAnswer;
    assert_eq!(status(&e.prepare().await), Status::ExecutedSuccess);
    // SM-SR2 took the eUICC over but its answer was lost: SM-SR1 does not unlock (it cannot
    // know whether SM-SR2 committed); it sends the same HandoverEUICC again and gets the
    // answer SM-SR2 kept. At no time do both SM-SRs hold the EIS unlocked.
    let r = e.change().await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    assert_eq!(e.two.store.get_eis(&e.eid).await.unwrap().smsr_id, "smsr2");
    assert!(e.one.store.get_eis(&e.eid).await.is_err());
    assert_eq!(e.kvns80(), vec![0x02]);
    // The key establishments ran once.
    assert_eq!(e.one.exec.runs("create-keyset"), 2);
    assert_eq!(e.one.exec.runs("authenticate-smsr"), 2);
    assert_eq!(status(&e.audit(&e.two).await), Status::ExecutedSuccess);
    // A stale copy of the EIS at SM-SR1 (e.g. restored from a backup): a new SMSRChange is
    // recognised by SM-SR2, answered with a warning, nothing is sent to the card, and SM-SR1
    // drops its copy.
    let p = &pkis().pki;
    let st = e
        .one
        .smsr
        .register_eis_with(
            &caller(&p.eum.id, role::EUM),
            &e.issued.eis,
            &Registration {
                profiles: vec![esim_store::ProfileRecord {
                    eid: e.eid.clone(),
                    iccid: e.boot.clone(),
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
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(st.is_executed(), "{st:?}");
    let r = e.change().await;
    assert_eq!(status(&r), Status::ExecutedWithWarning, "{r}");
    assert_eq!(e.one.exec.runs("create-keyset"), 2);
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

// ---------------------------------------------------------------------------------------------
// The interruption matrix: every step of the change × every failure kind ends with exactly
// one SM-SR managing the card.

/// How a message or job is lost or held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss {
    /// Delivered and executed, then held before the answer comes back (an SM-SR is killed
    /// there); the answer is kept where a restarted SM-SR finds it.
    Pause,
    /// Executed, the answer lost.
    Answer,
    /// Lost before it was executed.
    Request,
    /// The card's receipt changed on its way to SM-SR2 (ES7 link only).
    Tamper,
    /// Executed on the card, the answer lost, and the SM-SR held (card jobs only).
    PauseForget,
}

/// A place where a test holds an SM-SR: reached, then released.
#[derive(Debug)]
struct Hold {
    reached: tokio::sync::watch::Sender<bool>,
    released: tokio::sync::watch::Sender<bool>,
}

impl Hold {
    fn new() -> Arc<Self> {
        Arc::new(Hold {
            reached: tokio::sync::watch::channel(false).0,
            released: tokio::sync::watch::channel(false).0,
        })
    }

    async fn reach_and_wait(&self) {
        let mut rx = self.released.subscribe();
        self.reached.send_replace(true);
        let _ = rx.wait_for(|r| *r).await;
    }
}

#[derive(Debug)]
struct ExecFault {
    step: String,
    nth: usize,
    loss: Loss,
    hold: Arc<Hold>,
}

#[derive(Debug)]
struct LinkFault {
    function: Function,
    nth: usize,
    loss: Loss,
    hold: Arc<Hold>,
}

/// An ES7 client to whichever instance of the peer SM-SR is up (like an HTTP client in front
/// of replicas): `Transport` errors while none is; polls a pending operation with short waits.
#[derive(Debug)]
struct FaultLink {
    target: Mutex<Option<Arc<Smsr>>>,
    caller: Caller,
    fault: Mutex<Option<LinkFault>>,
    seen: Mutex<HashMap<String, Vec<String>>>,
}

impl FaultLink {
    fn new(caller: Caller) -> Arc<Self> {
        Arc::new(FaultLink {
            target: Mutex::default(),
            caller,
            fault: Mutex::default(),
            seen: Mutex::default(),
        })
    }

    fn up(&self) -> Result<Arc<Smsr>, ClientError> {
        self.target
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| ClientError::Transport("connection refused".into()))
    }

    async fn start(&self, request: &AnyRequest) -> Result<CallOutcome, ClientError> {
        let smsr = self.up()?;
        smsr.call(&self.caller, request.clone(), Duration::from_millis(100))
            .await
            .map_err(|e| ClientError::Refused {
                status: 0,
                message: e.to_string(),
            })
    }

    async fn finish(&self, mut o: CallOutcome, limit: Duration) -> Result<Value, ClientError> {
        let start = std::time::Instant::now();
        loop {
            match o {
                CallOutcome::Done(v) => return Ok(v),
                CallOutcome::Pending { operation_id, .. } => {
                    if start.elapsed() > limit {
                        return Err(ClientError::Timeout(limit));
                    }
                    let smsr = self.up()?;
                    o = smsr
                        .outcome(&self.caller, &operation_id, Duration::from_millis(100))
                        .await
                        .map_err(|e| ClientError::Refused {
                            status: 0,
                            message: e.to_string(),
                        })?;
                }
            }
        }
    }
}

#[async_trait]
impl FunctionClient for FaultLink {
    async fn call(&self, request: &AnyRequest, limit: Duration) -> Result<Value, ClientError> {
        let f = request.function();
        let json: Value = serde_json::from_str(&request.to_json().unwrap()).unwrap();
        let call_id = json["Header"]["FunctionCallIdentifier"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let nth = {
            let mut seen = self.seen.lock().unwrap();
            let ids = seen.entry(f.name().to_owned()).or_default();
            if !ids.contains(&call_id) {
                ids.push(call_id.clone());
            }
            ids.iter().position(|i| *i == call_id).unwrap() + 1
        };
        let fault = self
            .fault
            .lock()
            .unwrap()
            .take_if(|x| x.function == f && x.nth == nth);
        match fault {
            None => {
                let o = self.start(request).await?;
                self.finish(o, limit).await
            }
            Some(x) => match x.loss {
                Loss::Request => Err(ClientError::Transport("request lost".into())),
                Loss::Answer => {
                    let o = self.start(request).await?;
                    self.finish(o, limit).await?;
                    Err(ClientError::Transport("answer lost".into()))
                }
                Loss::Pause | Loss::PauseForget => {
                    let o = self.start(request).await?;
                    x.hold.reach_and_wait().await;
                    self.finish(o, limit).await
                }
                Loss::Tamper => {
                    let o = self.start(request).await?;
                    let mut v = self.finish(o, limit).await?;
                    if let Some(r) = v["Body"]["Receipt"].as_str() {
                        let mut b = hex::decode(r).unwrap();
                        b[0] ^= 1;
                        v["Body"]["Receipt"] = json!(hex::encode_upper(b));
                    }
                    Ok(v)
                }
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    One,
    Two,
}

impl Who {
    fn id(self) -> &'static str {
        match self {
            Who::One => "smsr1",
            Who::Two => "smsr2",
        }
    }
}

/// One SM-SR replica that can be killed and started again on its store.
struct Node {
    who: Who,
    store: Arc<dyn Store>,
    exec: Arc<KeyedExecutor>,
    cb: Arc<Recorder>,
    seal: u8,
    gp: GpIdentity,
    smsr: Option<Arc<Smsr>>,
    resumer: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
    /// Calls to this SM-SR.
    inbound: Arc<FaultLink>,
    /// Calls from this SM-SR to the other one.
    outbound: Arc<FaultLink>,
}

impl Node {
    /// Starts an instance with the replica's stable holder name: before it serves anything it
    /// ends the leases of the previous incarnation, then resumes their operations at once.
    async fn start(&mut self) {
        let p = &pkis().pki;
        let id = self.who.id();
        let mut c = SmsrConfig::new(id, p.ci.cert.clone(), vec![p.eum.cert.clone()]);
        c.poll_interval = Duration::from_millis(50);
        c.lease_ms = 1500;
        c.gp_identity = Some(self.gp.clone());
        let holder = format!("{id}-replica");
        c.holder = Some(holder.clone());
        self.store
            .release_leases(&holder, esim_service::now())
            .await
            .unwrap();
        let smsr = Arc::new(
            Smsr::new(
                c,
                self.store.clone(),
                sealer(self.seal),
                self.exec.clone(),
                self.cb.clone(),
            )
            .unwrap(),
        );
        let peer = match self.who {
            Who::One => "smsr2",
            Who::Two => "smsr1",
        };
        smsr.set_peer_smsrs(HashMap::from([(
            peer.to_owned(),
            self.outbound.clone() as Arc<dyn FunctionClient>,
        )]));
        *self.inbound.target.lock().unwrap() = Some(smsr.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let s = smsr.clone();
        let task = tokio::spawn(async move {
            let resume = async {
                loop {
                    let _ = s.resume_once().await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            tokio::select! {
                _ = rx => {}
                () = resume => {}
            }
        });
        self.smsr = Some(smsr);
        self.resumer = Some((tx, task));
    }

    /// SIGKILL: the instance stops answering and every operation it runs stops where it is.
    async fn kill(&mut self) {
        *self.inbound.target.lock().unwrap() = None;
        if let Some((tx, task)) = self.resumer.take() {
            let _ = tx.send(());
            task.await.unwrap();
        }
        let smsr = self.smsr.take().unwrap();
        // Calls in progress hold the instance for at most one short poll.
        while Arc::strong_count(&smsr) > 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(smsr);
    }

    fn smsr(&self) -> Arc<Smsr> {
        self.smsr.clone().unwrap()
    }
}

struct Matrix {
    one: Node,
    two: Node,
    card: Arc<Card>,
    eid: Eid,
}

impl Matrix {
    /// The eUICC registered at SM-SR1 (by [`env`]); then both SM-SRs run as replicas with
    /// [`FaultLink`]s between them.
    async fn new(store1: Arc<dyn Store>, store2: Arc<dyn Store>) -> Matrix {
        let e = env(store1, store2, smsr2_gp()).await;
        let Env {
            one,
            two,
            card,
            eid,
            to_two,
            to_one,
            ..
        } = e;
        drop((to_two, to_one));
        let to_two = FaultLink::new(caller("smsr1", role::SM_SR));
        let to_one = FaultLink::new(caller("smsr2", role::SM_SR));
        let node = |s: super_side::SideParts, who, seal, gp, inbound, outbound| Node {
            who,
            store: s.store,
            exec: s.exec,
            cb: s.cb,
            seal,
            gp,
            smsr: None,
            resumer: None,
            inbound,
            outbound,
        };
        let mut one = node(
            super_side::parts(one),
            Who::One,
            0x41,
            GpIdentity {
                certificate: pkis().pki.smsr.cert.clone(),
                key: pkis().pki.smsr.key.clone(),
            },
            to_one.clone(),
            to_two.clone(),
        );
        let mut two = node(
            super_side::parts(two),
            Who::Two,
            0x42,
            smsr2_gp(),
            to_two,
            to_one,
        );
        one.start().await;
        two.start().await;
        Matrix {
            one,
            two,
            card,
            eid,
        }
    }

    /// What ran: card jobs and audit trails of both SM-SRs (for failure messages).
    async fn trail(&self) -> String {
        let mut out = format!(
            "  card jobs at SM-SR1 {:?}, at SM-SR2 {:?}\n",
            self.one.exec.runs.lock().unwrap(),
            self.two.exec.runs.lock().unwrap()
        );
        for (n, st) in [("SM-SR1", &self.one.store), ("SM-SR2", &self.two.store)] {
            let q = esim_store::AuditQuery {
                eid: Some(self.eid.clone()),
                operator: None,
                since: None,
                until: None,
                after_id: None,
                limit: 100,
            };
            for a in st.query_audit(&q).await.unwrap_or_default() {
                out.push_str(&format!(
                    "  {n}: {} {} {} {}\n",
                    a.function,
                    a.function_call_id.unwrap_or_default(),
                    a.status,
                    a.detail
                ));
            }
        }
        out
    }

    fn node(&mut self, who: Who) -> &mut Node {
        match who {
            Who::One => &mut self.one,
            Who::Two => &mut self.two,
        }
    }

    fn at(&self, who: Who) -> &Node {
        match who {
            Who::One => &self.one,
            Who::Two => &self.two,
        }
    }

    async fn call(
        &self,
        who: Who,
        f: Function,
        call_id: &str,
        body: Value,
        wait: Duration,
    ) -> CallOutcome {
        let j = json!({
            "Header": {"FunctionRequesterIdentifier": "mno1", "FunctionCallIdentifier": call_id,
                       "ValidityPeriod": 600},
            "Body": body,
        });
        let req = decode_request(f, &j.to_string()).unwrap();
        self.at(who).smsr().call(&mno1(), req, wait).await.unwrap()
    }

    async fn done(&self, who: Who, f: Function, call_id: &str, body: Value) -> Value {
        match self
            .call(who, f, call_id, body, Duration::from_secs(60))
            .await
        {
            CallOutcome::Done(v) => v,
            other => panic!("{f:?} not done: {other:?}"),
        }
    }

    /// Waits until SM-SR1's `ES4.SMSRChange` `call_id` ended and neither SM-SR has an
    /// operation left on the eUICC (relays, hand-over); returns the operator's answer.
    async fn quiesce(&self, call_id: &str) -> Result<Value, String> {
        for _ in 0..3000 {
            // A store error (busy under load) counts as "not yet".
            let op = self.one.store.find_operation("mno1", call_id).await;
            let active1 = self.one.store.active_operations_for(&self.eid).await;
            let active2 = self.two.store.active_operations_for(&self.eid).await;
            if let (Ok(Some(op)), Ok(a1), Ok(a2)) = (op, active1, active2)
                && op.status.is_terminal()
                && a1.is_empty()
                && a2.is_empty()
            {
                return Ok(op.result.unwrap_or(Value::Null));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let kinds = |ops: Result<Vec<esim_store::Operation>, esim_store::StoreError>| match ops {
            Ok(ops) => ops
                .into_iter()
                .map(|o| format!("{} {}", o.kind, o.status))
                .collect::<Vec<_>>(),
            Err(e) => vec![format!("store error: {e}")],
        };
        Err(format!(
            "no quiescence: SM-SR1 runs {:?}, SM-SR2 runs {:?}, SMSRChange {:?}\n{}",
            kinds(self.one.store.active_operations_for(&self.eid).await),
            kinds(self.two.store.active_operations_for(&self.eid).await),
            self.one
                .store
                .find_operation("mno1", call_id)
                .await
                .map(|o| o.map(|o| o.status)),
            self.trail().await
        ))
    }

    /// Exactly one manager: one store holds the EIS (unlocked, with keysets the card has),
    /// the other holds neither EIS nor keysets and refuses the eUICC; the manager reaches the
    /// card with its keys (AuditEIS on the real eUICC). With `exact`, the card holds no other
    /// ISD-R keyset than the manager's. Returns the manager.
    async fn one_manager(&self, exact: bool, call: &str) -> Result<Who, String> {
        let e1 = self.one.store.get_eis(&self.eid).await;
        let e2 = self.two.store.get_eis(&self.eid).await;
        let (who, rec) = match (e1, e2) {
            (Ok(r), Err(esim_store::StoreError::NotFound { .. })) => (Who::One, r),
            (Err(esim_store::StoreError::NotFound { .. }), Ok(r)) => (Who::Two, r),
            (a, b) => {
                return Err(format!(
                    "not exactly one EIS: SM-SR1 {:?}, SM-SR2 {:?}",
                    a.map(|r| r.smsr_id),
                    b.map(|r| r.smsr_id)
                ));
            }
        };
        let other = if who == Who::One { Who::Two } else { Who::One };
        if rec.locked_by.is_some() {
            return Err(format!("{} holds the EIS locked", who.id()));
        }
        if rec.smsr_id != who.id() {
            return Err(format!("{} holds an EIS naming {}", who.id(), rec.smsr_id));
        }
        let left = self
            .at(other)
            .store
            .keysets(&self.eid)
            .await
            .unwrap_or_default();
        if !left.is_empty() {
            return Err(format!(
                "{} still holds keysets {:?}",
                other.id(),
                left.iter().map(|k| k.kvn).collect::<Vec<_>>()
            ));
        }
        let mine = self.at(who).store.keysets(&self.eid).await.unwrap();
        let (card80, card81) = {
            let c = self.card.0.lock().unwrap();
            let mut k81: Vec<u8> = c.scp81_keysets().iter().map(|k| k.kvn).collect();
            k81.sort();
            (c.scp80_kvns(), k81)
        };
        let kvns = |kind| {
            let mut v: Vec<u8> = mine
                .iter()
                .filter(|k| k.kind == kind)
                .map(|k| k.kvn)
                .collect();
            v.sort();
            v
        };
        let (m80, m81) = (kvns(KeysetKind::Scp80), kvns(KeysetKind::Scp81));
        if !self.at(who).exec.has_keys(&self.eid).await {
            return Err(format!(
                "{} holds keysets {m80:02X?}/{m81:02X?} the card does not accept (card: {card80:02X?}/{card81:02X?})",
                who.id()
            ));
        }
        if exact && (m80 != card80 || m81 != card81) {
            return Err(format!(
                "the card holds keysets {card80:02X?}/{card81:02X?}, the manager {} {m80:02X?}/{m81:02X?}",
                who.id()
            ));
        }
        let r = self
            .done(
                who,
                Function::Es4AuditEis,
                &format!("{call}-audit"),
                json!({"Eid": self.eid}),
            )
            .await;
        if status(&r) != Status::ExecutedSuccess {
            return Err(format!("AuditEIS through the manager {}: {r}", who.id()));
        }
        let r = self
            .done(
                other,
                Function::Es4GetEis,
                &format!("{call}-get"),
                json!({"Eid": self.eid}),
            )
            .await;
        if status(&r) != Status::Failed {
            return Err(format!("GetEIS at {} (not the manager): {r}", other.id()));
        }
        if !self
            .at(other)
            .store
            .pending_commands(&self.eid)
            .await
            .unwrap()
            .is_empty()
            && other == Who::One
        {
            return Err("SM-SR1 still has commands queued for the eUICC".into());
        }
        Ok(who)
    }
}

/// The parts of a [`Side`] a [`Node`] keeps (its `Smsr` is dropped).
mod super_side {
    use super::*;

    pub struct SideParts {
        pub store: Arc<dyn Store>,
        pub exec: Arc<KeyedExecutor>,
        pub cb: Arc<Recorder>,
    }

    pub fn parts(s: Side) -> SideParts {
        let Side {
            smsr,
            store,
            exec,
            cb,
        } = s;
        drop(smsr);
        SideParts { store, exec, cb }
    }
}

/// Where a step of the change can be interrupted.
#[derive(Debug, Clone, Copy)]
enum At {
    /// A named point of the procedure (`esim_smsr::smsr_change::failpoints`) at this SM-SR.
    Point(Who, &'static str),
    /// The nth distinct job of this step on this SM-SR's card channel.
    Card(Who, &'static str, usize),
    /// The nth distinct ES7 call of this function sent by this SM-SR.
    Es7(Who, Function, usize),
}

/// The failure kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// SM-SR1 killed at the step, then started again on its store.
    KillOne,
    /// SM-SR2 killed at the step, then started again on its store.
    KillTwo,
    /// The command was executed (card / peer), its answer lost.
    LoseAnswer,
    /// The command was lost before the card / peer.
    LoseRequest,
    /// The card's receipt was altered on its way to SM-SR2.
    BadReceipt,
    /// The card ran the command, its PoR was lost and the SM-SR that sent it was killed
    /// waiting; restarted, it sends the command again (the card sees it twice).
    KillResend,
}

const STEPS: &[(&str, At)] = &[
    (
        "SMSRChange accepted, eUICC locked",
        At::Point(Who::One, "locked"),
    ),
    (
        "HandoverEUICC sent",
        At::Es7(Who::One, Function::Es7HandoverEuicc, 1),
    ),
    (
        "HandoverEUICC accepted at SM-SR2",
        At::Point(Who::Two, "handover"),
    ),
    (
        "AuthenticateSMSR (SCP80) ES7",
        At::Es7(Who::Two, Function::Es7AuthenticateSmsr, 1),
    ),
    (
        "AuthenticateSMSR (SCP80) on the card",
        At::Card(Who::One, "authenticate-smsr", 1),
    ),
    (
        "CreateAdditionalKeySet SCP80 on the card",
        At::Card(Who::One, "create-keyset", 1),
    ),
    (
        "CreateAdditionalKeySet SCP80 ES7",
        At::Es7(Who::Two, Function::Es7CreateAdditionalKeySet, 1),
    ),
    (
        "AuthenticateSMSR (SCP81) ES7",
        At::Es7(Who::Two, Function::Es7AuthenticateSmsr, 2),
    ),
    (
        "AuthenticateSMSR (SCP81) on the card",
        At::Card(Who::One, "authenticate-smsr", 2),
    ),
    (
        "CreateAdditionalKeySet SCP81 on the card",
        At::Card(Who::One, "create-keyset", 2),
    ),
    (
        "CreateAdditionalKeySet SCP81 ES7",
        At::Es7(Who::Two, Function::Es7CreateAdditionalKeySet, 2),
    ),
    ("receipts verified", At::Point(Who::Two, "verified")),
    ("commit point", At::Point(Who::Two, "committed")),
    (
        "EIS registered at SM-SR2",
        At::Point(Who::Two, "registered"),
    ),
    (
        "finalise-handover-01 (DELETE SCP80)",
        At::Card(Who::Two, "finalise-handover-01", 1),
    ),
    (
        "finalise-handover-40 (DELETE SCP81)",
        At::Card(Who::Two, "finalise-handover-40", 1),
    ),
    ("notifications sent", At::Point(Who::Two, "notified")),
    ("SM-SR1 got the answer", At::Point(Who::One, "handed-over")),
    ("SM-SR1 deleted its copy", At::Point(Who::One, "forgotten")),
];

/// The (step, kind) cells of the matrix: kills everywhere, losses where a message travels,
/// an altered receipt on both key establishments.
fn cells() -> Vec<(&'static str, At, Kind)> {
    let mut v = Vec::new();
    for &(name, at) in STEPS {
        v.push((name, at, Kind::KillOne));
        v.push((name, at, Kind::KillTwo));
        if !matches!(at, At::Point(..)) {
            v.push((name, at, Kind::LoseAnswer));
            v.push((name, at, Kind::LoseRequest));
        }
        if matches!(at, At::Card(..)) {
            v.push((name, at, Kind::KillResend));
        }
        if matches!(at, At::Es7(_, Function::Es7CreateAdditionalKeySet, _)) {
            v.push((name, at, Kind::BadReceipt));
        }
    }
    v
}

enum Armed {
    Point(Arc<esim_smsr::smsr_change::failpoints::Point>),
    Hold(Arc<Hold>),
}

impl Armed {
    async fn reached(&self) {
        match self {
            Armed::Point(p) => p.reached().await,
            Armed::Hold(h) => {
                let mut rx = h.reached.subscribe();
                let _ = rx.wait_for(|r| *r).await;
            }
        }
    }

    fn release(&self) {
        match self {
            Armed::Point(p) => p.release(),
            Armed::Hold(h) => {
                h.released.send_replace(true);
            }
        }
    }
}

/// One cell: the change interrupted at `at` by `kind`, driven to its end (restarts, retries,
/// time-outs; the operator sends SMSRChange again if the first one failed), checked for
/// exactly one manager after the first attempt and after the operator's retry.
async fn run_cell(
    store1: Arc<dyn Store>,
    store2: Arc<dyn Store>,
    at: At,
    kind: Kind,
    strict: bool,
) -> Result<String, String> {
    let mut m = Matrix::new(store1, store2).await;
    let r = m
        .done(
            Who::Two,
            Function::Es4PrepareSmsrChange,
            "prepare-1",
            json!({"Eid": m.eid, "CurrentSMSRid": "smsr1"}),
        )
        .await;
    if status(&r) != Status::ExecutedSuccess {
        return Err(format!("PrepareSMSRChange: {r}"));
    }
    let loss = match kind {
        Kind::KillOne | Kind::KillTwo => Loss::Pause,
        Kind::LoseAnswer => Loss::Answer,
        Kind::LoseRequest => Loss::Request,
        Kind::BadReceipt => Loss::Tamper,
        Kind::KillResend => Loss::PauseForget,
    };
    let armed = match at {
        At::Point(who, p) => {
            Armed::Point(esim_smsr::smsr_change::failpoints::arm(who.id(), &m.eid, p))
        }
        At::Card(who, step, nth) => {
            let hold = Hold::new();
            *m.at(who).exec.fault.lock().unwrap() = Some(ExecFault {
                step: step.into(),
                nth,
                loss,
                hold: hold.clone(),
            });
            Armed::Hold(hold)
        }
        At::Es7(who, function, nth) => {
            let hold = Hold::new();
            *m.at(who).outbound.fault.lock().unwrap() = Some(LinkFault {
                function,
                nth,
                loss,
                hold: hold.clone(),
            });
            Armed::Hold(hold)
        }
    };
    m.call(
        Who::One,
        Function::Es4SmsrChange,
        "change-1",
        json!({"Eid": m.eid, "Target-Smsr-id": "smsr2"}),
        Duration::from_millis(10),
    )
    .await;
    if let Kind::KillOne | Kind::KillTwo | Kind::KillResend = kind {
        if tokio::time::timeout(Duration::from_secs(60), armed.reached())
            .await
            .is_err()
        {
            return Err("the step was never reached".into());
        }
        let who = match (kind, at) {
            (Kind::KillOne, _) => Who::One,
            (Kind::KillResend, At::Card(who, ..)) => who,
            _ => Who::Two,
        };
        m.node(who).kill().await;
        m.node(who).start().await;
        armed.release();
    }
    let first = m.quiesce("change-1").await?;
    if std::env::var("ESIM_MATRIX_DEBUG").is_ok() {
        println!("first: {first}\n{}", m.trail().await);
    }
    let fired = match at {
        At::Point(..) => true,
        At::Card(who, ..) => m.at(who).exec.fault.lock().unwrap().is_none(),
        At::Es7(who, ..) => m.at(who).outbound.fault.lock().unwrap().is_none(),
    };
    if !fired {
        return Err("the fault never fired".into());
    }
    let manager = m
        .one_manager(false, "check-1")
        .await
        .map_err(|e| format!("after the first SMSRChange: {e}"))?;
    let executed = esim_smsr::service::is_executed(&first);
    // The operator sending the same call again gets the same answer (nothing runs again).
    let again = m
        .done(
            Who::One,
            Function::Es4SmsrChange,
            "change-1",
            json!({"Eid": m.eid, "Target-Smsr-id": "smsr2"}),
        )
        .await;
    if again != first {
        return Err(format!(
            "the same SMSRChange again answered {again}, first {first}"
        ));
    }
    match (manager, executed) {
        (Who::Two, true) | (Who::One, false) => {}
        _ => {
            return Err(format!(
                "{} manages the card but the operator was answered {first}",
                manager.id()
            ));
        }
    }
    // What the first SMSRChange must end with: only a card that never answered SM-SR1's
    // relays, or a receipt that does not verify, keeps the eUICC at SM-SR1 (before the commit
    // point); every other interruption is recovered and the change completes.
    let kept = kind == Kind::BadReceipt
        || (matches!(at, At::Card(Who::One, ..))
            && matches!(kind, Kind::LoseAnswer | Kind::LoseRequest));
    // (On a database, a cell expected to keep the eUICC may still complete: a transient store
    // error leaves SM-SR2's operation to be resumed, and it runs the key establishment again.
    // The memory store has no such errors.)
    // A command the card saw twice may or may not be accepted the second time (a repeated
    // 3A02 finds no challenge): either way is right as long as one SM-SR manages the card.
    let either = kind == Kind::KillResend && matches!(at, At::Card(Who::One, ..));
    if !either && ((!kept && manager == Who::One) || (strict && kept && manager == Who::Two)) {
        return Err(format!(
            "expected the first SMSRChange to {}, it answered {}\n{}",
            if kept {
                "fail and keep the eUICC at SM-SR1"
            } else {
                "complete"
            },
            codes_or_status(&first),
            m.trail().await
        ));
    }
    let mut summary = if executed {
        format!("changed ({})", codes_or_status(&first))
    } else {
        format!("kept by SM-SR1 ({})", codes_or_status(&first))
    };
    if manager == Who::One {
        // The operator sends SMSRChange again (a new call): it must complete.
        let r = m
            .done(
                Who::One,
                Function::Es4SmsrChange,
                "change-2",
                json!({"Eid": m.eid, "Target-Smsr-id": "smsr2"}),
            )
            .await;
        if !esim_smsr::service::is_executed(&r) {
            return Err(format!("the operator's second SMSRChange: {r}"));
        }
        m.quiesce("change-2").await?;
        summary.push_str(", changed on the retry");
    }
    let last = m
        .one_manager(true, "check-2")
        .await
        .map_err(|e| format!("at the end: {e}"))?;
    if last != Who::Two {
        return Err("SM-SR2 does not manage the card at the end".into());
    }
    m.one.kill().await;
    m.two.kill().await;
    Ok(summary)
}

fn codes_or_status(v: &Value) -> String {
    match esim_service::status_of(v) {
        Some(s) => match s.status_code_data {
            Some(d) => format!(
                "{} {}: {}",
                d.subject_code,
                d.reason_code,
                d.message.unwrap_or_default()
            ),
            None => format!("{:?}", s.status),
        },
        None => v.to_string(),
    }
}

async fn matrix(store: &'static str) {
    let cells = cells();
    // Each PostgreSQL store holds a pool of connections: fewer cells at a time there.
    let parallel = if store == "postgres" { 2 } else { 4 };
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut set = tokio::task::JoinSet::new();
    // `ESIM_MATRIX_CELL=<part of a step name>` runs only the matching cells (debugging).
    let only = std::env::var("ESIM_MATRIX_CELL").ok();
    for (i, (name, at, kind)) in cells.into_iter().enumerate() {
        if only
            .as_deref()
            .is_some_and(|o| !format!("{name} / {kind:?}").contains(o))
        {
            continue;
        }
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            let (s1, pg1) = cell_store(store).await;
            let (s2, pg2) = cell_store(store).await;
            let r = run_cell(s1, s2, at, kind, store == "memory").await;
            for c in [pg1, pg2] {
                if let Cleanup::Pg(pg, schema) = c {
                    pg.close().await;
                    let url = std::env::var("ESIM_TEST_PG_URL").unwrap();
                    let _ = esim_store::PgStore::drop_schema(&url, &schema).await;
                }
            }
            (i, name, kind, r)
        });
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        results.push(r.unwrap());
    }
    results.sort_by_key(|r| r.0);
    let mut failures = Vec::new();
    for (_, name, kind, r) in &results {
        match r {
            Ok(s) => println!("[{store}] {name} / {kind:?}: {s}"),
            Err(e) => {
                println!("[{store}] {name} / {kind:?}: FAILED {e}");
                failures.push(format!("step {name:?}, failure {kind:?}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "[{store}] {} of {} cells without exactly one manager:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}

/// What to clean up after a cell.
enum Cleanup {
    None,
    /// A PostgreSQL store in its own schema: closed, the schema dropped.
    Pg(Arc<esim_store::PgStore>, String),
    /// A SQLite file (killing an SM-SR aborts queries, which can close the one connection of
    /// an in-memory database and lose it; a file survives).
    Dir(#[allow(dead_code)] tempfile::TempDir),
}

/// A store for one cell.
async fn cell_store(name: &str) -> (Arc<dyn Store>, Cleanup) {
    match name {
        "postgres" => {
            let url = std::env::var("ESIM_TEST_PG_URL").unwrap();
            let schema = format!(
                "chg_{}",
                OperationId::random().unwrap().as_str().to_ascii_lowercase()
            );
            let pg = Arc::new(
                esim_store::PgStore::connect_in_schema(&url, &schema)
                    .await
                    .unwrap(),
            );
            (pg.clone(), Cleanup::Pg(pg, schema))
        }
        "sqlite" => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("smsr.db").display());
            (
                Arc::new(SqliteStore::connect(&url).await.unwrap()),
                Cleanup::Dir(dir),
            )
        }
        _ => (memory(), Cleanup::None),
    }
}

async fn store_named(name: &str) -> Arc<dyn Store> {
    match name {
        "sqlite" => sqlite().await,
        "postgres" => {
            let url = std::env::var("ESIM_TEST_PG_URL").unwrap();
            let schema = format!(
                "chg_{}",
                OperationId::random().unwrap().as_str().to_ascii_lowercase()
            );
            Arc::new(
                esim_store::PgStore::connect_in_schema(&url, &schema)
                    .await
                    .unwrap(),
            )
        }
        _ => memory(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interrupted_change_ends_with_one_manager_memory() {
    matrix("memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interrupted_change_ends_with_one_manager_sqlite() {
    matrix("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interrupted_change_ends_with_one_manager_postgres() {
    if std::env::var("ESIM_TEST_PG_URL").is_err() {
        println!("SKIP postgres matrix: ESIM_TEST_PG_URL not set");
        return;
    }
    matrix("postgres").await;
}

// ---------------------------------------------------------------------------------------------
// SM-SR1's queue after the change.

#[derive(Debug)]
struct NoSink;

#[async_trait]
impl NotificationSink for NoSink {
    async fn on_notification(
        &self,
        _eid: &Eid,
        _notification: Notification,
        _seq: u16,
    ) -> Result<(), DeliveryError> {
        Ok(())
    }
}

/// Commands SM-SR1 still has queued for the eUICC when it hands it over end (Failed, "the
/// eUICC moved to SM-SR smsr2") instead of being retried with keys it no longer has, and the
/// operation waiting for one gets that failure.
async fn queued_commands_end_when_the_euicc_moves(store1: Arc<dyn Store>) {
    use esim_smsr::delivery::{Delivery, DeliveryConfig, SmppSettings};
    let e = env(store1, memory(), smsr2_gp()).await;
    let mut c = DeliveryConfig::new(
        "4900",
        SmppSettings {
            server: "127.0.0.1:9".into(),
            system_id: "smsr1".into(),
            password: esim_smpp::Password::new("pw"),
        },
    );
    c.poll_interval_ms = 20;
    // Not run: nothing is sent, the command stays queued as for an unreachable card.
    let delivery = Delivery::new(c, e.one.store.clone(), sealer(0x41), Arc::new(NoSink)).unwrap();
    let job = Es5Job {
        target: JobTarget::IsdR,
        payload: JobPayload::Apdus(vec!["80CA00FF00".into()]),
        step: "audit".into(),
    };
    let waiting = {
        let (eid, op) = (e.eid.clone(), OperationId::random().unwrap());
        let deadline = Timestamp(esim_service::now().0 + 600_000);
        tokio::spawn(async move { delivery.execute(&eid, &op, job, deadline).await })
    };
    let mut queued = Vec::new();
    for _ in 0..500 {
        queued = e.one.store.pending_commands(&e.eid).await.unwrap();
        if !queued.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(queued.len(), 1, "the command was not queued");
    let id = queued[0].id;
    assert_eq!(status(&e.prepare().await), Status::ExecutedSuccess);
    let r = e.change().await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    // The waiting operation ends with the reason.
    let out = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the waiting operation never ended")
        .unwrap()
        .unwrap();
    match out {
        Es5Outcome::Unreachable { reason } => {
            assert!(reason.contains("moved to SM-SR smsr2"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let cmd = e.one.store.get_command(id).await.unwrap();
    assert_eq!(cmd.status, esim_store::CommandStatus::Failed);
    assert_eq!(
        cmd.last_error.as_deref(),
        Some("the eUICC moved to SM-SR smsr2")
    );
    assert!(
        e.one
            .store
            .pending_commands(&e.eid)
            .await
            .unwrap()
            .is_empty()
    );
    // SM-SR2 manages the card.
    assert_eq!(status(&e.audit(&e.two).await), Status::ExecutedSuccess);
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_commands_end_when_the_euicc_moves_memory() {
    queued_commands_end_when_the_euicc_moves(memory()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_commands_end_when_the_euicc_moves_sqlite() {
    queued_commands_end_when_the_euicc_moves(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_commands_end_when_the_euicc_moves_postgres() {
    if std::env::var("ESIM_TEST_PG_URL").is_err() {
        println!("SKIP postgres variant: ESIM_TEST_PG_URL not set");
        return;
    }
    queued_commands_end_when_the_euicc_moves(store_named("postgres").await).await;
}

/// SM-SR2 is down until the SMSRChange's ValidityPeriod has ended: SM-SR1 keeps the eUICC
/// locked meanwhile (it cannot know what SM-SR2 did), and once SM-SR2 is back it does not
/// start a hand-over past that ValidityPeriod: it answers Expired, SM-SR1 unlocks and keeps
/// managing the card, which was not touched.
#[tokio::test(flavor = "multi_thread")]
async fn smsr2_down_past_the_validity_period_leaves_the_euicc_at_smsr1() {
    let mut m = Matrix::new(memory(), memory()).await;
    let r = m
        .done(
            Who::Two,
            Function::Es4PrepareSmsrChange,
            "prepare-1",
            json!({"Eid": m.eid, "CurrentSMSRid": "smsr1"}),
        )
        .await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    m.two.kill().await;
    let j = json!({
        "Header": {"FunctionRequesterIdentifier": "mno1", "FunctionCallIdentifier": "change-1",
                   "ValidityPeriod": 1},
        "Body": {"Eid": m.eid, "Target-Smsr-id": "smsr2"},
    });
    let req = decode_request(Function::Es4SmsrChange, &j.to_string()).unwrap();
    let o = m
        .one
        .smsr()
        .call(&mno1(), req, Duration::from_millis(10))
        .await
        .unwrap();
    assert!(matches!(o, CallOutcome::Pending { .. }), "{o:?}");
    let op = m
        .one
        .store
        .find_operation("mno1", "change-1")
        .await
        .unwrap()
        .unwrap();
    let deadline = op.state["deadline"].as_i64().unwrap();
    while esim_service::now().0 <= deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Past its ValidityPeriod, still without an answer: still running, the eUICC still locked.
    let op = m.one.store.get_operation(&op.id).await.unwrap();
    assert!(!op.status.is_terminal(), "{:?}", op.result);
    assert_eq!(
        m.one.store.get_eis(&m.eid).await.unwrap().locked_by,
        Some(op.id.clone())
    );
    m.two.start().await;
    let first = m.quiesce("change-1").await.unwrap();
    assert_eq!(status(&first), Status::Expired, "{first}");
    assert_eq!(m.one.exec.runs("authenticate-smsr"), 0);
    assert_eq!(m.one_manager(true, "check-1").await, Ok(Who::One));
    m.one.kill().await;
    m.two.kill().await;
}

/// SM-SR1's EIS record changes while the change runs (e.g. a card notification's sequence
/// number) and SM-SR1 is killed waiting for HandoverEUICC: the restarted SM-SR1 sends the EIS
/// it sent first (SM-SR2 refuses a repeated call with another body), and the change completes.
#[tokio::test(flavor = "multi_thread")]
async fn eis_changing_during_the_change_does_not_block_the_resend() {
    let mut m = Matrix::new(memory(), memory()).await;
    let r = m
        .done(
            Who::Two,
            Function::Es4PrepareSmsrChange,
            "prepare-1",
            json!({"Eid": m.eid, "CurrentSMSRid": "smsr1"}),
        )
        .await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    let hold = Hold::new();
    *m.one.outbound.fault.lock().unwrap() = Some(LinkFault {
        function: Function::Es7HandoverEuicc,
        nth: 1,
        loss: Loss::Pause,
        hold: hold.clone(),
    });
    m.call(
        Who::One,
        Function::Es4SmsrChange,
        "change-1",
        json!({"Eid": m.eid, "Target-Smsr-id": "smsr2"}),
        Duration::from_millis(10),
    )
    .await;
    Armed::Hold(hold.clone()).reached().await;
    let mut rec = m.one.store.get_eis(&m.eid).await.unwrap();
    rec.additional_properties
        .insert("last-notification-seq".into(), "7".into());
    rec.last_audit = Some(esim_service::now());
    m.one.store.update_eis(&rec).await.unwrap();
    m.one.kill().await;
    m.one.start().await;
    hold.released.send_replace(true);
    let first = m.quiesce("change-1").await.unwrap();
    assert_eq!(status(&first), Status::ExecutedSuccess, "{first}");
    assert_eq!(m.one_manager(true, "check-1").await, Ok(Who::Two));
    m.one.kill().await;
    m.two.kill().await;
}
