//! Interoperability with an independent SMSC: a server written with the npm `smpp` package
//! (node). Our ESME binds, submits a binary SMS (UDHI, PID 7F, DCS F6, UDH IEI 70), receives
//! the server's `deliver_sm` echo and unbinds. Runs only where node can load the module
//! (`$ESIM_NPM_SMPP`, a path to the module directory, or `smpp` on node's search path);
//! otherwise it prints that it skips.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use esim_smpp::{Address, Esme, EsmeConfig, Password, Sms};
use tokio::sync::mpsc;
use tokio::time::timeout;

const SCRIPT: &str = r#"
const smpp = require(process.env.SMPP_MODULE);
// Keep short_message as raw bytes (the package would otherwise decode text by data_coding).
smpp.filters.message.decode = function (v) { return v; };
setTimeout(() => process.exit(2), 30000).unref();
const server = smpp.createServer({}, session => {
  session.on('bind_transceiver', pdu => {
    console.log('BIND', pdu.system_id, pdu.interface_version, pdu.address_range);
    session.send(pdu.response({ system_id: 'npm-smsc' }));
  });
  session.on('enquire_link', pdu => session.send(pdu.response()));
  session.on('submit_sm', pdu => {
    console.log('SUBMIT', pdu.esm_class, pdu.protocol_id, pdu.data_coding, pdu.destination_addr,
                Buffer.from(pdu.short_message).toString('hex'));
    session.send(pdu.response({ message_id: 'npm-1' }));
    session.deliver_sm({
      source_addr_ton: 1, source_addr_npi: 1, source_addr: pdu.destination_addr,
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: pdu.source_addr,
      esm_class: pdu.esm_class, protocol_id: pdu.protocol_id, data_coding: pdu.data_coding,
      short_message: pdu.short_message,
    }, resp => console.log('DELIVER_RESP', resp.command_status));
  });
  session.on('unbind', pdu => {
    console.log('UNBIND');
    session.send(pdu.response());
    session.close();
    server.close();
  });
});
server.listen(0, '127.0.0.1', () => console.log('PORT', server.address().port));
"#;

fn module() -> Option<String> {
    let module = std::env::var("ESIM_NPM_SMPP").unwrap_or_else(|_| "smpp".into());
    let ok = Command::new("node")
        .args(["-e", "require(process.env.SMPP_MODULE)"])
        .env("SMPP_MODULE", &module)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(module)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_esme_against_npm_smpp_server() {
    let Some(module) = module() else {
        println!(
            "SKIP npm smpp interop: node or the `smpp` module is not available (set ESIM_NPM_SMPP)"
        );
        return;
    };
    timeout(Duration::from_secs(60), async {
        let mut child = Command::new("node")
            .args(["-e", SCRIPT])
            .env("SMPP_MODULE", &module)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, mut lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let port_line = timeout(Duration::from_secs(10), lines.recv())
            .await
            .unwrap()
            .unwrap();
        let port: u16 = port_line.strip_prefix("PORT ").unwrap().parse().unwrap();

        let mut cfg = EsmeConfig::new(format!("127.0.0.1:{port}"), "smsr", Password::new("pw"));
        cfg.address_range = Address::international("12345");
        let (h, mut incoming) = Esme::connect(cfg).await.expect("bind to npm smpp server");
        let mt = Sms::sim_data_download(
            Address::international("12345"),
            Address::international("447700900001"),
            vec![
                0x02, 0x70, 0x00, 0x00, 0x10, 0x0D, 0x16, 0x21, 0x25, 0x25, 0xB0, 0x00, 0x10, 0,
                0xFF, 0x7F,
            ],
        );
        assert_eq!(h.submit(&mt).await.unwrap(), "npm-1");
        let echo = timeout(Duration::from_secs(10), incoming.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(echo.user_data, mt.user_data);
        assert_eq!(
            (echo.esm_class, echo.protocol_id, echo.data_coding),
            (0x40, 0x7F, 0xF6)
        );
        assert_eq!(echo.destination.address, "12345");
        h.shutdown().await.expect("unbind");

        let mut seen = Vec::new();
        while let Ok(Some(line)) = timeout(Duration::from_secs(10), lines.recv()).await {
            seen.push(line);
        }
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        println!("npm smpp server said:\n{}", seen.join("\n"));
        assert!(status.success(), "node exited with {status}");
        assert!(seen.contains(&"BIND smsr 52 12345".to_string()), "{seen:?}");
        let hex: String = mt.user_data.iter().map(|b| format!("{b:02x}")).collect();
        let submit = format!("SUBMIT 64 127 246 447700900001 {hex}");
        assert!(seen.contains(&submit), "{seen:?}");
        assert!(seen.contains(&"DELIVER_RESP 0".to_string()), "{seen:?}");
        assert!(seen.contains(&"UNBIND".to_string()), "{seen:?}");
    })
    .await
    .expect("interop test within time limit");
}
