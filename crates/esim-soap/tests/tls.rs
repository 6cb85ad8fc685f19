//! The SOAP binding over HTTPS with mutual TLS: both bindings merged on one router, served by
//! `esim_http::serve_tls_router`; certificates from the test PKI's TLS CA (esim-crypto).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use esim_crypto::cert::Date;
use esim_crypto::ec::KeyPair;
use esim_crypto::pki::{CaIdentity, PkiParams, TestPki, random_serial};
use esim_crypto::x509::{self, CertProfile, ValidityDays};
use esim_http::{HttpConfig, HttpState, ServerTls, TlsOptions, serve_tls_router};
use esim_proto::common::FunctionExecutionStatus;
use esim_proto::function::{AnyRequest, Function, decode_request};
use esim_service::{
    CallOutcome, Caller, ClientError, FunctionClient, FunctionService, ServiceError, response,
};
use esim_soap::{SoapConfig, SoapFunctionClient, SoapState};
use esim_store::{MemoryStore, OperationId, OperatorRecord, OperatorStore, Timestamp, hash_token};
use serde_json::{Value, json};

fn today() -> Date {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    Date::from_unix_days(days as i64).unwrap()
}

fn pki() -> TestPki {
    TestPki::generate(&PkiParams::test_defaults(today())).unwrap()
}

/// A client identity (certificate PEM, PKCS#8 key PEM) for `cn` issued by `ca`.
fn client_identity(cn: &str, ca: &CaIdentity) -> (Vec<u8>, Vec<u8>) {
    let k = KeyPair::generate().unwrap();
    let c = x509::issue(
        Some(&ca.cert),
        &ca.key,
        &format!("CN={cn}"),
        k.public_key(),
        &random_serial().unwrap(),
        ValidityDays {
            not_before: today(),
            not_after: today().add_days(7).unwrap(),
        },
        CertProfile::TlsClient,
    )
    .unwrap();
    (
        c.to_pem().unwrap().into_bytes(),
        k.to_pkcs8_pem().unwrap().as_bytes().to_vec(),
    )
}

#[derive(Debug, Default)]
struct Echo(Mutex<Vec<String>>);

#[async_trait]
impl FunctionService for Echo {
    fn functions(&self) -> Vec<Function> {
        vec![
            Function::Es2GetEis,
            Function::Es2HandleProfileEnabledNotification,
        ]
    }
    async fn call(
        &self,
        caller: &Caller,
        _: AnyRequest,
        _: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        self.0.lock().unwrap().push(caller.id.clone());
        Ok(CallOutcome::Done(response::<Value>(
            Timestamp(0),
            Timestamp(1),
            FunctionExecutionStatus::failed("8.1.1", "3.9", "Unknown EID"),
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

/// Both bindings over mutual TLS on localhost with the SM-DP's TLS identity; operator mno1.
async fn start(p: &TestPki) -> (String, Arc<Echo>) {
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
    let echo = Arc::new(Echo::default());
    let services = vec![echo.clone() as Arc<dyn FunctionService>];
    let json = HttpState::new(HttpConfig::default(), services.clone(), store.clone());
    let soap = SoapState::new(SoapConfig::default(), services, store);
    let app = esim_http::router(json).merge(esim_soap::routes(soap));
    let tls = ServerTls::new(
        p.smdp.tls_cert.to_pem().unwrap().into_bytes(),
        p.smdp.tls_key.to_pkcs8_pem().unwrap().as_bytes().to_vec(),
    )
    .require_client_certificates(p.tls_ca.cert.to_pem().unwrap().into_bytes());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move {
        serve_tls_router(app, listener, &tls, std::future::pending())
            .await
            .unwrap()
    });
    (base, echo)
}

fn get_eis() -> AnyRequest {
    let eid = esim_codec::ids::Eid::from_body("890490320000000000000000000012").unwrap();
    let j = json!({
        "Header": {"FunctionRequesterIdentifier": "mno1", "FunctionCallIdentifier": "tls-1"},
        "Body": {"Eid": eid.to_string(), "Smsr-id": "SMSR-A"}
    });
    decode_request(Function::Es2GetEis, &j.to_string()).unwrap()
}

fn http(p: &TestPki, identity: Option<(Vec<u8>, Vec<u8>)>) -> reqwest::Client {
    TlsOptions {
        root_certificates_pem: vec![p.tls_ca.cert.to_pem().unwrap().into_bytes()],
        client_identity_pem: identity,
    }
    .http_client()
    .unwrap()
}

#[tokio::test]
async fn soap_over_mutual_tls() {
    let p = pki();
    let (base, echo) = start(&p).await;
    // The operator's own certificate: answered (GetEIS Failed 8.1.1/3.9 from the service).
    let good = SoapFunctionClient::with_http_client(
        &base,
        "tok-mno",
        http(&p, Some(client_identity("mno1", &p.tls_ca))),
    );
    let v = good
        .call(&get_eis(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(v["Header"]["FunctionExecutionStatus"]["Status"], "Failed");
    assert_eq!(echo.0.lock().unwrap().as_slice(), ["mno1"]);

    // The WSDL names the https endpoint.
    let wsdl = http(&p, Some(client_identity("mno1", &p.tls_ca)))
        .get(format!("{base}/soap/ES2?wsdl"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(wsdl.contains(&format!("{base}/soap/ES2")), "{wsdl}");

    // Another party's valid certificate with mno1's token: a Sender/Forbidden fault, 403.
    let other = SoapFunctionClient::with_http_client(
        &base,
        "tok-mno",
        http(&p, Some(client_identity("mno2", &p.tls_ca))),
    );
    match other.call(&get_eis(), Duration::from_secs(10)).await {
        Err(ClientError::Refused { status, message }) => {
            assert_eq!(status, 403);
            assert!(message.starts_with("Forbidden:"), "{message}");
            assert!(message.contains("CN=mno2"), "{message}");
        }
        r => panic!("expected a Forbidden fault, got {r:?}"),
    }
    // No client certificate, or one of another CA: no TLS session at all.
    let foreign = pki();
    for identity in [None, Some(client_identity("mno1", &foreign.tls_ca))] {
        let c = SoapFunctionClient::with_http_client(&base, "tok-mno", http(&p, identity));
        assert!(matches!(
            c.call(&get_eis(), Duration::from_secs(10)).await,
            Err(ClientError::Transport(_))
        ));
    }
    assert_eq!(echo.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn soap_callbacks_over_mutual_tls() {
    use esim_service::{Callback, Callbacks};
    use esim_soap::{SoapCallbacks, SoapEndpoint};
    let p = pki();
    let (base, echo) = start(&p).await;
    let endpoints = |token: &str| {
        std::collections::HashMap::from([(
            "mno1".to_string(),
            SoapEndpoint {
                base_url: base.clone(),
                token: token.into(),
                reply_url: None,
            },
        )])
    };
    let notification = || {
        let eid = esim_codec::ids::Eid::from_body("890490320000000000000000000012").unwrap();
        let iccid = esim_codec::ids::Iccid::with_luhn("894400000000000001").unwrap();
        let j = json!({
            "Header": {"FunctionRequesterIdentifier": "mno1", "FunctionCallIdentifier": "n-1"},
            "Body": {"Eid": eid.to_string(), "Iccid": iccid.to_string(),
                     "CompletionTimeStamp": "2026-11-26T00:00:00Z"}
        });
        Callback::Notification(
            decode_request(
                Function::Es2HandleProfileEnabledNotification,
                &j.to_string(),
            )
            .unwrap(),
        )
    };
    // Delivered with the operator's client certificate (the server requires one).
    let with = SoapCallbacks::new(endpoints("tok-mno"))
        .with_http_client(http(&p, Some(client_identity("mno1", &p.tls_ca))));
    with.deliver("mno1", notification()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), async {
        while echo.0.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("notification delivered");
    assert_eq!(echo.0.lock().unwrap().as_slice(), ["mno1"]);
}
