//! End-to-end (issue 4): register 10 eUICCs, then download, install and enable a Profile on
//! each through ES2 at the SM-DP, with real processes (SMSC simulator, SM-SR, SM-DP, device
//! agent) on loopback; the SM-SR's EIS (ES4.GetEIS) must show the new Profile Enabled and equal
//! the cards.

mod e2e;

use e2e::{Backend, Lab};
use std::time::Duration;

fn download_enable_ten(tag: &str, backend: Backend) {
    let mut lab = Lab::new(tag, 10, 10, backend);
    let eids = lab.eids.clone();
    let iccids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = eids
            .iter()
            .map(|eid| {
                let lab = &lab;
                s.spawn(move || lab.download(eid, true))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("download thread"))
            .collect()
    });
    let mut distinct = iccids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        10,
        "one distinct Profile per eUICC: {iccids:?}"
    );
    for (eid, iccid) in eids.iter().zip(&iccids) {
        let (o, seen) = lab.eis_as("mno-b", eid);
        let seen = seen.unwrap_or_else(|| panic!("GetEIS as mno-b on {eid}:\n{o}\n{}", lab.logs()));
        assert!(
            seen.values()
                .any(|p| &p.iccid == iccid && p.state == "enabled"),
            "EIS of {eid} does not show {iccid} Enabled: {seen:?}\n{}",
            lab.logs()
        );
        let (eis, card) = lab.wait_eis_equals_card(eid, Duration::from_secs(60));
        assert_eq!(eis, card, "EIS vs card of {eid}\n{}", lab.logs());
        let enabled: Vec<_> = card.values().filter(|p| p.state == "enabled").collect();
        assert_eq!(enabled.len(), 1, "card {eid}: {card:?}");
        assert_eq!(&enabled[0].iccid, iccid, "card {eid}: {card:?}");
    }
    // The cards themselves, over the contact interface (GET STATUS), agree with the EIS.
    lab.stop_device();
    for eid in &eids {
        let eis = lab.eis(eid);
        assert_eq!(
            lab.card_via_get_status(eid),
            e2e::states(&eis),
            "GET STATUS of {eid} vs EIS {eis:?}"
        );
    }
}

#[test]
fn e2e_download_enable_ten_sqlite() {
    download_enable_ten("dl-sqlite", Backend::Sqlite);
}

#[test]
fn e2e_download_enable_ten_postgres() {
    let Some(url) = e2e::pg_url_or_skip("e2e_download_enable_ten_postgres") else {
        return;
    };
    download_enable_ten("dl-pg", Backend::Pg(url));
}

/// The manual session of the README: `esim serve` (one process), the stores moved by
/// `ESIM__STORE__SMSR` / `ESIM__STORE__SMDP` environment overrides (every command sees them).
#[test]
fn e2e_download_enable_serve_env_override() {
    let options = e2e::LabOptions {
        serve: true,
        env: vec![
            ("ESIM__STORE__SMSR".into(), "sqlite:env-smsr.db".into()),
            ("ESIM__STORE__SMDP".into(), "sqlite:env-smdp.db".into()),
        ],
    };
    let lab = Lab::with("serve", 2, 2, Backend::Sqlite, options);
    for eid in lab.eids.clone() {
        let iccid = lab.download(&eid, true);
        let (eis, card) = lab.wait_eis_equals_card(&eid, Duration::from_secs(60));
        assert_eq!(eis, card, "EIS vs card of {eid}\n{}", lab.logs());
        assert!(
            card.values()
                .any(|p| p.iccid == iccid && p.state == "enabled"),
            "{card:?}"
        );
    }
    assert!(
        lab.path().join("env-smsr.db").exists(),
        "override not applied"
    );
    assert!(
        lab.path().join("env-smdp.db").exists(),
        "override not applied"
    );
    assert!(
        !lab.path().join("smsr.db").exists(),
        "the file's store was used"
    );
    assert!(
        !lab.path().join("smdp.db").exists(),
        "the file's store was used"
    );
}
