//! End-to-end (issue 4): disable, enable and delete under policy rules, with real processes.
//! POL2 (ES2/ES4.UpdatePolicyRules, enforced by the SM-SR) and POL1 (inside the Profile package,
//! `ProfileHeader.pol`, enforced by the card).

mod e2e;

use e2e::{Backend, Lab, SMSR_ID, Server};
use std::time::Duration;

const NO_DELETE: &str =
    r#"{"Rule":[{"Subject":"PROFILE","Action":"DELETE","Qualification":"Not-Allowed"}]}"#;

fn es2(lab: &Lab, op: &str, eid: &str, iccid: &str, extra: &[&str]) -> e2e::Out {
    let mut args = vec![op, "--eid", eid, "--smsr-id", SMSR_ID, "--iccid", iccid];
    args.extend(extra);
    lab.mno(Server::Dp, "mno-b", None, &args)
}

fn assert_ok(lab: &Lab, what: &str, o: &e2e::Out) {
    assert!(
        o.success() && o.status_str().as_deref() == Some("Executed-Success"),
        "{what}:\n{o}\n{}",
        lab.logs()
    );
}

fn assert_eis_equals_card(lab: &Lab, eid: &str) {
    let (eis, card) = lab.wait_eis_equals_card(eid, Duration::from_secs(60));
    assert_eq!(eis, card, "EIS vs card of {eid}\n{}", lab.logs());
}

#[test]
fn e2e_pol2_delete_not_allowed_then_cleared() {
    let lab = Lab::new("pol2", 1, 1, Backend::Sqlite);
    let eid = lab.eids[0].clone();
    let iccid = lab.download(&eid, true);

    // ES2.UpdatePolicyRules: deletion not allowed.
    assert_ok(
        &lab,
        "ES2.UpdatePolicyRules",
        &es2(&lab, "policy", &eid, &iccid, &["--pol2", NO_DELETE]),
    );
    let (o, eis) = lab.eis_as("mno-b", &eid);
    let eis = eis.unwrap_or_else(|| panic!("GetEIS:\n{o}"));
    let pol2 = o.json().pointer("/Body/Eis/ProfileInfo/0/pol2").cloned();
    assert!(
        pol2.as_ref()
            .is_some_and(|p| p.to_string().contains("Not-Allowed")),
        "POL2 not in the EIS: {pol2:?} {eis:?}"
    );

    // Disabling is allowed (the bootstrap Profile takes over).
    assert_ok(
        &lab,
        "ES2.DisableProfile",
        &es2(&lab, "disable", &eid, &iccid, &[]),
    );
    assert_eis_equals_card(&lab, &eid);

    // Deleting is not: Failed 8.2.2 / 3.8, the Profile stays on the card.
    let o = es2(&lab, "delete", &eid, &iccid, &[]);
    assert_eq!(
        o.status_str().as_deref(),
        Some("Failed"),
        "delete under POL2:\n{o}"
    );
    assert_eq!(
        o.subject_reason(),
        Some(("8.2.2".to_string(), "3.8".to_string())),
        "delete under POL2:\n{o}"
    );
    assert!(!o.success(), "exit status of a Failed call:\n{o}");
    assert!(
        lab.card(&eid).values().any(|p| p.iccid == iccid),
        "the Profile must still be on the card"
    );

    // Enable back, disable again.
    assert_ok(
        &lab,
        "ES2.EnableProfile",
        &es2(&lab, "enable", &eid, &iccid, &[]),
    );
    assert_eis_equals_card(&lab, &eid);
    assert!(
        lab.card(&eid)
            .values()
            .any(|p| p.iccid == iccid && p.state == "enabled"),
        "enabled again on the card"
    );
    assert_ok(
        &lab,
        "ES2.DisableProfile",
        &es2(&lab, "disable", &eid, &iccid, &[]),
    );

    // ES4.UpdatePolicyRules (the MNO to the SM-SR) clears the rule; deletion then succeeds.
    let o = lab.mno(
        Server::Sr,
        "mno-b",
        None,
        &[
            "es4",
            "policy",
            "--eid",
            &eid,
            "--iccid",
            &iccid,
            "--pol2",
            r#"{"Rule":[]}"#,
        ],
    );
    assert_ok(&lab, "ES4.UpdatePolicyRules", &o);
    assert_ok(
        &lab,
        "ES2.DeleteProfile",
        &es2(&lab, "delete", &eid, &iccid, &[]),
    );
    assert!(
        !lab.card(&eid).values().any(|p| p.iccid == iccid),
        "deleted from the card: {:?}",
        lab.card(&eid)
    );
    assert_eis_equals_card(&lab, &eid);
}

fn luhn(digits: &str) -> char {
    let mut sum = 0;
    for (i, c) in digits.chars().rev().enumerate() {
        let mut d = c.to_digit(10).expect("digit");
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    char::from_digit((10 - sum % 10) % 10, 10).expect("digit")
}

/// A Profile package with POL1 `pol1`, imported into the SM-DP inventory for mno-b.
fn import_pol1(lab: &Lab, body: &str, imsi: &str, pol1: &str) -> String {
    let iccid = format!("{body}{}", luhn(body));
    let tpl = e2e::template();
    let out = format!("pol1-{pol1}.der");
    lab.must(&[
        "tool",
        "saip",
        "personalize",
        tpl.to_str().expect("path"),
        "-o",
        &out,
        "--iccid",
        &iccid,
        "--imsi",
        imsi,
        "--pol1",
        pol1,
    ]);
    lab.must(&[
        "smdp",
        "import",
        "-c",
        "esim.toml",
        "--owner",
        "mno-b",
        "--type",
        "pol1-b",
        &out,
    ]);
    iccid
}

#[test]
fn e2e_pol1_in_profile_enforced_by_card() {
    let lab = Lab::new("pol1", 1, 0, Backend::Sqlite);
    let eid = lab.eids[0].clone();
    // 02: deletion not allowed; 01: disabling not allowed.
    let no_delete = import_pol1(&lab, "890010300000000001", "001020000000101", "02");
    let no_disable = import_pol1(&lab, "890010300000000002", "001020000000102", "01");
    for iccid in [&no_delete, &no_disable] {
        let o = lab.mno(
            Server::Dp,
            "mno-b",
            None,
            &[
                "download",
                "--eid",
                &eid,
                "--smsr-id",
                SMSR_ID,
                "--iccid",
                iccid,
            ],
        );
        assert_ok(&lab, &format!("DownloadProfile {iccid}"), &o);
    }
    assert_eis_equals_card(&lab, &eid);

    // POL1 "deletion not allowed": the card refuses, the call fails, nothing changes.
    let o = es2(&lab, "delete", &eid, &no_delete, &[]);
    println!("DeleteProfile under POL1 02 answered: {}", o.json());
    assert_eq!(
        o.status_str().as_deref(),
        Some("Failed"),
        "delete under POL1:\n{o}\n{}",
        lab.logs()
    );
    assert_eq!(
        o.subject_reason().map(|(_, r)| r).as_deref(),
        Some("3.8"),
        "refused by POL1 (card SW 69E1):\n{o}"
    );
    assert!(
        lab.card(&eid).values().any(|p| p.iccid == no_delete),
        "still on the card"
    );
    assert_eis_equals_card(&lab, &eid);

    // POL1 "disabling not allowed": enabling is fine, disabling fails, enabling another
    // Profile (which would disable it) fails too.
    assert_ok(
        &lab,
        "EnableProfile",
        &es2(&lab, "enable", &eid, &no_disable, &[]),
    );
    let o = es2(&lab, "disable", &eid, &no_disable, &[]);
    println!("DisableProfile under POL1 01 answered: {}", o.json());
    assert_eq!(
        o.status_str().as_deref(),
        Some("Failed"),
        "disable under POL1:\n{o}\n{}",
        lab.logs()
    );
    assert_eq!(
        o.subject_reason().map(|(_, r)| r).as_deref(),
        Some("3.8"),
        "refused by POL1 (card SW 69E1):\n{o}"
    );
    let o = es2(&lab, "enable", &eid, &no_delete, &[]);
    println!(
        "EnableProfile of another Profile under POL1 01 answered: {}",
        o.json()
    );
    assert_eq!(
        o.status_str().as_deref(),
        Some("Failed"),
        "enable other under POL1:\n{o}\n{}",
        lab.logs()
    );
    assert_eq!(
        o.subject_reason().map(|(_, r)| r).as_deref(),
        Some("3.8"),
        "refused by POL1 (card SW 69E1):\n{o}"
    );
    assert!(
        lab.card(&eid)
            .values()
            .any(|p| p.iccid == no_disable && p.state == "enabled"),
        "still enabled on the card: {:?}",
        lab.card(&eid)
    );
    assert_eis_equals_card(&lab, &eid);
}

/// ES4.MasterDelete removes a Profile whose POL1 forbids deletion (SGP.02 §3.5: POL1 does not
/// apply to the master delete).
#[test]
fn e2e_master_delete_overrides_pol1() {
    let lab = Lab::new("mdel-pol1", 1, 0, Backend::Sqlite);
    let eid = lab.eids[0].clone();
    let iccid = import_pol1(&lab, "890010300000000003", "001020000000103", "02");
    let o = lab.mno(
        Server::Dp,
        "mno-b",
        None,
        &[
            "download",
            "--eid",
            &eid,
            "--smsr-id",
            SMSR_ID,
            "--iccid",
            &iccid,
        ],
    );
    assert_ok(&lab, "DownloadProfile", &o);
    let o = es2(&lab, "delete", &eid, &iccid, &[]);
    assert_eq!(
        o.status_str().as_deref(),
        Some("Failed"),
        "delete under POL1:\n{o}"
    );
    let o = lab.mno(
        Server::Sr,
        "mno-b",
        None,
        &["es4", "master-delete", "--eid", &eid, "--iccid", &iccid],
    );
    assert_ok(&lab, "ES4.MasterDelete", &o);
    assert!(
        !lab.card(&eid).values().any(|p| p.iccid == iccid),
        "master-deleted Profile still on the card: {:?}",
        lab.card(&eid)
    );
    assert_eis_equals_card(&lab, &eid);
}
