//! ISD-P property tests: arbitrary ES8 bytes never panic and never install a profile; arbitrary
//! (and mutated real) Profile Packages wrapped in a valid SCP03t session never panic, and anything
//! installed is complete; serialization round trip.

use esim_codec::Aid;
use esim_codec::ids::Tar;
use esim_crypto::SecretKey;
use esim_crypto::scp03::StaticKeys;
use esim_crypto::scp03t::Scp03tHostAwaitingInitUpdateResponse;
use esim_euicc::isdp::{IsdP, IsdpEvent};
use proptest::prelude::*;

fn keys() -> StaticKeys {
    StaticKeys::new(
        0x30,
        SecretKey::new(&[0x11; 16]),
        SecretKey::new(&[0x22; 16]),
        SecretKey::new(&[0x33; 16]),
    )
    .unwrap()
}

fn personalized() -> IsdP {
    let mut isdp = IsdP::new(Aid::isd_p(Tar([0, 0, 0x11])), 1 << 20);
    isdp.personalize(keys()).unwrap();
    isdp
}

fn ts48_a() -> Vec<u8> {
    std::fs::read(
        esim_vectors::saip_files()
            .into_iter()
            .find(|p| p.file_name().unwrap() == "TS48V1-A-UNIQUE.der")
            .unwrap(),
    )
    .unwrap()
}

/// Opens a session, wraps `package` and feeds it in `chunk`-byte pieces; returns the events.
fn wrapped_download(isdp: &mut IsdP, package: &[u8], chunk: usize) -> Vec<IsdpEvent> {
    let (host, cmd) = Scp03tHostAwaitingInitUpdateResponse::start(keys(), 0, [7; 8]);
    let out = isdp.feed_scp03t(&cmd);
    let (mut host, cmd) = host.handle(&out.response).unwrap();
    let out = isdp.feed_scp03t(&cmd);
    host.check_responses(&out.response).unwrap();
    let stream = host.wrap_profile(package).unwrap().concat();
    let mut events = Vec::new();
    for c in stream.chunks(chunk.max(1)) {
        events.extend(isdp.feed_scp03t(c).events);
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_bytes_never_panic_nor_install(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
        with_keys in any::<bool>(),
    ) {
        let mut isdp = if with_keys { personalized() } else { IsdP::new(Aid::isd_p(Tar([0, 0, 0x12])), 4096) };
        for c in &chunks {
            let _ = isdp.feed_scp03t(c);
        }
        prop_assert!(isdp.installed_profile().is_none());
        isdp.abort();
        prop_assert!(isdp.installed_profile().is_none());
        prop_assert_eq!(isdp.memory_used(), 0);
    }

    #[test]
    fn arbitrary_packages_in_a_valid_session_never_panic(
        package in proptest::collection::vec(any::<u8>(), 1..2000),
        chunk in 1usize..600,
    ) {
        let mut isdp = personalized();
        let events = wrapped_download(&mut isdp, &package, chunk);
        // Random bytes cannot form header … MF … end.
        prop_assert!(isdp.installed_profile().is_none());
        let all_failed = events
            .iter()
            .all(|e| matches!(e, IsdpEvent::InstallationFailed { .. }));
        prop_assert!(all_failed);
    }

    #[test]
    fn mutated_profiles_never_panic_and_install_completely_or_not_at_all(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        chunk in 1usize..900,
    ) {
        let mut der = ts48_a();
        for (i, x) in &flips {
            let i = i.index(der.len());
            der[i] ^= x | 1;
        }
        if truncate {
            der.truncate(cut.index(der.len()).max(1));
        }
        let mut isdp = personalized();
        let events = wrapped_download(&mut isdp, &der, chunk);
        match isdp.installed_profile() {
            Some(p) => {
                prop_assert!(p.read_file(&[0x3F00]).is_some());
                let complete = events.iter().any(|e| matches!(e, IsdpEvent::InstallationComplete { .. }));
                prop_assert!(complete);
            }
            None => {
                isdp.abort();
                prop_assert!(isdp.installed_profile().is_none());
            }
        }
    }
}

#[test]
fn round_trip_with_installed_profile() {
    let mut isdp = personalized();
    let events = wrapped_download(&mut isdp, &ts48_a(), 333);
    assert!(matches!(
        events.as_slice(),
        [IsdpEvent::InstallationComplete { .. }]
    ));
    let json = serde_json::to_vec(&isdp).unwrap();
    let back: IsdP = serde_json::from_slice(&json).unwrap();
    assert_eq!(back.installed_profile(), isdp.installed_profile());
    assert_eq!(back.aid(), isdp.aid());
    assert_eq!(back.quota(), isdp.quota());
    assert_eq!(serde_json::to_vec(&back).unwrap(), json);
}
