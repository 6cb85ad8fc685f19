#![no_main]
//! SMS-PP download: arbitrary user data never panics and is never accepted without keys.
#[path = "card_common.rs"]
mod card_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut card = card_common::card();
    let out = card.sms_pp_download(data);
    assert!(out.status.is_none() || out.status != Some(esim_crypto::scp80::PorStatus::Ok));
});
