//! Whole-package decode of arbitrary bytes: never panics; whatever is accepted re-encodes
//! byte for byte (also through the JSON form), and validation/accessors never panic.
#![no_main]

use esim_saip::{ProfilePackage, json, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(pkg) = ProfilePackage::decode(data) {
        assert_eq!(pkg.encode().expect("encode"), data);
        let doc = json::to_json(&pkg).expect("to_json");
        let back = json::from_json(&doc).expect("from_json");
        assert_eq!(back.encode().expect("encode"), data);
        let _ = validate(&pkg);
        let _ = pkg.iccid();
        let _ = pkg.imsi();
    }
});
