//! Loopback harness of the device tests: an SMSC simulator, an in-test SM-SR (an ESME that
//! builds real SCP80 packets under the card's ISD-R keys, and an SCP81 server whose handler
//! plays the SM-DP: CreateISDP, ECKA, SCP03t download), and the device agent hosting one card.
#![allow(dead_code)]

use bytes::Bytes;
use esim_apdu::apdu::CommandApdu;
use esim_apdu::etsi102226::{CommandScript, ResponseScript};
use esim_apdu::gp::install::{CreateIsdp, Install};
use esim_apdu::gp::sgp02::{Es5Command, Notification, NotificationConfirmationResponse};
use esim_apdu::gp::store_data::{StoreDataP1, command};
use esim_apdu::sms::{
    Address as SmsAddress, AddressValue, Alphabet, ConcatRef, PacketKind, Reassembler,
    ReassemblyLimits, UserData, split_packet,
};
use esim_codec::{Aid, Iccid, Imsi, Tar};
use esim_crypto::cert::Date;
use esim_crypto::ecka::{KeyParams, OffCardAwaitingChallenge};
use esim_crypto::pki::{self, EuiccParams, IssuedEuicc, PkiParams, TestPki};
use esim_crypto::scp03::StaticKeys;
use esim_crypto::scp03t::{Scp03tHost, Scp03tHostAwaitingInitUpdateResponse};
use esim_crypto::scp80::{
    CcAlgorithm, CipherAlgorithm, CommandPacket, Counter, DecodedPor, Keyset, Kic, Kid, Spi,
    decode_por, parse_command, udh,
};
use esim_device::config::{CardEntry, DeviceConfig};
use esim_device::store::{self, Bootstrap};
use esim_device::{Device, DeviceEvent, EventKind, Listeners};
use esim_euicc::{CardConfig, Euicc};
use esim_scp81::admin::{AdminStep, CardPost, PskIdentity};
use esim_scp81::server::{AdminHandler, MemoryPskStore, ServerConfig, SessionInfo};
use esim_smpp::smsc::SmscConfig;
use esim_smpp::{Address, Esme, EsmeConfig, EsmeHandle, Incoming, Password, Sms};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot};

pub const MSISDN: &str = "447700900001";
pub const SMSR: &str = "SMSR";
pub const BOOTSTRAP_IMSI: &str = "001010000000001";
pub const LIMIT: Duration = Duration::from_secs(20);

pub struct Fixture {
    pub pki: TestPki,
    pub issued: IssuedEuicc,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let pki =
            TestPki::generate(&PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap())).unwrap();
        let eid = pki::eid_from_prefix("8904903200", 11).unwrap();
        let p = EuiccParams::test_defaults(eid, Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
        let issued = pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap();
        Fixture { pki, issued }
    })
}

pub fn template() -> Vec<u8> {
    let path = esim_vectors::saip_files()
        .into_iter()
        .find(|p| p.ends_with("TS48V1-A-UNIQUE.der"))
        .expect("TS.48 template in the vectors");
    std::fs::read(path).unwrap()
}

/// The TS.48 template personalized with `iccid` and `imsi`.
pub fn profile(iccid: &str, imsi: &str) -> Vec<u8> {
    store::personalize(&Bootstrap {
        template: template(),
        iccid: Some(Iccid::parse(iccid).unwrap()),
        imsi: Some(Imsi::parse(imsi).unwrap()),
    })
    .unwrap()
}

/// A card with a TS.48 bootstrap profile (IMSI [`BOOTSTRAP_IMSI`]) written to `dir`.
pub fn make_card(dir: &Path) {
    let f = fixture();
    let keys = StaticKeys::new(
        0x30,
        esim_crypto::SecretKey::random(16).unwrap(),
        esim_crypto::SecretKey::random(16).unwrap(),
        esim_crypto::SecretKey::random(16).unwrap(),
    )
    .unwrap();
    let card = Euicc::with_bootstrap_profile(
        &f.issued,
        CardConfig {
            memory_capacity: 300_000,
            default_isdp_quota: 60_000,
        },
        &profile("8949449999000000011", BOOTSTRAP_IMSI),
        keys,
    )
    .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    store::save_card(dir, &card).unwrap();
}

/// The SM-SR's view of the card's SCP80 keyset 1.
pub fn smsr_keyset() -> Keyset {
    let k = &fixture().issued.scp80[0];
    Keyset::new(
        Kic::new(k.kvn, CipherAlgorithm::AesCbc).unwrap(),
        k.kic.clone(),
        Kid::cc(k.kvn, CcAlgorithm::AesCmac).unwrap(),
        k.kid.clone(),
    )
}

pub fn isdp_aid(n: u8) -> Aid {
    Aid::isd_p(Tar([0x00, 0x00, 0x10 + n]))
}

/// What arrives at the SM-SR.
#[derive(Debug)]
pub enum FromCard {
    Por {
        user_data: Vec<u8>,
        segments: u8,
    },
    Notification {
        notification: Notification,
        segments: u8,
    },
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub card_dir: PathBuf,
    pub smsc_addr: String,
    smsc_stop: Option<oneshot::Sender<()>>,
    pub device: Option<Arc<Device>>,
    device_stop: Option<oneshot::Sender<()>>,
    device_task: Option<tokio::task::JoinHandle<Result<(), esim_device::DeviceError>>>,
    pub events: Option<broadcast::Receiver<DeviceEvent>>,
    pub control_addr: String,
    pub smsr: EsmeHandle,
    smsr_in: Incoming,
    reassembler: Reassembler,
    pub counter: u64,
    concat: u8,
    pub https_addr: Option<String>,
    pub config: DeviceConfig,
}

impl Harness {
    /// SMSC + SM-SR ESME + a card directory; the device is started by [`Harness::start`].
    pub async fn new(reachable: &[&str], https_addr: Option<String>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let card_dir = dir.path().join("card1");
        make_card(&card_dir);
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let smsc_addr = l.local_addr().unwrap().to_string();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(esim_smpp::smsc::run(SmscConfig::default(), l, async {
            let _ = rx.await;
        }));
        let mut ec = EsmeConfig::new(smsc_addr.clone(), "smsr", Password::new("pw"));
        ec.address_range = Address::unknown(SMSR);
        let (smsr, smsr_in) = Esme::connect(ec).await.unwrap();
        let mut config = DeviceConfig::default();
        config.cards.push(CardEntry {
            dir: card_dir.clone(),
            msisdn: MSISDN.into(),
            system_id: Some("device1".into()),
        });
        config.smsc.address = smsc_addr.clone();
        config.smsr.sms_address = SMSR.into();
        config.smsr.https_address = https_addr.clone();
        config.network.reachable = reachable.iter().map(|s| s.to_string()).collect();
        config.timing.notification_retry_ms = 1500;
        config.timing.admin_backoff_ms = 100;
        Harness {
            dir,
            card_dir,
            smsc_addr,
            smsc_stop: Some(tx),
            device: None,
            device_stop: None,
            device_task: None,
            events: None,
            control_addr: String::new(),
            smsr,
            smsr_in,
            reassembler: Reassembler::new(ReassemblyLimits::default()),
            counter: 0,
            concat: 0,
            https_addr,
            config,
        }
    }

    /// Starts the device agent and waits until its modem has started.
    pub async fn start(&mut self) {
        let device = Arc::new(Device::new(self.config.clone()).unwrap());
        let mut events = device.events();
        let control = TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.control_addr = control.local_addr().unwrap().to_string();
        let (tx, rx) = oneshot::channel::<()>();
        let d = device.clone();
        self.device_task = Some(tokio::spawn(async move {
            d.run(
                Listeners {
                    control: Some(control),
                },
                async {
                    let _ = rx.await;
                },
            )
            .await
        }));
        self.device_stop = Some(tx);
        self.device = Some(device);
        wait_event(&mut events, |k| matches!(k, EventKind::Started)).await;
        self.events = Some(events);
    }

    /// Stops the device agent (its state is written before it returns).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.device_stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.device_task.take() {
            tokio::time::timeout(LIMIT, t)
                .await
                .expect("device stops")
                .unwrap()
                .unwrap();
        }
        self.device = None;
        self.events = None;
    }

    pub fn card(&self) -> Euicc {
        store::load_card(&self.card_dir).unwrap()
    }

    pub async fn event(&mut self, pred: impl Fn(&EventKind) -> bool) -> EventKind {
        wait_event(self.events.as_mut().expect("device running"), pred).await
    }

    /// Sends `data` to the ISD-R in a command packet (SPI 1639-style SGP.02 default, next
    /// counter), concatenated when needed; returns the number of SMS.
    pub async fn send_packet(&mut self, tar: Tar, data: &[u8]) -> usize {
        self.counter += 1;
        self.send_packet_with_counter(tar, self.counter, data).await
    }

    pub async fn send_packet_with_counter(&mut self, tar: Tar, counter: u64, data: &[u8]) -> usize {
        let smsr = self.smsr.clone();
        self.send_packet_from(&smsr, SMSR, tar, counter, data).await
    }

    /// As [`Harness::send_packet_with_counter`], submitted by `esme` with originator `source`.
    pub async fn send_packet_from(
        &mut self,
        esme: &EsmeHandle,
        source: &str,
        tar: Tar,
        counter: u64,
        data: &[u8],
    ) -> usize {
        let packet = CommandPacket {
            spi: Spi::SGP02_DEFAULT,
            tar,
            counter: Counter::new(counter).unwrap(),
            data: data.to_vec(),
        }
        .encode(&smsr_keyset())
        .unwrap();
        self.concat = self.concat.wrapping_add(1);
        let parts =
            split_packet(&packet, PacketKind::Command, ConcatRef::Eight(self.concat)).unwrap();
        let n = parts.len();
        for p in parts {
            let (_, ud) = p.encode(Alphabet::EightBit).unwrap();
            let sms = Sms::sim_data_download(
                Address::unknown(source),
                Address::international(MSISDN),
                ud,
            );
            esme.submit(&sms).await.unwrap();
        }
        n
    }

    /// The next complete message from the card.
    pub async fn recv(&mut self) -> FromCard {
        loop {
            let sms = tokio::time::timeout(LIMIT, self.smsr_in.recv())
                .await
                .expect("an SMS from the device within the limit")
                .expect("SMSR session open");
            assert_eq!(sms.source.address, MSISDN);
            let ud = UserData::decode(
                sms.user_data.len() as u8,
                &sms.user_data,
                true,
                Alphabet::EightBit,
                0,
            )
            .unwrap();
            let sender = SmsAddress {
                ton: sms.source.ton,
                npi: sms.source.npi,
                value: AddressValue::Digits(sms.source.address.clone()),
            };
            let Some(r) = self.reassembler.push(&sender, &ud).unwrap().complete else {
                continue;
            };
            return match r.packet_kind() {
                Some(PacketKind::Response) => {
                    let mut u = vec![0x02, 0x71, 0x00];
                    u.extend_from_slice(&r.data);
                    FromCard::Por {
                        user_data: u,
                        segments: r.segments,
                    }
                }
                Some(PacketKind::Command) => {
                    let mut u = vec![0x02, 0x70, 0x00];
                    u.extend_from_slice(&r.data);
                    let packet = udh::strip_command_udh(&u).unwrap();
                    let opened = parse_command(packet).unwrap().open(&smsr_keyset()).unwrap();
                    assert_eq!(opened.header.tar, Tar::ISD_R);
                    FromCard::Notification {
                        notification: Notification::decode(&opened.data).unwrap(),
                        segments: r.segments,
                    }
                }
                None => panic!("SMS without packet identifier"),
            };
        }
    }

    /// The next PoR (notifications arriving meanwhile are kept in `seen`).
    pub async fn recv_por(&mut self, seen: &mut Vec<Notification>) -> (DecodedPor, u8) {
        loop {
            match self.recv().await {
                FromCard::Por {
                    user_data,
                    segments,
                } => {
                    return (
                        decode_por(&user_data, &Spi::SGP02_DEFAULT, &smsr_keyset()).unwrap(),
                        segments,
                    );
                }
                FromCard::Notification { notification, .. } => seen.push(notification),
            }
        }
    }

    /// The next notification of type `kind` (earlier ones of other types are returned too).
    pub async fn recv_notification(
        &mut self,
        kind: u8,
        seen: &mut Vec<Notification>,
    ) -> Notification {
        if let Some(i) = seen.iter().position(|n| n.kind.to_byte() == kind) {
            return seen.remove(i);
        }
        loop {
            if let FromCard::Notification { notification, .. } = self.recv().await {
                if notification.kind.to_byte() == kind {
                    return notification;
                }
                seen.push(notification);
            }
        }
    }

    /// An expanded script to the ISD-R by SMS; returns the response script.
    pub async fn script(&mut self, cmds: Vec<CommandApdu>) -> (ResponseScript, usize, u8) {
        let s = CommandScript::of_apdus(cmds).encode().unwrap();
        let sent = self.send_packet(Tar::ISD_R, &s).await;
        let (por, segs) = self.recv_por(&mut Vec::new()).await;
        assert_eq!(por.packet.status, esim_crypto::scp80::PorStatus::Ok);
        (
            ResponseScript::decode(&por.packet.data).unwrap(),
            sent,
            segs,
        )
    }

    /// Confirms a notification over SMS (3A08); returns the confirmation response.
    pub async fn confirm(&mut self, sequence: u16) -> NotificationConfirmationResponse {
        let cmds = Es5Command::NotificationConfirmation { sequence }
            .to_commands(255)
            .unwrap();
        let (rs, _, _) = self.script(cmds).await;
        let last = rs.responses().last().unwrap().clone();
        assert_eq!(last.sw.to_u16(), 0x9000, "confirmation of {sequence}");
        NotificationConfirmationResponse::decode(&last.data).unwrap()
    }

    /// Enables `aid` over SMS; returns the last SW.
    pub async fn enable(&mut self, aid: &Aid) -> u16 {
        let cmds = Es5Command::EnableProfile {
            isdp_aid: aid.clone(),
        }
        .to_commands(255)
        .unwrap();
        let (rs, _, _) = self.script(cmds).await;
        rs.responses().last().unwrap().sw.to_u16()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.device_stop.take() {
            let _ = tx.send(());
        }
        if let Some(tx) = self.smsc_stop.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn wait_event(
    events: &mut broadcast::Receiver<DeviceEvent>,
    pred: impl Fn(&EventKind) -> bool,
) -> EventKind {
    tokio::time::timeout(LIMIT, async {
        loop {
            match events.recv().await {
                Ok(e) if pred(&e.kind) => return e.kind,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream: {e}"),
            }
        }
    })
    .await
    .expect("the expected device event within the limit")
}

// ---------------------------------------------------------------------------------------------
// The SM-SR's SCP81 side: a handler that creates an ISD-P, establishes its keys with the SM-DP's
// ECKA and downloads a profile with SCP03t, script by script.

enum Step {
    Create,
    AwaitR1(OffCardAwaitingChallenge),
    AwaitR2(esim_crypto::ecka::OffCardAwaitingReceipt),
    Await84(Scp03tHostAwaitingInitUpdateResponse),
    Await85(Scp03tHost),
    Segments(Vec<Vec<u8>>),
    Done,
    Failed(String),
}

pub struct Download {
    pub aid: Aid,
    pub package: Vec<u8>,
    step: Mutex<Option<Step>>,
    pub last_response: Mutex<Vec<u8>>,
    pub sessions: Mutex<u32>,
}

impl Download {
    pub fn new(aid: Aid, package: Vec<u8>) -> Self {
        Download {
            aid,
            package,
            step: Mutex::new(Some(Step::Create)),
            last_response: Mutex::new(Vec::new()),
            sessions: Mutex::new(0),
        }
    }

    pub fn outcome(&self) -> Result<(), String> {
        match self.step.lock().unwrap().as_ref() {
            Some(Step::Done) => Ok(()),
            Some(Step::Failed(e)) => Err(e.clone()),
            _ => Err("not finished".into()),
        }
    }

    fn script(&self, cmds: Vec<CommandApdu>) -> AdminStep {
        AdminStep::Script {
            targeted: None,
            script: Bytes::from(CommandScript::of_apdus(cmds).encode().unwrap()),
            next_uri: None,
        }
    }

    fn targeted(&self, data: Vec<u8>) -> AdminStep {
        AdminStep::Script {
            targeted: Some(self.aid.clone()),
            script: Bytes::from(data),
            next_uri: None,
        }
    }

    fn last_data(body: &[u8]) -> Result<Vec<u8>, String> {
        let rs = ResponseScript::decode(body).map_err(|e| e.to_string())?;
        let last = rs
            .responses()
            .last()
            .ok_or("empty response script")?
            .clone();
        if last.sw.to_u16() != 0x9000 {
            return Err(format!("card answered {:04X}", last.sw.to_u16()));
        }
        Ok(last.data)
    }

    fn advance(&self, step: Step, body: &[u8]) -> Result<(Step, AdminStep), String> {
        let f = fixture();
        Ok(match step {
            Step::Create => {
                let ecasd_pk = f.issued.ecasd_cert.public_key().clone();
                let (oc, m1) = OffCardAwaitingChallenge::start(
                    f.pki.smdp.key.clone(),
                    &f.pki.smdp.cert,
                    ecasd_pk,
                    KeyParams::isd_p_scp03(0x30),
                )
                .map_err(|e| e.to_string())?;
                let s = self.script(vec![
                    CreateIsdp::new(self.aid.clone(), Some(60_000))
                        .to_command()
                        .unwrap(),
                    Install::for_personalization(&self.aid),
                    command(StoreDataP1::sgp02_more_with_response(), 0, m1),
                ]);
                (Step::AwaitR1(oc), s)
            }
            Step::AwaitR1(oc) => {
                let r1 = Self::last_data(body)?;
                let (oc, m2) = oc.handle(&r1).map_err(|e| e.to_string())?;
                let s = self.script(vec![command(
                    StoreDataP1::sgp02_last_with_response(),
                    1,
                    m2,
                )]);
                (Step::AwaitR2(oc), s)
            }
            Step::AwaitR2(oc) => {
                let r2 = Self::last_data(body)?;
                let keys = oc.handle(&r2).map_err(|e| e.to_string())?;
                let k = keys.scp03().map_err(|e| e.to_string())?;
                let keys =
                    StaticKeys::new(k.kvn, k.enc, k.mac, k.dek).map_err(|e| e.to_string())?;
                let (host, c84) = Scp03tHostAwaitingInitUpdateResponse::start_random(keys, 0)
                    .map_err(|e| e.to_string())?;
                (Step::Await84(host), self.targeted(c84))
            }
            Step::Await84(host) => {
                let (host, c85) = host.handle(body).map_err(|e| e.to_string())?;
                (Step::Await85(host), self.targeted(c85))
            }
            Step::Await85(mut host) => {
                if body != [0x85, 0x00] {
                    return Err(format!("EXTERNAL AUTHENTICATE answered {body:02X?}"));
                }
                let mut segs = host
                    .wrap_profile(&self.package)
                    .map_err(|e| e.to_string())?;
                segs.reverse();
                let first = segs.pop().ok_or("no segment")?;
                (Step::Segments(segs), self.targeted(first))
            }
            Step::Segments(mut segs) => match segs.pop() {
                Some(s) => (Step::Segments(segs), self.targeted(s)),
                None => {
                    *self.last_response.lock().unwrap() = body.to_vec();
                    (Step::Done, AdminStep::End)
                }
            },
            s @ (Step::Done | Step::Failed(_)) => (s, AdminStep::End),
        })
    }
}

impl AdminHandler for Download {
    async fn on_post(&self, _session: &SessionInfo, post: CardPost) -> AdminStep {
        if post.exchange == 0 {
            *self.sessions.lock().unwrap() += 1;
        }
        let mut guard = self.step.lock().unwrap();
        let step = guard.take().unwrap_or(Step::Done);
        match self.advance(step, &post.body()) {
            Ok((next, reply)) => {
                *guard = Some(next);
                reply
            }
            Err(e) => {
                *guard = Some(Step::Failed(e));
                AdminStep::End
            }
        }
    }
}

/// Starts the SM-SR's SCP81 server with `handler`; returns its address and a stop sender.
pub async fn scp81_server<H: AdminHandler>(handler: H) -> (String, oneshot::Sender<()>) {
    let f = fixture();
    let store = MemoryPskStore::new();
    for k in &f.issued.scp81 {
        store.insert(
            PskIdentity::new(f.issued.eid.clone(), k.kvn, k.kid),
            k.psk.clone(),
        );
    }
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(esim_scp81::server::run(
        ServerConfig::new("/gp/admin", store, handler),
        l,
        async {
            let _ = rx.await;
        },
    ));
    (addr, tx)
}

/// The `81` trigger with the card's SCP81 security parameters, a retry policy and `/gp/admin`.
pub fn trigger() -> Vec<u8> {
    use esim_scp81::admin::{
        AdminSessionParams, AdminSessionTrigger, HttpPostParams, RetryPolicy, SecurityParams,
    };
    let f = fixture();
    let k = &f.issued.scp81[0];
    let id = PskIdentity::new(f.issued.eid.clone(), k.kvn, k.kid);
    AdminSessionTrigger {
        session: Some(AdminSessionParams {
            security: Some(
                SecurityParams::new(Bytes::from(id.to_binary()), k.kvn, k.kid, None).unwrap(),
            ),
            retry: Some(RetryPolicy {
                counter: 2,
                waiting_delay: [0xA5, 0x03, 0x00, 0x00, 0x01],
                failure_report: Bytes::new(),
            }),
            http_post: Some(HttpPostParams {
                host: Some("smsr.test".into()),
                agent_id: None,
                uri: Some("/gp/admin".into()),
            }),
            ..Default::default()
        }),
        dns: None,
    }
    .encode()
}

/// Downloads `package` into ISD-P `aid` through an SMS trigger and the SCP81 session.
pub async fn download_over_https(h: &mut Harness, download: &Arc<Download>) {
    let sent = h.send_packet(Tar::ISD_R, &trigger()).await;
    assert_eq!(sent, 1);
    let (por, _) = h.recv_por(&mut Vec::new()).await;
    assert_eq!(por.packet.status, esim_crypto::scp80::PorStatus::Ok);
    let ev = h
        .event(|k| matches!(k, EventKind::AdminSession { .. }))
        .await;
    assert!(
        matches!(ev, EventKind::AdminSession { success: true, .. }),
        "{ev:?}"
    );
    download.outcome().unwrap();
}
