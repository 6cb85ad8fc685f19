//! GlobalPlatform Amendment E certificates (`7F21`), the format of CERT.DP.ECDSA, CERT.SR.ECDSA and
//! CERT.ECASD.ECKA in SGP.02 (§2.3, §4.1.3; digest §3.2 and §4.4; sgp02-gaps §4).
//!
//! ```text
//! 7F21 L {
//!   93 L serial number
//!   42 L CA identifier
//!   5F20 L subject identifier
//!   95 L key usage
//!   [5F25 04 effective date YYYYMMDD BCD]
//!   5F24 04 expiration date YYYYMMDD BCD
//!   73 L { C8 01 certificate type, [C9 L authority key identifier], other discretionary TLVs… }
//!   7F49 L { B0 41 04‖X‖Y, F0 01 00 }
//!   5F37 40 r‖s
//! }
//! ```
//!
//! **Signed data** (digest §3.2, "everything before 5F37", SGP.02 v4.2 Table 78 as cited by NJ):
//! the concatenation of the TLVs `93` … `7F49` exactly as they appear inside `7F21`, without the
//! `7F21` tag and length. A decoded certificate keeps those bytes verbatim, so verification never
//! depends on re-encoding. The signature is ECDSA-SHA256 in plain `r ‖ s` form.

use crate::ec::{self, EcError, KeyPair, PublicKey, SIGNATURE_LEN};
use esim_codec::ber::{self, DecodeError, Tag, Tlv, Writer};
use std::fmt;

/// Tag of the certificate template.
pub const TAG_CERTIFICATE: u16 = 0x7F21;

/// Key usage `0080`: the certified key verifies digital signatures (SM-DP, SM-SR certificates;
/// GP Amd E key usage as NJ writes it, digest §3.2). Unverified against the normative table:
/// see docs/spec-choices.md.
pub const KEY_USAGE_SIGNATURE_VERIFICATION: [u8; 2] = [0x00, 0x80];
/// Key usage `0008`: the certified key is used for key agreement (CERT.ECASD.ECKA). Our choice
/// from the GP key usage qualifier bits (`08` = confidentiality / key establishment); see
/// docs/spec-choices.md.
pub const KEY_USAGE_KEY_AGREEMENT: [u8; 2] = [0x00, 0x08];

/// A calendar date, as the certificates carry it (`YYYYMMDD` in four BCD bytes, tags `5F25` /
/// `5F24`). Ordered chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year, 0000–9999.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31 (checked against the month and leap years).
    pub day: u8,
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(i64::from(year)) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A checked date.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        (year <= 9999 && (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month))
            .then_some(Date { year, month, day })
    }

    /// Parses `YYYYMMDD` or `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Self> {
        let digits: String = s.chars().filter(|c| *c != '-').collect();
        if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if s.contains('-') && (s.len() != 10 || &s[4..5] != "-" || &s[7..8] != "-") {
            return None;
        }
        let year = digits[0..4].parse().ok()?;
        let month = digits[4..6].parse().ok()?;
        let day = digits[6..8].parse().ok()?;
        Date::new(year, month, day)
    }

    /// Decodes four BCD bytes `YYYYMMDD`.
    pub fn from_bcd(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 4 {
            return None;
        }
        let mut digits = String::with_capacity(8);
        for b in bytes {
            let (hi, lo) = (b >> 4, b & 0x0F);
            if hi > 9 || lo > 9 {
                return None;
            }
            digits.push(char::from(b'0' + hi));
            digits.push(char::from(b'0' + lo));
        }
        Date::parse(&digits)
    }

    /// Encodes as four BCD bytes `YYYYMMDD`.
    pub fn to_bcd(&self) -> [u8; 4] {
        let s = format!("{:04}{:02}{:02}", self.year, self.month, self.day);
        let d = s.as_bytes();
        let mut out = [0u8; 4];
        for (i, o) in out.iter_mut().enumerate() {
            *o = ((d[2 * i] - b'0') << 4) | (d[2 * i + 1] - b'0');
        }
        out
    }

    /// Days since 1970-01-01 (negative before).
    pub fn to_unix_days(&self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01, if it is within years 0000–9999.
    pub fn from_unix_days(days: i64) -> Option<Self> {
        let z = days.checked_add(719_468)?;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        Date::new(
            u16::try_from(y).ok()?,
            u8::try_from(m).ok()?,
            u8::try_from(d).ok()?,
        )
    }

    /// This date plus `days` (which may be negative).
    pub fn add_days(&self, days: i64) -> Option<Self> {
        Date::from_unix_days(self.to_unix_days().checked_add(days)?)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Certificate type, tag `C8` in the discretionary data `73` (digest §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertType {
    /// `01`: SM-DP (CERT.DP.ECDSA), signed by the CI.
    SmDp,
    /// `02`: SM-SR (CERT.SR.ECDSA), signed by the CI.
    SmSr,
    /// `03`: eUICC ECASD (CERT.ECASD.ECKA), signed by the EUM. The value is our choice
    /// (docs/spec-choices.md); it keeps ECASD certificates from being accepted as off-card ones.
    Ecasd,
    /// Any other value, kept as is.
    Other(u8),
}

impl CertType {
    /// The `C8` byte.
    pub fn to_byte(self) -> u8 {
        match self {
            CertType::SmDp => 0x01,
            CertType::SmSr => 0x02,
            CertType::Ecasd => 0x03,
            CertType::Other(b) => b,
        }
    }

    /// From the `C8` byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            0x01 => CertType::SmDp,
            0x02 => CertType::SmSr,
            0x03 => CertType::Ecasd,
            other => CertType::Other(other),
        }
    }
}

/// A certificate or certificate-check failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The bytes are not a well-formed `7F21` certificate (the error names tag and offset).
    #[error("certificate decoding: {0}")]
    Decode(#[from] DecodeError),
    /// The signature does not verify under the issuer's key (wrong issuer or tampered content).
    #[error("certificate signature: {0}")]
    Signature(EcError),
    /// Signing failed.
    #[error("certificate signing: {0}")]
    Signing(EcError),
    /// The date passed in is after the expiration date `5F24`.
    #[error("certificate expired on {expiry} (checked at {at})")]
    Expired {
        /// Expiration date of the certificate.
        expiry: Date,
        /// Date of the check.
        at: Date,
    },
    /// The date passed in is before the effective date `5F25`.
    #[error("certificate not valid before {effective} (checked at {at})")]
    NotYetValid {
        /// Effective date of the certificate.
        effective: Date,
        /// Date of the check.
        at: Date,
    },
    /// The certificate type `C8` is not the one the caller accepts.
    #[error("certificate type {found:?} not accepted here")]
    WrongType {
        /// Type found in the certificate (None: no `C8`).
        found: Option<CertType>,
    },
    /// A field value that cannot be encoded (e.g. an empty serial number).
    #[error("certificate field {0} is invalid")]
    InvalidField(&'static str),
}

/// The content of a certificate, everything that is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateBody {
    /// `93` certificate serial number.
    pub serial: Vec<u8>,
    /// `42` CA identifier (of the issuer).
    pub ca_id: Vec<u8>,
    /// `5F20` subject identifier.
    pub subject_id: Vec<u8>,
    /// `95` key usage.
    pub key_usage: Vec<u8>,
    /// `5F25` effective date.
    pub effective_date: Option<Date>,
    /// `5F24` expiration date.
    pub expiry_date: Date,
    /// `73`/`C8` certificate type.
    pub cert_type: Option<CertType>,
    /// `73`/`C9` authority key identifier (the issuer's subject key identifier).
    pub authority_key_id: Option<Vec<u8>>,
    /// Further discretionary TLVs inside `73`, as encoded bytes (kept verbatim).
    pub other_discretionary: Vec<u8>,
    /// `7F49` the certified public key.
    pub public_key: PublicKey,
}

impl CertificateBody {
    /// The signed data: TLVs `93` … `7F49` concatenated (module doc).
    pub fn signing_data(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.put(0x93u8, &self.serial);
        w.put(0x42u8, &self.ca_id);
        w.put(0x5F20u16, &self.subject_id);
        w.put(0x95u8, &self.key_usage);
        if let Some(d) = self.effective_date {
            w.put(0x5F25u16, &d.to_bcd());
        }
        w.put(0x5F24u16, &self.expiry_date.to_bcd());
        w.constructed(0x73u8, |w| {
            if let Some(t) = self.cert_type {
                w.put(0xC8u8, &[t.to_byte()]);
            }
            if let Some(aki) = &self.authority_key_id {
                w.put(0xC9u8, aki);
            }
            w.raw(&self.other_discretionary);
        });
        w.raw(&ec::encode_7f49(&self.public_key));
        w.into_bytes()
    }

    /// Signs the body with the issuer's key (ECDSA-SHA256 over [`Self::signing_data`]).
    pub fn sign(self, issuer: &KeyPair) -> Result<Certificate, CertError> {
        if self.serial.is_empty() {
            return Err(CertError::InvalidField("93 serial number"));
        }
        if ber::parse_all(&self.other_discretionary).is_err() {
            return Err(CertError::InvalidField("73 discretionary data"));
        }
        let signed_data = self.signing_data();
        let signature = issuer.sign(&signed_data).map_err(CertError::Signing)?;
        Ok(Certificate {
            body: self,
            signed_data,
            signature,
        })
    }
}

/// A signed `7F21` certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    body: CertificateBody,
    signed_data: Vec<u8>,
    signature: [u8; SIGNATURE_LEN],
}

fn date_field(t: &Tlv<'_>, field: &str) -> Result<Date, DecodeError> {
    Date::from_bcd(t.value).ok_or_else(|| {
        DecodeError::bad_value(
            t.offset,
            field,
            "must be 4 BCD bytes YYYYMMDD of a real date",
        )
    })
}

impl Certificate {
    /// Decodes exactly one `7F21` certificate filling `buf`.
    pub fn decode(buf: &[u8]) -> Result<Self, CertError> {
        let t = ber::parse_one(buf)?;
        Self::from_tlv(&t)
    }

    /// Decodes a `7F21` TLV already parsed by the caller (offsets stay those of its buffer).
    pub fn from_tlv(t: &Tlv<'_>) -> Result<Self, CertError> {
        let t = t.expect_tag(TAG_CERTIFICATE)?;
        let mut r = t.children();
        let serial = r.read_tag(0x93u8)?;
        if serial.value.is_empty() {
            return Err(DecodeError::bad_value(serial.offset, "93 serial number", "empty").into());
        }
        let ca_id = r.read_tag(0x42u8)?;
        let subject = r.read_tag(0x5F20u16)?;
        let key_usage = r.read_tag(0x95u8)?;
        let effective = r.read_optional(0x5F25u16)?;
        let expiry = r.read_tag(0x5F24u16)?;
        let disc = r.read_tag(0x73u8)?;
        let pk = r.read_tag(0x7F49u16)?;
        let signed_end = r.offset();
        let sig = r.read_tag(0x5F37u16)?;
        r.finish()?;

        let effective_date = effective
            .map(|e| date_field(&e, "5F25 effective date"))
            .transpose()?;
        let expiry_date = date_field(&expiry, "5F24 expiration date")?;

        let mut cert_type = None;
        let mut authority_key_id = None;
        let mut other_discretionary = Vec::new();
        for child in disc.children() {
            let child = child?;
            match child.tag {
                Tag(0xC8) if cert_type.is_none() => {
                    let [b] = child.value else {
                        return Err(DecodeError::bad_value(
                            child.offset,
                            "73/C8 certificate type",
                            "must be 1 byte",
                        )
                        .into());
                    };
                    cert_type = Some(CertType::from_byte(*b));
                }
                Tag(0xC9) if authority_key_id.is_none() => {
                    authority_key_id = Some(child.value.to_vec());
                }
                _ => other_discretionary.extend_from_slice(child.raw),
            }
        }

        let public_key = ec::decode_7f49(&pk)?;
        let signature: [u8; SIGNATURE_LEN] = sig.value.try_into().map_err(|_| {
            DecodeError::bad_value(sig.offset, "5F37 signature", "must be 64 bytes r||s")
        })?;

        let start = t.value_offset;
        let signed_data = t
            .value
            .get(..signed_end.saturating_sub(start))
            .ok_or_else(|| DecodeError::bad_value(signed_end, "7F21", "internal offset error"))?
            .to_vec();

        Ok(Certificate {
            body: CertificateBody {
                serial: serial.value.to_vec(),
                ca_id: ca_id.value.to_vec(),
                subject_id: subject.value.to_vec(),
                key_usage: key_usage.value.to_vec(),
                effective_date,
                expiry_date,
                cert_type,
                authority_key_id,
                other_discretionary,
                public_key,
            },
            signed_data,
            signature,
        })
    }

    /// The encoded `7F21` TLV.
    pub fn encode(&self) -> Vec<u8> {
        let mut value = self.signed_data.clone();
        value.extend_from_slice(&ber::tlv(0x5F37u16, &self.signature));
        ber::tlv(TAG_CERTIFICATE, &value)
    }

    /// The certificate content.
    pub fn body(&self) -> &CertificateBody {
        &self.body
    }

    /// The certified public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.body.public_key
    }

    /// The certificate type (`C8`), if present.
    pub fn cert_type(&self) -> Option<CertType> {
        self.body.cert_type
    }

    /// The signed bytes (TLVs `93` … `7F49`, verbatim).
    pub fn signed_data(&self) -> &[u8] {
        &self.signed_data
    }

    /// The `5F37` signature `r ‖ s`.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// Verifies the signature with the issuer's public key (PK.CI.ECDSA for SM-DP/SM-SR
    /// certificates, PK.EUM.ECDSA for the ECASD certificate).
    pub fn verify(&self, issuer: &PublicKey) -> Result<(), CertError> {
        issuer
            .verify(&self.signed_data, &self.signature)
            .map_err(CertError::Signature)
    }

    /// Checks `5F25 ≤ at ≤ 5F24` (the caller supplies the date: this crate has no clock).
    pub fn check_validity(&self, at: Date) -> Result<(), CertError> {
        if let Some(effective) = self.body.effective_date {
            if at < effective {
                return Err(CertError::NotYetValid { effective, at });
            }
        }
        if at > self.body.expiry_date {
            return Err(CertError::Expired {
                expiry: self.body.expiry_date,
                at,
            });
        }
        Ok(())
    }

    /// Verifies the signature, then the validity at `at` (if given), then that the type is one
    /// of `accepted` (if not empty).
    pub fn verify_full(
        &self,
        issuer: &PublicKey,
        at: Option<Date>,
        accepted: &[CertType],
    ) -> Result<(), CertError> {
        self.verify(issuer)?;
        if let Some(at) = at {
            self.check_validity(at)?;
        }
        if !accepted.is_empty() && !self.cert_type().is_some_and(|t| accepted.contains(&t)) {
            return Err(CertError::WrongType {
                found: self.cert_type(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let d = Date::new(2025, 2, 28).unwrap();
        assert_eq!(d.to_bcd(), [0x20, 0x25, 0x02, 0x28]);
        assert_eq!(Date::from_bcd(&[0x20, 0x25, 0x02, 0x28]), Some(d));
        assert_eq!(Date::from_bcd(&[0x20, 0x25, 0x02, 0x30]), None);
        assert_eq!(
            Date::from_bcd(&[0x20, 0x24, 0x02, 0x29]),
            Date::new(2024, 2, 29)
        );
        assert_eq!(Date::from_bcd(&[0x20, 0x2A, 0x01, 0x01]), None);
        assert_eq!(Date::parse("2025-02-28"), Some(d));
        assert_eq!(Date::parse("20250228"), Some(d));
        assert_eq!(Date::parse("2025-0228"), None);
        assert_eq!(Date::new(1970, 1, 1).unwrap().to_unix_days(), 0);
        assert_eq!(Date::from_unix_days(20_000), Date::new(2024, 10, 4));
        assert_eq!(d.add_days(1), Date::new(2025, 3, 1));
        assert_eq!(d.to_string(), "2025-02-28");
        for n in [-1000i64, 0, 59, 60, 365, 10_957, 20_000, 2_932_896] {
            assert_eq!(Date::from_unix_days(n).unwrap().to_unix_days(), n);
        }
    }
}
