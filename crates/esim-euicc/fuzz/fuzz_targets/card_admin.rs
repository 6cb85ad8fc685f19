#![no_main]
//! SCP81 admin scripts to the ISD-R and to unknown applications never panic.
#[path = "card_common.rs"]
mod card_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut card = card_common::card();
    let _ = card.admin_script(None, data);
    let aid = esim_codec::Aid::isd_p(esim_codec::Tar([0, 0, 0x10]));
    let _ = card.admin_script(Some(&aid), data);
    card.registry().check_invariants().unwrap();
});
