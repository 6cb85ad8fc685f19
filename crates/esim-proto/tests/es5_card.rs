//! The ES5 engine against the software eUICC: every SMS the engine emits goes through
//! `Euicc::sms_pp_download`, every PoR and notification back through `Channel::handle_sms`.

use esim_apdu::apdu::CommandApdu;
use esim_apdu::gp::get_data::GetData;
use esim_apdu::gp::sgp02::{Es5Command, NotificationType};
use esim_apdu::gp::status::{GetStatus, StatusSubset};
use esim_apdu::sms::{Address, Alphabet, NPI_ISDN, Reassembler, TON_INTERNATIONAL, UserData};
use esim_codec::{Aid, Tar};
use esim_crypto::cert::Date;
use esim_crypto::pki::{self, EuiccParams, IssuedEuicc, PkiParams, TestPki};
use esim_crypto::scp80::{CcAlgorithm, CipherAlgorithm, Counter, Keyset, Kic, Kid, PorStatus, udh};
use esim_euicc::card::{Action as CardAction, CardConfig, Euicc};
use esim_proto::es5::{
    Action, Channel, Config, Es5Error, Es5Request, FailureReason, NextCounter, OperationId,
    Payload, ScriptStatus, Target, Transport,
};
use std::sync::OnceLock;

fn issued() -> &'static IssuedEuicc {
    static I: OnceLock<IssuedEuicc> = OnceLock::new();
    I.get_or_init(|| {
        let params = PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap());
        let pki = TestPki::generate(&params).unwrap();
        let eid = pki::eid_from_prefix("8904903200", 11).unwrap();
        let p = EuiccParams::test_defaults(eid, Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
        pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap()
    })
}

fn card() -> Euicc {
    Euicc::new(
        issued(),
        CardConfig {
            memory_capacity: 200_000,
            default_isdp_quota: 40_000,
        },
    )
}

/// The SM-SR's copy of the ISD-R keyset 1.
fn keyset() -> (u8, Keyset) {
    let k = &issued().scp80[0];
    (
        k.kvn,
        Keyset::new(
            Kic::new(k.kvn, CipherAlgorithm::AesCbc).unwrap(),
            k.kic.clone(),
            Kid::cc(k.kvn, CcAlgorithm::AesCmac).unwrap(),
            k.kid.clone(),
        ),
    )
}

const TIMEOUT: u64 = 1_000;

fn channel(transport: Transport) -> Channel {
    let (kvn, keys) = keyset();
    Channel::new(
        issued().eid.clone(),
        kvn,
        keys,
        transport,
        Config {
            initial_timeout: TIMEOUT,
            ..Config::default()
        },
    )
}

fn request(op: u64, apdus: Vec<CommandApdu>, deadline: u64) -> Es5Request {
    Es5Request {
        operation: OperationId(op),
        target: Target::IsdR,
        payload: Payload::Apdus(apdus),
        deadline,
    }
}

fn get_eid() -> CommandApdu {
    GetData::new(0x5A).to_command()
}

fn drain(ch: &mut Channel) -> Vec<Action> {
    std::iter::from_fn(|| ch.poll_action()).collect()
}

fn sms_parts(actions: &[Action]) -> Vec<Vec<UserData>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendSms { eid, parts } => {
                assert_eq!(eid, &issued().eid);
                Some(parts.clone())
            }
            _ => None,
        })
        .collect()
}

/// Reassembles the parts as the handset would and hands the packet to the card; returns the
/// card's PoR user data.
fn deliver(card: &mut Euicc, parts: &[UserData]) -> Option<Vec<u8>> {
    let user_data = if parts.len() == 1 {
        parts[0].encode(Alphabet::EightBit).unwrap().1
    } else {
        let sender = Address::digits(TON_INTERNATIONAL, NPI_ISDN, "4912345").unwrap();
        let mut r = Reassembler::default();
        let mut done = None;
        for p in parts {
            // Through the wire encoding and back.
            let (udl, bytes) = p.encode(Alphabet::EightBit).unwrap();
            let p = UserData::decode(udl, &bytes, true, Alphabet::EightBit, 0).unwrap();
            done = r.push(&sender, &p).unwrap().complete.or(done);
        }
        udh::add_command_udh(&done.expect("complete message").data)
    };
    card.sms_pp_download(&user_data).por
}

/// One command through the card: the single SendSms is delivered and its PoR returned.
fn round_trip(ch: &mut Channel, card: &mut Euicc) -> Vec<u8> {
    let parts = sms_parts(&drain(ch));
    assert_eq!(parts.len(), 1, "exactly one SMS send");
    deliver(card, &parts[0]).expect("PoR")
}

#[test]
fn get_status_and_get_data_complete() {
    let mut card = card();
    let mut ch = channel(Transport::Sms);
    let mut counters = NextCounter(Counter::ZERO);
    let cmds = vec![
        GetStatus::all(StatusSubset::IssuerSecurityDomain).to_command(),
        get_eid(),
    ];
    ch.enqueue(request(1, cmds, 10_000), 0, &mut counters);
    let por = round_trip(&mut ch, &mut card);
    ch.handle_sms(&por, 10, &mut counters).unwrap();
    let actions = drain(&mut ch);
    let [
        Action::Completed {
            operation,
            responses,
            last_sw,
            ..
        },
    ] = actions.as_slice()
    else {
        panic!("{actions:?}")
    };
    assert_eq!(*operation, OperationId(1));
    assert_eq!(*last_sw, 0x9000);
    assert_eq!(responses.len(), 2);
    assert!(
        responses[0]
            .data
            .windows(16)
            .any(|w| w == Aid::isd_r().as_bytes())
    );
    assert_eq!(responses[1].data[2..], issued().eid.to_bcd());
    assert_eq!(card.scp80_keysets()[0].counter, 1);
    assert!(!ch.is_busy());
}

#[test]
fn long_script_goes_in_concatenated_sms() {
    let mut card = card();
    let mut ch = channel(Transport::Sms);
    let mut counters = NextCounter(Counter::ZERO);
    let cmds = vec![get_eid(); 20];
    ch.enqueue(request(1, cmds, 10_000), 0, &mut counters);
    let parts = sms_parts(&drain(&mut ch));
    assert!(parts[0].len() > 1, "{} parts", parts[0].len());
    let por = deliver(&mut card, &parts[0]).unwrap();
    ch.handle_sms(&por, 10, &mut counters).unwrap();
    match drain(&mut ch).as_slice() {
        [Action::Completed { responses, .. }] => assert_eq!(responses.len(), 20),
        other => panic!("{other:?}"),
    }
}

#[test]
fn enable_of_unknown_profile_fails_with_the_card_sw() {
    let mut card = card();
    let mut ch = channel(Transport::Sms);
    let mut counters = NextCounter(Counter::ZERO);
    let aid = Aid::isd_p(Tar([0, 0, 0x15]));
    let cmds = Es5Command::EnableProfile { isdp_aid: aid }
        .to_commands(255)
        .unwrap();
    ch.enqueue(request(7, cmds, 10_000), 0, &mut counters);
    let por = round_trip(&mut ch, &mut card);
    ch.handle_sms(&por, 10, &mut counters).unwrap();
    match drain(&mut ch).as_slice() {
        [
            Action::Failed {
                operation: OperationId(7),
                reason: FailureReason::Sw { sw, .. },
            },
        ] => assert_ne!(*sw, 0x9000),
        other => panic!("{other:?}"),
    }
    assert!(card.registry().enabled().is_none());
}

#[test]
fn unknown_tar_fails_with_the_por_status() {
    let mut card = card();
    let mut ch = channel(Transport::Sms);
    let mut counters = NextCounter(Counter::ZERO);
    ch.enqueue(
        Es5Request {
            operation: OperationId(3),
            target: Target::IsdP(Aid::isd_p(Tar([0, 0, 0x17]))),
            payload: Payload::Raw(vec![0x01, 0x02]),
            deadline: 10_000,
        },
        0,
        &mut counters,
    );
    let por = round_trip(&mut ch, &mut card);
    ch.handle_sms(&por, 10, &mut counters).unwrap();
    assert_eq!(
        drain(&mut ch),
        vec![Action::Failed {
            operation: OperationId(3),
            reason: FailureReason::PorStatus(PorStatus::TarUnknown),
        }]
    );
}

#[test]
fn lost_sms_is_sent_again_after_the_timeout() {
    let mut card = card();
    let mut ch = channel(Transport::Sms);
    let mut counters = NextCounter(Counter::ZERO);
    ch.enqueue(request(1, vec![get_eid()], 100_000), 0, &mut counters);
    let first = sms_parts(&drain(&mut ch));
    assert_eq!(first.len(), 1);
    // Lost. Nothing happens before the timeout.
    assert_eq!(ch.poll_timeout(), Some(TIMEOUT));
    ch.handle_timeout(TIMEOUT - 1, &mut counters);
    assert!(drain(&mut ch).is_empty());
    ch.handle_timeout(TIMEOUT, &mut counters);
    let second = sms_parts(&drain(&mut ch));
    assert_eq!(second, first, "the same secured packet");
    // Back-off doubles.
    assert_eq!(ch.poll_timeout(), Some(3 * TIMEOUT));
    let por = deliver(&mut card, &second[0]).unwrap();
    ch.handle_sms(&por, TIMEOUT + 5, &mut counters).unwrap();
    assert!(matches!(
        drain(&mut ch).as_slice(),
        [Action::Completed {
            operation: OperationId(1),
            ..
        }]
    ));
}

#[test]
fn no_por_after_every_attempt_fails() {
    let mut ch = channel(Transport::Sms);
    let mut counters = NextCounter(Counter::ZERO);
    ch.enqueue(request(1, vec![get_eid()], 1_000_000), 0, &mut counters);
    let mut sends = sms_parts(&drain(&mut ch)).len();
    let mut now = 0;
    let mut failed = Vec::new();
    while let Some(t) = ch.poll_timeout() {
        now = t;
        ch.handle_timeout(now, &mut counters);
        let actions = drain(&mut ch);
        sends += sms_parts(&actions).len();
        failed.extend(
            actions
                .into_iter()
                .filter(|a| matches!(a, Action::Failed { .. })),
        );
    }
    assert_eq!(sends, 3);
    assert_eq!(now, TIMEOUT + 2 * TIMEOUT + 4 * TIMEOUT);
    assert_eq!(
        failed,
        vec![Action::Failed {
            operation: OperationId(1),
            reason: FailureReason::NoResponse { attempts: 3 },
        }]
    );
}

#[test]
fn replayed_or_foreign_por_is_rejected() {
    let mut card = card();
    let mut ch = channel(Transport::Sms);
    let mut counters = NextCounter(Counter::ZERO);
    ch.enqueue(request(1, vec![get_eid()], 10_000), 0, &mut counters);
    let por1 = round_trip(&mut ch, &mut card);
    ch.handle_sms(&por1, 1, &mut counters).unwrap();
    assert_eq!(drain(&mut ch).len(), 1);
    // Nothing outstanding: a second copy is refused.
    assert_eq!(
        ch.handle_sms(&por1, 2, &mut counters),
        Err(Es5Error::NoOutstanding)
    );
    // With the next command outstanding, the old PoR is a replay.
    ch.enqueue(request(2, vec![get_eid()], 10_000), 3, &mut counters);
    let parts = sms_parts(&drain(&mut ch));
    assert_eq!(
        ch.handle_sms(&por1, 4, &mut counters),
        Err(Es5Error::CounterMismatch {
            expected: 2,
            found: 1
        })
    );
    assert!(drain(&mut ch).is_empty());
    // A PoR with a flipped byte fails the RC/CC.
    let por2 = deliver(&mut card, &parts[0]).unwrap();
    let mut bad = por2.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        ch.handle_sms(&bad, 5, &mut counters),
        Err(Es5Error::Scp80(_))
    ));
    ch.handle_sms(&por2, 6, &mut counters).unwrap();
    assert!(matches!(
        drain(&mut ch).as_slice(),
        [Action::Completed {
            operation: OperationId(2),
            ..
        }]
    ));
}

#[test]
fn validity_period_expiry() {
    let mut card = card();
    let mut ch = channel(Transport::Sms);
    let mut counters = NextCounter(Counter::ZERO);
    // Already past its deadline: expired, nothing sent, no counter used.
    ch.enqueue(request(1, vec![get_eid()], 50), 50, &mut counters);
    assert_eq!(
        drain(&mut ch),
        vec![Action::Expired {
            operation: OperationId(1)
        }]
    );
    assert_eq!(counters.0, Counter::ZERO);
    // Queued behind another command and expiring meanwhile: never sent.
    ch.enqueue(request(2, vec![get_eid()], 10_000), 100, &mut counters);
    ch.enqueue(request(3, vec![get_eid()], 500), 100, &mut counters);
    let por = round_trip(&mut ch, &mut card);
    ch.handle_sms(&por, 600, &mut counters).unwrap();
    let actions = drain(&mut ch);
    assert!(sms_parts(&actions).is_empty());
    assert!(matches!(
        actions.as_slice(),
        [
            Action::Completed {
                operation: OperationId(2),
                ..
            },
            Action::Expired {
                operation: OperationId(3)
            }
        ]
    ));
    // Outstanding past its deadline: expired at the timeout, not sent again.
    ch.enqueue(request(4, vec![get_eid()], 1_000), 700, &mut counters);
    assert_eq!(sms_parts(&drain(&mut ch)).len(), 1);
    assert_eq!(ch.poll_timeout(), Some(1_000));
    ch.handle_timeout(1_000, &mut counters);
    assert_eq!(
        drain(&mut ch),
        vec![Action::Expired {
            operation: OperationId(4)
        }]
    );
}

#[test]
fn commands_for_one_euicc_stay_ordered() {
    let mut card = card();
    let mut ch = channel(Transport::Sms);
    let mut counters = NextCounter(Counter::ZERO);
    for op in 1..=3 {
        ch.enqueue(request(op, vec![get_eid()], 10_000), 0, &mut counters);
    }
    assert_eq!(ch.queued(), 2);
    let mut done = Vec::new();
    let mut sends = 0;
    let mut now = 0;
    let mut pending = drain(&mut ch);
    while !pending.is_empty() {
        for a in std::mem::take(&mut pending) {
            match a {
                Action::Completed { operation, .. } => done.push(operation),
                Action::SendSms { parts, .. } => {
                    sends += 1;
                    // Exactly one outstanding: nothing else was sent meanwhile.
                    assert_eq!(done.len() + 1, sends);
                    let por = deliver(&mut card, &parts).unwrap();
                    now += 1;
                    ch.handle_sms(&por, now, &mut counters).unwrap();
                    pending.extend(drain(&mut ch));
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(done, vec![OperationId(1), OperationId(2), OperationId(3)]);
    assert_eq!(card.scp80_keysets()[0].counter, 3);
}

#[test]
fn notification_is_recognised_and_confirmed() {
    let mut card = card();
    let mut ch = channel(Transport::Sms);
    let mut counters = NextCounter(Counter::ZERO);
    card.network_attach(true);
    let ud = std::iter::from_fn(|| card.poll_action())
        .find_map(|a| match a {
            CardAction::SendNotification { sms_user_data, .. } => sms_user_data,
            _ => None,
        })
        .expect("an SMS notification");
    assert_eq!(card.registry().notifications().len(), 1);
    ch.handle_sms(&ud, 0, &mut counters).unwrap();
    let seq = match drain(&mut ch).as_slice() {
        [
            Action::Notification {
                eid,
                notification,
                seq,
            },
        ] => {
            assert_eq!(eid, &issued().eid);
            assert_eq!(notification.kind, NotificationType::EuiccDeclaration);
            assert_eq!(notification.sequence, *seq);
            *seq
        }
        other => panic!("{other:?}"),
    };
    ch.confirm_notification(seq, OperationId(9), 1, &mut counters);
    let por = round_trip(&mut ch, &mut card);
    ch.handle_sms(&por, 2, &mut counters).unwrap();
    assert!(matches!(
        drain(&mut ch).as_slice(),
        [Action::Completed {
            operation: OperationId(9),
            last_sw: 0x9000,
            ..
        }]
    ));
    assert!(card.registry().notifications().is_empty());
}

#[test]
fn notification_from_another_card_or_keyset_is_refused() {
    let mut ch = channel(Transport::Sms);
    let mut counters = NextCounter(Counter::ZERO);
    // Not secured at all.
    assert_eq!(
        ch.handle_sms(&[0x00, 0x01, 0x02], 0, &mut counters),
        Err(Es5Error::NotSecured)
    );
    // A command packet under other keys fails verification.
    let other = Keyset::new(
        Kic::new(1, CipherAlgorithm::AesCbc).unwrap(),
        esim_crypto::primitives::SecretKey::new(&[0x11; 16]),
        Kid::cc(1, CcAlgorithm::AesCmac).unwrap(),
        esim_crypto::primitives::SecretKey::new(&[0x22; 16]),
    );
    let p = esim_crypto::scp80::CommandPacket {
        spi: esim_euicc::ota::NOTIFICATION_SPI,
        tar: Tar::ISD_R,
        counter: Counter::ZERO,
        data: vec![0xE1, 0x00],
    }
    .encode(&other)
    .unwrap();
    assert!(
        ch.handle_sms(&udh::add_command_udh(&p), 0, &mut counters)
            .is_err()
    );
    assert!(drain(&mut ch).is_empty());
}

#[test]
fn https_transport_triggers_a_session_and_hands_out_scripts() {
    let mut card = card();
    let mut ch = channel(Transport::Https {
        trigger: vec![0x81, 0x00],
    });
    let mut counters = NextCounter(Counter::ZERO);
    ch.enqueue(request(1, vec![get_eid()], 10_000), 0, &mut counters);
    ch.enqueue(
        request(
            2,
            vec![GetStatus::all(StatusSubset::IssuerSecurityDomain).to_command()],
            10_000,
        ),
        0,
        &mut counters,
    );
    let parts = sms_parts(&drain(&mut ch));
    assert_eq!(parts.len(), 1, "one trigger");
    // PoR on error only: none for a good trigger.
    assert_eq!(deliver(&mut card, &parts[0]), None);
    assert!(matches!(
        card.poll_action(),
        Some(CardAction::OpenAdminSession(_))
    ));
    // No script before the session is open.
    assert_eq!(ch.next_script(1), None);
    ch.session_opened(2, &mut counters);
    let mut done = Vec::new();
    while let Some(s) = ch.next_script(3) {
        assert_eq!(s.targeted, None);
        let out = card.admin_script(None, &s.script);
        assert_eq!(out.status, esim_euicc::card::ScriptStatus::Ok);
        ch.handle_script_response(ScriptStatus::Ok, &out.response)
            .unwrap();
        done.extend(drain(&mut ch));
    }
    assert!(matches!(
        done.as_slice(),
        [
            Action::Completed {
                operation: OperationId(1),
                ..
            },
            Action::Completed {
                operation: OperationId(2),
                ..
            }
        ]
    ));
    assert_eq!(
        ch.handle_script_response(ScriptStatus::Ok, &[]),
        Err(Es5Error::NoScriptOutstanding)
    );
    ch.session_closed(4, &mut counters);
    // A failing script status fails the operation.
    ch.enqueue(request(3, vec![get_eid()], 10_000), 5, &mut counters);
    assert_eq!(sms_parts(&drain(&mut ch)).len(), 1, "a new trigger");
    ch.session_opened(6, &mut counters);
    let _ = ch.next_script(6).unwrap();
    ch.handle_script_response(ScriptStatus::SecurityError, &[])
        .unwrap();
    assert_eq!(
        drain(&mut ch),
        vec![Action::Failed {
            operation: OperationId(3),
            reason: FailureReason::ScriptStatus(ScriptStatus::SecurityError),
        }]
    );
}
