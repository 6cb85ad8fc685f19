//! SCP81 client and server on loopback (127.0.0.1:0), each test bounded in time.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use esim_codec::ids::{Aid, Eid, Tar};
use esim_crypto::SecretKey;
use esim_scp81::CipherSuite;
use esim_scp81::admin::{AdminStep, CardContent, CardPost, PskIdentity, ScriptStatus};
use esim_scp81::client::{AdminReply, AdminRequest, ClientConfig, ClientError, run_admin_session};
use esim_scp81::server::{
    AdminHandler, MemoryPskStore, ServerConfig, SessionInfo, SessionOutcome, run,
};
use openssl::ssl::{Ssl, SslContext, SslMethod, SslVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::timeout;
use tokio_openssl::SslStream;

const LIMIT: Duration = Duration::from_secs(20);
const KEY: [u8; 16] = [
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF, 0x01,
];

fn eid() -> Eid {
    Eid::from_body("890490320000000000000000000123").expect("eid")
}

fn identity() -> PskIdentity {
    PskIdentity::new(eid(), 0x40, 0x01)
}

#[derive(Default)]
struct Scripted {
    steps: Mutex<VecDeque<AdminStep>>,
    posts: Mutex<Vec<(SessionInfo, CardPost)>>,
    ends: Mutex<Vec<SessionOutcome>>,
}

impl Scripted {
    fn new(steps: Vec<AdminStep>) -> Arc<Self> {
        Arc::new(Scripted {
            steps: Mutex::new(steps.into()),
            ..Default::default()
        })
    }
    fn posts(&self) -> Vec<(SessionInfo, CardPost)> {
        self.posts.lock().expect("lock").clone()
    }
    fn ends(&self) -> Vec<SessionOutcome> {
        self.ends.lock().expect("lock").clone()
    }
}

impl AdminHandler for Scripted {
    fn on_post(
        &self,
        session: &SessionInfo,
        post: CardPost,
    ) -> impl Future<Output = AdminStep> + Send {
        self.posts
            .lock()
            .expect("lock")
            .push((session.clone(), post));
        let step = self
            .steps
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or(AdminStep::Poll { next_uri: None });
        async move { step }
    }

    fn on_session_end(&self, _session: &SessionInfo, outcome: &SessionOutcome) {
        self.ends.lock().expect("lock").push(outcome.clone());
    }
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), esim_scp81::server::ServerError>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        timeout(LIMIT, &mut self.task)
            .await
            .expect("server stops in time")
            .expect("join")
            .expect("server result");
    }
}

async fn start(
    handler: Arc<Scripted>,
    tweak: impl FnOnce(&mut ServerConfig<Arc<MemoryPskStore>, Arc<Scripted>>),
) -> Running {
    let store = Arc::new(MemoryPskStore::new());
    store.insert(identity(), SecretKey::new(&KEY));
    let mut config = ServerConfig::new("/gp/admin", store, handler);
    config.handshake_timeout = Duration::from_secs(5);
    config.request_timeout = Duration::from_secs(5);
    config.session_timeout = Duration::from_secs(15);
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(run(config, listener, async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        task,
    }
}

fn client_config(addr: SocketAddr) -> ClientConfig {
    let mut c = ClientConfig::new(
        addr,
        "smsr.example",
        "/gp/admin",
        identity(),
        SecretKey::new(&KEY),
    );
    c.connect_timeout = Duration::from_secs(5);
    c.exchange_timeout = Duration::from_secs(5);
    c.session_timeout = Duration::from_secs(15);
    c
}

/// A card that answers every script with `90 00` ‖ the script, `unknown-application` when the
/// script is targeted at an ISD-P.
fn card(seen: Arc<Mutex<Vec<AdminRequest>>>) -> impl FnMut(AdminRequest) -> AdminReply {
    move |req: AdminRequest| {
        seen.lock().expect("lock").push(req.clone());
        let mut body = vec![0x90, 0x00];
        body.extend_from_slice(&req.script);
        AdminReply {
            status: if req.targeted.is_some() {
                ScriptStatus::UnknownApplication
            } else {
                ScriptStatus::Ok
            },
            body: Bytes::from(body),
        }
    }
}

fn script(n: u8) -> Bytes {
    // A TS 102 226 expanded-format command script shape: AE 80 … (indefinite) with a C-APDU.
    Bytes::from(vec![
        0xAE, 0x80, 0x22, 0x05, 0x80, 0xCA, 0x00, n, 0x00, 0x00, 0x00,
    ])
}

#[tokio::test]
async fn full_session_three_scripts_one_targeted() {
    timeout(LIMIT, async {
        let isd_p = Aid::isd_p(Tar([0x00, 0x00, 0x10]));
        let h = Scripted::new(vec![
            AdminStep::Script {
                targeted: None,
                script: script(1),
                next_uri: None,
            },
            AdminStep::Script {
                targeted: Some(isd_p.clone()),
                script: script(2),
                next_uri: None,
            },
            AdminStep::Script {
                targeted: None,
                script: script(3),
                next_uri: Some("/gp/admin/last?step=3".into()),
            },
            AdminStep::End,
        ]);
        let server = start(h.clone(), |_| {}).await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut cfg = client_config(server.addr);
        cfg.chunk_size = 3; // several chunks per body
        let report = run_admin_session(&cfg, &eid(), card(seen.clone()))
            .await
            .expect("session");
        assert_eq!(report.exchanges, 4);
        assert_eq!(report.scripts, 3);
        assert_eq!(report.tls_version, "TLSv1.2");
        assert_eq!(report.cipher, "TLS_PSK_WITH_AES_128_GCM_SHA256");

        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].targeted, None);
        assert_eq!(seen[1].targeted, Some(isd_p.clone()));
        assert_eq!(seen[2].script, script(3));

        let posts = h.posts();
        assert_eq!(posts.len(), 4);
        let paths: Vec<&str> = posts.iter().map(|(_, p)| p.request.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/gp/admin",
                "/gp/admin/1",
                "/gp/admin/2",
                "/gp/admin/last?step=3"
            ]
        );
        for (i, (info, post)) in posts.iter().enumerate() {
            assert_eq!(info.identity, identity());
            assert_eq!(info.cipher, "TLS_PSK_WITH_AES_128_GCM_SHA256");
            assert_eq!(post.exchange, i as u32);
            assert_eq!(post.request.host, "smsr.example");
            assert_eq!(post.request.from.eid, eid());
            assert_eq!(post.request.from.agent, Aid::isd_r());
            assert!(!post.request.resume);
        }
        assert_eq!(posts[0].1.request.content, CardContent::Open);
        let expect = |st: ScriptStatus, n: u8| {
            let mut b = vec![0x90, 0x00];
            b.extend_from_slice(&script(n));
            CardContent::Result {
                status: st,
                body: Bytes::from(b),
            }
        };
        assert_eq!(posts[1].1.request.content, expect(ScriptStatus::Ok, 1));
        assert_eq!(
            posts[2].1.request.content,
            expect(ScriptStatus::UnknownApplication, 2)
        );
        assert_eq!(posts[3].1.request.content, expect(ScriptStatus::Ok, 3));
        server.stop().await;
        let ends = h.ends();
        assert_eq!(ends.len(), 1);
        assert!(
            matches!(&ends[0], SessionOutcome::Ended(e) if e.exchanges == 4 && e.scripts == 3),
            "{ends:?}"
        );
    })
    .await
    .expect("in time");
}

/// SGP.02 HTTPS notification (digest §3.3): the first `POST` goes to `/gp/admin?msg=<HEX>`,
/// the handler gets the bytes, answers with a script, and the result `POST` carries no `msg`.
#[tokio::test]
async fn notification_rides_on_the_first_post() {
    timeout(LIMIT, async {
        let h = Scripted::new(vec![
            AdminStep::Script {
                targeted: None,
                script: script(1),
                next_uri: None,
            },
            AdminStep::End,
        ]);
        let server = start(h.clone(), |_| {}).await;
        let mut cfg = client_config(server.addr);
        let e1 = vec![0xE1, 0x05, 0x4D, 0x01, 0x01, 0x4E, 0x00];
        cfg.notification = Some(e1.clone());
        let report = run_admin_session(&cfg, &eid(), card(Arc::new(Mutex::new(Vec::new()))))
            .await
            .expect("session");
        assert_eq!((report.exchanges, report.scripts), (2, 1));
        let posts = h.posts();
        assert_eq!(posts.len(), 2);
        assert_eq!(posts[0].1.notification(), Some(&e1[..]));
        assert_eq!(posts[0].1.request.path, "/gp/admin");
        assert_eq!(posts[1].1.notification(), None);
        assert_eq!(posts[1].1.request.path, "/gp/admin/1");
        server.stop().await;
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn both_cipher_suites_and_no_common_suite() {
    timeout(LIMIT, async {
        for suite in CipherSuite::ALL {
            let h = Scripted::new(vec![AdminStep::End]);
            let server = start(h.clone(), |_| {}).await;
            let mut cfg = client_config(server.addr);
            cfg.cipher_suites = vec![suite];
            cfg.resume = true;
            let report = run_admin_session(&cfg, &eid(), card(Arc::default()))
                .await
                .expect("session");
            assert_eq!(report.cipher, suite.iana_name());
            assert_eq!((report.exchanges, report.scripts), (1, 0));
            assert!(h.posts()[0].1.request.resume, "X-Admin-Resume: true seen");
            server.stop().await;
        }
        let h = Scripted::new(vec![AdminStep::End]);
        let server = start(h.clone(), |c| {
            c.cipher_suites = vec![CipherSuite::PskAes128GcmSha256]
        })
        .await;
        let mut cfg = client_config(server.addr);
        cfg.cipher_suites = vec![CipherSuite::PskAes128CbcSha256];
        let e = run_admin_session(&cfg, &eid(), card(Arc::default()))
            .await
            .expect_err("no common suite");
        assert!(matches!(e, ClientError::Handshake(_)), "{e}");
        assert!(h.posts().is_empty());
        server.stop().await;
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn wrong_psk_and_unknown_identity_fail_the_handshake() {
    timeout(LIMIT, async {
        let h = Scripted::new(vec![AdminStep::End]);
        let server = start(h.clone(), |_| {}).await;

        let mut wrong_key = client_config(server.addr);
        wrong_key.psk = SecretKey::new(&[0x42; 16]);
        let e = run_admin_session(&wrong_key, &eid(), card(Arc::default()))
            .await
            .expect_err("wrong key");
        assert!(matches!(e, ClientError::Handshake(_)), "{e}");

        let mut unknown = client_config(server.addr);
        unknown.identity = PskIdentity::new(eid(), 0x41, 0x01);
        let e = run_admin_session(&unknown, &eid(), card(Arc::default()))
            .await
            .expect_err("unknown identity");
        assert!(matches!(e, ClientError::Handshake(_)), "{e}");

        // An identity that is not an SGP.02 identity at all.
        let e = raw_client(server.addr, b"not-an-sgp02-identity", &KEY, b"")
            .await
            .expect_err("garbage identity");
        assert!(e.contains("handshake"), "{e}");

        assert!(h.posts().is_empty(), "handler never called");
        server.stop().await;
        assert!(h.ends().is_empty());
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn no_content_ends_and_poll_continues() {
    timeout(LIMIT, async {
        let h = Scripted::new(vec![
            AdminStep::Poll { next_uri: None },
            AdminStep::Script {
                targeted: None,
                script: script(9),
                next_uri: None,
            },
            AdminStep::End,
        ]);
        let server = start(h.clone(), |_| {}).await;
        let report = run_admin_session(&client_config(server.addr), &eid(), card(Arc::default()))
            .await
            .expect("session");
        assert_eq!((report.exchanges, report.scripts), (3, 1));
        let posts = h.posts();
        assert_eq!(posts[1].1.request.content, CardContent::Open);
        assert_eq!(posts[1].1.request.path, "/gp/admin/1");
        server.stop().await;
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn exchange_bounds_hold_on_both_sides() {
    timeout(LIMIT, async {
        // The handler polls forever; the client gives up after its bound.
        let h = Scripted::new(vec![]);
        let server = start(h.clone(), |_| {}).await;
        let mut cfg = client_config(server.addr);
        cfg.max_exchanges = 3;
        let e = run_admin_session(&cfg, &eid(), card(Arc::default()))
            .await
            .expect_err("bounded");
        assert!(e.to_string().contains("more than 3"), "{e}");
        server.stop().await;

        // Server bound below the client's: the server answers 429 and the client reports it.
        let h = Scripted::new(vec![]);
        let server = start(h.clone(), |c| c.max_exchanges = 2).await;
        let e = run_admin_session(&client_config(server.addr), &eid(), card(Arc::default()))
            .await
            .expect_err("server bound");
        assert!(e.to_string().contains("429"), "{e}");
        server.stop().await;
        assert!(matches!(h.ends().as_slice(), [SessionOutcome::Failed(_)]));
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn client_checks_its_eid() {
    let cfg = client_config("127.0.0.1:9".parse().expect("addr"));
    let other = Eid::from_body("890490320000000000000000000124").expect("eid");
    let e = run_admin_session(&cfg, &other, card(Arc::default()))
        .await
        .expect_err("eid mismatch");
    assert!(matches!(e, ClientError::Config(_)), "{e}");
}

// ---- raw peers -------------------------------------------------------------------------------

fn psk_server_ctx() -> SslContext {
    let mut b = SslContext::builder(SslMethod::tls_server()).expect("ctx");
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .expect("v");
    b.set_max_proto_version(Some(SslVersion::TLS1_2))
        .expect("v");
    b.set_cipher_list("PSK-AES128-GCM-SHA256").expect("ciphers");
    b.set_psk_server_callback(|_ssl, _id, psk| {
        psk[..16].copy_from_slice(&KEY);
        Ok(16)
    });
    b.build()
}

/// A PSK-TLS server that reads one request head and answers with `answer` (raw bytes), then
/// closes. Returns the request head it saw.
async fn raw_server(answer: &'static [u8]) -> (SocketAddr, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let ssl = Ssl::new(&psk_server_ctx()).expect("ssl");
        let mut s = SslStream::new(ssl, tcp).expect("stream");
        Pin::new(&mut s).accept().await.expect("handshake");
        let mut head = Vec::new();
        let mut buf = [0u8; 512];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        s.write_all(answer).await.expect("write");
        let _ = s.shutdown().await;
        String::from_utf8_lossy(&head).to_string()
    });
    (addr, task)
}

/// A PSK-TLS client that sends `request` and returns everything the server sends until it
/// closes; `Err` mentions "handshake" if the handshake fails.
async fn raw_client(
    addr: SocketAddr,
    identity: &'static [u8],
    key: &'static [u8; 16],
    request: &[u8],
) -> Result<String, String> {
    let mut b = SslContext::builder(SslMethod::tls_client()).expect("ctx");
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .expect("v");
    b.set_max_proto_version(Some(SslVersion::TLS1_2))
        .expect("v");
    b.set_cipher_list("PSK-AES128-GCM-SHA256").expect("ciphers");
    b.set_psk_client_callback(move |_ssl, _hint, id, psk| {
        id[..identity.len()].copy_from_slice(identity);
        id[identity.len()] = 0;
        psk[..16].copy_from_slice(key);
        Ok(16)
    });
    let ctx = b.build();
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let mut s = SslStream::new(Ssl::new(&ctx).expect("ssl"), tcp).expect("stream");
    Pin::new(&mut s)
        .connect()
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    s.write_all(request).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    Ok(String::from_utf8_lossy(&out).to_string())
}

#[tokio::test]
async fn client_posts_chunked_and_survives_garbage() {
    timeout(LIMIT, async {
        let (addr, seen) = raw_server(b"this is not HTTP at all\r\n\r\n").await;
        let mut cfg = client_config(addr);
        cfg.cipher_suites = vec![CipherSuite::PskAes128GcmSha256];
        let e = run_admin_session(&cfg, &eid(), card(Arc::default()))
            .await
            .expect_err("garbage");
        assert!(matches!(e, ClientError::Http(_)), "{e}");
        let head = seen.await.expect("server").to_ascii_lowercase();
        assert!(head.starts_with("post /gp/admin http/1.1\r\n"), "{head}");
        assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
        assert!(head.contains("x-admin-protocol: globalplatform-remote-admin/1.0\r\n"));
        assert!(head.contains(&format!(
            "x-admin-from: //se-id/eid/{};//aa-id/aid/a000000559/1010ffffffff8900000100\r\n",
            eid()
        )));
        assert!(head.contains("host: smsr.example\r\n"));

        // A 200 without X-Admin-Next-URI is a protocol error.
        let (addr, _) = raw_server(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.globalplatform.card-content-mgt;version=1.0\r\nContent-Length: 2\r\n\r\n\x01\x02",
        )
        .await;
        let e = run_admin_session(&client_config(addr), &eid(), card(Arc::default()))
            .await
            .expect_err("no next uri");
        assert!(e.to_string().contains("X-Admin-Next-URI"), "{e}");

        // Oversized script.
        let (addr, _) = raw_server(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.globalplatform.card-content-mgt;version=1.0\r\nX-Admin-Next-URI: /n\r\nContent-Length: 100\r\n\r\n0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789",
        )
        .await;
        let mut cfg = client_config(addr);
        cfg.max_script_len = 10;
        let e = run_admin_session(&cfg, &eid(), card(Arc::default()))
            .await
            .expect_err("too long");
        assert!(matches!(e, ClientError::ScriptTooLong(10)), "{e}");

        // A plain-TCP peer that talks no TLS.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            if let Ok((mut tcp, _)) = listener.accept().await {
                let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let e = run_admin_session(&client_config(addr), &eid(), card(Arc::default()))
            .await
            .expect_err("no TLS");
        assert!(matches!(e, ClientError::Handshake(_)), "{e}");
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn server_answers_malformed_requests_with_errors_and_closes() {
    timeout(LIMIT, async {
        let h = Scripted::new(vec![AdminStep::End]);
        let server = start(h.clone(), |c| c.max_body = 64).await;
        let id: &'static [u8] = Box::leak(identity().to_wire().into_bytes().into_boxed_slice());

        let out = raw_client(server.addr, id, &KEY, b"\x00\x01garbage\r\n\r\n")
            .await
            .expect("tls ok");
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");

        let out = raw_client(
            server.addr,
            id,
            &KEY,
            b"POST /gp/admin HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        )
        .await
        .expect("tls ok");
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        assert!(out.contains("X-Admin-Protocol"), "{out}");
        assert!(out.to_ascii_lowercase().contains("connection: close"), "{out}");

        let from = format!("//se-id/eid/{};//aa-id/aid/A000000559/1010FFFFFFFF8900000100", eid());
        let big = format!(
            "POST /gp/admin HTTP/1.1\r\nHost: x\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\nX-Admin-From: {from}\r\nX-Admin-Script-Status: ok\r\nContent-Type: application/vnd.globalplatform.card-content-mgt-response;version=1.0\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n{}\r\n0\r\n\r\n",
            "A".repeat(0x50)
        );
        let out = raw_client(server.addr, id, &KEY, big.as_bytes())
            .await
            .expect("tls ok");
        assert!(out.starts_with("HTTP/1.1 413"), "{out}");

        let wrong_eid = format!(
            "POST /gp/admin HTTP/1.1\r\nHost: x\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\nX-Admin-From: //se-id/eid/{};//aa-id/aid/A000000559/1010FFFFFFFF8900000100\r\nContent-Length: 0\r\n\r\n",
            Eid::from_body("890490320000000000000000000124").expect("eid")
        );
        let out = raw_client(server.addr, id, &KEY, wrong_eid.as_bytes())
            .await
            .expect("tls ok");
        assert!(out.starts_with("HTTP/1.1 403"), "{out}");

        let wrong_uri = format!(
            "POST /elsewhere HTTP/1.1\r\nHost: x\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\nX-Admin-From: {from}\r\nContent-Length: 0\r\n\r\n"
        );
        let out = raw_client(server.addr, id, &KEY, wrong_uri.as_bytes())
            .await
            .expect("tls ok");
        assert!(out.starts_with("HTTP/1.1 404"), "{out}");

        // The notification parameter: malformed hex is 400, another query is 404.
        for (target, status) in [
            ("/gp/admin?msg=E1G0", "400"),
            ("/gp/admin?msg=E10", "400"),
            ("/gp/admin?msg=E100&x=1", "400"),
            ("/gp/admin?x=E100", "404"),
        ] {
            let req = format!(
                "POST {target} HTTP/1.1\r\nHost: x\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\nX-Admin-From: {from}\r\nContent-Length: 0\r\n\r\n"
            );
            let out = raw_client(server.addr, id, &KEY, req.as_bytes())
                .await
                .expect("tls ok");
            assert!(out.starts_with(&format!("HTTP/1.1 {status}")), "{target}: {out}");
        }

        assert!(h.posts().is_empty(), "no malformed post reached the handler");
        server.stop().await;
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn one_session_per_eid_and_shutdown_cuts_idle_sessions() {
    timeout(LIMIT, async {
        let h = Scripted::new(vec![]);
        let server = start(h.clone(), |c| c.shutdown_grace = Duration::from_millis(200)).await;
        let id: &'static [u8] = Box::leak(identity().to_wire().into_bytes().into_boxed_slice());
        // First connection: handshake, then idle (holds the session).
        let ctx = {
            let mut b = SslContext::builder(SslMethod::tls_client()).expect("ctx");
            b.set_max_proto_version(Some(SslVersion::TLS1_2))
                .expect("v");
            b.set_cipher_list("PSK-AES128-GCM-SHA256").expect("c");
            b.set_psk_client_callback(move |_s, _h, idb, psk| {
                idb[..id.len()].copy_from_slice(id);
                idb[id.len()] = 0;
                psk[..16].copy_from_slice(&KEY);
                Ok(16)
            });
            b.build()
        };
        let tcp = TcpStream::connect(server.addr).await.expect("tcp");
        let mut first = SslStream::new(Ssl::new(&ctx).expect("ssl"), tcp).expect("s");
        Pin::new(&mut first).connect().await.expect("handshake");
        // Open the session and wait for the answer, so the server holds it for this EID.
        let open = format!(
            "POST /gp/admin HTTP/1.1\r\nHost: x\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\nX-Admin-From: //se-id/eid/{};//aa-id/aid/A000000559/1010FFFFFFFF8900000100\r\nContent-Length: 0\r\n\r\n",
            eid()
        );
        first.write_all(open.as_bytes()).await.expect("write");
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = first.read(&mut buf).await.expect("read");
            assert!(n > 0, "server closed the first session");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 204"), "{}", String::from_utf8_lossy(&got));
        // Second session for the same EID while the first is open: closed without HTTP.
        let out = raw_client(
            server.addr,
            id,
            &KEY,
            b"POST /gp/admin HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        match out {
            Ok(text) => assert!(text.is_empty(), "{text}"),
            Err(e) => assert!(!e.starts_with("handshake"), "{e}"),
        }
        server.stop().await;
        // The idle session was cut by the shutdown: reading gives EOF or an error.
        let mut buf = [0u8; 16];
        let n = timeout(Duration::from_secs(5), first.read(&mut buf))
            .await
            .expect("closed in time")
            .unwrap_or(0);
        assert_eq!(n, 0);
    })
    .await
    .expect("in time");
}

/// An independent PSK-TLS peer: the system `openssl s_client` talks to our server.
#[tokio::test]
async fn openssl_s_client_interop() {
    let have = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !have {
        println!("SKIP: no openssl binary on PATH");
        return;
    }
    timeout(LIMIT, async {
        for suite in CipherSuite::ALL {
            let h = Scripted::new(vec![
                AdminStep::Script {
                    targeted: None,
                    script: Bytes::from_static(b"\x80\xCA\x00\x5A\x00"),
                    next_uri: Some("/gp/admin/next".into()),
                },
                AdminStep::End,
            ]);
            let server = start(h.clone(), |_| {}).await;
            let from =
                format!("//se-id/eid/{};//aa-id/aid/A000000559/1010FFFFFFFF8900000100", eid());
            let input = format!(
                "POST /gp/admin HTTP/1.1\r\nHost: smsr\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\nX-Admin-From: {from}\r\nContent-Length: 0\r\n\r\n\
                 POST /gp/admin/next HTTP/1.1\r\nHost: smsr\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\nX-Admin-From: {from}\r\nX-Admin-Script-Status: ok\r\nContent-Type: application/vnd.globalplatform.card-content-mgt-response;version=1.0\r\nContent-Length: 2\r\n\r\n"
            );
            let mut input = input.into_bytes();
            input.extend_from_slice(&[0x90, 0x00]);
            let mut child = tokio::process::Command::new("openssl")
                .args([
                    "s_client",
                    "-connect",
                    &server.addr.to_string(),
                    "-tls1_2",
                    "-cipher",
                    suite.openssl_name(),
                    "-psk",
                    &esim_codec::hex::encode(&KEY),
                    "-psk_identity",
                    &identity().to_wire(),
                    "-quiet",
                    "-ign_eof",
                ])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn openssl");
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(&input).await.expect("write");
            drop(stdin);
            let out = timeout(Duration::from_secs(15), child.wait_with_output())
                .await
                .expect("s_client finishes")
                .expect("output");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
            assert!(text.contains("X-Admin-Next-Uri: /gp/admin/next\r\n"), "{text}");
            assert!(text.contains("Transfer-Encoding: chunked\r\n"), "{text}");
            assert!(text.contains("HTTP/1.1 204 No Content\r\n"), "{text}");
            let posts = h.posts();
            assert_eq!(posts.len(), 2);
            assert_eq!(posts[0].0.cipher, suite.iana_name());
            assert_eq!(posts[1].1.status(), Some(ScriptStatus::Ok));
            assert_eq!(&posts[1].1.body()[..], &[0x90, 0x00]);
            server.stop().await;
        }
    })
    .await
    .expect("in time");
}
