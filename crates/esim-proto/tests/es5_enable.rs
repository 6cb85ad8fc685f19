//! ES5 enable over SMS through the engine, then the card's notification of the switch back
//! through the engine and its confirmation (SGP.02 §3.3, digest §2.7, §3.3): the SM-DP's part
//! (ISD-P creation, ECKA key establishment, SCP03t download) runs on the contact and admin
//! interfaces as in the card tests; everything ES5 goes through `esim_proto::es5::Channel`.

use esim_apdu::apdu::{CommandApdu, ResponseApdu};
use esim_apdu::gp::install::{CreateIsdp, Install};
use esim_apdu::gp::sgp02::{Es5Command, NotificationType};
use esim_apdu::gp::store_data::{StoreDataP1, command};
use esim_codec::{Aid, Tar};
use esim_crypto::cert::Date;
use esim_crypto::ecka::{KeyParams, OffCardAwaitingChallenge};
use esim_crypto::pki::{self, EuiccParams, PkiParams, TestPki};
use esim_crypto::scp03::StaticKeys;
use esim_crypto::scp03t::Scp03tHostAwaitingInitUpdateResponse;
use esim_crypto::scp80::{CcAlgorithm, CipherAlgorithm, Counter, Keyset, Kic, Kid};
use esim_euicc::card::{Action as CardAction, CardConfig, Euicc};
use esim_proto::es5::{
    Action, Channel, Config, Es5Request, NextCounter, OperationId, Payload, Target, Transport,
};

fn apdu(card: &mut Euicc, cmd: &CommandApdu) -> ResponseApdu {
    ResponseApdu::decode(&card.process_apdu(&cmd.encode().unwrap())).unwrap()
}

fn ok(r: &ResponseApdu) {
    assert_eq!(r.sw.to_u16(), 0x9000, "{r:?}");
}

/// The smallest TS.48 package of the shared vectors.
fn package() -> Vec<u8> {
    let path = esim_vectors::saip_files()
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "TS48V1-A-UNIQUE.der"))
        .expect("TS.48 vector");
    std::fs::read(path).unwrap()
}

/// What the SM-DP does before ES5: CreateISDP, key establishment, download.
fn install_profile(card: &mut Euicc, pki: &TestPki, aid: &Aid) {
    let sel = CommandApdu::new(0x00, 0xA4, 0x04, 0x00)
        .with_data(Aid::isd_r().as_bytes().to_vec())
        .with_le(256);
    ok(&apdu(card, &sel));
    ok(&apdu(
        card,
        &CreateIsdp::new(aid.clone(), Some(60_000))
            .to_command()
            .unwrap(),
    ));
    ok(&apdu(card, &Install::for_personalization(aid)));
    let ecasd_pk = card.ecasd().certificate().public_key().clone();
    let (oc, m1) = OffCardAwaitingChallenge::start(
        pki.smdp.key.clone(),
        &pki.smdp.cert,
        ecasd_pk,
        KeyParams::isd_p_scp03(0x30),
    )
    .unwrap();
    let r1 = apdu(
        card,
        &command(StoreDataP1::sgp02_more_with_response(), 0, m1),
    );
    ok(&r1);
    let (oc, m2) = oc.handle(&r1.data).unwrap();
    let r2 = apdu(
        card,
        &command(StoreDataP1::sgp02_last_with_response(), 1, m2),
    );
    ok(&r2);
    let keys = oc.handle(&r2.data).unwrap();
    let k = keys.scp03().unwrap();
    let keys = StaticKeys::new(k.kvn, k.enc, k.mac, k.dek).unwrap();
    let (host, c84) = Scp03tHostAwaitingInitUpdateResponse::start_random(keys, 0).unwrap();
    let r84 = card.admin_script(Some(aid), &c84);
    let (mut host, c85) = host.handle(&r84.response).unwrap();
    assert_eq!(card.admin_script(Some(aid), &c85).response, [0x85, 0x00]);
    for seg in host.wrap_profile(&package()).unwrap() {
        card.admin_script(Some(aid), &seg);
    }
}

fn drain(ch: &mut Channel) -> Vec<Action> {
    std::iter::from_fn(|| ch.poll_action()).collect()
}

/// Delivers the single SMS of `actions` to the card and returns the PoR.
fn deliver(card: &mut Euicc, actions: &[Action]) -> Vec<u8> {
    let [Action::SendSms { parts, .. }] = actions else {
        panic!("{actions:?}")
    };
    let ud: Vec<u8> = if parts.len() == 1 {
        parts[0]
            .encode(esim_apdu::sms::Alphabet::EightBit)
            .unwrap()
            .1
    } else {
        let body: Vec<u8> = parts.iter().flat_map(|p| p.body.clone()).collect();
        esim_crypto::scp80::udh::add_command_udh(&body)
    };
    card.sms_pp_download(&ud).por.expect("PoR")
}

#[test]
fn enable_over_sms_then_notification_confirmed() {
    let params = PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap());
    let pki = TestPki::generate(&params).unwrap();
    let eid = pki::eid_from_prefix("8904903200", 12).unwrap();
    let p = EuiccParams::test_defaults(eid, Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
    let issued = pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap();
    let mut card = Euicc::new(
        &issued,
        CardConfig {
            memory_capacity: 200_000,
            default_isdp_quota: 60_000,
        },
    );
    let aid = Aid::isd_p(Tar([0, 0, 0x11]));
    install_profile(&mut card, &pki, &aid);
    assert!(card.registry().enabled().is_none());

    let k = &issued.scp80[0];
    let keys = Keyset::new(
        Kic::new(k.kvn, CipherAlgorithm::AesCbc).unwrap(),
        k.kic.clone(),
        Kid::cc(k.kvn, CcAlgorithm::AesCmac).unwrap(),
        k.kid.clone(),
    );
    let mut ch = Channel::new(
        issued.eid.clone(),
        k.kvn,
        keys,
        Transport::Sms,
        Config::default(),
    );
    let mut counters = NextCounter(Counter::ZERO);

    // ES5.EnableProfile over SMS.
    let cmds = Es5Command::EnableProfile {
        isdp_aid: aid.clone(),
    }
    .to_commands(255)
    .unwrap();
    ch.enqueue(
        Es5Request {
            operation: OperationId(1),
            target: Target::IsdR,
            payload: Payload::Apdus(cmds),
            deadline: 60_000,
        },
        0,
        &mut counters,
    );
    let por = deliver(&mut card, &drain(&mut ch));
    ch.handle_sms(&por, 10, &mut counters).unwrap();
    assert!(matches!(
        drain(&mut ch).as_slice(),
        [Action::Completed {
            operation: OperationId(1),
            last_sw: 0x9000,
            ..
        }]
    ));
    assert_eq!(card.registry().enabled().unwrap().aid, aid);
    assert_eq!(card.poll_action(), Some(CardAction::Refresh));

    // The device attaches with the new profile: the card notifies by SMS.
    card.network_attach(true);
    let notifications: Vec<Vec<u8>> = std::iter::from_fn(|| card.poll_action())
        .filter_map(|a| match a {
            CardAction::SendNotification { sms_user_data, .. } => sms_user_data,
            _ => None,
        })
        .collect();
    assert!(!notifications.is_empty());
    assert!(!card.registry().notifications().is_empty());
    let mut seqs = Vec::new();
    for ud in &notifications {
        ch.handle_sms(ud, 20, &mut counters).unwrap();
        for a in drain(&mut ch) {
            let Action::Notification {
                notification, seq, ..
            } = a
            else {
                panic!("{a:?}")
            };
            if notification.kind == NotificationType::ProfileChangeSucceeded {
                assert_eq!(notification.isdp_aid.as_ref(), Some(&aid));
            }
            seqs.push(seq);
        }
    }
    assert!(
        seqs.len() == notifications.len(),
        "every notification recognised"
    );
    // Confirm each; the card's pending list empties.
    for (i, seq) in seqs.into_iter().enumerate() {
        let op = OperationId(100 + i as u64);
        ch.confirm_notification(seq, op, 30, &mut counters);
        let por = deliver(&mut card, &drain(&mut ch));
        ch.handle_sms(&por, 40, &mut counters).unwrap();
        assert!(
            matches!(drain(&mut ch).as_slice(), [Action::Completed { operation, .. }] if *operation == op)
        );
    }
    assert!(card.registry().notifications().is_empty());
    assert_eq!(card.scp80_keysets()[0].counter, counters.0.value());
}
