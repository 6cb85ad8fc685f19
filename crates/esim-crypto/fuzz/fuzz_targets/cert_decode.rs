#![no_main]
// (fuzz target being written)
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
