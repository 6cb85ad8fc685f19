//! ECKA scenario #3 key establishment: both sides end to end, tampering, wrong CI, expiry,
//! an independent recomputation of the key derivation, and never-panic properties.

use esim_codec::ber;
use esim_codec::ids::Eid;
use esim_crypto::cert::{CertType, Date};
use esim_crypto::ec::KeyPair;
use esim_crypto::ecka::{
    self, CardAwaitingCertificate, EcasdCredentials, EckaError, KeyParams, Message2,
    OffCardAwaitingChallenge, sw,
};
use esim_crypto::pki::{self, EuiccParams, PkiParams, TestPki};
use proptest::prelude::*;
use std::sync::OnceLock;

struct Fixture {
    pki: TestPki,
    other_pki: TestPki,
    creds: EcasdCredentials,
}

fn today() -> Date {
    Date::new(2026, 3, 1).unwrap()
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let params = PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap());
        let pki = TestPki::generate(&params).unwrap();
        let other_pki = TestPki::generate(&params).unwrap();
        let eid = pki::eid_from_prefix("8904903200", 42).unwrap();
        let p = EuiccParams::test_defaults(eid, Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
        let euicc = pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap();
        Fixture {
            pki,
            other_pki,
            creds: euicc.ecasd_credentials(),
        }
    })
}

fn off_card(f: &Fixture, params: KeyParams) -> (OffCardAwaitingChallenge, Vec<u8>) {
    OffCardAwaitingChallenge::start(
        f.pki.smdp.key.clone(),
        &f.pki.smdp.cert,
        f.creds.certificate.public_key().clone(),
        params,
    )
    .unwrap()
}

fn run(params: KeyParams) -> (ecka::EstablishedKeys, ecka::CardKeysEstablished) {
    let f = fixture();
    let (oc, m1) = off_card(f, params);
    let card = CardAwaitingCertificate::new(&f.creds, Some(today()));
    let (card, r1) = card.handle(&m1).unwrap();
    let (oc, m2) = oc.handle(&r1).unwrap();
    let done = card.handle(&m2).unwrap();
    let keys = oc.handle(&done.response).unwrap();
    (keys, done)
}

#[test]
fn isd_p_scp03_three_keys_end_to_end() {
    let (keys, card) = run(KeyParams::isd_p_scp03(0x30));
    assert_eq!(keys, card.keys);
    assert_eq!(card.off_card_type, CertType::SmDp);
    assert_eq!(card.off_card_subject, fixture().pki.smdp.id.as_bytes());
    let s = keys.scp03().unwrap();
    assert_eq!(s.kvn, 0x30);
    assert_eq!(s.enc.len(), 16);
    assert_ne!(s.enc, s.mac);
    assert_ne!(s.mac, s.dek);
    assert_eq!(s, card.keys.scp03().unwrap());
    // The response is 85 10 DR 86 10 receipt.
    assert_eq!(card.response.len(), 36);
    assert_eq!(card.response[0], 0x85);
    assert_eq!(card.response[18], 0x86);
}

#[test]
fn one_key_variant_uses_the_base_key_for_all_three() {
    let mut p = KeyParams::isd_p_scp03(0x31);
    p.key_usage = ecka::KEY_USAGE_ONE_KEY;
    let (keys, card) = run(p);
    assert_eq!(keys, card.keys);
    let s = keys.scp03().unwrap();
    assert_eq!(s.enc, s.mac);
    assert_eq!(s.enc, s.dek);
}

#[test]
fn isd_r_scp80_and_scp81_keysets() {
    let (keys, card) = run(KeyParams::isd_r_scp80(0x02));
    assert_eq!(keys, card.keys);
    let k = keys.scp80().unwrap();
    assert_eq!(k.kvn, 2);
    assert_eq!(k.initial_counter, vec![0; 5]);
    assert!(keys.psk().is_err());

    let (keys, card) = run(KeyParams::isd_r_scp81_psk(0x41));
    assert_eq!(keys, card.keys);
    assert_eq!(keys.psk().unwrap().len(), 16);
    assert!(keys.scp03().is_err());
}

#[test]
fn host_id_without_dr_and_aes256() {
    let mut p = KeyParams::isd_p_scp03(0x32);
    p.host_id = Some(vec![0x11; 16]);
    p.include_dr = false;
    p.key_length = 32;
    let (keys, card) = run(p);
    assert_eq!(keys, card.keys);
    assert_eq!(keys.keys()[0].len(), 32);
    // No DR: the response is only the receipt.
    assert_eq!(card.response[0], 0x86);
    assert_eq!(card.response.len(), 18);
}

/// Recomputes the card's answer from the protocol definition with fixed randoms, independently
/// of the state machines: ShS = ECDH, KeyData = X9.63(ShS, SharedInfo), receipt = CMAC.
#[test]
fn derivation_matches_an_independent_recomputation() {
    let f = fixture();
    let params = KeyParams::isd_p_scp03(0x30);
    let (oc, m1) = off_card(f, params.clone());
    let rc = [0x5A; 16];
    let dr = [0xC3; 16];
    let eph = KeyPair::from_scalar(&[0x42; 32]).unwrap();
    let (card, r1) = CardAwaitingCertificate::new(&f.creds, None)
        .handle_with_challenge(&m1, rc)
        .unwrap();
    assert_eq!(r1, ber::tlv(0x85u8, &rc));
    let (oc, m2) = oc.handle_with_ephemeral(&r1, eph.clone()).unwrap();
    let done = card.handle_with_dr(&m2, dr).unwrap();
    let keys = oc.handle(&done.response).unwrap();

    // Independent recomputation.
    let crt = params.to_crt();
    let shs = eph.ecdh(f.creds.key.public_key());
    let mut si = vec![0x10, 0x88, 0x10];
    si.extend_from_slice(&dr);
    let kd = ecka::x963_kdf_sha256(&shs, &si, 64);
    let mut rdata = crt.clone();
    rdata.extend_from_slice(&ber::tlv(0x85u8, &dr));
    let receipt = esim_crypto::primitives::aes_cmac(&kd[..16], &rdata).unwrap();
    let mut expected_resp = ber::tlv(0x85u8, &dr);
    expected_resp.extend_from_slice(&ber::tlv(0x86u8, &receipt));
    assert_eq!(done.response, expected_resp);
    let s = keys.scp03().unwrap();
    assert_eq!(s.enc.expose(), &kd[16..32]);
    assert_eq!(s.mac.expose(), &kd[32..48]);
    assert_eq!(s.dek.expose(), &kd[48..64]);

    // Message 2 layout and signature input: 3A02{A6} ‖ 7F49 ‖ 5F37 over 3A02 ‖ 7F49 ‖ 85 RC.
    let m = Message2::parse(&m2).unwrap();
    assert_eq!(m.raw_crt, &crt[..]);
    assert_eq!(&m2[..2], &[0x3A, 0x02]);
    let mut signed = m.raw_3a02.to_vec();
    signed.extend_from_slice(m.raw_epk);
    signed.extend_from_slice(&ber::tlv(0x85u8, &rc));
    f.pki
        .smdp
        .cert
        .public_key()
        .verify(&signed, m.signature)
        .unwrap();
    assert_eq!(
        m.raw_epk,
        &esim_crypto::ec::encode_7f49(eph.public_key())[..]
    );
    // Message 1 is 3A01 L 7F21...
    assert_eq!(&m1[..2], &[0x3A, 0x01]);
    let (tag, v) = ber::parse_fixed_tag(&m1, 2).unwrap();
    assert_eq!(tag, ber::Tag(0x3A01));
    assert_eq!(v, f.pki.smdp.cert.encode());
}

#[test]
fn bad_receipt_is_detected() {
    let f = fixture();
    let (oc, m1) = off_card(f, KeyParams::isd_p_scp03(0x30));
    let (card, r1) = CardAwaitingCertificate::new(&f.creds, None)
        .handle(&m1)
        .unwrap();
    let (oc, m2) = oc.handle(&r1).unwrap();
    let mut resp = card.handle(&m2).unwrap().response;
    let n = resp.len();
    resp[n - 1] ^= 0x01;
    let e = oc.handle(&resp).unwrap_err();
    assert_eq!(e, EckaError::BadReceipt);
}

#[test]
fn receipt_from_another_card_is_detected() {
    // The off-card side believes in another ECASD key than the card holds.
    let f = fixture();
    let wrong = KeyPair::generate().unwrap();
    let (oc, m1) = OffCardAwaitingChallenge::start(
        f.pki.smdp.key.clone(),
        &f.pki.smdp.cert,
        wrong.public_key().clone(),
        KeyParams::isd_p_scp03(0x30),
    )
    .unwrap();
    let (card, r1) = CardAwaitingCertificate::new(&f.creds, None)
        .handle(&m1)
        .unwrap();
    let (oc, m2) = oc.handle(&r1).unwrap();
    let done = card.handle(&m2).unwrap();
    assert_eq!(
        oc.handle(&done.response).unwrap_err(),
        EckaError::BadReceipt
    );
}

#[test]
fn tampered_message_2_is_rejected() {
    let f = fixture();
    for idx in [6usize, 20, 24, 40, 90, 130] {
        let (oc, m1) = off_card(f, KeyParams::isd_p_scp03(0x30));
        let (card, r1) = CardAwaitingCertificate::new(&f.creds, None)
            .handle(&m1)
            .unwrap();
        let (_oc, mut m2) = oc.handle(&r1).unwrap();
        let i = idx.min(m2.len() - 1);
        m2[i] ^= 0x01;
        let e = card.handle(&m2).unwrap_err();
        assert!(
            matches!(
                e.status_word(),
                sw::SECURITY_STATUS_NOT_SATISFIED | sw::INCORRECT_DATA
            ),
            "byte {i}: {e}"
        );
    }
    // Changing the KVN inside the CRT (still well-formed) breaks the signature: 6982.
    let (oc, m1) = off_card(f, KeyParams::isd_p_scp03(0x30));
    let (card, r1) = CardAwaitingCertificate::new(&f.creds, None)
        .handle(&m1)
        .unwrap();
    let (_oc, mut m2) = oc.handle(&r1).unwrap();
    let p = m2.windows(3).position(|w| w == [0x83, 0x01, 0x30]).unwrap();
    m2[p + 2] = 0x31;
    let e = card.handle(&m2).unwrap_err();
    assert_eq!(e, EckaError::BadSignature);
    assert_eq!(e.status_word(), 0x6982);
}

#[test]
fn message_2_signed_for_another_challenge_is_rejected() {
    let f = fixture();
    let (oc, m1) = off_card(f, KeyParams::isd_p_scp03(0x30));
    let (card, _r1) = CardAwaitingCertificate::new(&f.creds, None)
        .handle(&m1)
        .unwrap();
    let (_oc, m2) = oc.handle(&ber::tlv(0x85u8, &[0u8; 16])).unwrap();
    assert_eq!(card.handle(&m2).unwrap_err(), EckaError::BadSignature);
}

#[test]
fn certificate_from_another_ci_is_rejected() {
    let f = fixture();
    let (_oc, m1) = OffCardAwaitingChallenge::start(
        f.other_pki.smdp.key.clone(),
        &f.other_pki.smdp.cert,
        f.creds.certificate.public_key().clone(),
        KeyParams::isd_p_scp03(0x30),
    )
    .unwrap();
    let e = CardAwaitingCertificate::new(&f.creds, None)
        .handle(&m1)
        .unwrap_err();
    assert!(matches!(e, EckaError::Certificate(_)), "{e}");
    assert_eq!(e.status_word(), 0x6982);
}

#[test]
fn expired_certificate_and_wrong_type_are_rejected() {
    let f = fixture();
    let (_oc, m1) = off_card(f, KeyParams::isd_p_scp03(0x30));
    let far = Date::new(2040, 1, 1).unwrap();
    let e = CardAwaitingCertificate::new(&f.creds, Some(far))
        .handle(&m1)
        .unwrap_err();
    assert!(
        matches!(
            e,
            EckaError::Certificate(esim_crypto::cert::CertError::Expired { .. })
        ),
        "{e}"
    );
    assert_eq!(e.status_word(), 0x6982);
    // SM-SR certificates are accepted (ISD-R keysets in an SM-SR change) …
    let m1_sr = ecka::message1(&f.pki.smsr.cert);
    CardAwaitingCertificate::new(&f.creds, Some(today()))
        .handle(&m1_sr)
        .unwrap();
    // … an eUICC certificate is not (it is EUM-signed anyway, and of type ECASD).
    let m1_ecasd = ecka::message1(&f.creds.certificate);
    let e = CardAwaitingCertificate::new(&f.creds, None)
        .handle(&m1_ecasd)
        .unwrap_err();
    assert_eq!(e.status_word(), 0x6982);
}

#[test]
fn out_of_sequence_and_malformed_messages() {
    let f = fixture();
    let (oc, m1) = off_card(f, KeyParams::isd_p_scp03(0x30));
    let (card, r1) = CardAwaitingCertificate::new(&f.creds, None)
        .handle(&m1)
        .unwrap();
    let (_oc, m2) = oc.handle(&r1).unwrap();
    // 3A02 sent to a card waiting for 3A01.
    let e = CardAwaitingCertificate::new(&f.creds, None)
        .handle(&m2)
        .unwrap_err();
    assert!(
        matches!(
            e,
            EckaError::Decode(_) | EckaError::UnexpectedMessage { .. }
        ),
        "{e}"
    );
    assert_eq!(e.status_word(), 0x6A80);
    // 3A01 sent to a card waiting for 3A02.
    let e = card.handle(&m1).unwrap_err();
    assert!(
        matches!(
            e,
            EckaError::UnexpectedMessage {
                expected: 0x3A02,
                ..
            }
        ),
        "{e}"
    );
    // Trailing bytes after message 1.
    let mut m1t = m1.clone();
    m1t.push(0);
    let e = CardAwaitingCertificate::new(&f.creds, None)
        .handle(&m1t)
        .unwrap_err();
    assert_eq!(e.status_word(), 0x6A80);
    // Unsupported scenario parameters.
    let mut p = KeyParams::isd_p_scp03(1);
    p.key_usage = 0x42;
    assert!(
        OffCardAwaitingChallenge::new(f.pki.smdp.key.clone(), f.creds.key.public_key().clone(), p)
            .is_err()
    );
}

#[test]
fn ecasd_certificate_verifies_through_the_eum_chain() {
    let f = fixture();
    let pk = pki::verify_ecasd_certificate(
        &f.creds.certificate,
        &f.pki.eum.cert,
        &f.pki.ci.cert,
        Some(&Eid::from_body("890490320000000000000000000042").unwrap()),
        Some(today()),
    )
    .unwrap();
    assert_eq!(&pk, f.creds.key.public_key());
    assert!(
        pki::verify_ecasd_certificate(
            &f.creds.certificate,
            &f.other_pki.eum.cert,
            &f.other_pki.ci.cert,
            None,
            None
        )
        .is_err()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn card_never_panics_on_message_1(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let f = fixture();
        let _ = CardAwaitingCertificate::new(&f.creds, None).handle_with_challenge(&bytes, [1; 16]);
        let mut framed = vec![0x3A, 0x01, bytes.len().min(255) as u8];
        if bytes.len() > 127 { framed = vec![0x3A, 0x01, 0x81, bytes.len().min(255) as u8]; }
        framed.extend_from_slice(&bytes[..bytes.len().min(255)]);
        let _ = CardAwaitingCertificate::new(&f.creds, None).handle_with_challenge(&framed, [1; 16]);
    }

    #[test]
    fn card_never_panics_on_message_2(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                      pos in 0usize..200, val in any::<u8>()) {
        let f = fixture();
        let m1 = ecka::message1(&f.pki.smdp.cert);
        let (card, _) = CardAwaitingCertificate::new(&f.creds, None).handle_with_challenge(&m1, [1; 16]).unwrap();
        let _ = Message2::parse(&bytes);
        let _ = card.handle_with_dr(&bytes, [2; 16]);
        // A mutated valid message 2.
        let (oc, _) = off_card(f, KeyParams::isd_p_scp03(0x30));
        let (_oc, mut m2) = oc.handle_with_ephemeral(&ber::tlv(0x85u8, &[1; 16]), KeyPair::from_scalar(&[3; 32]).unwrap()).unwrap();
        let n = m2.len();
        m2[pos % n] = val;
        let (card, _) = CardAwaitingCertificate::new(&f.creds, None).handle_with_challenge(&m1, [1; 16]).unwrap();
        let _ = card.handle_with_dr(&m2, [2; 16]);
    }

    #[test]
    fn off_card_never_panics_on_responses(r1 in proptest::collection::vec(any::<u8>(), 0..40),
                                          r2 in proptest::collection::vec(any::<u8>(), 0..60)) {
        let f = fixture();
        let (oc, _) = off_card(f, KeyParams::isd_p_scp03(0x30));
        let eph = KeyPair::from_scalar(&[3; 32]).unwrap();
        let _ = oc.handle_with_ephemeral(&r1, eph.clone());
        let (oc, _) = off_card(f, KeyParams::isd_p_scp03(0x30));
        let (oc, _) = oc.handle_with_ephemeral(&ber::tlv(0x85u8, &[1; 16]), eph).unwrap();
        prop_assert!(oc.handle(&r2).is_err());
    }

    #[test]
    fn crt_round_trip(usage in prop_oneof![Just(0x5Cu8), Just(0x10u8)],
                      ktype in prop_oneof![Just(0x88u8), Just(0x85u8)],
                      klen in prop_oneof![Just(16u8), Just(24u8), Just(32u8)],
                      kid in any::<u8>(), kvn in any::<u8>(), dr in any::<bool>(),
                      access in proptest::option::of(any::<u8>()),
                      counter in proptest::collection::vec(any::<u8>(), 0..8),
                      host in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..40))) {
        let p = KeyParams { include_dr: dr, key_usage: usage, key_access: access, key_type: ktype,
            key_length: klen, kid, kvn, initial_counter: counter, host_id: host };
        let crt = p.to_crt();
        prop_assert_eq!(KeyParams::from_crt(&ber::parse_one(&crt).unwrap()).unwrap(), p);
    }
}
