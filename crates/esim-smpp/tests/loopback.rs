//! ESME ↔ SMSC simulator over real TCP sockets on 127.0.0.1. Every test is bounded in time.

use std::net::SocketAddr;
use std::time::Duration;

use esim_smpp::pdu::{Body, Header, Pdu, command_id};
use esim_smpp::smsc::{Account, Authentication, Impairments, Route, RoutePattern};
use esim_smpp::{
    Address, CommandStatus, Esme, EsmeConfig, EsmeError, EsmeHandle, Incoming, LinkState, Password,
    ReconnectPolicy, RetryPolicy, Sms, Smsc, SmscConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const SMSR_ADDR: &str = "12345";
const DEVICE_MSISDN: &str = "447700900001";
const LIMIT: Duration = Duration::from_secs(30);

struct Server {
    addr: SocketAddr,
    smsc: Smsc,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), esim_smpp::SmscError>>,
}

impl Server {
    async fn start(config: SmscConfig) -> Self {
        Self::start_on(config, "127.0.0.1:0".parse().unwrap()).await
    }

    async fn start_on(config: SmscConfig, addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let smsc = Smsc::new(config).expect("config");
        let (stop, rx) = oneshot::channel::<()>();
        let s = smsc.clone();
        let task = tokio::spawn(async move {
            s.run(listener, async {
                let _ = rx.await;
            })
            .await
        });
        Self {
            addr,
            smsc,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) -> Smsc {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        timeout(LIMIT, self.task)
            .await
            .expect("SMSC stops")
            .expect("join")
            .expect("run ok");
        assert_eq!(self.smsc.metrics().session_panics, 0);
        self.smsc
    }
}

/// Metrics once `done` holds (the last `deliver_sm_resp` may still be in flight), within 2 s.
async fn settled(
    smsc: &Smsc,
    done: impl Fn(&esim_smpp::MetricsSnapshot) -> bool,
) -> esim_smpp::MetricsSnapshot {
    for _ in 0..200 {
        let m = smsc.metrics();
        if done(&m) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    smsc.metrics()
}

fn accounts() -> Authentication {
    Authentication::Accounts(vec![
        Account {
            system_id: "smsr".into(),
            password: Password::new("smsrpw"),
        },
        Account {
            system_id: "device".into(),
            password: Password::new("devpw"),
        },
    ])
}

fn esme_config(addr: SocketAddr, system_id: &str, password: &str, range: &str) -> EsmeConfig {
    let mut c = EsmeConfig::new(addr.to_string(), system_id, Password::new(password));
    c.address_range = Address::international(range);
    c.response_timeout = Duration::from_secs(3);
    c.enquire_link_interval = Duration::from_secs(1);
    c.reconnect = ReconnectPolicy {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(300),
        max_attempts: None,
    };
    c
}

async fn smsr(addr: SocketAddr) -> (EsmeHandle, Incoming) {
    Esme::connect(esme_config(addr, "smsr", "smsrpw", SMSR_ADDR))
        .await
        .expect("smsr binds")
}

async fn device(addr: SocketAddr) -> (EsmeHandle, Incoming) {
    Esme::connect(esme_config(addr, "device", "devpw", DEVICE_MSISDN))
        .await
        .expect("device binds")
}

async fn recv(incoming: &mut Incoming) -> Sms {
    timeout(Duration::from_secs(10), incoming.recv())
        .await
        .expect("message arrives in time")
        .expect("incoming open")
}

/// Nothing arrives within `d`.
async fn assert_silent(incoming: &mut Incoming, d: Duration) {
    if let Ok(Some(sms)) = timeout(d, incoming.recv()).await {
        panic!("unexpected message {sms:?}");
    }
}

fn command_packet(i: u32) -> Vec<u8> {
    // UDH 02 70 00, then a (mock-free) SCP80-shaped packet body: CPL, CHL, SPI, KIc, KID, TAR,
    // CNTR, PCNTR and some APDU bytes carrying the index.
    let mut ud = vec![0x02, 0x70, 0x00, 0x00, 0x1E, 0x0D, 0x16, 0x21, 0x25, 0x25];
    ud.extend_from_slice(&[0x00, 0x00, 0x01, 0, 0, 0, 0, 1, 0]);
    ud.extend_from_slice(&i.to_be_bytes());
    ud.extend_from_slice(&[0x80, 0xE2, 0x91, 0x00, 0x03, 0x3A, 0x07, 0x00]);
    ud
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_sms_both_ways_byte_exact() {
    timeout(LIMIT, async {
        let server = Server::start(SmscConfig {
            authentication: accounts(),
            ..SmscConfig::default()
        })
        .await;
        // A wrong password is refused with ESME_RINVPASWD, an unknown system_id with RINVSYSID.
        let err = Esme::connect(esme_config(server.addr, "smsr", "nope", SMSR_ADDR))
            .await
            .unwrap_err();
        assert!(
            matches!(err, EsmeError::BindRejected(CommandStatus::InvalidPassword)),
            "{err}"
        );
        let err = Esme::connect(esme_config(server.addr, "who", "x", ""))
            .await
            .unwrap_err();
        assert!(
            matches!(err, EsmeError::BindRejected(CommandStatus::InvalidSystemId)),
            "{err}"
        );

        let (smsr, mut smsr_in) = smsr(server.addr).await;
        let (dev, mut dev_in) = device(server.addr).await;

        // SM-SR -> device: command packet, UDH IEI 70.
        let mt = Sms::sim_data_download(
            Address::international(SMSR_ADDR),
            Address::international(DEVICE_MSISDN),
            command_packet(7),
        );
        let id = smsr.submit(&mt).await.expect("submit MT");
        assert!(!id.is_empty());
        let got = recv(&mut dev_in).await;
        assert_eq!(got, mt, "delivered byte-exact");
        assert_eq!(got.esm_class, 0x40);
        assert_eq!(got.protocol_id, 0x7F);
        assert_eq!(got.data_coding, 0xF6);
        assert_eq!(&got.user_data[..3], &[0x02, 0x70, 0x00]);

        // Device -> SM-SR: response packet, UDH IEI 71.
        let mut por = vec![0x02, 0x71, 0x00, 0x00, 0x0E, 0x0A, 0xB0, 0x00, 0x01];
        por.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0x90, 0x00]);
        let mo = Sms::sim_data_download(
            Address::international(DEVICE_MSISDN),
            Address::international(SMSR_ADDR),
            por,
        );
        dev.submit(&mo).await.expect("submit MO");
        assert_eq!(recv(&mut smsr_in).await, mo);

        // Long user data travels in message_payload and still arrives byte-exact.
        let long = Sms::sim_data_download(
            Address::international(SMSR_ADDR),
            Address::international(DEVICE_MSISDN),
            (0..600u32).map(|i| (i % 251) as u8).collect(),
        );
        smsr.submit(&long).await.expect("submit long");
        assert_eq!(recv(&mut dev_in).await, long);

        // An empty destination is refused.
        let bad = Sms {
            destination: Address::international(""),
            ..mt.clone()
        };
        let err = smsr.submit(&bad).await.unwrap_err();
        assert!(
            matches!(
                err,
                EsmeError::Status(CommandStatus::InvalidDestinationAddress)
            ),
            "{err}"
        );

        let m = settled(&server.smsc, |m| m.delivered == 3).await;
        assert_eq!((m.submitted, m.delivered, m.dropped), (3, 3, 0));
        assert_eq!(m.bound_sessions, 2);
        smsr.shutdown().await.expect("graceful unbind");
        dev.shutdown().await.expect("graceful unbind");
        assert_eq!(smsr.link_state(), LinkState::Closed);
        assert!(matches!(smsr.submit(&mt).await, Err(EsmeError::Closed)));
        // The SMSC has seen both unbinds.
        let m = settled(&server.smsc, |m| m.bound_sessions == 0).await;
        assert_eq!(m.bound_sessions, 0);
        server.stop().await;
    })
    .await
    .expect("test within time limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_messages_with_window_ten() {
    timeout(LIMIT, async {
        let server = Server::start(SmscConfig::default()).await;
        let (smsr, _smsr_in) = smsr(server.addr).await;
        let (_dev, mut dev_in) = device(server.addr).await;
        assert_eq!(smsr.in_flight(), 0);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..500u32 {
            let h = smsr.clone();
            tasks.spawn(async move {
                let sms = Sms::sim_data_download(
                    Address::international(SMSR_ADDR),
                    Address::international(DEVICE_MSISDN),
                    command_packet(i),
                );
                h.submit(&sms).await
            });
        }
        let mut max_in_flight = 0;
        let mut seen = vec![false; 500];
        for _ in 0..500 {
            max_in_flight = max_in_flight.max(smsr.in_flight());
            let sms = recv(&mut dev_in).await;
            let idx = u32::from_be_bytes(sms.user_data[19..23].try_into().unwrap()) as usize;
            assert!(!seen[idx], "message {idx} twice");
            seen[idx] = true;
        }
        assert!(seen.iter().all(|s| *s));
        let mut ids = std::collections::HashSet::new();
        while let Some(r) = tasks.join_next().await {
            assert!(ids.insert(r.unwrap().expect("submitted")));
        }
        assert!(max_in_flight <= 10, "window exceeded: {max_in_flight}");
        let m = settled(&server.smsc, |m| m.delivered == 500).await;
        assert_eq!((m.submitted, m.delivered), (500, 500));
        server.stop().await;
    })
    .await
    .expect("test within time limit");
}

async fn submit_n(h: &EsmeHandle, n: u32) -> Vec<Result<String, EsmeError>> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let h = h.clone();
        tasks.spawn(async move {
            h.submit(&Sms::sim_data_download(
                Address::international(SMSR_ADDR),
                Address::international(DEVICE_MSISDN),
                command_packet(i),
            ))
            .await
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        out.push(r.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_one_drops_everything() {
    timeout(LIMIT, async {
        let server = Server::start(SmscConfig {
            impairments: Impairments {
                loss: 1.0,
                ..Impairments::default()
            },
            seed: 7,
            ..SmscConfig::default()
        })
        .await;
        let (smsr, _) = smsr(server.addr).await;
        let (_dev, mut dev_in) = device(server.addr).await;
        assert!(submit_n(&smsr, 20).await.iter().all(Result::is_ok));
        assert_silent(&mut dev_in, Duration::from_millis(500)).await;
        let m = server.smsc.metrics();
        assert_eq!((m.submitted, m.dropped, m.delivered), (20, 20, 0));
        server.stop().await;
    })
    .await
    .expect("test within time limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplication_one_doubles_and_latency_delays() {
    timeout(LIMIT, async {
        let server = Server::start(SmscConfig {
            impairments: Impairments {
                duplication: 1.0,
                latency: Duration::from_millis(100),
                jitter: Duration::from_millis(50),
                ..Impairments::default()
            },
            seed: 7,
            ..SmscConfig::default()
        })
        .await;
        let (smsr, _) = smsr(server.addr).await;
        let (_dev, mut dev_in) = device(server.addr).await;
        let start = tokio::time::Instant::now();
        assert!(submit_n(&smsr, 20).await.iter().all(Result::is_ok));
        let mut counts = [0u32; 20];
        for _ in 0..40 {
            let sms = recv(&mut dev_in).await;
            assert!(
                start.elapsed() >= Duration::from_millis(100),
                "latency applied"
            );
            counts[u32::from_be_bytes(sms.user_data[19..23].try_into().unwrap()) as usize] += 1;
        }
        assert!(counts.iter().all(|c| *c == 2), "{counts:?}");
        assert_silent(&mut dev_in, Duration::from_millis(300)).await;
        let m = settled(&server.smsc, |m| m.delivered == 40).await;
        assert_eq!((m.submitted, m.duplicated, m.delivered), (20, 20, 40));
        server.stop().await;
    })
    .await
    .expect("test within time limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_loss_is_deterministic_for_a_seed() {
    timeout(LIMIT, async {
        let mut dropped = Vec::new();
        for _ in 0..2 {
            let server = Server::start(SmscConfig {
                impairments: Impairments {
                    loss: 0.3,
                    ..Impairments::default()
                },
                seed: 1234,
                ..SmscConfig::default()
            })
            .await;
            let (smsr, _) = smsr(server.addr).await;
            let (_dev, mut dev_in) = device(server.addr).await;
            let mut lost = Vec::new();
            // Sequential submits so the generator is consulted in a fixed order.
            for i in 0..40 {
                let sms = Sms::sim_data_download(
                    Address::international(SMSR_ADDR),
                    Address::international(DEVICE_MSISDN),
                    command_packet(i),
                );
                smsr.submit(&sms).await.unwrap();
                // Wait until the SMSC has either delivered or dropped it.
                let done = u64::from(i) + 1;
                let m = settled(&server.smsc, |m| m.delivered + m.dropped == done).await;
                assert_eq!(m.delivered + m.dropped, done);
                if m.dropped as usize > lost.len() {
                    lost.push(i);
                } else {
                    assert_eq!(recv(&mut dev_in).await, sms);
                }
            }
            assert_eq!(server.smsc.metrics().dropped as usize, lost.len());
            dropped.push(lost);
            server.stop().await;
        }
        assert_eq!(dropped[0], dropped[1]);
        assert!(
            !dropped[0].is_empty() && dropped[0].len() < 40,
            "{:?}",
            dropped[0]
        );
    })
    .await
    .expect("test within time limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_limit_throttles_and_esme_retries_or_reports() {
    timeout(LIMIT, async {
        let config = SmscConfig {
            impairments: Impairments {
                max_messages_per_second: Some(5),
                ..Impairments::default()
            },
            ..SmscConfig::default()
        };
        // Without retries the ESME reports ESME_RTHROTTLED.
        let server = Server::start(config.clone()).await;
        let mut cfg = esme_config(server.addr, "smsr", "x", SMSR_ADDR);
        cfg.retry = RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        };
        let (h, _) = Esme::connect(cfg).await.unwrap();
        let (_dev, mut dev_in) = device(server.addr).await;
        let results = submit_n(&h, 20).await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let throttled = results
            .iter()
            .filter(|r| matches!(r, Err(EsmeError::Status(CommandStatus::Throttled))))
            .count();
        assert_eq!(ok + throttled, 20);
        // A burst of 5 plus what refills (5/s) while the 20 attempts run.
        assert!((5..=12).contains(&ok), "accepted {ok}");
        for _ in 0..ok {
            recv(&mut dev_in).await;
        }
        assert_eq!(server.smsc.metrics().throttled as usize, throttled);
        server.stop().await;

        // With retries every message gets through (5/s: 20 messages in about 3 s).
        let server = Server::start(config).await;
        let mut cfg = esme_config(server.addr, "smsr", "x", SMSR_ADDR);
        cfg.retry = RetryPolicy {
            max_retries: 20,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
        };
        let (h, _) = Esme::connect(cfg).await.unwrap();
        let (_dev, mut dev_in) = device(server.addr).await;
        let results = submit_n(&h, 20).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        for _ in 0..20 {
            recv(&mut dev_in).await;
        }
        let m = server.smsc.metrics();
        assert_eq!(m.submitted, 20);
        assert!(m.throttled > 0);
        server.stop().await;
    })
    .await
    .expect("test within time limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esme_reconnects_after_smsc_restart() {
    timeout(LIMIT, async {
        let server = Server::start(SmscConfig::default()).await;
        let addr = server.addr;
        let (smsr, _) = smsr(addr).await;
        let (dev, mut dev_in) = device(addr).await;
        let sms = Sms::sim_data_download(
            Address::international(SMSR_ADDR),
            Address::international(DEVICE_MSISDN),
            command_packet(1),
        );
        smsr.submit(&sms).await.unwrap();
        assert_eq!(recv(&mut dev_in).await, sms);

        server.stop().await;
        for _ in 0..200 {
            if smsr.link_state() == LinkState::Reconnecting
                && dev.link_state() == LinkState::Reconnecting
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(smsr.link_state(), LinkState::Reconnecting);
        // While the SMSC is down a submit fails without hanging.
        let err = smsr.submit(&sms).await.unwrap_err();
        assert!(matches!(err, EsmeError::NotBound), "{err}");

        let server = Server::start_on(SmscConfig::default(), addr).await;
        smsr.wait_bound_for(Duration::from_secs(10))
            .await
            .expect("smsr re-bound");
        dev.wait_bound_for(Duration::from_secs(10))
            .await
            .expect("device re-bound");
        smsr.submit(&sms).await.expect("submit after reconnect");
        assert_eq!(recv(&mut dev_in).await, sms);
        server.stop().await;
    })
    .await
    .expect("test within time limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_wait_for_their_esme_and_expire() {
    timeout(LIMIT, async {
        let server = Server::start(SmscConfig {
            routes: vec![Route {
                pattern: RoutePattern::Exact("447700900002".into()),
                system_id: "dev2".into(),
            }],
            queue_capacity: 2,
            queue_expiry: Duration::from_millis(1500),
            ..SmscConfig::default()
        })
        .await;
        let (smsr, _) = smsr(server.addr).await;
        let to = |msisdn: &str, i| {
            Sms::sim_data_download(
                Address::international(SMSR_ADDR),
                Address::international(msisdn),
                command_packet(i),
            )
        };
        // Routed by the static table to 'dev2', which is not bound yet: queued.
        smsr.submit(&to("447700900002", 1)).await.unwrap();
        smsr.submit(&to("447700900003", 2)).await.unwrap();
        assert_eq!(server.smsc.metrics().queued, 2);
        // The queue holds two: the third is refused with ESME_RMSGQFUL.
        let mut cfg = esme_config(server.addr, "smsr", "x", SMSR_ADDR);
        cfg.retry.max_retries = 0;
        let (no_retry, _) = Esme::connect(cfg).await.unwrap();
        let err = no_retry.submit(&to("447700900004", 3)).await.unwrap_err();
        assert!(
            matches!(err, EsmeError::Status(CommandStatus::MessageQueueFull)),
            "{err}"
        );

        // dev2 binds (any address range: the route decides) and receives its message.
        let mut cfg = esme_config(server.addr, "dev2", "x", "");
        cfg.address_range = Address::default();
        let (_dev2, mut dev2_in) = Esme::connect(cfg).await.unwrap();
        assert_eq!(recv(&mut dev2_in).await, to("447700900002", 1));

        // The message for ...003 expires before its ESME binds.
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let m = server.smsc.metrics();
        assert_eq!((m.queued, m.expired), (0, 1));
        let (_dev3, mut dev3_in) =
            Esme::connect(esme_config(server.addr, "dev3", "x", "447700900003"))
                .await
                .unwrap();
        assert_silent(&mut dev3_in, Duration::from_millis(300)).await;
        server.stop().await;
    })
    .await
    .expect("test within time limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_incoming_buffer_gets_redelivered() {
    timeout(LIMIT, async {
        let server = Server::start(SmscConfig::default()).await;
        let (smsr, _) = smsr(server.addr).await;
        let mut cfg = esme_config(server.addr, "device", "x", DEVICE_MSISDN);
        cfg.incoming_capacity = 1;
        let (_dev, mut dev_in) = Esme::connect(cfg).await.unwrap();
        assert!(submit_n(&smsr, 5).await.iter().all(Result::is_ok));
        // The buffer holds one; the others are answered ESME_RX_T_APPN and come again.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5 {
            seen.insert(recv(&mut dev_in).await.user_data);
        }
        assert_eq!(seen.len(), 5);
        let m = settled(&server.smsc, |m| m.delivered == 5).await;
        assert_eq!(m.delivered, 5);
        assert!(m.redelivered > 0);
        server.stop().await;
    })
    .await
    .expect("test within time limit");
}

async fn read_pdu(s: &mut TcpStream) -> Option<Pdu> {
    let mut head = [0u8; 16];
    timeout(Duration::from_secs(5), s.read_exact(&mut head))
        .await
        .ok()?
        .ok()?;
    let h = Header::parse(&head).ok()?;
    let mut frame = head.to_vec();
    frame.resize(h.command_length as usize, 0);
    timeout(Duration::from_secs(5), s.read_exact(&mut frame[16..]))
        .await
        .ok()?
        .ok()?;
    Pdu::decode(&frame).ok()
}

async fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        timeout(Duration::from_secs(5), s.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pdus_get_generic_nack_or_close_and_others_keep_working() {
    timeout(LIMIT, async {
        let server = Server::start(SmscConfig::default()).await;
        let (smsr, _) = smsr(server.addr).await;
        let (_dev, mut dev_in) = device(server.addr).await;

        // Garbage (an HTTP request): command_length 0x47455420 is absurd -> nack, close.
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let nack = read_pdu(&mut s).await.expect("generic_nack");
        assert_eq!(nack.body, Body::GenericNack);
        assert_eq!(nack.command_status, CommandStatus::InvalidCommandLength);
        assert!(closed(&mut s).await);

        // command_length 0xFFFFFFFF and 8 (below the header size).
        for len in [0xFFFF_FFFFu32, 8] {
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            let mut pdu = len.to_be_bytes().to_vec();
            pdu.extend_from_slice(&[0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 9]);
            s.write_all(&pdu).await.unwrap();
            let nack = read_pdu(&mut s).await.expect("generic_nack");
            assert_eq!((nack.body, nack.sequence_number), (Body::GenericNack, 9));
            assert!(closed(&mut s).await);
        }

        // Truncated header, then EOF: the connection is closed.
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(&[0, 0, 0, 0x10, 0, 0]).await.unwrap();
        s.shutdown().await.unwrap();
        assert!(closed(&mut s).await);

        // A well-framed stream with bad content stays open.
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        // Unknown command (data_sm 0x103): generic_nack ESME_RINVCMDID with its sequence.
        s.write_all(&[
            0, 0, 0, 0x12, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 5, 0xAA, 0xBB,
        ])
        .await
        .unwrap();
        let nack = read_pdu(&mut s).await.unwrap();
        assert_eq!(
            (nack.body, nack.command_status, nack.sequence_number),
            (Body::GenericNack, CommandStatus::InvalidCommandId, 5)
        );
        // bind_transceiver whose system_id is not terminated: generic_nack.
        let mut bad_bind = vec![0, 0, 0, 0x24, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 6];
        bad_bind.extend_from_slice(&[b'a'; 20]);
        s.write_all(&bad_bind).await.unwrap();
        let nack = read_pdu(&mut s).await.unwrap();
        assert_eq!((nack.body, nack.sequence_number), (Body::GenericNack, 6));
        // submit_sm before bind: ESME_RINVBNDSTS.
        let submit = Pdu::request(
            7,
            Body::SubmitSm(Box::new(
                Sms::sim_data_download(
                    Address::international(SMSR_ADDR),
                    Address::international(DEVICE_MSISDN),
                    command_packet(0),
                )
                .to_short_message(),
            )),
        );
        s.write_all(&submit.encode().unwrap()).await.unwrap();
        let resp = read_pdu(&mut s).await.unwrap();
        assert_eq!(resp.command_id(), command_id::SUBMIT_SM_RESP);
        assert_eq!(resp.command_status, CommandStatus::InvalidBindStatus);
        // Still alive: enquire_link is answered.
        s.write_all(&Pdu::request(8, Body::EnquireLink).encode().unwrap())
            .await
            .unwrap();
        let resp = read_pdu(&mut s).await.unwrap();
        assert_eq!(
            (resp.body, resp.sequence_number),
            (Body::EnquireLinkResp, 8)
        );

        // Deterministic random garbage on many connections.
        let mut x: u64 = 0x1234_5678;
        for _ in 0..30 {
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            let len = 1 + (x % 200) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = s.write_all(&bytes).await;
            let _ = s.shutdown().await;
            let mut sink = Vec::new();
            let _ = timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await;
        }

        // The good ESMEs were never disturbed.
        let sms = Sms::sim_data_download(
            Address::international(SMSR_ADDR),
            Address::international(DEVICE_MSISDN),
            command_packet(99),
        );
        smsr.submit(&sms).await.unwrap();
        assert_eq!(recv(&mut dev_in).await, sms);
        assert_eq!(server.smsc.metrics().session_panics, 0);
        server.stop().await;
    })
    .await
    .expect("test within time limit");
}

/// A server that binds the ESME and then never answers: the keep-alive must notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_enquire_link_resp_triggers_reconnect() {
    timeout(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::unbounded_channel();
        let fake = tokio::spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let bind = read_pdu(&mut s).await.unwrap();
                let Body::Bind(mode, _) = bind.body else {
                    panic!("bind expected")
                };
                let resp = Pdu::response(
                    bind.sequence_number,
                    CommandStatus::Ok,
                    Body::BindResp(
                        mode,
                        esim_smpp::pdu::BindResp {
                            system_id: Some("mute".into()),
                            tlvs: vec![],
                        },
                    ),
                );
                s.write_all(&resp.encode().unwrap()).await.unwrap();
                accepted_tx.send(()).unwrap();
                conns.push(s); // keep it open, answer nothing
            }
            conns
        });
        let mut cfg = esme_config(addr, "smsr", "x", SMSR_ADDR);
        cfg.enquire_link_interval = Duration::from_millis(200);
        cfg.response_timeout = Duration::from_millis(500);
        let (h, _) = Esme::connect(cfg).await.unwrap();
        accepted_rx.recv().await.unwrap();
        // The keep-alive times out, the ESME reconnects and binds again.
        timeout(Duration::from_secs(5), accepted_rx.recv())
            .await
            .expect("reconnected")
            .unwrap();
        // A submit to a server that never answers times out.
        let sms = Sms::sim_data_download(
            Address::international(SMSR_ADDR),
            Address::international(DEVICE_MSISDN),
            command_packet(0),
        );
        let err = h.submit(&sms).await.unwrap_err();
        assert!(
            matches!(
                err,
                EsmeError::ResponseTimeout { .. } | EsmeError::ConnectionLost { .. }
            ),
            "{err}"
        );
        drop(fake.await.unwrap());
    })
    .await
    .expect("test within time limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transmitter_and_receiver_binds() {
    timeout(LIMIT, async {
        let server = Server::start(SmscConfig::default()).await;
        let mut cfg = esme_config(server.addr, "smsr", "x", SMSR_ADDR);
        cfg.bind_mode = esim_smpp::BindMode::Transmitter;
        let (tx_only, _) = Esme::connect(cfg).await.unwrap();
        let mut cfg = esme_config(server.addr, "device", "x", DEVICE_MSISDN);
        cfg.bind_mode = esim_smpp::BindMode::Receiver;
        let (rx_only, mut dev_in) = Esme::connect(cfg).await.unwrap();
        let sms = Sms::sim_data_download(
            Address::international(SMSR_ADDR),
            Address::international(DEVICE_MSISDN),
            command_packet(3),
        );
        tx_only.submit(&sms).await.unwrap();
        assert_eq!(recv(&mut dev_in).await, sms);
        let err = rx_only.submit(&sms).await.unwrap_err();
        assert!(
            matches!(err, EsmeError::WrongBindMode(esim_smpp::BindMode::Receiver)),
            "{err}"
        );
        // A transmitter-only session owns no addresses: a message to it waits in the queue.
        let back = Sms::sim_data_download(
            Address::international(DEVICE_MSISDN),
            Address::international(SMSR_ADDR),
            command_packet(4),
        );
        tx_only.submit(&back).await.unwrap();
        let m = settled(&server.smsc, |m| m.queued == 1 && m.delivered == 1).await;
        assert_eq!((m.queued, m.delivered), (1, 1));
        server.stop().await;
    })
    .await
    .expect("test within time limit");
}

/// A server that binds the ESME and drops the connection on the first submit_sm: the
/// outstanding request fails with ConnectionLost (not resent), and the ESME re-binds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_request_fails_with_connection_lost() {
    timeout(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let fake = tokio::spawn(async move {
            for _ in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let bind = read_pdu(&mut s).await.unwrap();
                let Body::Bind(mode, _) = bind.body else {
                    panic!("bind expected")
                };
                let resp = Pdu::response(
                    bind.sequence_number,
                    CommandStatus::Ok,
                    Body::BindResp(mode, esim_smpp::pdu::BindResp::default()),
                );
                s.write_all(&resp.encode().unwrap()).await.unwrap();
                events_tx.send("bound".to_string()).unwrap();
                // Drop the connection as soon as a submit_sm arrives.
                while let Some(p) = read_pdu(&mut s).await {
                    if let Body::SubmitSm(sm) = p.body {
                        let idx = u32::from_be_bytes(sm.short_message[19..23].try_into().unwrap());
                        events_tx.send(format!("submit {idx}")).unwrap();
                        break;
                    }
                }
            }
        });
        let (h, _) = Esme::connect(esme_config(addr, "smsr", "x", SMSR_ADDR))
            .await
            .unwrap();
        assert_eq!(events.recv().await.as_deref(), Some("bound"));
        let sms = Sms::sim_data_download(
            Address::international(SMSR_ADDR),
            Address::international(DEVICE_MSISDN),
            command_packet(0),
        );
        let err = h.submit(&sms).await.unwrap_err();
        assert!(matches!(err, EsmeError::ConnectionLost { .. }), "{err}");
        assert_eq!(events.recv().await.as_deref(), Some("submit 0"));
        let rebound = events.recv().await;
        assert_eq!(rebound.as_deref(), Some("bound"), "re-bound after the loss");
        // Nothing was resent on the new connection: the next submit_sm is the new one.
        let next = Sms {
            user_data: command_packet(1),
            ..sms
        };
        let _ = h.submit(&next).await;
        assert_eq!(events.recv().await.as_deref(), Some("submit 1"));
        fake.await.unwrap();
    })
    .await
    .expect("test within time limit");
}
