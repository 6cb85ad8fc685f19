//! `esim device` and `esim smsc` through the built binary: init a card from `esim pki euicc`
//! output with a TS.48 bootstrap profile, drive it with `esim device apdu` (arguments, stdin,
//! JSON), and run the agent with the SMSC simulator, changing its networks with `device net`.

use esim_apdu::gp::status::{GetStatus, StatusSubset, parse_entries};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn esim_with(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_esim"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run esim");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn esim(args: &[&str]) -> (i32, String, String) {
    esim_with(args, None)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn template() -> std::path::PathBuf {
    esim_vectors::saip_files()
        .into_iter()
        .find(|p| p.ends_with("TS48V1-A-UNIQUE.der"))
        .unwrap()
}

/// PKI, one eUICC, and a card with a bootstrap profile; returns (tmp, card dir, EID).
fn make_card() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let pki_dir = tmp.path().join("pki");
    let eu_dir = tmp.path().join("euiccs");
    let (code, _, err) = esim(&[
        "pki",
        "init",
        "--out",
        s(&pki_dir),
        "--valid-from",
        "2025-01-01",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = esim(&[
        "pki",
        "euicc",
        "--eum",
        s(&pki_dir.join("eum")),
        "--out",
        s(&eu_dir),
        "--eid-prefix",
        "8904903200",
        "--production-date",
        "2025-02-01",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let eid = v["issued"][0].as_str().unwrap().to_string();
    let card = tmp.path().join("cards").join("card1");
    let (code, out, err) = esim(&[
        "device",
        "init",
        "--pki",
        s(&eu_dir.join(&eid)),
        "--card",
        s(&card),
        "--bootstrap",
        s(&template()),
        "--iccid",
        "8949449999000000011",
        "--imsi",
        "001010000000001",
        "--msisdn",
        "447700900001",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["eid"], eid.as_str());
    assert_eq!(v["bootstrapIccid"], "8949449999000000011");
    // A second init into the same directory is refused.
    let (code, _, err) = esim(&[
        "device",
        "init",
        "--pki",
        s(&eu_dir.join(&eid)),
        "--card",
        s(&card),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: ") && err.contains("already holds a card"),
        "{err}"
    );
    (tmp, card, eid)
}

#[test]
fn apdu_session_select_get_data_get_status() {
    let (_tmp, card, eid) = make_card();
    let state = card.join("card.json");
    assert_eq!(mode(&state), 0o600);
    assert_eq!(mode(&card.join("bootstrap-scp03-keys.json")), 0o600);
    let get_status = esim_codec::hex::encode_upper(
        &GetStatus::all(StatusSubset::Applications)
            .to_command()
            .encode()
            .unwrap(),
    );
    // Arguments, text output: one R-APDU per line.
    let (code, out, err) = esim(&[
        "device",
        "apdu",
        "--card",
        s(&card),
        "00A4040010A0000005591010FFFFFFFF8900000100",
        "80CA005A00",
        &get_status,
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].ends_with("9000"), "{out}");
    assert_eq!(lines[1], format!("5A10{eid}9000"));
    let status = esim_codec::hex::decode(lines[2]).unwrap();
    let (data, sw) = status.split_at(status.len() - 2);
    assert_eq!(sw, [0x90, 0x00]);
    let entries = parse_entries(data).unwrap();
    assert_eq!(entries.len(), 1, "the bootstrap ISD-P");
    assert_eq!(mode(&state), 0o600, "state rewritten with 0600");

    // Standard input with comments, JSON output.
    let script = "# select the ISD-R\n00A4040010 A0000005591010FFFFFFFF8900000100 # ISD-R AID\n\n80CA005A00\n";
    let (code, out, err) = esim_with(
        &["device", "apdu", "--card", s(&card), "--json"],
        Some(script),
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["command"], "80CA005A00");
    assert_eq!(list[1]["response"], format!("5A10{eid}"));
    assert_eq!(list[1]["sw"], "9000");
    // Bad hex: one-line error naming the APDU.
    let (code, _, err) = esim(&["device", "apdu", "--card", s(&card), "80CA00ZZ"]);
    assert_eq!(code, 1);
    assert!(err.starts_with("error: APDU 1"), "{err}");
}

/// Kills a child process on drop (only processes this test started).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn first_line(p: &mut Proc) -> String {
    let stdout = p.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("first output line")
}

#[test]
fn smsc_and_agent_with_run_time_networks() {
    let (tmp, card, _eid) = make_card();
    let mut smsc = Proc(
        Command::new(env!("CARGO_BIN_EXE_esim"))
            .args([
                "smsc",
                "--listen",
                "127.0.0.1:0",
                "--route",
                "447700900001=device",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let line = first_line(&mut smsc);
    let smsc_addr = line.trim().rsplit(' ').next().unwrap().to_string();
    let config = tmp.path().join("device.toml");
    std::fs::write(
        &config,
        format!(
            "cards_dir = \"cards\"\n[smsc]\naddress = \"{smsc_addr}\"\n[network]\nreachable = [\"00101\"]\n"
        ),
    )
    .unwrap();
    let mut agent = Proc(
        Command::new(env!("CARGO_BIN_EXE_esim"))
            .args(["device", "run", "--config", s(&config)])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let line = first_line(&mut agent);
    assert!(line.starts_with("device agent running"), "{line}");
    let control = line.trim().rsplit(' ').next().unwrap().to_string();
    let (code, out, err) = esim(&["device", "net", "--control", &control, "add", "00102"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "00101 00102");
    let (code, out, err) = esim(&[
        "device",
        "net",
        "--control",
        &control,
        "remove",
        "00101",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["reachable"], serde_json::json!(["00102"]));
    let (code, _, err) = esim(&["device", "net", "--control", &control, "add", "12"]);
    assert_eq!(code, 1);
    assert!(err.starts_with("error: "), "{err}");
    // The agent attached on 00101 at start: the eUICC declaration (first attach) is pending in
    // the persisted state (no SM-SR confirms it here).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = esim_device::store::load_card(&card).unwrap();
        if !c.registry().notifications().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "declaration persisted");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGTERM: the agent stops cleanly.
    let pid = agent.0.id().to_string();
    let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = agent.0.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "agent stops on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(mode(&card.join("card.json")), 0o600);
}
