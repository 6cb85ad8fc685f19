//! P-256 ECDSA-SHA256 (plain r‖s): signing and verification of a certificate-sized message.
use criterion::{Criterion, criterion_group, criterion_main};
use esim_crypto::ec::KeyPair;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let key = KeyPair::from_scalar(&[0x42; 32]).expect("key");
    let msg = vec![0xA5u8; 200];
    let sig = key.sign(&msg).expect("sign");
    c.bench_function("ecdsa_p256_sign", |b| {
        b.iter(|| key.sign(black_box(&msg)).expect("sign"))
    });
    c.bench_function("ecdsa_p256_verify", |b| {
        b.iter(|| {
            key.public_key()
                .verify(black_box(&msg), black_box(&sig))
                .expect("verify")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
