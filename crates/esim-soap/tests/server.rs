//! Loopback tests of the SOAP binding: a small test FunctionService (the layer above the
//! binding) behind the real server on 127.0.0.1, the MemoryStore for operators and the audit
//! trail; replies to wsa:ReplyTo received by a real HTTP listener; WSDL consumed by python zeep.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use esim_proto::common::FunctionExecutionStatus;
use esim_proto::function::{AnyRequest, Function, decode_request};
use esim_service::{CallOutcome, Caller, FunctionService, ServiceError, response};
use esim_service::{ClientError, FunctionClient};
use esim_soap::codec::{DecodedResponse, decode_response_envelope, encode_request};
use esim_soap::envelope::{Addressing, FaultCode, WSA_NONE};
use esim_soap::{ReplyToPolicy, SoapConfig, SoapFunctionClient, SoapState, serve};
use esim_store::{
    AuditQuery, AuditStore, MemoryStore, OperationId, OperatorRecord, OperatorStore, Timestamp,
    hash_token,
};
use serde_json::{Value, json};

fn eid() -> String {
    esim_codec::ids::Eid::from_body("890490320000000000000000000012")
        .unwrap()
        .to_string()
}

fn iccid() -> String {
    esim_codec::ids::Iccid::with_luhn("894400000000000001")
        .unwrap()
        .to_string()
}

/// GetEIS answers at once with Failed 8.1.1/3.9 (unknown EID); DownloadProfile finishes within
/// any non-zero wait, and with a zero wait is pending until asked for its outcome.
#[derive(Debug, Default)]
struct TestService {
    calls: Mutex<Vec<(String, Value)>>,
    /// Calls with FunctionCallIdentifier "slow": the first is pending, later ones are done.
    slow: Mutex<u32>,
}

fn download_done() -> Value {
    response(
        Timestamp(0),
        Timestamp(1),
        FunctionExecutionStatus::success(),
        Some(json!({"Iccid": iccid()})),
    )
}

#[async_trait]
impl FunctionService for TestService {
    fn functions(&self) -> Vec<Function> {
        vec![Function::Es2GetEis, Function::Es2DownloadProfile]
    }

    async fn call(
        &self,
        caller: &Caller,
        request: AnyRequest,
        wait: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        let json: Value = serde_json::from_str(&request.to_json().unwrap()).unwrap();
        self.calls
            .lock()
            .unwrap()
            .push((caller.id.clone(), json.clone()));
        if json["Header"]["FunctionCallIdentifier"] == "boom" {
            return Err(ServiceError::Internal("secret detail".into()));
        }
        if json["Header"]["FunctionCallIdentifier"] == "slow" {
            let mut n = self.slow.lock().unwrap();
            *n += 1;
            if *n == 1 {
                return Ok(CallOutcome::Pending {
                    operation_id: OperationId::random().unwrap(),
                    function: request.function(),
                });
            }
        }
        match request {
            AnyRequest::Es2DownloadProfile(_) if wait.is_zero() => Ok(CallOutcome::Pending {
                operation_id: OperationId::random().unwrap(),
                function: Function::Es2DownloadProfile,
            }),
            AnyRequest::Es2DownloadProfile(_) => Ok(CallOutcome::Done(download_done())),
            _ => Ok(CallOutcome::Done(response::<Value>(
                Timestamp(0),
                Timestamp(1),
                FunctionExecutionStatus::failed("8.1.1", "3.9", "Unknown EID"),
                None,
            ))),
        }
    }

    async fn outcome(
        &self,
        _caller: &Caller,
        _operation: &OperationId,
        _wait: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        Ok(CallOutcome::Done(download_done()))
    }
}

struct Server {
    base: String,
    store: Arc<MemoryStore>,
    svc: Arc<TestService>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Server {
    start_with(SoapConfig::default()).await
}

async fn start_with(config: SoapConfig) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let store = Arc::new(MemoryStore::new());
    for (id, token, role) in [("mno1", "tok-mno", "MNO"), ("mno2", "tok-mno2", "MNO")] {
        store
            .put_operator(&OperatorRecord {
                id: id.into(),
                name: id.into(),
                roles: vec![role.into()],
                token_hashes: vec![hash_token(token)],
                created_at: Timestamp(0),
            })
            .await
            .unwrap();
    }
    let svc = Arc::new(TestService::default());
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = SoapState::new(
        config,
        vec![svc.clone() as Arc<dyn FunctionService>],
        store.clone(),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        serve(state, listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server {
        base,
        store,
        svc,
        _stop: tx,
    }
}

fn get_eis(requester: &str, call: &str) -> AnyRequest {
    let j = json!({
        "Header": {"FunctionRequesterIdentifier": requester, "FunctionCallIdentifier": call},
        "Body": {"Eid": eid(), "Smsr-id": "SMSR-A"}
    });
    decode_request(Function::Es2GetEis, &j.to_string()).unwrap()
}

fn download(call: &str) -> AnyRequest {
    let j = json!({
        "Header": {"FunctionRequesterIdentifier": "mno1", "FunctionCallIdentifier": call, "ValidityPeriod": 600},
        "Body": {"Eid": eid(), "Smsr-id": "SMSR-A", "Profile": {"Iccid": iccid()}, "EnableProfile": true}
    });
    decode_request(Function::Es2DownloadProfile, &j.to_string()).unwrap()
}

async fn post(
    url: &str,
    token: Option<&str>,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut rq = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        rq = rq.bearer_auth(t);
    }
    let r = rq.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

const CT: &str = "application/soap+xml; charset=utf-8";

fn ct_with(f: Function) -> String {
    format!("{CT}; action=\"{}\"", f.action())
}

fn response_of(xml: &str) -> (Addressing, Value) {
    match decode_response_envelope(xml.as_bytes()).unwrap() {
        DecodedResponse::Response {
            addressing, json, ..
        } => (addressing, json),
        other => panic!("not a response: {other:?}\n{xml}"),
    }
}

fn fault_of(xml: &str) -> esim_soap::envelope::Fault {
    match decode_response_envelope(xml.as_bytes()).unwrap() {
        DecodedResponse::Fault { fault, .. } => fault,
        other => panic!("not a fault: {other:?}\n{xml}"),
    }
}

#[tokio::test]
async fn synchronous_call_answers_in_the_http_response_and_is_audited() {
    let s = start().await;
    let a = Addressing {
        message_id: Some("urn:uuid:m-1".into()),
        ..Addressing::default()
    };
    let xml = encode_request(&get_eis("mno1", "c-1"), &a).unwrap();
    let (status, headers, body) = post(
        &format!("{}/soap/ES2", s.base),
        Some("tok-mno"),
        &ct_with(Function::Es2GetEis),
        xml,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/soap+xml")
    );
    let (addr, json) = response_of(&body);
    assert_eq!(addr.relates_to.as_deref(), Some("urn:uuid:m-1"));
    assert_eq!(
        addr.action.as_deref(),
        Some("http://gsma.com/ES2/ProfileManagent/ES2-GetEISResponse")
    );
    assert_eq!(
        json["Header"]["FunctionExecutionStatus"]["Status"],
        "Failed"
    );
    assert_eq!(
        json["Header"]["FunctionExecutionStatus"]["StatusCodeData"]["Subject"],
        "8.1.1"
    );
    let calls = s.svc.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "mno1");
    assert_eq!(calls[0].1["Body"]["Eid"], eid());
    let audit = s.store.query_audit(&AuditQuery::default()).await.unwrap();
    let last = audit.last().unwrap();
    assert_eq!(last.function, "ES2.GetEIS");
    assert_eq!(last.status, "Failed");
    assert_eq!(last.operator.as_deref(), Some("mno1"));
    assert_eq!(last.detail["binding"], "soap");
    assert_eq!(last.function_call_id.as_deref(), Some("c-1"));
}

#[tokio::test]
async fn action_from_wsa_header_alone_and_long_function_waited_for() {
    let s = start().await;
    // No action in the Content-Type: wsa:Action (set by encode_request) names the function.
    let xml = encode_request(&download("c-2"), &Addressing::default()).unwrap();
    let (status, _, body) = post(&format!("{}/soap/ES2", s.base), Some("tok-mno"), CT, xml).await;
    assert_eq!(status, 200, "{body}");
    let (_, json) = response_of(&body);
    assert_eq!(
        json["Header"]["FunctionExecutionStatus"]["Status"],
        "Executed-Success"
    );
    assert_eq!(json["Body"]["Iccid"], iccid());
    let calls = s.svc.calls.lock().unwrap().clone();
    assert_eq!(calls[0].1["Body"]["EnableProfile"], true);
    assert_eq!(calls[0].1["Body"]["Profile"]["Iccid"], iccid());
    assert_eq!(calls[0].1["Header"]["ValidityPeriod"], 600);
}

#[tokio::test]
async fn reply_to_gets_202_and_the_response_posted_later() {
    // A receiver for the asynchronous reply, the one address the server may reply to.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, String)>(4);
    let recv = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let reply_url = format!("http://{}/replies", recv.local_addr().unwrap());
    let s = start_with(SoapConfig {
        reply_to: ReplyToPolicy::Allowed(vec![reply_url.clone()]),
        ..SoapConfig::default()
    })
    .await;
    let app = axum::Router::new().route(
        "/replies",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: String| async move {
                let ct = headers
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                tx.send((ct, body)).await.unwrap();
                axum::http::StatusCode::ACCEPTED
            },
        ),
    );
    tokio::spawn(async move { axum::serve(recv, app).await.unwrap() });

    let a = Addressing {
        message_id: Some("urn:uuid:async-1".into()),
        reply_to: Some(reply_url),
        ..Addressing::default()
    };
    let xml = encode_request(&download("c-3"), &a).unwrap();
    let (status, _, body) = post(
        &format!("{}/soap/ES2", s.base),
        Some("tok-mno"),
        &ct_with(Function::Es2DownloadProfile),
        xml,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert!(body.is_empty());
    let (ct, reply) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("no reply posted to wsa:ReplyTo")
        .unwrap();
    assert!(ct.contains("ES2-DownloadProfileResponse"), "{ct}");
    let (addr, json) = response_of(&reply);
    assert_eq!(addr.relates_to.as_deref(), Some("urn:uuid:async-1"));
    assert_eq!(json["Body"]["Iccid"], iccid());
    let audit = s.store.query_audit(&AuditQuery::default()).await.unwrap();
    let last = audit.last().unwrap();
    assert_eq!(last.status, "Accepted");
    assert!(last.detail["operation_id"].is_string());

    // The none address: accepted, nothing sent.
    let a = Addressing {
        reply_to: Some(WSA_NONE.into()),
        ..Addressing::default()
    };
    let xml = encode_request(&download("c-4"), &a).unwrap();
    let (status, _, _) = post(&format!("{}/soap/ES2", s.base), Some("tok-mno"), CT, xml).await;
    assert_eq!(status, 202);
    // A ReplyTo that is no URL is refused.
    let a = Addressing {
        reply_to: Some("mailto:x@example.invalid".into()),
        ..Addressing::default()
    };
    let xml = encode_request(&download("c-5"), &a).unwrap();
    let (status, _, body) = post(&format!("{}/soap/ES2", s.base), Some("tok-mno"), CT, xml).await;
    assert_eq!(status, 400);
    assert_eq!(fault_of(&body).subcode, "InvalidAddressingHeader");
    // An address not configured (another port, another path) is refused before the call: the
    // server sends no request where a caller points it (SSRF).
    let before = s.svc.calls.lock().unwrap().len();
    for other in [
        format!("http://{}/elsewhere", s.base.trim_start_matches("http://")),
        "http://127.0.0.1:9/replies".to_string(),
        "http://169.254.169.254/latest/meta-data".to_string(),
    ] {
        let a = Addressing {
            reply_to: Some(other.clone()),
            ..Addressing::default()
        };
        let xml = encode_request(&download("c-6"), &a).unwrap();
        let (status, _, body) =
            post(&format!("{}/soap/ES2", s.base), Some("tok-mno"), CT, xml).await;
        assert_eq!(status, 400, "{other}: {body}");
        let f = fault_of(&body);
        assert_eq!(f.subcode, "InvalidAddressingHeader", "{other}");
    }
    assert_eq!(
        s.svc.calls.lock().unwrap().len(),
        before,
        "nothing executed"
    );
}

#[tokio::test]
async fn refusals_are_soap_faults_with_clear_reasons() {
    let s = start().await;
    let url = format!("{}/soap/ES2", s.base);
    let good = encode_request(&get_eis("mno1", "c-9"), &Addressing::default()).unwrap();
    let gsma = esim_soap::schema::GSMA_NS;
    type Case<'a> = (
        Option<&'a str>,
        String,
        String,
        u16,
        FaultCode,
        &'a str,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            None,
            url.clone(),
            good.clone(),
            401,
            FaultCode::Sender,
            "Unauthenticated",
            "Bearer",
        ),
        (
            Some("nope"),
            url.clone(),
            good.clone(),
            401,
            FaultCode::Sender,
            "Unauthenticated",
            "unknown token",
        ),
        (
            Some("tok-mno2"),
            url.clone(),
            good.clone(),
            403,
            FaultCode::Sender,
            "Forbidden",
            "FunctionRequesterIdentifier",
        ),
        (
            Some("tok-mno"),
            url.clone(),
            "<env:Envelope".into(),
            400,
            FaultCode::Sender,
            "MalformedXml",
            "byte",
        ),
        (
            Some("tok-mno"),
            url.clone(),
            good.replace("ES2-GetEISRequest", "ES2-NoSuchRequest"),
            400,
            FaultCode::Sender,
            "UnknownAction",
            "ES2-NoSuchRequest",
        ),
        (
            Some("tok-mno"),
            url.clone(),
            good.replace(gsma, "urn:not-gsma"),
            400,
            FaultCode::Sender,
            "WrongNamespace",
            "urn:not-gsma",
        ),
        (
            Some("tok-mno"),
            format!("{}/soap/ES3", s.base),
            good.clone(),
            404,
            FaultCode::Sender,
            "NotServed",
            "not to /soap/ES3",
        ),
        (
            Some("tok-mno"),
            url.clone(),
            good.replace(&eid(), "1234"),
            400,
            FaultCode::Sender,
            "BadRequest",
            "EID",
        ),
        (
            Some("tok-mno"),
            url.clone(),
            encode_request(&get_eis("mno1", "boom"), &Addressing::default()).unwrap(),
            500,
            FaultCode::Receiver,
            "Internal",
            "internal error",
        ),
        (
            Some("tok-mno"),
            url.clone(),
            format!("{}{}", good, " ".repeat(1 << 20)),
            413,
            FaultCode::Sender,
            "PayloadTooLarge",
            "exceeds",
        ),
    ];
    for (token, url, body, want_status, code, subcode, needle) in cases {
        let (status, headers, text) = post(&url, token, CT, body).await;
        assert_eq!(status, want_status, "{subcode}: {text}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/soap+xml"),
            "{subcode}"
        );
        let f = fault_of(&text);
        assert_eq!(f.code, code, "{text}");
        assert_eq!(f.subcode, subcode, "{text}");
        assert!(f.reason.contains(needle), "{subcode}: {}", f.reason);
        assert!(!text.contains("secret detail"));
    }
    // Refused calls are audited too.
    let audit = s.store.query_audit(&AuditQuery::default()).await.unwrap();
    assert!(audit.iter().any(|e| e.status == "Unauthenticated"));
    assert!(
        audit
            .iter()
            .any(|e| e.status == "Forbidden" && e.operator.as_deref() == Some("mno2"))
    );
}

#[tokio::test]
async fn wsdl_is_served_at_both_addresses() {
    let s = start().await;
    for path in ["/soap/ES2?wsdl", "/wsdl/ES2.wsdl"] {
        let r = reqwest::get(format!("{}{path}", s.base)).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let text = r.text().await.unwrap();
        let root = esim_soap::xml::parse(text.as_bytes()).unwrap();
        assert_eq!(root.name, "definitions");
        assert!(text.contains(&format!("location=\"{}/soap/ES2\"", s.base)));
        assert!(text.contains("name=\"ES2-DownloadProfileRequest\""));
        assert!(
            text.contains("soapAction=\"http://gsma.com/ES2/ProfileManagent/ES2-GetEISRequest\"")
        );
        // Only served functions.
        assert!(!text.contains("ES2-EnableProfileRequest"));
    }
    let r = reqwest::get(format!("{}/wsdl/ES4.wsdl", s.base))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404, "no ES4 function is served");
    let r = reqwest::get(format!("{}/soap/ES2", s.base)).await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[test]
fn arbitrary_bodies_never_crash_the_server() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(start());
    let client = reqwest::Client::new();
    let url = format!("{}/soap/ES2", s.base);
    let good = encode_request(&download("p-1"), &Addressing::default()).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 128,
        ..ProptestConfig::default()
    });
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..300),
        0usize..4000,
        ".{0,6}",
        any::<bool>(),
    );
    runner
        .run(&strategy, |(bytes, cut, ins, mutate)| {
            let body = if mutate {
                let cut = cut.min(good.len());
                let mut m = good.as_bytes()[..cut].to_vec();
                m.extend_from_slice(ins.as_bytes());
                m.extend_from_slice(&good.as_bytes()[cut..]);
                m
            } else {
                bytes
            };
            let (status, text) = rt.block_on(async {
                let r = client
                    .post(&url)
                    .bearer_auth("tok-mno")
                    .header("content-type", CT)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            });
            prop_assert!(status < 500, "5xx for arbitrary input: {} {}", status, text);
            if status != 200 {
                prop_assert!(text.contains("Fault"), "{}", text);
            }
            Ok(())
        })
        .unwrap();
    // The server is still serving.
    let (status, _) = rt.block_on(async {
        let r = client
            .post(&url)
            .bearer_auth("tok-mno")
            .header("content-type", CT)
            .body(good.clone())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(status, 200);
}

#[tokio::test]
async fn python_zeep_loads_the_wsdl_and_calls_es2() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import zeep"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        println!("SKIP: python zeep not installed (pip install zeep)");
        return;
    }
    let s = start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/zeep/es2_client.py");
    let args = [
        script.to_owned(),
        s.base.clone(),
        "tok-mno".into(),
        "mno1".into(),
        eid(),
        iccid(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3").args(&args).output()
    });
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("zeep client hung")
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "zeep failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
    assert!(
        stdout.contains("RESULT GetEIS Failed 8.1.1 3.9"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "RESULT DownloadProfile Executed-Success {}",
            iccid()
        )),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("FAULT env:Sender unknown token"),
        "{stdout}"
    );
    // The service saw both calls from the authenticated operator, decoded by decode_request.
    let calls = s.svc.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|(c, _)| c == "mno1"));
    assert_eq!(calls[0].1["Header"]["FunctionCallIdentifier"], "zeep-1");
    assert_eq!(calls[0].1["Header"]["ValidityPeriod"], 600);
    assert_eq!(calls[1].1["Body"]["Profile"]["Iccid"], iccid());
    assert_eq!(calls[1].1["Body"]["EnableProfile"], true);
    let audit = s.store.query_audit(&AuditQuery::default()).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.function == "ES2.DownloadProfile" && e.status == "Executed-Success")
    );
}

fn sample_eis() -> esim_proto::eis::Eis {
    use esim_crypto::cert::Date;
    use esim_crypto::pki::{self, EuiccParams, PkiParams, TestPki};
    use esim_proto::eis::{Eis, ProfileInfo, ProfileState, SubscriptionAddress};
    use esim_proto::pol2::{Pol2, Pol2Action, Pol2Qualification, Pol2Rule, Pol2Subject};
    let e = esim_codec::ids::Eid::parse(&eid()).unwrap();
    let params = PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap());
    let test_pki = TestPki::generate(&params).unwrap();
    let p = EuiccParams::test_defaults(e, Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
    let issued = pki::issue_euicc(&test_pki.eum, &test_pki.ci.cert, &p).unwrap();
    let mut eis = Eis::from_document(&issued.eis, "SMSR-A").unwrap();
    eis.profiles.push(ProfileInfo {
        iccid: esim_codec::ids::Iccid::parse(&iccid()).unwrap(),
        isd_p_aid: esim_codec::ids::Aid::from_hex("A0000005591010FFFFFFFF8900001000").unwrap(),
        mno_id: "MNO-A".into(),
        fallback_attribute: true,
        subscription_address: Some(SubscriptionAddress {
            imsi: Some(esim_codec::ids::Imsi::parse("001010000000001").unwrap()),
            msisdn: Some("447700900001".into()),
        }),
        state: ProfileState::Enabled,
        smdp_id: "SMDP-A".into(),
        profile_type: Some("bootstrap".into()),
        allocated_memory: 65536,
        free_memory: 1024,
        pol2: Pol2 {
            rules: vec![Pol2Rule {
                subject: Pol2Subject::Profile,
                action: Pol2Action::Disable,
                qualification: Pol2Qualification::AutoDelete,
            }],
        },
    });
    eis.redacted()
}

/// Serves every function: ES2.GetEIS answers a full EIS, everything else Failed 8.4/4.2.
#[derive(Debug)]
struct AllService {
    eis: Value,
    calls: Mutex<Vec<Value>>,
}

#[async_trait]
impl FunctionService for AllService {
    fn functions(&self) -> Vec<Function> {
        Function::ALL.to_vec()
    }

    async fn call(
        &self,
        _caller: &Caller,
        request: AnyRequest,
        _wait: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        let json: Value = serde_json::from_str(&request.to_json().unwrap()).unwrap();
        self.calls.lock().unwrap().push(json);
        Ok(CallOutcome::Done(match request {
            AnyRequest::Es2GetEis(_) => response(
                Timestamp(0),
                Timestamp(1),
                FunctionExecutionStatus::success(),
                Some(json!({"Eis": self.eis})),
            ),
            _ => response::<Value>(
                Timestamp(0),
                Timestamp(1),
                FunctionExecutionStatus::failed("8.4", "4.2", "Execution error"),
                None,
            ),
        }))
    }

    async fn outcome(
        &self,
        _caller: &Caller,
        operation: &OperationId,
        _wait: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        Err(ServiceError::UnknownOperation(operation.to_string()))
    }
}

#[tokio::test]
async fn python_zeep_loads_every_interface_and_parses_a_full_eis() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import zeep"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        println!("SKIP: python zeep not installed (pip install zeep)");
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(MemoryStore::new());
    store
        .put_operator(&OperatorRecord {
            id: "mno1".into(),
            name: "mno1".into(),
            roles: vec!["MNO".into()],
            token_hashes: vec![hash_token("tok-mno")],
            created_at: Timestamp(0),
        })
        .await
        .unwrap();
    let eis = sample_eis();
    let svc = Arc::new(AllService {
        eis: serde_json::to_value(&eis).unwrap(),
        calls: Mutex::new(Vec::new()),
    });
    let state = SoapState::new(
        SoapConfig::default(),
        vec![svc.clone() as Arc<dyn FunctionService>],
        store,
    );
    let (_stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        serve(state, listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    let iccid2 = esim_codec::ids::Iccid::with_luhn("894400000000000002")
        .unwrap()
        .to_string();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/zeep/all_interfaces.py");
    let args = [
        script.to_owned(),
        base,
        "tok-mno".into(),
        "mno1".into(),
        eid(),
        iccid(),
        iccid2.clone(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3").args(&args).output()
    });
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("zeep client hung")
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "zeep failed:\n{stdout}\n{stderr}");
    use esim_proto::function::Interface;
    for (i, name) in [
        (Interface::ES1, "ES1"),
        (Interface::ES2, "ES2"),
        (Interface::ES3, "ES3"),
        (Interface::ES4, "ES4"),
        (Interface::ES7, "ES7"),
    ] {
        let n = Function::ALL.iter().filter(|f| f.interface() == i).count();
        assert!(
            stdout.contains(&format!("WSDL {name} {n}\n")),
            "{name}: {stdout}"
        );
    }
    let keysets = eis.isd_r.keysets.len();
    assert!(
        stdout.contains(&format!("EIS {} 1 {} DISABLE {keysets}", eid(), iccid())),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("AUDIT Failed"), "{stdout}");
    let calls = svc.calls.lock().unwrap().clone();
    assert_eq!(calls[1]["Body"]["Iccid"], json!([iccid(), iccid2]));
}

#[tokio::test]
async fn soap_function_client_calls_follows_pending_and_reports_refusals() {
    let s = start().await;
    let c = SoapFunctionClient::new(&s.base, "tok-mno");
    let v = c
        .call(&get_eis("mno1", "k-1"), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(v["Header"]["FunctionExecutionStatus"]["Status"], "Failed");
    // Pending on the first request: the client repeats it with the same call identifier.
    let v = c
        .call(&download("slow"), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(v["Body"]["Iccid"], iccid());
    assert_eq!(*s.svc.slow.lock().unwrap(), 2);
    let bad = SoapFunctionClient::new(&s.base, "nope");
    match bad
        .call(&get_eis("mno1", "k-2"), Duration::from_secs(10))
        .await
    {
        Err(ClientError::Refused { status, message }) => {
            assert_eq!(status, 401);
            assert!(message.starts_with("Unauthenticated"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Nothing listens on port 1.
    let dead = SoapFunctionClient::new("http://127.0.0.1:1", "t");
    assert!(matches!(
        dead.call(&get_eis("mno1", "k-3"), Duration::from_secs(5))
            .await,
        Err(ClientError::Transport(_))
    ));
    assert!(!format!("{c:?}").contains("tok-mno"));
}

#[tokio::test]
async fn routes_merge_with_another_router() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(MemoryStore::new());
    let state = SoapState::new(
        SoapConfig::default(),
        vec![Arc::new(TestService::default()) as Arc<dyn FunctionService>],
        store,
    );
    let other = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "other") });
    let app = other.merge(esim_soap::routes(state));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let r = reqwest::get(format!("{base}/wsdl/ES2.wsdl")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");
}

/// Records the notifications it receives.
#[derive(Debug, Default)]
struct NotifService(Mutex<Vec<(String, Value)>>);

#[async_trait]
impl FunctionService for NotifService {
    fn functions(&self) -> Vec<Function> {
        vec![Function::Es2HandleProfileEnabledNotification]
    }

    async fn call(
        &self,
        caller: &Caller,
        request: AnyRequest,
        _wait: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        let json: Value = serde_json::from_str(&request.to_json().unwrap()).unwrap();
        self.0.lock().unwrap().push((caller.id.clone(), json));
        Ok(CallOutcome::Done(response::<Value>(
            Timestamp(0),
            Timestamp(1),
            FunctionExecutionStatus::success(),
            None,
        )))
    }

    async fn outcome(
        &self,
        _caller: &Caller,
        operation: &OperationId,
        _wait: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        Err(ServiceError::UnknownOperation(operation.to_string()))
    }
}

#[tokio::test]
async fn soap_callbacks_deliver_notifications_and_results() {
    use esim_service::{Callback, Callbacks};
    use esim_soap::{SoapCallbacks, SoapEndpoint};
    // The operator's SOAP server, receiving notifications from "smdp1".
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(MemoryStore::new());
    store
        .put_operator(&OperatorRecord {
            id: "smdp1".into(),
            name: "smdp1".into(),
            roles: vec!["SM-DP".into()],
            token_hashes: vec![hash_token("tok-smdp")],
            created_at: Timestamp(0),
        })
        .await
        .unwrap();
    let notif = Arc::new(NotifService::default());
    let state = SoapState::new(
        SoapConfig::default(),
        vec![notif.clone() as Arc<dyn FunctionService>],
        store,
    );
    tokio::spawn(async move {
        serve(state, listener, std::future::pending())
            .await
            .unwrap()
    });
    // Its reply URL for results.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, String)>(4);
    let recv = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let reply_url = format!("http://{}/results", recv.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/results",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: String| async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                tx.send((auth, body)).await.unwrap();
                axum::http::StatusCode::NO_CONTENT
            },
        ),
    );
    tokio::spawn(async move { axum::serve(recv, app).await.unwrap() });

    let mut endpoints = std::collections::HashMap::new();
    endpoints.insert(
        "mno1".to_owned(),
        SoapEndpoint {
            base_url: base,
            token: "tok-smdp".into(),
            reply_url: Some(reply_url),
        },
    );
    let cb = SoapCallbacks::new(endpoints);
    let n = json!({
        "Header": {"FunctionRequesterIdentifier": "smdp1", "FunctionCallIdentifier": "n-1"},
        "Body": {"Eid": eid(), "Iccid": iccid(), "CompletionTimeStamp": "2026-11-25T22:43:35Z"}
    });
    let request = decode_request(
        Function::Es2HandleProfileEnabledNotification,
        &n.to_string(),
    )
    .unwrap();
    cb.deliver("mno1", Callback::Notification(request))
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..300 {
        got = notif.0.lock().unwrap().clone();
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got.len(), 1, "notification not received");
    assert_eq!(got[0].0, "smdp1");
    assert_eq!(got[0].1["Body"]["Iccid"], iccid());

    cb.deliver(
        "mno1",
        Callback::Result {
            function: Function::Es2DownloadProfile,
            operation_id: OperationId::random().unwrap(),
            function_call_id: "c-77".into(),
            response: download_done(),
        },
    )
    .await
    .unwrap();
    let (auth, body) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("result not delivered")
        .unwrap();
    assert_eq!(auth, "Bearer tok-smdp");
    let (addr, json) = response_of(&body);
    assert_eq!(
        addr.relates_to.as_deref(),
        Some("urn:esim:FunctionCallIdentifier:c-77")
    );
    assert_eq!(json, download_done());
    assert!(matches!(
        cb.deliver("nobody", Callback::Notification(get_eis("mno1", "x")))
            .await,
        Err(ClientError::Refused { .. })
    ));
    assert!(!format!("{cb:?}").contains("tok-smdp"));
}
