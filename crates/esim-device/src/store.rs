//! Card directories: the card's persistent state (`card.json`, its serde [`CardState`]) written
//! atomically with mode 0600 after every interaction, and the creation of a card from an issued
//! eUICC (`esim pki euicc` output) with an optional bootstrap profile.
//!
//! Atomic write: a temporary file in the same directory (created `0600`, exclusive), written,
//! `fsync`ed, renamed over `card.json`, then the directory `fsync`ed — a crash leaves either the
//! old or the new state, never a torn one.

use crate::config::SecretString;
use crate::error::DeviceError;
use esim_codec::{Eid, Iccid, Imsi};
use esim_crypto::SecretKey;
use esim_crypto::cert::Certificate;
use esim_crypto::ec::{KeyPair, PublicKey};
use esim_crypto::ecka::Scp80Keys;
use esim_crypto::pki::{EisDocument, IssuedEuicc, PskKeyset};
use esim_crypto::scp03::StaticKeys;
use esim_euicc::{CardConfig, CardState, Euicc};
use serde::Deserialize;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use zeroize::Zeroizing;

/// The card's persistent state (JSON of [`CardState`]; holds keys, mode 0600).
pub const STATE_FILE: &str = "card.json";
/// The MSISDN the card serves (one line), read when the card is found under `cards_dir`.
pub const MSISDN_FILE: &str = "msisdn.txt";
/// The bootstrap ISD-P's SCP03 keys chosen at `init` (JSON, mode 0600), for the bootstrap
/// SM-DP.
pub const BOOTSTRAP_KEYS_FILE: &str = "bootstrap-scp03-keys.json";

/// Reads the card of `dir`.
pub fn load_card(dir: &Path) -> Result<Euicc, DeviceError> {
    let path = dir.join(STATE_FILE);
    let bytes = Zeroizing::new(std::fs::read(&path).map_err(|e| DeviceError::io(&path, e))?);
    let state: CardState = serde_json::from_slice(&bytes)
        .map_err(|e| DeviceError::bad_file(&path, format!("card state: {e}")))?;
    Ok(Euicc::from_state(state))
}

/// The serialized state of `card` (zeroized when dropped).
pub fn encode_state(card: &Euicc) -> Result<Zeroizing<Vec<u8>>, DeviceError> {
    serde_json::to_vec(card.state())
        .map(Zeroizing::new)
        .map_err(|e| DeviceError::Card(format!("serializing the card state: {e}")))
}

/// Writes the state of `card` into `dir` atomically (mode 0600).
pub fn save_card(dir: &Path, card: &Euicc) -> Result<(), DeviceError> {
    write_atomic(&dir.join(STATE_FILE), &encode_state(card)?)
}

/// Writes `data` to `path` atomically with mode 0600: temporary file, `fsync`, rename,
/// directory `fsync`.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), DeviceError> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        DeviceError::io(path, e)
    })
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, DeviceError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| DeviceError::io(path, e))
}

fn read_text(path: &Path) -> Result<Zeroizing<String>, DeviceError> {
    let b = read(path)?;
    std::str::from_utf8(&b)
        .map(|s| Zeroizing::new(s.to_string()))
        .map_err(|_| DeviceError::bad_file(path, "not UTF-8"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeysFile {
    eid: String,
    scp80: Vec<Scp80Json>,
    scp81: Vec<Scp81Json>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Scp80Json {
    kvn: u8,
    kic: SecretString,
    kid: SecretString,
    dek: SecretString,
    initial_counter: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Scp81Json {
    kvn: u8,
    kid: u8,
    psk_identity: String,
    psk: SecretString,
}

fn key(path: &Path, field: &str, hex: &str) -> Result<SecretKey, DeviceError> {
    esim_codec::hex::decode(hex)
        .map(SecretKey::from_vec)
        .map_err(|_| DeviceError::bad_file(path, format!("{field}: not hex")))
}

/// Reads an issued eUICC directory (`esim pki euicc` output: `eid.txt`, `ecasd-key.pem`,
/// `ecasd-cert.gp`, `ci-public-key.pem`, `isd-r-keys.json`, `eis.json`).
pub fn load_issued(dir: &Path) -> Result<IssuedEuicc, DeviceError> {
    let eid_path = dir.join("eid.txt");
    let eid = Eid::parse(read_text(&eid_path)?.trim())
        .map_err(|e| DeviceError::bad_file(&eid_path, e.to_string()))?;
    let key_path = dir.join("ecasd-key.pem");
    let ecasd_key = KeyPair::from_pem(&read_text(&key_path)?)
        .map_err(|e| DeviceError::bad_file(&key_path, e.to_string()))?;
    let cert_path = dir.join("ecasd-cert.gp");
    let ecasd_cert = Certificate::decode(&read(&cert_path)?)
        .map_err(|e| DeviceError::bad_file(&cert_path, e.to_string()))?;
    let ci_path = dir.join("ci-public-key.pem");
    let ci_public_key = PublicKey::from_pem(&read_text(&ci_path)?)
        .map_err(|e| DeviceError::bad_file(&ci_path, e.to_string()))?;
    let eis_path = dir.join("eis.json");
    let eis = EisDocument::from_json(&read_text(&eis_path)?)
        .map_err(|e| DeviceError::bad_file(&eis_path, e.to_string()))?;
    let keys_path = dir.join("isd-r-keys.json");
    let keys: KeysFile = serde_json::from_slice(&read(&keys_path)?)
        .map_err(|e| DeviceError::bad_file(&keys_path, format!("ISD-R keys: {e}")))?;
    if keys.eid != eid.as_str() {
        return Err(DeviceError::bad_file(
            &keys_path,
            format!("EID {} is not the one of eid.txt", keys.eid),
        ));
    }
    let mut scp80 = Vec::new();
    for k in &keys.scp80 {
        scp80.push(Scp80Keys {
            kvn: k.kvn,
            kic: key(&keys_path, "kic", k.kic.expose())?,
            kid: key(&keys_path, "kid", k.kid.expose())?,
            dek: key(&keys_path, "dek", k.dek.expose())?,
            initial_counter: esim_codec::hex::decode(&k.initial_counter)
                .map_err(|_| DeviceError::bad_file(&keys_path, "initialCounter: not hex"))?,
        });
    }
    let mut scp81 = Vec::new();
    for k in &keys.scp81 {
        scp81.push(PskKeyset {
            kvn: k.kvn,
            kid: k.kid,
            identity: esim_codec::hex::decode(&k.psk_identity)
                .map_err(|_| DeviceError::bad_file(&keys_path, "pskIdentity: not hex"))?,
            psk: key(&keys_path, "psk", k.psk.expose())?,
        });
    }
    Ok(IssuedEuicc {
        eid,
        ecasd_key,
        ecasd_cert,
        ci_public_key,
        scp80,
        scp81,
        eis,
    })
}

/// A bootstrap profile for [`init_card`]: a SAIP template (e.g. TS.48) personalized with these
/// values.
#[derive(Debug, Clone, Default)]
pub struct Bootstrap {
    /// The template package (DER).
    pub template: Vec<u8>,
    /// ICCID to set.
    pub iccid: Option<Iccid>,
    /// IMSI to set.
    pub imsi: Option<Imsi>,
}

/// What [`init_card`] made.
#[derive(Debug)]
pub struct Initialized {
    /// The card's EID.
    pub eid: Eid,
    /// The state file.
    pub state_file: PathBuf,
    /// ICCID of the bootstrap profile.
    pub bootstrap_iccid: Option<Iccid>,
}

/// The personalized bootstrap package.
pub fn personalize(b: &Bootstrap) -> Result<Vec<u8>, DeviceError> {
    let pkg = esim_saip::ProfilePackage::decode(&b.template)
        .map_err(|e| DeviceError::Card(format!("bootstrap template: {e}")))?;
    let p = esim_saip::Personalization {
        iccid: b.iccid.clone(),
        imsi: b.imsi.clone(),
        ..Default::default()
    };
    let pkg = p
        .apply(&pkg)
        .map_err(|e| DeviceError::Card(format!("bootstrap personalization: {e}")))?;
    pkg.encode()
        .map_err(|e| DeviceError::Card(format!("bootstrap package encoding: {e}")))
}

/// Creates a card directory from an issued eUICC: `card.json` (0600), `msisdn.txt` when given,
/// and with a bootstrap profile the bootstrap ISD-P's random SCP03 keys
/// ([`BOOTSTRAP_KEYS_FILE`], 0600). Refuses a directory that already holds a card.
pub fn init_card(
    issued_dir: &Path,
    card_dir: &Path,
    bootstrap: Option<&Bootstrap>,
    msisdn: Option<&str>,
) -> Result<Initialized, DeviceError> {
    let issued = load_issued(issued_dir)?;
    let state_file = card_dir.join(STATE_FILE);
    if state_file.exists() {
        return Err(DeviceError::Config(format!(
            "{} already holds a card",
            card_dir.display()
        )));
    }
    std::fs::create_dir_all(card_dir).map_err(|e| DeviceError::io(card_dir, e))?;
    let config = CardConfig::from_issued(&issued);
    let (card, iccid) = match bootstrap {
        None => (Euicc::new(&issued, config), None),
        Some(b) => {
            let package = personalize(b)?;
            let rnd =
                |what| SecretKey::random(16).map_err(|e| DeviceError::Card(format!("{what}: {e}")));
            let (enc, mac, dek) = (rnd("key")?, rnd("key")?, rnd("key")?);
            let doc = serde_json::json!({
                "kvn": 0x30,
                "enc": esim_codec::hex::encode_upper(enc.expose()),
                "mac": esim_codec::hex::encode_upper(mac.expose()),
                "dek": esim_codec::hex::encode_upper(dek.expose()),
            });
            let keys = StaticKeys::new(0x30, enc, mac, dek)
                .map_err(|e| DeviceError::Card(format!("bootstrap keys: {e}")))?;
            let card = Euicc::with_bootstrap_profile(&issued, config, &package, keys)
                .map_err(|e| DeviceError::Card(e.to_string()))?;
            let text = Zeroizing::new(
                serde_json::to_vec_pretty(&doc)
                    .map_err(|e| DeviceError::Card(format!("bootstrap keys: {e}")))?,
            );
            write_atomic(&card_dir.join(BOOTSTRAP_KEYS_FILE), &text)?;
            let iccid = card
                .profiles()
                .first()
                .and_then(|p| p.isdp.installed_profile())
                .map(|p| p.iccid().clone());
            (card, iccid)
        }
    };
    if let Some(m) = msisdn {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DeviceError::Config(format!(
                "MSISDN {m:?} must be decimal digits"
            )));
        }
        let p = card_dir.join(MSISDN_FILE);
        std::fs::write(&p, format!("{m}\n")).map_err(|e| DeviceError::io(&p, e))?;
    }
    save_card(card_dir, &card)?;
    Ok(Initialized {
        eid: card.eid().clone(),
        state_file,
        bootstrap_iccid: iccid,
    })
}
