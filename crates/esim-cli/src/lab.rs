//! The lab `esim demo` runs in: a test PKI (kept between runs), freshly issued eUICCs with a
//! bootstrap profile of operator A, their card directories and the device agent configuration.
//! Files only; the servers are started by `demo`.

use anyhow::{Context, Result, bail};
use esim_codec::{Eid, Iccid, Imsi};
use esim_crypto::pki::{PkiParams, TestPki};
use esim_device::store::{self, Bootstrap};
use std::path::{Path, PathBuf};

/// One card of the lab.
#[derive(Debug, Clone)]
pub struct LabCard {
    /// EID.
    pub eid: Eid,
    /// The `esim pki euicc` output directory (EIS, keys).
    pub issued_dir: PathBuf,
    /// The card directory (`card.json`).
    pub card_dir: PathBuf,
    /// MSISDN of its modem.
    pub msisdn: String,
    /// ICCID of the bootstrap profile.
    pub bootstrap_iccid: Option<Iccid>,
}

/// A prepared lab.
#[derive(Debug)]
pub struct Lab {
    /// The PKI.
    pub pki: TestPki,
    /// The run directory (recreated by every run).
    pub run_dir: PathBuf,
    /// The cards.
    pub cards: Vec<LabCard>,
}

impl Lab {
    /// The device agent's configuration hosting every card: the SMSC at `smsc`, notifications
    /// to `SMSR`, operator A's network and operator B's reachable, SM-SR HTTPS address `https`
    /// (`None`: each admin session goes to the host of its trigger).
    pub fn device_config(
        &self,
        smsc: std::net::SocketAddr,
        https: Option<String>,
    ) -> esim_device::DeviceConfig {
        let mut dc = esim_device::DeviceConfig::default();
        dc.smsc.address = smsc.to_string();
        dc.smsr.sms_address = "SMSR".into();
        dc.smsr.https_address = https;
        dc.network.reachable = vec![PLMN_A.into(), PLMN_B.into()];
        dc.cards = self
            .cards
            .iter()
            .map(|c| esim_device::config::CardEntry {
                dir: c.card_dir.clone(),
                msisdn: c.msisdn.clone(),
                system_id: None,
            })
            .collect();
        dc
    }
}

/// PLMN of operator A, whose bootstrap profile the cards carry.
pub const PLMN_A: &str = "00101";
/// PLMN of operator B, whose profiles the demo downloads.
pub const PLMN_B: &str = "00102";
/// First MSISDN of the lab's modems.
const MSISDN_BASE: u64 = 447_700_900_000;

/// Finds a SAIP template: `explicit`, else the TS.48 test profile of the shared vectors when
/// present beside the repository.
pub fn find_template(explicit: Option<&Path>) -> Result<(PathBuf, Vec<u8>)> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(p) => vec![p.to_path_buf()],
        None => [
            "../shared/vectors/saip/TS48V2-SAIP2-3-NOBERTLV-UNIQUE.der",
            "../../shared/vectors/saip/TS48V2-SAIP2-3-NOBERTLV-UNIQUE.der",
        ]
        .iter()
        .map(PathBuf::from)
        .collect(),
    };
    for c in &candidates {
        if c.is_file() {
            let bytes = std::fs::read(c).with_context(|| format!("reading {}", c.display()))?;
            esim_saip::ProfilePackage::decode(&bytes)
                .with_context(|| format!("{} is not a SAIP profile package", c.display()))?;
            return Ok((c.clone(), bytes));
        }
    }
    bail!(
        "no SAIP profile template found (looked for {}); pass --template FILE.der \
         (a TS.48 test profile, e.g. from pySim's smdpp-data/upp)",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Operator A's bootstrap Profile of the `n`-th card (from 1): ICCID `89001010000000nnnnn`
/// with its Luhn digit, IMSI `00101` ‖ `00000nnnnn`.
pub fn bootstrap(template: &[u8], n: u64) -> Result<Bootstrap> {
    Ok(Bootstrap {
        template: template.to_vec(),
        iccid: Some(Iccid::with_luhn(&format!("89001010000000{n:05}"))?),
        imsi: Some(Imsi::parse(&format!("{PLMN_A}00000{n:05}"))?),
    })
}

/// Creates (or loads) the PKI under `dir/pki`, and issues `count` fresh eUICCs with card
/// directories under `dir/run` (removed first). `progress` is called with a line per step.
pub fn prepare(
    dir: &Path,
    count: u32,
    template: &[u8],
    progress: &mut dyn FnMut(&str),
) -> Result<Lab> {
    let pki_dir = dir.join("pki");
    let pki = if pki_dir.join("pki.json").is_file() {
        let pki = crate::pki::load(&pki_dir)?;
        progress(&format!("test PKI loaded from {}", pki_dir.display()));
        pki
    } else {
        let pki = crate::pki::create(
            &pki_dir,
            false,
            &PkiParams::test_defaults(crate::pki::today()?),
        )?;
        progress(&format!(
            "test PKI created in {} (CI, EUM, SM-DP, SM-SR)",
            pki_dir.display()
        ));
        pki
    };
    let run_dir = dir.join("run");
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("removing the previous run {}", run_dir.display()))?;
    }
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let euicc_dir = run_dir.join("euiccs");
    let eids = crate::pki::issue(
        &pki_dir.join("eum"),
        &pki_dir.join("ci"),
        &euicc_dir,
        count,
        "89049032",
        Some(1),
        3650,
        crate::pki::today()?,
        false,
    )?;
    progress(&format!("{} eUICC(s) issued by the EUM", eids.len()));
    let mut cards = Vec::new();
    for (i, eid) in eids.iter().enumerate() {
        let n = i as u64 + 1;
        let msisdn = (MSISDN_BASE + n).to_string();
        let bootstrap = bootstrap(template, n)?;
        let issued_dir = euicc_dir.join(eid);
        let card_dir = run_dir.join("cards").join(eid);
        let made = store::init_card(&issued_dir, &card_dir, Some(&bootstrap), Some(&msisdn))
            .with_context(|| format!("creating card {eid}"))?;
        cards.push(LabCard {
            eid: made.eid,
            issued_dir,
            card_dir,
            msisdn,
            bootstrap_iccid: made.bootstrap_iccid,
        });
    }
    progress(&format!(
        "{} card(s) made, each with a bootstrap profile of operator A (PLMN {PLMN_A})",
        cards.len()
    ));
    Ok(Lab {
        pki,
        run_dir,
        cards,
    })
}

/// A fresh random API token for a party of the lab.
pub fn token() -> Result<zeroize::Zeroizing<String>> {
    Ok(zeroize::Zeroizing::new(format!(
        "tok-{}",
        crate::mno::fresh_call_id()?
    )))
}

/// Progress lines on standard error, with the time since the start (also with `--json`, whose
/// summary goes to standard output).
#[derive(Debug)]
pub struct Progress {
    t0: std::time::Instant,
}

impl Progress {
    /// Starts the clock.
    pub fn start() -> Self {
        Progress {
            t0: std::time::Instant::now(),
        }
    }

    /// One line.
    pub fn line(&self, text: &str) {
        eprintln!("[{:>6.1}s] {text}", self.t0.elapsed().as_secs_f64());
    }
}

/// Operator B's Profiles in an SM-DP's inventory: `count` generated from `template` with type
/// `profile_type`, ICCIDs `8900102…` (Luhn digit added), IMSIs from PLMN B, Ki/OPc random and
/// sealed.
pub async fn generate_operator_b(
    smdp: &esim_smdp::Smdp,
    template_path: &Path,
    template: &[u8],
    profile_type: &str,
    count: u32,
) -> Result<usize> {
    let generated = smdp
        .inventory()
        .generate(
            &esim_smdp::GenerateRequest {
                owner: "mno-b".into(),
                profile_type: profile_type.into(),
                template_name: template_path.display().to_string(),
                template: template.to_vec(),
                iccid_start: "890010200000000000".into(),
                count,
                imsi_start: Some(Imsi::parse(&format!("{PLMN_B}0000000001"))?),
            },
            esim_service::now(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("inventory: {e}"))?;
    Ok(generated.len())
}
