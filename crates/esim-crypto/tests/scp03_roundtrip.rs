//! SCP03 host ↔ card round trips at every security level with random commands and responses,
//! tampering, and proptests that the card side and the parsers never panic.

use esim_codec::Aid;
use esim_crypto::SecretKey;
use esim_crypto::primitives::fill_random;
use esim_crypto::scp03::{
    CardIdle, CardSession, CommandApdu, HostAwaitingInitUpdateResponse, HostSession,
    InitUpdateCommand, InitUpdateResponse, Scp03Error, SecurityLevel, StaticKeys, sw,
};
use proptest::prelude::*;

fn keys(len: usize) -> StaticKeys {
    StaticKeys::new(
        0x30,
        SecretKey::random(len).unwrap(),
        SecretKey::random(len).unwrap(),
        SecretKey::random(len).unwrap(),
    )
    .unwrap()
}

fn open(level: u8, key_len: usize) -> (HostSession, CardSession) {
    let k = keys(key_len);
    let aid = Aid::isd_p(esim_codec::ids::Tar([0, 0, 0x10]));
    let mut card = CardIdle::new(k.clone(), aid.as_bytes(), [7; 10], 41);
    let (host, iu) =
        HostAwaitingInitUpdateResponse::start_random(k, SecurityLevel::new(level).unwrap())
            .unwrap();
    let host = host.expect_sd_aid(aid.as_bytes());
    let (card, rsp) = card.handle(&iu).unwrap();
    assert_eq!(
        InitUpdateResponse::parse(&rsp).unwrap().sequence_counter,
        Some([0, 0, 42])
    );
    let (host, ea) = host.handle(&rsp, sw::OK).unwrap();
    let card = card.handle(&ea).unwrap();
    (host.handle(sw::OK).unwrap(), card)
}

fn random_apdu(case: u8, len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    fill_random(&mut data).unwrap();
    let mut a = vec![0x80, 0xE2, 0x91, 0x00];
    match case % 4 {
        0 => {}
        1 => a.push(0x00),
        2 if len > 0 => {
            a.push(len as u8);
            a.extend_from_slice(&data);
        }
        _ if len > 0 => {
            a.push(len as u8);
            a.extend_from_slice(&data);
            a.push(0x00);
        }
        _ => {}
    }
    a
}

#[test]
fn round_trips_at_every_level_and_key_length() {
    for level in [0x00, 0x01, 0x03, 0x11, 0x13, 0x33] {
        for key_len in [16, 24, 32] {
            let (mut host, mut card) = open(level, key_len);
            for i in 0..40u8 {
                // Leave room for padding and the C-MAC in a short APDU.
                let plain = random_apdu(i, usize::from(i) * 5 % 230);
                let wrapped = host.wrap_cmd(&plain).unwrap();
                if level & 0x01 != 0 {
                    assert_eq!(wrapped[0], 0x84, "level {level:02X}: CLA");
                }
                if level & 0x02 != 0 && plain.len() > 5 {
                    assert!(
                        !wrapped.windows(plain.len() - 5).any(|w| w == &plain[5..]),
                        "level {level:02X}: data visible"
                    );
                }
                assert_eq!(
                    card.unwrap_cmd(&wrapped).unwrap(),
                    plain,
                    "level {level:02X} key {key_len} command {i}"
                );
                let mut rsp = vec![0u8; usize::from(i) * 3];
                fill_random(&mut rsp).unwrap();
                let status = if i % 7 == 6 { 0x6A82 } else { sw::OK };
                let wrapped_rsp = card.wrap_rsp(&rsp, status).unwrap();
                let expect = if status == sw::OK {
                    rsp.clone()
                } else {
                    Vec::new()
                };
                assert_eq!(
                    host.unwrap_rsp(&wrapped_rsp, status).unwrap(),
                    expect,
                    "level {level:02X} key {key_len} response {i}"
                );
                assert_eq!(
                    host.channel().mac_chaining_value(),
                    card.channel().mac_chaining_value()
                );
            }
        }
    }
}

#[test]
fn tampered_command_mac_is_6982() {
    let (mut host, mut card) = open(0x33, 16);
    let mut w = host.wrap_cmd(&[0x80, 0xCA, 0x00, 0x66, 0x00]).unwrap();
    let n = w.len();
    w[n - 2] ^= 0x01;
    let e = card.unwrap_cmd(&w).unwrap_err();
    assert_eq!(e, Scp03Error::CommandMac);
    assert_eq!(e.status_word(), 0x6982);
}

#[test]
fn replayed_command_rejected() {
    let (mut host, mut card) = open(0x03, 16);
    let w = host
        .wrap_cmd(&[0x80, 0xF2, 0x20, 0x02, 0x02, 0x4F, 0x00])
        .unwrap();
    card.unwrap_cmd(&w).unwrap();
    assert_eq!(card.unwrap_cmd(&w).unwrap_err(), Scp03Error::CommandMac);
}

#[test]
fn plain_command_in_secure_session_rejected() {
    let (_host, mut card) = open(0x01, 16);
    assert_eq!(
        card.unwrap_cmd(&[0x80, 0xF2, 0x20, 0x02]).unwrap_err(),
        Scp03Error::MissingSecureMessaging(0x80)
    );
}

#[test]
fn tampered_response_rejected() {
    let (mut host, mut card) = open(0x33, 32);
    let w = host.wrap_cmd(&[0x80, 0xCA, 0x00, 0x66, 0x00]).unwrap();
    card.unwrap_cmd(&w).unwrap();
    let mut r = card.wrap_rsp(b"response", sw::OK).unwrap();
    r[0] ^= 0x80;
    assert_eq!(
        host.unwrap_rsp(&r, sw::OK).unwrap_err(),
        Scp03Error::ResponseMac
    );
}

#[test]
fn wrong_host_cryptogram_is_6300_and_wrong_kvn_is_6a88() {
    let k = keys(16);
    let mut card = CardIdle::new(k.clone(), &[0xA0, 0, 0, 1, 0x51], [0; 10], 0);
    let (host, iu) = HostAwaitingInitUpdateResponse::start(k, [1; 8], SecurityLevel::FULL);
    let (card_auth, rsp) = card.handle(&iu).unwrap();
    let (_, mut ea) = host.handle(&rsp, sw::OK).unwrap();
    ea[5] ^= 1;
    let e = card_auth.handle(&ea).unwrap_err();
    // The C-MAC covers the cryptogram, so the MAC check fails first.
    assert_eq!(e.status_word(), 0x6982);

    let mut iu = InitUpdateCommand {
        kvn: 0x31,
        kid: 0,
        host_challenge: [0; 8],
    };
    let apdu = esim_crypto::scp03::initialize_update_command(iu.kvn, iu.kid, &iu.host_challenge);
    assert_eq!(card.handle(&apdu).unwrap_err().status_word(), 0x6A88);
    iu.kvn = 0;
    let apdu = esim_crypto::scp03::initialize_update_command(iu.kvn, iu.kid, &iu.host_challenge);
    assert!(
        card.handle(&apdu).is_ok(),
        "KVN 00 means the default keyset"
    );
    assert_eq!(card.sequence_counter(), 2);
}

#[test]
fn host_cryptogram_mismatch_with_valid_mac_is_6300() {
    // A host with the right MAC key but a different host challenge in its cryptogram: build the
    // EXTERNAL AUTHENTICATE from another session's keys so only the cryptogram is wrong.
    let k = keys(16);
    let mut card = CardIdle::new(k.clone(), &[0xA0, 0, 0, 1, 0x51], [0; 10], 0);
    let (host, iu) = HostAwaitingInitUpdateResponse::start(k.clone(), [1; 8], SecurityLevel::FULL);
    let (card_auth, rsp) = card.handle(&iu).unwrap();
    let (host, _) = host.handle(&rsp, sw::OK).unwrap();
    let mut channel = esim_crypto::scp03::SecureChannel::new(
        host.session_keys().clone(),
        SecurityLevel::new(0x01).unwrap(),
        [0; 16],
        0,
    );
    let wrong = [0x55u8; 8];
    let mut ea = vec![0x80, 0x82, 0x33, 0x00, 0x08];
    ea.extend_from_slice(&wrong);
    // Level 01 wrapping adds the C-MAC over 84 82 33 00 10 ‖ cryptogram (and counts a command,
    // which the EXTERNAL AUTHENTICATE check does not look at).
    let w = channel.wrap_command(&ea).unwrap();
    let e = card_auth.handle(&w).unwrap_err();
    assert_eq!(e, Scp03Error::HostCryptogram);
    assert_eq!(e.status_word(), 0x6300);
}

#[test]
fn level_needing_r_mac_rejected_when_card_lacks_it() {
    let k = keys(16);
    let (host, _) = HostAwaitingInitUpdateResponse::start(k.clone(), [0; 8], SecurityLevel::FULL);
    let mut card = CardIdle::new(k, &[0xA0, 0, 0, 1, 0x51], [0; 10], 0);
    let (_, rsp) = card
        .handle(&esim_crypto::scp03::initialize_update_command(
            0x30, 0, &[0; 8],
        ))
        .unwrap();
    let mut parsed = InitUpdateResponse::parse(&rsp).unwrap();
    parsed.i = 0x10; // pseudo-random only, no R-MAC
    assert_eq!(
        host.handle(&parsed.to_bytes(), sw::OK).unwrap_err(),
        Scp03Error::UnsupportedSecurityLevel(0x33)
    );
}

proptest! {
    #[test]
    fn apdu_parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(a) = CommandApdu::parse(&b) {
            prop_assert_eq!(a.to_bytes().unwrap(), b);
        }
    }

    #[test]
    fn init_update_parsers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..40)) {
        let _ = InitUpdateCommand::parse(&b);
        if let Ok(r) = InitUpdateResponse::parse(&b) {
            prop_assert_eq!(r.to_bytes(), b);
        }
    }

    #[test]
    fn card_never_panics_on_arbitrary_commands(
        cmds in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..270), 1..6),
        level in prop::sample::select(vec![0x01u8, 0x03, 0x11, 0x13, 0x33]),
    ) {
        let (_host, mut card) = open(level, 16);
        for c in &cmds {
            let _ = card.unwrap_cmd(c);
            let _ = card.wrap_rsp(c, 0x9000);
        }
        let k = keys(16);
        let mut idle = CardIdle::new(k, &[0xA0, 0, 0, 1, 0x51], [0; 10], 0);
        for c in &cmds {
            if let Ok((auth, _)) = idle.handle(c) {
                let _ = auth.handle(c);
            }
        }
    }

    #[test]
    fn host_never_panics_on_arbitrary_responses(
        r in proptest::collection::vec(any::<u8>(), 0..300),
        sw1 in any::<u16>(),
    ) {
        let (mut host, _card) = open(0x33, 16);
        let _ = host.unwrap_rsp(&r, sw1);
        let (h, _) = HostAwaitingInitUpdateResponse::start(keys(16), [0; 8], SecurityLevel::FULL);
        let _ = h.handle(&r, sw1);
    }
}
