//! `esim tool scp03`: one whole vector session of `shared/vectors/scp03.json` (AES128_33: C-MAC,
//! C-DEC, R-MAC, R-ENC) reproduced through the binary — `derive`, then each step with `wrap` /
//! `unwrap`, threading the printed MAC chaining value and counter by hand — plus `kcv`, an SCP03t
//! wrap, and the one-line error.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn vectors() -> Value {
    let dir = std::env::var("ESIM_VECTORS_DIR")
        .map(PathBuf::from)
        .ok()
        .or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .flat_map(|a| [a.join("shared/vectors"), a.join("../shared/vectors")])
                .find(|c| c.join("README.md").is_file())
        })
        .expect("shared/vectors not found (set ESIM_VECTORS_DIR)");
    let text = std::fs::read_to_string(dir.join("scp03.json")).expect("scp03.json");
    serde_json::from_str(&text).expect("scp03.json is JSON")
}

fn esim_json(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_esim"))
        .arg("--json")
        .args(args)
        .output()
        .expect("run esim");
    assert!(
        out.status.success(),
        "esim {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

#[test]
fn vector_session_aes128_33_through_the_binary() {
    let v = vectors();
    let case = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "AES128_33")
        .expect("case AES128_33");
    let sk = &case["static_keys"];
    let d = esim_json(&[
        "tool",
        "scp03",
        "derive",
        "--enc",
        s(sk, "enc"),
        "--mac",
        s(sk, "mac"),
        "--dek",
        s(sk, "dek"),
        "--kvn",
        "30",
        "--level",
        s(case, "security_level"),
        "--host-challenge",
        s(case, "host_challenge"),
        "--init-update-response",
        s(case, "initialize_update_rsp"),
        "--sd-aid",
        "A0000005591010FFFFFFFF8900000100",
    ]);
    assert_eq!(
        s(&d, "initialize_update_cmd"),
        s(case, "initialize_update_cmd")
    );
    for k in [
        "s_enc",
        "s_mac",
        "s_rmac",
        "host_cryptogram",
        "card_cryptogram",
    ] {
        assert_eq!(s(&d, k), s(&case["derived"], k), "AES128_33 {k}");
    }
    let steps = case["steps"].as_array().unwrap();
    assert_eq!(s(&d, "external_authenticate"), s(&steps[0], "wrapped"));
    let mut mcv = s(&d, "mac_chaining_value").to_string();
    assert_eq!(mcv, s(&steps[0], "mac_chaining_value_after"));
    let mut counter = d["counter"].as_u64().unwrap().to_string();
    let keys = [
        "--s-enc",
        s(&d, "s_enc"),
        "--s-mac",
        s(&d, "s_mac"),
        "--s-rmac",
        s(&d, "s_rmac"),
        "--level",
        "33",
    ];
    for (i, step) in steps.iter().enumerate().skip(1) {
        match s(step, "op") {
            "wrap_cmd" => {
                let mut args = vec!["tool", "scp03", "wrap"];
                args.extend_from_slice(&keys);
                args.extend_from_slice(&["--mcv", &mcv, "--counter", &counter, s(step, "plain")]);
                let w = esim_json(&args);
                assert_eq!(s(&w, "wrapped"), s(step, "wrapped"), "AES128_33 step {i}");
                assert_eq!(
                    s(&w, "mac_chaining_value"),
                    s(step, "mac_chaining_value_after"),
                    "AES128_33 step {i} chaining value"
                );
                mcv = s(&w, "mac_chaining_value").to_string();
                counter = w["counter"].as_u64().unwrap().to_string();
            }
            "unwrap_rsp" => {
                let mut args = vec!["tool", "scp03", "unwrap"];
                args.extend_from_slice(&keys);
                args.extend_from_slice(&[
                    "--mcv",
                    &mcv,
                    "--counter",
                    &counter,
                    "--sw",
                    s(step, "sw"),
                    s(step, "wrapped"),
                ]);
                let u = esim_json(&args);
                assert_eq!(s(&u, "plain"), s(step, "plain"), "AES128_33 step {i}");
            }
            other => panic!("unknown op {other}"),
        }
    }
}

#[test]
fn kcv_matches_vector() {
    let v = vectors();
    for c in v["kcv"].as_array().unwrap() {
        let out = esim_json(&["tool", "scp03", "kcv", s(c, "key")]);
        assert_eq!(s(&out, "kcv"), s(c, "kcv"), "kcv of {}", s(c, "key"));
    }
}

#[test]
fn bad_card_cryptogram_is_one_line_error() {
    let v = vectors();
    let case = &v["cases"][0];
    let sk = &case["static_keys"];
    let mut rsp = s(case, "initialize_update_rsp").to_string();
    rsp.replace_range(56..58, "00");
    let out = Command::new(env!("CARGO_BIN_EXE_esim"))
        .args([
            "tool",
            "scp03",
            "derive",
            "--enc",
            s(sk, "enc"),
            "--mac",
            s(sk, "mac"),
        ])
        .args([
            "--level",
            "03",
            "--host-challenge",
            s(case, "host_challenge"),
        ])
        .args(["--init-update-response", &rsp])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("card cryptogram mismatch"), "{err}");
}

#[test]
fn scp03t_wrap_produces_85_then_86_stream() {
    use esim_crypto::SecretKey;
    use esim_crypto::scp03::{CardIdle, StaticKeys};
    use esim_crypto::scp03t::{Scp03tCard, Scp03tEvent};
    let key = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
    let keys = StaticKeys::from_base_key(3, SecretKey::new(&[0x5A; 16])).unwrap();
    let aid = esim_codec::Aid::isd_p(esim_codec::Tar([0, 0, 0x10]));
    let mut card = Scp03tCard::new(CardIdle::new(keys, aid.as_bytes(), [0; 10], 0));
    // The 84 command the tool assumes: KVN 03, KID 01, host challenge 07…07.
    let mut c84 = vec![0x84, 0x0A, 0x03, 0x01];
    c84.extend_from_slice(&[7; 8]);
    card.feed(&c84).unwrap();
    let Some(Scp03tEvent::Response(r84)) = card.take_events().pop() else {
        panic!("84 response expected");
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("profile.der");
    let profile: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &profile).unwrap();
    let out = esim_json(&[
        "tool",
        "scp03",
        "scp03t-wrap",
        "--key",
        key,
        "--kvn",
        "03",
        "--host-challenge",
        "0707070707070707",
        "--init-update-response",
        &esim_codec::hex::encode(&r84),
        "--segment-size",
        "1000",
        file.to_str().unwrap(),
    ]);
    assert_eq!(s(&out, "initialize_update"), esim_codec::hex::encode(&c84));
    assert_eq!(out["segments"].as_array().unwrap().len(), 3);
    let stream = esim_codec::hex::decode(s(&out, "stream")).unwrap();
    card.feed(&stream).unwrap();
    let mut got = Vec::new();
    for ev in card.take_events() {
        if let Scp03tEvent::Segment { data, .. } = ev {
            got.extend(data);
        }
    }
    assert_eq!(got, profile);
}
