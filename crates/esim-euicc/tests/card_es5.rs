//! ES5 at the APDU level: CreateISDP, ECKA key establishment (ISD-P and ISD-R), profile download,
//! enable / disable / delete with POL1, notifications and their confirmation, fall-back, audit,
//! master delete, SM-SR change — each with the negatives SGP.02 names.

mod card_support;

use card_support::*;
use esim_apdu::apdu::CommandApdu;
use esim_apdu::gp::delete::Delete;
use esim_apdu::gp::get_data::{CardResources, GetData};
use esim_apdu::gp::sgp02::{self, Es5Command, Notification, NotificationConfirmationResponse};
use esim_apdu::gp::status::{GetStatus, StatusSubset, parse_entries};
use esim_apdu::gp::store_data::{StoreDataP1, command};
use esim_codec::Aid;
use esim_crypto::ecka::KeyParams;
use esim_euicc::card::{Action, Euicc, TAG_SET_FALLBACK};
use esim_euicc::master_delete;
use esim_euicc::registry::LifeCycle;

fn es5(card: &mut Euicc, c: Es5Command) -> esim_apdu::ResponseApdu {
    let cmds = c.to_commands(255).unwrap();
    let mut last = None;
    for cmd in cmds {
        last = Some(apdu(card, &cmd));
    }
    last.unwrap()
}

fn enable(card: &mut Euicc, aid: &Aid) -> u16 {
    sw(&es5(
        card,
        Es5Command::EnableProfile {
            isdp_aid: aid.clone(),
        },
    ))
}

fn disable(card: &mut Euicc, aid: &Aid) -> u16 {
    sw(&es5(
        card,
        Es5Command::DisableProfile {
            isdp_aid: aid.clone(),
        },
    ))
}

fn set_fallback(card: &mut Euicc, aid: &Aid) -> u16 {
    let v = esim_codec::ber::tlv(0x4Fu8, aid.as_bytes());
    sw(&apdu(
        card,
        &command(
            StoreDataP1::sgp02_last(),
            0,
            sgp02::frame(TAG_SET_FALLBACK, &v),
        ),
    ))
}

fn drain(card: &mut Euicc) -> Vec<Action> {
    std::iter::from_fn(|| card.poll_action()).collect()
}

fn notification_of(actions: &[Action]) -> Notification {
    actions
        .iter()
        .find_map(|a| match a {
            Action::SendNotification { notification, .. } => {
                Some(Notification::decode(notification).unwrap())
            }
            _ => None,
        })
        .expect("a notification")
}

#[test]
fn select_get_data_and_channels() {
    let mut card = new_card();
    // Nothing selected on the basic channel.
    assert_eq!(
        sw(&apdu(&mut card, &GetData::new(0x5A).to_command())),
        0x6D00
    );
    // Open channel 1, select the ECASD there, read EID and certificate.
    let r = apdu(
        &mut card,
        &CommandApdu::new(0x00, 0x70, 0x00, 0x00).with_le(1),
    );
    assert_eq!((sw(&r), r.data.clone()), (0x9000, vec![1]));
    let sel = CommandApdu::new(0x01, 0xA4, 0x04, 0x00)
        .with_data(Aid::ecasd().as_bytes().to_vec())
        .with_le(256);
    assert_eq!(sw(&apdu(&mut card, &sel)), 0x9000);
    let mut gd = GetData::new(0x5A).to_command();
    gd.cla = 0x81;
    let r = apdu(&mut card, &gd);
    assert_eq!(sw(&r), 0x9000);
    assert_eq!(r.data[..2], [0x5A, 0x10]);
    assert_eq!(r.data[2..], fixture().issued.eid.to_bcd());
    let mut gd = GetData::new(0x7F21).to_command();
    gd.cla = 0x81;
    assert_eq!(
        apdu(&mut card, &gd).data,
        fixture().issued.ecasd_cert.encode()
    );
    // Unknown AID, closed channel.
    let sel = CommandApdu::new(0x00, 0xA4, 0x04, 0x00).with_data(vec![0xA0, 0, 0, 0, 1]);
    assert_eq!(sw(&apdu(&mut card, &sel)), 0x6A82);
    assert_eq!(
        sw(&apdu(&mut card, &CommandApdu::new(0x00, 0x70, 0x80, 0x01))),
        0x9000
    );
    assert_eq!(sw(&apdu(&mut card, &gd)), 0x6881);
    // Garbage.
    assert_eq!(card.process_apdu(&[0x80]), [0x67, 0x00]);
}

#[test]
fn create_isdp_rules_and_memory() {
    let mut card = new_card();
    select_isd_r(&mut card);
    let a = isdp_aid(1);
    let r = apdu(&mut card, &create_isdp(&a, Some(30_000)));
    assert_eq!((sw(&r), r.data), (0x9000, vec![0x00]));
    assert_eq!(
        card.registry().get(&a).unwrap().state,
        LifeCycle::Selectable
    );
    // Same AID again, AID outside the ISD-P range, memory full.
    assert_eq!(sw(&apdu(&mut card, &create_isdp(&a, None))), 0x6A80);
    assert_eq!(
        sw(&apdu(&mut card, &create_isdp(&Aid::isd_r(), None))),
        0x6A80
    );
    assert_eq!(
        sw(&apdu(
            &mut card,
            &create_isdp(&isdp_aid(2), Some(1_000_000))
        )),
        0x6A84
    );
    // GET DATA FF21 shows what is left.
    let r = apdu(&mut card, &GetData::new(0xFF21).to_command());
    let res = CardResources::decode(&r.data).unwrap();
    assert_eq!(res.free_non_volatile, 170_000);
    assert_eq!(res.installed_applications, 1);
    // Delete it again: allowed while not enabled.
    let r = apdu(&mut card, &Delete::new(a.clone(), true).to_command());
    assert_eq!((sw(&r), r.data), (0x9000, vec![0x00]));
    assert!(card.registry().get(&a).is_none());
    assert_eq!(
        sw(&apdu(&mut card, &Delete::new(a, true).to_command())),
        0x6A88
    );
}

#[test]
fn key_establishment_negatives() {
    let f = fixture();
    let mut card = new_card();
    select_isd_r(&mut card);
    let a = isdp_aid(1);
    apdu(&mut card, &create_isdp(&a, None));
    // A certificate from another CI.
    let other = (&f.other_pki.smdp.key, &f.other_pki.smdp.cert);
    let e = key_establishment(
        &mut card,
        Some(&a),
        other,
        KeyParams::isd_p_scp03(0x30),
        false,
    );
    assert_eq!(e.unwrap_err(), 0x6982);
    // An SM-SR certificate where an SM-DP one is required.
    let smsr = (&f.pki.smsr.key, &f.pki.smsr.cert);
    let e = key_establishment(
        &mut card,
        Some(&a),
        smsr,
        KeyParams::isd_p_scp03(0x30),
        false,
    );
    assert_eq!(e.unwrap_err(), 0x6982);
    // A wrong signature on message 2.
    let smdp = (&f.pki.smdp.key, &f.pki.smdp.cert);
    let e = key_establishment(
        &mut card,
        Some(&a),
        smdp,
        KeyParams::isd_p_scp03(0x30),
        true,
    );
    assert_eq!(e.unwrap_err(), 0x6982);
    assert_eq!(
        card.registry().get(&a).unwrap().state,
        LifeCycle::Selectable
    );
    // Message 2 without message 1.
    let m2 = sgp02::frame(0x3A02, &[0xA6, 0x00]);
    assert_eq!(
        sw(&apdu(
            &mut card,
            &command(StoreDataP1::sgp02_last_with_response(), 0, m2)
        )),
        0x6985
    );
    // INSTALL [for personalization] of an unknown ISD-P.
    let e = key_establishment(
        &mut card,
        Some(&isdp_aid(9)),
        smdp,
        KeyParams::isd_p_scp03(0x30),
        false,
    );
    assert_eq!(e.unwrap_err(), 0x6A88);
    // Now the real thing; then a second establishment is refused (already personalized).
    key_establishment(
        &mut card,
        Some(&a),
        smdp,
        KeyParams::isd_p_scp03(0x30),
        false,
    )
    .unwrap();
    assert_eq!(
        card.registry().get(&a).unwrap().state,
        LifeCycle::Personalized
    );
    let e = key_establishment(
        &mut card,
        Some(&a),
        smdp,
        KeyParams::isd_p_scp03(0x30),
        false,
    );
    assert_eq!(e.unwrap_err(), 0x6985);
}

#[test]
fn download_enable_notify_confirm_disable_delete() {
    let mut card = new_card();
    let a = install_profile(&mut card, 1, "8949449999000000011", 0);
    let b = install_profile(&mut card, 2, "8949449999000000029", 0);
    assert_eq!(card.registry().get(&a).unwrap().state, LifeCycle::Disabled);
    assert!(card.registry().get(&a).unwrap().used > 0);
    // The same ICCID twice is refused: the ISD-P stays PERSONALIZED, nothing installed.
    let c = install_profile(&mut card, 3, "8949449999000000011", 0);
    assert_eq!(
        card.registry().get(&c).unwrap().state,
        LifeCycle::Personalized
    );
    assert_eq!(card.registry().get(&c).unwrap().used, 0);
    // First attach: eUICC declaration.
    card.network_attach(true);
    assert_eq!(notification_of(&drain(&mut card)).kind.to_byte(), 0x01);
    // Enable A: REFRESH, attach, notification 02 naming A.
    assert_eq!(enable(&mut card, &a), 0x9000);
    assert_eq!(drain(&mut card), vec![Action::Refresh]);
    assert_eq!(enable(&mut card, &b), 0x6985, "switch pending");
    card.network_attach(true);
    let actions = drain(&mut card);
    let n = notification_of(&actions);
    assert_eq!(n.kind.to_byte(), 0x02);
    assert_eq!(n.isdp_aid.as_ref(), Some(&a));
    assert_eq!(n.eid, fixture().issued.eid);
    // The SMS form is an SCP80 packet under the ISD-R keys, counter 0, SPI "no counter".
    let Action::SendNotification {
        sms_user_data: Some(ud),
        notification,
        ..
    } = actions
        .iter()
        .find(|a| matches!(a, Action::SendNotification { .. }))
        .unwrap()
    else {
        panic!("no SMS form")
    };
    let packet = esim_crypto::scp80::udh::strip_command_udh(ud).unwrap();
    let opened = esim_crypto::scp80::parse_command(packet)
        .unwrap()
        .open(&smsr_keyset())
        .unwrap();
    assert_eq!(&opened.data, notification);
    assert_eq!(opened.counter.value(), 0);
    assert_eq!(
        opened.header.spi.counter,
        esim_crypto::scp80::CounterMode::None
    );
    // Delete of the enabled profile: 6985.
    assert_eq!(
        sw(&apdu(&mut card, &Delete::new(a.clone(), true).to_command())),
        0x6985
    );
    // Confirm: response 80 00.
    let r = es5(
        &mut card,
        Es5Command::NotificationConfirmation {
            sequence: n.sequence,
        },
    );
    assert_eq!(sw(&r), 0x9000);
    assert!(
        NotificationConfirmationResponse::decode(&r.data)
            .unwrap()
            .deleted
            .is_empty()
    );
    let r = es5(
        &mut card,
        Es5Command::NotificationConfirmation {
            sequence: n.sequence,
        },
    );
    assert_eq!(sw(&r), 0x6A88);
    // Disable A without a fall-back profile: nothing enabled afterwards.
    assert_eq!(disable(&mut card, &a), 0x9000);
    card.network_attach(true);
    assert!(card.registry().enabled().is_none());
    // Audit: GET STATUS lists the three ISD-Ps with life cycle and memory.
    let r = apdu(
        &mut card,
        &GetStatus::all(StatusSubset::Applications).to_command(),
    );
    let entries = parse_entries(&r.data).unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].life_cycle, 0x1F);
    assert_eq!(entries[2].life_cycle, 0x0F);
    assert_eq!(entries[0].granted_memory, Some(30_000));
    // Delete the disabled one.
    assert_eq!(
        sw(&apdu(&mut card, &Delete::new(a.clone(), true).to_command())),
        0x9000
    );
    card.registry().check_invariants().unwrap();
}

#[test]
fn pol1_fallback_and_auto_delete() {
    let mut card = new_card();
    // A: fall-back profile; B: disabling not allowed; C: deletion mandatory when disabled;
    // D: deletion not allowed.
    let a = install_profile(&mut card, 1, "8949449999000000011", 0);
    let b = install_profile(&mut card, 2, "8949449999000000029", 0x01);
    let c = install_profile(&mut card, 3, "8949449999000000037", 0x04);
    let d = install_profile(&mut card, 4, "8949449999000000045", 0x02);
    assert_eq!(set_fallback(&mut card, &isdp_aid(9)), 0x6A88);
    assert_eq!(set_fallback(&mut card, &a), 0x9000);
    let r = apdu(
        &mut card,
        &GetStatus::for_aid(StatusSubset::Applications, &a).to_command(),
    );
    assert!(parse_entries(&r.data).unwrap()[0].is_fallback());
    // POL1 "deletion not allowed".
    assert_eq!(
        sw(&apdu(&mut card, &Delete::new(d.clone(), true).to_command())),
        0x69E1
    );
    // Fall-back holder cannot be deleted.
    assert_eq!(
        sw(&apdu(&mut card, &Delete::new(a.clone(), true).to_command())),
        0x6985
    );
    // Enable B; then enabling C is blocked by B's POL1 "disabling not allowed".
    assert_eq!(enable(&mut card, &b), 0x9000);
    card.network_attach(true);
    assert_eq!(enable(&mut card, &c), 0x69E1);
    assert_eq!(disable(&mut card, &b), 0x69E1);
    // Loss of connectivity: fall-back ignores POL1.
    drain(&mut card);
    card.connectivity_lost();
    assert_eq!(drain(&mut card), vec![Action::Refresh]);
    assert_eq!(card.registry().enabled().unwrap().aid, a);
    card.network_attach(true);
    assert_eq!(notification_of(&drain(&mut card)).kind.to_byte(), 0x05);
    card.resend_notifications();
    let pending = card.registry().notifications().to_vec();
    let n = notification_of(&drain(&mut card));
    assert_eq!(n.sequence, pending[0].seq);
    for p in pending {
        es5(
            &mut card,
            Es5Command::NotificationConfirmation { sequence: p.seq },
        );
    }
    // Enable C, then disable it: the confirmation deletes it (POL1 "delete when disabled").
    assert_eq!(enable(&mut card, &c), 0x9000);
    card.network_attach(true);
    let n = notification_of(&drain(&mut card));
    es5(
        &mut card,
        Es5Command::NotificationConfirmation {
            sequence: n.sequence,
        },
    );
    assert_eq!(disable(&mut card, &c), 0x9000);
    card.network_attach(true);
    let n = notification_of(&drain(&mut card));
    let r = es5(
        &mut card,
        Es5Command::NotificationConfirmation {
            sequence: n.sequence,
        },
    );
    assert_eq!(
        NotificationConfirmationResponse::decode(&r.data)
            .unwrap()
            .deleted,
        vec![c.clone()]
    );
    assert!(card.registry().get(&c).is_none());
    assert!(card.profiles().iter().all(|p| p.aid != c));
    card.registry().check_invariants().unwrap();
}

#[test]
fn failed_attach_rolls_back() {
    let mut card = new_card();
    let a = install_profile(&mut card, 1, "8949449999000000011", 0);
    let b = install_profile(&mut card, 2, "8949449999000000029", 0);
    enable(&mut card, &a);
    card.network_attach(true);
    drain(&mut card);
    enable(&mut card, &b);
    card.network_attach(false);
    assert_eq!(drain(&mut card), vec![Action::Refresh, Action::Refresh]);
    assert_eq!(card.registry().enabled().unwrap().aid, a);
    card.network_attach(true);
    assert_eq!(notification_of(&drain(&mut card)).kind.to_byte(), 0x03);
}

#[test]
fn master_delete_with_token() {
    let f = fixture();
    let mut card = new_card();
    select_isd_r(&mut card);
    let a = isdp_aid(1);
    apdu(&mut card, &create_isdp(&a, Some(30_000)));
    let keys = key_establishment(
        &mut card,
        Some(&a),
        (&f.pki.smdp.key, &f.pki.smdp.cert),
        KeyParams::isd_p_scp03(0x30),
        false,
    )
    .unwrap();
    download(
        &mut card,
        &a,
        scp03(&keys),
        &package_with("8949449999000000011", 0x02),
    );
    assert_eq!(
        sw(&apdu(&mut card, &Delete::new(a.clone(), true).to_command())),
        0x69E1
    );
    let mac = keys.scp03().unwrap().mac;
    let crt = vec![0x42, 0x02, 0x44, 0x50];
    let mut d = Delete::new(a.clone(), true);
    d.token_crt = Some(crt.clone());
    // A token under the wrong key.
    d.token = Some(
        master_delete::compute_token(&esim_crypto::SecretKey::new(&[7; 16]), 0, 0x80, &a, &crt)
            .unwrap()
            .to_vec(),
    );
    assert_eq!(sw(&apdu(&mut card, &d.to_command())), 0x6982);
    d.token = Some(
        master_delete::compute_token(&mac, 0, 0x80, &a, &crt)
            .unwrap()
            .to_vec(),
    );
    assert_eq!(sw(&apdu(&mut card, &d.to_command())), 0x9000);
    assert!(card.registry().get(&a).is_none());
}

#[test]
fn smsr_change_new_keysets_and_old_deleted() {
    let f = fixture();
    let mut card = new_card();
    select_isd_r(&mut card);
    let sr = (&f.pki.smsr.key, &f.pki.smsr.cert);
    // An SM-DP certificate is refused for ISD-R keys.
    let dp = (&f.pki.smdp.key, &f.pki.smdp.cert);
    assert_eq!(
        key_establishment(&mut card, None, dp, KeyParams::isd_r_scp80(0x02), false).unwrap_err(),
        0x6982
    );
    let k80 = key_establishment(&mut card, None, sr, KeyParams::isd_r_scp80(0x02), false).unwrap();
    let k81 =
        key_establishment(&mut card, None, sr, KeyParams::isd_r_scp81_psk(0x41), false).unwrap();
    assert_eq!(card.scp80_kvns(), vec![0x01, 0x02]);
    let (identity, psk) = card.scp81_psk(0x41).unwrap();
    assert_eq!(psk, &k81.psk().unwrap());
    assert_eq!(
        identity,
        esim_crypto::pki::scp81_psk_identity(&f.issued.eid, 0x41, 0x01).as_slice()
    );
    // The new SM-SR deletes the old keysets: D2 KVN.
    let del = |kvn: u8| CommandApdu::new(0x80, 0xE4, 0x00, 0x00).with_data(vec![0xD2, 0x01, kvn]);
    assert_eq!(sw(&apdu(&mut card, &del(0x01))), 0x9000);
    assert_eq!(sw(&apdu(&mut card, &del(0x40))), 0x9000);
    assert_eq!(sw(&apdu(&mut card, &del(0x40))), 0x6A88);
    assert_eq!(
        sw(&apdu(&mut card, &del(0x02))),
        0x6985,
        "last SCP80 keyset"
    );
    assert_eq!(card.scp80_kvns(), vec![0x02]);
    assert!(card.scp81_psk(0x40).is_none());
    // The new keyset opens packets; counter starts at its initial value.
    let k = k80.scp80().unwrap();
    let ks = esim_crypto::scp80::Keyset::new(
        esim_crypto::scp80::Kic(0x22),
        k.kic,
        esim_crypto::scp80::Kid(0x22),
        k.kid,
    );
    let ud = sms_with(
        &ks,
        esim_crypto::scp80::Spi::SGP02_DEFAULT,
        esim_codec::Tar::ISD_R,
        1,
        &script(vec![GetData::new(0x5A).to_command()]),
    );
    let out = card.sms_pp_download(&ud);
    assert_eq!(
        out.status,
        Some(esim_crypto::scp80::PorStatus::Ok),
        "{}",
        out.detail
    );
}

#[test]
fn bootstrap_profile_from_the_factory() {
    let f = fixture();
    let keys = esim_crypto::scp03::StaticKeys::new(
        0x30,
        esim_crypto::SecretKey::new(&[1; 16]),
        esim_crypto::SecretKey::new(&[2; 16]),
        esim_crypto::SecretKey::new(&[3; 16]),
    )
    .unwrap();
    let mut card =
        Euicc::with_bootstrap_profile(&f.issued, config(), &package("TS48V1-A-UNIQUE.der"), keys)
            .unwrap();
    let boot = card.registry().enabled().unwrap().clone();
    assert!(boot.fallback);
    assert!(card.registry().notifications().is_empty());
    assert!(card.poll_action().is_none());
    card.network_attach(true);
    let n = notification_of(&drain(&mut card));
    assert_eq!(n.kind.to_byte(), 0x01);
    assert_eq!(n.isdp_aid, Some(boot.aid.clone()));
    // The bootstrap ISD-P's profile is really installed in the ISD-P.
    assert!(card.profiles()[0].isdp.installed_profile().is_some());
    select_isd_r(&mut card);
    assert_eq!(disable(&mut card, &boot.aid), 0x6985, "fall-back profile");
}

#[test]
fn interrupted_download_leaves_nothing_installed() {
    let f = fixture();
    let mut card = new_card();
    select_isd_r(&mut card);
    let a = isdp_aid(1);
    apdu(&mut card, &create_isdp(&a, Some(30_000)));
    let keys = key_establishment(
        &mut card,
        Some(&a),
        (&f.pki.smdp.key, &f.pki.smdp.cert),
        KeyParams::isd_p_scp03(0x30),
        false,
    )
    .unwrap();
    let (host, c84) =
        esim_crypto::scp03t::Scp03tHostAwaitingInitUpdateResponse::start_random(scp03(&keys), 0)
            .unwrap();
    let r84 = card.admin_script(Some(&a), &c84);
    let (mut host, c85) = host.handle(&r84.response).unwrap();
    card.admin_script(Some(&a), &c85);
    let segs = host
        .wrap_profile(&package_with("8949449999000000011", 0))
        .unwrap();
    assert!(segs.len() > 1);
    card.admin_script(Some(&a), &segs[0]);
    // The session breaks off here; the card is reset.
    assert!(card.profiles()[0].isdp.download_in_progress());
    card.reset();
    let p = card.registry().get(&a).unwrap();
    assert_eq!(
        (p.state, p.used, p.iccid.clone()),
        (LifeCycle::Personalized, 0, None)
    );
    assert!(card.profiles()[0].isdp.installed_profile().is_none());
    assert!(!card.profiles()[0].isdp.download_in_progress());
    // Enabling it is refused; the SM-DP's clean-up deletes it.
    select_isd_r(&mut card);
    assert_eq!(enable(&mut card, &a), 0x6985);
    assert_eq!(
        sw(&apdu(&mut card, &Delete::new(a.clone(), true).to_command())),
        0x9000
    );
    assert!(card.profiles().is_empty());
}
