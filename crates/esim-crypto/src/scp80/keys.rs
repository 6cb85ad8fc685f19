//! KIc and KID coding (ETSI TS 102 225 §5.1.2, §5.1.3) and SCP80 keysets.
//!
//! ```text
//! KIc:        b8..b5 key index | b4b3 variant | b2b1 family
//!   family 00 implicit, 01 DES (variant 00 DES-CBC, 01 3DES 2 keys, 10 3DES 3 keys, 11 DES-ECB),
//!          10 AES (variant 00 AES-CBC, others reserved), 11 proprietary
//! KID (CC):   the same, DES family variant 11 reserved, AES variant 00 = AES-CMAC
//! KID (RC):   b2b1 01 CRC (b4b3 00 CRC16, 01 CRC32, others reserved); 00 implicit, 11 proprietary
//! ```

use super::Scp80Error;
use crate::primitives::SecretKey;
use std::fmt;

/// A ciphering algorithm this implementation applies (CBC, zero IV).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherAlgorithm {
    /// Single DES in CBC mode (8-byte key).
    DesCbc,
    /// Triple DES (EDE) in outer CBC mode with two keys (16 bytes).
    TripleDes2Key,
    /// Triple DES (EDE) in outer CBC mode with three keys (24 bytes).
    TripleDes3Key,
    /// AES in CBC mode (16, 24 or 32-byte key).
    AesCbc,
}

impl CipherAlgorithm {
    /// KIc low nibble.
    pub fn code(self) -> u8 {
        match self {
            CipherAlgorithm::DesCbc => 0x1,
            CipherAlgorithm::TripleDes2Key => 0x5,
            CipherAlgorithm::TripleDes3Key => 0x9,
            CipherAlgorithm::AesCbc => 0x2,
        }
    }

    /// Cipher block size in bytes (the padding unit).
    pub fn block_size(self) -> usize {
        match self {
            CipherAlgorithm::AesCbc => 16,
            _ => 8,
        }
    }

    /// Name as in the vectors (`algo_crypt`).
    pub fn name(self) -> &'static str {
        match self {
            CipherAlgorithm::DesCbc => "single_des",
            CipherAlgorithm::TripleDes2Key => "triple_des_cbc2",
            CipherAlgorithm::TripleDes3Key => "triple_des_cbc3",
            CipherAlgorithm::AesCbc => "aes_cbc",
        }
    }

    pub(crate) fn check_key(self, key: &SecretKey) -> Result<(), Scp80Error> {
        check_len(
            "KIc",
            self.name(),
            key.len(),
            des_or_aes_lengths(self.code()),
        )
    }
}

/// A cryptographic checksum algorithm (8-byte CC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CcAlgorithm {
    /// DES CBC-MAC (8-byte key).
    DesCbcMac,
    /// Triple DES (2 keys) CBC-MAC.
    TripleDes2KeyCbcMac,
    /// Triple DES (3 keys) CBC-MAC.
    TripleDes3KeyCbcMac,
    /// AES-CMAC truncated to its first 8 bytes.
    AesCmac,
}

impl CcAlgorithm {
    /// KID low nibble.
    pub fn code(self) -> u8 {
        match self {
            CcAlgorithm::DesCbcMac => 0x1,
            CcAlgorithm::TripleDes2KeyCbcMac => 0x5,
            CcAlgorithm::TripleDes3KeyCbcMac => 0x9,
            CcAlgorithm::AesCmac => 0x2,
        }
    }

    /// Name as in the vectors (`algo_auth`).
    pub fn name(self) -> &'static str {
        match self {
            CcAlgorithm::DesCbcMac => "single_des",
            CcAlgorithm::TripleDes2KeyCbcMac => "triple_des_cbc2",
            CcAlgorithm::TripleDes3KeyCbcMac => "triple_des_cbc3",
            CcAlgorithm::AesCmac => "aes_cmac",
        }
    }

    pub(crate) fn check_key(self, key: &SecretKey) -> Result<(), Scp80Error> {
        check_len(
            "KID",
            self.name(),
            key.len(),
            des_or_aes_lengths(self.code()),
        )
    }
}

/// A redundancy check algorithm (KID when the SPI asks for RC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RcAlgorithm {
    /// CRC-16 of ISO/IEC 13239 (2 bytes).
    Crc16,
    /// CRC-32 of ISO/IEC 13239 (4 bytes).
    Crc32,
}

impl RcAlgorithm {
    /// KID low nibble.
    pub fn code(self) -> u8 {
        match self {
            RcAlgorithm::Crc16 => 0x1,
            RcAlgorithm::Crc32 => 0x5,
        }
    }

    /// Length of the RC in bytes.
    pub fn output_len(self) -> usize {
        match self {
            RcAlgorithm::Crc16 => 2,
            RcAlgorithm::Crc32 => 4,
        }
    }

    /// Name (`crc16`, `crc32`).
    pub fn name(self) -> &'static str {
        match self {
            RcAlgorithm::Crc16 => "crc16",
            RcAlgorithm::Crc32 => "crc32",
        }
    }
}

fn des_or_aes_lengths(code: u8) -> &'static [usize] {
    match code {
        0x1 => &[8],
        0x5 => &[16],
        0x9 => &[24],
        _ => &[16, 24, 32],
    }
}

fn check_len(
    field: &'static str,
    algorithm: &'static str,
    got: usize,
    allowed: &'static [usize],
) -> Result<(), Scp80Error> {
    if allowed.contains(&got) {
        return Ok(());
    }
    let expected = match allowed {
        [8] => "8",
        [16] => "16",
        [24] => "24",
        _ => "16, 24 or 32",
    };
    Err(Scp80Error::KeyLength {
        field,
        algorithm,
        expected,
        got,
    })
}

/// What a KIc byte's low nibble says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KicAlgorithm {
    /// `xxx00`: known implicitly by both entities.
    Implicit,
    /// One of the CBC ciphers.
    Cipher(CipherAlgorithm),
    /// `1101`: DES in ECB mode (decoded, not applied).
    DesEcb,
    /// `xx11`: proprietary.
    Proprietary,
    /// A reserved coding (the nibble).
    Reserved(u8),
}

/// What a KID byte's low nibble says when the SPI asks for a CC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KidCcAlgorithm {
    /// Known implicitly.
    Implicit,
    /// One of the CC algorithms.
    Cc(CcAlgorithm),
    /// Proprietary.
    Proprietary,
    /// A reserved coding (the nibble).
    Reserved(u8),
}

/// What a KID byte's low nibble says when the SPI asks for an RC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KidRcAlgorithm {
    /// Known implicitly.
    Implicit,
    /// CRC16 or CRC32.
    Rc(RcAlgorithm),
    /// Proprietary.
    Proprietary,
    /// A reserved coding (the nibble).
    Reserved(u8),
}

/// The KIc byte: key index (high nibble) and ciphering algorithm (low nibble).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kic(pub u8);

impl Kic {
    /// Key index 0–15 and algorithm.
    pub fn new(key_index: u8, algorithm: CipherAlgorithm) -> Result<Self, Scp80Error> {
        Ok(Kic((index_nibble(key_index)? << 4) | algorithm.code()))
    }

    /// The key index (b8..b5).
    pub fn key_index(self) -> u8 {
        self.0 >> 4
    }

    /// The algorithm coding (b4..b1).
    pub fn algorithm(self) -> KicAlgorithm {
        let n = self.0 & 0x0F;
        match (n & 3, n >> 2) {
            (0, _) => KicAlgorithm::Implicit,
            (1, 0) => KicAlgorithm::Cipher(CipherAlgorithm::DesCbc),
            (1, 1) => KicAlgorithm::Cipher(CipherAlgorithm::TripleDes2Key),
            (1, 2) => KicAlgorithm::Cipher(CipherAlgorithm::TripleDes3Key),
            (1, _) => KicAlgorithm::DesEcb,
            (2, 0) => KicAlgorithm::Cipher(CipherAlgorithm::AesCbc),
            (3, _) => KicAlgorithm::Proprietary,
            _ => KicAlgorithm::Reserved(n),
        }
    }
}

impl fmt::Debug for Kic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Kic({:02x}: key {} {:?})",
            self.0,
            self.key_index(),
            self.algorithm()
        )
    }
}

/// The KID byte: key index (high nibble) and CC or RC algorithm (low nibble; which one depends
/// on the SPI).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kid(pub u8);

impl Kid {
    /// Key index 0–15 and CC algorithm.
    pub fn cc(key_index: u8, algorithm: CcAlgorithm) -> Result<Self, Scp80Error> {
        Ok(Kid((index_nibble(key_index)? << 4) | algorithm.code()))
    }

    /// Key index 0–15 and RC algorithm.
    pub fn rc(key_index: u8, algorithm: RcAlgorithm) -> Result<Self, Scp80Error> {
        Ok(Kid((index_nibble(key_index)? << 4) | algorithm.code()))
    }

    /// The key index (b8..b5).
    pub fn key_index(self) -> u8 {
        self.0 >> 4
    }

    /// The coding read as a CC algorithm (TS 102 225 §5.1.3.1).
    pub fn cc_algorithm(self) -> KidCcAlgorithm {
        let n = self.0 & 0x0F;
        match (n & 3, n >> 2) {
            (0, _) => KidCcAlgorithm::Implicit,
            (1, 0) => KidCcAlgorithm::Cc(CcAlgorithm::DesCbcMac),
            (1, 1) => KidCcAlgorithm::Cc(CcAlgorithm::TripleDes2KeyCbcMac),
            (1, 2) => KidCcAlgorithm::Cc(CcAlgorithm::TripleDes3KeyCbcMac),
            (2, 0) => KidCcAlgorithm::Cc(CcAlgorithm::AesCmac),
            (3, _) => KidCcAlgorithm::Proprietary,
            _ => KidCcAlgorithm::Reserved(n),
        }
    }

    /// The coding read as an RC algorithm (TS 102 225 §5.1.3.2).
    pub fn rc_algorithm(self) -> KidRcAlgorithm {
        let n = self.0 & 0x0F;
        match (n & 3, n >> 2) {
            (0, _) => KidRcAlgorithm::Implicit,
            (1, 0) => KidRcAlgorithm::Rc(RcAlgorithm::Crc16),
            (1, 1) => KidRcAlgorithm::Rc(RcAlgorithm::Crc32),
            (3, _) => KidRcAlgorithm::Proprietary,
            _ => KidRcAlgorithm::Reserved(n),
        }
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({:02x}: key {})", self.0, self.key_index())
    }
}

fn index_nibble(i: u8) -> Result<u8, Scp80Error> {
    if i > 15 {
        return Err(Scp80Error::TooLong {
            field: "key index",
            value: u64::from(i),
            max: 15,
        });
    }
    Ok(i)
}

/// An SCP80 keyset: the KIc and KID bytes written into packets and the keys they select. Keys
/// are zeroized on drop and never shown by `Debug`.
///
/// The algorithms come from the KIc/KID codings; for the "implicit" coding they are configured
/// with [`Keyset::with_implicit`]. A keyset may lack a key; it then serves packets whose SPI does
/// not need that key (error [`Scp80Error::MissingKey`] otherwise).
#[derive(Debug, Clone)]
pub struct Keyset {
    kic: Kic,
    kid: Kid,
    enc_key: Option<SecretKey>,
    mac_key: Option<SecretKey>,
    implicit_cipher: Option<CipherAlgorithm>,
    implicit_cc: Option<CcAlgorithm>,
}

impl Keyset {
    /// KIc with its ciphering key, KID with its CC key.
    pub fn new(kic: Kic, enc_key: SecretKey, kid: Kid, mac_key: SecretKey) -> Self {
        Keyset {
            kic,
            kid,
            enc_key: Some(enc_key),
            mac_key: Some(mac_key),
            implicit_cipher: None,
            implicit_cc: None,
        }
    }

    /// KIc/KID bytes with optional keys (e.g. for unsecured packets, or RC only).
    pub fn with_optional_keys(
        kic: Kic,
        enc_key: Option<SecretKey>,
        kid: Kid,
        mac_key: Option<SecretKey>,
    ) -> Self {
        Keyset {
            kic,
            kid,
            enc_key,
            mac_key,
            implicit_cipher: None,
            implicit_cc: None,
        }
    }

    /// Algorithms used when KIc / KID say "known implicitly".
    pub fn with_implicit(
        mut self,
        cipher: Option<CipherAlgorithm>,
        cc: Option<CcAlgorithm>,
    ) -> Self {
        self.implicit_cipher = cipher;
        self.implicit_cc = cc;
        self
    }

    /// The KIc byte.
    pub fn kic(&self) -> Kic {
        self.kic
    }

    /// The KID byte.
    pub fn kid(&self) -> Kid {
        self.kid
    }

    /// The ciphering algorithm and key, checked for length.
    pub(crate) fn cipher(&self) -> Result<(CipherAlgorithm, &SecretKey), Scp80Error> {
        let alg = match self.kic.algorithm() {
            KicAlgorithm::Cipher(a) => a,
            KicAlgorithm::Implicit => self.implicit_cipher.ok_or(unsupported("KIc", "implicit"))?,
            KicAlgorithm::DesEcb => return Err(unsupported("KIc", "DES-ECB")),
            KicAlgorithm::Proprietary => return Err(unsupported("KIc", "proprietary")),
            KicAlgorithm::Reserved(_) => return Err(unsupported("KIc", "reserved coding")),
        };
        let key = self.enc_key.as_ref().ok_or(Scp80Error::MissingKey("KIc"))?;
        alg.check_key(key)?;
        Ok((alg, key))
    }

    /// The CC algorithm and key, checked for length.
    pub(crate) fn cc(&self) -> Result<(CcAlgorithm, &SecretKey), Scp80Error> {
        let alg = match self.kid.cc_algorithm() {
            KidCcAlgorithm::Cc(a) => a,
            KidCcAlgorithm::Implicit => self.implicit_cc.ok_or(unsupported("KID", "implicit"))?,
            KidCcAlgorithm::Proprietary => return Err(unsupported("KID", "proprietary")),
            KidCcAlgorithm::Reserved(_) => return Err(unsupported("KID", "reserved coding")),
        };
        let key = self.mac_key.as_ref().ok_or(Scp80Error::MissingKey("KID"))?;
        alg.check_key(key)?;
        Ok((alg, key))
    }

    /// The RC algorithm coded in KID.
    pub(crate) fn rc(&self) -> Result<RcAlgorithm, Scp80Error> {
        match self.kid.rc_algorithm() {
            KidRcAlgorithm::Rc(a) => Ok(a),
            KidRcAlgorithm::Implicit => Err(unsupported("KID", "implicit RC")),
            KidRcAlgorithm::Proprietary => Err(unsupported("KID", "proprietary RC")),
            KidRcAlgorithm::Reserved(_) => Err(unsupported("KID", "reserved RC coding")),
        }
    }
}

fn unsupported(field: &'static str, what: &'static str) -> Scp80Error {
    Scp80Error::UnsupportedAlgorithm { field, what }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codings() {
        assert_eq!(Kic::new(2, CipherAlgorithm::AesCbc).unwrap(), Kic(0x22));
        assert_eq!(
            Kic::new(3, CipherAlgorithm::TripleDes2Key).unwrap(),
            Kic(0x35)
        );
        assert!(Kic::new(16, CipherAlgorithm::AesCbc).is_err());
        assert_eq!(
            Kic(0x39).algorithm(),
            KicAlgorithm::Cipher(CipherAlgorithm::TripleDes3Key)
        );
        assert_eq!(Kic(0x1D).algorithm(), KicAlgorithm::DesEcb);
        assert_eq!(Kic(0x10).algorithm(), KicAlgorithm::Implicit);
        assert_eq!(Kic(0x1B).algorithm(), KicAlgorithm::Proprietary);
        assert_eq!(Kic(0x16).algorithm(), KicAlgorithm::Reserved(6));
        assert_eq!(
            Kid(0x12).cc_algorithm(),
            KidCcAlgorithm::Cc(CcAlgorithm::AesCmac)
        );
        assert_eq!(Kid(0x1D).cc_algorithm(), KidCcAlgorithm::Reserved(0xD));
        assert_eq!(
            Kid(0x11).rc_algorithm(),
            KidRcAlgorithm::Rc(RcAlgorithm::Crc16)
        );
        assert_eq!(
            Kid(0x15).rc_algorithm(),
            KidRcAlgorithm::Rc(RcAlgorithm::Crc32)
        );
        assert_eq!(Kid(0x19).rc_algorithm(), KidRcAlgorithm::Reserved(9));
        assert_eq!(Kid::rc(1, RcAlgorithm::Crc32).unwrap(), Kid(0x15));
    }

    #[test]
    fn key_lengths_checked_and_debug_redacted() {
        let ks = Keyset::new(
            Kic(0x15),
            SecretKey::new(&[1; 24]),
            Kid(0x12),
            SecretKey::new(&[2; 16]),
        );
        assert!(matches!(ks.cipher(), Err(Scp80Error::KeyLength { .. })));
        assert!(ks.cc().is_ok());
        let dbg = format!("{ks:?}");
        assert!(dbg.contains("redacted") && !dbg.contains("[1, 1"), "{dbg}");
        let implicit = Keyset::new(
            Kic(0x10),
            SecretKey::new(&[1; 16]),
            Kid(0x10),
            SecretKey::new(&[2; 16]),
        );
        assert!(implicit.cipher().is_err());
        let implicit = implicit.with_implicit(Some(CipherAlgorithm::AesCbc), None);
        assert_eq!(implicit.cipher().unwrap().0, CipherAlgorithm::AesCbc);
    }
}
