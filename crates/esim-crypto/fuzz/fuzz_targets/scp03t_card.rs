#![no_main]
//! Fuzzes the SCP03t card (ISD-P side): the input is cut into chunks at boundaries taken from its
//! first byte and fed to a card, first from the idle state and then after a real `84`/`85`
//! handshake, so that forged `86`/`87` commands reach the MAC checks. Also the SCP03 APDU card
//! and the INITIALIZE UPDATE parsers. Nothing may panic.
use esim_crypto::SecretKey;
use esim_crypto::scp03::{CardIdle, InitUpdateCommand, InitUpdateResponse, StaticKeys};
use esim_crypto::scp03t::{Scp03tCard, Scp03tEvent, Scp03tHostAwaitingInitUpdateResponse};

fn keys() -> StaticKeys {
    StaticKeys::from_base_key(0x03, SecretKey::new(&[0x11; 16])).expect("keyset")
}

fn feed_chunks(card: &mut Scp03tCard, data: &[u8]) {
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    for chunk in data.chunks(step) {
        if card.feed(chunk).is_err() {
            break;
        }
    }
    let _ = card.take_events();
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let aid = [0xA0, 0x00, 0x00, 0x05, 0x59, 0x10];
    let mut idle_card = Scp03tCard::new(CardIdle::new(keys(), &aid, [0; 10], 0));
    feed_chunks(&mut idle_card, data);

    let mut card = Scp03tCard::new(CardIdle::new(keys(), &aid, [0; 10], 0));
    let (host, c84) = Scp03tHostAwaitingInitUpdateResponse::start(keys(), 1, [2; 8]);
    if card.feed(&c84).is_ok() {
        let mut r = Vec::new();
        for ev in card.take_events() {
            if let Scp03tEvent::Response(b) = ev {
                r.extend(b);
            }
        }
        if let Ok((_, c85)) = host.handle(&r) {
            if card.feed(&c85).is_ok() {
                let _ = card.take_events();
                feed_chunks(&mut card, data);
            }
        }
    }

    let mut apdu_card = CardIdle::new(keys(), &aid, [0; 10], 0);
    if let Ok((auth, _)) = apdu_card.handle(data) {
        let _ = auth.handle(data);
    }
    let _ = InitUpdateCommand::parse(data);
    let _ = InitUpdateResponse::parse(data);
});
