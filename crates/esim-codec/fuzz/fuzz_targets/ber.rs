#![no_main]
//! BER-TLV decoders on arbitrary bytes: no panic, and whatever decodes re-encodes identically.
use esim_codec::ber::{self, Node};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ber::parse_one(data);
    let _ = ber::parse_fixed_tag(data, 2);
    if let Ok(list) = ber::parse_all(data) {
        for t in list {
            assert_eq!(Node::from_tlv_lenient(&t).to_bytes(), t.raw);
        }
    }
});
