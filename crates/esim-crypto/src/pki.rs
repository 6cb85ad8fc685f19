//! A complete test PKI for the SGP.02 roles and eUICC credential issuance (digest §1, §4.1, §4.4).
//! Pure data: nothing here touches files or the clock (the `esim pki` command does).
//!
//! ```text
//! CI (X.509 self-signed root, P-256)
//!  ├── EUM (X.509, signed by the CI)
//!  │     └── CERT.ECASD.ECKA (GP 7F21, type 03) of every eUICC, + the EUM-signed EIS
//!  ├── CERT.DP.ECDSA (GP 7F21, type 01)
//!  └── CERT.SR.ECDSA (GP 7F21, type 02)
//! TLS CA (X.509 self-signed root) ── TLS identities of the SM-DP and SM-SR (server + client auth)
//! ```
//!
//! **The EIS document** (ES1.RegisterEIS payload, digest §4.1) is JSON rather than XML-DSig:
//! `{"eumSignedInfo": {…}, "eumSignature": hex r‖s, "eumCertificateId": hex SKI, …}`. The EUM
//! signs (ECDSA-SHA256, plain r‖s) the *canonical bytes* of `eumSignedInfo`: compact JSON
//! (serde_json, no whitespace) with the fields in the fixed order of [`EumSignedInfo`], which
//! also carries the ISD-R keysets so that their integrity is covered. The document holds secret
//! keys and must be stored like a key file (docs/spec-choices.md).

use crate::cert::{
    CertError, CertType, Certificate, CertificateBody, Date, KEY_USAGE_KEY_AGREEMENT,
    KEY_USAGE_SIGNATURE_VERIFICATION,
};
use crate::ec::{EcError, KeyPair, PublicKey};
use crate::ecka::{EcasdCredentials, Scp80Keys};
use crate::primitives::{SecretKey, aes_encrypt_block, fill_random};
use crate::x509::{self, CertProfile, ValidityDays, X509Certificate, X509Error};
use esim_codec::hex;
use esim_codec::ids::{Aid, Eid, IdError, Tar};
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

/// A PKI failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// Key generation or signing failed.
    #[error("key: {0}")]
    Ec(#[from] EcError),
    /// A GP certificate failed to build or verify.
    #[error("GP certificate: {0}")]
    Cert(#[from] CertError),
    /// An X.509 certificate failed to build or verify.
    #[error("X.509: {0}")]
    X509(#[from] X509Error),
    /// An identifier (EID, AID) is invalid.
    #[error("identifier: {0}")]
    Id(#[from] IdError),
    /// The random source failed.
    #[error("random number generator failed")]
    Rng,
    /// An invalid parameter (named).
    #[error("parameter {0}")]
    Param(String),
    /// The EIS document is malformed (the message names the field).
    #[error("EIS document: {0}")]
    EisFormat(String),
    /// The EUM signature over the EIS does not verify.
    #[error("EIS signature does not verify under the EUM certificate")]
    EisSignature,
    /// The EIS is inconsistent (e.g. the ECASD certificate is for another EID).
    #[error("EIS inconsistent: {0}")]
    EisMismatch(String),
}

/// Parameters of [`TestPki::generate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiParams {
    /// First valid day of every certificate.
    pub not_before: Date,
    /// Validity of the CA certificates (CI, EUM, TLS CA), in days.
    pub ca_days: i64,
    /// Validity of the SM-DP/SM-SR and TLS certificates, in days.
    pub entity_days: i64,
    /// CI subject DN as an RFC 4514 string (most specific RDN first: `CN=…,O=…,C=…`).
    pub ci_subject: String,
    /// CI identifier, written into tag `42` of the certificates it signs.
    pub ci_id: String,
    /// EUM subject DN.
    pub eum_subject: String,
    /// EUM identifier (EIS `eumId`, tag `42` of ECASD certificates).
    pub eum_id: String,
    /// SM-DP identifier (tag `5F20` of CERT.DP.ECDSA).
    pub smdp_id: String,
    /// SM-SR identifier (tag `5F20` of CERT.SR.ECDSA).
    pub smsr_id: String,
    /// DNS names of the SM-DP TLS certificate.
    pub smdp_dns: Vec<String>,
    /// DNS names of the SM-SR TLS certificate.
    pub smsr_dns: Vec<String>,
}

impl PkiParams {
    /// Test defaults starting at `today`: CAs 10 years, entities 2 years, `localhost` TLS names.
    pub fn test_defaults(today: Date) -> Self {
        PkiParams {
            not_before: today,
            ca_days: 3650,
            entity_days: 730,
            ci_subject: "CN=esim-rsp Test CI,O=esim-rsp test,C=XX".into(),
            ci_id: "esim-rsp-test-ci".into(),
            eum_subject: "CN=esim-rsp Test EUM,O=esim-rsp test,C=XX".into(),
            eum_id: "esim-rsp-test-eum".into(),
            smdp_id: "smdp.esim-rsp.test".into(),
            smsr_id: "smsr.esim-rsp.test".into(),
            smdp_dns: vec!["localhost".into(), "smdp.esim-rsp.test".into()],
            smsr_dns: vec!["localhost".into(), "smsr.esim-rsp.test".into()],
        }
    }

    fn validity(&self, days: i64) -> Result<ValidityDays, PkiError> {
        let not_after = self
            .not_before
            .add_days(days)
            .ok_or_else(|| PkiError::Param(format!("validity of {days} days out of range")))?;
        if days < 1 {
            return Err(PkiError::Param("validity must be at least one day".into()));
        }
        Ok(ValidityDays {
            not_before: self.not_before,
            not_after,
        })
    }
}

/// A CA: key pair and X.509 certificate (CI, EUM, TLS CA).
#[derive(Debug, Clone)]
pub struct CaIdentity {
    /// Identifier (tag `42` in the GP certificates this CA signs; EIS `eumId` for the EUM).
    pub id: String,
    /// The CA's key pair.
    pub key: KeyPair,
    /// The CA's X.509 certificate.
    pub cert: X509Certificate,
}

/// An off-card entity (SM-DP or SM-SR): ECDSA key pair with its GP certificate, and a TLS
/// identity.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    /// SM-DP / SM-SR identifier.
    pub id: String,
    /// SK/PK.DP.ECDSA or SK/PK.SR.ECDSA.
    pub key: KeyPair,
    /// CERT.DP.ECDSA or CERT.SR.ECDSA, signed by the CI.
    pub cert: Certificate,
    /// TLS key pair.
    pub tls_key: KeyPair,
    /// TLS certificate (signed by the TLS CA).
    pub tls_cert: X509Certificate,
}

/// The complete test PKI.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The Certificate Issuer (root).
    pub ci: CaIdentity,
    /// The eUICC manufacturer.
    pub eum: CaIdentity,
    /// The SM-DP.
    pub smdp: ServerIdentity,
    /// The SM-SR.
    pub smsr: ServerIdentity,
    /// The CA of the TLS identities.
    pub tls_ca: CaIdentity,
}

/// Eight random bytes usable as a positive serial number.
pub fn random_serial() -> Result<Vec<u8>, PkiError> {
    let mut s = [0u8; 8];
    fill_random(&mut s).map_err(|_| PkiError::Rng)?;
    s[0] = (s[0] & 0x7F) | 0x01;
    Ok(s.to_vec())
}

/// Issues a GP `7F21` certificate signed by `issuer` (SGP.02 §4.1.3; [`crate::cert`]).
#[allow(clippy::too_many_arguments)]
pub fn issue_gp_certificate(
    issuer: &CaIdentity,
    subject_id: &[u8],
    subject_key: &PublicKey,
    cert_type: CertType,
    key_usage: &[u8],
    validity: ValidityDays,
) -> Result<Certificate, PkiError> {
    let body = CertificateBody {
        serial: random_serial()?,
        ca_id: issuer.id.as_bytes().to_vec(),
        subject_id: subject_id.to_vec(),
        key_usage: key_usage.to_vec(),
        effective_date: Some(validity.not_before),
        expiry_date: validity.not_after,
        cert_type: Some(cert_type),
        authority_key_id: issuer.cert.subject_key_id(),
        other_discretionary: Vec::new(),
        public_key: subject_key.clone(),
    };
    Ok(body.sign(&issuer.key)?)
}

fn server(
    id: &str,
    dns: &[String],
    cert_type: CertType,
    ci: &CaIdentity,
    tls_ca: &CaIdentity,
    validity: ValidityDays,
) -> Result<ServerIdentity, PkiError> {
    let key = KeyPair::generate()?;
    let cert = issue_gp_certificate(
        ci,
        id.as_bytes(),
        key.public_key(),
        cert_type,
        &KEY_USAGE_SIGNATURE_VERIFICATION,
        validity,
    )?;
    let tls_key = KeyPair::generate()?;
    let tls_cert = x509::issue(
        Some(&tls_ca.cert),
        &tls_ca.key,
        &format!("CN={id},O=esim-rsp test"),
        tls_key.public_key(),
        &random_serial()?,
        validity,
        CertProfile::TlsServer {
            dns_names: dns.to_vec(),
        },
    )?;
    Ok(ServerIdentity {
        id: id.to_string(),
        key,
        cert,
        tls_key,
        tls_cert,
    })
}

impl TestPki {
    /// Generates every key and certificate.
    pub fn generate(p: &PkiParams) -> Result<Self, PkiError> {
        let ca_validity = p.validity(p.ca_days)?;
        let entity_validity = p.validity(p.entity_days.min(p.ca_days))?;
        let ci_key = KeyPair::generate()?;
        let ci_cert =
            x509::self_signed_root(&ci_key, &p.ci_subject, &random_serial()?, ca_validity)?;
        let ci = CaIdentity {
            id: p.ci_id.clone(),
            key: ci_key,
            cert: ci_cert,
        };
        let eum_key = KeyPair::generate()?;
        let eum_cert = x509::issue(
            Some(&ci.cert),
            &ci.key,
            &p.eum_subject,
            eum_key.public_key(),
            &random_serial()?,
            ca_validity,
            CertProfile::SubCa,
        )?;
        let eum = CaIdentity {
            id: p.eum_id.clone(),
            key: eum_key,
            cert: eum_cert,
        };
        let tls_key = KeyPair::generate()?;
        let tls_cert = x509::self_signed_root(
            &tls_key,
            "CN=esim-rsp Test TLS CA,O=esim-rsp test,C=XX",
            &random_serial()?,
            ca_validity,
        )?;
        let tls_ca = CaIdentity {
            id: "esim-rsp-test-tls-ca".into(),
            key: tls_key,
            cert: tls_cert,
        };
        let smdp = server(
            &p.smdp_id,
            &p.smdp_dns,
            CertType::SmDp,
            &ci,
            &tls_ca,
            entity_validity,
        )?;
        let smsr = server(
            &p.smsr_id,
            &p.smsr_dns,
            CertType::SmSr,
            &ci,
            &tls_ca,
            entity_validity,
        )?;
        Ok(TestPki {
            ci,
            eum,
            smdp,
            smsr,
            tls_ca,
        })
    }

    /// Checks every chain: CI self-signature, EUM by CI, SM-DP/SM-SR GP certificates by PK.CI,
    /// TLS identities by the TLS CA; optionally validity at `at`.
    pub fn verify(&self, at: Option<Date>) -> Result<(), PkiError> {
        verify_chain(&self.ci.cert, &self.eum.cert, at)?;
        let ci_pk = self.ci.cert.public_key()?;
        self.smdp.cert.verify_full(&ci_pk, at, &[CertType::SmDp])?;
        self.smsr.cert.verify_full(&ci_pk, at, &[CertType::SmSr])?;
        self.tls_ca.cert.verify_issued_by(&self.tls_ca.cert)?;
        for s in [&self.smdp, &self.smsr] {
            s.tls_cert.verify_issued_by(&self.tls_ca.cert)?;
            if let Some(at) = at {
                s.tls_cert.check_validity(at)?;
            }
        }
        Ok(())
    }
}

/// Verifies the CI root (self-signed) and the EUM certificate against it.
pub fn verify_chain(
    ci_cert: &X509Certificate,
    eum_cert: &X509Certificate,
    at: Option<Date>,
) -> Result<(), PkiError> {
    ci_cert.verify_issued_by(ci_cert)?;
    eum_cert.verify_issued_by(ci_cert)?;
    if let Some(at) = at {
        ci_cert.check_validity(at)?;
        eum_cert.check_validity(at)?;
    }
    Ok(())
}

/// Verifies CERT.ECASD.ECKA against the EUM certificate, and the EUM against the CI (what the
/// SM-DP does before key establishment, digest §3.1 step 2, and SM-SR2 in an SM-SR change);
/// checks that the subject is `eid` if given. Returns PK.ECASD.ECKA.
pub fn verify_ecasd_certificate(
    ecasd: &Certificate,
    eum_cert: &X509Certificate,
    ci_cert: &X509Certificate,
    eid: Option<&Eid>,
    at: Option<Date>,
) -> Result<PublicKey, PkiError> {
    verify_chain(ci_cert, eum_cert, at)?;
    ecasd.verify_full(&eum_cert.public_key()?, at, &[CertType::Ecasd])?;
    if let Some(eid) = eid {
        if ecasd.body().subject_id != eid.to_bcd() {
            return Err(PkiError::EisMismatch(format!(
                "ECASD certificate subject {} is not EID {}",
                hex::encode(&ecasd.body().subject_id),
                eid.as_str()
            )));
        }
    }
    Ok(ecasd.public_key().clone())
}

/// AES key check value: the first three bytes of AES(key, 01…01) (GP Amd D §6.2.2 style KCV).
pub fn aes_kcv(key: &SecretKey) -> Result<[u8; 3], PkiError> {
    let b = aes_encrypt_block(key.expose(), &[0x01; 16])
        .map_err(|e| PkiError::Param(format!("key: {e}")))?;
    Ok([b[0], b[1], b[2]])
}

/// The SCP81 PSK identity of SGP.02 §2.4.4.1 Table 4 (digest §5.3):
/// `80 01 02 ‖ 81 10 EID ‖ 4F 10 ISD-R AID ‖ 82 01 KID ‖ 83 01 KVN` (binary; hex-encoded on the wire).
pub fn scp81_psk_identity(eid: &Eid, kvn: u8, kid: u8) -> Vec<u8> {
    let mut w = esim_codec::ber::Writer::new();
    w.put(0x80u8, &[0x02]);
    w.put(0x81u8, &eid.to_bcd());
    w.put(0x4Fu8, Aid::isd_r().as_bytes());
    w.put(0x82u8, &[kid]);
    w.put(0x83u8, &[kvn]);
    w.into_bytes()
}

/// An ISD-R SCP81 PSK-TLS keyset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PskKeyset {
    /// Key version number.
    pub kvn: u8,
    /// Key identifier.
    pub kid: u8,
    /// PSK identity ([`scp81_psk_identity`]).
    pub identity: Vec<u8>,
    /// The pre-shared key (16 bytes).
    pub psk: SecretKey,
}

/// eUICC capabilities as the EIS lists them (digest §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EuiccCapabilities {
    /// CAT_TP supported.
    pub cattp_support: bool,
    /// CAT_TP version, if supported.
    pub cattp_version: Option<String>,
    /// HTTPS (SCP81) supported.
    pub http_support: bool,
    /// HTTP version.
    pub http_version: Option<String>,
    /// Secure packet version (ETSI TS 102 225).
    pub secure_packet_version: String,
    /// SGP.02 remote provisioning version.
    pub remote_provisioning_version: String,
}

/// Parameters of [`issue_euicc`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuiccParams {
    /// The EID.
    pub eid: Eid,
    /// Production date (EIS).
    pub production_date: Date,
    /// Validity of CERT.ECASD.ECKA.
    pub cert_validity: ValidityDays,
    /// Platform type (EIS).
    pub platform_type: String,
    /// Platform version (EIS).
    pub platform_version: String,
    /// Key version numbers of the ISD-R SCP80 keysets to create.
    pub scp80_kvns: Vec<u8>,
    /// Key version numbers of the ISD-R SCP81 PSK keysets to create.
    pub scp81_kvns: Vec<u8>,
    /// Capabilities.
    pub capabilities: EuiccCapabilities,
    /// Remaining (free) memory in bytes.
    pub remaining_memory: u32,
    /// Memory available for Profiles in bytes.
    pub available_memory_for_profiles: u32,
}

impl EuiccParams {
    /// Test defaults: one SCP80 keyset (KVN 01) and one SCP81 keyset (KVN 40), SMS + HTTPS,
    /// certificate validity from `production_date` for `days`.
    pub fn test_defaults(eid: Eid, production_date: Date, days: i64) -> Result<Self, PkiError> {
        let not_after = production_date
            .add_days(days)
            .ok_or_else(|| PkiError::Param("certificate validity out of range".into()))?;
        Ok(EuiccParams {
            eid,
            production_date,
            cert_validity: ValidityDays {
                not_before: production_date,
                not_after,
            },
            platform_type: "esim-rsp software eUICC".into(),
            platform_version: env!("CARGO_PKG_VERSION").into(),
            scp80_kvns: vec![0x01],
            scp81_kvns: vec![0x40],
            capabilities: EuiccCapabilities {
                cattp_support: false,
                cattp_version: None,
                http_support: true,
                http_version: Some("1.1".into()),
                secure_packet_version: "12.0.0".into(),
                remote_provisioning_version: "3.2".into(),
            },
            remaining_memory: 512 * 1024,
            available_memory_for_profiles: 448 * 1024,
        })
    }
}

/// The EID with `prefix` (starting `89`) followed by `serial` zero-padded to fill 30 digits,
/// completed with its ISO 7064 check digits.
pub fn eid_from_prefix(prefix: &str, serial: u64) -> Result<Eid, PkiError> {
    if prefix.len() > 29 || !prefix.bytes().all(|b| b.is_ascii_digit()) || !prefix.starts_with("89")
    {
        return Err(PkiError::Param(format!(
            "EID prefix {prefix:?}: 2 to 29 decimal digits starting with 89"
        )));
    }
    let width = 30 - prefix.len();
    let s = format!("{serial:0width$}");
    if s.len() > width {
        return Err(PkiError::Param(format!(
            "serial {serial} does not fit in {width} digits after prefix {prefix}"
        )));
    }
    Ok(Eid::from_body(&format!("{prefix}{s}"))?)
}

/// A hex-serialised secret key inside the EIS (redacted in `Debug`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexKey(pub SecretKey);

impl Serialize for HexKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = Zeroizing::new(hex::encode_upper(self.0.expose()));
        s.serialize_str(&h)
    }
}

impl<'de> Deserialize<'de> for HexKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        let v = hex::decode(&s).map_err(|e| serde::de::Error::custom(format!("key value: {e}")))?;
        Ok(HexKey(SecretKey::from_vec(v)))
    }
}

/// One key of an EIS keyset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EisKey {
    /// Key identifier (1 KIc, 2 KID, 3 DEK for SCP80; 1 for the PSK).
    pub index: u8,
    /// Key check value (hex).
    pub kcv: String,
    /// Key type: "AES" or "PSK-TLS".
    #[serde(rename = "type")]
    pub key_type: String,
    /// The key value (hex).
    pub value: HexKey,
}

/// An ISD-R keyset in the EIS (digest §4.1 `Keyset`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EisKeyset {
    /// Key version number.
    pub version: u8,
    /// "SCP80" or "SCP81".
    #[serde(rename = "type")]
    pub keyset_type: String,
    /// Initial counter (hex), SCP80 only.
    pub cntr: Option<String>,
    /// PSK identity (hex), SCP81 only.
    pub psk_identity: Option<String>,
    /// The keys.
    pub keys: Vec<EisKey>,
}

/// A security domain entry (`Ecasd` / `Isd-r`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EisSecurityDomain {
    /// AID (hex, upper case).
    pub aid: String,
    /// TAR (hex).
    pub tar: String,
    /// "ISD-R" or "ECASD".
    pub role: String,
    /// GP certificate (hex of the `7F21` TLV), ECASD only.
    pub certificate: Option<String>,
    /// Keysets, ISD-R only.
    pub keysets: Vec<EisKeyset>,
}

/// The EUM-signed part of the EIS (digest §4.1 EumSignedInfo, plus ISD-R and memory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EumSignedInfo {
    /// EID (32 digits).
    pub eid: String,
    /// EUM identifier.
    pub eum_id: String,
    /// Production date (YYYY-MM-DD).
    pub production_date: String,
    /// Platform type.
    pub platform_type: String,
    /// Platform version.
    pub platform_version: String,
    /// ISD-P executable load file AID (hex).
    pub isd_p_loadfile_aid: String,
    /// ISD-P executable module AID (hex).
    pub isd_p_module_aid: String,
    /// The ECASD with CERT.ECASD.ECKA.
    pub ecasd: EisSecurityDomain,
    /// The ISD-R with its keysets.
    pub isd_r: EisSecurityDomain,
    /// Capabilities.
    pub euicc_capabilities: EuiccCapabilities,
    /// Remaining memory (bytes).
    pub remaining_memory: u32,
    /// Memory available for Profiles (bytes).
    pub available_memory_for_profiles: u32,
}

impl EumSignedInfo {
    /// The canonical bytes the EUM signs: compact serde_json in declaration order.
    pub fn canonical_bytes(&self) -> Result<Zeroizing<Vec<u8>>, PkiError> {
        serde_json::to_vec(self)
            .map(Zeroizing::new)
            .map_err(|e| PkiError::EisFormat(e.to_string()))
    }
}

/// Signature algorithm label written into the EIS.
pub const EIS_SIGNATURE_ALGORITHM: &str = "ecdsa-with-SHA256/plain-r-s/canonical-json";

/// The signed EIS document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EisDocument {
    /// The signed information.
    pub eum_signed_info: EumSignedInfo,
    /// [`EIS_SIGNATURE_ALGORITHM`].
    pub signature_algorithm: String,
    /// EUM signature r‖s (hex) over [`EumSignedInfo::canonical_bytes`].
    pub eum_signature: String,
    /// The EUM certificate's subject key identifier (hex).
    pub eum_certificate_id: String,
}

impl EisDocument {
    /// Pretty JSON (the file format). Contains secret keys.
    pub fn to_json(&self) -> Result<Zeroizing<String>, PkiError> {
        serde_json::to_string_pretty(self)
            .map(Zeroizing::new)
            .map_err(|e| PkiError::EisFormat(e.to_string()))
    }

    /// Parses the JSON document (unknown fields are refused).
    pub fn from_json(text: &str) -> Result<Self, PkiError> {
        serde_json::from_str(text).map_err(|e| PkiError::EisFormat(e.to_string()))
    }

    /// The ECASD certificate carried in the EIS.
    pub fn ecasd_certificate(&self) -> Result<Certificate, PkiError> {
        let h = self
            .eum_signed_info
            .ecasd
            .certificate
            .as_deref()
            .ok_or_else(|| PkiError::EisFormat("ecasd.certificate missing".into()))?;
        let bytes =
            hex::decode(h).map_err(|e| PkiError::EisFormat(format!("ecasd.certificate: {e}")))?;
        Ok(Certificate::decode(&bytes)?)
    }
}

/// What [`verify_eis`] established.
#[derive(Debug, Clone)]
pub struct VerifiedEis {
    /// The EID.
    pub eid: Eid,
    /// CERT.ECASD.ECKA, verified against the EUM.
    pub ecasd_certificate: Certificate,
}

/// Verifies an EIS: the EUM certificate against the CI, the EUM signature over the canonical
/// signed info, CERT.ECASD.ECKA against the EUM and its subject against the EID.
pub fn verify_eis(
    eis: &EisDocument,
    eum_cert: &X509Certificate,
    ci_cert: &X509Certificate,
) -> Result<VerifiedEis, PkiError> {
    verify_chain(ci_cert, eum_cert, None)?;
    if eis.signature_algorithm != EIS_SIGNATURE_ALGORITHM {
        return Err(PkiError::EisFormat(format!(
            "signatureAlgorithm {:?} not supported",
            eis.signature_algorithm
        )));
    }
    let sig = hex::decode(&eis.eum_signature)
        .map_err(|e| PkiError::EisFormat(format!("eumSignature: {e}")))?;
    let data = eis.eum_signed_info.canonical_bytes()?;
    eum_cert
        .public_key()?
        .verify(&data, &sig)
        .map_err(|_| PkiError::EisSignature)?;
    if let Some(ski) = eum_cert.subject_key_id() {
        if !eis
            .eum_certificate_id
            .eq_ignore_ascii_case(&hex::encode(&ski))
        {
            return Err(PkiError::EisMismatch(
                "eumCertificateId is not the EUM certificate's key identifier".into(),
            ));
        }
    }
    let eid = Eid::parse(&eis.eum_signed_info.eid)?;
    let ecasd_certificate = eis.ecasd_certificate()?;
    verify_ecasd_certificate(&ecasd_certificate, eum_cert, ci_cert, Some(&eid), None)?;
    Ok(VerifiedEis {
        eid,
        ecasd_certificate,
    })
}

/// Everything the EUM produces for one eUICC.
#[derive(Clone)]
pub struct IssuedEuicc {
    /// The EID.
    pub eid: Eid,
    /// SK/PK.ECASD.ECKA.
    pub ecasd_key: KeyPair,
    /// CERT.ECASD.ECKA (signed by the EUM).
    pub ecasd_cert: Certificate,
    /// PK.CI.ECDSA, stored in the ECASD.
    pub ci_public_key: PublicKey,
    /// ISD-R SCP80 keysets.
    pub scp80: Vec<Scp80Keys>,
    /// ISD-R SCP81 keysets.
    pub scp81: Vec<PskKeyset>,
    /// The signed EIS.
    pub eis: EisDocument,
}

impl fmt::Debug for IssuedEuicc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedEuicc")
            .field("eid", &self.eid.as_str())
            .field("ecasd_key", &self.ecasd_key)
            .finish_non_exhaustive()
    }
}

impl IssuedEuicc {
    /// The ECASD credentials for the card side of key establishment.
    pub fn ecasd_credentials(&self) -> EcasdCredentials {
        EcasdCredentials {
            key: self.ecasd_key.clone(),
            certificate: self.ecasd_cert.clone(),
            ci_public_key: self.ci_public_key.clone(),
        }
    }
}

fn aes_key(kind: &str, index: u8, key: &SecretKey) -> Result<EisKey, PkiError> {
    Ok(EisKey {
        index,
        kcv: hex::encode(&aes_kcv(key)?),
        key_type: kind.into(),
        value: HexKey(key.clone()),
    })
}

/// Issues one eUICC: ECASD key pair and certificate (subject = EID in BCD), ISD-R keysets,
/// and the EUM-signed EIS.
pub fn issue_euicc(
    eum: &CaIdentity,
    ci_cert: &X509Certificate,
    p: &EuiccParams,
) -> Result<IssuedEuicc, PkiError> {
    let ecasd_key = KeyPair::generate()?;
    let ecasd_cert = issue_gp_certificate(
        eum,
        &p.eid.to_bcd(),
        ecasd_key.public_key(),
        CertType::Ecasd,
        &KEY_USAGE_KEY_AGREEMENT,
        p.cert_validity,
    )?;
    let mut scp80 = Vec::new();
    let mut keysets = Vec::new();
    for &kvn in &p.scp80_kvns {
        if !(0x01..=0x0F).contains(&kvn) {
            return Err(PkiError::Param(format!(
                "SCP80 KVN {kvn:02X}: must be 01-0F (TS 102 225 key indicator)"
            )));
        }
        let ks = Scp80Keys {
            kvn,
            kic: SecretKey::random(16).map_err(|_| PkiError::Rng)?,
            kid: SecretKey::random(16).map_err(|_| PkiError::Rng)?,
            dek: SecretKey::random(16).map_err(|_| PkiError::Rng)?,
            initial_counter: vec![0; 5],
        };
        keysets.push(EisKeyset {
            version: kvn,
            keyset_type: "SCP80".into(),
            cntr: Some(hex::encode(&ks.initial_counter)),
            psk_identity: None,
            keys: vec![
                aes_key("AES", 1, &ks.kic)?,
                aes_key("AES", 2, &ks.kid)?,
                aes_key("AES", 3, &ks.dek)?,
            ],
        });
        scp80.push(ks);
    }
    let mut scp81 = Vec::new();
    for &kvn in &p.scp81_kvns {
        let ks = PskKeyset {
            kvn,
            kid: 0x01,
            identity: scp81_psk_identity(&p.eid, kvn, 0x01),
            psk: SecretKey::random(16).map_err(|_| PkiError::Rng)?,
        };
        keysets.push(EisKeyset {
            version: kvn,
            keyset_type: "SCP81".into(),
            cntr: None,
            psk_identity: Some(hex::encode(&ks.identity)),
            keys: vec![aes_key("PSK-TLS", ks.kid, &ks.psk)?],
        });
        scp81.push(ks);
    }
    let info = EumSignedInfo {
        eid: p.eid.as_str().to_string(),
        eum_id: eum.id.clone(),
        production_date: p.production_date.to_string(),
        platform_type: p.platform_type.clone(),
        platform_version: p.platform_version.clone(),
        isd_p_loadfile_aid: hex::encode_upper(Aid::isd_p_load_file().as_bytes()),
        isd_p_module_aid: hex::encode_upper(Aid::isd_p_module().as_bytes()),
        ecasd: EisSecurityDomain {
            aid: hex::encode_upper(Aid::ecasd().as_bytes()),
            tar: hex::encode_upper(&Tar::ECASD.0),
            role: "ECASD".into(),
            certificate: Some(hex::encode_upper(&ecasd_cert.encode())),
            keysets: Vec::new(),
        },
        isd_r: EisSecurityDomain {
            aid: hex::encode_upper(Aid::isd_r().as_bytes()),
            tar: hex::encode_upper(&Tar::ISD_R.0),
            role: "ISD-R".into(),
            certificate: None,
            keysets,
        },
        euicc_capabilities: p.capabilities.clone(),
        remaining_memory: p.remaining_memory,
        available_memory_for_profiles: p.available_memory_for_profiles,
    };
    let sig = eum.key.sign(&info.canonical_bytes()?)?;
    let eis = EisDocument {
        eum_signed_info: info,
        signature_algorithm: EIS_SIGNATURE_ALGORITHM.into(),
        eum_signature: hex::encode(&sig),
        eum_certificate_id: eum
            .cert
            .subject_key_id()
            .map(|k| hex::encode(&k))
            .unwrap_or_default(),
    };
    Ok(IssuedEuicc {
        eid: p.eid.clone(),
        ecasd_key,
        ecasd_cert,
        ci_public_key: ci_cert.public_key()?,
        scp80,
        scp81,
        eis,
    })
}
