//! ISD-P: full SCP03t downloads of every TS.48 profile of the shared vectors, and the failure
//! cases (bad MAC, interruption, missing `end`, wrong order, quota, bad values, replay).

use esim_codec::ids::Tar;
use esim_codec::{Aid, Iccid};
use esim_crypto::SecretKey;
use esim_crypto::scp03::StaticKeys;
use esim_crypto::scp03t::{Scp03tHost, Scp03tHostAwaitingInitUpdateResponse, Scp03tResponse};
use esim_euicc::isdp::ppi::PeStatusCode;
use esim_euicc::isdp::{FailureReason, IsdP, IsdpEvent, IsdpOutput};
use esim_saip::{ProfilePackage, asn1};

fn aid() -> Aid {
    Aid::isd_p(Tar([0x00, 0x00, 0x10]))
}

fn random_keys() -> StaticKeys {
    StaticKeys::new(
        0x30,
        SecretKey::random(16).unwrap(),
        SecretKey::random(16).unwrap(),
        SecretKey::random(16).unwrap(),
    )
    .unwrap()
}

/// Small deterministic generator for chunk sizes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Feeds `stream` in random-sized chunks; concatenates the outputs.
fn feed_chunked(isdp: &mut IsdP, stream: &[u8], rng: &mut Rng) -> IsdpOutput {
    let mut out = IsdpOutput::default();
    let mut pos = 0;
    while pos < stream.len() {
        let n = 1 + rng.below(700).min(stream.len() - pos - 1);
        let o = isdp.feed_scp03t(&stream[pos..pos + n]);
        out.response.extend_from_slice(&o.response);
        out.events.extend(o.events);
        pos += n;
    }
    out
}

/// Runs `84` and `85` (each cut into random chunks) and returns the host.
fn open(isdp: &mut IsdP, keys: &StaticKeys, rng: &mut Rng) -> Scp03tHost {
    let (host, cmd) =
        Scp03tHostAwaitingInitUpdateResponse::start_random(keys.clone(), 0x00).unwrap();
    let host = host.expect_sd_aid(isdp.aid().as_bytes());
    let out = feed_chunked(isdp, &cmd, rng);
    assert!(out.events.is_empty());
    let (mut host, cmd) = host.handle(&out.response).expect("84 response accepted");
    let out = feed_chunked(isdp, &cmd, rng);
    assert_eq!(
        host.check_responses(&out.response).unwrap(),
        vec![Scp03tResponse::ExternalAuthenticate]
    );
    host
}

fn personalized(quota: u32) -> (IsdP, StaticKeys) {
    let keys = random_keys();
    let mut isdp = IsdP::new(aid(), quota);
    isdp.personalize(keys.clone()).unwrap();
    (isdp, keys)
}

fn decode_euicc_response(der: &[u8]) -> asn1::EUICCResponse {
    rasn::der::decode::<asn1::EUICCResponse>(der).expect("EUICCResponse DER")
}

fn status(s: &asn1::PEStatus) -> i64 {
    i64::try_from(&s.status).unwrap()
}

fn smallest_profile() -> Vec<u8> {
    std::fs::read(
        esim_vectors::saip_files()
            .into_iter()
            .find(|p| p.file_name().unwrap() == "TS48V1-A-UNIQUE.der")
            .expect("TS48V1-A vector"),
    )
    .unwrap()
}

/// Wraps `package` and feeds the whole segment stream; returns the host's view of the responses
/// (or its error) and the events.
fn download(
    isdp: &mut IsdP,
    keys: &StaticKeys,
    package: &[u8],
    seed: u64,
) -> (
    Result<Vec<Scp03tResponse>, esim_crypto::scp03t::Scp03tError>,
    Vec<IsdpEvent>,
) {
    let mut rng = Rng(seed);
    let mut host = open(isdp, keys, &mut rng);
    let stream: Vec<u8> = host.wrap_profile(package).unwrap().concat();
    let out = feed_chunked(isdp, &stream, &mut rng);
    (host.check_responses(&out.response), out.events)
}

#[test]
fn every_ts48_profile_downloads_and_installs() {
    let files = esim_vectors::saip_files();
    assert!(files.len() >= 36, "expected the 36 TS.48 profiles");
    for (n, path) in files.iter().enumerate() {
        let der = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let pkg = ProfilePackage::decode(&der).unwrap();
        let meta = esim_vectors::json(&format!("saip/{}", name.replace(".der", ".pes.json")));
        let (mut isdp, keys) = personalized(1 << 20);
        let (responses, events) = download(&mut isdp, &keys, &der, 0x9E37_79B9 + n as u64);
        let responses = responses.unwrap_or_else(|e| panic!("{name}: host rejects responses: {e}"));
        let (last, rest) = responses.split_last().unwrap();
        assert!(
            rest.iter()
                .all(|r| *r == Scp03tResponse::Segment(Vec::new())),
            "{name}: intermediate segments answered 86 00"
        );
        let Scp03tResponse::Segment(eur) = last else {
            panic!("{name}: last response not a segment response")
        };
        let eur = decode_euicc_response(eur);
        assert!(eur.profile_installation_aborted.is_none(), "{name}");
        assert_eq!(eur.pe_status.len(), pkg.elements.len(), "{name}");
        assert!(eur.pe_status.iter().all(|s| status(s) == 0), "{name}");

        let profile = isdp
            .installed_profile()
            .unwrap_or_else(|| panic!("{name}: not installed: {events:?}"));
        let iccid = pkg.iccid().unwrap();
        assert_eq!(profile.iccid(), &iccid, "{name}");
        let vec_iccid = meta["header"]["iccid"]
            .as_str()
            .unwrap()
            .to_ascii_uppercase();
        assert_eq!(
            profile.iccid(),
            &Iccid::parse(vec_iccid.trim_end_matches('F')).unwrap(),
            "{name}: ICCID of the .pes.json"
        );
        match pkg.imsi() {
            Ok(imsi) => assert_eq!(profile.imsi(), Some(imsi), "{name}"),
            Err(_) => assert_eq!(profile.imsi(), None, "{name}"),
        }
        assert_eq!(
            profile.ef_iccid().map(<[u8]>::to_vec),
            pkg.ef_iccid(),
            "{name}: EF.ICCID"
        );
        assert_eq!(profile.memory_used() as usize, der.len(), "{name}");
        assert_eq!(isdp.memory_used() as usize, der.len(), "{name}");
        assert_eq!(
            profile.connectivity_parameters(),
            pkg.connectivity_parameters()
        );
        // NAA, PINs and MNO-SD keys as in the package.
        let aka = pkg.aka_parameters();
        assert_eq!(profile.aka_parameters().len(), aka.len(), "{name}");
        for (a, b) in profile.aka_parameters().iter().zip(&aka) {
            assert_eq!(Some(a.ki.expose()), b.ki().or(Some(&[][..])), "{name}");
        }
        assert_eq!(profile.pins().len(), pkg.pins().len(), "{name}");
        let sds = pkg.security_domains();
        if let Some(sd) = sds.first() {
            let mno = profile.mno_sd_keys().unwrap();
            assert_eq!(mno.instance_aid, sd.instance_aid(), "{name}");
            assert_eq!(mno.keys.len(), sd.keys().len(), "{name}");
        }
        match &events[..] {
            [
                IsdpEvent::InstallationComplete {
                    iccid: i,
                    memory_used,
                    ..
                },
            ] => {
                assert_eq!(i, &iccid);
                assert_eq!(*memory_used as usize, der.len());
            }
            other => panic!("{name}: events {other:?}"),
        }
        // The MF and its EF.ICCID exist with their FCP-derived structure.
        let mf = profile.read_file(&[0x3F00]).unwrap();
        assert!(mf.kind.is_directory());
        // A second download into the same ISD-P is refused.
        let out = isdp.feed_scp03t(&[0x84, 0x0A]);
        assert_eq!(out.response, vec![0x9F, 0x84, 0x02, 0x69, 0x85]);
    }
}

#[test]
fn usim_files_are_readable_by_path() {
    let der = smallest_profile();
    let (mut isdp, keys) = personalized(1 << 20);
    let (r, _) = download(&mut isdp, &keys, &der, 7);
    r.unwrap();
    let p = isdp.installed_profile().unwrap();
    let adf = p.usim_adf().unwrap().to_vec();
    let mut imsi_path = adf.clone();
    imsi_path.push(0x6F07);
    let f = p.read_file(&imsi_path).unwrap();
    assert_eq!(f.size, 9);
    assert_eq!(
        esim_codec::Imsi::from_ef_imsi(&f.content).unwrap(),
        ProfilePackage::decode(&der).unwrap().imsi().unwrap()
    );
    let text = esim_euicc::isdp::profile::path_string(&imsi_path);
    assert_eq!(p.read_file_str(&text), Some(f));
    // EF.ARR (2F06) under the MF is a linear fixed file with records.
    let arr = p.read_file(&[0x3F00, 0x2F06]).unwrap();
    assert!(arr.record(1).is_some());
    // genericFileManagement created files under DF.TELECOM.
    assert!(p.read_file(&[0x3F00, 0x7F10, 0x6F44]).is_some());
}

fn last_failure(events: &[IsdpEvent]) -> &FailureReason {
    match events.last() {
        Some(IsdpEvent::InstallationFailed { reason }) => reason,
        other => panic!("expected a failure event, got {other:?}"),
    }
}

#[test]
fn bad_mac_aborts_and_installs_nothing() {
    let der = smallest_profile();
    let (mut isdp, keys) = personalized(1 << 20);
    let mut rng = Rng(3);
    let mut host = open(&mut isdp, &keys, &mut rng);
    let mut segs = host.wrap_profile(&der).unwrap();
    let last = segs[2].len() - 1;
    segs[2][last] ^= 0x01;
    let out = feed_chunked(&mut isdp, &segs.concat(), &mut rng);
    // Two 86 00, then the error TLV; nothing after it.
    assert_eq!(&out.response[..4], &[0x86, 0x00, 0x86, 0x00]);
    assert_eq!(&out.response[4..7], &[0x9F, 0x86, 0x02]);
    assert!(out.response.len() >= 9);
    assert!(host.check_responses(&out.response).is_err());
    assert!(matches!(
        last_failure(&out.events),
        FailureReason::Scp03t { .. }
    ));
    assert!(isdp.installed_profile().is_none());
    assert_eq!(isdp.memory_used(), 0);
    // Refused until abort.
    assert_eq!(
        isdp.feed_scp03t(&[0x86, 0x01, 0x00]).response,
        vec![0x9F, 0x86, 0x02, 0x69, 0x85]
    );
    assert!(isdp.abort());
    let (r, _) = download(&mut isdp, &keys, &der, 4);
    r.unwrap();
    assert!(isdp.installed_profile().is_some());
}

#[test]
fn interrupted_download_then_abort_leaves_nothing() {
    let der = smallest_profile();
    let (mut isdp, keys) = personalized(1 << 20);
    let mut rng = Rng(11);
    let mut host = open(&mut isdp, &keys, &mut rng);
    let segs = host.wrap_profile(&der).unwrap();
    assert!(segs.len() > 4);
    let out = feed_chunked(&mut isdp, &segs[..segs.len() - 2].concat(), &mut rng);
    assert!(out.events.is_empty());
    assert!(isdp.download_in_progress());
    assert!(isdp.installed_profile().is_none());
    assert!(isdp.abort());
    assert!(!isdp.download_in_progress());
    assert!(isdp.installed_profile().is_none());
    assert_eq!(isdp.memory_used(), 0);
    // The remaining segments of the old session are not accepted (new session expects 84).
    let out = isdp.feed_scp03t(&segs[segs.len() - 2..].concat());
    assert_eq!(&out.response[..2], &[0x9F, 0x86]);
    assert!(isdp.installed_profile().is_none());
    // A fresh download works after abort.
    isdp.abort();
    let (r, _) = download(&mut isdp, &keys, &der, 12);
    r.unwrap();
    assert!(isdp.installed_profile().is_some());
}

/// Re-encodes a package after changing its elements.
fn encode(pkg: &ProfilePackage) -> Vec<u8> {
    pkg.encode().unwrap()
}

#[test]
fn package_without_end_installs_nothing() {
    let der = smallest_profile();
    let mut pkg = ProfilePackage::decode(&der).unwrap();
    pkg.elements.pop();
    let (mut isdp, keys) = personalized(1 << 20);
    let (r, events) = download(&mut isdp, &keys, &encode(&pkg), 5);
    assert!(
        r.unwrap()
            .iter()
            .all(|r| *r == Scp03tResponse::Segment(Vec::new()))
    );
    assert!(events.is_empty());
    assert!(isdp.installed_profile().is_none());
    assert!(isdp.abort());
    assert!(isdp.installed_profile().is_none());
}

/// Downloads a package that must fail, segment by segment: the segment in which a PE fails is
/// answered with the `EUICCResponse`, every later one with `9F86 02 6985`. Returns the decoded
/// response and the failure.
fn failing_download(
    isdp: &mut IsdP,
    keys: &StaticKeys,
    package: &[u8],
) -> (asn1::EUICCResponse, FailureReason) {
    let mut rng = Rng(99);
    let mut host = open(isdp, keys, &mut rng);
    let mut eur = None;
    let mut events = Vec::new();
    for seg in host.wrap_profile(package).unwrap() {
        let out = feed_chunked(isdp, &seg, &mut rng);
        events.extend(out.events);
        if eur.is_some() {
            assert_eq!(out.response, vec![0x9F, 0x86, 0x02, 0x69, 0x85]);
            continue;
        }
        match host.check_responses(&out.response).unwrap().as_slice() {
            [Scp03tResponse::Segment(d)] if d.is_empty() => {}
            [Scp03tResponse::Segment(d)] => eur = Some(decode_euicc_response(d)),
            other => panic!("unexpected responses {other:?}"),
        }
    }
    assert!(isdp.installed_profile().is_none());
    assert_eq!(isdp.memory_used(), 0);
    let eur = eur.expect("an EUICCResponse");
    assert!(eur.profile_installation_aborted.is_some());
    assert_eq!(events.len(), 1);
    (eur, last_failure(&events).clone())
}

#[test]
fn header_not_first_is_invalid_request_format() {
    let der = smallest_profile();
    let mut pkg = ProfilePackage::decode(&der).unwrap();
    pkg.elements.swap(0, 1);
    let (mut isdp, keys) = personalized(1 << 20);
    let (eur, reason) = failing_download(&mut isdp, &keys, &encode(&pkg));
    assert!(eur.profile_installation_aborted.is_some());
    assert_eq!(eur.pe_status.len(), 1);
    let s = &eur.pe_status[0];
    assert_eq!(status(s), PeStatusCode::InvalidRequestFormat.code() as i64);
    assert_eq!(
        s.identification.as_ref().map(|i| i.0),
        pkg.elements[0].identification()
    );
    assert!(matches!(reason, FailureReason::Profile(f) if f.index == 0 && f.pe_type == "mf"));
}

#[test]
fn iccid_already_on_the_card_is_refused_at_the_header() {
    let der = smallest_profile();
    let pkg = ProfilePackage::decode(&der).unwrap();
    let iccid = pkg.iccid().unwrap();
    let (mut isdp, keys) = personalized(1 << 20);
    isdp.set_iccids_in_use(vec![iccid.clone()]);
    let (eur, reason) = failing_download(&mut isdp, &keys, &der);
    assert_eq!(eur.pe_status.len(), 1, "refused at the header");
    assert_eq!(
        status(&eur.pe_status[0]),
        PeStatusCode::InvalidParameter.code() as i64
    );
    let FailureReason::Profile(f) = reason else {
        panic!("expected a profile failure")
    };
    assert_eq!((f.index, f.pe_type), (0, "header"));
    assert!(f.detail.contains(iccid.as_str()), "{}", f.detail);
}

#[test]
fn quota_too_small_is_not_enough_memory() {
    let der = smallest_profile();
    let (mut isdp, keys) = personalized(2000);
    let (eur, reason) = failing_download(&mut isdp, &keys, &der);
    let s = eur.pe_status.last().unwrap();
    assert_eq!(status(s), 4);
    let FailureReason::Profile(f) = reason else {
        panic!()
    };
    assert_eq!(f.status, PeStatusCode::NotEnoughMemory);
    // The PEs before the one that crossed the quota were ok.
    assert!(
        eur.pe_status[..eur.pe_status.len() - 1]
            .iter()
            .all(|s| status(s) == 0)
    );
    let located = ProfilePackage::decode_located(&der).unwrap();
    let crossing = located.iter().find(|l| l.offset + l.len > 2000).unwrap();
    assert_eq!(f.index, crossing.index);
    assert_eq!(
        s.offset.as_ref().map(|o| o.0 as usize),
        Some(crossing.offset)
    );
}

#[test]
fn bad_ki_is_bad_values_naming_the_pe() {
    let der = smallest_profile();
    let mut pkg = ProfilePackage::decode(&der).unwrap();
    let mut target = None;
    for e in &mut pkg.elements {
        if let Some(asn1::ProfileElement::akaParameter(a)) = e.typed_mut() {
            if let asn1::PEAKAParameterAlgoConfiguration::algoParameter(p) =
                &mut a.algo_configuration
            {
                p.key = vec![0x11; 15].into();
                target = Some(a.aka_header.identification.0);
                break;
            }
        }
    }
    let target = target.expect("an akaParameter PE");
    let (mut isdp, keys) = personalized(1 << 20);
    let (eur, reason) = failing_download(&mut isdp, &keys, &encode(&pkg));
    let s = eur.pe_status.last().unwrap();
    assert_eq!(status(s), 3);
    assert_eq!(s.identification.as_ref().map(|i| i.0), Some(target));
    assert!(
        eur.status_message
            .as_deref()
            .unwrap()
            .contains("akaParameter")
    );
    assert!(matches!(reason, FailureReason::Profile(f) if f.status == PeStatusCode::BadValues));
    // Input after the failure is refused; abort clears it.
    assert_eq!(
        &isdp.feed_scp03t(&[0x86, 0x00]).response[..2],
        &[0x9F, 0x86]
    );
    assert!(isdp.abort());
}

#[test]
fn replayed_segment_is_rejected() {
    let der = smallest_profile();
    let (mut isdp, keys) = personalized(1 << 20);
    let mut rng = Rng(21);
    let mut host = open(&mut isdp, &keys, &mut rng);
    let segs = host.wrap_profile(&der).unwrap();
    let mut stream = segs[..3].concat();
    stream.extend_from_slice(&segs[1]);
    stream.extend_from_slice(&segs[3..].concat());
    let out = feed_chunked(&mut isdp, &stream, &mut rng);
    assert_eq!(&out.response[..6], &[0x86, 0x00, 0x86, 0x00, 0x86, 0x00]);
    assert_eq!(&out.response[6..9], &[0x9F, 0x86, 0x02]);
    assert!(matches!(
        last_failure(&out.events),
        FailureReason::Scp03t { .. }
    ));
    assert!(isdp.installed_profile().is_none());
}

#[test]
fn unpersonalized_isdp_refuses_scp03t() {
    let mut isdp = IsdP::new(aid(), 1 << 20);
    let (_, cmd) = Scp03tHostAwaitingInitUpdateResponse::start_random(random_keys(), 0).unwrap();
    assert_eq!(
        isdp.feed_scp03t(&cmd).response,
        vec![0x9F, 0x84, 0x02, 0x69, 0x85]
    );
}

#[test]
fn wrong_keys_fail_at_external_authenticate() {
    let (mut isdp, _) = personalized(1 << 20);
    let (host, cmd) = Scp03tHostAwaitingInitUpdateResponse::start_random(random_keys(), 0).unwrap();
    let out = isdp.feed_scp03t(&cmd);
    // The host detects the wrong card cryptogram.
    assert!(host.handle(&out.response).is_err());
}

#[test]
fn serialization_round_trip_keeps_the_profile_and_hides_secrets() {
    let der = smallest_profile();
    let (mut isdp, keys) = personalized(1 << 20);
    let (r, _) = download(&mut isdp, &keys, &der, 8);
    r.unwrap();
    let json = serde_json::to_string(&isdp).unwrap();
    let back: IsdP = serde_json::from_str(&json).unwrap();
    assert_eq!(back.installed_profile(), isdp.installed_profile());
    assert_eq!(back.sequence_counter(), isdp.sequence_counter());
    assert_eq!(back.memory_used(), isdp.memory_used());
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    // Debug shows no key material.
    let p = isdp.installed_profile().unwrap();
    let ki = p.aka_parameters()[0].ki.expose();
    let ki_dec = format!("{:?}", ki);
    let dbg = format!("{:?} {:?}", isdp, p);
    assert!(!dbg.contains(&ki_dec[1..ki_dec.len() - 1]));
    assert!(dbg.contains("Secret(16 bytes)"));
}

#[test]
fn restored_isdp_continues_the_sequence_counter() {
    let (mut isdp, keys) = personalized(1 << 20);
    let mut rng = Rng(1);
    let _host = open(&mut isdp, &keys, &mut rng);
    assert_eq!(isdp.sequence_counter(), 1);
    let json = serde_json::to_string(&isdp).unwrap();
    let mut back: IsdP = serde_json::from_str(&json).unwrap();
    assert!(!back.download_in_progress());
    let _host = open(&mut back, &keys, &mut rng);
    assert_eq!(back.sequence_counter(), 2);
}

/// A TS.48 profile whose first NAA is switched to MILENAGE with the K and OPc of 3GPP TS 35.208
/// test set 1, installed by download; AUTHENTICATE with the test set's RAND and AUTN must give its
/// RES, CK and IK.
#[test]
fn installed_milenage_naa_authenticates_with_test_set_1() {
    use esim_euicc::isdp::milenage::AkaResult;
    let h = |s: &str| esim_codec::hex::decode(s).unwrap();
    let mut pkg = ProfilePackage::decode(&smallest_profile()).unwrap();
    let mut changed = false;
    for e in &mut pkg.elements {
        if let Some(asn1::ProfileElement::akaParameter(a)) = e.typed_mut() {
            if let asn1::PEAKAParameterAlgoConfiguration::algoParameter(p) =
                &mut a.algo_configuration
            {
                p.algorithm_id = rasn::types::Integer::from(1);
                p.key = h("465b5ce8b199b49faa5f0a2ee238a6bc").into();
                p.opc = h("cd63cb71954a9f4e48a5994e37a02baf").into();
                p.rotation_constants = None;
                p.xoring_constants = None;
                changed = true;
                break;
            }
        }
    }
    assert!(changed);
    let (mut isdp, keys) = personalized(1 << 20);
    let (resp, _) = download(&mut isdp, &keys, &encode(&pkg), 31);
    resp.unwrap();
    // Through persistence, as the card keeps it.
    let json = serde_json::to_string(&isdp).unwrap();
    let restored: IsdP = serde_json::from_str(&json).unwrap();
    let mut profile = restored.installed_profile().unwrap().clone();
    let rand: [u8; 16] = h("23553cbe9637a89d218ae64dae47bf35").try_into().unwrap();
    // AUTN = (SQN ff9bb4d0b607 ⊕ AK aa689c648370) ‖ AMF b9b9 ‖ MAC-A 4a9ffac354dfafb3.
    let autn: [u8; 16] = h("55f328b43577b9b94a9ffac354dfafb3").try_into().unwrap();
    match profile.authenticate(&rand, &autn).unwrap() {
        AkaResult::Success { res, ck, ik } => {
            assert_eq!(res, h("a54211d5e3ba50bf"));
            assert_eq!(ck.to_vec(), h("b40ba9a3c58b2a05bbf0d987b21bf8cb"));
            assert_eq!(ik.to_vec(), h("f769bcd751044604127672711c6d3441"));
        }
        other => panic!("{other:?}"),
    }
    // Same AUTN again: SQN not fresh.
    assert!(matches!(
        profile.authenticate(&rand, &autn).unwrap(),
        AkaResult::SyncFailure { .. }
    ));
    let mut bad = autn;
    bad[15] ^= 1;
    assert_eq!(
        profile.authenticate(&rand, &bad).unwrap(),
        AkaResult::MacFailure
    );
}
