#![no_main]
//! Fuzzes the SCP80 PoR decoder (ETSI TS 102 225 §5.2, 3GPP TS 31.115 §4.4): the first two bytes
//! pick the SPI, the rest is SMS user data; decoding must never panic, and a PoR that decodes must
//! re-encode to a PoR that decodes to the same fields.

use esim_crypto::SecretKey;
use esim_crypto::scp80::{CompactResponse, Keyset, Kic, Kid, Spi, decode_por};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((spi, user_data)) = data.split_first_chunk::<2>() else {
        return;
    };
    let Ok(spi) = Spi::from_bytes(*spi) else {
        return;
    };
    let keysets = [
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
    ];
    let _ = CompactResponse::decode(user_data);
    for keys in &keysets {
        if let Ok(d) = decode_por(user_data, &spi, keys) {
            let _ = d.compact_response();
            let again = d.packet.encode(&spi, keys).expect("decoded PoR re-encodes");
            let d2 = decode_por(&again, &spi, keys).expect("re-encoded PoR decodes");
            assert_eq!(d2.packet, d.packet);
        }
    }
});
