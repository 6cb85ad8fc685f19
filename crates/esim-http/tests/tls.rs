//! The binding's clients over HTTPS (OpenSSL, vendored): a private CA, a server certificate
//! for 127.0.0.1, mutual TLS with a client certificate; the server side is `serve_tls`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use esim_http::{
    Endpoint, HttpCallbacks, HttpConfig, HttpFunctionClient, HttpState, RetryPolicy, ServerTls,
    TlsOptions, serve_tls,
};
use esim_proto::common::FunctionExecutionStatus;
use esim_proto::function::{AnyRequest, Function, decode_request};
use esim_service::{
    CallOutcome, Callback, Callbacks, Caller, ClientError, FunctionClient, FunctionService,
    ServiceError, response,
};
use esim_store::{MemoryStore, OperationId, OperatorRecord, OperatorStore, Timestamp, hash_token};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509NameBuilder};
use serde_json::json;

fn key() -> PKey<Private> {
    let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap()
}

/// A certificate for `cn`: a CA when `issuer` is `None` (self-signed), else a leaf signed by
/// it (server: SAN 127.0.0.1, client: clientAuth).
fn cert(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    server: bool,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map(|(c, _)| c.subject_name()).unwrap_or(&name))
        .unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(7).unwrap())
        .unwrap();
    match issuer {
        None => {
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()
                    .unwrap(),
            )
            .unwrap();
        }
        Some((ca, _)) => {
            b.append_extension(BasicConstraints::new().build().unwrap())
                .unwrap();
            if server {
                let san = SubjectAlternativeName::new()
                    .ip("127.0.0.1")
                    .dns("localhost")
                    .build(&b.x509v3_context(Some(ca), None))
                    .unwrap();
                b.append_extension(san).unwrap();
                b.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
                    .unwrap();
            } else {
                b.append_extension(ExtendedKeyUsage::new().client_auth().build().unwrap())
                    .unwrap();
            }
        }
    }
    let signer = issuer.map(|(_, k)| k).unwrap_or(key);
    b.sign(signer, MessageDigest::sha256()).unwrap();
    b.build()
}

struct Pki {
    ca: X509,
    server: (X509, PKey<Private>),
    client_pem: (Vec<u8>, Vec<u8>),
    other_ca: X509,
}

fn pki() -> Pki {
    let ca_key = key();
    let ca = cert("test CA", &ca_key, None, false);
    let sk = key();
    let server = cert("127.0.0.1", &sk, Some((&ca, &ca_key)), true);
    let ck = key();
    let client = cert("smdp1", &ck, Some((&ca, &ca_key)), false);
    let other_ca = cert("other CA", &key(), None, false);
    Pki {
        client_pem: (
            client.to_pem().unwrap(),
            ck.private_key_to_pem_pkcs8().unwrap(),
        ),
        ca,
        server: (server, sk),
        other_ca,
    }
}

#[derive(Debug, Default)]
struct Echo(Mutex<Vec<Function>>);

#[async_trait]
impl FunctionService for Echo {
    fn functions(&self) -> Vec<Function> {
        vec![
            Function::Es3GetEis,
            Function::Es2HandleProfileEnabledNotification,
        ]
    }
    async fn call(
        &self,
        _: &Caller,
        r: AnyRequest,
        _: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        self.0.lock().unwrap().push(r.function());
        Ok(CallOutcome::Done(response(
            Timestamp(0),
            Timestamp(1),
            FunctionExecutionStatus::success(),
            Some(json!({"Over": "TLS"})),
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

/// Serves the binding with `serve_tls` on 127.0.0.1; with `require_client_cert` the client
/// must present a certificate of the CA.
async fn start_tls(p: &Pki, require_client_cert: bool) -> (String, Arc<Echo>) {
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
    let echo = Arc::new(Echo::default());
    let state = HttpState::new(
        HttpConfig::default(),
        vec![echo.clone() as Arc<dyn FunctionService>],
        store,
    );
    let tls = ServerTls {
        certificate_chain_pem: p.server.0.to_pem().unwrap(),
        private_key_pem: p.server.1.private_key_to_pem_pkcs8().unwrap(),
        client_ca_pem: require_client_cert.then(|| p.ca.to_pem().unwrap()),
        client_certificate_optional: false,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        serve_tls(state, listener, &tls, std::future::pending())
            .await
            .unwrap()
    });
    (base, echo)
}

fn get_eis() -> AnyRequest {
    let eid = esim_codec::ids::Eid::from_body("890490320000000000000000000012").unwrap();
    decode_request(
        Function::Es3GetEis,
        &json!({
            "Header": {"FunctionRequesterIdentifier": "smdp1", "FunctionCallIdentifier": "tls-1"},
            "Body": {"Eid": eid.to_string()}
        })
        .to_string(),
    )
    .unwrap()
}

#[tokio::test]
async fn https_with_a_private_ca() {
    let p = pki();
    let (base, _) = start_tls(&p, false).await;
    let trusted = TlsOptions {
        root_certificates_pem: vec![p.ca.to_pem().unwrap()],
        client_identity_pem: None,
    };
    let c = HttpFunctionClient::with_tls(&base, "tok-smdp", &trusted).unwrap();
    let v = c.call(&get_eis(), Duration::from_secs(10)).await.unwrap();
    assert_eq!(v["Body"]["Over"], "TLS");
    // Not trusted: the system store does not know the test CA, nor does another CA.
    for tls in [
        TlsOptions::default(),
        TlsOptions {
            root_certificates_pem: vec![p.other_ca.to_pem().unwrap()],
            client_identity_pem: None,
        },
    ] {
        let c = HttpFunctionClient::with_tls(&base, "tok-smdp", &tls).unwrap();
        assert!(matches!(
            c.call(&get_eis(), Duration::from_secs(10)).await,
            Err(ClientError::Transport(_))
        ));
    }
    // Plain HTTP to a TLS port is not a response either.
    let plain = HttpFunctionClient::new(&base.replace("https", "http"), "tok-smdp").unwrap();
    assert!(
        plain
            .call(&get_eis(), Duration::from_secs(10))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let p = pki();
    let (base, echo) = start_tls(&p, true).await;
    let root = vec![p.ca.to_pem().unwrap()];
    let without = HttpFunctionClient::with_tls(
        &base,
        "tok-smdp",
        &TlsOptions {
            root_certificates_pem: root.clone(),
            client_identity_pem: None,
        },
    )
    .unwrap();
    assert!(matches!(
        without.call(&get_eis(), Duration::from_secs(10)).await,
        Err(ClientError::Transport(_))
    ));
    assert!(echo.0.lock().unwrap().is_empty());
    let tls = TlsOptions {
        root_certificates_pem: root,
        client_identity_pem: Some(p.client_pem.clone()),
    };
    let debug = format!("{tls:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    let with = HttpFunctionClient::with_tls(&base, "tok-smdp", &tls).unwrap();
    let v = with
        .call(&get_eis(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(v["Body"]["Over"], "TLS");

    // Callbacks over the same mutual TLS.
    let mut parties = HashMap::new();
    parties.insert(
        "mno1".to_string(),
        Endpoint {
            base_url: base.clone(),
            token: "tok-smdp".into(),
        },
    );
    let cb = HttpCallbacks::with_tls(
        parties,
        RetryPolicy {
            base_delay: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
        &tls,
    )
    .unwrap();
    let AnyRequest::Es3GetEis(rq) = get_eis() else {
        unreachable!()
    };
    let notif = AnyRequest::Es2HandleProfileEnabledNotification(esim_proto::common::Request {
        header: rq.header,
        body: serde_json::from_value(json!({
            "Eid": rq.body.eid.to_string(),
            "Iccid": esim_codec::ids::Iccid::with_luhn("894400000000000001").unwrap().to_string(),
            "CompletionTimeStamp": "2026-11-26T00:00:00Z"
        }))
        .unwrap(),
    });
    cb.deliver("mno1", Callback::Notification(notif))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), async {
        while cb.stats().delivered == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(
        echo.0.lock().unwrap().as_slice(),
        &[
            Function::Es3GetEis,
            Function::Es2HandleProfileEnabledNotification
        ]
    );
}

#[test]
fn unusable_tls_material_is_an_error_not_a_panic() {
    let bad_root = TlsOptions {
        root_certificates_pem: vec![b"not a certificate".to_vec()],
        client_identity_pem: None,
    };
    assert!(HttpFunctionClient::with_tls("https://127.0.0.1:1", "t", &bad_root).is_err());
    let bad_identity = TlsOptions {
        root_certificates_pem: vec![],
        client_identity_pem: Some((b"x".to_vec(), b"y".to_vec())),
    };
    assert!(
        HttpCallbacks::with_tls(HashMap::new(), RetryPolicy::default(), &bad_identity).is_err()
    );
}

#[tokio::test]
async fn serve_tls_refuses_unusable_material_and_stops_on_shutdown() {
    let p = pki();
    let good = ServerTls {
        certificate_chain_pem: p.server.0.to_pem().unwrap(),
        private_key_pem: p.server.1.private_key_to_pem_pkcs8().unwrap(),
        client_ca_pem: None,
        client_certificate_optional: false,
    };
    let debug = format!("{good:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    let state = || {
        HttpState::new(
            HttpConfig::default(),
            vec![Arc::new(Echo::default()) as Arc<dyn FunctionService>],
            Arc::new(MemoryStore::new()),
        )
    };
    let bind = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let wrong_key = ServerTls {
        private_key_pem: key().private_key_to_pem_pkcs8().unwrap(),
        ..good.clone()
    };
    let no_cert = ServerTls {
        certificate_chain_pem: b"nothing".to_vec(),
        ..good.clone()
    };
    let no_ca = ServerTls {
        client_ca_pem: Some(Vec::new()),
        ..good.clone()
    };
    assert!(good.check().is_ok());
    for bad in [&wrong_key, &no_cert, &no_ca] {
        assert_eq!(
            bad.check().unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
    }
    for bad in [wrong_key, no_cert, no_ca] {
        let e = serve_tls(state(), bind().await, &bad, std::future::pending())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(!e.to_string().contains("PRIVATE KEY"));
    }
    let listener = bind().await;
    let base = format!("https://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve_tls(state(), listener, &good, async {
            let _ = rx.await;
        })
        .await
    });
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&p.ca.to_pem().unwrap()).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        c.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("serve_tls did not stop")
        .unwrap()
        .unwrap();
}

/// A client identity (certificate PEM, PKCS#8 key PEM) for `cn` issued by `ca`.
fn client_identity(cn: &str, ca: (&X509, &PKey<Private>)) -> (Vec<u8>, Vec<u8>) {
    let k = key();
    let c = cert(cn, &k, Some(ca), false);
    (c.to_pem().unwrap(), k.private_key_to_pem_pkcs8().unwrap())
}

/// Like [`start_tls`] but with the CA key at hand (to issue more client certificates) and
/// the client-certificate mode chosen.
async fn start_mtls(optional: bool) -> (String, Arc<Echo>, X509, PKey<Private>) {
    let ca_key = key();
    let ca = cert("test CA", &ca_key, None, false);
    let sk = key();
    let server = cert("127.0.0.1", &sk, Some((&ca, &ca_key)), true);
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
    let echo = Arc::new(Echo::default());
    let state = HttpState::new(
        HttpConfig::default(),
        vec![echo.clone() as Arc<dyn FunctionService>],
        store,
    );
    let tls = ServerTls {
        client_certificate_optional: optional,
        ..ServerTls::new(
            server.to_pem().unwrap(),
            sk.private_key_to_pem_pkcs8().unwrap(),
        )
        .require_client_certificates(ca.to_pem().unwrap())
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        serve_tls(state, listener, &tls, std::future::pending())
            .await
            .unwrap()
    });
    (base, echo, ca, ca_key)
}

fn client(base: &str, ca: &X509, identity: Option<(Vec<u8>, Vec<u8>)>) -> HttpFunctionClient {
    HttpFunctionClient::with_tls(
        base,
        "tok-smdp",
        &TlsOptions {
            root_certificates_pem: vec![ca.to_pem().unwrap()],
            client_identity_pem: identity,
        },
    )
    .unwrap()
}

#[tokio::test]
async fn mutual_tls_refuses_another_ca_and_a_certificate_of_another_party() {
    let (base, echo, ca, ca_key) = start_mtls(false).await;
    // A certificate from another CA, with the right name: the handshake fails.
    let other_key = key();
    let other_ca = cert("other CA", &other_key, None, false);
    let foreign = client(
        &base,
        &ca,
        Some(client_identity("smdp1", (&other_ca, &other_key))),
    );
    assert!(matches!(
        foreign.call(&get_eis(), Duration::from_secs(10)).await,
        Err(ClientError::Transport(_))
    ));
    // A valid certificate of another party with smdp1's token: 403, the function not run.
    let mallory = client(&base, &ca, Some(client_identity("mallory", (&ca, &ca_key))));
    match mallory.call(&get_eis(), Duration::from_secs(10)).await {
        Err(ClientError::Refused { status, message }) => {
            assert_eq!(status, 403);
            assert!(message.contains("CN=mallory"), "{message}");
            assert!(message.contains("smdp1"), "{message}");
        }
        other => panic!("expected 403, got {other:?}"),
    }
    // The operations route applies the same rule.
    let http = TlsOptions {
        root_certificates_pem: vec![ca.to_pem().unwrap()],
        client_identity_pem: Some(client_identity("mallory", (&ca, &ca_key))),
    }
    .http_client()
    .unwrap();
    let r = http
        .get(format!(
            "{base}/api/v1/operations/00000000000000000000000000000000"
        ))
        .bearer_auth("tok-smdp")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(echo.0.lock().unwrap().is_empty());
    // The certificate of the token's party: served.
    let good = client(&base, &ca, Some(client_identity("smdp1", (&ca, &ca_key))));
    let v = good
        .call(&get_eis(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(v["Body"]["Over"], "TLS");
    assert_eq!(echo.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn optional_client_certificates_are_checked_when_presented() {
    let (base, echo, ca, ca_key) = start_mtls(true).await;
    let none = client(&base, &ca, None);
    none.call(&get_eis(), Duration::from_secs(10))
        .await
        .unwrap();
    let mallory = client(&base, &ca, Some(client_identity("mallory", (&ca, &ca_key))));
    assert!(matches!(
        mallory.call(&get_eis(), Duration::from_secs(10)).await,
        Err(ClientError::Refused { status: 403, .. })
    ));
    assert_eq!(echo.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn handshake_garbage_closes_only_that_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (base, _echo, ca, ca_key) = start_mtls(false).await;
    let addr = base.trim_start_matches("https://").to_string();
    // Random bytes, a truncated ClientHello, a plain HTTP request, an immediate close.
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut random = vec![0u8; 4096];
    for b in &mut random {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        *b = rng as u8;
    }
    let inputs: Vec<Vec<u8>> = vec![
        random,
        vec![0x16, 0x03, 0x01, 0xFF, 0xFF, 0x01, 0x00],
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        Vec::new(),
    ];
    for input in inputs {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let _ = s.write_all(&input).await;
        let _ = s.shutdown().await;
        let mut buf = Vec::new();
        // The server answers with a TLS alert at most, then closes.
        let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf)).await;
        assert!(!buf.starts_with(b"HTTP/"), "plain answer to {input:?}");
    }
    // Still serving.
    let good = client(&base, &ca, Some(client_identity("smdp1", (&ca, &ca_key))));
    good.call(&get_eis(), Duration::from_secs(10))
        .await
        .unwrap();
}

#[test]
fn peer_identity_names() {
    let ca_key = key();
    let ca = cert("test CA", &ca_key, None, false);
    let sk = key();
    let server = cert("127.0.0.1", &sk, Some((&ca, &ca_key)), true);
    let id = esim_http::PeerIdentity::from_certificate(&server);
    assert_eq!(id.common_name.as_deref(), Some("127.0.0.1"));
    assert_eq!(id.dns_names, ["localhost"]);
    assert!(id.names_party("LOCALHOST") && id.names_party("127.0.0.1"));
    assert!(!id.names_party("smdp1"));
    let conn = esim_http::TlsConnection { client: Some(id) };
    assert!(esim_http::check_client_identity(Some(&conn), "localhost").is_ok());
    let e = esim_http::check_client_identity(Some(&conn), "smdp1").unwrap_err();
    assert!(e.contains("CN=127.0.0.1, DNS=localhost"), "{e}");
    // Plain HTTP or no certificate: the token alone decides.
    assert!(esim_http::check_client_identity(None, "smdp1").is_ok());
    let anonymous = esim_http::TlsConnection::default();
    assert!(esim_http::check_client_identity(Some(&anonymous), "smdp1").is_ok());
}

#[tokio::test]
async fn issued_certificates_work_for_ip_addresses_and_name_the_client() {
    use esim_http::{TlsCertificateSpec, issue_tls_certificate};
    let ca_key = key();
    let ca = cert("issuing CA", &ca_key, None, false);
    let (ca_pem, ca_key_pem) = (
        ca.to_pem().unwrap(),
        ca_key.private_key_to_pem_pkcs8().unwrap(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let spec = |cn: &str, server: bool| TlsCertificateSpec {
        common_name: cn.into(),
        dns_names: if server {
            vec!["localhost".into()]
        } else {
            vec![]
        },
        ip_addresses: if server {
            vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()]
        } else {
            vec![]
        },
        server,
        not_before_unix: now - 60,
        not_after_unix: now + 86_400,
    };
    let issue = |cn: &str, server: bool| {
        let k = key();
        let pem = issue_tls_certificate(
            &ca_pem,
            &ca_key_pem,
            &k.public_key_to_der().unwrap(),
            &spec(cn, server),
        )
        .unwrap();
        (pem.into_bytes(), k.private_key_to_pem_pkcs8().unwrap())
    };
    // A CA key that is not the certificate's, and garbage: errors without the key.
    let e = issue_tls_certificate(
        &ca_pem,
        &key().private_key_to_pem_pkcs8().unwrap(),
        &key().public_key_to_der().unwrap(),
        &spec("x", false),
    )
    .unwrap_err();
    assert!(matches!(e, esim_http::TlsIssueError::CaKey(_)), "{e}");
    assert!(issue_tls_certificate(b"junk", &ca_key_pem, b"junk", &spec("x", false)).is_err());

    let (server_cert, server_key) = issue("server.test", true);
    let (client_cert, client_key) = issue("smdp1", false);
    let parsed = X509::from_pem(&client_cert).unwrap();
    assert!(parsed.verify(&ca.public_key().unwrap()).unwrap());
    assert_eq!(
        esim_http::PeerIdentity::from_certificate(&parsed)
            .common_name
            .as_deref(),
        Some("smdp1")
    );
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
    let state = HttpState::new(
        HttpConfig::default(),
        vec![Arc::new(Echo::default()) as Arc<dyn FunctionService>],
        store,
    );
    let tls = ServerTls::new(server_cert, server_key).require_client_certificates(ca_pem.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // By IP address: the certificate's iPAddress entry is checked by the client.
    let base = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        serve_tls(state, listener, &tls, std::future::pending())
            .await
            .unwrap()
    });
    let c = HttpFunctionClient::with_tls(
        &base,
        "tok-smdp",
        &TlsOptions {
            root_certificates_pem: vec![ca_pem],
            client_identity_pem: Some((client_cert, client_key)),
        },
    )
    .unwrap();
    let v = c.call(&get_eis(), Duration::from_secs(10)).await.unwrap();
    assert_eq!(v["Body"]["Over"], "TLS");
}
