//! The device agent over real loopback transports: SMSC simulator (SMPP), in-test SM-SR (SCP80
//! packets by SMS, SCP81 PSK-TLS server), the agent hosting a card with a TS.48 bootstrap
//! profile. Every wait is bounded.

mod support;

use esim_apdu::apdu::CommandApdu;
use esim_apdu::etsi102226::{CommandScript, ResponseScript};
use esim_apdu::gp::get_data::GetData;
use esim_apdu::gp::sgp02::{Es5Command, Notification, NotificationConfirmationResponse};
use esim_apdu::gp::status::{GetStatus, StatusSubset, parse_entries};
use esim_codec::{Aid, Tar};
use esim_crypto::scp80::PorStatus;
use esim_device::EventKind;
use esim_device::control;
use esim_euicc::registry::LifeCycle;
use esim_scp81::admin::{AdminStep, CardPost};
use esim_scp81::server::{AdminHandler, SessionInfo};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use support::*;

fn select_isd_r() -> CommandApdu {
    CommandApdu::new(0x00, 0xA4, 0x04, 0x00)
        .with_data(Aid::isd_r().as_bytes().to_vec())
        .with_le(256)
}

/// Test 1: ES5 commands by SMS (short and concatenated), PoRs back by SMS, verified by the
/// SM-SR with the card's keys; the state file is written with mode 0600.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_path_short_and_concatenated() {
    let mut h = Harness::new(&["00101"], None).await;
    h.start().await;
    // First attach with the bootstrap profile: eUICC declaration (type 01) by SMS.
    let mut seen = Vec::new();
    let decl = h.recv_notification(0x01, &mut seen).await;
    assert_eq!(decl.eid, fixture().issued.eid);
    // GET STATUS in an expanded script: one SMS each way.
    let (rs, sent, segs) = h
        .script(vec![
            GetStatus::all(StatusSubset::Applications).to_command(),
        ])
        .await;
    assert_eq!((sent, segs), (1, 1));
    let r = rs.responses().last().unwrap();
    assert_eq!(r.sw.to_u16(), 0x9000);
    let entries = parse_entries(&r.data).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].aid, Aid::isd_p(esim_euicc::card::BOOTSTRAP_TAR));
    // A long script: concatenated both ways.
    let mut cmds = Vec::new();
    for _ in 0..8 {
        cmds.push(GetStatus::all(StatusSubset::Applications).to_command());
        cmds.push(GetData::new(0x5A).to_command());
    }
    let (rs, sent, segs) = h.script(cmds).await;
    assert!(sent > 1, "command concatenated ({sent} SMS)");
    assert!(segs > 1, "PoR concatenated ({segs} SMS)");
    assert_eq!(rs.responses().count(), 16);
    assert!(rs.responses().all(|r| r.sw.to_u16() == 0x9000));
    let eid_tlv = &rs.responses().nth(1).unwrap().data;
    assert!(eid_tlv.ends_with(&fixture().issued.eid.to_bcd()));
    // A replayed counter is refused (PoR 02) and does not run.
    let s = esim_apdu::etsi102226::CommandScript::of_apdus(vec![select_isd_r()])
        .encode()
        .unwrap();
    h.send_packet_with_counter(Tar::ISD_R, 1, &s).await;
    let (por, _) = h.recv_por(&mut seen).await;
    assert_eq!(por.packet.status, PorStatus::CounterLow);
    // State: written, 0600, counter moved.
    let mode = std::fs::metadata(h.card_dir.join("card.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let card = h.card();
    assert_eq!(card.scp80_keysets()[0].stored_counter().value(), h.counter);
    h.stop().await;
}

fn installed_iccid(h: &Harness, aid: &Aid) -> Option<String> {
    let card = h.card();
    let slot = card.profiles().iter().find(|p| &p.aid == aid)?;
    slot.isdp
        .installed_profile()
        .map(|p| p.iccid().as_str().to_string())
}

/// Test 2: an SMS trigger opens a PSK-TLS admin session in which the SM-SR creates an ISD-P,
/// runs ECKA with the SM-DP's key and downloads a TS.48 profile with SCP03t; the profile is on
/// the card afterwards (read back from the persisted state).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_path_download() {
    let aid = isdp_aid(1);
    let dl = Arc::new(Download::new(
        aid.clone(),
        profile("8949449999000000029", "001020000000002"),
    ));
    let (addr, _stop) = scp81_server(dl.clone()).await;
    let mut h = Harness::new(&["00101"], Some(addr)).await;
    h.start().await;
    download_over_https(&mut h, &dl).await;
    assert_eq!(*dl.sessions.lock().unwrap(), 1);
    let card = h.card();
    let isdp = card.registry().get(&aid).expect("ISD-P created");
    assert_eq!(isdp.state, LifeCycle::Disabled);
    assert_eq!(
        installed_iccid(&h, &aid).as_deref(),
        Some("8949449999000000029")
    );
    let imsi = card
        .profiles()
        .iter()
        .find(|p| p.aid == aid)
        .unwrap()
        .isdp
        .installed_profile()
        .unwrap()
        .imsi()
        .unwrap();
    assert_eq!(imsi.as_str(), "001020000000002");
    h.stop().await;
}

/// Test 2b: the SM-SR is down at first; the device retries with back-off within the trigger's
/// retry counter and succeeds once it is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_session_retries_until_the_server_answers() {
    let aid = isdp_aid(1);
    let dl = Arc::new(Download::new(
        aid.clone(),
        profile("8949449999000000029", "001020000000002"),
    ));
    // Reserve a port with nobody listening.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let mut h = Harness::new(&["00101"], Some(addr.to_string())).await;
    h.config.timing.admin_backoff_ms = 400;
    h.start().await;
    h.send_packet(Tar::ISD_R, &trigger()).await;
    let (por, _) = h.recv_por(&mut Vec::new()).await;
    assert_eq!(por.packet.status, PorStatus::Ok);
    // Bring the server up on that port once the first attempt has failed.
    h.event(|k| matches!(k, EventKind::AdminAttemptFailed { attempt: 1, .. }))
        .await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let f = fixture();
    let store = esim_scp81::server::MemoryPskStore::new();
    let k = &f.issued.scp81[0];
    store.insert(
        esim_scp81::admin::PskIdentity::new(f.issued.eid.clone(), k.kvn, k.kid),
        k.psk.clone(),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(esim_scp81::server::run(
        esim_scp81::server::ServerConfig::new("/gp/admin", store, dl.clone()),
        listener,
        async {
            let _ = rx.await;
        },
    ));
    let ev = h
        .event(|k| matches!(k, EventKind::AdminSession { .. }))
        .await;
    let EventKind::AdminSession {
        success, attempts, ..
    } = ev
    else {
        unreachable!()
    };
    assert!(success);
    assert!(attempts >= 2, "first attempt refused, then retried");
    dl.outcome().unwrap();
    assert!(installed_iccid(&h, &aid).is_some());
    let _ = tx.send(());
    h.stop().await;
}

/// Test 3: enable over SMS → REFRESH → attach on the new profile's PLMN → notification 02 by
/// SMS → confirmation 3A08 → the card forgets it; then the PLMN goes away at run time (control
/// endpoint) → fall-back to the bootstrap profile and notification 05; then a profile whose PLMN
/// is unreachable → roll-back and notification 03. Unconfirmed notifications are re-sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_attach_notify_fallback_rollback() {
    let a = isdp_aid(1);
    let dl = Arc::new(Download::new(
        a.clone(),
        profile("8949449999000000029", "001020000000002"),
    ));
    let (addr, _stop) = scp81_server(dl.clone()).await;
    let mut h = Harness::new(&["00101", "00102"], Some(addr)).await;
    h.start().await;
    let mut seen = Vec::new();
    // Declaration, re-sent until confirmed.
    let decl = h.recv_notification(0x01, &mut seen).await;
    let again = h.recv_notification(0x01, &mut seen).await;
    assert_eq!(
        again.sequence, decl.sequence,
        "unconfirmed notification re-sent"
    );
    assert!(h.confirm(decl.sequence).await.deleted.is_empty());
    download_over_https(&mut h, &dl).await;

    // Enable A: REFRESH, attach on 00102, notification 02.
    assert_eq!(h.enable(&a).await, 0x9000);
    let ev = h.event(|k| matches!(k, EventKind::Attach { .. })).await;
    assert_eq!(
        ev,
        EventKind::Attach {
            plmn: Some(esim_device::Plmn::parse("00102").unwrap()),
            success: true
        }
    );
    let n = h.recv_notification(0x02, &mut seen).await;
    assert_eq!(n.isdp_aid.as_ref(), Some(&a));
    h.confirm(n.sequence).await;
    let card = h.card();
    assert_eq!(card.registry().enabled().unwrap().aid, a);
    assert!(card.registry().notifications().is_empty(), "card forgot it");

    // 00102 goes away: fall-back to the bootstrap profile, notification 05.
    let answer = control::request(&h.control_addr, "net remove 00102")
        .await
        .unwrap();
    assert_eq!(answer, "ok 00101");
    h.event(|k| matches!(k, EventKind::ConnectivityLost)).await;
    let n = h.recv_notification(0x05, &mut seen).await;
    let boot = Aid::isd_p(esim_euicc::card::BOOTSTRAP_TAR);
    assert_eq!(n.isdp_aid.as_ref(), Some(&boot));
    h.confirm(n.sequence).await;
    let card = h.card();
    assert_eq!(card.registry().enabled().unwrap().aid, boot);
    assert!(card.registry().notifications().is_empty());

    // Roll-back: A's PLMN is still unreachable; enabling it fails to attach.
    assert_eq!(h.enable(&a).await, 0x9000);
    let n = h.recv_notification(0x03, &mut seen).await;
    h.confirm(n.sequence).await;
    let card = h.card();
    assert_eq!(card.registry().enabled().unwrap().aid, boot);
    assert!(card.registry().notifications().is_empty());
    // A's network comes back: the device stays on the bootstrap profile (nothing to do).
    control::request(&h.control_addr, "net add 00102")
        .await
        .unwrap();
    h.stop().await;
}

/// Test 4: stop and restart the agent: profiles, SCP80 counter and pending notifications are
/// intact, and the card goes on (old counter refused, next one accepted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_card() {
    let mut h = Harness::new(&["00101"], None).await;
    h.config.timing.notification_retry_ms = 60_000;
    h.start().await;
    let mut seen = Vec::new();
    let decl = h.recv_notification(0x01, &mut seen).await;
    // Two commands move the counter; the declaration stays unconfirmed.
    h.script(vec![GetData::new(0x5A).to_command()]).await;
    h.script(vec![
        GetStatus::all(StatusSubset::Applications).to_command(),
    ])
    .await;
    h.stop().await;
    let before = h.card();
    assert_eq!(before.registry().notifications().len(), 1);
    assert_eq!(before.scp80_keysets()[0].stored_counter().value(), 2);

    h.start().await;
    let after = h.card();
    assert_eq!(
        serde_json::to_value(after.registry()).unwrap(),
        serde_json::to_value(before.registry()).unwrap()
    );
    assert_eq!(after.scp80_keysets()[0].stored_counter().value(), 2);
    assert_eq!(after.profiles().len(), before.profiles().len());
    // Counter 2 again: refused; 3: executed.
    let s = esim_apdu::etsi102226::CommandScript::of_apdus(vec![GetData::new(0x5A).to_command()])
        .encode()
        .unwrap();
    h.send_packet_with_counter(Tar::ISD_R, 2, &s).await;
    let (por, _) = h.recv_por(&mut seen).await;
    assert_eq!(por.packet.status, PorStatus::CounterLow);
    let (rs, _, _) = h.script(vec![GetData::new(0x5A).to_command()]).await;
    assert_eq!(rs.responses().last().unwrap().sw.to_u16(), 0x9000);
    // The pending declaration is still confirmable.
    assert!(h.confirm(decl.sequence).await.deleted.is_empty());
    assert!(h.card().registry().notifications().is_empty());
    h.stop().await;
}

/// The SM-SR side of an HTTPS notification (digest §3.3): the opening `POST` carries the `E1`
/// notification as `?msg=`; the SM-SR answers with the 3A08 confirmation script, checks the
/// card's response and ends the session with `204`.
/// What the card's answer to a confirmation script said.
type Confirmed = Result<(), String>;

#[derive(Default)]
struct ConfirmNotifications {
    /// Notifications received, with what the confirmation answered (`None`: not yet).
    log: std::sync::Mutex<Vec<(Notification, Option<Confirmed>)>>,
}

impl AdminHandler for ConfirmNotifications {
    async fn on_post(&self, _session: &SessionInfo, post: CardPost) -> AdminStep {
        let mut log = self.log.lock().unwrap();
        if post.exchange == 0 {
            let Some(raw) = post.notification() else {
                return AdminStep::End;
            };
            let n = Notification::decode(raw).expect("an E1 notification in ?msg=");
            let cmds = Es5Command::NotificationConfirmation {
                sequence: n.sequence,
            }
            .to_commands(255)
            .unwrap();
            // STORE DATA 80E28900 with the 3A08 confirmation.
            assert_eq!(cmds[0].header(), [0x80, 0xE2, 0x89, 0x00]);
            assert_eq!(cmds[0].data.get(..2), Some(&[0x3A, 0x08][..]));
            log.push((n, None));
            return AdminStep::Script {
                targeted: None,
                script: CommandScript::of_apdus(cmds).encode().unwrap().into(),
                next_uri: None,
            };
        }
        assert!(post.notification().is_none(), "msg= only on the first POST");
        let outcome = (|| {
            let rs = ResponseScript::decode(&post.body()).map_err(|e| e.to_string())?;
            let last = rs.responses().last().ok_or("empty response script")?;
            if last.sw.to_u16() != 0x9000 {
                return Err(format!("confirmation answered {:04X}", last.sw.to_u16()));
            }
            NotificationConfirmationResponse::decode(&last.data).map_err(|e| e.to_string())?;
            Ok(())
        })();
        if let Some(entry) = log.last_mut() {
            entry.1 = Some(outcome);
        }
        AdminStep::End
    }
}

/// Test 5: `notification_transport = "https"`: the card's declaration (type 01, first attach)
/// travels to the SM-SR over PSK-TLS as `POST /gp/admin?msg=<hex E1>`, the SM-SR confirms it
/// in the same session (3A08 script, then `204`), and the card forgets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_notification_confirmed_in_the_session() {
    let smsr = Arc::new(ConfirmNotifications::default());
    let (addr, _stop) = scp81_server(smsr.clone()).await;
    let mut h = Harness::new(&["00101"], Some(addr)).await;
    h.config.smsr.notification_transport = esim_device::config::NotificationTransport::Https;
    // The power-on turn sends the declaration before `Started`, so wait on the SM-SR's side.
    h.start().await;
    tokio::time::timeout(LIMIT, async {
        while !smsr.log.lock().unwrap().iter().any(|(_, o)| o.is_some()) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the SM-SR receives and confirms the notification within the limit");
    h.stop().await;
    let log = smsr.log.lock().unwrap();
    assert_eq!(log.len(), 1, "one notification, one session: {log:?}");
    let (n, outcome) = &log[0];
    assert_eq!(n.kind.to_byte(), 0x01, "the eUICC declaration");
    assert_eq!(n.eid, fixture().issued.eid);
    assert_eq!(outcome, &Some(Ok(())), "the card ran the confirmation");
    drop(log);
    let card = h.card();
    assert!(
        card.registry().notifications().is_empty(),
        "the card forgot the confirmed notification: {:?}",
        card.registry().notifications()
    );
}

/// A PoR goes back to the originator of its command (another SM-SR address here), while the
/// card's notifications keep going to the configured SM-SR address (docs/spec-choices.md row 80).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn por_goes_back_to_the_commands_originator() {
    let mut h = Harness::new(&["00101"], None).await;
    let mut ec =
        esim_smpp::EsmeConfig::new(h.smsc_addr.clone(), "smsr2", esim_smpp::Password::new("pw"));
    ec.address_range = esim_smpp::Address::unknown("SMSR2");
    let (smsr2, mut smsr2_in) = esim_smpp::Esme::connect(ec).await.unwrap();
    h.start().await;
    let mut seen = Vec::new();
    h.recv_notification(0x01, &mut seen).await;
    let s = CommandScript::of_apdus(vec![GetData::new(0x5A).to_command()])
        .encode()
        .unwrap();
    h.counter += 1;
    let counter = h.counter;
    assert_eq!(
        h.send_packet_from(&smsr2, "SMSR2", Tar::ISD_R, counter, &s)
            .await,
        1
    );
    let sms = tokio::time::timeout(LIMIT, smsr2_in.recv())
        .await
        .expect("the PoR reaches SMSR2 within the limit")
        .expect("SMSR2 session open");
    assert_eq!(sms.source.address, MSISDN);
    assert_eq!(sms.destination.address, "SMSR2");
    let ud = &sms.user_data;
    // UDH `02 71 00`: a response packet (TS 31.115).
    assert_eq!(ud.get(..3), Some(&[0x02, 0x71, 0x00][..]), "{ud:02X?}");
    h.stop().await;
}
