//! `esim tool scp80` against every case of `shared/vectors/scp80.json` (the acceptance
//! criterion): `decode --json` recovers SPI, KIc, KID, TAR, counter and data of every command
//! packet (bare and behind the UDH 027000), `encode` reproduces every `command_packet`,
//! `decode-por` / `encode-por` handle every PoR, and bad input gives one error line and exit 1.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

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
    let text = std::fs::read_to_string(dir.join("scp80.json")).expect("scp80.json");
    serde_json::from_str(&text).expect("scp80.json is JSON")
}

fn esim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_esim"))
        .args(args)
        .output()
        .expect("run esim")
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("field {k} missing in {v}"))
}

/// KIc / KID byte from the case's index and algorithm name.
fn key_byte(case: &Value, idx: &str, algo: &str) -> String {
    let nibble = match s(case, algo) {
        "aes_cbc" | "aes_cmac" => 2,
        "triple_des_cbc2" => 5,
        other => panic!("algorithm {other}"),
    };
    format!("{:x}{nibble:x}", case[idx].as_u64().expect(idx))
}

fn run_ok(name: &str, args: &[&str]) -> String {
    let out = esim(args);
    assert!(
        out.status.success(),
        "{name}: esim {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn decode_json_recovers_every_command_packet() {
    let v = vectors();
    let mut n = 0;
    for case in v["cases"].as_array().unwrap() {
        if s(case, "kind") != "command" {
            continue;
        }
        let name = s(case, "name");
        for input in [s(case, "command_packet"), s(case, "sms_user_data")] {
            let stdout = run_ok(
                name,
                &[
                    "tool",
                    "scp80",
                    "decode",
                    "--enc-key",
                    s(case, "kic"),
                    "--mac-key",
                    s(case, "kid"),
                    "--json",
                    input,
                ],
            );
            let got: Value = serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {stdout}"));
            let kic = key_byte(case, "kic_idx", "algo_crypt");
            let kid = key_byte(case, "kid_idx", "algo_auth");
            let want = [
                ("spi", s(case, "spi")),
                ("kic", kic.as_str()),
                ("kid", kid.as_str()),
                ("tar", s(case, "tar")),
                ("counter", s(case, "counter")),
                ("data", s(case, "apdu")),
            ];
            for (field, value) in want {
                assert_eq!(s(&got, field), value, "{name}: decode --json field {field}");
            }
            assert_eq!(got["spi_fields"], case["spi_fields"], "{name}: spi_fields");
        }
        n += 1;
    }
    assert_eq!(n, 12, "number of command cases in scp80.json");
}

#[test]
fn encode_reproduces_every_command_packet() {
    let v = vectors();
    for case in v["cases"].as_array().unwrap() {
        if s(case, "kind") != "command" {
            continue;
        }
        let name = s(case, "name");
        let kic = key_byte(case, "kic_idx", "algo_crypt");
        let kid = key_byte(case, "kid_idx", "algo_auth");
        let mut args = vec![
            "tool",
            "scp80",
            "encode",
            "--spi",
            s(case, "spi"),
            "--kic",
            &kic,
            "--kid",
            &kid,
            "--tar",
            s(case, "tar"),
            "--counter",
            s(case, "counter"),
            "--enc-key",
            s(case, "kic"),
            "--mac-key",
            s(case, "kid"),
            s(case, "apdu"),
        ];
        let stdout = run_ok(name, &args);
        assert_eq!(stdout.trim(), s(case, "command_packet"), "{name}: encode");
        args.insert(3, "--udh");
        let stdout = run_ok(name, &args);
        assert_eq!(
            stdout.trim(),
            s(case, "sms_user_data"),
            "{name}: encode --udh"
        );
    }
}

#[test]
fn por_decode_and_encode_every_case() {
    let v = vectors();
    for case in v["cases"].as_array().unwrap() {
        if s(case, "kind") != "por" {
            continue;
        }
        let name = s(case, "name");
        let kic = key_byte(case, "kic_idx", "algo_crypt");
        let kid = key_byte(case, "kid_idx", "algo_auth");
        let common = [
            "--spi",
            s(case, "spi"),
            "--kic",
            &kic,
            "--kid",
            &kid,
            "--enc-key",
            s(case, "kic"),
            "--mac-key",
            s(case, "kid"),
        ];
        let mut args = vec!["--json", "tool", "scp80", "decode-por"];
        args.extend_from_slice(&common);
        args.push(s(case, "por"));
        if case.get("expect_error").is_some() {
            let out = esim(&args);
            assert_eq!(out.status.code(), Some(1), "{name}: bad CC must fail");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.starts_with("error: ") && err.contains("CC") && err.lines().count() == 1,
                "{name}: {err}"
            );
            continue;
        }
        let got: Value = serde_json::from_str(&run_ok(name, &args)).expect("JSON");
        let want = &case["decoded"];
        for (field, value) in want.as_object().unwrap() {
            assert_eq!(&got[field], value, "{name}: decode-por field {field}");
        }
        let mut args = vec!["tool", "scp80", "encode-por"];
        args.extend_from_slice(&common);
        let status = format!("{:02x}", want["response_status_code"].as_u64().unwrap());
        args.extend_from_slice(&[
            "--tar",
            s(want, "tar"),
            "--counter",
            s(want, "cntr"),
            "--status",
            &status,
            s(want, "additional_response_data"),
        ]);
        assert_eq!(
            run_ok(name, &args).trim(),
            s(case, "por"),
            "{name}: encode-por"
        );
    }
}

#[test]
fn bad_input_is_one_line_naming_field_and_offset() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["tool", "scp80", "decode", "0028151639"],
            "error: decode: command header (CPL..TAR) at byte 0: needs 10 bytes, only 5 left",
        ),
        (
            &["tool", "scp80", "decode", "00zz"],
            "error: PACKET_HEX: invalid hex character 'z' at position 2",
        ),
        (
            &[
                "tool",
                "scp80",
                "encode",
                "--spi",
                "16",
                "--kic",
                "12",
                "--kid",
                "12",
                "--tar",
                "000001",
                "--counter",
                "00",
                "00",
            ],
            "error: --spi: must be 2 byte(s), got 1",
        ),
        (
            // GEN-AES128-SPI1639-17-cmd with a wrong MAC key.
            &[
                "tool",
                "scp80",
                "decode",
                "--enc-key",
                "00112233445566778899aabbccddeeff",
                "--mac-key",
                "00000000000000000000000000000000",
                "00281516391212000001aa8a97a6e783d898cd809d7d42e3561f92d2f3a04f579ba88087fc20a2c22316",
            ],
            "error: decode: CC at byte 16 does not verify (a card answers with PoR status 01 rc_cc_ds_failed)",
        ),
    ];
    for (args, want) in cases {
        let out = esim(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: stdout not empty");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("{want}\n"),
            "{args:?}"
        );
    }
}
