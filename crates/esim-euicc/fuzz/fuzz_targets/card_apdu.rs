#![no_main]
//! Contact interface: any sequence of APDUs (split on 0xFF 0xFF) never panics, and the registry
//! invariants hold after each.
#[path = "card_common.rs"]
mod card_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut card = card_common::card();
    let _ = card.process_apdu(&[
        0x00, 0xA4, 0x04, 0x00, 0x10, 0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF,
        0xFF, 0x89, 0x00, 0x00, 0x01, 0x00,
    ]);
    for apdu in data.split(|&b| b == 0xFF) {
        let r = card.process_apdu(apdu);
        assert!(r.len() >= 2);
        card.registry().check_invariants().unwrap();
    }
});
