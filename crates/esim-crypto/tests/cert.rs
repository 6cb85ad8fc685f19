//! GP Amendment E `7F21` certificates: encode/decode, signatures, validity, errors, proptests.

use esim_codec::ber::{DecodeErrorKind, Tag};
use esim_crypto::cert::{
    CertError, CertType, Certificate, CertificateBody, Date, KEY_USAGE_SIGNATURE_VERIFICATION,
};
use esim_crypto::ec::KeyPair;
use proptest::prelude::*;

fn d(y: u16, m: u8, day: u8) -> Date {
    Date::new(y, m, day).unwrap()
}

fn body(subject: &KeyPair) -> CertificateBody {
    CertificateBody {
        serial: vec![0x01, 0x02, 0x03],
        ca_id: b"test-ci".to_vec(),
        subject_id: b"smdp.example".to_vec(),
        key_usage: KEY_USAGE_SIGNATURE_VERIFICATION.to_vec(),
        effective_date: Some(d(2025, 1, 1)),
        expiry_date: d(2027, 12, 31),
        cert_type: Some(CertType::SmDp),
        authority_key_id: Some(vec![0xAA; 20]),
        other_discretionary: vec![0xDF, 0x20, 0x02, 0x12, 0x34],
        public_key: subject.public_key().clone(),
    }
}

#[test]
fn encode_decode_round_trip_and_layout() {
    let ci = KeyPair::generate().unwrap();
    let dp = KeyPair::generate().unwrap();
    let cert = body(&dp).sign(&ci).unwrap();
    let bytes = cert.encode();
    // 7F21 L { 93 03 010203 42 07 "test-ci" 5F20 ... }
    assert_eq!(&bytes[..2], &[0x7F, 0x21]);
    let inner = &bytes[bytes.len() - cert.signed_data().len() - 67..];
    assert_eq!(&inner[..5], &[0x93, 0x03, 0x01, 0x02, 0x03]);
    assert_eq!(
        &bytes[bytes.len() - 67..bytes.len() - 64],
        &[0x5F, 0x37, 0x40]
    );
    let back = Certificate::decode(&bytes).unwrap();
    assert_eq!(back, cert);
    assert_eq!(back.encode(), bytes);
    assert_eq!(
        back.body().other_discretionary,
        vec![0xDF, 0x20, 0x02, 0x12, 0x34]
    );
    assert_eq!(back.cert_type(), Some(CertType::SmDp));
    // The signed data is everything inside 7F21 before 5F37.
    let hdr = bytes.len() - (cert.signed_data().len() + 67);
    assert_eq!(
        &bytes[hdr..hdr + cert.signed_data().len()],
        cert.signed_data()
    );
    back.verify(ci.public_key()).unwrap();
}

#[test]
fn signature_checks() {
    let ci = KeyPair::generate().unwrap();
    let other_ci = KeyPair::generate().unwrap();
    let dp = KeyPair::generate().unwrap();
    let cert = body(&dp).sign(&ci).unwrap();
    cert.verify(ci.public_key()).unwrap();
    assert!(matches!(
        cert.verify(other_ci.public_key()),
        Err(CertError::Signature(_))
    ));
    // Tamper with the subject identifier (a byte inside 5F20).
    let mut bytes = cert.encode();
    let pos = bytes.windows(4).position(|w| w == b"smdp").unwrap();
    bytes[pos] ^= 0x20;
    let tampered = Certificate::decode(&bytes).unwrap();
    assert!(matches!(
        tampered.verify(ci.public_key()),
        Err(CertError::Signature(_))
    ));
    // Tamper with the signature.
    let mut bytes = cert.encode();
    let n = bytes.len();
    bytes[n - 1] ^= 0x01;
    let tampered = Certificate::decode(&bytes).unwrap();
    assert!(tampered.verify(ci.public_key()).is_err());
}

#[test]
fn validity_and_type() {
    let ci = KeyPair::generate().unwrap();
    let cert = body(&KeyPair::generate().unwrap()).sign(&ci).unwrap();
    cert.check_validity(d(2025, 1, 1)).unwrap();
    cert.check_validity(d(2027, 12, 31)).unwrap();
    assert!(matches!(
        cert.check_validity(d(2028, 1, 1)),
        Err(CertError::Expired { .. })
    ));
    assert!(matches!(
        cert.check_validity(d(2024, 12, 31)),
        Err(CertError::NotYetValid { .. })
    ));
    cert.verify_full(ci.public_key(), Some(d(2026, 6, 1)), &[CertType::SmDp])
        .unwrap();
    assert!(matches!(
        cert.verify_full(ci.public_key(), None, &[CertType::SmSr]),
        Err(CertError::WrongType { .. })
    ));
    assert!(matches!(
        cert.verify_full(ci.public_key(), Some(d(2030, 1, 1)), &[]),
        Err(CertError::Expired { .. })
    ));
}

#[test]
fn decode_errors_name_tag_and_offset() {
    let ci = KeyPair::generate().unwrap();
    let cert = body(&KeyPair::generate().unwrap()).sign(&ci).unwrap();
    let bytes = cert.encode();
    // Trailing byte after the certificate.
    let mut trailing = bytes.clone();
    trailing.push(0);
    match Certificate::decode(&trailing) {
        Err(CertError::Decode(e)) => {
            assert_eq!(e.offset, bytes.len());
            assert_eq!(e.kind, DecodeErrorKind::TrailingBytes(1));
        }
        other => panic!("unexpected {other:?}"),
    }
    // Wrong outer tag.
    let mut wrong = bytes.clone();
    wrong[1] = 0x22;
    assert!(matches!(
        Certificate::decode(&wrong),
        Err(CertError::Decode(e)) if matches!(e.kind, DecodeErrorKind::UnexpectedTag { .. })
    ));
    // Missing mandatory 5F24: rebuild the value without it.
    let raw = esim_codec::ber::parse_one(&bytes).unwrap();
    let mut value = Vec::new();
    let mut off_5f24 = 0;
    for c in raw.children() {
        let c = c.unwrap();
        if c.tag == Tag(0x5F24) {
            off_5f24 = value.len();
            continue;
        }
        value.extend_from_slice(c.raw);
    }
    let cut = esim_codec::ber::tlv(0x7F21u16, &value);
    match Certificate::decode(&cut) {
        Err(CertError::Decode(e)) => {
            assert_eq!(
                e.kind,
                DecodeErrorKind::UnexpectedTag {
                    expected: Tag(0x5F24),
                    found: Tag(0x73)
                }
            );
            assert_eq!(e.offset, cut.len() - value.len() + off_5f24, "{e}");
            assert!(e.to_string().contains("5F24"));
        }
        other => panic!("unexpected {other:?}"),
    }
    // A bad date.
    let mut bad_date = bytes.clone();
    let p = bad_date
        .windows(3)
        .position(|w| w == [0x5F, 0x24, 0x04])
        .unwrap();
    bad_date[p + 5] = 0x13; // month 13
    match Certificate::decode(&bad_date) {
        Err(CertError::Decode(e)) => {
            assert!(e.to_string().contains("5F24"), "{e}");
            assert_eq!(e.offset, p);
        }
        other => panic!("unexpected {other:?}"),
    }
    // Signature of the wrong length.
    let mut body_bytes = cert.signed_data().to_vec();
    body_bytes.extend_from_slice(&esim_codec::ber::tlv(0x5F37u16, &[1; 63]));
    assert!(Certificate::decode(&esim_codec::ber::tlv(0x7F21u16, &body_bytes)).is_err());
}

#[test]
fn signed_bytes_kept_verbatim_with_long_form_length() {
    // A certificate whose 42 length is written in non-minimal long form still verifies, because
    // the signed data is kept as received.
    let ci = KeyPair::generate().unwrap();
    let b = body(&KeyPair::generate().unwrap());
    let mut signed = b.signing_data();
    let pos = signed.iter().position(|&x| x == 0x42).unwrap();
    signed.splice(pos + 1..pos + 2, [0x81, 0x07]);
    let sig = ci.sign(&signed).unwrap();
    let mut v = signed.clone();
    v.extend_from_slice(&esim_codec::ber::tlv(0x5F37u16, &sig));
    let cert = Certificate::decode(&esim_codec::ber::tlv(0x7F21u16, &v)).unwrap();
    cert.verify(ci.public_key()).unwrap();
    assert_eq!(cert.body().ca_id, b"test-ci");
}

fn arb_date() -> impl Strategy<Value = Date> {
    (0u16..=9999, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Certificate::decode(&bytes);
        let mut framed = vec![0x7F, 0x21];
        if bytes.len() < 128 { framed.push(bytes.len() as u8) } else { framed.extend_from_slice(&[0x82, (bytes.len() >> 8) as u8, bytes.len() as u8]) }
        framed.extend_from_slice(&bytes);
        let _ = Certificate::decode(&framed);
    }

    #[test]
    fn mutated_certificates_never_panic(pos in 0usize..200, val in any::<u8>(), cut in 0usize..200) {
        let ci = KeyPair::from_scalar(&[7; 32]).unwrap();
        let cert = body(&ci).sign(&ci).unwrap();
        let mut bytes = cert.encode();
        let n = bytes.len();
        bytes[pos % n] = val;
        let _ = Certificate::decode(&bytes);
        let _ = Certificate::decode(&bytes[..cut % n]);
    }

    #[test]
    fn round_trip(serial in proptest::collection::vec(any::<u8>(), 1..20),
                  ca in proptest::collection::vec(any::<u8>(), 0..40),
                  subject in proptest::collection::vec(any::<u8>(), 0..200),
                  eff in proptest::option::of(arb_date()), exp in arb_date(),
                  ty in proptest::option::of(any::<u8>()),
                  aki in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..30)),
                  extra in proptest::collection::vec(any::<u8>(), 0..20)) {
        let key = KeyPair::from_scalar(&[9; 32]).unwrap();
        let b = CertificateBody {
            serial, ca_id: ca, subject_id: subject, key_usage: vec![0x00, 0x80],
            effective_date: eff, expiry_date: exp, cert_type: ty.map(CertType::from_byte),
            authority_key_id: aki,
            other_discretionary: esim_codec::ber::tlv(0xD0u8, &extra),
            public_key: key.public_key().clone(),
        };
        let cert = b.clone().sign(&key).unwrap();
        let back = Certificate::decode(&cert.encode()).unwrap();
        prop_assert_eq!(back.body(), &b);
        prop_assert!(back.verify(key.public_key()).is_ok());
    }
}
