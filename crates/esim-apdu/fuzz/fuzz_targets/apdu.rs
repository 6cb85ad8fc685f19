#![no_main]
//! Command and response APDU decoders: no panic; what decodes re-encodes identically.
use esim_apdu::apdu::{CommandApdu, ResponseApdu};
use esim_apdu::get_response::{AwaitingResponse, Exchange};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok((cmd, form)) = CommandApdu::decode_with_form(data) {
        assert_eq!(cmd.encode_with(form).unwrap(), data);
        // Feed the rest of the input as responses to the T=0 helper.
        let mut state = AwaitingResponse::new(&cmd);
        for chunk in data.chunks(7) {
            let Ok(r) = ResponseApdu::decode(chunk) else {
                break;
            };
            match state.handle(r) {
                Ok(Exchange::Send { state: s, .. }) => state = s,
                _ => break,
            }
        }
    }
    if let Ok(r) = ResponseApdu::decode(data) {
        assert_eq!(r.encode(), data);
    }
});
