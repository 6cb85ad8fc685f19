//! `esim scenario export` through the built binary: SM-SR change A→B over ES7 (two SM-SRs with
//! their own stores and certificates), operator B's Profile downloaded at SM-DP B through
//! SM-SR B, enabled, the device attached on PLMN B, the notification confirmed in SM-SR B's
//! EIS and operator A's Profile disabled (fallback) — checked in the JSON summary.

use std::process::Command;

fn export(dir: &std::path::Path, extra: &[&str]) -> (bool, String, String) {
    let template = esim_vectors::path("saip/TS48V2-SAIP2-3-NOBERTLV-UNIQUE.der");
    let out = Command::new(env!("CARGO_BIN_EXE_esim"))
        .args(["--json", "scenario", "export", "--timeout", "120", "--dir"])
        .arg(dir)
        .arg("--template")
        .arg(&template)
        .args(extra)
        .output()
        .expect("run esim scenario export");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn export_moves_the_card_to_smsr_b_and_operator_b_over_sms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stdout, stderr) = export(dir.path(), &[]);
    assert!(ok, "esim scenario export failed:\n{stdout}\n{stderr}");
    check(&stdout, &stderr, "sms");
}

#[test]
fn export_moves_the_card_to_smsr_b_and_operator_b_over_https() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stdout, stderr) = export(dir.path(), &["--https"]);
    assert!(
        ok,
        "esim scenario export --https failed:\n{stdout}\n{stderr}"
    );
    check(&stdout, &stderr, "https");
}

/// The same story with every function call (ES2, ES3, ES4, ES7) in the SOAP binding; the
/// servers' audit trails show the calls arrived over SOAP.
#[test]
fn export_over_the_soap_binding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stdout, stderr) = export(dir.path(), &["--binding", "soap"]);
    assert!(
        ok,
        "esim scenario export --binding soap failed:\n{stdout}\n{stderr}"
    );
    check(&stdout, &stderr, "sms");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["binding"], "soap");
    // Every function call SM-SR B answered came in over SOAP (the SOAP server audits with
    // `"binding": "soap"`), among them the ES7 hand-over and the ES3 download.
    let entries = audit_of(dir.path(), "smsr-b.db");
    let soap: std::collections::BTreeSet<String> = entries
        .iter()
        .filter(|e| e.detail.to_string().contains("\"soap\""))
        .map(|e| e.function.clone())
        .collect();
    for f in [
        "ES7.HandoverEUICC",
        "ES3.CreateISDP",
        "ES3.SendData",
        "ES4.PrepareSMSRChange",
    ] {
        assert!(soap.contains(f), "{f} not received over SOAP: {soap:?}");
    }
}

/// SM-SR B's audit trail (its SQLite store in the run directory).
fn audit_of(dir: &std::path::Path, db: &str) -> Vec<esim_store::AuditEntry> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite:{}", dir.join("run").join(db).display());
        let store = esim_store::connect(&url).await.expect("store");
        store
            .query_audit(&esim_store::AuditQuery {
                limit: 1000,
                ..Default::default()
            })
            .await
            .expect("audit")
    })
}

/// SOAP over mutual TLS between all six parties: every call SM-SR B answered came over TLS
/// with a client certificate naming the caller.
#[test]
fn export_over_soap_and_mutual_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stdout, stderr) = export(dir.path(), &["--binding", "soap", "--tls"]);
    assert!(
        ok,
        "esim scenario export --binding soap --tls failed:\n{stdout}\n{stderr}"
    );
    check(&stdout, &stderr, "sms");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["mutualTls"], true);
    for s in ["smsrA", "smsrB", "smdpA", "smdpB"] {
        assert!(
            v[s]["api"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://")),
            "{s}: {v}"
        );
    }
    let a = v["smsrA"]["id"].as_str().unwrap();
    let dp_b = v["smdpB"]["id"].as_str().unwrap();
    let entries = audit_of(dir.path(), "smsr-b.db");
    let cn_of = |f: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e.function == f && e.detail["binding"] == "soap")
            .map(|e| {
                assert_eq!(e.detail["transport"]["tls"], true, "{e:?}");
                e.detail["transport"]["client_cn"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    };
    for (f, who) in [
        ("ES7.HandoverEUICC", a),
        ("ES3.CreateISDP", dp_b),
        ("ES4.PrepareSMSRChange", "mno-a"),
    ] {
        let cns = cn_of(f);
        assert!(!cns.is_empty(), "{f} not audited over SOAP");
        assert!(
            cns.iter().all(|c| c == who),
            "{f}: client certificates {cns:?}, expected {who}"
        );
    }
}

fn check(stdout: &str, stderr: &str, transport: &str) {
    let v: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("summary is not JSON ({e}): {stdout}\n{stderr}"));
    assert_eq!(v["transport"], transport);
    assert_eq!(v["succeeded"], 1, "{stdout}\n{stderr}");
    let a = v["smsrA"]["id"].as_str().expect("SM-SR A id");
    let b = v["smsrB"]["id"].as_str().expect("SM-SR B id");
    assert_ne!(a, b);
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r["result"], "ok", "{r}\n{stderr}");
    assert_eq!(r["smsrBefore"], a, "{r}");
    assert_eq!(r["smsrAfter"], b, "{r}");
    // New keysets at SM-SR B (ECKA), none of SM-SR A's left on the card.
    let before: Vec<String> = serde_json::from_value(r["keysetsBefore"].clone()).unwrap();
    let after: Vec<String> = serde_json::from_value(r["keysetsAfter"].clone()).unwrap();
    let card: Vec<String> = serde_json::from_value(r["cardKvns"].clone()).unwrap();
    assert_eq!(after.len(), 2, "{r}");
    for k in &before {
        assert!(!after.contains(k), "{k} kept: {r}");
        let kvn = k.rsplit('/').next().unwrap();
        assert!(
            !card.iter().any(|c| c == kvn),
            "KVN {kvn} still on the card: {r}"
        );
    }
    for k in &after {
        let kvn = k.rsplit('/').next().unwrap();
        assert!(
            card.iter().any(|c| c == kvn),
            "KVN {kvn} not on the card: {r}"
        );
    }
    assert!(
        r["iccid"].as_str().expect("ICCID").starts_with("8900102"),
        "{r}"
    );
    assert_eq!(r["profileState"], "Enabled", "{r}");
    assert_eq!(r["attachedToOperatorB"], true, "{r}\n{stderr}");
    assert_eq!(r["notificationConfirmed"], true, "{r}");
    assert_eq!(r["bootstrapAfter"], "Disabled", "{r}");
    // Two SM-DPs side by side, each with its own identity; operator A hears of the change on
    // ES4 from SM-SR B and on ES2 from SM-DP A (its bootstrap Profile's SM-DP).
    let dp_a = v["smdpA"]["id"].as_str().expect("SM-DP A id");
    let dp_b = v["smdpB"]["id"].as_str().expect("SM-DP B id");
    assert_ne!(dp_a, dp_b);
    assert_ne!(v["smdpA"]["api"], v["smdpB"]["api"]);
    assert_eq!(
        r["operatorANotified"],
        serde_json::json!([format!("ES2 from {dp_a}"), format!("ES4 from {b}")]),
        "{r}"
    );
    assert!(
        stderr.contains("ES4.SMSRChange at SM-SR A executed"),
        "{stderr}"
    );
}
