#![no_main]
//! Identifier parsers on arbitrary bytes and text: no panic.
use esim_codec::{Aid, Eid, Iccid, Imsi};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = Eid::from_bcd(data);
    let _ = Iccid::from_swapped_bcd(data);
    let _ = Imsi::from_ef_imsi(data);
    let _ = Aid::new(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Eid::parse(s);
        let _ = Iccid::parse(s);
        let _ = Imsi::parse(s);
        let _ = Aid::from_hex(s);
        let _ = esim_codec::hex::decode(s);
    }
});
