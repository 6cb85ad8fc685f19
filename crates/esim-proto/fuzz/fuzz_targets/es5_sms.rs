#![no_main]
//! The SM-SR's ES5 engine on arbitrary incoming SMS user data (PoRs, notifications, garbage), with
//! a command outstanding: never panics; a refused SMS produces no action.
use esim_apdu::gp::get_data::GetData;
use esim_codec::Eid;
use esim_crypto::primitives::SecretKey;
use esim_crypto::scp80::{CcAlgorithm, CipherAlgorithm, Counter, Keyset, Kic, Kid};
use esim_proto::es5::{
    Action, Channel, Config, Es5Request, NextCounter, OperationId, Payload, Target, Transport,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (Ok(kic), Ok(kid), Ok(eid)) = (
        Kic::new(1, CipherAlgorithm::AesCbc),
        Kid::cc(1, CcAlgorithm::AesCmac),
        Eid::parse("89049032000000000000000000000163"),
    ) else {
        return;
    };
    let keys = Keyset::new(
        kic,
        SecretKey::new(&[0x11; 16]),
        kid,
        SecretKey::new(&[0x22; 16]),
    );
    let mut ch = Channel::new(eid, 1, keys, Transport::Sms, Config::default());
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
    let sent = matches!(ch.poll_action(), Some(Action::SendSms { .. }));
    assert!(sent);
    if ch.handle_sms(data, 1, &mut counters).is_err() {
        assert!(ch.poll_action().is_none());
    }
    let _ = ch.handle_timeout(40_000, &mut counters);
});
