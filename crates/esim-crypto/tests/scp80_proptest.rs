//! Property tests for SCP80 (TS 102 225): encode → decode round trips for every cipher and
//! RC/CC algorithm, decoders that never panic on arbitrary bytes, and bit flips that are always
//! rejected in CC-protected packets.

use esim_codec::Tar;
use esim_crypto::SecretKey;
use esim_crypto::scp80::{
    CcAlgorithm, CipherAlgorithm, CommandPacket, Counter, CounterMode, Integrity, Keyset, Kic, Kid,
    PorRequest, PorStatus, RcAlgorithm, ResponsePacket, Spi, decode_por, parse_command, udh,
};
use proptest::prelude::*;

fn cipher_alg() -> impl Strategy<Value = (CipherAlgorithm, Vec<u8>)> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 8).prop_map(|k| (CipherAlgorithm::DesCbc, k)),
        prop::collection::vec(any::<u8>(), 16).prop_map(|k| (CipherAlgorithm::TripleDes2Key, k)),
        prop::collection::vec(any::<u8>(), 24).prop_map(|k| (CipherAlgorithm::TripleDes3Key, k)),
        prop::sample::select(vec![16usize, 24, 32])
            .prop_flat_map(|n| prop::collection::vec(any::<u8>(), n))
            .prop_map(|k| (CipherAlgorithm::AesCbc, k)),
    ]
}

/// KID coding and key: a CC algorithm, or an RC algorithm (no key needed, but one is given).
#[derive(Debug, Clone)]
enum Auth {
    Cc(CcAlgorithm, Vec<u8>),
    Rc(RcAlgorithm),
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 8).prop_map(|k| Auth::Cc(CcAlgorithm::DesCbcMac, k)),
        prop::collection::vec(any::<u8>(), 16)
            .prop_map(|k| Auth::Cc(CcAlgorithm::TripleDes2KeyCbcMac, k)),
        prop::collection::vec(any::<u8>(), 24)
            .prop_map(|k| Auth::Cc(CcAlgorithm::TripleDes3KeyCbcMac, k)),
        prop::sample::select(vec![16usize, 24, 32])
            .prop_flat_map(|n| prop::collection::vec(any::<u8>(), n))
            .prop_map(|k| Auth::Cc(CcAlgorithm::AesCmac, k)),
        Just(Auth::Rc(RcAlgorithm::Crc16)),
        Just(Auth::Rc(RcAlgorithm::Crc32)),
    ]
}

fn keyset(kic_idx: u8, cipher: &(CipherAlgorithm, Vec<u8>), kid_idx: u8, auth: &Auth) -> Keyset {
    let kic = Kic::new(kic_idx, cipher.0).unwrap();
    let enc = SecretKey::new(&cipher.1);
    match auth {
        Auth::Cc(a, k) => Keyset::new(kic, enc, Kid::cc(kid_idx, *a).unwrap(), SecretKey::new(k)),
        Auth::Rc(a) => {
            Keyset::with_optional_keys(kic, Some(enc), Kid::rc(kid_idx, *a).unwrap(), None)
        }
    }
}

fn counter_mode() -> impl Strategy<Value = CounterMode> {
    prop::sample::select(vec![
        CounterMode::None,
        CounterMode::NoReplayCheck,
        CounterMode::MustBeHigher,
        CounterMode::MustBeOneHigher,
    ])
}

fn por_request() -> impl Strategy<Value = PorRequest> {
    prop::sample::select(vec![
        PorRequest::None,
        PorRequest::Always,
        PorRequest::OnError,
    ])
}

/// An SPI whose RC/CC choices fit the KID coding (`rc`: RC-coded KID).
fn spi(rc: bool) -> impl Strategy<Value = Spi> {
    let integ = if rc { Integrity::Rc } else { Integrity::Cc };
    (
        counter_mode(),
        any::<bool>(),
        any::<bool>(),
        por_request(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            move |(counter, ciphering, ic, por, pic, por_ciphered, submit)| Spi {
                counter,
                ciphering,
                integrity: if ic { integ } else { Integrity::None },
                por,
                por_integrity: if pic { integ } else { Integrity::None },
                por_ciphered,
                por_via_submit: submit,
            },
        )
}

fn setup() -> impl Strategy<Value = (Keyset, Spi, Tar, Counter, Vec<u8>)> {
    (
        0u8..16,
        cipher_alg(),
        0u8..16,
        auth(),
        any::<[u8; 3]>(),
        0u64..(1 << 40),
        prop::collection::vec(any::<u8>(), 0..200),
    )
        .prop_flat_map(|(ki, c, di, a, tar, cntr, data)| {
            let rc = matches!(a, Auth::Rc(_));
            let ks = keyset(ki, &c, di, &a);
            (
                Just(ks),
                spi(rc),
                Just(Tar(tar)),
                Just(Counter::new(cntr).unwrap()),
                Just(data),
            )
        })
}

fn fixed_keysets() -> Vec<Keyset> {
    vec![
        Keyset::new(
            Kic(0x12),
            SecretKey::new(&[0x11; 16]),
            Kid(0x12),
            SecretKey::new(&[0x22; 16]),
        ),
        Keyset::new(
            Kic(0x35),
            SecretKey::new(&[0x33; 16]),
            Kid(0x35),
            SecretKey::new(&[0x44; 16]),
        ),
        Keyset::with_optional_keys(Kic(0x01), None, Kid(0x15), None),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn command_round_trip((keys, spi, tar, counter, data) in setup()) {
        let cmd = CommandPacket { spi, tar, counter, data: data.clone() };
        let packet = cmd.encode(&keys).unwrap();
        let user_data = udh::add_command_udh(&packet);
        let parsed = parse_command(udh::strip_command_udh(&user_data).unwrap()).unwrap();
        prop_assert_eq!(parsed.header().spi, spi);
        prop_assert_eq!(parsed.header().tar, tar);
        prop_assert_eq!(parsed.header().kic, keys.kic());
        prop_assert_eq!(parsed.header().kid, keys.kid());
        let opened = parsed.open(&keys).unwrap();
        prop_assert_eq!(opened.counter, counter);
        prop_assert_eq!(opened.data, data);
        if !spi.ciphering {
            prop_assert_eq!(opened.padding, 0);
        }
    }

    #[test]
    fn por_round_trip(
        (keys, spi, tar, counter, data) in setup(),
        status in any::<u8>(),
    ) {
        let por = ResponsePacket { tar, counter, status: PorStatus::from_byte(status), data };
        let ud = por.encode(&spi, &keys).unwrap();
        let d = decode_por(&ud, &spi, &keys).unwrap();
        prop_assert_eq!(&d.packet, &por);
        prop_assert_eq!(usize::from(d.rpl), ud.len() - 5);
    }

    #[test]
    fn flipped_bit_in_cc_command_is_rejected(
        (keys, spi, tar, counter, data) in setup(),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        prop_assume!(spi.integrity != Integrity::None);
        let mut packet = CommandPacket { spi, tar, counter, data }.encode(&keys).unwrap();
        let i = pos.index(packet.len());
        packet[i] ^= 1 << bit;
        let result = parse_command(&packet).and_then(|p| p.open(&keys));
        prop_assert!(result.is_err(), "flip at byte {} bit {} accepted", i, bit);
    }

    #[test]
    fn flipped_bit_in_cc_por_is_rejected(
        (keys, spi, tar, counter, data) in setup(),
        status in any::<u8>(),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        prop_assume!(spi.por_integrity != Integrity::None);
        let por = ResponsePacket { tar, counter, status: PorStatus::from_byte(status), data };
        let mut ud = por.encode(&spi, &keys).unwrap();
        let i = pos.index(ud.len());
        ud[i] ^= 1 << bit;
        prop_assert!(decode_por(&ud, &spi, &keys).is_err(), "flip at byte {} bit {} accepted", i, bit);
    }

    #[test]
    fn command_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(parsed) = parse_command(&bytes) {
            for ks in fixed_keysets() {
                let _ = parsed.open(&ks);
            }
        }
        let _ = udh::strip_command_udh(&bytes);
    }

    #[test]
    fn command_decoder_never_panics_on_plausible_headers(
        chl in prop::sample::select(vec![13u8, 15, 17, 21, 30]),
        spi in any::<[u8; 2]>(),
        kic in prop::sample::select(vec![0x12u8, 0x35, 0x01, 0x10]),
        kid in prop::sample::select(vec![0x12u8, 0x35, 0x11, 0x15]),
        rest in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        // A well-formed CPL so that decoding reaches deciphering and CC checks.
        let mut p = vec![0, 0, chl, spi[0], spi[1], kic, kid, 0, 0, 1];
        p.extend_from_slice(&rest);
        let cpl = u16::try_from(p.len() - 2).unwrap().to_be_bytes();
        p[0] = cpl[0];
        p[1] = cpl[1];
        if let Ok(parsed) = parse_command(&p) {
            for ks in fixed_keysets() {
                let _ = parsed.open(&ks);
            }
        }
    }

    #[test]
    fn por_decoder_never_panics(
        spi in any::<[u8; 2]>(),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        well_formed_prefix in any::<bool>(),
    ) {
        let Ok(spi) = Spi::from_bytes(spi) else { return Ok(()) };
        let mut ud = bytes;
        if well_formed_prefix && ud.len() >= 5 {
            let rpl = u16::try_from(ud.len() - 5).unwrap().to_be_bytes();
            ud[..5].copy_from_slice(&[2, 0x71, 0, rpl[0], rpl[1]]);
        }
        for ks in fixed_keysets() {
            let _ = decode_por(&ud, &spi, &ks);
        }
    }
}
