//! Fuzzes every parser of untrusted input in `esim_scp81::admin`: the PSK identity (wire and
//! binary), the trigger TLV, `X-Admin-*` header values, and whole card requests / server
//! responses built from the input. The first byte selects the parser.
#![no_main]

use bytes::Bytes;
use esim_scp81::admin::{
    AdminFrom, AdminSessionTrigger, CardRequest, HeaderFields, PskIdentity, ScriptStatus,
    ServerResponse, http,
};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 8] = [
    "Host",
    "Content-Type",
    "X-Admin-Protocol",
    "X-Admin-From",
    "X-Admin-Script-Status",
    "X-Admin-Resume",
    "X-Admin-Next-URI",
    "X-Admin-Targeted-Application",
];

/// Splits `data` at `\n` into header lines; the first byte of each line picks the name.
fn headers(data: &[u8]) -> Vec<(&'static str, &[u8])> {
    data.split(|b| *b == b'\n')
        .filter_map(|line| {
            let (first, value) = line.split_first()?;
            Some((NAMES[usize::from(*first) % NAMES.len()], value))
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => {
            let _ = PskIdentity::parse_wire(rest);
            let _ = PskIdentity::parse_binary(rest);
        }
        1 => {
            if let Ok(t) = AdminSessionTrigger::decode(rest) {
                // What decodes must re-encode to something that decodes to the same value.
                let again = AdminSessionTrigger::decode(&t.encode()).expect("re-decode");
                assert_eq!(again, t);
            }
        }
        2 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = text.parse::<AdminFrom>();
                let _ = text.parse::<ScriptStatus>();
                let _ = http::parse_targeted_application(text);
                let _ = http::check_uri("fuzz", text);
            }
        }
        3 => {
            let (head, body) = match rest.iter().position(|b| *b == 0) {
                Some(p) => (&rest[..p], &rest[p + 1..]),
                None => (rest, &[][..]),
            };
            if let Ok(h) = HeaderFields::from_pairs(headers(head)) {
                let _ = CardRequest::parse("POST", "/admin", &h, Bytes::copy_from_slice(body));
            }
        }
        _ => {
            let (code, rest) = match rest {
                [a, b, tail @ ..] => (u16::from_be_bytes([*a, *b]), tail),
                _ => return,
            };
            if let Ok(h) = HeaderFields::from_pairs(headers(rest)) {
                let _ = ServerResponse::parse(code, &h, Bytes::new());
            }
        }
    }
});
