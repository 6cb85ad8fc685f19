#![no_main]
//! ETSI TS 102 226 script decoders: no panic; expanded scripts re-decode from their encoding,
//! compact ones re-encode identically.
use esim_apdu::etsi102226::{self, CommandScript, CompactResponse, ResponseScript};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = CommandScript::decode(data) {
        assert_eq!(CommandScript::decode(&s.encode().unwrap()).unwrap(), s);
    } else if let Err(e) = CommandScript::decode(data) {
        let _ = e.bad_format();
    }
    if let Ok(s) = ResponseScript::decode(data) {
        assert_eq!(ResponseScript::decode(&s.encode()).unwrap(), s);
    }
    if let Ok(c) = etsi102226::decode_compact(data) {
        assert_eq!(etsi102226::encode_compact(&c).unwrap(), data);
    }
    if let Ok(r) = CompactResponse::decode(data) {
        assert_eq!(r.encode(), data);
    }
});
