#![no_main]
//! Card side of ECKA scenario #3 (ECASD): arbitrary STORE DATA payloads in either state never
//! panic. The first input byte selects the state: even = waiting for 3A01, odd = waiting for 3A02
//! (after a valid 3A01 with a fixed challenge).
use esim_crypto::cert::{
    CertType, CertificateBody, Date, KEY_USAGE_KEY_AGREEMENT, KEY_USAGE_SIGNATURE_VERIFICATION,
};
use esim_crypto::ec::KeyPair;
use esim_crypto::ecka::{self, CardAwaitingCertificate, EcasdCredentials};
use std::sync::OnceLock;

struct Setup {
    creds: EcasdCredentials,
    msg1: Vec<u8>,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let ci = KeyPair::from_scalar(&[0x11; 32]).expect("CI key");
        let eum = KeyPair::from_scalar(&[0x22; 32]).expect("EUM key");
        let ecasd = KeyPair::from_scalar(&[0x33; 32]).expect("ECASD key");
        let dp = KeyPair::from_scalar(&[0x44; 32]).expect("DP key");
        let body = |id: &[u8], pk: &KeyPair, t, ku: &[u8]| CertificateBody {
            serial: vec![1],
            ca_id: b"fuzz".to_vec(),
            subject_id: id.to_vec(),
            key_usage: ku.to_vec(),
            effective_date: Date::new(2020, 1, 1),
            expiry_date: Date::new(2099, 12, 31).expect("date"),
            cert_type: Some(t),
            authority_key_id: None,
            other_discretionary: Vec::new(),
            public_key: pk.public_key().clone(),
        };
        let ecasd_cert = body(b"eid", &ecasd, CertType::Ecasd, &KEY_USAGE_KEY_AGREEMENT)
            .sign(&eum)
            .expect("sign");
        let dp_cert = body(
            b"dp",
            &dp,
            CertType::SmDp,
            &KEY_USAGE_SIGNATURE_VERIFICATION,
        )
        .sign(&ci)
        .expect("sign");
        Setup {
            creds: EcasdCredentials {
                key: ecasd,
                certificate: ecasd_cert,
                ci_public_key: ci.public_key().clone(),
            },
            msg1: ecka::message1(&dp_cert),
        }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let s = setup();
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let card = CardAwaitingCertificate::new(&s.creds, Date::new(2030, 1, 1));
    if sel & 1 == 0 {
        let _ = card.handle_with_challenge(rest, [0x5A; 16]);
    } else {
        let (card, _) = card
            .handle_with_challenge(&s.msg1, [0x5A; 16])
            .expect("valid message 1");
        if let Err(e) = card.handle_with_dr(rest, [0xC3; 16]) {
            let _ = e.status_word();
        }
    }
});
