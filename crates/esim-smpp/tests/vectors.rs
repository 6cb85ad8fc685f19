//! The SCP80 known-answer vectors (`../shared/vectors/scp80.json`) as SMS traffic: every
//! command packet (`sms_user_data`, UDH `02 70 00`) goes SM-SR → device and every PoR
//! (UDH `02 71 00`) device → SM-SR through the SMSC simulator, byte-exact; where a vector gives
//! the full SMS-DELIVER TPDU, the fields we carry in SMPP (TP-UDHI ⇔ `esm_class` `0x40`,
//! TP-PID, TP-DCS, TP-UD) match it.

use std::time::Duration;

use esim_smpp::{Address, Esme, EsmeConfig, Password, Sms, Smsc, SmscConfig};
use esim_vectors::{hex_field, json};
use tokio::net::TcpListener;
use tokio::time::timeout;

const SMSR: &str = "12345";
const DEVICE: &str = "447700900001";

/// TP-UDHI, TP-PID, TP-DCS, TP-UDL and TP-UD of an SMS-DELIVER TPDU (3GPP TS 23.040 §9.2.2.1).
fn parse_deliver(tpdu: &[u8]) -> (bool, u8, u8, usize, &[u8]) {
    let first = tpdu[0];
    assert_eq!(first & 0x03, 0x00, "SMS-DELIVER");
    let oa_digits = usize::from(tpdu[1]);
    let mut i = 2 + 1 + oa_digits.div_ceil(2); // length, TOA, BCD digits
    let pid = tpdu[i];
    let dcs = tpdu[i + 1];
    i += 2 + 7; // TP-SCTS
    let udl = usize::from(tpdu[i]);
    (first & 0x40 != 0, pid, dcs, udl, &tpdu[i + 1..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scp80_vectors_travel_byte_exact() {
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
        let connect = |id: &str, range: &str| {
            let mut c = EsmeConfig::new(addr.to_string(), id, Password::new("pw"));
            c.address_range = Address::international(range);
            Esme::connect(c)
        };
        let (smsr, mut smsr_in) = connect("smsr", SMSR).await.unwrap();
        let (dev, mut dev_in) = connect("device", DEVICE).await.unwrap();

        let vectors = json("scp80.json");
        let cases = vectors["cases"].as_array().expect("cases");
        let (mut commands, mut pors, mut tpdus) = (0, 0, 0);
        for case in cases {
            let name = case["name"].as_str().unwrap_or("?");
            let (ud, from, to, sender, inbox) = match case["kind"].as_str() {
                Some("command") => {
                    commands += 1;
                    (
                        hex_field(case, "sms_user_data"),
                        SMSR,
                        DEVICE,
                        &smsr,
                        &mut dev_in,
                    )
                }
                Some("por") => {
                    pors += 1;
                    (hex_field(case, "por"), DEVICE, SMSR, &dev, &mut smsr_in)
                }
                other => panic!("{name}: unknown kind {other:?}"),
            };
            let iei = if from == SMSR { 0x70 } else { 0x71 };
            assert_eq!(&ud[..3], &[0x02, iei, 0x00], "{name}: UDH");
            let sms = Sms::sim_data_download(
                Address::international(from),
                Address::international(to),
                ud,
            );
            sender
                .submit(&sms)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let got = timeout(Duration::from_secs(10), inbox.recv())
                .await
                .unwrap_or_else(|_| panic!("{name}: not delivered"))
                .unwrap();
            assert_eq!(got, sms, "{name}: byte-exact");
            if case.get("sms_deliver_tpdu").is_some() {
                tpdus += 1;
                let tpdu = hex_field(case, "sms_deliver_tpdu");
                let (udhi, pid, dcs, udl, tp_ud) = parse_deliver(&tpdu);
                assert_eq!(udhi, got.has_udh(), "{name}: UDHI");
                assert_eq!(pid, got.protocol_id, "{name}: TP-PID");
                assert_eq!(dcs, got.data_coding, "{name}: TP-DCS");
                // TP-UDL is not compared: these four vectors carry TP-UDL 0x03 although their
                // TP-UD has 37/45 octets (TS 23.040 §9.2.3.16: for 8-bit data TP-UDL counts the
                // octets of TP-UD, UDH included). The TP-UD itself is compared whole.
                if udl != got.user_data.len() {
                    println!(
                        "note: {name}: vector TP-UDL {udl} != TP-UD length {}",
                        got.user_data.len()
                    );
                }
                assert_eq!(tp_ud, &got.user_data[..], "{name}: TP-UD");
            }
        }
        assert_eq!(
            (commands + pors, tpdus),
            (cases.len(), 4),
            "every case exercised"
        );
        assert!(commands > 0 && pors > 0);
        let _ = stop.send(());
        server.await.unwrap().unwrap();
        let m = smsc.metrics();
        assert_eq!(m.submitted as usize, cases.len());
        assert_eq!(m.session_panics, 0);
    })
    .await
    .expect("within time limit");
}
