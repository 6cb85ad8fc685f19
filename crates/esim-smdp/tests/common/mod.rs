//! Test fixtures: a PKI, a software eUICC behind a test-double SM-SR that implements ES3
//! directly on the card (the layer above the SM-DP), stores, and a recording Callbacks.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use esim_apdu::apdu::ResponseApdu;
use esim_apdu::etsi102226::{CommandScript, ResponseScript};
use esim_apdu::gp::delete::Delete;
use esim_apdu::gp::install::CreateIsdp;
use esim_apdu::gp::sgp02::Es5Command;
use esim_codec::{Aid, Iccid, Tar};
use esim_crypto::cert::Date;
use esim_crypto::pki::{self, EuiccParams, IssuedEuicc, PkiParams, TestPki};
use esim_crypto::primitives::SecretKey;
use esim_euicc::card::{CardConfig, Euicc, ScriptStatus};
use esim_proto::codes::{reason, subject};
use esim_proto::common::{FunctionExecutionStatus, Request, RequestHeader};
use esim_proto::eis::Eis;
use esim_proto::{AnyRequest, FunctionCallIdentifier, HexBytes, es2, es3};
use esim_service::{Callback, Callbacks, Caller, ClientError, FunctionClient};
use esim_smdp::{Smdp, SmdpConfig};
use esim_store::{AesSealer, MemoryStore, PgStore, Sealer, SqliteStore, Store, Timestamp};

pub const SMSR: &str = "smsr-1";
pub const MNO: &str = "mno-1";
pub const MNO2: &str = "mno-2";

pub fn pki_and_card() -> (TestPki, IssuedEuicc) {
    let params = PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap());
    let pki = TestPki::generate(&params).unwrap();
    let eid = pki::eid_from_prefix("8904903200", 42).unwrap();
    let p = EuiccParams::test_defaults(eid, Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
    let issued = pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap();
    (pki, issued)
}

pub fn new_card(issued: &IssuedEuicc) -> Euicc {
    Euicc::new(
        issued,
        CardConfig {
            memory_capacity: 400_000,
            default_isdp_quota: 60_000,
        },
    )
}

pub fn sealer() -> Arc<dyn Sealer> {
    Arc::new(AesSealer::new("k1", &SecretKey::new(&[7u8; 32])).unwrap())
}

/// A store under test, with what is needed to open its database again (a restarted server)
/// and to remove it afterwards (also when the test panics).
pub struct Backend {
    pub name: &'static str,
    pub store: Arc<dyn Store>,
    /// The SQLite file (to scan its bytes).
    pub file: Option<std::path::PathBuf>,
    reopen: Option<(String, Option<String>)>,
    _guard: Option<Guard>,
}

enum Guard {
    File(std::path::PathBuf),
    Schema(String, String),
}

impl Drop for Guard {
    fn drop(&mut self) {
        match self {
            Guard::File(p) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut f = p.clone().into_os_string();
                    f.push(suffix);
                    let _ = std::fs::remove_file(f);
                }
            }
            Guard::Schema(url, schema) => {
                let (url, schema) = (url.clone(), schema.clone());
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(PgStore::drop_schema(&url, &schema))
                })
                .join();
            }
        }
    }
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let r: [u8; 4] = esim_crypto::primitives::random_array().unwrap();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        esim_codec::hex::encode(&r).to_ascii_lowercase()
    )
}

impl Backend {
    /// The same database through a new connection (what a restarted replica sees).
    pub async fn reopen(&self) -> Arc<dyn Store> {
        match &self.reopen {
            Some((url, Some(schema))) => {
                Arc::new(PgStore::connect_in_schema(url, schema).await.unwrap())
            }
            Some((url, None)) => Arc::new(SqliteStore::connect(url).await.unwrap()),
            None => self.store.clone(),
        }
    }

    /// Every byte of the SQLite database files (main file and WAL).
    pub fn file_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(p) = &self.file {
            for suffix in ["", "-wal"] {
                let mut f = p.clone().into_os_string();
                f.push(suffix);
                out.extend(std::fs::read(f).unwrap_or_default());
            }
        }
        out
    }
}

/// Memory, SQLite (a temporary file) and, with `ESIM_TEST_PG_URL`, PostgreSQL in a fresh
/// schema.
pub async fn stores() -> Vec<Backend> {
    let path = std::env::temp_dir().join(format!("{}.db", unique("esim_smdp")));
    let url = format!("sqlite:{}", path.display());
    let mut v = vec![
        Backend {
            name: "memory",
            store: Arc::new(MemoryStore::new()),
            file: None,
            reopen: None,
            _guard: None,
        },
        Backend {
            name: "sqlite",
            store: Arc::new(SqliteStore::connect(&url).await.unwrap()),
            file: Some(path.clone()),
            reopen: Some((url, None)),
            _guard: Some(Guard::File(path)),
        },
    ];
    match std::env::var("ESIM_TEST_PG_URL") {
        Ok(url) => {
            let schema = unique("esim_smdp");
            let guard = Guard::Schema(url.clone(), schema.clone());
            let store = PgStore::connect_in_schema(&url, &schema).await.unwrap();
            v.push(Backend {
                name: "postgres",
                store: Arc::new(store),
                file: None,
                reopen: Some((url, Some(schema))),
                _guard: Some(guard),
            });
        }
        Err(_) => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIP esim-smdp tests on PostgreSQL: ESIM_TEST_PG_URL not set"
            );
        }
    }
    v
}

pub fn ts48(name: &str) -> Vec<u8> {
    let path = esim_vectors::saip_files()
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("{name} in the vectors"));
    std::fs::read(path).unwrap()
}

pub fn header(requester: &str, fcid: &str) -> RequestHeader {
    RequestHeader {
        function_requester_identifier: requester.into(),
        function_call_identifier: FunctionCallIdentifier::new(fcid).unwrap(),
        validity_period: None,
        message_id: None,
        relates_to: None,
    }
}

pub fn mno(id: &str) -> Caller {
    Caller {
        id: id.into(),
        roles: vec![esim_service::role::MNO.into()],
    }
}

/// Callbacks that record what they deliver.
#[derive(Debug, Default)]
pub struct Recorder(pub Mutex<Vec<(String, Callback)>>);

#[async_trait]
impl Callbacks for Recorder {
    async fn deliver(&self, party: &str, message: Callback) -> Result<(), ClientError> {
        self.0.lock().unwrap().push((party.to_owned(), message));
        Ok(())
    }
}

impl Recorder {
    /// Waits (generous limit, only against hangs) until `party` has `n` results and `m`
    /// notifications: callbacks are delivered after the result is stored, so a caller may see
    /// the result first.
    pub async fn settle(&self, party: &str, n: usize, m: usize) {
        for _ in 0..6000 {
            if self.results(party).len() >= n && self.notifications(party).len() >= m {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("callbacks to {party} did not arrive");
    }

    pub fn notifications(&self, party: &str) -> Vec<&'static str> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == party)
            .filter_map(|(_, c)| match c {
                Callback::Notification(n) => Some(n.function().name()),
                _ => None,
            })
            .collect()
    }
    pub fn results(&self, party: &str) -> Vec<serde_json::Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == party)
            .filter_map(|(_, c)| match c {
                Callback::Result { response, .. } => Some(response.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A test-double SM-SR: ES3 executed directly on a software eUICC (what the real SM-SR does
/// over ES5 with SCP81).
#[derive(Debug)]
pub struct FakeSmsr {
    pub card: Mutex<Euicc>,
    eis: Eis,
    profiles: Mutex<HashMap<Iccid, Aid>>,
    /// Profiles listed in the EIS (what GetEIS returns).
    pub listed: Mutex<Vec<esim_proto::eis::ProfileInfo>>,
    next_tar: AtomicU32,
    /// Function names (and SendData targets) in call order.
    pub calls: Mutex<Vec<String>>,
    answered: Mutex<HashMap<String, serde_json::Value>>,
    /// Block forever on this SendData (1-based), simulating an SM-DP crash mid-download.
    pub block_send: Option<u32>,
    /// Corrupt the answer of this SendData (1-based): one byte of `EuiccResponseData` flipped.
    pub corrupt_send: Option<u32>,
    /// Hold this SendData (1-based) until [`FakeSmsr::release`] is notified (a slow SM-SR).
    pub hold_send: Option<u32>,
    /// Lets a held SendData go on.
    pub release: tokio::sync::Notify,
    /// Block forever on ProfileDownloadCompleted (first time only).
    pub block_completed: bool,
    sends: AtomicU32,
    completed_seen: AtomicU32,
    /// Notified when a call blocks.
    pub blocked: tokio::sync::Notify,
    /// The bodies of the ES3.UpdateSubscriptionAddress calls received.
    pub addresses: Mutex<Vec<esim_proto::es3::UpdateSubscriptionAddressRequest>>,
    /// The next this many calls are executed but their answers lost (a transport error, as
    /// when the connection breaks or the SM-SR restarts after executing).
    pub lose_answers: AtomicU32,
    /// While set, ES3.DeleteISDP fails in transport without reaching the card (the SM-SR is
    /// down).
    pub delete_down: std::sync::atomic::AtomicBool,
}

impl FakeSmsr {
    pub fn new(issued: &IssuedEuicc, card: Euicc) -> Self {
        FakeSmsr {
            card: Mutex::new(card),
            eis: Eis::from_document(&issued.eis, SMSR).unwrap(),
            profiles: Mutex::new(HashMap::new()),
            listed: Mutex::new(Vec::new()),
            next_tar: AtomicU32::new(0x20),
            calls: Mutex::new(Vec::new()),
            answered: Mutex::new(HashMap::new()),
            lose_answers: AtomicU32::new(0),
            delete_down: std::sync::atomic::AtomicBool::new(false),
            block_send: None,
            hold_send: None,
            corrupt_send: None,
            release: tokio::sync::Notify::new(),
            block_completed: false,
            sends: AtomicU32::new(0),
            completed_seen: AtomicU32::new(0),
            blocked: tokio::sync::Notify::new(),
            addresses: Mutex::new(Vec::new()),
        }
    }

    pub fn count(&self, name: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.as_str() == name)
            .count()
    }

    pub fn isd_r(&self, cmds: Vec<esim_apdu::apdu::CommandApdu>) -> Vec<ResponseApdu> {
        let script = CommandScript::of_apdus(cmds).encode().unwrap();
        let out = self.card.lock().unwrap().admin_script(None, &script);
        ResponseScript::decode(&out.response)
            .unwrap()
            .responses()
            .cloned()
            .collect()
    }

    pub fn aid_of(&self, iccid: &Iccid) -> Option<Aid> {
        self.profiles.lock().unwrap().get(iccid).cloned()
    }

    async fn execute(&self, request: &AnyRequest) -> serde_json::Value {
        let ok = |body: Option<serde_json::Value>| {
            esim_service::response(
                Timestamp(0),
                Timestamp(1),
                FunctionExecutionStatus::success(),
                body,
            )
        };
        let failed = |m: &str| {
            esim_service::response::<()>(
                Timestamp(0),
                Timestamp(1),
                FunctionExecutionStatus::failed(
                    subject::EUICC_EXECUTION,
                    reason::EXECUTION_ERROR,
                    m,
                ),
                None,
            )
        };
        let sw_ok = |rs: &[ResponseApdu]| rs.last().is_some_and(|r| r.is_success());
        match request {
            AnyRequest::Es3GetEis(_) => {
                let mut eis = self.eis.redacted();
                eis.profiles = self.listed.lock().unwrap().clone();
                ok(Some(
                    serde_json::to_value(es2::GetEisResponse { eis }).unwrap(),
                ))
            }
            AnyRequest::Es3CreateIsdp(r) => {
                let n = self.next_tar.fetch_add(1, Ordering::SeqCst) as u8;
                let aid = Aid::isd_p(Tar([0x00, 0x00, n]));
                let cmd = CreateIsdp::new(aid.clone(), Some(r.body.required_memory))
                    .to_command()
                    .unwrap();
                let script = CommandScript::of_apdus([cmd]).encode().unwrap();
                let out = self.card.lock().unwrap().admin_script(None, &script);
                let rs: Vec<ResponseApdu> = ResponseScript::decode(&out.response)
                    .unwrap()
                    .responses()
                    .cloned()
                    .collect();
                if !sw_ok(&rs) {
                    return failed("CreateISDP refused by the card");
                }
                self.profiles
                    .lock()
                    .unwrap()
                    .insert(r.body.iccid.clone(), aid.clone());
                ok(Some(
                    serde_json::to_value(es3::CreateIsdpResponse {
                        isd_p_aid: aid,
                        euicc_response_data: Some(HexBytes(out.response)),
                    })
                    .unwrap(),
                ))
            }
            AnyRequest::Es3SendData(r) => {
                let n = self.sends.fetch_add(1, Ordering::SeqCst) + 1;
                if self.block_send == Some(n) {
                    self.blocked.notify_one();
                    std::future::pending::<()>().await;
                }
                if self.hold_send == Some(n) {
                    self.blocked.notify_one();
                    self.release.notified().await;
                }
                let target = (r.body.sd_aid != Aid::isd_r()).then_some(&r.body.sd_aid);
                let out = self
                    .card
                    .lock()
                    .unwrap()
                    .admin_script(target, r.body.data.as_bytes());
                if out.status != ScriptStatus::Ok {
                    return failed(out.status.header_value());
                }
                let mut out = out;
                if self.corrupt_send == Some(n) {
                    let i = out.response.len() / 2;
                    if let Some(b) = out.response.get_mut(i) {
                        *b ^= 0x5A;
                    }
                }
                ok(Some(
                    serde_json::to_value(es3::SendDataResponse {
                        euicc_response_data: HexBytes(out.response),
                    })
                    .unwrap(),
                ))
            }
            AnyRequest::Es3ProfileDownloadCompleted(_) => {
                if self.block_completed && self.completed_seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    self.blocked.notify_one();
                    std::future::pending::<()>().await;
                }
                ok(None)
            }
            AnyRequest::Es3EnableProfile(r) | AnyRequest::Es3DisableProfile(r) => {
                let Some(aid) = self.aid_of(&r.body.iccid) else {
                    return failed("unknown ICCID");
                };
                let cmd = if matches!(request, AnyRequest::Es3EnableProfile(_)) {
                    Es5Command::EnableProfile { isdp_aid: aid }
                } else {
                    Es5Command::DisableProfile { isdp_aid: aid }
                };
                let rs = self.isd_r(cmd.to_commands(255).unwrap());
                if sw_ok(&rs) {
                    ok(None)
                } else {
                    failed("refused by the card")
                }
            }
            AnyRequest::Es3DeleteIsdp(r) => {
                let Some(aid) = self.aid_of(&r.body.iccid) else {
                    return failed("unknown ICCID");
                };
                let rs = self.isd_r(vec![Delete::new(aid, true).to_command()]);
                if sw_ok(&rs) {
                    self.profiles.lock().unwrap().remove(&r.body.iccid);
                    ok(None)
                } else {
                    failed("DELETE refused by the card")
                }
            }
            AnyRequest::Es3UpdatePolicyRules(_) => ok(None),
            AnyRequest::Es3UpdateSubscriptionAddress(r) => {
                self.addresses.lock().unwrap().push(r.body.clone());
                ok(None)
            }
            other => failed(&format!("{} not in the fake", other.function().name())),
        }
    }
}

#[async_trait]
impl FunctionClient for FakeSmsr {
    async fn call(
        &self,
        request: &AnyRequest,
        _limit: Duration,
    ) -> Result<serde_json::Value, ClientError> {
        let json: serde_json::Value = serde_json::from_str(&request.to_json().unwrap()).unwrap();
        let h: RequestHeader = serde_json::from_value(json["Header"].clone()).unwrap();
        let key = format!(
            "{}/{}",
            h.function_requester_identifier,
            h.function_call_identifier.as_str()
        );
        if matches!(request, AnyRequest::Es3DeleteIsdp(_))
            && self.delete_down.load(Ordering::SeqCst)
        {
            return Err(ClientError::Transport("connection refused (test)".into()));
        }
        if let Some(v) = self.answered.lock().unwrap().get(&key) {
            return Ok(v.clone());
        }
        let mut name = request.function().name().to_owned();
        if let AnyRequest::Es3SendData(r) = request {
            name = if r.body.sd_aid == Aid::isd_r() {
                "SendData:ISD-R".into()
            } else {
                "SendData:ISD-P".into()
            };
        }
        self.calls.lock().unwrap().push(name);
        let v = self.execute(request).await;
        self.answered.lock().unwrap().insert(key, v.clone());
        let lost = self
            .lose_answers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if lost {
            return Err(ClientError::Transport("connection reset (test)".into()));
        }
        Ok(v)
    }
}

/// An SM-DP with the test PKI's DP identity over `store`, one SM-SR.
pub fn smdp(
    pki: &TestPki,
    store: Arc<dyn Store>,
    smsr: Arc<FakeSmsr>,
    callbacks: Arc<Recorder>,
    holder: &str,
    tune: impl FnOnce(&mut SmdpConfig),
) -> Smdp {
    let mut config = SmdpConfig::new(
        "smdp-1",
        pki.smdp.key.clone(),
        pki.smdp.cert.clone(),
        pki.ci.cert.clone(),
        vec![pki.eum.cert.clone()],
    );
    config.holder = holder.into();
    config.es3_timeout = Duration::from_secs(30);
    tune(&mut config);
    let mut smsrs: HashMap<String, Arc<dyn FunctionClient>> = HashMap::new();
    smsrs.insert(SMSR.into(), smsr);
    Smdp::new(config, store, sealer(), smsrs, callbacks)
}

pub fn download_request(
    requester: &str,
    fcid: &str,
    eid: &esim_codec::Eid,
    profile: es2::ProfileSelector,
    enable: bool,
) -> AnyRequest {
    AnyRequest::Es2DownloadProfile(Request {
        header: header(requester, fcid),
        body: es2::DownloadProfileRequest {
            eid: eid.clone(),
            smsr_id: SMSR.into(),
            profile,
            enable_profile: enable,
        },
    })
}

pub fn status(v: &serde_json::Value) -> FunctionExecutionStatus {
    esim_service::status_of(v).unwrap_or_else(|| panic!("no status in {v}"))
}
