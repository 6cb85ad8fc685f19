#![no_main]
//! Concatenated-SMS reassembler fed with arbitrary segments: no panic, limits always hold.
use esim_apdu::sms::{Address, Alphabet, Reassembler, ReassemblyLimits, UserData};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = ReassemblyLimits {
        max_pending: 4,
        max_bytes: 1024,
    };
    let mut r = Reassembler::new(limits);
    let senders: Vec<Address> = ["1", "22", "333"]
        .iter()
        .map(|d| Address::digits(1, 1, d).unwrap())
        .collect();
    // Each record: sender selector, UDL, then UDL bytes of 8-bit user data with a header.
    let mut rest = data;
    while let [sel, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (ud, next) = tail.split_at(n);
        rest = next;
        let Ok(ud) = UserData::decode(n as u8, ud, true, Alphabet::EightBit, 0) else {
            continue;
        };
        let sender = &senders[usize::from(*sel) % senders.len()];
        if let Ok(p) = r.push(sender, &ud)
            && let Some(c) = p.complete
        {
            assert!(c.data.len() <= 255 * 140);
        }
        assert!(r.buffered_bytes() <= limits.max_bytes);
        assert!(r.pending() <= limits.max_pending);
    }
});
