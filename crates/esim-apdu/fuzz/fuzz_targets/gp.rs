#![no_main]
//! GlobalPlatform and SGP.02 parsers: no panic; what parses re-parses from its encoding.
use esim_apdu::apdu::CommandApdu;
use esim_apdu::gp::delete::Delete;
use esim_apdu::gp::get_data::{CardResources, GetData};
use esim_apdu::gp::install::{CreateIsdp, Install};
use esim_apdu::gp::sgp02::{Es5Command, Notification, NotificationConfirmationResponse};
use esim_apdu::gp::status::{self, GetStatus, SetStatus};
use esim_apdu::gp::store_data::{Reassembler, Reassembly};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = CommandApdu::decode(data) {
        if let Ok(i) = Install::parse(&cmd) {
            assert_eq!(Install::parse(&i.to_command().unwrap()).unwrap(), i);
            if let Install::ForInstall(f) = &i {
                let _ = CreateIsdp::from_install(f);
            }
        }
        if let Ok(d) = Delete::parse(&cmd) {
            assert_eq!(Delete::parse(&d.to_command()).unwrap(), d);
        }
        if let Ok(g) = GetStatus::parse(&cmd) {
            assert_eq!(GetStatus::parse(&g.to_command()).unwrap(), g);
        }
        if let Ok(s) = SetStatus::parse(&cmd) {
            assert_eq!(SetStatus::parse(&s.to_command()).unwrap(), s);
        }
        if let Ok(g) = GetData::parse(&cmd) {
            assert_eq!(GetData::parse(&g.to_command()).unwrap(), g);
        }
    }
    // STORE DATA chains: the input cut into commands.
    let mut r = Reassembler::new(4096);
    for chunk in data.chunks(9) {
        let Ok(cmd) = CommandApdu::decode(chunk) else {
            break;
        };
        match r.handle(&cmd) {
            Ok(Reassembly::More(n)) => r = n,
            _ => break,
        }
    }
    if let Ok(e) = status::parse_entries(data) {
        assert_eq!(
            status::parse_entries(&status::encode_entries(&e)).unwrap(),
            e
        );
    }
    if let Ok(c) = CardResources::decode(data) {
        assert_eq!(CardResources::decode(&c.encode()).unwrap(), c);
    }
    if let Ok(e) = Es5Command::decode(data) {
        assert_eq!(Es5Command::decode(&e.encode()).unwrap(), e);
    }
    if let Ok(n) = NotificationConfirmationResponse::decode(data) {
        assert_eq!(
            NotificationConfirmationResponse::decode(&n.encode()).unwrap(),
            n
        );
    }
    if let Ok(n) = Notification::decode(data) {
        assert_eq!(Notification::decode(&n.encode()).unwrap(), n);
    }
});
