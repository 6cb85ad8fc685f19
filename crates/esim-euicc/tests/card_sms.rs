//! SMS-PP (SCP80) at the card: real command packets built by esim-crypto on the SM-SR side, the
//! PoR checked with the SM-SR's keys; every refusal of TS 102 225 (CC, counter, TAR, security
//! level) and that a refused packet neither executes nor moves the counter. Also the shared
//! SCP80 vectors replayed through the card's receiving entity.

mod card_support;

use card_support::*;
use esim_apdu::apdu::CommandApdu;
use esim_apdu::etsi102226::{CompactResponse, ResponseItem, encode_compact};
use esim_apdu::gp::get_data::GetData;
use esim_codec::Tar;
use esim_crypto::scp80::{CounterMode, Integrity, PorRequest, PorStatus, Spi, decode_por};
use esim_euicc::card::Action;
use esim_euicc::ota::{self, Scp80Keyset};

fn get_eid() -> CommandApdu {
    GetData::new(0x5A).to_command()
}

fn counter_of(card: &esim_euicc::Euicc) -> u64 {
    card.scp80_keysets()[0].counter
}

#[test]
fn expanded_script_executes_with_por() {
    let mut card = new_card();
    let (por, rs) = run_sms(
        &mut card,
        1,
        vec![get_eid(), CommandApdu::new(0x80, 0x99, 0, 0)],
    );
    assert_eq!(por.packet.status, PorStatus::Ok);
    assert_eq!(por.packet.tar, Tar::ISD_R);
    assert_eq!(por.packet.counter.value(), 1);
    assert_eq!(rs.executed(), Some(2));
    let r: Vec<_> = rs.responses().collect();
    assert_eq!(r[0].data[2..], fixture().issued.eid.to_bcd());
    assert_eq!(r[1].sw.to_u16(), 0x6D00);
    assert_eq!(counter_of(&card), 1);
}

#[test]
fn script_stops_at_first_error() {
    let mut card = new_card();
    let (_, rs) = run_sms(
        &mut card,
        5,
        vec![CommandApdu::new(0x80, 0x99, 0, 0), get_eid()],
    );
    assert_eq!(rs.executed(), Some(1));
}

#[test]
fn compact_script() {
    let mut card = new_card();
    let data = encode_compact(&[get_eid()]).unwrap();
    let out = card.sms_pp_download(&sms(Spi::SGP02_DEFAULT, Tar::ISD_R, 1, &data));
    let por = decode_por(&out.por.unwrap(), &Spi::SGP02_DEFAULT, &smsr_keyset()).unwrap();
    let c = CompactResponse::decode(&por.packet.data).unwrap();
    assert_eq!(c.executed, 1);
    assert_eq!(c.last.sw.to_u16(), 0x9000);
    assert_eq!(c.last.data[2..], fixture().issued.eid.to_bcd());
}

#[test]
fn bad_format_script() {
    let mut card = new_card();
    let out = card.sms_pp_download(&sms(
        Spi::SGP02_DEFAULT,
        Tar::ISD_R,
        1,
        &[0xAA, 0x03, 0x99, 0x01, 0x00],
    ));
    let por = decode_por(&out.por.unwrap(), &Spi::SGP02_DEFAULT, &smsr_keyset()).unwrap();
    let rs = esim_apdu::etsi102226::ResponseScript::decode(&por.packet.data).unwrap();
    assert!(
        rs.items
            .iter()
            .any(|i| matches!(i, ResponseItem::BadFormat(_)))
    );
}

#[test]
fn bad_cc_gets_por_01_or_nothing() {
    let mut card = new_card();
    let mut ud = sms(Spi::SGP02_DEFAULT, Tar::ISD_R, 1, &script(vec![get_eid()]));
    let n = ud.len();
    ud[n - 1] ^= 0x01;
    let out = card.sms_pp_download(&ud);
    assert_eq!(out.status, Some(PorStatus::RcCcDsFailed));
    let por = decode_por(&out.por.unwrap(), &Spi::SGP02_DEFAULT, &smsr_keyset()).unwrap();
    assert_eq!(por.packet.status, PorStatus::RcCcDsFailed);
    assert_eq!(por.packet.counter.value(), 1);
    assert_eq!(
        counter_of(&card),
        0,
        "a failing packet does not move the counter"
    );
    // SPI asking for no PoR: silence.
    let spi = Spi {
        por: PorRequest::None,
        ..Spi::SGP02_DEFAULT
    };
    let mut ud = sms(spi, Tar::ISD_R, 1, &script(vec![get_eid()]));
    let n = ud.len();
    ud[n - 1] ^= 0x01;
    let out = card.sms_pp_download(&ud);
    assert_eq!(out.status, Some(PorStatus::RcCcDsFailed));
    assert!(out.por.is_none());
    // PoR on error only: a PoR for the error, none for success.
    let spi = Spi {
        por: PorRequest::OnError,
        ..Spi::SGP02_DEFAULT
    };
    let mut ud = sms(spi, Tar::ISD_R, 1, &script(vec![get_eid()]));
    let n = ud.len();
    ud[n - 1] ^= 0x01;
    assert!(card.sms_pp_download(&ud).por.is_some());
    let ok = card.sms_pp_download(&sms(spi, Tar::ISD_R, 2, &script(vec![get_eid()])));
    assert_eq!(ok.status, Some(PorStatus::Ok));
    assert!(ok.por.is_none());
}

#[test]
fn replayed_and_low_counter_get_por_02() {
    let mut card = new_card();
    let ud = sms(Spi::SGP02_DEFAULT, Tar::ISD_R, 10, &script(vec![get_eid()]));
    assert_eq!(card.sms_pp_download(&ud).status, Some(PorStatus::Ok));
    let again = card.sms_pp_download(&ud);
    assert_eq!(again.status, Some(PorStatus::CounterLow));
    let por = decode_por(&again.por.unwrap(), &Spi::SGP02_DEFAULT, &smsr_keyset()).unwrap();
    assert_eq!(por.packet.status, PorStatus::CounterLow);
    let low = sms(Spi::SGP02_DEFAULT, Tar::ISD_R, 9, &script(vec![get_eid()]));
    assert_eq!(
        card.sms_pp_download(&low).status,
        Some(PorStatus::CounterLow)
    );
    assert_eq!(counter_of(&card), 10);
    // "Exactly one higher": 12 is too high, 11 fine.
    let spi = Spi {
        counter: CounterMode::MustBeOneHigher,
        ..Spi::SGP02_DEFAULT
    };
    let high = sms(spi, Tar::ISD_R, 12, &script(vec![get_eid()]));
    assert_eq!(
        card.sms_pp_download(&high).status,
        Some(PorStatus::CounterHigh)
    );
    let next = sms(spi, Tar::ISD_R, 11, &script(vec![get_eid()]));
    assert_eq!(card.sms_pp_download(&next).status, Some(PorStatus::Ok));
}

#[test]
fn unknown_tar_and_low_security_level() {
    let mut card = new_card();
    let out = card.sms_pp_download(&sms(
        Spi::SGP02_DEFAULT,
        Tar([0xB0, 0, 0]),
        1,
        &script(vec![get_eid()]),
    ));
    assert_eq!(out.status, Some(PorStatus::TarUnknown));
    let por = decode_por(&out.por.unwrap(), &Spi::SGP02_DEFAULT, &smsr_keyset()).unwrap();
    assert_eq!(por.packet.tar, Tar([0xB0, 0, 0]));
    // CC without ciphering is below the ISD-R's minimum security level.
    let spi = Spi {
        ciphering: false,
        ..Spi::SGP02_DEFAULT
    };
    let out = card.sms_pp_download(&sms(spi, Tar::ISD_R, 1, &script(vec![get_eid()])));
    assert_eq!(out.status, Some(PorStatus::InsufficientSecurityLevel));
    // No security at all.
    let spi = Spi {
        integrity: Integrity::None,
        ciphering: false,
        counter: CounterMode::None,
        ..Spi::SGP02_DEFAULT
    };
    let out = card.sms_pp_download(&sms(spi, Tar::ISD_R, 0, &script(vec![get_eid()])));
    assert_eq!(out.status, Some(PorStatus::InsufficientSecurityLevel));
    assert_eq!(counter_of(&card), 0);
}

#[test]
fn unknown_keyset_and_garbage_are_discarded() {
    let mut card = new_card();
    let k = &fixture().issued.scp80[0];
    let other = Scp80Keyset::new(5, k.kic.clone(), k.kid.clone(), k.dek.clone(), 0);
    let ud = sms_with(
        &other.default_keyset(),
        Spi::SGP02_DEFAULT,
        Tar::ISD_R,
        1,
        &script(vec![get_eid()]),
    );
    let out = card.sms_pp_download(&ud);
    assert_eq!((out.status, out.por), (None, None));
    for junk in [&[][..], &[0x02, 0x70, 0x00], &[0x02, 0x71, 0x00, 0, 1, 2]] {
        let out = card.sms_pp_download(junk);
        assert_eq!(out.status, None, "{:?}", out.detail);
    }
}

#[test]
fn admin_session_trigger() {
    let mut card = new_card();
    // 81 { 83 { 85 {len PSK-ID 02 KVN KID}, 89 {8C URI} } }
    let mut w = esim_codec::ber::Writer::new();
    w.constructed(0x81u8, |w| {
        w.constructed(0x83u8, |w| {
            w.put(0x85u8, &[0x04, 0x41, 0x42, 0x43, 0x44, 0x02, 0x40, 0x01]);
            w.constructed(0x89u8, |w| {
                w.put(0x8Cu8, b"/admin");
            });
        });
    });
    let trigger = w.into_bytes();
    let out = card.sms_pp_download(&sms(Spi::SGP02_DEFAULT, Tar::ISD_R, 1, &trigger));
    assert_eq!(out.status, Some(PorStatus::Ok));
    let Some(Action::OpenAdminSession(t)) = card.poll_action() else {
        panic!("no admin session")
    };
    assert_eq!(t.kvn, Some(0x40));
    assert_eq!(t.kid, Some(0x01));
    assert_eq!(t.psk_identity.as_deref(), Some(&b"ABCD"[..]));
    assert_eq!(t.admin_uri.as_deref(), Some("/admin"));
    assert_eq!(t.raw, trigger);
    // The minimal form 81 00.
    card.sms_pp_download(&sms(Spi::SGP02_DEFAULT, Tar::ISD_R, 2, &[0x81, 0x00]));
    assert!(matches!(
        card.poll_action(),
        Some(Action::OpenAdminSession(_))
    ));
}

#[test]
fn es5_enable_over_sms() {
    let mut card = new_card();
    let a = install_profile(&mut card, 1, "8949449999000000011", 0);
    let cmds = esim_apdu::gp::sgp02::Es5Command::EnableProfile {
        isdp_aid: a.clone(),
    }
    .to_commands(255)
    .unwrap();
    let (por, rs) = run_sms(&mut card, 1, cmds);
    assert_eq!(por.packet.status, PorStatus::Ok);
    assert_eq!(rs.responses().last().unwrap().sw.to_u16(), 0x9000);
    assert_eq!(card.registry().enabled().unwrap().aid, a);
    assert_eq!(card.poll_action(), Some(Action::Refresh));
}

/// The shared SCP80 command vectors, through the card's receiving entity with the vector's keys
/// as an ISD-R keyset: the opened data must be the vector's APDU, and the card's PoR must decode
/// with the same keys.
#[test]
fn scp80_vectors_through_the_receiving_entity() {
    let v = esim_vectors::json("scp80.json");
    let mut n = 0;
    for case in v["cases"].as_array().unwrap() {
        if case["kind"] != "command" {
            continue;
        }
        let kic = esim_vectors::hex_field(case, "kic");
        let kid = esim_vectors::hex_field(case, "kid");
        let idx = case["kic_idx"].as_u64().unwrap() as u8;
        let ud = esim_vectors::hex_field(case, "sms_user_data");
        let ks = Scp80Keyset::new(
            idx,
            esim_crypto::SecretKey::new(&kic),
            esim_crypto::SecretKey::new(&kid),
            esim_crypto::SecretKey::new(&[0; 16]),
            0,
        );
        let name = case["name"].as_str().unwrap_or("?");
        match ota::receive(std::slice::from_ref(&ks), &ud) {
            Ok(rx) => {
                assert_eq!(rx.data, esim_vectors::hex_field(case, "apdu"), "{name}");
                n += 1;
                if let Some(por) =
                    ota::por(&rx.header, &ks, rx.counter, PorStatus::Ok, vec![1, 0x90, 0])
                {
                    let d = decode_por(
                        &por,
                        &rx.header.spi,
                        &ks.keyset(rx.header.kic, rx.header.kid),
                    )
                    .unwrap();
                    assert_eq!(d.packet.counter, rx.counter, "{name}");
                }
            }
            Err(e) => panic!("{name}: {e:?}"),
        }
    }
    assert!(n >= 10, "only {n} command vectors");
}
