#![no_main]
//! SMPP PDU decoder on arbitrary bytes: no panic, and whatever decodes re-encodes identically.
use esim_smpp::pdu::{Header, Pdu};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = Header::parse(data);
    if let Ok(pdu) = Pdu::decode(data) {
        assert_eq!(pdu.encode().ok().as_deref(), Some(data));
    }
});
