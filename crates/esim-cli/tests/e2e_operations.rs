//! End-to-end (issue 4), with real processes on loopback: fall-back after connectivity loss,
//! audit after drift, master delete, and an operator denied another operator's eUICC.

mod e2e;

use e2e::{Backend, Lab, SMSR_ID, Server};
use std::time::Duration;

fn assert_ok(lab: &Lab, what: &str, o: &e2e::Out) {
    assert!(
        o.success() && o.status_str().as_deref() == Some("Executed-Success"),
        "{what}:\n{o}\n{}",
        lab.logs()
    );
}

fn aid_of(lab: &Lab, eid: &str, iccid: &str) -> String {
    lab.card(eid)
        .into_iter()
        .find(|(_, p)| p.iccid == iccid)
        .map(|(aid, _)| aid)
        .unwrap_or_else(|| panic!("{iccid} not on the card {eid}: {:?}", lab.card(eid)))
}

/// Scenario 3: the enabled Profile's network becomes unreachable; the card falls back to the
/// bootstrap Profile (fall-back attribute) and notifies the SM-SR, whose EIS follows.
#[test]
fn e2e_fallback_after_connectivity_loss() {
    let lab = Lab::new("fallback", 1, 1, Backend::Sqlite);
    let eid = lab.eids[0].clone();
    let b = lab.download(&eid, true);
    let card = lab.card(&eid);
    let bootstrap = card
        .iter()
        .find(|(_, p)| p.fallback)
        .map(|(aid, p)| (aid.clone(), p.iccid.clone()))
        .unwrap_or_else(|| panic!("no fall-back Profile on the card: {card:?}"));
    assert_ne!(bootstrap.1, b);
    let (eis, card) = lab.wait_eis_equals_card(&eid, Duration::from_secs(60));
    assert_eq!(eis, card, "before the loss\n{}", lab.logs());

    let o = lab.must(&[
        "--json",
        "device",
        "net",
        "--control",
        &lab.control,
        "remove",
        "00102",
    ]);
    assert_eq!(o.json()["reachable"], serde_json::json!(["00101"]), "{o}");

    // The card falls back; the SM-SR learns it from the card's notification alone.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let card = lab.card(&eid);
        let eis = lab.eis(&eid);
        let fell_back = |m: &std::collections::BTreeMap<String, e2e::ProfileView>| {
            m.get(&bootstrap.0).is_some_and(|p| p.state == "enabled")
                && m.values().any(|p| p.iccid == b && p.state == "disabled")
        };
        if fell_back(&card) && eis == card {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no fall-back seen by the SM-SR:\ncard {card:?}\nEIS {eis:?}\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // The bootstrap owner sees its Profile Enabled with the fall-back attribute.
    let (o, a) = lab.eis_as("mno-a", &eid);
    let a = a.unwrap_or_else(|| panic!("GetEIS as mno-a:\n{o}"));
    assert!(
        a.get(&bootstrap.0)
            .is_some_and(|p| p.state == "enabled" && p.fallback && p.iccid == bootstrap.1),
        "{a:?}"
    );
}

/// Scenario 4: the card changes behind the SM-SR's back (contact interface, agent stopped):
/// the fall-back attribute moves and a Profile is deleted; ES4.AuditEIS repairs the EIS.
#[test]
fn e2e_audit_repairs_drift() {
    let mut lab = Lab::new("audit", 1, 2, Backend::Sqlite);
    let eid = lab.eids[0].clone();
    let p1 = lab.download(&eid, false);
    let p2 = lab.download(&eid, false);
    let (eis, card) = lab.wait_eis_equals_card(&eid, Duration::from_secs(60));
    assert_eq!(eis, card, "before the drift\n{}", lab.logs());
    let (a1, a2) = (aid_of(&lab, &eid, &p1), aid_of(&lab, &eid, &p2));

    lab.stop_device();
    let r = lab.apdu(
        &eid,
        &[
            &e2e::select_isd_r(),
            &e2e::store_data_aid("05", &a1),
            &format!("80E40000124F10{a2}"),
        ],
    );
    assert!(
        r.iter().all(|(_, sw)| sw == "9000"),
        "contact session: {r:?}"
    );
    let card = lab.card(&eid);
    assert!(card.get(&a1).is_some_and(|p| p.fallback), "{card:?}");
    assert!(!card.contains_key(&a2), "{card:?}");
    let status = lab.card_via_get_status(&eid);
    assert_eq!(status, e2e::states(&card), "GET STATUS vs card.json");
    let before = lab.eis(&eid);
    assert_ne!(before, card, "the drift must be invisible to the SM-SR");
    lab.start_device();
    println!("EIS before the audit: {before:?}\ncard: {card:?}");

    let o = lab.mno(Server::Sr, "mno-b", None, &["es4", "audit", "--eid", &eid]);
    assert_ok(&lab, "ES4.AuditEIS", &o);
    let eis = lab.eis(&eid);
    assert_eq!(eis, lab.card(&eid), "after the audit\n{}", lab.logs());
    assert!(eis.get(&a1).is_some_and(|p| p.fallback), "{eis:?}");
    assert!(!eis.contains_key(&a2), "{eis:?}");
}

/// Scenario 5: ES4.MasterDelete of a disabled Profile (the SM-SR gets the Delete Token from the
/// SM-DP, ES3.GetDeleteToken, through its `[[smsr.smdp]]` peer).
#[test]
fn e2e_master_delete() {
    let lab = Lab::new("mdel", 1, 1, Backend::Sqlite);
    let eid = lab.eids[0].clone();
    let p = lab.download(&eid, false);
    let o = lab.mno(
        Server::Sr,
        "mno-b",
        None,
        &["es4", "master-delete", "--eid", &eid, "--iccid", &p],
    );
    assert_ok(&lab, "ES4.MasterDelete", &o);
    assert!(!lab.card(&eid).values().any(|q| q.iccid == p));
    let (eis, card) = lab.wait_eis_equals_card(&eid, Duration::from_secs(60));
    assert_eq!(eis, card, "{}", lab.logs());
}

/// Scenario 6: mno-c, with no Profile on the eUICC, is refused every function on it; mno-a
/// (bootstrap owner) may not act on mno-b's Profile.
#[test]
fn e2e_operator_denied_other_operators_euicc() {
    let lab = Lab::new("deny", 1, 1, Backend::Sqlite);
    let eid = lab.eids[0].clone();
    let b = lab.download(&eid, true);
    let card_before = lab.card(&eid);
    let bootstrap = card_before
        .values()
        .find(|p| p.fallback)
        .map(|p| p.iccid.clone())
        .expect("bootstrap");

    let calls: Vec<(Server, &str, Vec<&str>)> = vec![
        (Server::Sr, "mno-c", vec!["es4", "get-eis", "--eid", &eid]),
        (Server::Sr, "mno-c", vec!["es4", "audit", "--eid", &eid]),
        (
            Server::Sr,
            "mno-c",
            vec!["es4", "enable", "--eid", &eid, "--iccid", &bootstrap],
        ),
        (
            Server::Sr,
            "mno-c",
            vec!["es4", "disable", "--eid", &eid, "--iccid", &b],
        ),
        (
            Server::Sr,
            "mno-c",
            vec!["es4", "delete", "--eid", &eid, "--iccid", &b],
        ),
        (
            Server::Dp,
            "mno-c",
            vec![
                "enable",
                "--eid",
                &eid,
                "--smsr-id",
                SMSR_ID,
                "--iccid",
                &bootstrap,
            ],
        ),
        (
            Server::Dp,
            "mno-c",
            vec![
                "disable",
                "--eid",
                &eid,
                "--smsr-id",
                SMSR_ID,
                "--iccid",
                &b,
            ],
        ),
        (
            Server::Sr,
            "mno-a",
            vec!["es4", "disable", "--eid", &eid, "--iccid", &b],
        ),
        (
            Server::Sr,
            "mno-a",
            vec!["es4", "delete", "--eid", &eid, "--iccid", &b],
        ),
    ];
    for (server, who, args) in &calls {
        let o = lab.mno(*server, who, None, args);
        println!(
            "{who} {args:?} -> {}",
            o.json()
                .pointer("/Header/FunctionExecutionStatus")
                .cloned()
                .unwrap_or_default()
        );
        assert!(!o.success(), "{who} {args:?} must be refused:\n{o}");
        assert_eq!(
            o.status_str().as_deref(),
            Some("Failed"),
            "{who} {args:?}:\n{o}"
        );
        // Not allowed (1.2), or the SM-DP does not know the ICCID for this operator (3.9).
        let reason = o.subject_reason().map(|(_, r)| r);
        assert!(
            matches!(reason.as_deref(), Some("1.2" | "3.9")),
            "{who} {args:?}: reason {reason:?}"
        );
        if *who == "mno-c" {
            let j = o.json();
            assert!(
                j.pointer("/Header/FunctionExecutionStatus/Body/Eis")
                    .is_none()
                    && j.pointer("/Body/Eis").is_none(),
                "no EIS may leak: {j}"
            );
        }
    }
    // ES2.GetEIS through the SM-DP is how an operator looks at an eUICC before its first
    // download: it may answer, but with none of the other operators' Profiles.
    let o = lab.mno(
        Server::Dp,
        "mno-c",
        None,
        &["get-eis", "--eid", &eid, "--smsr-id", SMSR_ID],
    );
    println!(
        "mno-c ES2.GetEIS -> {}",
        o.json()
            .pointer("/Header/FunctionExecutionStatus")
            .cloned()
            .unwrap_or_default()
    );
    if o.success() {
        let infos = o
            .json()
            .pointer("/Body/Eis/ProfileInfo")
            .cloned()
            .unwrap_or_default();
        assert!(
            infos.as_array().is_none_or(|a| a.is_empty()),
            "mno-c must see no Profile of mno-a/mno-b: {infos}"
        );
    } else {
        assert_eq!(o.status_str().as_deref(), Some("Failed"), "{o}");
    }
    assert_eq!(lab.card(&eid), card_before, "the card must not change");
    let (eis, card) = lab.wait_eis_equals_card(&eid, Duration::from_secs(30));
    assert_eq!(eis, card);
    assert!(card.values().any(|p| p.iccid == b && p.state == "enabled"));
}
