//! The installed Profile as the ISD-P keeps it (SGP.02 §2.2.1 "Profile", digest §2.6; content
//! from the TCA SAIP Profile Elements, TCA SAIP v3.3.1 §8).
//!
//! A [`Profile`] is built only by the Profile Package Interpreter ([`super::ppi`]) and becomes
//! visible only when the whole package was accepted. It holds:
//! * the header data: ICCID, POL1 ([`crate::policy::Pol1`]), connectivity parameters (opaque),
//!   SAIP version, profile type;
//! * the file system ([`FileSystem`]): MF, DF.TELECOM, ADF.USIM, ADF.ISIM, … as the file-system
//!   template PEs and `genericFileManagement` created them, each file with its FCP-derived type,
//!   size and content (ETSI TS 102 221 §11.1.1.4);
//! * the NAA parameters (`akaParameter`: algorithm, K, OPc, Milenage constants), PINs and PUKs with
//!   their retry counters, the security domains (the MNO-SD and its OTA keysets), applications and
//!   RFM configurations as recorded data.
//!
//! Every secret (K, OPc, PIN/PUK values, SD keys) is a [`Secret`]: zeroized on drop, never shown
//! by `Debug`.

use crate::policy::Pol1;
use esim_codec::{Iccid, Imsi};
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Secret bytes (keys, PIN values): zeroized on drop; `Debug` shows only the length.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Copies `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        Secret(bytes.to_vec())
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// FID of the MF (ETSI TS 102 221 §8.2).
pub const FID_MF: u16 = 0x3F00;

/// The structure of a file, from the file descriptor byte of its FCP (tag `82`, ETSI TS 102 221
/// §11.1.1.4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FileKind {
    /// The MF.
    Mf,
    /// A DF.
    Df,
    /// An ADF with its AID (FCP `84`, DF name).
    Adf {
        /// The application identifier.
        aid: Vec<u8>,
    },
    /// Transparent EF (descriptor `x1`).
    Transparent,
    /// Linear fixed EF (descriptor `x2`) with its record length.
    LinearFixed {
        /// Record length in bytes.
        record_len: u16,
    },
    /// Cyclic EF (descriptor `x6`) with its record length.
    Cyclic {
        /// Record length in bytes.
        record_len: u16,
    },
    /// BER-TLV structured EF (descriptor `39`).
    BerTlv,
    /// Another descriptor byte, kept as is.
    Other(u8),
}

impl FileKind {
    /// Whether this is a directory (MF, DF or ADF).
    pub fn is_directory(&self) -> bool {
        matches!(self, FileKind::Mf | FileKind::Df | FileKind::Adf { .. })
    }
}

/// One file of the profile's file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileFile {
    /// FIDs from the MF, MF included (`[3F00, 7FD0, 6F07]` for EF.IMSI under an ADF.USIM with FID
    /// `7FD0`; ADFs are addressed by their FID under the MF as SAIP `filePath` does).
    pub path: Vec<u16>,
    /// The template field that created it (`"ef-imsi"`), or `None` for `genericFileManagement`.
    pub name: Option<String>,
    /// Structure.
    pub kind: FileKind,
    /// Size in bytes (`efFileSize`, or the content length when the FCP gives none).
    pub size: usize,
    /// Content: the explicit content of the package, unwritten bytes `FF` (or the FCP fill
    /// pattern's first byte), padded to `size` for transparent and record EFs.
    pub content: Vec<u8>,
    /// Short EF identifier (FCP `88`), if given and non-empty.
    pub sfi: Option<u8>,
    /// Security attributes referenced (FCP `8B`).
    pub security_attributes: Vec<u8>,
    /// Link path (FCP `C7`) of a linked file: its content is the target's.
    pub link_path: Option<Vec<u8>>,
}

impl ProfileFile {
    /// The FID (last path element).
    pub fn fid(&self) -> u16 {
        self.path.last().copied().unwrap_or(FID_MF)
    }

    /// Record `n` (1-based) of a record EF.
    pub fn record(&self, n: usize) -> Option<&[u8]> {
        let len = match self.kind {
            FileKind::LinearFixed { record_len } | FileKind::Cyclic { record_len } => {
                usize::from(record_len)
            }
            _ => return None,
        };
        let start = n.checked_sub(1)?.checked_mul(len)?;
        self.content.get(start..start.checked_add(len)?)
    }
}

/// Formats a path as `3F00/7FD0/6F07`.
pub fn path_string(path: &[u16]) -> String {
    path.iter()
        .map(|f| format!("{f:04X}"))
        .collect::<Vec<_>>()
        .join("/")
}

/// Parses `3F00/7FD0/6F07` (the leading `3F00` may be omitted).
pub fn parse_path(text: &str) -> Option<Vec<u16>> {
    let mut out = Vec::new();
    for part in text.split('/').filter(|p| !p.is_empty()) {
        if part.len() != 4 {
            return None;
        }
        out.push(u16::from_str_radix(part, 16).ok()?);
    }
    if out.first() != Some(&FID_MF) {
        out.insert(0, FID_MF);
    }
    Some(out)
}

/// The profile's file system: files in creation order, addressed by path.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FileSystem {
    files: Vec<ProfileFile>,
}

impl FileSystem {
    /// Every file in creation order.
    pub fn files(&self) -> &[ProfileFile] {
        &self.files
    }

    /// The file at `path` (FIDs from the MF).
    pub fn get(&self, path: &[u16]) -> Option<&ProfileFile> {
        self.files.iter().find(|f| f.path == path)
    }

    pub(crate) fn get_mut(&mut self, path: &[u16]) -> Option<&mut ProfileFile> {
        self.files.iter_mut().find(|f| f.path == path)
    }

    /// Number of files (MF, DFs and EFs).
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no file exists.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The ADF whose AID starts with `aid_prefix` (e.g. the USIM RID‖app code `A0000000871002`).
    pub fn adf_by_aid_prefix(&self, aid_prefix: &[u8]) -> Option<&ProfileFile> {
        self.files
            .iter()
            .find(|f| matches!(&f.kind, FileKind::Adf { aid } if aid.starts_with(aid_prefix)))
    }

    /// Adds a file; an existing file at the same path is an error (ETSI TS 102 222 `6A89`).
    pub(crate) fn insert(&mut self, file: ProfileFile) -> Result<(), String> {
        if self.get(&file.path).is_some() {
            return Err(format!("file {} already exists", path_string(&file.path)));
        }
        if file.path.len() > 1 {
            let parent = file.path.get(..file.path.len() - 1).unwrap_or(&[]);
            match self.get(parent) {
                Some(p) if p.kind.is_directory() => {}
                Some(_) => {
                    return Err(format!(
                        "parent {} of {} is not a directory",
                        path_string(parent),
                        path_string(&file.path)
                    ));
                }
                None => {
                    return Err(format!(
                        "parent {} of {} does not exist",
                        path_string(parent),
                        path_string(&file.path)
                    ));
                }
            }
        }
        self.files.push(file);
        Ok(())
    }
}

/// The NAA authentication parameters of one `akaParameter` PE (TCA SAIP §8.4.1; 3GPP TS 35.206).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AkaParams {
    /// `PEHeader.identification`.
    pub identification: u16,
    /// `algorithmID` (1 Milenage, 2 TUAK, 3 USIM test algorithm); `None` for a `mappingParameter`.
    pub algorithm_id: Option<i64>,
    /// `algorithmOptions`.
    pub algorithm_options: Vec<u8>,
    /// Subscriber key K.
    pub ki: Secret,
    /// OPc (TOPc for TUAK).
    pub opc: Secret,
    /// Milenage rotation constants r1..r5 (default applied).
    pub rotation_constants: Vec<u8>,
    /// Milenage XOR constants c1..c5 (default applied).
    pub xoring_constants: Vec<u8>,
    /// `sqnOptions` (default `02`).
    pub sqn_options: u8,
    /// `mappingParameter`: the AID of the NAA whose parameters are shared, if mapped.
    pub mapped_to: Option<Vec<u8>>,
}

/// A PIN or an ADM key (TCA SAIP §8.3.5 `pinCodes`; ETSI TS 102 221 §9.5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinRecord {
    /// `PEHeader.identification` of the PE.
    pub identification: u16,
    /// `keyReference` (1–8 global PINs, 10–14 ADM, 129–136 local PINs).
    pub key_reference: i64,
    /// The 8-byte value.
    pub value: Secret,
    /// `pinAttributes` (default 7).
    pub attributes: u8,
    /// Maximum attempts (high nibble of `maxNumOfAttemps-retryNumLeft`).
    pub max_attempts: u8,
    /// Retries left (low nibble).
    pub retries_left: u8,
    /// Key reference of the PUK that unblocks it.
    pub unblocking_reference: Option<i64>,
}

/// A PUK (TCA SAIP §8.3.4 `pukCodes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PukRecord {
    /// `PEHeader.identification` of the PE.
    pub identification: u16,
    /// `keyReference`.
    pub key_reference: i64,
    /// The 8-byte value.
    pub value: Secret,
    /// Maximum attempts.
    pub max_attempts: u8,
    /// Retries left.
    pub retries_left: u8,
}

/// One key of a security domain (GP Card Spec §11.1.8; TCA SAIP §8.6.3 `KeyObject`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdKey {
    /// Key version number.
    pub kvn: u8,
    /// Key identifier.
    pub kid: u8,
    /// Key usage qualifier.
    pub usage: Vec<u8>,
    /// Key access (`keyAccess`), if given.
    pub access: Option<Vec<u8>>,
    /// Key type of the component (`80` DES, `88` AES, `85` PSK-TLS, …).
    pub key_type: u8,
    /// Key value.
    pub value: Secret,
    /// Key counter value (`keyCounterValue`), e.g. the SCP80 replay counter.
    pub counter: Option<Vec<u8>>,
}

/// A security domain of the profile (`securityDomain` PE; the first is the MNO-SD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityDomainRecord {
    /// `PEHeader.identification`.
    pub identification: u16,
    /// Instance AID.
    pub instance_aid: Vec<u8>,
    /// Class AID.
    pub class_aid: Vec<u8>,
    /// Privileges.
    pub privileges: Vec<u8>,
    /// Keys.
    pub keys: Vec<SdKey>,
}

impl SecurityDomainRecord {
    /// The keys of one key version (a keyset: SCP80 KIc/KID/DEK or SCP03 ENC/MAC/DEK).
    pub fn keyset(&self, kvn: u8) -> Vec<&SdKey> {
        self.keys.iter().filter(|k| k.kvn == kvn).collect()
    }

    /// The key versions present, ascending.
    pub fn key_versions(&self) -> Vec<u8> {
        let mut v: Vec<u8> = self.keys.iter().map(|k| k.kvn).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The SCP80 keysets (KVN `01`–`0F`, GP Card Spec Table 11-16 / ETSI TS 102 225).
    pub fn scp80_keysets(&self) -> Vec<u8> {
        self.key_versions()
            .into_iter()
            .filter(|k| (0x01..=0x0F).contains(k))
            .collect()
    }

    /// The SCP03 keysets (KVN `30`–`3F`, GP Amd D §7.1).
    pub fn scp03_keysets(&self) -> Vec<u8> {
        self.key_versions()
            .into_iter()
            .filter(|k| (0x30..=0x3F).contains(k))
            .collect()
    }
}

/// An application instance (`application` PE `instanceList`, GP INSTALL [for install]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInstanceRecord {
    /// Executable load file AID.
    pub load_package_aid: Vec<u8>,
    /// Executable module (class) AID.
    pub class_aid: Vec<u8>,
    /// Instance AID.
    pub instance_aid: Vec<u8>,
    /// Privileges.
    pub privileges: Vec<u8>,
    /// Application specific parameters (`C9`).
    pub parameters_c9: Vec<u8>,
}

/// An `application` PE as recorded (the Java Card load file is kept by hash and size only; no
/// bytecode is run by this eUICC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationRecord {
    /// `PEHeader.identification`.
    pub identification: u16,
    /// Load package AID, if a load block is present.
    pub load_package_aid: Option<Vec<u8>>,
    /// Size of the load file in bytes.
    pub load_block_len: usize,
    /// Instances.
    pub instances: Vec<AppInstanceRecord>,
}

/// An RFM configuration (`rfm` PE; ETSI TS 102 226 §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfmRecord {
    /// `PEHeader.identification`.
    pub identification: u16,
    /// Instance AID of the RFM application.
    pub instance_aid: Vec<u8>,
    /// Security domain AID.
    pub security_domain_aid: Option<Vec<u8>>,
    /// TARs.
    pub tars: Vec<[u8; 3]>,
    /// Minimum security level.
    pub minimum_security_level: u8,
    /// UICC access domain.
    pub access_domain: Vec<u8>,
    /// UICC administrative access domain.
    pub admin_access_domain: Vec<u8>,
    /// AID of the ADF the RFM acts on, if given.
    pub adf_aid: Option<Vec<u8>>,
}

/// A PE recorded without interpretation (`cdmaParameter`, `nonStandard`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpaqueRecord {
    /// PE type name.
    pub pe_type: String,
    /// `PEHeader.identification`.
    pub identification: u16,
    /// DER of the PE (may hold keys, hence secret).
    pub der: Secret,
}

/// An installed Profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub(crate) iccid: Iccid,
    pub(crate) pol1: Pol1,
    pub(crate) saip_version: (u8, u8),
    pub(crate) profile_type: Option<String>,
    pub(crate) connectivity_parameters: Option<Vec<u8>>,
    pub(crate) files: FileSystem,
    pub(crate) usim_adf: Option<Vec<u16>>,
    pub(crate) isim_adf: Option<Vec<u16>>,
    pub(crate) aka: Vec<AkaParams>,
    pub(crate) pins: Vec<PinRecord>,
    pub(crate) puks: Vec<PukRecord>,
    pub(crate) security_domains: Vec<SecurityDomainRecord>,
    pub(crate) applications: Vec<ApplicationRecord>,
    pub(crate) rfm: Vec<RfmRecord>,
    pub(crate) opaque: Vec<OpaqueRecord>,
    pub(crate) memory_used: u32,
    /// Highest SQN accepted by [`Profile::authenticate`] (TS 33.102 Annex C, simplified).
    #[serde(default)]
    pub(crate) sqn_ms: [u8; 6],
}

/// Why [`Profile::authenticate`] could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The profile has no `akaParameter` with MILENAGE (status `6985` for AUTHENTICATE).
    #[error("no MILENAGE NAA parameters in the profile")]
    NoMilenage,
    /// K, OPc or the constants have the wrong size.
    #[error("NAA parameters of the wrong size")]
    BadParameters,
}

impl Profile {
    /// The ICCID (from the header, SAIP coding of spec choice 17).
    pub fn iccid(&self) -> &Iccid {
        &self.iccid
    }

    /// POL1 (header `pol`; spec choice 3).
    pub fn pol1(&self) -> Pol1 {
        self.pol1
    }

    /// SAIP version of the package (major, minor).
    pub fn saip_version(&self) -> (u8, u8) {
        self.saip_version
    }

    /// `profileType`.
    pub fn profile_type(&self) -> Option<&str> {
        self.profile_type.as_deref()
    }

    /// The SGP.02 connectivity parameters (opaque bytes of the header).
    pub fn connectivity_parameters(&self) -> Option<&[u8]> {
        self.connectivity_parameters.as_deref()
    }

    /// The file system.
    pub fn files(&self) -> &FileSystem {
        &self.files
    }

    /// The file at `path` (FIDs from the MF, e.g. `[0x3F00, 0x2FE2]`).
    pub fn read_file(&self, path: &[u16]) -> Option<&ProfileFile> {
        self.files.get(path)
    }

    /// The file at a textual path `3F00/7FD0/6F07`.
    pub fn read_file_str(&self, path: &str) -> Option<&ProfileFile> {
        parse_path(path).and_then(|p| self.files.get(&p))
    }

    /// Path of the ADF.USIM created by the first `usim` PE.
    pub fn usim_adf(&self) -> Option<&[u16]> {
        self.usim_adf.as_deref()
    }

    /// Path of the ADF.ISIM created by the first `isim` PE.
    pub fn isim_adf(&self) -> Option<&[u16]> {
        self.isim_adf.as_deref()
    }

    /// A file of the ADF.USIM by FID (e.g. `0x6F07` EF.IMSI).
    pub fn usim_file(&self, fid: u16) -> Option<&ProfileFile> {
        let mut p = self.usim_adf.clone()?;
        p.push(fid);
        self.files.get(&p)
    }

    /// The IMSI from EF.IMSI (`6F07`) of the ADF.USIM (3GPP TS 31.102 §4.2.2).
    pub fn imsi(&self) -> Option<Imsi> {
        let f = self.usim_file(0x6F07)?;
        Imsi::from_ef_imsi(&f.content).ok()
    }

    /// EF.ICCID (`2FE2`) content (nibble-swapped BCD).
    pub fn ef_iccid(&self) -> Option<&[u8]> {
        self.files
            .get(&[FID_MF, 0x2FE2])
            .map(|f| f.content.as_slice())
    }

    /// NAA authentication parameters (`akaParameter` PEs in package order).
    pub fn aka_parameters(&self) -> &[AkaParams] {
        &self.aka
    }

    /// PINs and ADM keys.
    pub fn pins(&self) -> &[PinRecord] {
        &self.pins
    }

    /// PUKs.
    pub fn puks(&self) -> &[PukRecord] {
        &self.puks
    }

    /// The PIN (or ADM key) with this key reference.
    pub fn pin(&self, key_reference: i64) -> Option<&PinRecord> {
        self.pins.iter().find(|p| p.key_reference == key_reference)
    }

    /// Every security domain of the profile, in package order.
    pub fn security_domains(&self) -> &[SecurityDomainRecord] {
        &self.security_domains
    }

    /// The MNO-SD (the first `securityDomain` PE, TCA SAIP §8.6.3) with its OTA keys.
    pub fn mno_sd_keys(&self) -> Option<&SecurityDomainRecord> {
        self.security_domains.first()
    }

    /// Applications.
    pub fn applications(&self) -> &[ApplicationRecord] {
        &self.applications
    }

    /// RFM configurations.
    pub fn rfm(&self) -> &[RfmRecord] {
        &self.rfm
    }

    /// PEs recorded without interpretation.
    pub fn opaque_elements(&self) -> &[OpaqueRecord] {
        &self.opaque
    }

    /// AUTHENTICATE in 3G context on the USIM (3GPP TS 31.102 §7.1.2.1) with the first MILENAGE
    /// `akaParameter`: checks AUTN, keeps the highest SQN, returns RES/CK/IK, a resynchronisation
    /// AUTS, or a MAC failure.
    pub fn authenticate(
        &mut self,
        rand: &[u8; 16],
        autn: &[u8; 16],
    ) -> Result<super::milenage::AkaResult, AuthError> {
        let a = self
            .aka
            .iter()
            .find(|a| a.algorithm_id == Some(1))
            .ok_or(AuthError::NoMilenage)?;
        let opc: [u8; 16] = a
            .opc
            .expose()
            .try_into()
            .map_err(|_| AuthError::BadParameters)?;
        let r: [u8; 5] = a
            .rotation_constants
            .as_slice()
            .try_into()
            .map_err(|_| AuthError::BadParameters)?;
        let c: [u8; 80] = a
            .xoring_constants
            .as_slice()
            .try_into()
            .map_err(|_| AuthError::BadParameters)?;
        super::milenage::authenticate(a.ki.expose(), &opc, &r, &c, &mut self.sqn_ms, rand, autn)
            .map_err(|_| AuthError::BadParameters)
    }

    /// Memory the profile occupies, counted against the ISD-P quota (spec choice: the DER size
    /// of the accepted Profile Elements).
    pub fn memory_used(&self) -> u32 {
        self.memory_used
    }
}
