//! Interoperability with an independent SMPP implementation: the Python `smpplib` client
//! (PyPI) binds to our SMSC simulator, submits a binary SMS to our ESME and receives one from
//! it. Runs only where `smpplib` is importable by `$ESIM_SMPPLIB_PYTHON` (default `python3`);
//! otherwise it prints that it skips.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use esim_smpp::{Address, Esme, EsmeConfig, Password, Sms, Smsc, SmscConfig};
use tokio::net::TcpListener;
use tokio::time::timeout;

const SCRIPT: &str = r#"
import binascii, signal, sys, warnings
warnings.simplefilter("ignore")
import smpplib.client

signal.alarm(30)
host, port, ud = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
c = smpplib.client.Client(host, port, timeout=10, allow_unknown_opt_params=True)
got, sent = [], []
c.set_message_received_handler(lambda pdu, **kw: got.append(pdu))
c.set_message_sent_handler(lambda pdu, **kw: sent.append(pdu))
c.connect()
c.bind_transceiver(system_id="pyesme", password="pypw", addr_ton=1, addr_npi=1,
                   address_range="447700900009")
c.send_message(source_addr_ton=1, source_addr_npi=1, source_addr="447700900009",
               dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900001",
               short_message=ud, data_coding=0xF6, esm_class=0x40, protocol_id=0x7F)
while not (sent and got):
    c.read_once()
s, p = sent[0], got[0]
mid = s.message_id.decode() if isinstance(s.message_id, bytes) else str(s.message_id)
print("SENT", s.status, mid)
print("GOT", p.esm_class, p.protocol_id, p.data_coding, binascii.hexlify(p.short_message).decode())
r = c.unbind()
print("UNBIND", r.command, r.status)
c.disconnect()
"#;

fn python() -> Option<String> {
    let py = std::env::var("ESIM_SMPPLIB_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import smpplib.client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(py)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpplib_client_against_our_smsc_and_esme() {
    let Some(py) = python() else {
        println!(
            "SKIP smpplib interop: `smpplib` is not importable (pip install smpplib, or set ESIM_SMPPLIB_PYTHON)"
        );
        return;
    };
    timeout(Duration::from_secs(60), async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let smsc = Smsc::new(SmscConfig::default()).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = {
            let smsc = smsc.clone();
            tokio::spawn(async move {
                smsc.run(listener, async {
                    let _ = stopped.await;
                })
                .await
            })
        };
        let mut cfg = EsmeConfig::new(addr.to_string(), "device", Password::new("pw"));
        cfg.address_range = Address::international("447700900001");
        let (dev, mut dev_in) = Esme::connect(cfg).await.unwrap();

        let script = std::env::temp_dir().join(format!("esim-smpplib-{}.py", std::process::id()));
        std::fs::File::create(&script)
            .unwrap()
            .write_all(SCRIPT.as_bytes())
            .unwrap();
        let mo_ud: Vec<u8> = [
            0x02, 0x71, 0x00, 0x00, 0x0B, 0x0A, 0xB0, 0x00, 0x01, 0, 0, 0, 0, 1, 0, 0, 0x90, 0x00,
        ]
        .to_vec();
        let child = Command::new(&py)
            .arg(&script)
            .arg(addr.ip().to_string())
            .arg(addr.port().to_string())
            .arg(mo_ud.iter().map(|b| format!("{b:02x}")).collect::<String>())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = tokio::task::spawn_blocking(move || child.wait_with_output());

        // smpplib -> SMSC -> our ESME: byte-exact, with UDHI / PID 7F / DCS F6.
        let got = timeout(Duration::from_secs(20), dev_in.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.user_data, mo_ud);
        assert_eq!(
            (got.esm_class, got.protocol_id, got.data_coding),
            (0x40, 0x7F, 0xF6)
        );
        assert_eq!(got.source.address, "447700900009");

        // Our ESME -> SMSC -> smpplib.
        let mt = Sms::sim_data_download(
            Address::international("447700900001"),
            Address::international("447700900009"),
            vec![
                0x02, 0x70, 0x00, 0x00, 0x10, 0x0D, 0x16, 0x21, 0x25, 0x25, 0xB0, 0x00, 0x10, 1, 2,
                3,
            ],
        );
        dev.submit(&mt).await.unwrap();

        let out = output.await.unwrap().unwrap();
        let _ = std::fs::remove_file(&script);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "smpplib failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expect_got = format!(
            "GOT 64 127 246 {}",
            mt.user_data
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        assert!(stdout.lines().any(|l| l == expect_got), "{stdout}");
        assert!(stdout.lines().any(|l| l.starts_with("SENT 0 ")), "{stdout}");
        assert!(
            stdout.lines().any(|l| l == "UNBIND unbind_resp 0"),
            "{stdout}"
        );
        println!("smpplib interop passed:\n{stdout}");

        dev.shutdown().await.unwrap();
        let _ = stop.send(());
        server.await.unwrap().unwrap();
        let m = smsc.metrics();
        assert_eq!((m.submitted, m.delivered, m.session_panics), (2, 2, 0));
    })
    .await
    .expect("interop test within time limit");
}
