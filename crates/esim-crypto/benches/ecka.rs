//! ECKA scenario #3: the off-card side (message 2 with an ephemeral key, receipt check) and the
//! card side (certificate check, signature check, ECDH, KDF, receipt) of one key establishment.
use criterion::{Criterion, criterion_group, criterion_main};
use esim_crypto::cert::{
    CertType, CertificateBody, Date, KEY_USAGE_KEY_AGREEMENT, KEY_USAGE_SIGNATURE_VERIFICATION,
};
use esim_crypto::ec::KeyPair;
use esim_crypto::ecka::{
    CardAwaitingCertificate, EcasdCredentials, KeyParams, OffCardAwaitingChallenge,
};

fn bench(c: &mut Criterion) {
    let ci = KeyPair::from_scalar(&[0x11; 32]).expect("key");
    let eum = KeyPair::from_scalar(&[0x22; 32]).expect("key");
    let ecasd = KeyPair::from_scalar(&[0x33; 32]).expect("key");
    let dp = KeyPair::from_scalar(&[0x44; 32]).expect("key");
    let body = |pk: &KeyPair, t, ku: &[u8]| CertificateBody {
        serial: vec![1],
        ca_id: b"bench".to_vec(),
        subject_id: b"bench".to_vec(),
        key_usage: ku.to_vec(),
        effective_date: Date::new(2020, 1, 1),
        expiry_date: Date::new(2099, 12, 31).expect("date"),
        cert_type: Some(t),
        authority_key_id: None,
        other_discretionary: Vec::new(),
        public_key: pk.public_key().clone(),
    };
    let ecasd_cert = body(&ecasd, CertType::Ecasd, &KEY_USAGE_KEY_AGREEMENT)
        .sign(&eum)
        .expect("sign");
    let dp_cert = body(&dp, CertType::SmDp, &KEY_USAGE_SIGNATURE_VERIFICATION)
        .sign(&ci)
        .expect("sign");
    let creds = EcasdCredentials {
        key: ecasd.clone(),
        certificate: ecasd_cert,
        ci_public_key: ci.public_key().clone(),
    };
    let today = Date::new(2030, 1, 1);

    // Fixed randoms (challenge, derivation random, ephemeral key) make the messages of one
    // exchange reusable, so each side can be timed on its own.
    let rc_value = [0x5A; 16];
    let dr = [0xC3; 16];
    let eph = KeyPair::from_scalar(&[0x55; 32]).expect("key");
    let start = || {
        OffCardAwaitingChallenge::start(
            dp.clone(),
            &dp_cert,
            ecasd.public_key().clone(),
            KeyParams::isd_p_scp03(0x30),
        )
        .expect("start")
    };
    let (oc, msg1) = start();
    let (card, rc) = CardAwaitingCertificate::new(&creds, today)
        .handle_with_challenge(&msg1, rc_value)
        .expect("card message 1");
    let (oc, msg2) = oc
        .handle_with_ephemeral(&rc, eph.clone())
        .expect("message 2");
    let done = card.handle_with_dr(&msg2, dr).expect("card message 2");
    let keys = oc.handle(&done.response).expect("receipt");
    assert_eq!(keys, done.keys);

    c.bench_function("ecka_off_card_side", |b| {
        b.iter(|| {
            let (oc, _m1) = start();
            let (oc, _m2) = oc
                .handle_with_ephemeral(&rc, eph.clone())
                .expect("message 2");
            oc.handle(&done.response).expect("receipt")
        })
    });
    c.bench_function("ecka_card_side", |b| {
        b.iter(|| {
            let (card, _) = CardAwaitingCertificate::new(&creds, today)
                .handle_with_challenge(&msg1, rc_value)
                .expect("message 1");
            card.handle_with_dr(&msg2, dr).expect("message 2")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
