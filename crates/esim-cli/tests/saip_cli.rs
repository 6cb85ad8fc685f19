//! `esim tool saip` through the built binary: for EVERY TS.48 profile in shared/vectors/saip,
//! `decode --json` then `encode` gives the identical DER (the issue's acceptance criterion);
//! bad input gives a one-line error and exit status 1; personalize and validate.

use std::path::{Path, PathBuf};
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

fn vectors_dir() -> PathBuf {
    esim_vectors::dir()
}

fn saip_files() -> Vec<PathBuf> {
    let v = esim_vectors::saip_files();
    assert_eq!(v.len(), 36, "the 36 TS.48 profiles");
    v
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn decode_json_encode_is_identical_for_every_vector() {
    let dir = tempfile::tempdir().unwrap();
    for f in saip_files() {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let (code, json, err) = esim(&["tool", "saip", "decode", s(&f), "--json"]);
        assert_eq!(code, 0, "{name}: {err}");
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        let desc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f.with_extension("pes.json")).unwrap())
                .unwrap();
        assert_eq!(doc["saip_version"], desc["saip_version"], "{name}");
        assert_eq!(
            doc["elements"].as_array().unwrap().len() as u64,
            desc["pe_count"].as_u64().unwrap(),
            "{name}"
        );
        let j = dir.path().join(format!("{name}.json"));
        std::fs::write(&j, &json).unwrap();
        let o = dir.path().join(format!("{name}.out.der"));
        let (code, _, err) = esim(&["tool", "saip", "encode", s(&j), "-o", s(&o)]);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(
            std::fs::read(&o).unwrap(),
            std::fs::read(&f).unwrap(),
            "{name}: decode --json | encode is not identical"
        );
    }
}

#[test]
fn decode_lists_elements() {
    let f = vectors_dir().join("saip/TS48V1-A-UNIQUE.der");
    let (code, out, _) = esim(&["tool", "saip", "decode", s(&f)]);
    assert_eq!(code, 0);
    assert!(
        out.contains("SAIP version 2.1, ICCID 8949449999999990023"),
        "{out}"
    );
    assert!(
        out.contains("#2   @903       42 bytes  A3     pukCodes id=5"),
        "{out}"
    );
    assert!(out.contains("template=2.23.143.1.2.1"), "{out}");
    assert_eq!(out.lines().count(), 3 + 28);
}

#[test]
fn bad_input_is_a_one_line_error_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let der = std::fs::read(vectors_dir().join("saip/TS48V1-A-UNIQUE.der")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", der[..der.len() - 3].to_vec(), "PE #27 at byte"),
        (
            "bad field",
            {
                let mut d = der.clone();
                d[903 + 2] = 0x30;
                d
            },
            "PE #2 pukCodes (tag A3) at byte 903",
        ),
        ("not a PE", b"hello world".to_vec(), "PE #0 at byte 0"),
        ("empty", Vec::new(), "empty profile package"),
    ];
    for (what, bytes, want) in cases {
        let p = dir.path().join("bad.der");
        std::fs::write(&p, &bytes).unwrap();
        for cmd in ["decode", "validate"] {
            let (code, _, err) = esim(&["tool", "saip", cmd, s(&p)]);
            assert_eq!(code, 1, "{what}/{cmd}: {err}");
            assert_eq!(err.lines().count(), 1, "{what}/{cmd}: {err}");
            assert!(err.starts_with("error: "), "{what}: {err}");
            assert!(err.contains(want), "{what}/{cmd}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    let j = dir.path().join("bad.json");
    std::fs::write(&j, r#"{"elements":[{"pinCodes":{"pin-Header":{}}}]}"#).unwrap();
    let (code, _, err) = esim(&["tool", "saip", "encode", s(&j)]);
    assert_eq!(code, 1);
    assert!(err.contains("JSON elements[0]: pinCodes"), "{err}");
}

#[test]
fn personalize_then_validate_and_decode() {
    let dir = tempfile::tempdir().unwrap();
    let tpl = vectors_dir().join("saip/TS48V2-SAIP2-3-NOBERTLV-UNIQUE.der");
    let o = dir.path().join("perso.der");
    let (code, out, err) = esim(&[
        "tool",
        "saip",
        "personalize",
        s(&tpl),
        "--iccid",
        "8949449999999995555",
        "--imsi",
        "001010000012345",
        "--ki",
        "00112233445566778899AABBCCDDEEFF",
        "--opc",
        "FFEEDDCCBBAA99887766554433221100",
        "--pin1",
        "4321",
        "--puk1",
        "11223344",
        "--adm1",
        "3838383838383838",
        "--kic",
        "0102030405060708090A0B0C0D0E0F10",
        "--kid",
        "1112131415161718191A1B1C1D1E1F20",
        "--scp03-enc",
        "2122232425262728292A2B2C2D2E2F30",
        "--scp03-mac",
        "3132333435363738393A3B3C3D3E3F40",
        "--scp03-dek",
        "4142434445464748494A4B4C4D4E4F50",
        "--pol1",
        "02",
        "-o",
        s(&o),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("valid"), "{out}");
    let (code, out, err) = esim(&["tool", "saip", "validate", s(&o)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("valid\n"), "{out}");
    let (code, out, _) = esim(&["tool", "saip", "decode", s(&o), "--json"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["iccid"], "8949449999999995555");
    assert_eq!(doc["imsi"], "001010000012345");
    assert_eq!(doc["elements"][0]["header"]["pol"], "02");

    // A 15-byte K is refused, naming the PE and field.
    let (code, _, err) = esim(&[
        "tool",
        "saip",
        "personalize",
        s(&tpl),
        "--ki",
        "00112233445566778899AABBCCDDEE",
        "-o",
        s(&o),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("akaParameter (identification"), "{err}");
    assert!(err.contains("ki must be 16 bytes, is 15"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
