//! Block-cipher and hash building blocks shared by SCP80, SCP02, SCP03/SCP03t and ECKA, on the
//! RustCrypto crates. Key lengths are checked at run time, because keys arrive from files,
//! command lines and cards: a wrong length is an error, not a panic.

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A failure in a cryptographic operation. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key of a length the algorithm does not take.
    #[error("{alg} key must be {expected} bytes, got {got}")]
    KeyLength {
        /// Algorithm name.
        alg: &'static str,
        /// Allowed lengths, as text.
        expected: &'static str,
        /// Length supplied.
        got: usize,
    },
    /// Input that is not a multiple of the block size where no padding is applied.
    #[error("{alg} input of {got} bytes is not a multiple of the {block}-byte block")]
    BlockAlignment {
        /// Algorithm name.
        alg: &'static str,
        /// Block size.
        block: usize,
        /// Input length.
        got: usize,
    },
    /// The operating system's random source failed.
    #[error("random number generator failed")]
    Rng,
    /// A MAC, cryptogram, receipt or signature did not verify.
    #[error("{0} verification failed")]
    Verification(&'static str),
    /// A public or private key that is not a valid point or scalar.
    #[error("invalid {0}")]
    InvalidKey(&'static str),
}

/// Secret key bytes, wiped on drop; `Debug` shows only the length.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// Wraps key bytes.
    pub fn new(bytes: &[u8]) -> Self {
        SecretKey(bytes.to_vec())
    }

    /// Takes ownership of key bytes.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        SecretKey(bytes)
    }

    /// `len` random bytes from the operating system.
    pub fn random(len: usize) -> Result<Self, CryptoError> {
        let mut v = vec![0u8; len];
        fill_random(&mut v)?;
        Ok(SecretKey(v))
    }

    /// The key bytes. Callers must not log or copy them into non-zeroizing storage.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Key length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the key is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<{} bytes redacted>)", self.0.len())
    }
}

/// Fills `buf` from the operating system's random source.
pub fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|_| CryptoError::Rng)
}

/// `N` random bytes.
pub fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut a = [0u8; N];
    fill_random(&mut a)?;
    Ok(a)
}

enum AesKey {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

impl AesKey {
    fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let err = || CryptoError::KeyLength {
            alg: "AES",
            expected: "16, 24 or 32",
            got: key.len(),
        };
        Ok(match key.len() {
            16 => AesKey::A128(aes::Aes128::new_from_slice(key).map_err(|_| err())?),
            24 => AesKey::A192(aes::Aes192::new_from_slice(key).map_err(|_| err())?),
            32 => AesKey::A256(aes::Aes256::new_from_slice(key).map_err(|_| err())?),
            _ => return Err(err()),
        })
    }

    fn encrypt(&self, block: &mut [u8; 16]) {
        let b: &mut aes::Block = block.into();
        match self {
            AesKey::A128(c) => c.encrypt_block(b),
            AesKey::A192(c) => c.encrypt_block(b),
            AesKey::A256(c) => c.encrypt_block(b),
        }
    }

    fn decrypt(&self, block: &mut [u8; 16]) {
        let b: &mut aes::Block = block.into();
        match self {
            AesKey::A128(c) => c.decrypt_block(b),
            AesKey::A192(c) => c.decrypt_block(b),
            AesKey::A256(c) => c.decrypt_block(b),
        }
    }
}

fn check_blocks(alg: &'static str, block: usize, len: usize) -> Result<(), CryptoError> {
    if len % block == 0 {
        Ok(())
    } else {
        Err(CryptoError::BlockAlignment {
            alg,
            block,
            got: len,
        })
    }
}

/// AES-ECB encryption of one block (used for SCP03 ICVs and key check values).
pub fn aes_encrypt_block(key: &[u8], block: &[u8; 16]) -> Result<[u8; 16], CryptoError> {
    let k = AesKey::new(key)?;
    let mut b = *block;
    k.encrypt(&mut b);
    Ok(b)
}

/// AES-CBC encryption without padding (the caller pads). `data.len()` must be a multiple of 16.
pub fn aes_cbc_encrypt(key: &[u8], iv: &[u8; 16], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    check_blocks("AES-CBC", 16, data.len())?;
    let k = AesKey::new(key)?;
    let mut prev = *iv;
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks_exact(16) {
        let mut b = [0u8; 16];
        for i in 0..16 {
            b[i] = chunk[i] ^ prev[i];
        }
        k.encrypt(&mut b);
        out.extend_from_slice(&b);
        prev = b;
    }
    Ok(out)
}

/// AES-CBC decryption without padding removal. `data.len()` must be a multiple of 16.
pub fn aes_cbc_decrypt(key: &[u8], iv: &[u8; 16], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    check_blocks("AES-CBC", 16, data.len())?;
    let k = AesKey::new(key)?;
    let mut prev = *iv;
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks_exact(16) {
        let mut b: [u8; 16] = chunk.try_into().map_err(|_| CryptoError::BlockAlignment {
            alg: "AES-CBC",
            block: 16,
            got: data.len(),
        })?;
        let c = b;
        k.decrypt(&mut b);
        for i in 0..16 {
            b[i] ^= prev[i];
        }
        out.extend_from_slice(&b);
        prev = c;
    }
    Ok(out)
}

/// AES-CMAC (NIST SP 800-38B, RFC 4493) over `data` with a 16, 24 or 32-byte key.
pub fn aes_cmac(key: &[u8], data: &[u8]) -> Result<[u8; 16], CryptoError> {
    use cmac::Mac;
    let err = || CryptoError::KeyLength {
        alg: "AES-CMAC",
        expected: "16, 24 or 32",
        got: key.len(),
    };
    let tag = match key.len() {
        16 => {
            let mut m =
                <cmac::Cmac<aes::Aes128> as KeyInit>::new_from_slice(key).map_err(|_| err())?;
            m.update(data);
            m.finalize().into_bytes()
        }
        24 => {
            let mut m =
                <cmac::Cmac<aes::Aes192> as KeyInit>::new_from_slice(key).map_err(|_| err())?;
            m.update(data);
            m.finalize().into_bytes()
        }
        32 => {
            let mut m =
                <cmac::Cmac<aes::Aes256> as KeyInit>::new_from_slice(key).map_err(|_| err())?;
            m.update(data);
            m.finalize().into_bytes()
        }
        _ => return Err(err()),
    };
    let mut out = [0u8; 16];
    out.copy_from_slice(&tag);
    Ok(out)
}

enum DesKey {
    Single(des::Des),
    Two(des::TdesEde2),
    Three(des::TdesEde3),
}

impl DesKey {
    fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let err = || CryptoError::KeyLength {
            alg: "DES/3DES",
            expected: "8, 16 or 24",
            got: key.len(),
        };
        Ok(match key.len() {
            8 => DesKey::Single(des::Des::new_from_slice(key).map_err(|_| err())?),
            16 => DesKey::Two(des::TdesEde2::new_from_slice(key).map_err(|_| err())?),
            24 => DesKey::Three(des::TdesEde3::new_from_slice(key).map_err(|_| err())?),
            _ => return Err(err()),
        })
    }

    fn encrypt(&self, block: &mut [u8; 8]) {
        let b: &mut des::cipher::Block<des::Des> = block.into();
        match self {
            DesKey::Single(c) => c.encrypt_block(b),
            DesKey::Two(c) => c.encrypt_block(b),
            DesKey::Three(c) => c.encrypt_block(b),
        }
    }

    fn decrypt(&self, block: &mut [u8; 8]) {
        let b: &mut des::cipher::Block<des::Des> = block.into();
        match self {
            DesKey::Single(c) => c.decrypt_block(b),
            DesKey::Two(c) => c.decrypt_block(b),
            DesKey::Three(c) => c.decrypt_block(b),
        }
    }
}

/// DES/3DES (8-, 16- or 24-byte key) CBC encryption without padding.
pub fn des_cbc_encrypt(key: &[u8], iv: &[u8; 8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    check_blocks("DES-CBC", 8, data.len())?;
    let k = DesKey::new(key)?;
    let mut prev = *iv;
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks_exact(8) {
        let mut b = [0u8; 8];
        for i in 0..8 {
            b[i] = chunk[i] ^ prev[i];
        }
        k.encrypt(&mut b);
        out.extend_from_slice(&b);
        prev = b;
    }
    Ok(out)
}

/// DES/3DES CBC decryption without padding removal.
pub fn des_cbc_decrypt(key: &[u8], iv: &[u8; 8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    check_blocks("DES-CBC", 8, data.len())?;
    let k = DesKey::new(key)?;
    let mut prev = *iv;
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks_exact(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let c = b;
        k.decrypt(&mut b);
        for i in 0..8 {
            b[i] ^= prev[i];
        }
        out.extend_from_slice(&b);
        prev = c;
    }
    Ok(out)
}

/// DES/3DES ECB encryption of one 8-byte block.
pub fn des_encrypt_block(key: &[u8], block: &[u8; 8]) -> Result<[u8; 8], CryptoError> {
    let k = DesKey::new(key)?;
    let mut b = *block;
    k.encrypt(&mut b);
    Ok(b)
}

/// CBC-MAC (ISO/IEC 9797-1 algorithm 1, zero IV) with DES/3DES: last cipher block of CBC
/// encryption. `data` must already be padded to 8 bytes.
pub fn des_cbc_mac(key: &[u8], iv: &[u8; 8], data: &[u8]) -> Result<[u8; 8], CryptoError> {
    let ct = des_cbc_encrypt(key, iv, data)?;
    let mut out = [0u8; 8];
    out.copy_from_slice(&ct[ct.len().saturating_sub(8)..]);
    Ok(out)
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    let d = sha2::Sha256::digest(data);
    let mut out = [0u8; 32];
    out.copy_from_slice(&d);
    out
}

/// Appends ISO/IEC 9797-1 padding method 2 (`80 00…`) up to a multiple of `block`.
pub fn pad_80(data: &mut Vec<u8>, block: usize) {
    data.push(0x80);
    while data.len() % block != 0 {
        data.push(0);
    }
}

/// Removes ISO/IEC 9797-1 method 2 padding; `None` if there is none.
pub fn unpad_80(data: &[u8]) -> Option<&[u8]> {
    let pos = data.iter().rposition(|&b| b != 0)?;
    (data[pos] == 0x80).then(|| &data[..pos])
}

/// Constant-time equality for MACs, cryptograms and receipts.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A zeroizing byte buffer for intermediate secrets (shared secrets, key data).
pub type SecretBytes = Zeroizing<Vec<u8>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        esim_codec::hex::decode(s).unwrap()
    }

    #[test]
    fn aes_sp800_38a_cbc() {
        // NIST SP 800-38A F.2.1 CBC-AES128.Encrypt, first block.
        let key = h("2b7e151628aed2a6abf7158809cf4f3c");
        let iv: [u8; 16] = h("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let pt = h("6bc1bee22e409f96e93d7e117393172a");
        let ct = aes_cbc_encrypt(&key, &iv, &pt).unwrap();
        assert_eq!(ct, h("7649abac8119b246cee98e9b12e9197d"));
        assert_eq!(aes_cbc_decrypt(&key, &iv, &ct).unwrap(), pt);
    }

    #[test]
    fn aes_cmac_rfc4493() {
        let key = h("2b7e151628aed2a6abf7158809cf4f3c");
        assert_eq!(
            aes_cmac(&key, &[]).unwrap().to_vec(),
            h("bb1d6929e95937287fa37d129b756746")
        );
        assert_eq!(
            aes_cmac(&key, &h("6bc1bee22e409f96e93d7e117393172a"))
                .unwrap()
                .to_vec(),
            h("070a16b46b4d4144f79bdd9dd04a287c")
        );
    }

    #[test]
    fn tdes_round_trip_and_errors() {
        let key = h("0123456789abcdeffedcba9876543210");
        let ct = des_cbc_encrypt(&key, &[0; 8], &[1u8; 16]).unwrap();
        assert_eq!(des_cbc_decrypt(&key, &[0; 8], &ct).unwrap(), vec![1u8; 16]);
        assert!(matches!(
            des_cbc_encrypt(&key[..5], &[0; 8], &[0; 8]),
            Err(CryptoError::KeyLength { .. })
        ));
        assert!(matches!(
            aes_cbc_encrypt(&[0; 16], &[0; 16], &[0; 5]),
            Err(CryptoError::BlockAlignment { .. })
        ));
    }

    #[test]
    fn padding() {
        let mut v = vec![1, 2, 3];
        pad_80(&mut v, 8);
        assert_eq!(v, [1, 2, 3, 0x80, 0, 0, 0, 0]);
        assert_eq!(unpad_80(&v), Some(&[1u8, 2, 3][..]));
        assert_eq!(unpad_80(&[1, 2, 0]), None);
    }

    #[test]
    fn secret_debug_is_redacted() {
        let k = SecretKey::new(&[0x42; 16]);
        assert_eq!(format!("{k:?}"), "SecretKey(<16 bytes redacted>)");
    }
}
