//! `esim pki` through the built binary: init → euicc ×3 → files, 0600 key modes, EIS and
//! certificate chains verify; overwrite protection; show.

use esim_crypto::cert::{CertType, Certificate};
use esim_crypto::ec::{KeyPair, PublicKey};
use esim_crypto::pki::{self, EisDocument};
use esim_crypto::x509::X509Certificate;
use std::path::Path;
use std::process::Command;

fn esim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_esim"))
        .args(args)
        .output()
        .expect("run esim");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_euicc_show() {
    let tmp = tempfile::tempdir().unwrap();
    let pki_dir = tmp.path().join("pki");
    let eu_dir = tmp.path().join("euiccs");

    let (code, out, err) = esim(&[
        "pki",
        "init",
        "--out",
        s(&pki_dir),
        "--valid-from",
        "2025-01-01",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("test PKI written"));

    // Files and modes.
    let keys = [
        "ci/key.pem",
        "eum/key.pem",
        "smdp/key.pem",
        "smdp/tls-key.pem",
        "smsr/key.pem",
        "smsr/tls-key.pem",
        "tls/ca-key.pem",
    ];
    let public = [
        "pki.json",
        "ci/cert.pem",
        "ci/cert.der",
        "eum/cert.pem",
        "eum/id.txt",
        "smdp/cert.gp",
        "smdp/cert.gp.hex",
        "smdp/tls-cert.pem",
        "smsr/cert.gp",
        "smsr/tls-cert.pem",
        "tls/ca-cert.pem",
    ];
    for f in keys.iter().chain(public.iter()) {
        assert!(pki_dir.join(f).is_file(), "{f} missing");
    }
    #[cfg(unix)]
    for f in keys {
        assert_eq!(mode(&pki_dir.join(f)), 0o600, "{f}");
    }

    // Refuses to overwrite; --force does.
    let (code, _, err) = esim(&["pki", "init", "--out", s(&pki_dir)]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: ") && err.contains("--force") && err.trim().lines().count() == 1,
        "{err}"
    );
    let ci_before = read(&pki_dir.join("ci/cert.pem"));
    let (code, _, err) = esim(&[
        "pki",
        "init",
        "--out",
        s(&pki_dir),
        "--force",
        "--valid-from",
        "2025-01-01",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_ne!(read(&pki_dir.join("ci/cert.pem")), ci_before);
    #[cfg(unix)]
    assert_eq!(mode(&pki_dir.join("ci/key.pem")), 0o600);

    // Chains: CI self-signed, EUM by CI, SM-DP/SM-SR GP certificates by PK.CI, keys match.
    let ci = X509Certificate::from_pem(&read(&pki_dir.join("ci/cert.pem"))).unwrap();
    let eum = X509Certificate::from_pem(&read(&pki_dir.join("eum/cert.pem"))).unwrap();
    ci.verify_issued_by(&ci).unwrap();
    eum.verify_issued_by(&ci).unwrap();
    let ci_key = KeyPair::from_pem(&read(&pki_dir.join("ci/key.pem"))).unwrap();
    assert_eq!(ci_key.public_key(), &ci.public_key().unwrap());
    for (d, t) in [("smdp", CertType::SmDp), ("smsr", CertType::SmSr)] {
        let gp =
            Certificate::decode(&std::fs::read(pki_dir.join(d).join("cert.gp")).unwrap()).unwrap();
        gp.verify_full(&ci.public_key().unwrap(), None, &[t])
            .unwrap();
        let k = KeyPair::from_pem(&read(&pki_dir.join(d).join("key.pem"))).unwrap();
        assert_eq!(k.public_key(), gp.public_key());
        let tls_ca = X509Certificate::from_pem(&read(&pki_dir.join("tls/ca-cert.pem"))).unwrap();
        let tls = X509Certificate::from_pem(&read(&pki_dir.join(d).join("tls-cert.pem"))).unwrap();
        tls.verify_issued_by(&tls_ca).unwrap();
    }

    // Three eUICCs.
    let (code, out, err) = esim(&[
        "pki",
        "euicc",
        "--eum",
        s(&pki_dir.join("eum")),
        "--out",
        s(&eu_dir),
        "--count",
        "3",
        "--eid-prefix",
        "8904903200",
        "--production-date",
        "2025-02-01",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let eids: Vec<String> = doc["issued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(eids.len(), 3);
    for (i, eid) in eids.iter().enumerate() {
        let parsed = esim_codec::ids::Eid::parse(eid).unwrap();
        assert!(eid.starts_with("8904903200"));
        assert!(eid[..30].ends_with(&(i + 1).to_string()));
        let d = eu_dir.join(eid);
        for f in [
            "eid.txt",
            "ecasd-key.pem",
            "ecasd-cert.gp",
            "ecasd-cert.gp.hex",
            "isd-r-keys.json",
            "eis.json",
            "eum-cert.pem",
            "ci-cert.pem",
            "ci-public-key.pem",
        ] {
            assert!(d.join(f).is_file(), "{eid}/{f} missing");
        }
        #[cfg(unix)]
        for f in ["ecasd-key.pem", "isd-r-keys.json", "eis.json"] {
            assert_eq!(mode(&d.join(f)), 0o600, "{eid}/{f}");
        }
        assert_eq!(read(&d.join("eid.txt")).trim(), eid);
        // EIS verifies against the EUM and CI certificates of the PKI.
        let eis = EisDocument::from_json(&read(&d.join("eis.json"))).unwrap();
        let v = pki::verify_eis(&eis, &eum, &ci).unwrap();
        assert_eq!(v.eid, parsed);
        // ECASD certificate chain and key.
        let ecasd = Certificate::decode(&std::fs::read(d.join("ecasd-cert.gp")).unwrap()).unwrap();
        assert_eq!(ecasd, v.ecasd_certificate);
        pki::verify_ecasd_certificate(&ecasd, &eum, &ci, Some(&parsed), None).unwrap();
        let k = KeyPair::from_pem(&read(&d.join("ecasd-key.pem"))).unwrap();
        assert_eq!(k.public_key(), ecasd.public_key());
        let ci_pk = PublicKey::from_pem(&read(&d.join("ci-public-key.pem"))).unwrap();
        assert_eq!(ci_pk, ci.public_key().unwrap());
        // ISD-R keys file agrees with the EIS.
        let keys: serde_json::Value =
            serde_json::from_str(&read(&d.join("isd-r-keys.json"))).unwrap();
        let kic = keys["scp80"][0]["kic"].as_str().unwrap();
        let eis_kic = &eis.eum_signed_info.isd_r.keysets[0].keys[0].value.0;
        assert_eq!(esim_codec::hex::decode(kic).unwrap(), eis_kic.expose());
    }

    // Serial numbers continue; an existing EID directory is never overwritten.
    let (code, out, err) = esim(&[
        "pki",
        "euicc",
        "--eum",
        s(&pki_dir.join("eum")),
        "--out",
        s(&eu_dir),
        "--eid-prefix",
        "8904903200",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let fourth = doc["issued"][0].as_str().unwrap();
    assert_eq!(&fourth[..30], format!("8904903200{:020}", 4));
    let (code, _, err) = esim(&[
        "pki",
        "euicc",
        "--eum",
        s(&pki_dir.join("eum")),
        "--out",
        s(&eu_dir),
        "--eid-prefix",
        "8904903200",
        "--first-serial",
        "2",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");

    // show: PKI and eUICC, text and JSON.
    let (code, out, err) = esim(&["pki", "show", s(&pki_dir), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verification"], "ok");
    assert_eq!(v["smdp"]["cert"]["type"], "01 (SmDp)");
    let (code, out, _) = esim(&["pki", "show", s(&pki_dir)]);
    assert_eq!(code, 0);
    assert!(out.contains("chains: ok"));
    let (code, out, err) = esim(&["pki", "show", s(&eu_dir.join(&eids[0])), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["eisVerification"], "ok");
    assert_eq!(v["eid"], eids[0].as_str());
    assert!(
        !out.to_lowercase()
            .contains(&keys_hex(&eu_dir.join(&eids[0]))),
        "show must not print keys"
    );
    let (code, _, err) = esim(&["pki", "show", s(tmp.path())]);
    assert_eq!(code, 1);
    assert!(err.starts_with("error: "));
}

fn keys_hex(d: &Path) -> String {
    let keys: serde_json::Value = serde_json::from_str(&read(&d.join("isd-r-keys.json"))).unwrap();
    keys["scp80"][0]["kic"].as_str().unwrap().to_lowercase()
}

#[test]
fn euicc_with_a_mismatched_ci_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    assert_eq!(esim(&["pki", "init", "--out", s(&a)]).0, 0);
    assert_eq!(esim(&["pki", "init", "--out", s(&b)]).0, 0);
    let (code, _, err) = esim(&[
        "pki",
        "euicc",
        "--eum",
        s(&a.join("eum")),
        "--ci",
        s(&b.join("ci")),
        "--out",
        s(&tmp.path().join("e")),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("not signed by this CI"), "{err}");
}

#[test]
fn help_has_examples() {
    for sub in ["init", "euicc", "show"] {
        let (code, out, _) = esim(&["pki", sub, "--help"]);
        assert_eq!(code, 0);
        assert!(out.contains("Examples:"), "{sub}");
    }
}
