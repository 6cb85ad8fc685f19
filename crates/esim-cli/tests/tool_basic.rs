//! `esim tool tlv` and `esim tool eid` through the built binary.

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

#[test]
fn tlv_tree_with_indefinite_form() {
    let (code, out, _) = esim(&["tool", "tlv", "AF80 800101 2304 93059000 0000"]);
    assert_eq!(code, 0);
    assert!(out.contains("AF [indefinite] @0"), "{out}");
    assert!(out.contains("  23 [4] @5: 93059000"), "{out}");
}

#[test]
fn tlv_json() {
    let (code, out, _) = esim(&["tool", "tlv", "--json", "7F2106930101420100"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["tag"], "7F21");
    assert_eq!(v[0]["children"][0]["tag"], "93");
    assert_eq!(v[0]["children"][1]["value"], "00");
}

#[test]
fn tlv_errors_are_one_line_with_offset() {
    let (code, out, err) = esim(&["tool", "tlv", "4F05A0"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("at byte 2"), "{err}");
    assert!(err.contains("tag 4F"), "{err}");
    let (code, _, err) = esim(&["tool", "tlv", "4F0zz"]);
    assert_eq!(code, 1);
    assert!(err.contains("position 3"), "{err}");
}

#[test]
fn eid_check_and_new() {
    let (code, out, _) = esim(&["tool", "eid", "check", "89001039240180124400000000000157"]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = esim(&["tool", "eid", "check", "89001039240180124400000000000158"]);
    assert_eq!(code, 1);
    assert!(err.contains("expected 57"), "{err}");
    let (code, out, _) = esim(&["--json", "tool", "eid", "new", "--count", "5"]);
    assert_eq!(code, 0);
    let list: Vec<String> = serde_json::from_str(&out).unwrap();
    assert_eq!(list.len(), 5);
    for e in list {
        esim_codec::Eid::parse(&e).unwrap();
    }
    let (code, out, _) = esim(&[
        "tool",
        "eid",
        "new",
        "--body",
        "890010392401801244000000000001",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "89001039240180124400000000000157");
}
