//! Validated identifiers. Each is checked once, at construction, so code that holds one never has
//! to re-validate it.
//!
//! * [`Eid`]: 32 decimal digits, `89…`, ISO/IEC 7064 MOD 97-10 check digits (GSMA SGP.29 §10;
//!   digest §4.2). On the card it is 16 bytes of plain BCD (tags `5A`, `4C`).
//! * [`Iccid`]: 18–20 digits, `89…` (ITU-T E.118). On the card it is 10 bytes of nibble-swapped
//!   BCD padded with `F` (EF.ICCID, SAIP `ProfileHeader.iccid`).
//! * [`Imsi`]: 6–15 digits; EF.IMSI coding of 3GPP TS 31.102 §4.2.2 (length byte, parity nibble).
//! * [`Aid`]: 5–16 bytes (ISO/IEC 7816-4 §8.2.1.2), with the SGP.02 AIDs of digest §1.2.
//! * [`Tar`]: the 3-byte Toolkit Application Reference of ETSI TS 101 220 / TS 102 225.

use std::fmt;
use std::str::FromStr;

/// An identifier that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Wrong number of digits or bytes.
    #[error("{what}: expected {expected}, got {got}")]
    Length {
        /// Which identifier.
        what: &'static str,
        /// What is allowed.
        expected: &'static str,
        /// What was given.
        got: usize,
    },
    /// A character that is not allowed, at a position.
    #[error("{what}: invalid character {found:?} at position {position}")]
    BadChar {
        /// Which identifier.
        what: &'static str,
        /// 0-based position.
        position: usize,
        /// The character.
        found: char,
    },
    /// Check digits do not match.
    #[error("{what}: check digits {found} are wrong, expected {expected}")]
    CheckDigits {
        /// Which identifier.
        what: &'static str,
        /// Check digits in the input.
        found: String,
        /// Check digits computed from the other digits.
        expected: String,
    },
    /// A fixed prefix is missing.
    #[error("{what}: must start with {prefix}")]
    Prefix {
        /// Which identifier.
        what: &'static str,
        /// The required prefix.
        prefix: &'static str,
    },
}

fn digits_only(what: &'static str, s: &str) -> Result<(), IdError> {
    match s.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        Some((position, found)) => Err(IdError::BadChar {
            what,
            position,
            found,
        }),
        None => Ok(()),
    }
}

/// Remainder of a decimal string modulo 97 (ISO/IEC 7064, computed digit by digit).
fn mod97(digits: &str) -> u32 {
    digits
        .bytes()
        .fold(0u32, |acc, d| (acc * 10 + u32::from(d - b'0')) % 97)
}

/// eUICC identifier (SGP.02 §2.2.2, SGP.29 §10).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Eid(String);

impl Eid {
    const WHAT: &'static str = "EID";

    /// Parses and validates a 32-digit EID, including its check digits.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() != 32 {
            return Err(IdError::Length {
                what: Self::WHAT,
                expected: "32 decimal digits",
                got: s.chars().count(),
            });
        }
        digits_only(Self::WHAT, s)?;
        if !s.starts_with("89") {
            return Err(IdError::Prefix {
                what: Self::WHAT,
                prefix: "89",
            });
        }
        let expected = Self::check_digits(&s[..30])?;
        if s[30..] != expected {
            return Err(IdError::CheckDigits {
                what: Self::WHAT,
                found: s[30..].to_string(),
                expected,
            });
        }
        Ok(Eid(s.to_string()))
    }

    /// The two ISO/IEC 7064 MOD 97-10 check digits for the first 30 digits:
    /// `98 - (digits ‖ "00") mod 97`, left-padded to two digits.
    pub fn check_digits(first30: &str) -> Result<String, IdError> {
        if first30.len() != 30 {
            return Err(IdError::Length {
                what: Self::WHAT,
                expected: "30 digits before the check digits",
                got: first30.chars().count(),
            });
        }
        digits_only(Self::WHAT, first30)?;
        let r = mod97(&format!("{first30}00"));
        Ok(format!("{:02}", 98 - r))
    }

    /// Completes 30 digits with their check digits.
    pub fn from_body(first30: &str) -> Result<Self, IdError> {
        let cd = Self::check_digits(first30)?;
        Self::parse(&format!("{first30}{cd}"))
    }

    /// Decodes the 16-byte BCD form used in tags `5A`/`4C` (digest §4.2).
    pub fn from_bcd(bytes: &[u8]) -> Result<Self, IdError> {
        if bytes.len() != 16 {
            return Err(IdError::Length {
                what: Self::WHAT,
                expected: "16 bytes",
                got: bytes.len(),
            });
        }
        let s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self::parse(&s)
    }

    /// The 16-byte BCD form.
    pub fn to_bcd(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (i, pair) in self.0.as_bytes().chunks(2).enumerate() {
            out[i] = ((pair[0] - b'0') << 4) | (pair[1] - b'0');
        }
        out
    }

    /// The 32 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Integrated Circuit Card Identifier (ITU-T E.118; ETSI TS 102 221 §13.2).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Iccid(String);

impl Iccid {
    const WHAT: &'static str = "ICCID";

    /// Parses 18–20 digits starting with `89`. The Luhn digit is not required (many test
    /// profiles carry none); see [`Iccid::luhn_ok`].
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if !(18..=20).contains(&s.len()) {
            return Err(IdError::Length {
                what: Self::WHAT,
                expected: "18 to 20 decimal digits",
                got: s.chars().count(),
            });
        }
        digits_only(Self::WHAT, s)?;
        if !s.starts_with("89") {
            return Err(IdError::Prefix {
                what: Self::WHAT,
                prefix: "89",
            });
        }
        Ok(Iccid(s.to_string()))
    }

    /// Whether the last digit is a valid Luhn check digit over the others.
    pub fn luhn_ok(&self) -> bool {
        luhn_check_digit(&self.0[..self.0.len() - 1]) == self.0.as_bytes()[self.0.len() - 1] - b'0'
    }

    /// Appends a Luhn check digit to 17–19 digits.
    pub fn with_luhn(body: &str) -> Result<Self, IdError> {
        digits_only(Self::WHAT, body)?;
        Self::parse(&format!("{body}{}", luhn_check_digit(body)))
    }

    /// Decodes the 10-byte nibble-swapped BCD form (`F` padding).
    pub fn from_swapped_bcd(bytes: &[u8]) -> Result<Self, IdError> {
        if bytes.len() != 10 {
            return Err(IdError::Length {
                what: Self::WHAT,
                expected: "10 bytes",
                got: bytes.len(),
            });
        }
        Self::parse(&swapped_bcd_to_digits(Self::WHAT, bytes)?)
    }

    /// The 10-byte nibble-swapped BCD form.
    pub fn to_swapped_bcd(&self) -> [u8; 10] {
        let mut out = [0xFFu8; 10];
        digits_to_swapped_bcd(&self.0, &mut out);
        out
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The Luhn (mod 10) check digit for `digits`.
pub fn luhn_check_digit(digits: &str) -> u8 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn swapped_bcd_to_digits(what: &'static str, bytes: &[u8]) -> Result<String, IdError> {
    let mut s = String::with_capacity(bytes.len() * 2);
    let mut ended = false;
    for (i, b) in bytes.iter().enumerate() {
        for (j, nib) in [b & 0x0F, b >> 4].into_iter().enumerate() {
            match nib {
                0..=9 if !ended => s.push(char::from(b'0' + nib)),
                0x0F => ended = true,
                _ => {
                    return Err(IdError::BadChar {
                        what,
                        position: i * 2 + j,
                        found: char::from_digit(u32::from(nib), 16).unwrap_or('?'),
                    });
                }
            }
        }
    }
    Ok(s)
}

fn digits_to_swapped_bcd(digits: &str, out: &mut [u8]) {
    for (i, d) in digits.bytes().enumerate() {
        let v = d - b'0';
        let byte = &mut out[i / 2];
        if i % 2 == 0 {
            *byte = (*byte & 0xF0) | v;
        } else {
            *byte = (*byte & 0x0F) | (v << 4);
        }
    }
}

/// International Mobile Subscriber Identity (3GPP TS 23.003 §2.1).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Imsi(String);

impl Imsi {
    const WHAT: &'static str = "IMSI";

    /// Parses 6–15 digits.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if !(6..=15).contains(&s.len()) {
            return Err(IdError::Length {
                what: Self::WHAT,
                expected: "6 to 15 decimal digits",
                got: s.chars().count(),
            });
        }
        digits_only(Self::WHAT, s)?;
        Ok(Imsi(s.to_string()))
    }

    /// EF.IMSI content (3GPP TS 31.102 §4.2.2): length byte, then the digits in swapped BCD with
    /// the parity nibble `9` (odd number of digits) or `1` (even) first; 9 bytes, `F`-padded.
    pub fn to_ef_imsi(&self) -> [u8; 9] {
        let n = self.0.len();
        let parity = if n % 2 == 1 { '9' } else { '1' };
        let digits = format!("{parity}{}", self.0);
        let mut out = [0xFFu8; 9];
        out[0] = digits.len().div_ceil(2) as u8;
        digits_to_swapped_bcd_with_parity(&digits, &mut out[1..]);
        out
    }

    /// Decodes EF.IMSI content.
    pub fn from_ef_imsi(bytes: &[u8]) -> Result<Self, IdError> {
        let Some((&len, rest)) = bytes.split_first() else {
            return Err(IdError::Length {
                what: Self::WHAT,
                expected: "EF.IMSI of 9 bytes",
                got: 0,
            });
        };
        let len = usize::from(len);
        if len == 0 || len > 8 || rest.len() < len {
            return Err(IdError::Length {
                what: Self::WHAT,
                expected: "length byte 1..=8 within the file",
                got: len,
            });
        }
        let body = &rest[..len];
        let mut s = String::new();
        for (i, b) in body.iter().enumerate() {
            for (j, nib) in [b & 0x0F, b >> 4].into_iter().enumerate() {
                if i == 0 && j == 0 {
                    continue; // parity nibble
                }
                match nib {
                    0..=9 => s.push(char::from(b'0' + nib)),
                    0x0F => {}
                    _ => {
                        return Err(IdError::BadChar {
                            what: Self::WHAT,
                            position: i * 2 + j,
                            found: char::from_digit(u32::from(nib), 16).unwrap_or('?'),
                        });
                    }
                }
            }
        }
        Self::parse(&s)
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn digits_to_swapped_bcd_with_parity(digits: &str, out: &mut [u8]) {
    for (i, d) in digits.bytes().enumerate() {
        let v = if d == b'9' && i == 0 { 9 } else { d - b'0' };
        let byte = &mut out[i / 2];
        if i % 2 == 0 {
            *byte = (*byte & 0xF0) | v;
        } else {
            *byte = (*byte & 0x0F) | (v << 4);
        }
    }
}

/// Application identifier (ISO/IEC 7816-4 §8.2.1.2): 5 to 16 bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aid(Vec<u8>);

/// The SGP.02 RID ‖ PIX prefix shared by ISD-R, ECASD and ISD-P AIDs (digest §1.2).
pub const SGP02_AID_PREFIX: [u8; 12] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89,
];

impl Aid {
    /// Validates 5–16 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, IdError> {
        if !(5..=16).contains(&bytes.len()) {
            return Err(IdError::Length {
                what: "AID",
                expected: "5 to 16 bytes",
                got: bytes.len(),
            });
        }
        Ok(Aid(bytes.to_vec()))
    }

    /// Parses hex text.
    pub fn from_hex(s: &str) -> Result<Self, IdError> {
        let bytes = crate::hex::decode(s).map_err(|_| IdError::BadChar {
            what: "AID",
            position: s
                .chars()
                .position(|c| !c.is_ascii_hexdigit())
                .unwrap_or(s.len()),
            found: s.chars().find(|c| !c.is_ascii_hexdigit()).unwrap_or(' '),
        })?;
        Self::new(&bytes)
    }

    fn sgp02(tar: [u8; 3]) -> Self {
        let mut v = SGP02_AID_PREFIX.to_vec();
        v.extend_from_slice(&tar);
        v.push(0x00);
        Aid(v)
    }

    /// ISD-R: `A0000005591010FFFFFFFF8900000100` (digest §1.2).
    pub fn isd_r() -> Self {
        Self::sgp02([0x00, 0x00, 0x01])
    }

    /// ECASD: `A0000005591010FFFFFFFF8900000200` (digest §1.2; sgp02-gaps §4).
    pub fn ecasd() -> Self {
        Self::sgp02([0x00, 0x00, 0x02])
    }

    /// ISD-P executable load file: `A0000005591010FFFFFFFF8900000D00`.
    pub fn isd_p_load_file() -> Self {
        Self::sgp02([0x00, 0x00, 0x0D])
    }

    /// ISD-P executable module: `A0000005591010FFFFFFFF8900000E00`.
    pub fn isd_p_module() -> Self {
        Self::sgp02([0x00, 0x00, 0x0E])
    }

    /// The ISD-P instance AID for `tar` (`000010`–`00FFFF`): prefix ‖ TAR ‖ `00` (digest §1.2).
    pub fn isd_p(tar: Tar) -> Self {
        Self::sgp02(tar.0)
    }

    /// The TAR of an SGP.02 security-domain AID (bytes 13–15, digest §5.6), if it has the prefix.
    pub fn sgp02_tar(&self) -> Option<Tar> {
        if self.0.len() == 16 && self.0[..12] == SGP02_AID_PREFIX {
            Some(Tar([self.0[12], self.0[13], self.0[14]]))
        } else {
            None
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// `RID` (first five bytes) and `PIX` as hex, as in `//aid/<RID>/<PIX>` (GP Amd B).
    pub fn rid_pix(&self) -> (String, String) {
        (
            crate::hex::encode_upper(&self.0[..5]),
            crate::hex::encode_upper(&self.0[5..]),
        )
    }
}

/// Toolkit Application Reference (ETSI TS 101 220 §6, TS 102 225 §5.1.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tar(pub [u8; 3]);

impl Tar {
    /// ISD-R TAR `000001` (inferred from the AID, sgp02-gaps §4; docs/spec-choices.md).
    pub const ISD_R: Tar = Tar([0x00, 0x00, 0x01]);
    /// ECASD TAR `000002` (inferred likewise).
    pub const ECASD: Tar = Tar([0x00, 0x00, 0x02]);

    /// From exactly three bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, IdError> {
        <[u8; 3]>::try_from(bytes)
            .map(Tar)
            .map_err(|_| IdError::Length {
                what: "TAR",
                expected: "3 bytes",
                got: bytes.len(),
            })
    }

    /// Whether the TAR is in the ISD-P range `000010`–`00FFFF` (digest §1.2).
    pub fn is_isd_p_range(&self) -> bool {
        let v = u32::from_be_bytes([0, self.0[0], self.0[1], self.0[2]]);
        (0x10..=0xFFFF).contains(&v)
    }
}

macro_rules! digit_id_impls {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self.0)
            }
        }
        impl FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}
digit_id_impls!(Eid);
digit_id_impls!(Iccid);
digit_id_impls!(Imsi);

impl fmt::Display for Aid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex::encode_upper(&self.0))
    }
}
impl fmt::Debug for Aid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aid({self})")
    }
}
impl FromStr for Aid {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::from_hex(s)
    }
}
impl fmt::Display for Tar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex::encode_upper(&self.0))
    }
}
impl fmt::Debug for Tar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tar({self})")
    }
}
impl FromStr for Tar {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bytes = crate::hex::decode(s).map_err(|_| IdError::Length {
            what: "TAR",
            expected: "6 hex digits",
            got: s.len(),
        })?;
        Tar::new(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eid_example() {
        let e = Eid::parse("89001039240180124400000000000157").unwrap();
        assert_eq!(Eid::from_bcd(&e.to_bcd()).unwrap(), e);
        assert!(matches!(
            Eid::parse("89001039240180124400000000000158"),
            Err(IdError::CheckDigits { .. })
        ));
        assert!(matches!(
            Eid::parse("8900103924018012440000000000015"),
            Err(IdError::Length { .. })
        ));
    }

    #[test]
    fn sgp02_aids() {
        assert_eq!(Aid::isd_r().to_string(), "A0000005591010FFFFFFFF8900000100");
        assert_eq!(Aid::ecasd().to_string(), "A0000005591010FFFFFFFF8900000200");
        assert_eq!(
            Aid::isd_p_load_file().to_string(),
            "A0000005591010FFFFFFFF8900000D00"
        );
        assert_eq!(
            Aid::isd_p_module().to_string(),
            "A0000005591010FFFFFFFF8900000E00"
        );
        let p = Aid::isd_p(Tar([0x00, 0x00, 0x10]));
        assert_eq!(p.to_string(), "A0000005591010FFFFFFFF8900001000");
        assert_eq!(p.sgp02_tar(), Some(Tar([0, 0, 0x10])));
        assert_eq!(Aid::isd_r().sgp02_tar(), Some(Tar::ISD_R));
        assert!(Tar([0, 0, 0x10]).is_isd_p_range());
        assert!(!Tar::ISD_R.is_isd_p_range());
    }

    #[test]
    fn iccid_bcd() {
        let i = Iccid::parse("8949449999999990023").unwrap();
        let b = i.to_swapped_bcd();
        assert_eq!(
            b,
            [0x98, 0x94, 0x44, 0x99, 0x99, 0x99, 0x99, 0x09, 0x20, 0xF3]
        );
        assert_eq!(Iccid::from_swapped_bcd(&b).unwrap(), i);
        assert!(Iccid::with_luhn("8901234567890123456").unwrap().luhn_ok());
    }

    #[test]
    fn imsi_ef() {
        let i = Imsi::parse("001010123456063").unwrap();
        let ef = i.to_ef_imsi();
        assert_eq!(ef, [0x08, 0x09, 0x10, 0x10, 0x10, 0x32, 0x54, 0x06, 0x36]);
        assert_eq!(Imsi::from_ef_imsi(&ef).unwrap(), i);
        let even = Imsi::parse("00101012345606").unwrap();
        assert_eq!(Imsi::from_ef_imsi(&even.to_ef_imsi()).unwrap(), even);
    }
}

/// Identifiers serialize as their text form (digits, or uppercase hex for `Aid`/`Tar`) and are
/// validated again when deserialized.
macro_rules! serde_as_str {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_as_str!(Eid);
serde_as_str!(Iccid);
serde_as_str!(Imsi);
serde_as_str!(Aid);
serde_as_str!(Tar);

/// JSON Schemas of the identifiers (their text form, as serialized), for OpenAPI documents.
#[cfg(feature = "schema")]
mod schema {
    use std::borrow::Cow;

    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

    macro_rules! string_schema {
        ($t:ty, $name:literal, $pattern:literal, $desc:literal) => {
            impl JsonSchema for $t {
                fn schema_name() -> Cow<'static, str> {
                    Cow::Borrowed($name)
                }
                fn json_schema(_: &mut SchemaGenerator) -> Schema {
                    json_schema!({
                        "type": "string",
                        "pattern": $pattern,
                        "description": $desc,
                    })
                }
            }
        };
    }

    string_schema!(
        super::Eid,
        "Eid",
        "^89[0-9]{30}$",
        "EID: 32 decimal digits starting with 89, check digits valid (SGP.02 §2.2.2)"
    );
    string_schema!(
        super::Iccid,
        "Iccid",
        "^89[0-9]{16,18}$",
        "ICCID: 18 to 20 decimal digits starting with 89 (ITU-T E.118)"
    );
    string_schema!(
        super::Imsi,
        "Imsi",
        "^[0-9]{6,15}$",
        "IMSI: 6 to 15 decimal digits"
    );
    string_schema!(
        super::Aid,
        "Aid",
        "^([0-9A-Fa-f]{2}){5,16}$",
        "AID: 5 to 16 bytes as hex"
    );
    string_schema!(super::Tar, "Tar", "^[0-9A-Fa-f]{6}$", "TAR: 3 bytes as hex");
}
