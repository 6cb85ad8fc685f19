//! SCP80 (ETSI TS 102 225) throughput: encode and open a command packet carrying ~100 bytes of
//! data with the SGP.02 default SPI `16 39` (AES-CBC + AES-CMAC, counter, PoR settings), and
//! encode/decode its PoR.

use criterion::{Criterion, criterion_group, criterion_main};
use esim_codec::Tar;
use esim_crypto::SecretKey;
use esim_crypto::scp80::{
    CommandPacket, Counter, Keyset, Kic, Kid, PorStatus, ResponsePacket, Spi, decode_por,
    parse_command,
};
use std::hint::black_box;

fn keys() -> Keyset {
    Keyset::new(
        Kic(0x12),
        SecretKey::new(&[0x5A; 16]),
        Kid(0x12),
        SecretKey::new(&[0xA5; 16]),
    )
}

fn bench(c: &mut Criterion) {
    let keys = keys();
    let cmd = CommandPacket {
        spi: Spi::SGP02_DEFAULT,
        tar: Tar::ISD_R,
        counter: Counter::new(0x101).expect("counter"),
        data: (0..100u8).collect(),
    };
    let packet = cmd.encode(&keys).expect("encode");

    c.bench_function("scp80 encode 100 B AES SPI 1639", |b| {
        b.iter(|| black_box(&cmd).encode(black_box(&keys)).expect("encode"))
    });
    c.bench_function("scp80 parse+open 100 B AES SPI 1639", |b| {
        b.iter(|| {
            parse_command(black_box(&packet))
                .and_then(|p| p.open(black_box(&keys)))
                .expect("open")
        })
    });

    let por = ResponsePacket {
        tar: Tar::ISD_R,
        counter: cmd.counter,
        status: PorStatus::Ok,
        data: vec![0x01, 0x90, 0x00],
    };
    let por_bytes = por.encode(&Spi::SGP02_DEFAULT, &keys).expect("PoR");
    c.bench_function("scp80 PoR encode AES SPI 1639", |b| {
        b.iter(|| {
            black_box(&por)
                .encode(&Spi::SGP02_DEFAULT, black_box(&keys))
                .expect("PoR")
        })
    });
    c.bench_function("scp80 PoR decode AES SPI 1639", |b| {
        b.iter(|| {
            decode_por(black_box(&por_bytes), &Spi::SGP02_DEFAULT, black_box(&keys)).expect("PoR")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
