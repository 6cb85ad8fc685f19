//! Property tests of the ES5 engine: no input from the network panics it, and input it refuses
//! leaves its state unchanged.

use esim_apdu::gp::get_data::GetData;
use esim_codec::Eid;
use esim_crypto::primitives::SecretKey;
use esim_crypto::scp80::{CcAlgorithm, CipherAlgorithm, Counter, Keyset, Kic, Kid};
use esim_proto::es5::{
    Action, Channel, Config, Es5Request, NextCounter, OperationId, Payload, ScriptStatus, Target,
    Transport,
};
use proptest::prelude::*;

fn channel(transport: Transport) -> Channel {
    let keys = Keyset::new(
        Kic::new(1, CipherAlgorithm::AesCbc).unwrap(),
        SecretKey::new(&[0x11; 16]),
        Kid::cc(1, CcAlgorithm::AesCmac).unwrap(),
        SecretKey::new(&[0x22; 16]),
    );
    let eid = Eid::parse("89049032000000000000000000000163").unwrap();
    Channel::new(eid, 1, keys, transport, Config::default())
}

fn busy(transport: Transport) -> (Channel, NextCounter) {
    let mut ch = channel(transport);
    let mut counters = NextCounter(Counter::ZERO);
    ch.enqueue(
        Es5Request {
            operation: OperationId(1),
            target: Target::IsdR,
            payload: Payload::Apdus(vec![GetData::new(0x5A).to_command()]),
            deadline: 1_000_000,
        },
        0,
        &mut counters,
    );
    assert!(matches!(ch.poll_action(), Some(Action::SendSms { .. })));
    (ch, counters)
}

fn user_data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|v| [&[2, 0x71, 0][..], &v].concat()),
        proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|v| [&[2, 0x70, 0][..], &v].concat()),
    ]
}

proptest! {
    #[test]
    fn arbitrary_sms_never_panics_and_refusals_change_nothing(ud in user_data()) {
        // Idle channel.
        let mut ch = channel(Transport::Sms);
        let mut counters = NextCounter(Counter::ZERO);
        if ch.handle_sms(&ud, 1, &mut counters).is_err() {
            prop_assert!(ch.poll_action().is_none());
        }
        // Command outstanding.
        let (mut ch, mut counters) = busy(Transport::Sms);
        let before = ch.poll_timeout();
        if ch.handle_sms(&ud, 1, &mut counters).is_err() {
            prop_assert!(ch.poll_action().is_none());
            prop_assert!(ch.is_busy());
            prop_assert_eq!(ch.poll_timeout(), before);
        }
        prop_assert_eq!(counters.0.value(), 1);
    }

    #[test]
    fn arbitrary_admin_script_answer_never_panics(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        ok in any::<bool>(),
    ) {
        let (mut ch, mut counters) = busy(Transport::Https { trigger: vec![0x81, 0x00] });
        ch.session_opened(1, &mut counters);
        prop_assert!(ch.next_script(2).is_some());
        let status = if ok { ScriptStatus::Ok } else { ScriptStatus::Other("x".into()) };
        ch.handle_script_response(status, &body).unwrap();
        let outcome = ch.poll_action();
        prop_assert!(
            matches!(
                outcome,
                Some(Action::Completed { .. } | Action::Failed { .. })
            ),
            "{:?}",
            outcome
        );
        prop_assert!(!ch.is_busy());
    }
}
