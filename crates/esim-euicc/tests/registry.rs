//! ISD-R registry: the SGP.02 rules, one test per rule, and a property test that random operation
//! sequences never break the invariants.

use esim_codec::{Aid, Iccid, Tar};
use esim_euicc::policy::Pol1;
use esim_euicc::registry::{LifeCycle, NotificationType, Registry, RegistryError};
use proptest::prelude::*;

fn aid(n: u8) -> Aid {
    Aid::isd_p(Tar([0x00, 0x00, 0x10 + n]))
}

fn iccid(n: u8) -> Iccid {
    Iccid::parse(&format!("894400000000000{n:04}")).unwrap()
}

/// A registry with profile 0 (fall-back, enabled) and profile 1 (disabled), as after manufacture
/// and one download.
fn two_profiles(pol1_of_0: u8, pol1_of_1: u8) -> Registry {
    let mut r = Registry::new(100_000);
    for (n, pol) in [(0u8, pol1_of_0), (1, pol1_of_1)] {
        r.create_isdp(aid(n), 10_000).unwrap();
        r.personalize(&aid(n)).unwrap();
        r.install_complete(&aid(n), iccid(n), Pol1(pol)).unwrap();
    }
    r.set_fallback(&aid(0)).unwrap();
    r.enable(&aid(0)).unwrap();
    assert!(r.network_attach(true).is_some());
    r
}

#[test]
fn enable_then_confirm() {
    let mut r = two_profiles(0, 0);
    r.enable(&aid(1)).unwrap();
    assert_eq!(r.enabled().unwrap().aid, aid(1));
    let n = r.network_attach(true).unwrap();
    assert_eq!(n.kind, NotificationType::ProfileChangeSucceeded);
    assert_eq!(n.enabled, Some(aid(1)));
    assert_eq!(r.confirm_notification(n.seq).unwrap().deleted, vec![]);
    r.check_invariants().unwrap();
}

#[test]
fn pol1_disable_not_allowed_blocks_enable_of_other() {
    // Profile 0 is enabled and its POL1 forbids disabling it.
    let mut r2 = two_profiles(Pol1::DISABLE_NOT_ALLOWED, 0);
    let before = r2.clone();
    let e = r2.enable(&aid(1)).unwrap_err();
    assert_eq!(e.sw(), 0x69E1);
    assert_eq!(
        r2, before,
        "refused operation leaves the registry unchanged"
    );
}

#[test]
fn delete_rules() {
    let mut r = two_profiles(0, Pol1::DELETE_NOT_ALLOWED);
    assert_eq!(
        r.delete(&aid(0)).unwrap_err().sw(),
        0x6985,
        "enabled + fall-back"
    );
    assert_eq!(r.delete(&aid(1)).unwrap_err().sw(), 0x69E1, "POL1");
    assert_eq!(r.delete(&aid(9)).unwrap_err().sw(), 0x6A88, "unknown");
    r.master_delete(&aid(1)).unwrap();
    assert!(r.get(&aid(1)).is_none());
}

#[test]
fn disable_enables_fallback_and_pol1_auto_delete_on_confirmation() {
    let mut r = two_profiles(0, Pol1::DELETE_WHEN_DISABLED);
    r.enable(&aid(1)).unwrap();
    let n = r.network_attach(true).unwrap();
    r.confirm_notification(n.seq).unwrap();
    r.disable(&aid(1)).unwrap();
    assert_eq!(r.enabled().unwrap().aid, aid(0));
    let n = r.network_attach(true).unwrap();
    assert_eq!(r.confirm_notification(n.seq).unwrap().deleted, vec![aid(1)]);
    assert!(r.get(&aid(1)).is_none());
}

#[test]
fn failed_attach_rolls_back_then_falls_back() {
    let mut r = two_profiles(0, 0);
    r.create_isdp(aid(2), 1000).unwrap();
    r.personalize(&aid(2)).unwrap();
    r.install_complete(&aid(2), iccid(2), Pol1(0)).unwrap();
    r.enable(&aid(1)).unwrap();
    r.network_attach(true).unwrap();
    r.enable(&aid(2)).unwrap();
    assert!(r.network_attach(false).is_none(), "roll-back pending");
    assert_eq!(r.enabled().unwrap().aid, aid(1));
    let n = r.network_attach(true).unwrap();
    assert_eq!(n.kind, NotificationType::ProfileChangeFailedRolledBack);
    // A second failure chain: enable 2, attach fails, roll-back to 1 fails -> fall-back to 0.
    r.enable(&aid(2)).unwrap();
    r.network_attach(false);
    r.network_attach(false);
    assert_eq!(r.enabled().unwrap().aid, aid(0));
    let n = r.network_attach(true).unwrap();
    assert_eq!(n.kind, NotificationType::ProfileChangeAfterFallback);
    r.check_invariants().unwrap();
}

#[test]
fn fallback_ignores_pol1() {
    let mut r = two_profiles(0, Pol1::DISABLE_NOT_ALLOWED);
    r.enable(&aid(1)).unwrap();
    r.network_attach(true).unwrap();
    assert!(r.fallback());
    assert_eq!(r.enabled().unwrap().aid, aid(0));
    assert_eq!(
        r.network_attach(true).unwrap().kind,
        NotificationType::ProfileChangeAfterFallback
    );
}

#[test]
fn memory_and_aids() {
    let mut r = Registry::new(1000);
    assert_eq!(
        r.create_isdp(aid(0), 2000).unwrap_err(),
        RegistryError::NotEnoughMemory {
            needed: 2000,
            free: 1000
        }
    );
    assert_eq!(r.create_isdp(Aid::isd_r(), 10).unwrap_err().sw(), 0x6A80);
    r.create_isdp(aid(0), 600).unwrap();
    assert_eq!(r.create_isdp(aid(0), 1).unwrap_err().sw(), 0x6A80);
    assert_eq!(r.create_isdp(aid(1), 500).unwrap_err().sw(), 0x6A84);
    assert_eq!(r.use_memory(&aid(0), 601).unwrap_err().sw(), 0x6A84);
    r.use_memory(&aid(0), 600).unwrap();
    assert_eq!(r.get(&aid(0)).unwrap().state, LifeCycle::Selectable);
    r.delete(&aid(0)).unwrap();
    assert_eq!(r.free_memory(), 1000);
}

#[test]
fn registry_serializes() {
    let r = two_profiles(3, 4);
    let json = serde_json::to_string(&r).unwrap();
    let back: Registry = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
}

#[derive(Debug, Clone)]
enum Op {
    Create(u8, u32),
    Personalize(u8),
    Install(u8, u8),
    SetFallback(u8),
    Enable(u8),
    Disable(u8),
    Delete(u8),
    MasterDelete(u8),
    Fallback,
    Attach(bool),
    Confirm(usize),
    UseMemory(u8, u32),
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0u8..6;
    prop_oneof![
        (n.clone(), 0u32..40_000).prop_map(|(a, q)| Op::Create(a, q)),
        n.clone().prop_map(Op::Personalize),
        (n.clone(), 0u8..8).prop_map(|(a, p)| Op::Install(a, p)),
        n.clone().prop_map(Op::SetFallback),
        n.clone().prop_map(Op::Enable),
        n.clone().prop_map(Op::Disable),
        n.clone().prop_map(Op::Delete),
        n.clone().prop_map(Op::MasterDelete),
        Just(Op::Fallback),
        any::<bool>().prop_map(Op::Attach),
        (0usize..4).prop_map(Op::Confirm),
        (n, 0u32..20_000).prop_map(|(a, b)| Op::UseMemory(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn random_sequences_keep_invariants(ops in proptest::collection::vec(op(), 1..80)) {
        let mut r = Registry::new(100_000);
        let mut had_fallback = false;
        let mut max_seq = 0u16;
        for op in ops {
            let before = r.clone();
            let result: Result<(), RegistryError> = match op {
                Op::Create(a, q) => r.create_isdp(aid(a), q),
                Op::Personalize(a) => r.personalize(&aid(a)),
                Op::Install(a, p) => r.install_complete(&aid(a), iccid(a), Pol1(p)),
                Op::SetFallback(a) => r.set_fallback(&aid(a)),
                Op::Enable(a) => r.enable(&aid(a)),
                Op::Disable(a) => r.disable(&aid(a)),
                Op::Delete(a) => r.delete(&aid(a)),
                Op::MasterDelete(a) => r.master_delete(&aid(a)),
                Op::Fallback => { r.fallback(); Ok(()) }
                Op::Attach(ok) => {
                    if let Some(n) = r.network_attach(ok) {
                        prop_assert!(n.seq > max_seq, "sequence numbers increase");
                        max_seq = n.seq;
                    }
                    Ok(())
                }
                Op::Confirm(i) => match r.notifications().get(i).map(|n| n.seq) {
                    Some(seq) => r.confirm_notification(seq).map(|_| ()),
                    None => r.confirm_notification(9999).map(|_| ()),
                },
                Op::UseMemory(a, b) => r.use_memory(&aid(a), b),
            };
            if result.is_err() {
                prop_assert_eq!(&r, &before, "a refused operation changed the registry");
            }
            r.check_invariants().map_err(TestCaseError::fail)?;
            had_fallback |= r.fallback_holder().is_some();
            prop_assert!(!had_fallback || r.fallback_holder().is_some(), "fall-back holder vanished");
        }
    }
}
