#![no_main]
//! GP `7F21` certificate decoder: never panics; whatever decodes re-encodes and decodes to the
//! same certificate.
use esim_crypto::cert::Certificate;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = Certificate::decode(data) {
        let again = Certificate::decode(&cert.encode()).expect("re-encoded certificate decodes");
        assert_eq!(again, cert);
        let _ = cert.verify(cert.public_key());
    }
});
