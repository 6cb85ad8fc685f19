//! Test PKI: X.509 chains (CI, EUM, TLS), GP certificates of SM-DP/SM-SR, eUICC issuance and
//! the EUM-signed EIS.

use esim_codec::ids::Eid;
use esim_crypto::cert::{CertType, Date};
use esim_crypto::ec::KeyPair;
use esim_crypto::pki::{self, EisDocument, EuiccParams, PkiError, PkiParams, TestPki};
use esim_crypto::x509::{self, CertProfile, ValidityDays, X509Certificate, X509Error};
use proptest::prelude::*;
use std::sync::OnceLock;

fn start() -> Date {
    Date::new(2025, 1, 1).unwrap()
}

fn pkis() -> &'static (TestPki, TestPki) {
    static P: OnceLock<(TestPki, TestPki)> = OnceLock::new();
    P.get_or_init(|| {
        let p = PkiParams::test_defaults(start());
        (
            TestPki::generate(&p).unwrap(),
            TestPki::generate(&p).unwrap(),
        )
    })
}

fn euicc(serial: u64) -> pki::IssuedEuicc {
    let (pki, _) = pkis();
    let eid = pki::eid_from_prefix("89049032", serial).unwrap();
    let p = EuiccParams::test_defaults(eid, Date::new(2025, 3, 1).unwrap(), 3650).unwrap();
    pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap()
}

#[test]
fn generated_pki_verifies() {
    let (pki, other) = pkis();
    pki.verify(Some(Date::new(2026, 1, 1).unwrap())).unwrap();
    assert!(pki.ci.cert.is_ca());
    assert!(pki.eum.cert.is_ca());
    assert!(!pki.smdp.tls_cert.is_ca());
    assert_eq!(pki.ci.cert.subject(), pki.ci.cert.issuer());
    assert_eq!(pki.eum.cert.issuer(), pki.ci.cert.subject());
    assert_eq!(
        pki.eum.cert.authority_key_id(),
        pki.ci.cert.subject_key_id()
    );
    assert_eq!(pki.smdp.cert.cert_type(), Some(CertType::SmDp));
    assert_eq!(pki.smsr.cert.cert_type(), Some(CertType::SmSr));
    assert_eq!(
        pki.smdp.cert.body().authority_key_id,
        pki.ci.cert.subject_key_id()
    );
    assert!(
        pki.smdp
            .tls_cert
            .dns_names()
            .contains(&"localhost".to_string())
    );
    pki.smdp
        .tls_cert
        .verify_issued_by(&pki.tls_ca.cert)
        .unwrap();
    // Expired at the end of the entity validity.
    assert!(pki.verify(Some(Date::new(2040, 1, 1).unwrap())).is_err());
    // Cross-PKI checks fail.
    assert!(matches!(
        pki.eum.cert.verify_issued_by(&other.ci.cert),
        Err(X509Error::BadSignature)
    ));
    let ci_pk = other.ci.cert.public_key().unwrap();
    assert!(pki.smdp.cert.verify(&ci_pk).is_err());
    // A TLS leaf cannot act as an issuer.
    assert!(matches!(
        pki.eum.cert.verify_issued_by(&pki.smdp.tls_cert),
        Err(X509Error::IssuerMismatch { .. })
    ));
}

#[test]
fn x509_pem_der_round_trip_and_key_extraction() {
    let (pki, _) = pkis();
    let pem = pki.eum.cert.to_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let back = X509Certificate::from_pem(&pem).unwrap();
    assert_eq!(back.to_der(), pki.eum.cert.to_der());
    assert_eq!(back.public_key().unwrap(), *pki.eum.key.public_key());
    let der = X509Certificate::from_der(pki.ci.cert.to_der()).unwrap();
    back.verify_issued_by(&der).unwrap();
    let v = back.validity();
    assert_eq!(v.not_before, start());
    assert_eq!(v.not_after, start().add_days(3650).unwrap());
    assert!(
        back.check_validity(Date::new(2024, 12, 31).unwrap())
            .is_err()
    );
    assert!(X509Certificate::from_der(&pki.eum.cert.to_der()[1..]).is_err());
    assert!(X509Certificate::from_pem("not a pem").is_err());
}

#[test]
fn tampered_x509_signature_is_rejected() {
    let (pki, _) = pkis();
    let mut der = pki.eum.cert.to_der().to_vec();
    // Flip a byte inside the subject public key (well inside the tbsCertificate).
    let pk = pki.eum.key.public_key().to_sec1();
    let p = der.windows(8).position(|w| w == &pk[1..9]).unwrap();
    der[p] ^= 0x01;
    if let Ok(c) = X509Certificate::from_der(&der) {
        assert!(c.verify_issued_by(&pki.ci.cert).is_err());
    }
}

#[test]
fn client_and_server_tls_profiles() {
    let (pki, _) = pkis();
    let k = KeyPair::generate().unwrap();
    let v = ValidityDays {
        not_before: start(),
        not_after: start().add_days(10).unwrap(),
    };
    let c = x509::issue(
        Some(&pki.tls_ca.cert),
        &pki.tls_ca.key,
        "CN=client",
        k.public_key(),
        &[1],
        v,
        CertProfile::TlsClient,
    )
    .unwrap();
    c.verify_issued_by(&pki.tls_ca.cert).unwrap();
    assert!(c.dns_names().is_empty());
    assert!(
        x509::issue(
            None,
            &k,
            "not a DN",
            k.public_key(),
            &[1],
            v,
            CertProfile::Root
        )
        .is_err()
    );
}

#[test]
fn issued_euicc_and_eis_verify() {
    let (pki, _) = pkis();
    let e = euicc(7);
    assert_eq!(e.eid.as_str().len(), 32);
    Eid::parse(e.eid.as_str()).unwrap();
    assert_eq!(e.ecasd_cert.body().subject_id, e.eid.to_bcd());
    assert_eq!(e.ecasd_cert.cert_type(), Some(CertType::Ecasd));
    assert_eq!(e.ci_public_key, pki.ci.cert.public_key().unwrap());
    assert_eq!(e.scp80.len(), 1);
    assert_eq!(e.scp81.len(), 1);
    assert_eq!(e.scp81[0].identity[..3], [0x80, 0x01, 0x02]);
    let v = pki::verify_eis(&e.eis, &pki.eum.cert, &pki.ci.cert).unwrap();
    assert_eq!(v.eid, e.eid);
    assert_eq!(v.ecasd_certificate, e.ecasd_cert);

    // JSON round trip keeps the signature valid and the keys.
    let json = e.eis.to_json().unwrap();
    let back = EisDocument::from_json(&json).unwrap();
    assert_eq!(back, e.eis);
    pki::verify_eis(&back, &pki.eum.cert, &pki.ci.cert).unwrap();
    let ks = &back.eum_signed_info.isd_r.keysets[0];
    assert_eq!(ks.keyset_type, "SCP80");
    assert_eq!(ks.keys[0].value.0, e.scp80[0].kic);
    assert_eq!(
        ks.keys[0].kcv,
        esim_codec::hex::encode(&pki::aes_kcv(&e.scp80[0].kic).unwrap())
    );
}

#[test]
fn tampered_eis_is_rejected() {
    let (pki, other) = pkis();
    let e = euicc(8);
    let mut t = e.eis.clone();
    t.eum_signed_info.remaining_memory += 1;
    assert_eq!(
        pki::verify_eis(&t, &pki.eum.cert, &pki.ci.cert).unwrap_err(),
        PkiError::EisSignature
    );
    let mut t = e.eis.clone();
    t.eum_signed_info.isd_r.keysets[0].version = 9;
    assert!(pki::verify_eis(&t, &pki.eum.cert, &pki.ci.cert).is_err());
    // Another EUM / CI.
    assert!(pki::verify_eis(&e.eis, &other.eum.cert, &other.ci.cert).is_err());
    assert!(pki::verify_eis(&e.eis, &pki.eum.cert, &other.ci.cert).is_err());
    // ECASD certificate of another eUICC, re-signed EIS: the EID check catches it.
    let e2 = euicc(9);
    let mut info = e.eis.eum_signed_info.clone();
    info.ecasd = e2.eis.eum_signed_info.ecasd.clone();
    let sig = pki.eum.key.sign(&info.canonical_bytes().unwrap()).unwrap();
    let forged = EisDocument {
        eum_signed_info: info,
        eum_signature: esim_codec::hex::encode(&sig),
        ..e.eis.clone()
    };
    assert!(matches!(
        pki::verify_eis(&forged, &pki.eum.cert, &pki.ci.cert),
        Err(PkiError::EisMismatch(_))
    ));
    // Unknown fields and garbage are refused, not panicked on.
    assert!(EisDocument::from_json("{}").is_err());
    assert!(EisDocument::from_json("[").is_err());
}

#[test]
fn secrets_stay_out_of_debug() {
    let (pki, _) = pkis();
    let e = euicc(10);
    let kic = esim_codec::hex::encode(e.scp80[0].kic.expose());
    let psk = esim_codec::hex::encode(e.scp81[0].psk.expose());
    let ecasd_sk = esim_codec::hex::encode(&e.ecasd_key.scalar_bytes());
    let ci_sk = esim_codec::hex::encode(&pki.ci.key.scalar_bytes());
    let dbg = format!("{e:?} {:?} {:?} {pki:?}", e.eis, e.scp80).to_lowercase();
    for s in [kic, psk, ecasd_sk, ci_sk] {
        assert!(!dbg.contains(&s));
    }
}

#[test]
fn eid_prefix_rules() {
    let e = pki::eid_from_prefix("89049032123456789012", 1).unwrap();
    assert!(e.as_str().starts_with("890490321234567890120000000001"));
    assert!(pki::eid_from_prefix("12", 1).is_err());
    assert!(pki::eid_from_prefix("8904903212345678901234567890", 1000).is_err());
    assert!(pki::eid_from_prefix("89a", 1).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn x509_and_eis_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                        text in ".{0,200}") {
        let _ = X509Certificate::from_der(&bytes);
        let _ = X509Certificate::from_pem(&text);
        let _ = EisDocument::from_json(&text);
    }

    #[test]
    fn mutated_x509_never_panics(pos in 0usize..600, val in any::<u8>()) {
        let (pki, _) = pkis();
        let mut der = pki.eum.cert.to_der().to_vec();
        let n = der.len();
        der[pos % n] = val;
        if let Ok(c) = X509Certificate::from_der(&der) {
            let _ = c.verify_issued_by(&pki.ci.cert);
            let _ = c.public_key();
            let _ = c.validity();
        }
    }
}
