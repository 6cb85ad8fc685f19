//! ISD-P input: the first byte picks the mode and chunk size. Even: the rest is raw ES8 bytes fed
//! to a personalized ISD-P. Odd: the rest is a Profile Package wrapped in a valid SCP03t session,
//! so the bytes reach the Profile Package Interpreter. Must never panic; an installed profile
//! must come with its InstallationComplete event, and abort() leaves nothing staged.
#![no_main]

use esim_codec::Aid;
use esim_codec::ids::Tar;
use esim_crypto::SecretKey;
use esim_crypto::scp03::StaticKeys;
use esim_crypto::scp03t::Scp03tHostAwaitingInitUpdateResponse;
use esim_euicc::isdp::{IsdP, IsdpEvent};
use libfuzzer_sys::fuzz_target;

fn keys() -> StaticKeys {
    StaticKeys::new(
        0x30,
        SecretKey::new(&[0x11; 16]),
        SecretKey::new(&[0x22; 16]),
        SecretKey::new(&[0x33; 16]),
    )
    .expect("valid keyset")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(mode >> 1).max(1);
    let mut isdp = IsdP::new(Aid::isd_p(Tar([0, 0, 0x10])), 1 << 20);
    isdp.personalize(keys()).expect("fresh ISD-P");
    let stream = if mode & 1 == 0 {
        body.to_vec()
    } else {
        let (host, cmd) = Scp03tHostAwaitingInitUpdateResponse::start(keys(), 0, [7; 8]);
        let out = isdp.feed_scp03t(&cmd);
        let (mut host, cmd) = host.handle(&out.response).expect("84 accepted");
        let out = isdp.feed_scp03t(&cmd);
        host.check_responses(&out.response).expect("85 accepted");
        if body.is_empty() {
            return;
        }
        host.wrap_profile(body).expect("wrap").concat()
    };
    let mut events = Vec::new();
    for c in stream.chunks(chunk) {
        events.extend(isdp.feed_scp03t(c).events);
    }
    let complete = events
        .iter()
        .any(|e| matches!(e, IsdpEvent::InstallationComplete { .. }));
    assert_eq!(isdp.installed_profile().is_some(), complete);
    if !complete {
        isdp.abort();
        assert!(isdp.installed_profile().is_none());
        assert_eq!(isdp.memory_used(), 0);
    }
});
