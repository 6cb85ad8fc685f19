//! ES3 between the real SM-DP service (`esim_smdp::Smdp`) and the SM-SR: ES2.DownloadProfile
//! of a TS.48 Profile makes the SM-DP call the SM-SR's GetEIS, CreateISDP, SendData (ISD-R and
//! ISD-P), ProfileDownloadCompleted and EnableProfile through an in-process
//! `esim_service::LocalClient`; the SM-SR executes them on a software eUICC through a test
//! double of the ES5 executor. Master Delete runs both ways: the SM-SR asks the SM-DP for the
//! Delete Token over `ES3.GetDeleteToken` (`esim_smsr::Es3DeleteTokens`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use esim_apdu::apdu::{CommandApdu, ResponseApdu};
use esim_apdu::etsi102226::{CommandScript, ResponseScript};
use esim_codec::{Aid, Eid, Iccid};
use esim_crypto::cert::Date;
use esim_crypto::pki::{self, EuiccParams, PkiParams, TestPki};
use esim_crypto::primitives::SecretKey;
use esim_euicc::card::{CardConfig, Euicc, ScriptStatus};
use esim_euicc::registry::LifeCycle;
use esim_proto::common::{FunctionCallIdentifier, Request, RequestHeader, Status};
use esim_proto::es2::{self, ProfileSelector};
use esim_proto::function::AnyRequest;
use esim_service::{
    CallOutcome, Callback, Callbacks, Caller, ClientError, FunctionClient, FunctionService,
    LocalClient, role,
};
use esim_smdp::{ImportRequest, Smdp, SmdpConfig};
use esim_smsr::delivery::{DeliveryError, Es5Executor, Es5Job, Es5Outcome, JobPayload, JobTarget};
use esim_smsr::{Smsr, SmsrConfig};
use esim_store::{AesSealer, MemoryStore, OperationId, ProfileState, Store, Timestamp};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

/// Feeds ES5 jobs to one software eUICC (as the real transports carry them).
#[derive(Debug)]
struct CardExecutor(Mutex<Euicc>);

#[async_trait]
impl Es5Executor for CardExecutor {
    async fn execute(
        &self,
        _eid: &Eid,
        _operation: &OperationId,
        job: Es5Job,
        _deadline: Timestamp,
    ) -> Result<Es5Outcome, DeliveryError> {
        let mut card = self.0.lock().unwrap();
        Ok(match (&job.target, &job.payload) {
            (JobTarget::IsdR, JobPayload::Apdus(hexes)) => {
                let cmds: Vec<CommandApdu> = hexes
                    .iter()
                    .map(|h| CommandApdu::decode(&hex::decode(h).unwrap()).unwrap())
                    .collect();
                let out = card.admin_script(None, &CommandScript::of_apdus(cmds).encode().unwrap());
                let responses: Vec<ResponseApdu> = ResponseScript::decode(&out.response)
                    .unwrap()
                    .responses()
                    .cloned()
                    .collect();
                match responses.last() {
                    Some(r) if !r.sw.is_success() => Es5Outcome::CardError {
                        sw: r.sw.to_u16(),
                        responses,
                    },
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
                    Es5Outcome::Unreachable {
                        reason: out.status.header_value().into(),
                    }
                } else {
                    Es5Outcome::Completed {
                        responses: Vec::new(),
                        data: out.response,
                    }
                }
            }
            _ => Es5Outcome::Unreachable {
                reason: "unsupported job".into(),
            },
        })
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

fn ts48() -> Vec<u8> {
    std::fs::read(
        esim_vectors::saip_files()
            .into_iter()
            .find(|p| p.ends_with("TS48V1-A-UNIQUE.der"))
            .expect("TS.48 package"),
    )
    .unwrap()
}

fn header(requester: &str, fcid: &str) -> RequestHeader {
    RequestHeader {
        function_requester_identifier: requester.into(),
        function_call_identifier: FunctionCallIdentifier::new(fcid).unwrap(),
        validity_period: None,
        message_id: None,
        relates_to: None,
    }
}

fn status(v: &serde_json::Value) -> Status {
    esim_service::status_of(v).expect("status").status
}

#[tokio::test(flavor = "multi_thread")]
async fn es2_download_by_the_smdp_service_through_the_smsr() {
    let pki = TestPki::generate(&PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap())).unwrap();
    let eid = pki::eid_from_prefix("8904903277", 9).unwrap();
    let p = EuiccParams::test_defaults(eid.clone(), Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
    let issued = pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap();
    let exec = Arc::new(CardExecutor(Mutex::new(Euicc::new(
        &issued,
        CardConfig {
            memory_capacity: 400_000,
            default_isdp_quota: 60_000,
        },
    ))));

    // The SM-SR with the eUICC registered by its EUM.
    let smsr_store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let sealer = Arc::new(AesSealer::new("k", &SecretKey::new(&[5; 32])).unwrap());
    let smsr_cb = Arc::new(Recorder::default());
    let smsr = Arc::new(
        Smsr::new(
            SmsrConfig::new("smsr1", pki.ci.cert.clone(), vec![pki.eum.cert.clone()]),
            smsr_store.clone(),
            sealer.clone(),
            exec.clone(),
            smsr_cb.clone(),
        )
        .unwrap(),
    );
    let eum = Caller {
        id: pki.eum.id.clone(),
        roles: vec![role::EUM.into()],
    };
    let reg = AnyRequest::Es1RegisterEis(Request {
        header: header(&eum.id, "reg-1"),
        body: esim_proto::es1::RegisterEisRequest::new(issued.eis.clone()),
    });
    let CallOutcome::Done(v) = smsr.call(&eum, reg, WAIT).await.unwrap() else {
        panic!("RegisterEIS pending")
    };
    assert_eq!(status(&v), Status::ExecutedSuccess, "{v}");

    // The SM-DP, reaching the SM-SR in process as caller "smdp-1" with role SM-DP.
    let smdp_caller = Caller {
        id: "smdp-1".into(),
        roles: vec![role::SM_DP.into()],
    };
    let client: Arc<dyn FunctionClient> = Arc::new(LocalClient::new(smsr.clone(), smdp_caller));
    let mut smsrs = HashMap::new();
    smsrs.insert("smsr1".to_string(), client);
    let mut config = SmdpConfig::new(
        "smdp-1",
        pki.smdp.key.clone(),
        pki.smdp.cert.clone(),
        pki.ci.cert.clone(),
        vec![pki.eum.cert.clone()],
    );
    config.es3_timeout = Duration::from_secs(60);
    let smdp_cb = Arc::new(Recorder::default());
    let smdp = Smdp::new(
        config,
        Arc::new(MemoryStore::new()),
        sealer.clone(),
        smsrs,
        smdp_cb.clone(),
    );
    let recs = smdp
        .inventory()
        .import(
            &ImportRequest {
                owner: "mno-1".into(),
                profile_type: Some("ts48".into()),
                packages: vec![ts48()],
            },
            Timestamp(1),
        )
        .await
        .unwrap();
    let iccid: Iccid = recs[0].iccid.clone();

    // ES2.DownloadProfile with enable.
    let mno = Caller {
        id: "mno-1".into(),
        roles: vec![role::MNO.into()],
    };
    let req = AnyRequest::Es2DownloadProfile(Request {
        header: header("mno-1", "dl-1"),
        body: es2::DownloadProfileRequest {
            eid: eid.clone(),
            smsr_id: "smsr1".into(),
            profile: ProfileSelector::Iccid(iccid.clone()),
            enable_profile: true,
        },
    });
    let v = match smdp.call(&mno, req, WAIT).await.unwrap() {
        CallOutcome::Done(v) => v,
        other => panic!("not done: {other:?}"),
    };
    assert_eq!(status(&v), Status::ExecutedSuccess, "{v}");

    // On the card: installed in the ISD-P the SM-SR chose, and enabled.
    {
        let card = exec.0.lock().unwrap();
        let enabled = card.registry().enabled().expect("an enabled profile");
        assert_eq!(enabled.iccid.as_ref(), Some(&iccid));
        assert_eq!(enabled.state, LifeCycle::Enabled);
        assert_eq!(enabled.aid, Aid::isd_p(esim_codec::Tar([0, 0, 0x11])));
    }
    // In the SM-SR's EIS: the Profile of mno-1 installed by smdp-1, enabled.
    let p = smsr_store.get_profile(&eid, &iccid).await.unwrap();
    assert_eq!(p.state, ProfileState::Enabled);
    assert_eq!((p.mno_id.as_str(), p.smdp_id.as_str()), ("mno-1", "smdp-1"));
    assert_eq!(p.profile_type, "ts48");
    // Every ES3 call is in the SM-SR's audit trail under the SM-DP.
    let trail = smsr_store
        .query_audit(&esim_store::AuditQuery {
            operator: Some("smdp-1".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let functions: Vec<&str> = trail.iter().map(|a| a.function.as_str()).collect();
    for f in [
        "ES3.GetEIS",
        "ES3.CreateISDP",
        "ES3.SendData",
        "ES3.ProfileDownloadCompleted",
        "ES3.EnableProfile",
    ] {
        assert!(functions.contains(&f), "{f} in {functions:?}");
    }
    assert!(
        trail.iter().all(|a| a.status == "Executed-Success"),
        "{trail:?}"
    );
    // The MNO now sees the eUICC on the SM-SR (ES4) with its Profile.
    let get = AnyRequest::Es4GetEis(Request {
        header: header("mno-1", "g-1"),
        body: esim_proto::es3::EidRequest { eid: eid.clone() },
    });
    let CallOutcome::Done(v) = smsr.call(&mno, get, WAIT).await.unwrap() else {
        panic!("GetEIS pending")
    };
    assert_eq!(v["Body"]["Eis"]["ProfileInfo"][0]["Iccid"], json!(iccid));
    assert_eq!(v["Body"]["Eis"]["ProfileInfo"][0]["State"], "Enabled");
}

/// An SM-SR and the real SM-DP wired both ways in process: the SM-DP reaches the SM-SR's ES3
/// as `smdp-1`, the SM-SR asks the SM-DP for Delete Tokens as `smsr1` ([`esim_smsr::Es3DeleteTokens`]).
struct World {
    smsr: Arc<Smsr>,
    smdp: Arc<Smdp>,
    exec: Arc<CardExecutor>,
    smsr_store: Arc<dyn Store>,
    smdp_store: Arc<dyn Store>,
    smsr_cb: Arc<Recorder>,
    eid: Eid,
}

async fn world() -> World {
    let pki = TestPki::generate(&PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap())).unwrap();
    let eid = pki::eid_from_prefix("8904903277", 17).unwrap();
    let p = EuiccParams::test_defaults(eid.clone(), Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
    let issued = pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap();
    let exec = Arc::new(CardExecutor(Mutex::new(Euicc::new(
        &issued,
        CardConfig {
            memory_capacity: 400_000,
            default_isdp_quota: 60_000,
        },
    ))));
    let smsr_store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let sealer = Arc::new(AesSealer::new("k", &SecretKey::new(&[5; 32])).unwrap());
    let smsr_cb = Arc::new(Recorder::default());
    let smsr = Arc::new(
        Smsr::new(
            SmsrConfig::new("smsr1", pki.ci.cert.clone(), vec![pki.eum.cert.clone()]),
            smsr_store.clone(),
            sealer.clone(),
            exec.clone(),
            smsr_cb.clone(),
        )
        .unwrap(),
    );
    let eum = Caller {
        id: pki.eum.id.clone(),
        roles: vec![role::EUM.into()],
    };
    let reg = AnyRequest::Es1RegisterEis(Request {
        header: header(&eum.id, "reg-1"),
        body: esim_proto::es1::RegisterEisRequest::new(issued.eis.clone()),
    });
    let CallOutcome::Done(v) = smsr.call(&eum, reg, WAIT).await.unwrap() else {
        panic!("RegisterEIS pending")
    };
    assert_eq!(status(&v), Status::ExecutedSuccess, "{v}");
    let to_smsr: Arc<dyn FunctionClient> = Arc::new(LocalClient::new(
        smsr.clone(),
        Caller {
            id: "smdp-1".into(),
            roles: vec![role::SM_DP.into()],
        },
    ));
    let mut config = SmdpConfig::new(
        "smdp-1",
        pki.smdp.key.clone(),
        pki.smdp.cert.clone(),
        pki.ci.cert.clone(),
        vec![pki.eum.cert.clone()],
    );
    config.es3_timeout = Duration::from_secs(60);
    let smdp_store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let smdp = Arc::new(Smdp::new(
        config,
        smdp_store.clone(),
        sealer,
        HashMap::from([("smsr1".to_string(), to_smsr)]),
        Arc::new(Recorder::default()),
    ));
    let to_smdp: Arc<dyn FunctionClient> = Arc::new(LocalClient::new(
        smdp.clone(),
        Caller {
            id: "smsr1".into(),
            roles: vec![role::SM_SR.into()],
        },
    ));
    smsr.set_delete_token_source(Arc::new(esim_smsr::Es3DeleteTokens::new(
        "smsr1",
        HashMap::from([("smdp-1".to_string(), to_smdp)]),
        Duration::from_secs(30),
    )));
    World {
        smsr,
        smdp,
        exec,
        smsr_store,
        smdp_store,
        smsr_cb,
        eid,
    }
}

impl World {
    async fn import(&self, file: &str) -> Iccid {
        let pkg = std::fs::read(
            esim_vectors::saip_files()
                .into_iter()
                .find(|p| p.ends_with(file))
                .expect("package"),
        )
        .unwrap();
        self.smdp
            .inventory()
            .import(
                &ImportRequest {
                    owner: "mno-1".into(),
                    profile_type: Some("ts48".into()),
                    packages: vec![pkg],
                },
                Timestamp(1),
            )
            .await
            .unwrap()[0]
            .iccid
            .clone()
    }

    async fn download(&self, fcid: &str, iccid: &Iccid, enable: bool) {
        let req = AnyRequest::Es2DownloadProfile(Request {
            header: header("mno-1", fcid),
            body: es2::DownloadProfileRequest {
                eid: self.eid.clone(),
                smsr_id: "smsr1".into(),
                profile: ProfileSelector::Iccid(iccid.clone()),
                enable_profile: enable,
            },
        });
        let CallOutcome::Done(v) = self.smdp.call(&mno(), req, WAIT).await.unwrap() else {
            panic!("download pending")
        };
        assert_eq!(status(&v), Status::ExecutedSuccess, "{v}");
    }

    /// An ES4 function of the MNO at the SM-SR.
    async fn es4(&self, f: esim_proto::Function, fcid: &str, iccid: &Iccid) -> serde_json::Value {
        let body = esim_proto::es3::EidIccidRequest {
            eid: self.eid.clone(),
            iccid: iccid.clone(),
        };
        let header = header("mno-1", fcid);
        let req = match f {
            esim_proto::Function::Es4MasterDelete => AnyRequest::Es4MasterDelete(Request {
                header,
                body: esim_proto::es4::MasterDeleteRequest {
                    eid: body.eid,
                    iccid: body.iccid,
                },
            }),
            esim_proto::Function::Es4SetFallbackAttribute => {
                AnyRequest::Es4SetFallbackAttribute(Request {
                    header,
                    body: esim_proto::es4::SetFallbackAttributeRequest {
                        eid: body.eid,
                        iccid: body.iccid,
                    },
                })
            }
            other => panic!("{other:?}"),
        };
        match self.smsr.call(&mno(), req, WAIT).await.unwrap() {
            CallOutcome::Done(v) => v,
            other => panic!("not done: {other:?}"),
        }
    }

    fn on_card(&self, iccid: &Iccid) -> bool {
        let card = self.exec.0.lock().unwrap();
        card.registry()
            .isdps()
            .iter()
            .any(|p| p.iccid.as_ref() == Some(iccid))
    }
}

fn mno() -> Caller {
    Caller {
        id: "mno-1".into(),
        roles: vec![role::MNO.into()],
    }
}

fn codes(v: &serde_json::Value) -> (String, String) {
    let d = esim_service::status_of(v)
        .expect("status")
        .status_code_data
        .expect("status code data");
    (d.subject_code, d.reason_code)
}

/// ES4.MasterDelete end to end: the SM-SR gets the Delete Token from the SM-DP that installed
/// the Profile (ES3.GetDeleteToken, the SM-DP's sealed ISD-P key) and the card deletes the
/// Profile; the enabled and the Fall-back Profile are refused before any token is asked.
#[tokio::test(flavor = "multi_thread")]
async fn master_delete_with_the_smdps_token() {
    let w = world().await;
    let a = w.import("TS48V1-A-UNIQUE.der").await;
    let b = w.import("TS48V2-SAIP2-1-BERTLV-UNIQUE.der").await;
    w.download("dl-a", &a, true).await;
    w.download("dl-b", &b, false).await;
    assert!(w.smdp_store.token_key(&a).await.unwrap().is_some());
    assert!(w.smdp_store.token_key(&b).await.unwrap().is_some());
    // The enabled Profile: refused.
    let v = w
        .es4(esim_proto::Function::Es4MasterDelete, "md-0", &a)
        .await;
    assert_eq!(status(&v), Status::Failed, "{v}");
    assert_eq!(codes(&v), ("8.2.1".to_string(), "3.5".to_string()));
    // B becomes the Fall-back Profile: refused too, B stays.
    let v = w
        .es4(esim_proto::Function::Es4SetFallbackAttribute, "fb-1", &b)
        .await;
    assert_eq!(status(&v), Status::ExecutedSuccess, "{v}");
    let v = w
        .es4(esim_proto::Function::Es4MasterDelete, "md-1", &b)
        .await;
    assert_eq!(status(&v), Status::Failed, "{v}");
    assert_eq!(codes(&v), ("8.2.1".to_string(), "3.5".to_string()));
    assert!(w.on_card(&b));
    // The Fall-back Attribute moves to A: B can be master-deleted.
    let v = w
        .es4(esim_proto::Function::Es4SetFallbackAttribute, "fb-2", &a)
        .await;
    assert_eq!(status(&v), Status::ExecutedSuccess, "{v}");
    let v = w
        .es4(esim_proto::Function::Es4MasterDelete, "md-2", &b)
        .await;
    assert_eq!(status(&v), Status::ExecutedSuccess, "{v}");
    assert!(!w.on_card(&b), "B is gone from the card");
    assert!(w.on_card(&a));
    assert!(
        w.smsr_store.get_profile(&w.eid, &b).await.is_err(),
        "B is gone from the EIS"
    );
    // The SM-DP answered the token request (audited there as a call of the SM-SR).
    let trail = w
        .smdp_store
        .query_audit(&esim_store::AuditQuery {
            operator: Some("smsr1".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.function == "ES3.GetDeleteToken" && e.status == "Executed-Success"),
        "{trail:?}"
    );
    // The SM-SR tells the SM-DP (ES3 deleted notification); delivered, the SM-DP releases the
    // Profile and forgets its key.
    let notes: Vec<AnyRequest> = w
        .smsr_cb
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(to, c)| match c {
            Callback::Notification(n @ AnyRequest::Es3HandleProfileDeletedNotification(_))
                if to == "smdp-1" =>
            {
                Some(n.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 1);
    let sr = Caller {
        id: "smsr1".into(),
        roles: vec![role::SM_SR.into()],
    };
    let CallOutcome::Done(v) = w.smdp.call(&sr, notes[0].clone(), WAIT).await.unwrap() else {
        panic!("notification pending")
    };
    assert_eq!(status(&v), Status::ExecutedSuccess, "{v}");
    assert_eq!(w.smdp_store.token_key(&b).await.unwrap(), None);
    // A repeated MasterDelete of B: the Profile is unknown now.
    let v = w
        .es4(esim_proto::Function::Es4MasterDelete, "md-3", &b)
        .await;
    assert_eq!(status(&v), Status::Failed, "{v}");
}

/// The SM-DP refuses the token (here: it no longer counts the Profile as installed): the SM-SR
/// answers `8.8`/`3.8` and sends nothing to the card.
#[tokio::test(flavor = "multi_thread")]
async fn master_delete_refused_by_the_smdp_leaves_the_card_alone() {
    let w = world().await;
    let a = w.import("TS48V1-A-UNIQUE.der").await;
    let b = w.import("TS48V2-SAIP2-1-BERTLV-UNIQUE.der").await;
    w.download("dl-a", &a, true).await;
    w.download("dl-b", &b, false).await;
    w.smdp_store.release(&b, Timestamp(9)).await.unwrap();
    let v = w
        .es4(esim_proto::Function::Es4MasterDelete, "md-1", &b)
        .await;
    assert_eq!(status(&v), Status::Failed, "{v}");
    assert_eq!(codes(&v), ("8.8".to_string(), "3.8".to_string()), "{v}");
    let msg = esim_service::status_of(&v)
        .unwrap()
        .status_code_data
        .unwrap()
        .message
        .unwrap_or_default();
    assert!(msg.contains("GetDeleteToken"), "{msg}");
    assert!(w.on_card(&b), "nothing was sent to the card");
    assert!(w.smsr_store.get_profile(&w.eid, &b).await.is_ok());
}
