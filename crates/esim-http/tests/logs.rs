//! The server's logs name the call but never carry a bearer token or a request body.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use esim_http::{HttpConfig, HttpState, serve};
use esim_proto::common::FunctionExecutionStatus;
use esim_proto::function::{AnyRequest, Function};
use esim_service::{CallOutcome, Caller, FunctionService, ServiceError, response};
use esim_store::{MemoryStore, OperationId, OperatorRecord, OperatorStore, Timestamp, hash_token};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
struct Echo;

#[async_trait]
impl FunctionService for Echo {
    fn functions(&self) -> Vec<Function> {
        vec![Function::Es3GetEis]
    }
    async fn call(
        &self,
        _: &Caller,
        _: AnyRequest,
        _: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        Ok(CallOutcome::Done(response::<()>(
            Timestamp(0),
            Timestamp(1),
            FunctionExecutionStatus::success(),
            None,
        )))
    }
    async fn outcome(
        &self,
        _: &Caller,
        op: &OperationId,
        _: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        Err(ServiceError::UnknownOperation(op.to_string()))
    }
}

#[tokio::test]
async fn logs_name_the_call_but_not_the_token_or_body() {
    let buf = Buf::default();
    let writer = buf.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let store = Arc::new(MemoryStore::new());
    store
        .put_operator(&OperatorRecord {
            id: "smdp1".into(),
            name: "smdp1".into(),
            roles: vec!["SM-DP".into()],
            token_hashes: vec![hash_token("secret-token-4711")],
            created_at: Timestamp(0),
        })
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = HttpState::new(
        HttpConfig::default(),
        vec![Arc::new(Echo) as Arc<dyn FunctionService>],
        store,
    );
    tokio::spawn(serve(state, listener, std::future::pending()));
    let eid = esim_codec::ids::Eid::from_body("890490320000000000000000000012")
        .unwrap()
        .to_string();
    let body = serde_json::json!({
        "Header": {"FunctionRequesterIdentifier": "smdp1", "FunctionCallIdentifier": "log-1"},
        "Body": {"Eid": eid}
    })
    .to_string();
    let c = reqwest::Client::new();
    for token in ["secret-token-4711", "wrong-token-0815"] {
        c.post(format!("{base}/api/v1/ES3/GetEIS"))
            .bearer_auth(token)
            .body(body.clone())
            .send()
            .await
            .unwrap();
    }
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("function call") && text.contains("ES3.GetEIS"),
        "{text}"
    );
    assert!(text.contains("log-1"), "{text}");
    assert!(!text.contains("secret-token-4711"), "{text}");
    assert!(!text.contains("wrong-token-0815"), "{text}");
    assert!(!text.contains(&eid), "body logged: {text}");
}
