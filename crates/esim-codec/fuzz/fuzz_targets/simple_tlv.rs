#![no_main]
//! SIMPLE-TLV decoder on arbitrary bytes: no panic; decoded objects re-encode to the input.
use esim_codec::simple_tlv;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(items) = simple_tlv::parse_all(data) {
        let mut out = Vec::new();
        for i in &items {
            out.extend(simple_tlv::encode(i.tag, i.value).expect("decoded object re-encodes"));
        }
        // Lengths 00-FE have one encoding; FF xxxx may encode a short length non-minimally.
        if out.len() == data.len() {
            assert_eq!(out, data);
        }
    }
});
