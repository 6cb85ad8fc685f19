//! Property tests of the whole card: random ES5 operation sequences at the APDU level keep the
//! registry invariants; arbitrary bytes on every entry point never panic and, when refused,
//! leave the persistent state unchanged; the state survives a serde round trip.

mod card_support;

use card_support::*;
use esim_apdu::gp::delete::Delete;
use esim_apdu::gp::sgp02::{self, Es5Command};
use esim_apdu::gp::store_data::{StoreDataP1, command};
use esim_euicc::Euicc;
use esim_euicc::card::{Action, TAG_SET_FALLBACK};
use proptest::prelude::*;

fn state_json(card: &Euicc) -> String {
    serde_json::to_string(card.state()).unwrap()
}

/// A card with two installed profiles (the expensive part, done once and restored from JSON).
fn base_state() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let mut card = new_card();
        install_profile(&mut card, 0, "8949449999000000011", 0);
        install_profile(&mut card, 1, "8949449999000000029", 0x04);
        select_isd_r(&mut card);
        state_json(&card)
    })
}

fn base_card() -> Euicc {
    let mut card = Euicc::from_state(serde_json::from_str(base_state()).unwrap());
    select_isd_r(&mut card);
    card
}

#[derive(Debug, Clone)]
enum Op {
    Create(u8, u16),
    Enable(u8),
    Disable(u8),
    Delete(u8),
    Fallback(u8),
    Confirm(u16),
    Attach(bool),
    Lost,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4, any::<u16>()).prop_map(|(n, q)| Op::Create(n, q)),
        (0u8..4).prop_map(Op::Enable),
        (0u8..4).prop_map(Op::Disable),
        (0u8..4).prop_map(Op::Delete),
        (0u8..4).prop_map(Op::Fallback),
        (0u16..8).prop_map(Op::Confirm),
        any::<bool>().prop_map(Op::Attach),
        Just(Op::Lost),
    ]
}

fn run_op(card: &mut Euicc, op: &Op) -> Option<u16> {
    let es5 = |card: &mut Euicc, c: Es5Command| {
        let mut last = 0;
        for cmd in c.to_commands(255).unwrap() {
            last = sw(&apdu(card, &cmd));
        }
        last
    };
    Some(match op {
        Op::Create(n, q) => sw(&apdu(
            card,
            &create_isdp(&isdp_aid(*n), Some(u32::from(*q) * 4)),
        )),
        Op::Enable(n) => es5(
            card,
            Es5Command::EnableProfile {
                isdp_aid: isdp_aid(*n),
            },
        ),
        Op::Disable(n) => es5(
            card,
            Es5Command::DisableProfile {
                isdp_aid: isdp_aid(*n),
            },
        ),
        Op::Delete(n) => sw(&apdu(card, &Delete::new(isdp_aid(*n), true).to_command())),
        Op::Fallback(n) => {
            let v = esim_codec::ber::tlv(0x4Fu8, isdp_aid(*n).as_bytes());
            sw(&apdu(
                card,
                &command(
                    StoreDataP1::sgp02_last(),
                    0,
                    sgp02::frame(TAG_SET_FALLBACK, &v),
                ),
            ))
        }
        Op::Confirm(s) => es5(card, Es5Command::NotificationConfirmation { sequence: *s }),
        Op::Attach(ok) => {
            card.network_attach(*ok);
            return None;
        }
        Op::Lost => {
            card.connectivity_lost();
            return None;
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn es5_sequences_keep_invariants(ops in proptest::collection::vec(op(), 1..25)) {
        let mut card = base_card();
        for o in &ops {
            let before = state_json(&card);
            if let Some(code) = run_op(&mut card, o) {
                if code != 0x9000 {
                    prop_assert_eq!(&before, &state_json(&card), "{:?} refused with {:04X} changed state", o, code);
                }
            }
            card.registry().check_invariants().map_err(TestCaseError::fail)?;
            // Registry and ISD-P objects agree.
            let reg: Vec<_> = card.registry().isdps().iter().map(|p| p.aid.clone()).collect();
            let objs: Vec<_> = card.profiles().iter().map(|p| p.aid.clone()).collect();
            prop_assert_eq!(reg, objs);
        }
        // Drain actions: only the kinds the device knows.
        while let Some(a) = card.poll_action() {
            let known = matches!(a, Action::Refresh | Action::SendNotification { .. });
            prop_assert!(known, "unexpected action {:?}", a);
        }
        // Serde round trip of whatever state we reached.
        let json = state_json(&card);
        let back = Euicc::from_state(serde_json::from_str(&json).unwrap());
        prop_assert_eq!(json, state_json(&back));
    }

    #[test]
    fn arbitrary_apdus_never_panic(apdus in proptest::collection::vec(
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..80)).prop_map(|(p1, d)| {
                let mut v = vec![0x80, 0xE2, p1 & 0x89, 0x00, d.len() as u8];
                v.extend(d);
                v
            }),
            (proptest::sample::select(vec![0xE6u8, 0xE4, 0xF2, 0xCA, 0xA4, 0x70]), proptest::collection::vec(any::<u8>(), 0..60))
                .prop_map(|(ins, d)| {
                    let mut v = vec![0x80, ins, 0x00, 0x80, d.len() as u8];
                    v.extend(d);
                    v
                }),
        ], 1..12)) {
        let mut card = base_card();
        for a in &apdus {
            let before = state_json(&card);
            let r = card.process_apdu(a);
            prop_assert!(r.len() >= 2);
            let sw = u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]]);
            if sw != 0x9000 {
                prop_assert_eq!(&before, &state_json(&card), "{:02X?} → {:04X}", a, sw);
            }
            card.registry().check_invariants().map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn arbitrary_sms_and_scripts_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400), secured in any::<bool>()) {
        let mut card = base_card();
        let before = state_json(&card);
        let out = card.sms_pp_download(&data);
        prop_assert_eq!(out.status, None, "random bytes accepted: {}", out.detail);
        prop_assert_eq!(&before, &state_json(&card));
        // A correctly secured packet with an arbitrary body: never panics.
        if secured {
            let out = card.sms_pp_download(&sms(esim_crypto::scp80::Spi::SGP02_DEFAULT, esim_codec::Tar::ISD_R, 1, &data));
            prop_assert!(out.status.is_some());
        }
        let r = card.admin_script(None, &data);
        prop_assert!(!r.response.is_empty());
        let _ = card.admin_script(Some(&isdp_aid(0)), &data);
        let _ = card.admin_script(Some(&isdp_aid(9)), &data);
        card.registry().check_invariants().map_err(TestCaseError::fail)?;
    }
}
