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
    let aid = params.isdp_aid.clone();
    select_isd_r(card);
    let (state, out) = AwaitingIsdpCreated::start(params).unwrap();
    let Outgoing::CreateIsdp(cmd) = out else {
        panic!("first message is CreateISDP")
    };
    let r = apdu(card, &cmd);
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

fn params_for(
    pki: &TestPki,
    issued: &IssuedEuicc,
    tar: u8,
    package: Vec<u8>,
    iccid: Iccid,
) -> DownloadParams {
    DownloadParams {
        isdp_aid: Aid::isd_p(Tar([0x00, 0x00, tar])),
        iccid,
        signing_key: pki.smdp.key.clone(),
        certificate: pki.smdp.cert.clone(),
        ecasd_key: issued.ecasd_cert.public_key().clone(),
        package: package.into(),
        config: Config::default(),
    }
}

fn failure(end: Next) -> esim_proto::StatusCodeData {
    let Next::Failed(f) = end else {
        panic!("expected Failed, got {end:?}")
    };
    assert_eq!(f.reason.status, Status::Failed);
    f.reason.status_code_data.expect("status code data")
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
        package: pkg.clone().into(),
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
        package: pkg.into(),
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

/// The length of the first BER TLV of `b` (the ProfileHeader PE).
fn first_tlv_len(b: &[u8]) -> usize {
    let (hdr, len) = match b[1] {
        l if l < 0x80 => (2, usize::from(l)),
        0x81 => (3, usize::from(b[2])),
        0x82 => (4, usize::from(u16::from_be_bytes([b[2], b[3]]))),
        _ => panic!("unexpected length form"),
    };
    hdr + len
}

#[test]
fn profile_refused_by_the_card_is_cleaned_up() {
    let (pki, _, issued) = pkis();
    let mut card = new_card(&issued);
    let (pkg, iccid) = package();
    // A second ProfileHeader PE in place of the second PE: the card aborts the installation.
    let n = first_tlv_len(&pkg);
    let mut bad = pkg[..n].to_vec();
    bad.extend_from_slice(&pkg);
    let (end, trace) = run(
        &mut card,
        params_for(&pki, &issued, 0x12, bad, iccid.clone()),
    );
    assert_eq!(trace.last(), Some(&"DeleteIsdp"), "{end:?}");
    let d = failure(end);
    assert_eq!(d.subject_code, subject::PROFILE);
    assert_eq!(d.reason_code, reason::EXECUTION_ERROR);
    assert_eq!(
        d.subject_identifier.as_deref(),
        Some(iccid.to_string().as_str())
    );
    assert!(d.message.unwrap().starts_with("EUICCResponse"));
    assert!(card.registry().isdps().is_empty());
}

#[test]
fn truncated_package_without_euicc_response_is_cleaned_up() {
    let (pki, _, issued) = pkis();
    let mut card = new_card(&issued);
    let (pkg, iccid) = package();
    let half = pkg[..pkg.len() / 2].to_vec();
    let (end, trace) = run(&mut card, params_for(&pki, &issued, 0x12, half, iccid));
    assert_eq!(trace.last(), Some(&"DeleteIsdp"), "{end:?}");
    let d = failure(end);
    assert!(d.message.unwrap().contains("no EUICCResponse"));
    assert!(card.registry().isdps().is_empty());
}

#[test]
fn create_isdp_refused_ends_without_clean_up() {
    let (pki, _, issued) = pkis();
    let mut card = new_card(&issued);
    let (pkg, iccid) = package();
    let mut p = params_for(&pki, &issued, 0x11, pkg, iccid);
    p.config.required_memory = Some(1_000_000);
    let (end, trace) = run(&mut card, p);
    assert_eq!(trace, ["CreateIsdp"]);
    let d = failure(end);
    assert_eq!(d.subject_code, subject::ISD_P);
    assert!(d.message.unwrap().contains("6A84"));
    assert!(card.registry().isdps().is_empty());
}

#[test]
fn garbage_from_the_card_cleans_up_at_every_step() {
    let (pki, _, issued) = pkis();
    let (pkg, iccid) = package();
    // Corrupt the answer of step `k` (0 = message 1, 1 = message 2, 2 = `84`, 3 = first chunk).
    for k in 0..4 {
        let mut card = new_card(&issued);
        select_isd_r(&mut card);
        let p = params_for(&pki, &issued, 0x11, pkg.clone(), iccid.clone());
        let aid = p.isdp_aid.clone();
        let (s, out) = AwaitingIsdpCreated::start(p).unwrap();
        let Outgoing::CreateIsdp(cmd) = out else {
            panic!()
        };
        let r = apdu(&mut card, &cmd);
        let mut next = s.handle(&aid, &r).unwrap();
        let garbage = ResponseApdu::new(vec![0x85, 0x05, 1], 0x9000u16);
        for step in 0.. {
            let corrupt = step == k;
            next = match next {
                Next::AwaitingChallenge(s, Outgoing::IsdRApdus(cmds)) => {
                    let mut rs: Vec<_> = cmds.iter().map(|c| apdu(&mut card, c)).collect();
                    if corrupt {
                        *rs.last_mut().unwrap() = garbage.clone();
                    }
                    s.handle(&rs).unwrap()
                }
                Next::AwaitingReceipt(s, Outgoing::IsdRApdus(cmds)) => {
                    let mut rs: Vec<_> = cmds.iter().map(|c| apdu(&mut card, c)).collect();
                    if corrupt {
                        rs[0].data[2] ^= 1;
                    }
                    s.handle(&rs).unwrap()
                }
                Next::AwaitingInitUpdate(s, Outgoing::IsdPData { isdp_aid, data }) => {
                    let mut r = card.admin_script(Some(&isdp_aid), &data).response;
                    if corrupt {
                        let n = r.len();
                        r[n - 1] ^= 1;
                    }
                    s.handle(&r).unwrap()
                }
                Next::Downloading(s, Outgoing::IsdPData { isdp_aid, data }) => {
                    let r = card.admin_script(Some(&isdp_aid), &data).response;
                    s.handle(if corrupt { &[0x86, 0x00][..] } else { &r })
                        .unwrap()
                }
                Next::CleaningUp(s, Outgoing::DeleteIsdp(cmd)) => {
                    assert!(step > k, "clean-up before the corrupted step {k}");
                    s.handle(&apdu(&mut card, &cmd)).unwrap()
                }
                Next::Failed(f) => {
                    let d = f.reason.status_code_data.unwrap();
                    assert!(!d.message.unwrap_or_default().is_empty());
                    break;
                }
                other => panic!("step {k}: unexpected {other:?}"),
            };
        }
        assert!(card.registry().isdps().is_empty(), "step {k}");
    }
}

#[test]
fn chunk_size_below_one_segment_is_refused() {
    let (pki, _, issued) = pkis();
    let (pkg, iccid) = package();
    let mut p = params_for(&pki, &issued, 0x11, pkg, iccid);
    p.config.chunk_size = p.config.segment_size;
    assert!(AwaitingIsdpCreated::start(p).is_err());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        /// Arbitrary bytes from the card at the SCP03t steps end in clean-up, never a panic.
        #[test]
        fn arbitrary_isdp_answers_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            at_init_update in any::<bool>(),
        ) {
            let f = fixture();
            let mut card = new_card(&f.2);
            select_isd_r(&mut card);
            let (pkg, iccid) = package();
            let p = params_for(&f.0, &f.2, 0x11, pkg, iccid);
            let aid = p.isdp_aid.clone();
            let (s, out) = AwaitingIsdpCreated::start(p).unwrap();
            let Outgoing::CreateIsdp(cmd) = out else { panic!() };
            let r = apdu(&mut card, &cmd);
            let mut next = s.handle(&aid, &r).unwrap();
            loop {
                next = match next {
                    Next::AwaitingChallenge(s, Outgoing::IsdRApdus(cmds)) => {
                        let rs: Vec<_> = cmds.iter().map(|c| apdu(&mut card, c)).collect();
                        s.handle(&rs).unwrap()
                    }
                    Next::AwaitingReceipt(s, Outgoing::IsdRApdus(cmds)) => {
                        let rs: Vec<_> = cmds.iter().map(|c| apdu(&mut card, c)).collect();
                        s.handle(&rs).unwrap()
                    }
                    Next::AwaitingInitUpdate(s, Outgoing::IsdPData { isdp_aid, data }) => {
                        if at_init_update {
                            s.handle(&bytes).unwrap()
                        } else {
                            s.handle(&card.admin_script(Some(&isdp_aid), &data).response).unwrap()
                        }
                    }
                    Next::Downloading(s, Outgoing::IsdPData { .. }) => s.handle(&bytes).unwrap(),
                    Next::CleaningUp(s, Outgoing::DeleteIsdp(cmd)) => s.handle(&apdu(&mut card, &cmd)).unwrap(),
                    Next::Failed(_) => break,
                    other => panic!("unexpected {other:?}"),
                };
            }
            prop_assert!(card.registry().isdps().is_empty());
        }
    }

    fn fixture() -> &'static (TestPki, TestPki, IssuedEuicc) {
        static F: std::sync::OnceLock<(TestPki, TestPki, IssuedEuicc)> = std::sync::OnceLock::new();
        F.get_or_init(pkis)
    }
}
