//! Loopback tests of the JSON binding: a small test FunctionService behind the real server on
//! 127.0.0.1, the MemoryStore for operators and the audit trail.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use esim_http::{
    CallbackResult, CallbackSink, Endpoint, HttpCallbacks, HttpConfig, HttpFunctionClient,
    HttpState, RetryPolicy, serve,
};
use esim_proto::common::{FunctionExecutionStatus, Request, RequestHeader};
use esim_proto::function::{AnyRequest, Function};
use esim_service::{
    CallOutcome, Callback, Callbacks, Caller, ClientError, FunctionClient, FunctionService,
    ServiceError, response,
};
use esim_store::{
    AuditQuery, AuditStore, MemoryStore, OperationId, OperatorRecord, OperatorStore, StoreError,
    Timestamp, hash_token,
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

/// A test double of the layer above the binding: GetEIS answers at once (or fails on demand),
/// DownloadProfile is pending until its second poll, notifications are recorded.
#[derive(Debug, Default)]
struct TestService {
    /// Released by the test to let the call `slow` finish.
    release: tokio::sync::Notify,
    calls: Mutex<Vec<(String, Function, String)>>,
    ops: Mutex<HashMap<OperationId, (String, u32)>>,
}

fn call_id(r: &AnyRequest) -> String {
    serde_json::from_str::<Value>(&r.to_json().unwrap()).unwrap()["Header"]
        ["FunctionCallIdentifier"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[async_trait]
impl FunctionService for TestService {
    fn functions(&self) -> Vec<Function> {
        vec![
            Function::Es3GetEis,
            Function::Es2DownloadProfile,
            Function::Es2HandleProfileEnabledNotification,
        ]
    }

    async fn call(
        &self,
        caller: &Caller,
        request: AnyRequest,
        _wait: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        let id = call_id(&request);
        self.calls
            .lock()
            .unwrap()
            .push((caller.id.clone(), request.function(), id.clone()));
        match id.as_str() {
            "store-down" => {
                return Err(ServiceError::Store(StoreError::Backend("db gone".into())));
            }
            "boom" => return Err(ServiceError::Internal("boom".into())),
            "panic" => panic!("test service panics on request"),
            "slow" => self.release.notified().await,
            "conflict" => return Err(ServiceError::Conflict(id)),
            _ => {}
        }
        match request {
            AnyRequest::Es2DownloadProfile(_) => {
                let op = OperationId::random().unwrap();
                self.ops
                    .lock()
                    .unwrap()
                    .insert(op.clone(), (caller.id.clone(), 1));
                Ok(CallOutcome::Pending {
                    operation_id: op,
                    function: Function::Es2DownloadProfile,
                })
            }
            _ => Ok(CallOutcome::Done(response(
                Timestamp(0),
                Timestamp(1),
                FunctionExecutionStatus::success(),
                Some(json!({"Echo": id})),
            ))),
        }
    }

    async fn outcome(
        &self,
        caller: &Caller,
        operation: &OperationId,
        _wait: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        let mut ops = self.ops.lock().unwrap();
        match ops.get_mut(operation) {
            Some((owner, left)) if *owner == caller.id => {
                if *left > 0 {
                    *left -= 1;
                    Ok(CallOutcome::Pending {
                        operation_id: operation.clone(),
                        function: Function::Es2DownloadProfile,
                    })
                } else {
                    Ok(CallOutcome::Done(response(
                        Timestamp(0),
                        Timestamp(1),
                        FunctionExecutionStatus::success(),
                        Some(json!({"Iccid": iccid()})),
                    )))
                }
            }
            _ => Err(ServiceError::UnknownOperation(operation.to_string())),
        }
    }
}

#[derive(Debug, Default)]
struct Sink(Mutex<Vec<(String, CallbackResult)>>);

#[async_trait]
impl CallbackSink for Sink {
    async fn result(&self, from: &Caller, result: CallbackResult) -> Result<(), ServiceError> {
        self.0.lock().unwrap().push((from.id.clone(), result));
        Ok(())
    }
}

struct Server {
    base: String,
    store: Arc<MemoryStore>,
    svc: Arc<TestService>,
    sink: Arc<Sink>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn operators(store: &MemoryStore) {
    for (id, token, role) in [
        ("smdp1", "tok-smdp", "SM-DP"),
        ("mno1", "tok-mno", "MNO"),
        ("admin", "tok-admin", "ADMIN"),
    ] {
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
}

async fn start_on(listener: tokio::net::TcpListener) -> Server {
    let store = Arc::new(MemoryStore::new());
    operators(&store).await;
    let svc = Arc::new(TestService::default());
    let sink = Arc::new(Sink::default());
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = HttpState::new(
        HttpConfig::default(),
        vec![svc.clone() as Arc<dyn FunctionService>],
        store.clone(),
    )
    .with_callback_sink(sink.clone());
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
        sink,
        _stop: tx,
    }
}

async fn start() -> Server {
    start_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await
}

fn get_eis(requester: &str, call: &str) -> Value {
    json!({
        "Header": {"FunctionRequesterIdentifier": requester, "FunctionCallIdentifier": call},
        "Body": {"Eid": eid()}
    })
}

fn download(requester: &str, call: &str) -> Value {
    json!({
        "Header": {"FunctionRequesterIdentifier": requester, "FunctionCallIdentifier": call},
        "Body": {"Eid": eid(), "Smsr-id": "SMSR-A", "Profile": {"Iccid": iccid()}, "EnableProfile": true}
    })
}

async fn post(
    base: &str,
    path: &str,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut rq = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        rq = rq.bearer_auth(t);
    }
    let r = rq.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let bytes = r.bytes().await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn get(base: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut rq = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(t) = token {
        rq = rq.bearer_auth(t);
    }
    let r = rq.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn audit(store: &MemoryStore) -> Vec<esim_store::AuditEntry> {
    store.query_audit(&AuditQuery::default()).await.unwrap()
}

#[tokio::test]
async fn done_is_200_with_the_response_and_audited() {
    let s = start().await;
    let (status, _, body) = post(
        &s.base,
        "/api/v1/ES3/GetEIS",
        Some("tok-smdp"),
        get_eis("smdp1", "c-1").to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["Header"]["FunctionExecutionStatus"]["Status"],
        "Executed-Success"
    );
    assert_eq!(body["Body"]["Echo"], "c-1");
    assert_eq!(
        s.svc.calls.lock().unwrap().as_slice(),
        &[("smdp1".to_string(), Function::Es3GetEis, "c-1".to_string())]
    );
    let a = audit(&s.store).await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].function, "ES3.GetEIS");
    assert_eq!(a[0].operator.as_deref(), Some("smdp1"));
    assert_eq!(a[0].function_call_id.as_deref(), Some("c-1"));
    assert_eq!(a[0].status, "Executed-Success");
    assert_eq!(a[0].eid.as_ref().map(|e| e.to_string()), Some(eid()));
    assert_eq!(a[0].detail["http_status"], 200);
    let (h, text) = get(&s.base, "/health", None).await;
    assert_eq!((h, text.contains("ok")), (200, true));
}

#[tokio::test]
async fn pending_is_202_then_polled_to_200() {
    let s = start().await;
    let (status, headers, body) = post(
        &s.base,
        "/api/v1/ES2/DownloadProfile?wait=1",
        Some("tok-mno"),
        download("mno1", "d-1").to_string(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["Function"], "ES2.DownloadProfile");
    let op = body["OperationId"].as_str().unwrap().to_owned();
    let location = body["Location"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/operations/{op}"));
    assert_eq!(headers["location"], location.as_str());
    // Another operator does not see it.
    let (st, text) = get(&s.base, &location, Some("tok-smdp")).await;
    assert_eq!(st, 404, "{text}");
    assert!(text.contains("UnknownOperation"));
    let (st, text) = get(&s.base, &format!("{location}?wait=0"), Some("tok-mno")).await;
    assert_eq!(st, 202, "{text}");
    let (st, text) = get(&s.base, &location, Some("tok-mno")).await;
    assert_eq!(st, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["Body"]["Iccid"], iccid());
    // Unauthenticated polls and bad ids.
    assert_eq!(get(&s.base, &location, None).await.0, 401);
    assert_eq!(
        get(&s.base, "/api/v1/operations/..", Some("tok-mno"))
            .await
            .0,
        404
    );
    assert_eq!(
        get(&s.base, &format!("{location}?wait=x"), Some("tok-mno"))
            .await
            .0,
        400
    );
    let a = audit(&s.store).await;
    assert_eq!(a[0].status, "Pending");
    assert_eq!(a[0].detail["operation_id"], op.as_str());
    assert_eq!(a[0].iccid.as_ref().map(|i| i.to_string()), Some(iccid()));
    // Every poll is audited too: who, which operation, what it got.
    let polls: Vec<(Option<&str>, &str, u64)> = a
        .iter()
        .filter(|e| e.function == "GET operations")
        .map(|e| {
            (
                e.operator.as_deref(),
                e.status.as_str(),
                e.detail["http_status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        polls,
        vec![
            (Some("smdp1"), "UnknownOperation", 404),
            (Some("mno1"), "Pending", 202),
            (Some("mno1"), "Executed-Success", 200),
            (None, "Unauthenticated", 401),
            (Some("mno1"), "BadRequest", 400),
        ],
        "{a:?}"
    );
    assert!(
        a.iter()
            .filter(|e| e.function == "GET operations" && e.status == "Pending")
            .all(|e| e.detail["operation_id"] == op.as_str())
    );
}

#[tokio::test]
async fn missing_or_unknown_token_is_401_and_audited() {
    let s = start().await;
    let body = get_eis("smdp1", "c-2").to_string();
    let (st, headers, err) = post(&s.base, "/api/v1/ES3/GetEIS", None, body.clone()).await;
    assert_eq!(st, 401);
    assert_eq!(err["kind"], "Unauthenticated");
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (st, _, err) = post(&s.base, "/api/v1/ES3/GetEIS", Some("nope"), body.clone()).await;
    assert_eq!(st, 401);
    assert!(
        !err["error"].as_str().unwrap().contains("nope"),
        "token echoed"
    );
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/ES3/GetEIS", s.base))
        .header("authorization", "Basic dTpw")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(s.svc.calls.lock().unwrap().is_empty());
    let a = audit(&s.store).await;
    assert_eq!(a.len(), 3);
    assert!(
        a.iter()
            .all(|e| e.status == "Unauthenticated" && e.operator.is_none())
    );
    assert_eq!(a[0].function_call_id.as_deref(), Some("c-2"));
    assert_eq!(a[0].detail["http_status"], 401);
}

#[tokio::test]
async fn requester_other_than_caller_is_403_unless_admin() {
    let s = start().await;
    let (st, _, err) = post(
        &s.base,
        "/api/v1/ES3/GetEIS",
        Some("tok-smdp"),
        get_eis("smdp2", "c-3").to_string(),
    )
    .await;
    assert_eq!(st, 403, "{err}");
    assert_eq!(err["kind"], "Forbidden");
    // A requester that merely starts with the caller id is another requester.
    let long = format!("smdp1{}", "x".repeat(300));
    let (st, _, _) = post(
        &s.base,
        "/api/v1/ES3/GetEIS",
        Some("tok-smdp"),
        get_eis(&long, "c-3b").to_string(),
    )
    .await;
    assert_eq!(st, 403);
    assert!(s.svc.calls.lock().unwrap().is_empty());
    let (st, _, _) = post(
        &s.base,
        "/api/v1/ES3/GetEIS",
        Some("tok-admin"),
        get_eis("smdp2", "c-4").to_string(),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(s.svc.calls.lock().unwrap()[0].0, "admin");
    let a = audit(&s.store).await;
    assert_eq!(a.len(), 3);
    assert_eq!(a[0].status, "Forbidden");
    assert_eq!(a[0].operator.as_deref(), Some("smdp1"));
}

#[tokio::test]
async fn undecodable_request_is_400_naming_field_and_position() {
    let s = start().await;
    let mut bad = get_eis("smdp1", "c-5");
    bad["Body"]["Eid"] = json!("8904903200000000000000000000123X");
    let (st, _, err) = post(
        &s.base,
        "/api/v1/ES3/GetEIS",
        Some("tok-smdp"),
        bad.to_string(),
    )
    .await;
    assert_eq!(st, 400, "{err}");
    assert_eq!(err["kind"], "BadRequest");
    let msg = err["error"].as_str().unwrap();
    assert!(
        msg.contains("GetEIS") && msg.contains("line 1 column"),
        "{msg}"
    );
    let mut unknown = get_eis("smdp1", "c-6");
    unknown["Body"]["Colour"] = json!("red");
    let (st, _, err) = post(
        &s.base,
        "/api/v1/ES3/GetEIS",
        Some("tok-smdp"),
        unknown.to_string(),
    )
    .await;
    assert_eq!(st, 400);
    assert!(err["error"].as_str().unwrap().contains("Colour"), "{err}");
    let (st, _, err) = post(
        &s.base,
        "/api/v1/ES3/GetEIS",
        Some("tok-smdp"),
        "{\"Header\":",
    )
    .await;
    assert_eq!(st, 400);
    assert!(err["error"].as_str().unwrap().contains("column"), "{err}");
    let (st, _, _) = post(
        &s.base,
        "/api/v1/ES3/GetEIS",
        Some("tok-smdp"),
        vec![0xff, 0xfe],
    )
    .await;
    assert_eq!(st, 400);
    let (st, _, _) = post(
        &s.base,
        "/api/v1/ES3/GetEIS?wait=soon",
        Some("tok-smdp"),
        get_eis("smdp1", "c-7").to_string(),
    )
    .await;
    assert_eq!(st, 400);
    assert!(s.svc.calls.lock().unwrap().is_empty());
    let a = audit(&s.store).await;
    assert_eq!(a.len(), 5);
    assert!(a.iter().all(|e| e.status == "BadRequest"));
    assert_eq!(a[0].function_call_id.as_deref(), Some("c-5"));
}

#[tokio::test]
async fn unknown_or_unserved_function_is_404() {
    let s = start().await;
    let body = get_eis("smdp1", "c-8").to_string();
    for path in [
        "/api/v1/ES3/NoSuchFunction",
        "/api/v1/ES4/GetEIS",
        "/api/v1/es3/getEIS",
        "/api/v1/ES9/GetEIS",
    ] {
        let (st, _, err) = post(&s.base, path, Some("tok-smdp"), body.clone()).await;
        assert_eq!(st, 404, "{path}");
        assert_eq!(err["kind"], "NotServed", "{path}");
    }
    let (st, _) = get(&s.base, "/nothing/here", None).await;
    assert_eq!(st, 404);
    let a = audit(&s.store).await;
    assert_eq!(a.len(), 4);
    assert!(
        a.iter()
            .all(|e| e.function == "unknown" && e.status == "NotServed")
    );
}

#[tokio::test]
async fn body_over_one_mebibyte_is_413() {
    let s = start().await;
    let mut big = get_eis("smdp1", "c-9");
    big["Body"]["Pad"] = json!("x".repeat(1 << 20));
    let (st, _, err) = post(
        &s.base,
        "/api/v1/ES3/GetEIS",
        Some("tok-smdp"),
        big.to_string(),
    )
    .await;
    assert_eq!(st, 413);
    assert_eq!(err["kind"], "PayloadTooLarge");
    assert!(s.svc.calls.lock().unwrap().is_empty());
    assert_eq!(audit(&s.store).await[0].status, "PayloadTooLarge");
}

#[tokio::test]
async fn service_errors_map_to_their_statuses() {
    let s = start().await;
    for (call, status, kind) in [
        ("store-down", 503, "Unavailable"),
        ("boom", 500, "Internal"),
        ("conflict", 409, "Conflict"),
    ] {
        let (st, _, err) = post(
            &s.base,
            "/api/v1/ES3/GetEIS",
            Some("tok-smdp"),
            get_eis("smdp1", call).to_string(),
        )
        .await;
        assert_eq!((st, err["kind"].as_str().unwrap()), (status, kind));
        assert!(!err["error"].as_str().unwrap().contains("db gone"));
    }
    let a = audit(&s.store).await;
    let statuses: Vec<_> = a.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(statuses, ["Unavailable", "Internal", "Conflict"]);
    // A panicking service is a 500, and the server keeps serving.
    let (st, _, err) = post(
        &s.base,
        "/api/v1/ES3/GetEIS",
        Some("tok-smdp"),
        get_eis("smdp1", "panic").to_string(),
    )
    .await;
    assert_eq!((st, err["kind"].as_str()), (500, Some("Internal")));
    assert_eq!(get(&s.base, "/health", None).await.0, 200);
}

#[tokio::test]
async fn a_client_that_goes_away_does_not_cancel_the_call_or_its_audit() {
    let s = start().await;
    let base = s.base.clone();
    let client = tokio::spawn(async move {
        post(
            &base,
            "/api/v1/ES3/GetEIS",
            Some("tok-smdp"),
            get_eis("smdp1", "slow").to_string(),
        )
        .await
    });
    tokio::time::timeout(Duration::from_secs(20), async {
        while s.svc.calls.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    client.abort();
    let _ = client.await;
    s.svc.release.notify_one();
    let entries = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let a = audit(&s.store).await;
            if !a.is_empty() {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the call was not audited after the client left");
    assert_eq!(entries[0].function_call_id.as_deref(), Some("slow"));
    assert_eq!(entries[0].status, "Executed-Success");
}

#[tokio::test]
async fn metrics_count_calls_per_function_and_status() {
    let s = start().await;
    let ok = get_eis("smdp1", "m-1").to_string();
    for _ in 0..2 {
        post(&s.base, "/api/v1/ES3/GetEIS", Some("tok-smdp"), ok.clone()).await;
    }
    post(&s.base, "/api/v1/ES3/GetEIS", None, ok.clone()).await;
    let (_, _, p) = post(
        &s.base,
        "/api/v1/ES2/DownloadProfile",
        Some("tok-mno"),
        download("mno1", "m-2").to_string(),
    )
    .await;
    let (st, text) = get(&s.base, "/metrics", None).await;
    assert_eq!(st, 200);
    assert!(
        text.contains("esim_http_calls_total{function=\"ES3.GetEIS\",status=\"200\"} 2"),
        "{text}"
    );
    assert!(text.contains("esim_http_calls_total{function=\"ES3.GetEIS\",status=\"401\"} 1"));
    assert!(
        text.contains("esim_http_calls_total{function=\"ES2.DownloadProfile\",status=\"202\"} 1")
    );
    assert!(text.contains("esim_http_call_duration_seconds_count{function=\"ES3.GetEIS\"} 3"));
    assert!(text.contains("esim_http_pending_operations 1"));
    let loc = p["Location"].as_str().unwrap().to_owned();
    get(&s.base, &loc, Some("tok-mno")).await;
    assert_eq!(get(&s.base, &loc, Some("tok-mno")).await.0, 200);
    let (_, text) = get(&s.base, "/metrics", None).await;
    assert!(text.contains("esim_http_pending_operations 0"), "{text}");
    assert!(text.contains("esim_http_calls_total{function=\"operations\",status=\"200\"} 1"));
}

#[tokio::test]
async fn openapi_document_is_valid_and_lists_every_served_function() {
    let s = start().await;
    let (st, text) = get(&s.base, "/openapi.json", None).await;
    assert_eq!(st, 200);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for f in TestService::default().functions() {
        let path = format!(
            "/api/v1/{}/{}",
            esim_http::qualified_name(f).split('.').next().unwrap(),
            f.name()
        );
        let op = &doc["paths"][&path]["post"];
        assert!(op.is_object(), "{path} missing");
        assert!(op["requestBody"]["content"]["application/json"]["schema"].is_object());
        assert!(op["responses"]["200"]["content"]["application/json"]["schema"].is_object());
        assert!(op["responses"]["202"].is_object());
    }
    assert!(
        doc["paths"]["/api/v1/ES4/GetEIS"].is_null(),
        "unserved function listed"
    );
    assert!(doc["paths"]["/api/v1/operations/{id}"]["get"].is_object());
    validate_with_openapi_spec_validator(&text);
}

#[test]
fn openapi_document_of_every_function_is_valid() {
    let doc = esim_http::openapi_document(Function::ALL);
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.keys().filter(|p| p.starts_with("/api/v1/ES")).count(),
        Function::ALL.len()
    );
    validate_with_openapi_spec_validator(&doc.to_string());
}

#[test]
#[should_panic(expected = "openapi-spec-validator")]
fn the_validator_refuses_a_broken_document() {
    if std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        // Without the validator there is nothing to refuse; keep the expectation.
        panic!("openapi-spec-validator not installed");
    }
    let mut doc = esim_http::openapi_document(&[Function::Es3GetEis]);
    doc["paths"]["/api/v1/ES3/GetEIS"]["post"]["responses"] = json!("nope");
    validate_with_openapi_spec_validator(&doc.to_string());
}

/// Validates the document with the independent `openapi-spec-validator` (Python) when it is
/// installed; prints a SKIP line otherwise.
fn validate_with_openapi_spec_validator(text: &str) {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output();
    if !matches!(probe, Ok(ref o) if o.status.success()) {
        println!("SKIP openapi-spec-validator not installed (pip install openapi-spec-validator)");
        return;
    }
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("esim-http-openapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = dir.join(format!("openapi-{n}.json"));
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, json; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn http_function_client_end_to_end() {
    let s = start().await;
    let client = HttpFunctionClient::new(&s.base, "tok-smdp").unwrap();
    let rq = esim_proto::function::decode_request(
        Function::Es3GetEis,
        &get_eis("smdp1", "e-1").to_string(),
    )
    .unwrap();
    let v = client.call(&rq, Duration::from_secs(10)).await.unwrap();
    assert_eq!(v["Body"]["Echo"], "e-1");

    // Pending, followed through two polls to the final response.
    let mno = HttpFunctionClient::new(&format!("{}/", s.base), "tok-mno").unwrap();
    let rq = esim_proto::function::decode_request(
        Function::Es2DownloadProfile,
        &download("mno1", "e-2").to_string(),
    )
    .unwrap();
    let v = mno.call(&rq, Duration::from_secs(20)).await.unwrap();
    assert_eq!(v["Body"]["Iccid"], iccid());

    // Refusals and transport failures.
    let bad = HttpFunctionClient::new(&s.base, "wrong").unwrap();
    match bad.call(&rq, Duration::from_secs(5)).await {
        Err(ClientError::Refused {
            status: 401,
            message,
        }) => {
            assert!(message.contains("Unauthenticated"))
        }
        other => panic!("{other:?}"),
    }
    // 503 from the server: retryable, like a broken connection.
    let rq503 = esim_proto::function::decode_request(
        Function::Es3GetEis,
        &get_eis("smdp1", "store-down").to_string(),
    )
    .unwrap();
    match client.call(&rq503, Duration::from_secs(5)).await {
        Err(ClientError::Transport(m)) => assert!(m.contains("503"), "{m}"),
        other => panic!("{other:?}"),
    }
    let rq409 = esim_proto::function::decode_request(
        Function::Es3GetEis,
        &get_eis("smdp1", "conflict").to_string(),
    )
    .unwrap();
    assert!(matches!(
        client.call(&rq409, Duration::from_secs(5)).await,
        Err(ClientError::Refused { status: 409, .. })
    ));
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let c = HttpFunctionClient::new(&down, "tok-mno").unwrap();
    assert!(matches!(
        c.call(&rq, Duration::from_secs(5)).await,
        Err(ClientError::Transport(_))
    ));
    assert!(!format!("{c:?}").contains("tok-mno"));
}

#[tokio::test]
async fn http_function_client_times_out_on_a_pending_operation() {
    let s = start().await;
    let mno = HttpFunctionClient::new(&s.base, "tok-mno").unwrap();
    let rq = esim_proto::function::decode_request(
        Function::Es2DownloadProfile,
        &download("mno1", "t-1").to_string(),
    )
    .unwrap();
    // Limit zero: the POST answers 202 and no time is left to follow it.
    assert!(matches!(
        mno.call(&rq, Duration::ZERO).await,
        Err(ClientError::Timeout(_))
    ));
}

fn notification() -> AnyRequest {
    AnyRequest::Es2HandleProfileEnabledNotification(Request {
        header: RequestHeader {
            function_requester_identifier: "smdp1".into(),
            function_call_identifier: esim_proto::common::FunctionCallIdentifier::new("n-1")
                .unwrap(),
            validity_period: None,
            message_id: None,
            relates_to: None,
        },
        body: serde_json::from_value(json!({
            "Eid": eid(), "Iccid": iccid(), "CompletionTimeStamp": "2026-11-25T22:43:35Z"
        }))
        .unwrap(),
    })
}

#[tokio::test]
async fn http_callbacks_deliver_after_the_receiver_comes_up() {
    // Reserve a port, leave it closed for the first attempts.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut parties = HashMap::new();
    parties.insert(
        "mno1".to_string(),
        Endpoint {
            base_url: format!("http://{addr}"),
            token: "tok-smdp".into(),
        },
    );
    let cb = HttpCallbacks::new(
        parties,
        RetryPolicy {
            max_attempts: 50,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
            queue_capacity: 8,
            attempt_timeout: Duration::from_secs(5),
        },
    )
    .unwrap();
    cb.deliver("mno1", Callback::Notification(notification()))
        .await
        .unwrap();
    let op = OperationId::random().unwrap();
    cb.deliver(
        "mno1",
        Callback::Result {
            function: Function::Es2DownloadProfile,
            operation_id: op.clone(),
            function_call_id: "d-9".into(),
            response: json!({"Header": {"FunctionExecutionStatus": {"Status": "Executed-Success"}}}),
        },
    )
    .await
    .unwrap();
    // Unknown party: dropped, not an error.
    cb.deliver("nobody", Callback::Notification(notification()))
        .await
        .unwrap();
    // Wait until at least one attempt failed, then bring the receiver up.
    tokio::time::timeout(Duration::from_secs(20), async {
        while cb.stats().failed_attempts == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let s = start_on(tokio::net::TcpListener::bind(addr).await.unwrap()).await;
    tokio::time::timeout(Duration::from_secs(30), async {
        while cb.stats().delivered < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let calls = s.svc.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [(
            "smdp1".to_string(),
            Function::Es2HandleProfileEnabledNotification,
            "n-1".to_string()
        )]
    );
    let got = s.sink.0.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "smdp1");
    assert_eq!(got[0].1.function, Function::Es2DownloadProfile);
    assert_eq!(got[0].1.operation_id, op);
    assert_eq!(got[0].1.function_call_id, "d-9");
    let stats = cb.stats();
    assert!(stats.failed_attempts >= 1);
    assert_eq!(stats.dropped, 1);
    let a = audit(&s.store).await;
    assert!(a.iter().any(|e| e.function == "ES2.DownloadProfile"
        && e.status == "Executed-Success"
        && e.function_call_id.as_deref() == Some("d-9")));
}

#[tokio::test]
async fn callback_route_refuses_bad_results() {
    let s = start().await;
    let (st, _, _) = post(&s.base, "/api/v1/callbacks", None, "{}").await;
    assert_eq!(st, 401);
    let (st, _, err) = post(
        &s.base,
        "/api/v1/callbacks",
        Some("tok-mno"),
        json!({"Function": "ES9.Nothing", "OperationId": "ab", "FunctionCallIdentifier": "x", "Response": {}}).to_string(),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        err["error"].as_str().unwrap().contains("ES9.Nothing"),
        "{err}"
    );
    assert!(s.sink.0.lock().unwrap().is_empty());
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    /// Arbitrary bytes, or a valid body with arbitrary bytes spliced in, on arbitrary served
    /// and unserved functions: never a panic, never a 5xx (the test service fails only on
    /// the call identifiers `store-down`, `boom` and `panic`, which random input does not
    /// produce; `slow` would hang, and is as unlikely).
    #[test]
    fn arbitrary_bodies_never_panic_or_5xx() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let s = rt.block_on(start());
        let client = reqwest::Client::new();
        let valid = get_eis("smdp1", "p-1").to_string().into_bytes();
        let paths: Vec<String> = Function::ALL
            .iter()
            .map(|f| {
                format!(
                    "/api/v1/{}/{}",
                    esim_http::qualified_name(*f).split('.').next().unwrap(),
                    f.name()
                )
            })
            .collect();
        let body = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            (
                0..valid.len(),
                proptest::collection::vec(any::<u8>(), 0..16)
            )
                .prop_map({
                    let valid = valid.clone();
                    move |(at, junk)| {
                        let mut v = valid.clone();
                        v.splice(at..at, junk);
                        v
                    }
                }),
            (0..valid.len()).prop_map({
                let valid = valid.clone();
                move |n| valid[..n].to_vec()
            }),
        ];
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 300,
            ..ProptestConfig::default()
        });
        runner
            .run(&(body, 0..paths.len(), any::<bool>()), |(body, p, auth)| {
                let url = format!("{}{}", s.base, paths[p]);
                let status = rt.block_on(async {
                    let mut rq = client.post(&url).body(body);
                    if auth {
                        rq = rq.bearer_auth("tok-smdp");
                    }
                    rq.send().await.unwrap().status().as_u16()
                });
                prop_assert!(status < 500, "status {}", status);
                prop_assert!(
                    [200, 202, 400, 401, 403, 404].contains(&status),
                    "status {}",
                    status
                );
                Ok(())
            })
            .unwrap();
        drop(s);
    }

    fn pct(s: &str) -> String {
        s.bytes().map(|b| format!("%{b:02X}")).collect()
    }

    /// Arbitrary interface/function names, operation ids and `wait` values: never a panic,
    /// never a 5xx.
    #[test]
    fn arbitrary_paths_and_queries_never_panic_or_5xx() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let s = rt.block_on(start());
        let client = reqwest::Client::new();
        let body = get_eis("smdp1", "q-1").to_string();
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 200,
            ..ProptestConfig::default()
        });
        runner
            .run(
                &(".{0,24}", ".{0,24}", ".{0,12}", any::<bool>()),
                |(a, b, wait, poll)| {
                    let status = rt.block_on(async {
                        let rq = if poll {
                            client.get(format!(
                                "{}/api/v1/operations/{}?wait={}",
                                s.base,
                                pct(&a),
                                pct(&wait)
                            ))
                        } else {
                            client
                                .post(format!(
                                    "{}/api/v1/{}/{}?wait={}",
                                    s.base,
                                    pct(&a),
                                    pct(&b),
                                    pct(&wait)
                                ))
                                .body(body.clone())
                        };
                        rq.bearer_auth("tok-smdp")
                            .send()
                            .await
                            .unwrap()
                            .status()
                            .as_u16()
                    });
                    prop_assert!([200, 202, 400, 404].contains(&status), "status {}", status);
                    Ok(())
                },
            )
            .unwrap();
    }
}

/// Real messages validate against the document's schemas (JSON Schema 2020-12, Python
/// `jsonschema`), and misspelt field names do not: the schemas follow the serde names.
#[test]
fn openapi_schemas_accept_real_messages_and_refuse_wrong_names() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        println!("SKIP python3 jsonschema not installed");
        return;
    }
    let doc = esim_http::openapi_document(Function::ALL);
    let done = response(
        Timestamp(0),
        Timestamp(1_795_646_615_123),
        FunctionExecutionStatus::success(),
        Some(json!({"Iccid": iccid()})),
    );
    let failed = response::<Value>(
        Timestamp(0),
        Timestamp(1),
        FunctionExecutionStatus::failed("8.1.1", "3.9", "unknown EID"),
        None,
    );
    let mut snake = download("mno1", "v-2");
    snake["Body"]["smsr_id"] = json!("SMSR-A");
    let mut no_header = get_eis("smdp1", "v-3");
    no_header.as_object_mut().unwrap().remove("Header");
    let notif = serde_json::from_str::<Value>(&notification().to_json().unwrap()).unwrap();
    let cases = json!([
        ["ES3.GetEIS.Request", get_eis("smdp1", "v-1"), true],
        ["ES2.DownloadProfile.Request", download("mno1", "v-1"), true],
        ["ES2.HandleProfileEnabledNotification.Request", notif, true],
        ["ES2.DownloadProfile.Response", done, true],
        ["ES2.DownloadProfile.Response", failed, true],
        ["ES2.DownloadProfile.Request", snake, false],
        ["ES3.GetEIS.Request", no_header, false],
        ["ES3.GetEIS.Request", download("mno1", "v-4"), false],
    ]);
    let dir = std::env::temp_dir().join(format!("esim-http-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("doc.json"), doc.to_string()).unwrap();
    std::fs::write(dir.join("cases.json"), cases.to_string()).unwrap();
    let script = r##"
import json, sys, jsonschema
doc = json.load(open(sys.argv[1])); cases = json.load(open(sys.argv[2]))
bad = []
for name, instance, expect in cases:
    v = jsonschema.Draft202012Validator({"$ref": "#/components/schemas/" + name, "components": doc["components"]})
    errs = [e.message for e in v.iter_errors(instance)]
    if (not errs) != expect:
        bad.append((name, expect, errs))
print(json.dumps(bad)); sys.exit(1 if bad else 0)
"##;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(dir.join("doc.json"))
        .arg(dir.join("cases.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn run_serves_until_shutdown() {
    let store = Arc::new(MemoryStore::new());
    operators(&store).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(esim_http::run(
        HttpConfig::default(),
        listener,
        vec![Arc::new(TestService::default()) as Arc<dyn FunctionService>],
        store,
        async {
            let _ = rx.await;
        },
    ));
    assert_eq!(get(&base, "/health", None).await.0, 200);
    // Without a sink the callbacks route is not served.
    let (st, _, err) = post(
        &base,
        "/api/v1/callbacks",
        Some("tok-mno"),
        json!({"Function": "ES2.DownloadProfile", "OperationId": "ab", "FunctionCallIdentifier": "x", "Response": {}}).to_string(),
    )
    .await;
    assert_eq!((st, err["kind"].as_str()), (404, Some("NotServed")));
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("run did not return after shutdown")
        .unwrap()
        .unwrap();
    assert!(reqwest::get(format!("{base}/health")).await.is_err());
}
