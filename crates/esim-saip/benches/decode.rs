//! Decode and encode of the largest TS.48 profile (TS48V2-SAIP2-3-BERTLV, 12 309 bytes), whole
//! and streamed in 512-byte SCP03t-sized segments.

use criterion::{Criterion, criterion_group, criterion_main};
use esim_saip::{PeStreamDecoder, ProfilePackage};
use std::hint::black_box;

fn largest() -> Vec<u8> {
    esim_vectors::saip_files()
        .into_iter()
        .map(|p| std::fs::read(p).expect("vector"))
        .max_by_key(|d| d.len())
        .expect("saip vectors")
}

fn bench(c: &mut Criterion) {
    let der = largest();
    let pkg = ProfilePackage::decode(&der).expect("decode");
    c.bench_function("saip decode largest TS.48", |b| {
        b.iter(|| ProfilePackage::decode(black_box(&der)).expect("decode"))
    });
    c.bench_function(
        "saip stream-decode largest TS.48 (512-byte segments)",
        |b| {
            b.iter(|| {
                let mut d = PeStreamDecoder::new();
                let mut n = 0;
                for seg in black_box(&der).chunks(512) {
                    n += d.push(seg).expect("push").len();
                }
                d.finish().expect("finish");
                n
            })
        },
    );
    c.bench_function("saip encode largest TS.48", |b| {
        b.iter(|| black_box(&pkg).encode().expect("encode"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
