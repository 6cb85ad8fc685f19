//! `esim demo --once` through the built binary: the whole system on the embedded defaults (SQLite,
//! SMSC simulator, SM-SR, SM-DP, device agent) downloads and enables a Profile on every card, over
//! SMS and over HTTPS; a second run reuses the PKI made by the first.

use std::process::Command;

fn demo(dir: &std::path::Path, extra: &[&str]) -> (bool, String, String) {
    let template = esim_vectors::path("saip/TS48V2-SAIP2-3-NOBERTLV-UNIQUE.der");
    let out = Command::new(env!("CARGO_BIN_EXE_esim"))
        .args(["--json", "demo", "--once", "--timeout", "240", "--dir"])
        .arg(dir)
        .arg("--template")
        .arg(&template)
        .args(extra)
        .output()
        .expect("run esim demo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_all_enabled(stdout: &str, stderr: &str, cards: usize, transport: &str) {
    let v: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("summary is not JSON ({e}): {stdout}\n{stderr}"));
    assert_eq!(v["transport"], transport);
    assert_eq!(v["succeeded"], cards, "{stdout}\n{stderr}");
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), cards);
    let mut iccids = std::collections::BTreeSet::new();
    for r in results {
        assert_eq!(r["status"], "installed and enabled", "{r}");
        let iccid = r["iccid"].as_str().expect("ICCID");
        assert!(iccid.starts_with("8900102"), "{iccid}");
        assert!(
            iccids.insert(iccid.to_string()),
            "ICCID {iccid} issued twice"
        );
        assert_eq!(r["attachedToOperatorB"], true, "{r}\n{stderr}");
    }
}

#[test]
fn demo_over_sms_then_https_reusing_the_pki() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stdout, stderr) = demo(dir.path(), &["--cards", "2"]);
    assert!(ok, "esim demo failed:\n{stdout}\n{stderr}");
    check_all_enabled(&stdout, &stderr, 2, "sms");
    assert!(stderr.contains("test PKI created"), "{stderr}");
    let ci = std::fs::read(dir.path().join("pki/ci/cert.pem")).expect("CI certificate");

    let (ok, stdout, stderr) = demo(dir.path(), &["--cards", "2", "--https"]);
    assert!(ok, "esim demo --https failed:\n{stdout}\n{stderr}");
    check_all_enabled(&stdout, &stderr, 2, "https");
    assert!(stderr.contains("test PKI loaded"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("pki/ci/cert.pem")).expect("CI certificate"),
        ci,
        "the PKI of the first run is kept"
    );
}

#[test]
fn demo_without_template_explains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_esim"))
        .current_dir(dir.path())
        .args(["demo", "--once", "--template", "missing.der"])
        .output()
        .expect("run esim demo");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no SAIP profile template found") && err.contains("missing.der"),
        "{err}"
    );
}
