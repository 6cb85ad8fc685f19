#![no_main]
//! Fuzzes the SCP80 command packet decoder (ETSI TS 102 225 §5.1): UDH stripping, header parsing
//! and opening with AES, 3DES and RC keysets must never panic, and a packet that opens re-encodes
//! to the same bytes when it was padded as we pad (zeros, minimal count).

use esim_crypto::SecretKey;
use esim_crypto::scp80::{CommandPacket, Keyset, Kic, Kid, parse_command, udh};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
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
    let packet = udh::strip_command_udh(data).unwrap_or(data);
    let Ok(parsed) = parse_command(packet) else {
        return;
    };
    for keys in &keysets {
        if let Ok(opened) = parsed.open(keys) {
            let again = CommandPacket {
                spi: opened.header.spi,
                tar: opened.header.tar,
                counter: opened.counter,
                data: opened.data.clone(),
            }
            .encode(keys);
            // Deterministic encoding: with the same (zero) padding the bytes are the same.
            let pad = usize::from(opened.padding);
            let zero_pad = opened
                .secured_plaintext
                .iter()
                .rev()
                .take(pad)
                .all(|&b| b == 0);
            if let Ok(again) = again {
                if again.len() == packet.len()
                    && zero_pad
                    && opened.header.kic == keys.kic()
                    && opened.header.kid == keys.kid()
                {
                    assert_eq!(again, packet);
                }
            }
        }
    }
});
