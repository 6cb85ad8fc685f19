//! Shared fixtures of the card tests: a test PKI, an issued eUICC, and the off-card sides
//! (SM-SR SCP80 packets, SM-DP/SM-SR ECKA, SM-DP SCP03t) built with esim-crypto.
#![allow(dead_code)]

use esim_apdu::apdu::{CommandApdu, ResponseApdu};
use esim_apdu::etsi102226::{CommandScript, ResponseScript};
use esim_apdu::gp::install::{CreateIsdp, Install};
use esim_apdu::gp::store_data::{StoreDataP1, command};
use esim_codec::{Aid, Tar};
use esim_crypto::cert::{Certificate, Date};
use esim_crypto::ec::KeyPair;
use esim_crypto::ecka::{EstablishedKeys, KeyParams, OffCardAwaitingChallenge};
use esim_crypto::pki::{self, EuiccParams, IssuedEuicc, PkiParams, TestPki};
use esim_crypto::scp03::StaticKeys;
use esim_crypto::scp03t::Scp03tHostAwaitingInitUpdateResponse;
use esim_crypto::scp80::{
    CcAlgorithm, CipherAlgorithm, CommandPacket, Counter, DecodedPor, Keyset, Kic, Kid, Spi,
    decode_por, udh,
};
use esim_euicc::card::{CardConfig, Euicc};
use std::sync::OnceLock;

pub struct Fixture {
    pub pki: TestPki,
    pub other_pki: TestPki,
    pub issued: IssuedEuicc,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let params = PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap());
        let pki = TestPki::generate(&params).unwrap();
        let other_pki = TestPki::generate(&params).unwrap();
        let eid = pki::eid_from_prefix("8904903200", 7).unwrap();
        let p = EuiccParams::test_defaults(eid, Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
        let issued = pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap();
        Fixture {
            pki,
            other_pki,
            issued,
        }
    })
}

pub fn config() -> CardConfig {
    CardConfig {
        memory_capacity: 200_000,
        default_isdp_quota: 40_000,
    }
}

pub fn new_card() -> Euicc {
    Euicc::new(&fixture().issued, config())
}

pub fn isdp_aid(n: u8) -> Aid {
    Aid::isd_p(Tar([0x00, 0x00, 0x10 + n]))
}

/// The smallest TS.48 profile package, as shipped in the vectors.
pub fn package(name: &str) -> Vec<u8> {
    let path = esim_vectors::saip_files()
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == name))
        .unwrap_or_else(|| panic!("{name} not in the vectors"));
    std::fs::read(path).unwrap()
}

/// The package with a different ICCID and POL1.
pub fn package_with(iccid: &str, pol1: u8) -> Vec<u8> {
    let mut p = esim_saip::ProfilePackage::decode(&package("TS48V1-A-UNIQUE.der")).unwrap();
    let h = p.header_mut().unwrap();
    h.iccid = esim_saip::access::iccid_to_header_bcd(&esim_codec::Iccid::parse(iccid).unwrap())
        .to_vec()
        .into();
    h.pol = if pol1 == 0 {
        None
    } else {
        Some(vec![pol1].into())
    };
    p.encode().unwrap()
}

/// Sends one APDU on the contact interface, returns the response.
pub fn apdu(card: &mut Euicc, cmd: &CommandApdu) -> ResponseApdu {
    ResponseApdu::decode(&card.process_apdu(&cmd.encode().unwrap())).unwrap()
}

pub fn select_isd_r(card: &mut Euicc) {
    let sel = CommandApdu::new(0x00, 0xA4, 0x04, 0x00)
        .with_data(Aid::isd_r().as_bytes().to_vec())
        .with_le(256);
    assert_eq!(apdu(card, &sel).sw.to_u16(), 0x9000);
}

pub fn sw(r: &ResponseApdu) -> u16 {
    r.sw.to_u16()
}

/// The SM-SR's view of the card's SCP80 keyset 1 (AES-CBC, AES-CMAC).
pub fn smsr_keyset() -> Keyset {
    let k = &fixture().issued.scp80[0];
    Keyset::new(
        Kic::new(k.kvn, CipherAlgorithm::AesCbc).unwrap(),
        k.kic.clone(),
        Kid::cc(k.kvn, CcAlgorithm::AesCmac).unwrap(),
        k.kid.clone(),
    )
}

/// SMS user data of a command packet from the SM-SR.
pub fn sms(spi: Spi, tar: Tar, counter: u64, data: &[u8]) -> Vec<u8> {
    sms_with(&smsr_keyset(), spi, tar, counter, data)
}

pub fn sms_with(keys: &Keyset, spi: Spi, tar: Tar, counter: u64, data: &[u8]) -> Vec<u8> {
    let p = CommandPacket {
        spi,
        tar,
        counter: Counter::new(counter).unwrap(),
        data: data.to_vec(),
    }
    .encode(keys)
    .unwrap();
    udh::add_command_udh(&p)
}

pub fn script(cmds: Vec<CommandApdu>) -> Vec<u8> {
    CommandScript::of_apdus(cmds).encode().unwrap()
}

/// Sends an expanded script to the ISD-R by SMS with SPI 1639 and returns the decoded PoR and
/// the response script.
pub fn run_sms(
    card: &mut Euicc,
    counter: u64,
    cmds: Vec<CommandApdu>,
) -> (DecodedPor, ResponseScript) {
    let out = card.sms_pp_download(&sms(Spi::SGP02_DEFAULT, Tar::ISD_R, counter, &script(cmds)));
    let por = decode_por(
        out.por.as_deref().expect("PoR"),
        &Spi::SGP02_DEFAULT,
        &smsr_keyset(),
    )
    .unwrap();
    let rs = ResponseScript::decode(&por.packet.data).unwrap();
    (por, rs)
}

pub fn create_isdp(aid: &Aid, quota: Option<u32>) -> CommandApdu {
    CreateIsdp::new(aid.clone(), quota).to_command().unwrap()
}

/// ECKA scenario #3 from the off-card side through the card's contact interface, for an ISD-P
/// (INSTALL [for personalization] first) or the ISD-R (`isdp = None`). Returns the SW of the
/// failing step, or the keys.
pub fn key_establishment(
    card: &mut Euicc,
    isdp: Option<&Aid>,
    signer: (&KeyPair, &Certificate),
    params: KeyParams,
    tamper_signature: bool,
) -> Result<EstablishedKeys, u16> {
    if let Some(aid) = isdp {
        let r = apdu(card, &Install::for_personalization(aid));
        if sw(&r) != 0x9000 {
            return Err(sw(&r));
        }
    }
    let ecasd_pk = fixture().issued.ecasd_cert.public_key().clone();
    let (oc, m1) =
        OffCardAwaitingChallenge::start(signer.0.clone(), signer.1, ecasd_pk, params).unwrap();
    let r1 = apdu(
        card,
        &command(StoreDataP1::sgp02_more_with_response(), 0, m1),
    );
    if sw(&r1) != 0x9000 {
        return Err(sw(&r1));
    }
    let (oc, mut m2) = oc.handle(&r1.data).unwrap();
    if tamper_signature {
        let n = m2.len();
        m2[n - 1] ^= 1;
    }
    let r2 = apdu(
        card,
        &command(StoreDataP1::sgp02_last_with_response(), 1, m2),
    );
    if sw(&r2) != 0x9000 {
        return Err(sw(&r2));
    }
    Ok(oc.handle(&r2.data).unwrap())
}

pub fn scp03(keys: &EstablishedKeys) -> StaticKeys {
    let k = keys.scp03().unwrap();
    StaticKeys::new(k.kvn, k.enc, k.mac, k.dek).unwrap()
}

/// Downloads `package` into `aid` over SCP81 (targeted admin scripts), as the SM-DP would.
/// Returns the last response bytes.
pub fn download(card: &mut Euicc, aid: &Aid, keys: StaticKeys, package: &[u8]) -> Vec<u8> {
    let (host, c84) = Scp03tHostAwaitingInitUpdateResponse::start_random(keys, 0).unwrap();
    let r84 = card.admin_script(Some(aid), &c84);
    let (mut host, c85) = host.handle(&r84.response).unwrap();
    let r85 = card.admin_script(Some(aid), &c85);
    assert_eq!(r85.response, [0x85, 0x00]);
    let mut last = Vec::new();
    for seg in host.wrap_profile(package).unwrap() {
        last = card.admin_script(Some(aid), &seg).response;
    }
    last
}

/// Create, personalize and download a profile into ISD-P `n` over the contact interface.
pub fn install_profile(card: &mut Euicc, n: u8, iccid: &str, pol1: u8) -> Aid {
    let aid = isdp_aid(n);
    select_isd_r(card);
    assert_eq!(sw(&apdu(card, &create_isdp(&aid, Some(30_000)))), 0x9000);
    let f = fixture();
    let keys = key_establishment(
        card,
        Some(&aid),
        (&f.pki.smdp.key, &f.pki.smdp.cert),
        KeyParams::isd_p_scp03(0x30),
        false,
    )
    .unwrap();
    download(card, &aid, scp03(&keys), &package_with(iccid, pol1));
    aid
}
