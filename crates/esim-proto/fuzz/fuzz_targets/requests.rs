//! Fuzzes the top-level JSON request decoder of every SGP.02 function: the
//! first byte picks the function, the rest is the request text.
#![no_main]

use esim_proto::{Function, decode_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let f = Function::ALL[usize::from(pick) % Function::ALL.len()];
    if let Ok(text) = std::str::from_utf8(rest) {
        if let Ok(req) = decode_request(f, text) {
            let again = req.to_json().expect("a decoded request encodes");
            assert_eq!(decode_request(f, &again).expect("re-decodes"), req);
        }
    }
});
