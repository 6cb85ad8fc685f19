#![no_main]
//! SMS TPDU and user data decoders: no panic; what decodes re-encodes identically.
use esim_apdu::sms::{Alphabet, SmsDeliver, SmsSubmit, UdlPolicy, UserData};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for policy in [UdlPolicy::Strict, UdlPolicy::TrustBuffer] {
        if let Ok(d) = SmsDeliver::decode_with(data, policy) {
            assert_eq!(d.encode().unwrap(), data);
        }
        if let Ok(s) = SmsSubmit::decode_with(data, policy) {
            assert_eq!(s.encode().unwrap(), data);
        }
    }
    if let [udl, first, rest @ ..] = data {
        for alphabet in [Alphabet::Gsm7, Alphabet::EightBit, Alphabet::Ucs2] {
            if let Ok(ud) = UserData::decode(*udl, rest, first & 1 != 0, alphabet, 2) {
                assert_eq!(ud.encode(alphabet).unwrap(), (*udl, rest.to_vec()));
            }
        }
    }
});
