//! Streaming decode: the first byte picks a chunk size; the result must equal whole decode.
#![no_main]

use esim_saip::{PeStreamDecoder, ProfilePackage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&c, body)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(c).max(1);
    let mut dec = PeStreamDecoder::with_max_element_len(body.len().max(1));
    let mut got = Vec::new();
    let mut err = None;
    for part in body.chunks(chunk) {
        match dec.push(part) {
            Ok(v) => got.extend(v),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    if err.is_none() {
        err = dec.finish().err();
    }
    match ProfilePackage::decode_located(body) {
        Ok(whole) => {
            assert!(err.is_none());
            assert_eq!(whole, got);
        }
        Err(e) => {
            if !body.is_empty() {
                assert_eq!(Some(e), err);
            }
        }
    }
});
