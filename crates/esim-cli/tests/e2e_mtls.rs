//! End-to-end (issue 5, SOAP binding part): mutual TLS between real `esim smsr` and `esim smdp`
//! processes configured from TOML (`[smsr.tls]`, `[smdp.tls]`, per-peer `ca` and `binding`),
//! with identities from `esim pki` (server certificates valid for localhost and 127.0.0.1,
//! operators' client certificates from `esim pki issue-tls`). The SM-DP calls the SM-SR's ES3
//! over SOAP over HTTPS, the SM-SR calls the SM-DP's ES3.GetDeleteToken over JSON over HTTPS and
//! notifies it over SOAP over HTTPS (`callback_binding = "soap"`); operators
//! call with `esim mno` over HTTPS in both bindings. Refused: no client certificate, a
//! certificate of another CA, a certificate naming another operator than the token's (403 /
//! SOAP Forbidden fault), plain HTTP; handshake garbage does not stop the servers.

mod e2e;

use e2e::{Lab, SMDP_ID, SMSR_ID};
use serde_json::Value;
use std::io::{Read, Write};
use std::time::Duration;

/// The lab's configuration with TLS everywhere (ports of `lab`).
fn tls_config(lab: &Lab) -> String {
    let (sr, dp, smsc) = (lab.sr_port, lab.dp_port, lab.smsc_port);
    let scp81 = e2e::free_port();
    format!(
        r#"pki = "pki"
[store]
smsr = "sqlite:smsr.db"
smdp = "sqlite:smdp.db"
master_key = "000102030405060708090A0B0C0D0E0F"
[smsr]
api_listen = "127.0.0.1:{sr}"
scp81_listen = "127.0.0.1:{scp81}"
[smsr.tls]
cert = "pki/smsr/tls-cert.pem"
key = "file:pki/smsr/tls-key.pem"
client_ca = "pki/tls/ca-cert.pem"
[[smsr.smdp]]
id = "{SMDP_ID}"
url = "https://127.0.0.1:{dp}"
token = "sr-token"
ca = "pki/tls/ca-cert.pem"
[smsr.smsc]
address = "127.0.0.1:{smsc}"
[smdp]
api_listen = "127.0.0.1:{dp}"
[smdp.tls]
cert = "pki/smdp/tls-cert.pem"
key = "file:pki/smdp/tls-key.pem"
client_ca = "pki/tls/ca-cert.pem"
require_client_cert = true
[[smdp.smsr]]
id = "{SMSR_ID}"
url = "https://localhost:{sr}"
token = "dp-token"
ca = "pki/tls/ca-cert.pem"
binding = "soap"
[[operators]]
id = "{SMDP_ID}"
roles = ["SM-DP"]
token = "dp-token"
callback_url = "https://localhost:{dp}"
callback_token = "sr-token"
callback_ca = "pki/tls/ca-cert.pem"
callback_binding = "soap"
[[operators]]
id = "{SMSR_ID}"
roles = ["SM-SR"]
token = "sr-token"
[[operators]]
id = "mno-a"
roles = ["MNO"]
token = "mno-a-token"
[[operators]]
id = "mno-b"
roles = ["MNO"]
token = "mno-b-token"
"#
    )
}

/// `esim --json mno` over HTTPS: `binding`, the token of `requester`, the client identity in
/// `identity` (a directory with tls-cert.pem and tls-key.pem) if any.
fn mno(
    lab: &Lab,
    url: &str,
    binding: &str,
    requester: &str,
    identity: Option<&str>,
    args: &[&str],
) -> e2e::Out {
    let token = format!("{requester}-token");
    let mut a: Vec<String> = [
        "--json",
        "mno",
        "--url",
        url,
        "--token",
        &token,
        "--requester",
        requester,
        "--wait",
        "180",
        "--binding",
        binding,
        "--ca",
        "pki/tls/ca-cert.pem",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(dir) = identity {
        a.extend([
            "--cert".to_string(),
            format!("{dir}/tls-cert.pem"),
            "--key".to_string(),
            format!("{dir}/tls-key.pem"),
        ]);
    }
    a.extend(args.iter().map(|s| s.to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    lab.run(&a)
}

/// Sends `bytes` to the TLS port and reads what comes back (bounded).
fn garbage(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut back = Vec::new();
    let _ = s.read_to_end(&mut back);
    back
}

#[test]
fn e2e_mutual_tls_json_and_soap() {
    let mut lab = Lab::new("mtls", 1, 2, e2e::Backend::Sqlite);
    let eid = lab.eids[0].clone();
    // Client identities from the one TLS CA; a second PKI's CA for a foreign certificate.
    for id in ["mno-a", "mno-b", "mallory"] {
        lab.must(&["pki", "issue-tls", "--pki", "pki", "--id", id]);
    }
    lab.must(&["pki", "init", "--out", "pki-other"]);
    lab.must(&[
        "pki",
        "issue-tls",
        "--pki",
        "pki-other",
        "--id",
        "mno-b",
        "--out",
        "foreign-mno-b",
    ]);
    // The servers again, now with TLS everywhere.
    for p in [lab.smsr.take(), lab.smdp.take()].into_iter().flatten() {
        let mut p = p;
        p.terminate();
    }
    std::fs::write(lab.path().join("esim.toml"), tls_config(&lab)).expect("esim.toml");
    lab.start_smsr();
    lab.start_smdp();
    for p in [&mut lab.smsr, &mut lab.smdp].into_iter().flatten() {
        let v = p.wait_json();
        assert_eq!(v["tls"], true, "{v}");
    }
    let sr = format!("https://127.0.0.1:{}", lab.sr_port);
    let dp = format!("https://localhost:{}", lab.dp_port);

    // ES4.GetEIS over JSON over HTTPS with the bootstrap owner's certificate.
    let o = mno(
        &lab,
        &sr,
        "json",
        "mno-a",
        Some("pki/operators/mno-a"),
        &["es4", "get-eis", "--eid", &eid],
    );
    assert!(o.success(), "ES4.GetEIS over mTLS:\n{o}\n{}", lab.logs());
    assert_eq!(
        o.json().pointer("/Body/Eis/EumSignedInfo/Eid"),
        Some(&Value::from(eid.as_str())),
        "{o}"
    );

    // Handshake garbage and plain HTTP on both TLS ports: no HTTP answer, servers still up.
    for port in [lab.sr_port, lab.dp_port] {
        let mut random = vec![0u8; 2048];
        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(port);
        for b in &mut random {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        for input in [
            random,
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01],
        ] {
            let back = garbage(port, &input);
            assert!(!back.starts_with(b"HTTP/"), "plain answer on {port}");
        }
    }
    let plain = mno(
        &lab,
        &sr.replace("https", "http"),
        "json",
        "mno-a",
        Some("pki/operators/mno-a"),
        &["es4", "get-eis", "--eid", &eid],
    );
    assert!(!plain.success(), "plain HTTP to the TLS port:\n{plain}");

    // Refusals at the SM-DP, in both bindings.
    for binding in ["json", "soap"] {
        let args = ["get-eis", "--eid", eid.as_str(), "--smsr-id", SMSR_ID];
        // No client certificate: the handshake fails.
        let o = mno(&lab, &dp, binding, "mno-b", None, &args);
        assert!(!o.success(), "{binding} without a client certificate:\n{o}");
        assert!(o.stderr.contains("transport"), "{o}");
        // A certificate of another CA: the handshake fails.
        let o = mno(&lab, &dp, binding, "mno-b", Some("foreign-mno-b"), &args);
        assert!(!o.success(), "{binding} with a foreign certificate:\n{o}");
        assert!(o.stderr.contains("transport"), "{o}");
        // mallory's valid certificate with mno-b's token: 403 Forbidden.
        let o = mno(
            &lab,
            &dp,
            binding,
            "mno-b",
            Some("pki/operators/mallory"),
            &args,
        );
        assert!(!o.success(), "{binding} with mallory's certificate:\n{o}");
        assert!(
            o.stderr.contains("(403)")
                && o.stderr.contains("Forbidden")
                && o.stderr.contains("CN=mallory"),
            "{binding}: {o}"
        );
    }

    // ES2.DownloadProfile over SOAP over HTTPS: SM-DP → SM-SR ES3 over SOAP/mTLS, ES5 to
    // the card.
    let o = mno(
        &lab,
        &dp,
        "soap",
        "mno-b",
        Some("pki/operators/mno-b"),
        &[
            "download",
            "--eid",
            &eid,
            "--smsr-id",
            SMSR_ID,
            "--profile-type",
            "demo-b",
        ],
    );
    assert!(
        o.success(),
        "DownloadProfile over SOAP/mTLS:\n{o}\n{}",
        lab.logs()
    );
    let iccid = o
        .json()
        .pointer("/Body/Iccid")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no Body.Iccid in {o}"))
        .to_string();
    assert!(
        lab.card(&eid).values().any(|p| p.iccid == iccid),
        "card {:?}",
        lab.card(&eid)
    );

    // ES2.GetEIS over JSON over HTTPS shows mno-b's new Profile.
    let o = mno(
        &lab,
        &dp,
        "json",
        "mno-b",
        Some("pki/operators/mno-b"),
        &["get-eis", "--eid", &eid, "--smsr-id", SMSR_ID],
    );
    assert!(o.success(), "ES2.GetEIS over mTLS:\n{o}\n{}", lab.logs());
    let listed = o
        .json()
        .pointer("/Body/Eis/ProfileInfo")
        .and_then(Value::as_array)
        .is_some_and(|ps| ps.iter().any(|p| p["Iccid"] == iccid.as_str()));
    assert!(listed, "EIS without {iccid}:\n{o}");

    // ES4.MasterDelete over SOAP over HTTPS at the SM-SR, which asks the SM-DP for the delete
    // token (ES3.GetDeleteToken) over JSON over mutual TLS.
    let o = mno(
        &lab,
        &sr,
        "soap",
        "mno-b",
        Some("pki/operators/mno-b"),
        &["es4", "master-delete", "--eid", &eid, "--iccid", &iccid],
    );
    assert!(
        o.success(),
        "ES4.MasterDelete over SOAP/mTLS:\n{o}\n{}",
        lab.logs()
    );
    assert!(
        !lab.card(&eid).values().any(|p| p.iccid == iccid),
        "card {:?}",
        lab.card(&eid)
    );

    // Who called whom, over which binding, as the servers logged it.
    let log = |name: &str| {
        std::fs::read_to_string(lab.path().join("logs").join(format!("{name}.err")))
            .unwrap_or_default()
    };
    let (smsr_log, smdp_log) = (log("smsr"), log("smdp"));
    assert!(
        smsr_log
            .lines()
            .any(|l| l.contains("SOAP function call") && l.contains("ES3.") && l.contains(SMDP_ID)),
        "no ES3 SOAP call from the SM-DP in the SM-SR's log\n{}",
        lab.logs()
    );
    // The SM-SR's notification of the deletion reaches the SM-DP over SOAP over mutual TLS
    // (`callback_binding = "soap"`), sent in the background: waited for (bounded).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !log("smdp").lines().any(|l| {
        l.contains("SOAP function call")
            && l.contains("ES3.HandleProfileDeletedNotification")
            && l.contains(SMSR_ID)
            && l.contains("status=200")
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "no SOAP HandleProfileDeletedNotification from the SM-SR at the SM-DP\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        smdp_log.lines().any(|l| l.contains("ES3.GetDeleteToken")
            && l.contains(SMSR_ID)
            && l.contains("status=200")),
        "no ES3.GetDeleteToken from the SM-SR in the SM-DP's log\n{}",
        lab.logs()
    );
}

/// `esim pki init --operator` and `esim pki issue-tls`: the files, their modes, the errors.
#[test]
fn pki_issues_tls_identities() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let o = e2e::run_in(d, &["pki", "init", "--out", "pki", "--operator", "op1"]);
    assert!(o.success(), "{o}");
    for f in ["tls-cert.pem", "tls-key.pem", "ca-cert.pem", "id.txt"] {
        assert!(d.join("pki/operators/op1").join(f).exists(), "{f}");
    }
    let o = e2e::run_in(
        d,
        &[
            "--json",
            "pki",
            "issue-tls",
            "--pki",
            "pki",
            "--id",
            "srv",
            "--server",
            "--ip",
            "10.1.2.3",
            "--out",
            "srv",
        ],
    );
    assert!(o.success(), "{o}");
    let dns = o.json()["cert"]["dnsNames"].clone();
    assert_eq!(dns, serde_json::json!(["localhost", "srv"]), "{o}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["pki/operators/op1/tls-key.pem", "srv/tls-key.pem"] {
            let mode = std::fs::metadata(d.join(f))
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f} is readable by others: {mode:o}");
        }
    }
    // No PKI there: an error naming the problem, no panic.
    let o = e2e::run_in(d, &["pki", "issue-tls", "--pki", "nowhere", "--id", "x"]);
    assert!(!o.success() && o.stderr.contains("TLS CA"), "{o}");
    // A server whose key is not its certificate's refuses to start, naming [smdp.tls].
    let port = e2e::free_port();
    std::fs::write(
        d.join("esim.toml"),
        format!(
            "pki = \"pki\"\n[store]\nsmdp = \"sqlite:smdp.db\"\n\
             master_key = \"000102030405060708090A0B0C0D0E0F\"\n[smdp]\n\
             api_listen = \"127.0.0.1:{port}\"\n[smdp.tls]\ncert = \"pki/smdp/tls-cert.pem\"\n\
             key = \"file:pki/smsr/tls-key.pem\"\n"
        ),
    )
    .expect("esim.toml");
    let o = e2e::run_in(d, &["smdp", "-c", "esim.toml"]);
    assert!(
        !o.success() && o.stderr.contains("[smdp.tls]") && o.stderr.contains("private key"),
        "{o}"
    );
}
