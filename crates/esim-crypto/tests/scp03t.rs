//! SCP03t: a 20 KB random "profile" through `Scp03tHost` → split at random byte boundaries →
//! `Scp03tCard` yields the same bytes; bad MAC, replayed and reordered segments are rejected;
//! key replacement (`87`); proptests that the card never panics on arbitrary streams.

use esim_codec::Aid;
use esim_crypto::SecretKey;
use esim_crypto::primitives::fill_random;
use esim_crypto::scp03::{CardIdle, SessionKeys, StaticKeys};
use esim_crypto::scp03t::{
    Scp03tCard, Scp03tError, Scp03tEvent, Scp03tHost, Scp03tHostAwaitingInitUpdateResponse,
    Scp03tResponse,
};
use proptest::prelude::*;

fn aid() -> Aid {
    Aid::isd_p(esim_codec::ids::Tar([0, 0, 0x10]))
}

fn keyset() -> StaticKeys {
    StaticKeys::from_base_key(0x03, SecretKey::random(16).unwrap()).unwrap()
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    fill_random(&mut v).unwrap();
    v
}

/// Runs `84` and `85`; returns host, card, and the responses checked.
fn open(segment_size: usize) -> (Scp03tHost, Scp03tCard) {
    let k = keyset();
    let mut card = Scp03tCard::new(CardIdle::new(k.clone(), aid().as_bytes(), [0; 10], 0));
    let (host, c84) = Scp03tHostAwaitingInitUpdateResponse::start_random(k, 0x01).unwrap();
    assert_eq!(&c84[..4], &[0x84, 0x0A, 0x03, 0x01]);
    let host = host
        .expect_sd_aid(aid().as_bytes())
        .segment_size(segment_size)
        .unwrap();
    card.feed(&c84).unwrap();
    let r84 = responses(&mut card);
    let (mut host, c85) = host.handle(&r84).unwrap();
    assert_eq!(&c85[..3], &[0x85, 0x11, 0x33]);
    card.feed(&c85).unwrap();
    assert!(card.is_open());
    let r85 = responses(&mut card);
    assert_eq!(
        host.check_responses(&r85).unwrap(),
        vec![Scp03tResponse::ExternalAuthenticate]
    );
    (host, card)
}

/// Concatenates the card's response TLVs, answering segments with `86 00`.
fn responses(card: &mut Scp03tCard) -> Vec<u8> {
    let mut out = Vec::new();
    for ev in card.take_events() {
        match ev {
            Scp03tEvent::Response(r) => out.extend_from_slice(&r),
            Scp03tEvent::Segment { reply, .. } => out.extend(reply.response(&[]).unwrap()),
            _ => {}
        }
    }
    out
}

fn segments(events: Vec<Scp03tEvent>) -> Vec<u8> {
    let mut out = Vec::new();
    for ev in events {
        if let Scp03tEvent::Segment { data, .. } = ev {
            out.extend_from_slice(&data);
        }
    }
    out
}

#[test]
fn profile_20k_random_split_round_trip() {
    for segment_size in [1020, 512, 100, 1] {
        let (mut host, mut card) = open(segment_size);
        let profile = random(20 * 1024);
        let cmds = host.wrap_profile(&profile).unwrap();
        assert_eq!(cmds.len(), profile.len().div_ceil(segment_size));
        let stream: Vec<u8> = cmds.concat();
        // No plaintext run of 16 bytes survives in the stream.
        assert!(!stream.windows(16).any(|w| w == &profile[..16]));
        let mut pos = 0;
        let mut got = Vec::new();
        let mut rsp = Vec::new();
        while pos < stream.len() {
            let n = (random(1)[0] as usize * 7 + 1).min(stream.len() - pos);
            card.feed(&stream[pos..pos + n]).unwrap();
            pos += n;
            for ev in card.take_events() {
                match ev {
                    Scp03tEvent::Segment { data, reply } => {
                        got.extend_from_slice(&data);
                        rsp.extend(reply.response(&[]).unwrap());
                    }
                    other => panic!("unexpected event {other:?}"),
                }
            }
        }
        assert_eq!(got, profile, "segment size {segment_size}");
        assert_eq!(card.buffered(), 0);
        let checked = host.check_responses(&rsp).unwrap();
        assert_eq!(checked.len(), cmds.len());
        assert_eq!(host.outstanding(), 0);
    }
}

#[test]
fn segment_response_with_data_is_protected_and_checked() {
    let (mut host, mut card) = open(1020);
    let cmd = host.wrap_segment(b"last segment").unwrap();
    card.feed(&cmd).unwrap();
    let ev = card.take_events();
    let [Scp03tEvent::Segment { data, reply }] = ev.as_slice() else {
        panic!("expected one segment, got {ev:?}");
    };
    assert_eq!(data, b"last segment");
    let euicc_response = b"\x30\x07\xa0\x05\x30\x03\x80\x01\x00";
    let r = reply.response(euicc_response).unwrap();
    assert_eq!(r[0], 0x86);
    assert!(!r.windows(euicc_response.len()).any(|w| w == euicc_response));
    assert_eq!(
        host.check_responses(&r).unwrap(),
        vec![Scp03tResponse::Segment(euicc_response.to_vec())]
    );
    // A tampered response fails the R-MAC.
    let cmd = host.wrap_segment(b"x").unwrap();
    card.feed(&cmd).unwrap();
    let Some(Scp03tEvent::Segment { reply, .. }) = card.take_events().pop() else {
        panic!("segment expected");
    };
    let mut r = reply.response(b"data").unwrap();
    r[3] ^= 1;
    assert!(matches!(
        host.check_responses(&r),
        Err(Scp03tError::Scp03(_))
    ));
}

#[test]
fn bad_mac_aborts_with_error_tlv() {
    let (mut host, mut card) = open(1020);
    let mut cmd = host.wrap_segment(&random(300)).unwrap();
    let n = cmd.len();
    cmd[n - 1] ^= 0x01;
    let err = card.feed(&cmd).unwrap_err();
    assert_eq!(err.status_word(), 0x6982, "{err}");
    assert!(card.is_aborted());
    let rsp = responses(&mut card);
    assert_eq!(rsp, vec![0x9F, 0x86, 0x02, 0x69, 0x82]);
    assert_eq!(
        host.check_responses(&rsp).unwrap_err(),
        Scp03tError::ErrorResponse {
            tag: 0x86,
            status: 0x6982
        }
    );
    assert_eq!(card.feed(&[0x86]).unwrap_err(), Scp03tError::Aborted);
}

#[test]
fn replayed_segment_rejected() {
    let (mut host, mut card) = open(1020);
    let a = host.wrap_segment(b"segment one").unwrap();
    card.feed(&a).unwrap();
    assert!(card.feed(&a).is_err());
}

#[test]
fn reordered_segments_rejected() {
    let (mut host, mut card) = open(1020);
    let a = host.wrap_segment(b"segment one").unwrap();
    let b = host.wrap_segment(b"segment two").unwrap();
    assert!(card.feed(&b).is_err());
    let _ = a;
}

#[test]
fn segment_before_authentication_rejected() {
    let k = keyset();
    let mut card = Scp03tCard::new(CardIdle::new(k, aid().as_bytes(), [0; 10], 0));
    let err = card.feed(&[0x86, 0x01, 0x00]).unwrap_err();
    assert!(
        matches!(err, Scp03tError::UnexpectedTag { tag: 0x86, .. }),
        "{err}"
    );
    assert_eq!(responses(&mut card), vec![0x9F, 0x86, 0x02, 0x69, 0x85]);
    card.reset();
    assert!(!card.is_aborted());
}

#[test]
fn oversized_command_rejected_before_buffering() {
    let (_host, card) = open(1020);
    let mut card = card.with_max_command_len(4096);
    let err = card.feed(&[0x86, 0x83, 0x10, 0x00, 0x00]).unwrap_err();
    assert!(matches!(err, Scp03tError::CommandTooLong { .. }), "{err}");
}

#[test]
fn wrong_card_keys_fail_card_cryptogram() {
    let mut card = Scp03tCard::new(CardIdle::new(keyset(), aid().as_bytes(), [0; 10], 0));
    let (host, c84) = Scp03tHostAwaitingInitUpdateResponse::start(keyset(), 0x01, [3; 8]);
    card.feed(&c84).unwrap();
    let r = responses(&mut card);
    assert!(matches!(
        host.handle(&r),
        Err(Scp03tError::Scp03(
            esim_crypto::scp03::Scp03Error::CardCryptogram
        ))
    ));
}

#[test]
fn replace_session_keys_then_continue() {
    let (mut host, mut card) = open(1020);
    let s1 = host.wrap_segment(b"before").unwrap();
    let ppk = SessionKeys::new(
        SecretKey::random(16).unwrap(),
        SecretKey::random(16).unwrap(),
        SecretKey::random(16).unwrap(),
    )
    .unwrap();
    let c87 = host.replace_session_keys(ppk, [0x42; 16]).unwrap();
    let s2 = host.wrap_segment(b"after").unwrap();
    let stream = [s1, c87, s2].concat();
    card.feed(&stream).unwrap();
    let events = card.take_events();
    assert_eq!(events.len(), 3);
    let mut rsp = Vec::new();
    let mut data = Vec::new();
    for ev in events {
        match ev {
            Scp03tEvent::Response(r) => rsp.extend(r),
            Scp03tEvent::Segment { data: d, reply } => {
                data.extend(d);
                rsp.extend(reply.response(&[]).unwrap());
            }
            _ => {}
        }
    }
    assert_eq!(data, b"beforeafter");
    assert_eq!(
        host.check_responses(&rsp).unwrap(),
        vec![
            Scp03tResponse::Segment(vec![]),
            Scp03tResponse::KeysReplaced,
            Scp03tResponse::Segment(vec![])
        ]
    );
}

proptest! {
    #[test]
    fn card_never_panics_on_arbitrary_stream(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)
    ) {
        let mut card = Scp03tCard::new(CardIdle::new(keyset(), aid().as_bytes(), [0; 10], 0));
        for c in &chunks {
            let _ = card.feed(c);
        }
        let _ = card.take_events();
    }

    #[test]
    fn open_card_never_panics_and_rejects_forged_segments(
        body in proptest::collection::vec(any::<u8>(), 0..200),
        tag in prop::sample::select(vec![0x84u8, 0x85, 0x86, 0x87, 0x9F, 0x00]),
    ) {
        let (_host, mut card) = open(1020);
        let mut cmd = vec![tag];
        esim_codec::ber::write_length(&mut cmd, body.len());
        cmd.extend_from_slice(&body);
        if tag == 0x9F {
            let _ = card.feed(&cmd);
        } else {
            prop_assert!(card.feed(&cmd).is_err());
        }
    }

    #[test]
    fn split_points_do_not_matter(cuts in proptest::collection::vec(1usize..200, 1..20)) {
        let (mut host, mut card) = open(333);
        let profile: Vec<u8> = (0..2000u32).map(|i| (i * 7) as u8).collect();
        let stream = host.wrap_profile(&profile).unwrap().concat();
        let mut pos = 0;
        let mut i = 0;
        while pos < stream.len() {
            let n = cuts[i % cuts.len()].min(stream.len() - pos);
            card.feed(&stream[pos..pos + n]).unwrap();
            pos += n;
            i += 1;
        }
        prop_assert_eq!(segments(card.take_events()), profile);
    }

    #[test]
    fn host_response_parser_never_panics(r in proptest::collection::vec(any::<u8>(), 0..100)) {
        let (mut host, _card) = open(1020);
        let _ = host.wrap_segment(b"x");
        let _ = host.check_responses(&r);
        let (h, _) = Scp03tHostAwaitingInitUpdateResponse::start(keyset(), 1, [0; 8]);
        let _ = h.handle(&r);
    }
}
