//! SCP03t throughput: wrapping a 20 KB Profile Package into `86` commands (SM-DP side) and
//! unwrapping the command stream on the card (ISD-P side), including the `84`/`85` handshake.

use criterion::{Criterion, criterion_group, criterion_main};
use esim_crypto::SecretKey;
use esim_crypto::scp03::{CardIdle, StaticKeys};
use esim_crypto::scp03t::{Scp03tCard, Scp03tEvent, Scp03tHostAwaitingInitUpdateResponse};
use std::hint::black_box;

const AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x10, 0x00,
];

fn keys() -> StaticKeys {
    StaticKeys::from_base_key(0x03, SecretKey::new(&[0x5A; 16])).expect("keyset")
}

/// Handshake; returns the authenticated host, the card, and the `85` command already fed.
fn session() -> (esim_crypto::scp03t::Scp03tHost, Scp03tCard) {
    let mut card = Scp03tCard::new(CardIdle::new(keys(), &AID, [0; 10], 0));
    let (host, c84) = Scp03tHostAwaitingInitUpdateResponse::start(keys(), 1, [7; 8]);
    card.feed(&c84).expect("84");
    let mut r = Vec::new();
    for ev in card.take_events() {
        if let Scp03tEvent::Response(b) = ev {
            r.extend(b);
        }
    }
    let (host, c85) = host.handle(&r).expect("84 response");
    card.feed(&c85).expect("85");
    card.take_events();
    (host, card)
}

fn bench(c: &mut Criterion) {
    let profile: Vec<u8> = (0..20 * 1024u32).map(|i| (i * 31) as u8).collect();
    c.bench_function("scp03t_host_wrap_20k", |b| {
        b.iter_batched(
            || session().0,
            |mut host| black_box(host.wrap_profile(black_box(&profile)).expect("wrap")),
            criterion::BatchSize::SmallInput,
        )
    });
    c.bench_function("scp03t_card_unwrap_20k", |b| {
        b.iter_batched(
            || {
                let (mut host, card) = session();
                let stream = host.wrap_profile(&profile).expect("wrap").concat();
                (card, stream)
            },
            |(mut card, stream)| {
                for chunk in stream.chunks(1000) {
                    card.feed(chunk).expect("feed");
                }
                black_box(card.take_events())
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
