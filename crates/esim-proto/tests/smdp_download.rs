//! The SM-DP download machine (digest §3.1, §3.2) driven end to end against the software eUICC.

use esim_apdu::apdu::{CommandApdu, ResponseApdu};
use esim_codec::{Aid, Iccid, Tar};
use esim_crypto::cert::Date;
use esim_crypto::pki::{self, EuiccParams, IssuedEuicc, PkiParams, TestPki};
use esim_euicc::card::{CardConfig, Euicc};
use esim_euicc::registry::LifeCycle;
use esim_proto::Status;
use esim_proto::codes::{reason, subject};
use esim_proto::smdp::{AwaitingIsdpCreated, Config, DownloadParams, Next, Outgoing};

fn pkis() -> (TestPki, TestPki, IssuedEuicc) {
    let params = PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap());
    let pki = TestPki::generate(&params).unwrap();
    let other = TestPki::generate(&params).unwrap();
    let eid = pki::eid_from_prefix("8904903200", 7).unwrap();
    let p = EuiccParams::test_defaults(eid, Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
    let issued = pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap();
    (pki, other, issued)
}

fn new_card(issued: &IssuedEuicc) -> Euicc {
    Euicc::new(
        issued,
        CardConfig {
            memory_capacity: 200_000,
            default_isdp_quota: 40_000,
        },
    )
}

fn apdu(card: &mut Euicc, cmd: &CommandApdu) -> ResponseApdu {
    ResponseApdu::decode(&card.process_apdu(&cmd.encode().unwrap())).unwrap()
}

fn select_isd_r(card: &mut Euicc) {
    let sel = CommandApdu::new(0x00, 0xA4, 0x04, 0x00)
        .with_data(Aid::isd_r().as_bytes().to_vec())
        .with_le(256);
    assert_eq!(apdu(card, &sel).sw.to_u16(), 0x9000);
}

/// A TS.48 package from the vectors and its ICCID (read from the header).
fn package() -> (Vec<u8>, Iccid) {
    let path = esim_vectors::saip_files()
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "TS48V1-A-UNIQUE.der"))
        .expect("TS48V1-A-UNIQUE.der in the vectors");
    let bytes = std::fs::read(path).unwrap();
    let pp = esim_saip::ProfilePackage::decode(&bytes).unwrap();
    let iccid = esim_saip::access::iccid_from_header_bcd(&pp.header().unwrap().iccid).unwrap();
    (bytes, iccid)
}

/// Runs the machine against the card, returning the final state and the list of outgoing kinds.
fn run(card: &mut Euicc, params: DownloadParams) -> (Next, Vec<&'static str>) {
    select_isd_r(card);
    let (state, out) = AwaitingIsdpCreated::start(params).unwrap();
    let Outgoing::CreateIsdp(cmd) = out else {
        panic!("first message is CreateISDP")
    };
    let r = apdu(card, &cmd);
    let aid = Aid::isd_p(Tar([0x00, 0x00, 0x11]));
    let mut next = state.handle(&aid, &r).unwrap();
    let mut trace = vec!["CreateIsdp"];
    loop {
        next = match next {
            Next::AwaitingChallenge(s, Outgoing::IsdRApdus(cmds)) => {
                trace.push("SendData#1");
                let rs: Vec<_> = cmds.iter().map(|c| apdu(card, c)).collect();
                s.handle(&rs).unwrap()
            }
            Next::AwaitingReceipt(s, Outgoing::IsdRApdus(cmds)) => {
                trace.push("SendData#2");
                let rs: Vec<_> = cmds.iter().map(|c| apdu(card, c)).collect();
                s.handle(&rs).unwrap()
            }
            Next::AwaitingInitUpdate(s, Outgoing::IsdPData { isdp_aid, data }) => {
                trace.push("84");
                s.handle(&card.admin_script(Some(&isdp_aid), &data).response)
                    .unwrap()
            }
            Next::Downloading(s, Outgoing::IsdPData { isdp_aid, data }) => {
                trace.push("chunk");
                s.handle(&card.admin_script(Some(&isdp_aid), &data).response)
                    .unwrap()
            }
            Next::CleaningUp(s, Outgoing::DeleteIsdp(cmd)) => {
                trace.push("DeleteIsdp");
                s.handle(&apdu(card, &cmd)).unwrap()
            }
            done @ (Next::Completed(_) | Next::Failed(_)) => return (done, trace),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn download_installs_the_ts48_profile() {
    let (pki, _, issued) = pkis();
    let mut card = new_card(&issued);
    let (pkg, iccid) = package();
    let aid = Aid::isd_p(Tar([0x00, 0x00, 0x11]));
    let params = DownloadParams {
        isdp_aid: aid.clone(),
        iccid: iccid.clone(),
        signing_key: pki.smdp.key.clone(),
        certificate: pki.smdp.cert.clone(),
        ecasd_key: issued.ecasd_cert.public_key().clone(),
        package: pkg.clone(),
        config: Config {
            required_memory: Some(30_000),
            segment_size: 512,
            chunk_size: 2048,
            ..Config::default()
        },
    };
    let (end, trace) = run(&mut card, params);
    let Next::Completed(c) = end else {
        panic!("download did not complete: {end:?}")
    };
    assert_eq!(c.iccid, iccid);
    assert_eq!(c.isdp_aid, aid);
    assert!(c.euicc_response.profile_installation_aborted.is_none());
    assert!(!c.euicc_response.pe_status.is_empty());
    let isdp = card.registry().get(&aid).expect("ISD-P present");
    assert_eq!(isdp.state, LifeCycle::Disabled);
    assert_eq!(isdp.iccid.as_ref(), Some(&iccid));
    // 85 first, then several chunks of at most 2048 bytes of `86` TLVs.
    let chunks = trace.iter().filter(|t| **t == "chunk").count();
    assert!(chunks > 1 + pkg.len() / 2048, "{trace:?}");
    assert!(!trace.contains(&"DeleteIsdp"));
}

#[test]
fn certificate_from_another_ci_cleans_up() {
    let (_, other, issued) = pkis();
    let mut card = new_card(&issued);
    let (pkg, iccid) = package();
    let aid = Aid::isd_p(Tar([0x00, 0x00, 0x11]));
    let params = DownloadParams {
        isdp_aid: aid.clone(),
        iccid,
        signing_key: other.smdp.key.clone(),
        certificate: other.smdp.cert.clone(),
        ecasd_key: issued.ecasd_cert.public_key().clone(),
        package: pkg,
        config: Config::default(),
    };
    let (end, trace) = run(&mut card, params);
    let Next::Failed(f) = end else {
        panic!("expected Failed, got {end:?}")
    };
    assert_eq!(trace, ["CreateIsdp", "SendData#1", "DeleteIsdp"]);
    assert_eq!(f.reason.status, Status::Failed);
    let d = f.reason.status_code_data.unwrap();
    assert_eq!(d.subject_code, subject::SM_DP);
    assert_eq!(d.reason_code, reason::VERIFICATION_FAILED);
    assert!(d.message.unwrap().contains("6982"));
    assert!(card.registry().get(&aid).is_none());
    assert!(card.registry().isdps().is_empty());
}
