//! Sealing of secrets before they reach the database (Ki/OPc, ISD-R keys,
//! the EIS document).
//!
//! The store never sees plaintext secrets: callers seal them with a [`Sealer`]
//! and store the [`SealedBlob`]. The associated data (`aad`) binds a blob to the
//! row it belongs to (e.g. `b"inventory/8988..."`), so a blob copied into
//! another row does not open.
//!
//! [`AesSealer`] is encrypt-then-MAC with the project's own primitives
//! (`esim_crypto::primitives`): AES-CBC with a random IV and `80 00..` padding
//! (ISO/IEC 9797-1 method 2), then AES-CMAC over everything. Keys for the two
//! halves are derived from the master key with the NIST SP 800-108 counter-mode
//! KDF with AES-CMAC as PRF, labels `"esim-store enc"` and `"esim-store mac"`.
//!
//! Blob layout (`SealedBlob::bytes`):
//! `01 ‖ IV(16) ‖ CBC ciphertext ‖ tag(16)`, with
//! `tag = CMAC(K_mac, 01 ‖ len(key_id)(2) ‖ key_id ‖ len(aad)(4) ‖ aad ‖ IV ‖ ciphertext)`.
//! Opening checks the tag in constant time before decrypting.

use std::collections::BTreeMap;
use std::fmt;

use esim_crypto::primitives::{
    SecretKey, aes_cbc_decrypt, aes_cbc_encrypt, aes_cmac, ct_eq, pad_80, random_array, unpad_80,
};
use zeroize::Zeroizing;

use crate::error::StoreError;
use crate::model::SealedBlob;

/// Seals and opens secrets. Implementations must be authenticated encryption:
/// a modified blob, a different `aad` or a wrong key must fail to open.
pub trait Sealer: Send + Sync + fmt::Debug {
    /// Seals `plaintext`, bound to `aad`, under the current key.
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<SealedBlob, StoreError>;
    /// Opens a blob sealed by this sealer (any key it still knows).
    fn open(&self, blob: &SealedBlob, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError>;
}

const FORMAT_V1: u8 = 0x01;
const TAG_LEN: usize = 16;
const IV_LEN: usize = 16;

struct DerivedKeys {
    enc: SecretKey,
    mac: SecretKey,
}

/// NIST SP 800-108 counter mode, PRF = AES-CMAC, `r` = 8:
/// `K(i) = CMAC(K, i ‖ label ‖ 00 ‖ context ‖ L(16 bits))`.
fn kdf_cmac(master: &[u8], label: &[u8], out_len: usize) -> Result<SecretKey, StoreError> {
    let bits = u16::try_from(out_len * 8).map_err(|_| StoreError::Seal("key too long".into()))?;
    let mut out = Zeroizing::new(Vec::with_capacity(out_len + 16));
    let mut i: u8 = 1;
    while out.len() < out_len {
        let mut input = Vec::with_capacity(label.len() + 4);
        input.push(i);
        input.extend_from_slice(label);
        input.push(0);
        input.extend_from_slice(&bits.to_be_bytes());
        let block = aes_cmac(master, &input).map_err(|e| StoreError::Seal(e.to_string()))?;
        out.extend_from_slice(&block);
        i = i.wrapping_add(1);
    }
    out.truncate(out_len);
    Ok(SecretKey::new(&out))
}

/// AES encrypt-then-MAC sealer (format in the module documentation).
///
/// Holds a current key (used to seal) and retired keys (still accepted to
/// open, for key rotation). Key ids are free text chosen by the operator.
pub struct AesSealer {
    current: String,
    keys: BTreeMap<String, DerivedKeys>,
}

impl fmt::Debug for AesSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesSealer")
            .field("current", &self.current)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl AesSealer {
    /// A sealer with one master key (16, 24 or 32 bytes) named `key_id`.
    pub fn new(key_id: &str, master: &SecretKey) -> Result<Self, StoreError> {
        let mut s = Self {
            current: key_id.to_string(),
            keys: BTreeMap::new(),
        };
        s.insert(key_id, master)?;
        Ok(s)
    }

    /// Adds a retired key: blobs sealed under it still open; new blobs use the
    /// current key.
    pub fn with_retired(mut self, key_id: &str, master: &SecretKey) -> Result<Self, StoreError> {
        if key_id == self.current {
            return Err(StoreError::Seal(format!(
                "key id {key_id} is the current key"
            )));
        }
        self.insert(key_id, master)?;
        Ok(self)
    }

    fn insert(&mut self, key_id: &str, master: &SecretKey) -> Result<(), StoreError> {
        if !matches!(master.len(), 16 | 24 | 32) {
            return Err(StoreError::Seal(format!(
                "master key {key_id}: {} bytes, need 16, 24 or 32",
                master.len()
            )));
        }
        if key_id.is_empty() || key_id.len() > 255 {
            return Err(StoreError::Seal("key id must be 1..255 bytes".into()));
        }
        let enc = kdf_cmac(master.expose(), b"esim-store enc", master.len())?;
        let mac = kdf_cmac(master.expose(), b"esim-store mac", 16)?;
        self.keys
            .insert(key_id.to_string(), DerivedKeys { enc, mac });
        Ok(())
    }

    fn tag(
        keys: &DerivedKeys,
        key_id: &str,
        aad: &[u8],
        iv_and_ct: &[u8],
    ) -> Result<[u8; 16], StoreError> {
        let aad_len =
            u32::try_from(aad.len()).map_err(|_| StoreError::Seal("aad too long".into()))?;
        let id_len =
            u16::try_from(key_id.len()).map_err(|_| StoreError::Seal("key id too long".into()))?;
        let mut m = Vec::with_capacity(7 + key_id.len() + aad.len() + iv_and_ct.len());
        m.push(FORMAT_V1);
        m.extend_from_slice(&id_len.to_be_bytes());
        m.extend_from_slice(key_id.as_bytes());
        m.extend_from_slice(&aad_len.to_be_bytes());
        m.extend_from_slice(aad);
        m.extend_from_slice(iv_and_ct);
        aes_cmac(keys.mac.expose(), &m).map_err(|e| StoreError::Seal(e.to_string()))
    }
}

impl Sealer for AesSealer {
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<SealedBlob, StoreError> {
        let keys = self
            .keys
            .get(&self.current)
            .ok_or_else(|| StoreError::Seal("current key missing".into()))?;
        let iv: [u8; IV_LEN] =
            random_array().map_err(|e| StoreError::Seal(format!("random IV: {e}")))?;
        let mut padded = Zeroizing::new(plaintext.to_vec());
        pad_80(&mut padded, 16);
        let ct = aes_cbc_encrypt(keys.enc.expose(), &iv, &padded)
            .map_err(|e| StoreError::Seal(e.to_string()))?;
        let mut bytes = Vec::with_capacity(1 + IV_LEN + ct.len() + TAG_LEN);
        bytes.push(FORMAT_V1);
        bytes.extend_from_slice(&iv);
        bytes.extend_from_slice(&ct);
        let tag = Self::tag(keys, &self.current, aad, &bytes[1..])?;
        bytes.extend_from_slice(&tag);
        Ok(SealedBlob {
            key_id: self.current.clone(),
            bytes,
        })
    }

    fn open(&self, blob: &SealedBlob, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let keys = self
            .keys
            .get(&blob.key_id)
            .ok_or_else(|| StoreError::Seal(format!("unknown key id {:?}", blob.key_id)))?;
        let b = &blob.bytes;
        let min = 1 + IV_LEN + 16 + TAG_LEN;
        if b.len() < min || (b.len() - 1 - IV_LEN - TAG_LEN) % 16 != 0 {
            return Err(StoreError::Seal(format!(
                "blob length {} is not 1 + 16 + 16n + 16 (n >= 1)",
                b.len()
            )));
        }
        if b.first() != Some(&FORMAT_V1) {
            return Err(StoreError::Seal(format!(
                "blob format byte {:02X}, expected 01",
                b.first().copied().unwrap_or(0)
            )));
        }
        let (body, tag) = b.split_at(b.len() - TAG_LEN);
        let expect = Self::tag(keys, &blob.key_id, aad, body.get(1..).unwrap_or_default())?;
        if !ct_eq(&expect, tag) {
            return Err(StoreError::Seal(
                "authentication tag mismatch (wrong key, wrong row, or tampered)".into(),
            ));
        }
        let (iv, ct) = body.get(1..).unwrap_or_default().split_at(IV_LEN);
        let mut iv_arr = [0u8; IV_LEN];
        iv_arr.copy_from_slice(iv);
        let padded = Zeroizing::new(
            aes_cbc_decrypt(keys.enc.expose(), &iv_arr, ct)
                .map_err(|e| StoreError::Seal(e.to_string()))?,
        );
        let plain = unpad_80(&padded).ok_or_else(|| StoreError::Seal("bad padding".into()))?;
        Ok(Zeroizing::new(plain.to_vec()))
    }
}

/// SHA-256 of an API token, the form in which tokens are stored
/// ([`crate::OperatorRecord::token_hashes`]). Tokens are expected to be
/// high-entropy random strings, so a fast hash suffices (no password KDF).
pub fn hash_token(token: &str) -> [u8; 32] {
    esim_crypto::primitives::sha256(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> AesSealer {
        AesSealer::new("k1", &SecretKey::new(&[7u8; 32])).expect("sealer")
    }

    #[test]
    fn round_trip_and_binding() {
        let s = sealer();
        for len in [0usize, 1, 15, 16, 17, 64] {
            let p: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let b = s.seal(&p, b"row-1").expect("seal");
            assert_eq!(&*s.open(&b, b"row-1").expect("open"), &p);
            assert!(matches!(s.open(&b, b"row-2"), Err(StoreError::Seal(_))));
        }
    }

    #[test]
    fn tamper_and_wrong_key_fail() {
        let s = sealer();
        let b = s.seal(b"secret Ki value!", b"a").expect("seal");
        for i in 0..b.bytes.len() {
            let mut t = b.clone();
            t.bytes[i] ^= 0x01;
            assert!(s.open(&t, b"a").is_err(), "bit flip at {i} accepted");
        }
        let other = AesSealer::new("k1", &SecretKey::new(&[8u8; 32])).expect("sealer");
        assert!(other.open(&b, b"a").is_err());
        let mut truncated = b.clone();
        truncated.bytes.truncate(20);
        assert!(s.open(&truncated, b"a").is_err());
        assert!(!format!("{b:?}").contains("secret"));
    }

    #[test]
    fn rotation() {
        let old = AesSealer::new("old", &SecretKey::new(&[1u8; 16])).expect("sealer");
        let blob = old.seal(b"x", b"").expect("seal");
        let new = AesSealer::new("new", &SecretKey::new(&[2u8; 16]))
            .expect("sealer")
            .with_retired("old", &SecretKey::new(&[1u8; 16]))
            .expect("retired");
        assert_eq!(&*new.open(&blob, b"").expect("open"), b"x");
        assert_eq!(new.seal(b"x", b"").expect("seal").key_id, "new");
        assert!(AesSealer::new("k", &SecretKey::new(&[0u8; 10])).is_err());
    }

    proptest::proptest! {
        #[test]
        fn open_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
                             aad in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let s = sealer();
            let blob = SealedBlob { key_id: "k1".into(), bytes };
            proptest::prop_assert!(s.open(&blob, &aad).is_err());
        }

        #[test]
        fn seal_open_round_trip(plain in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
                                aad in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let s = sealer();
            let blob = s.seal(&plain, &aad).expect("seal");
            proptest::prop_assert_eq!(&*s.open(&blob, &aad).expect("open"), &plain[..]);
        }
    }

    #[test]
    fn kdf_is_sp800_108_counter_mode() {
        // K(1) = CMAC(K, 01 ‖ label ‖ 00 ‖ 0080) for a 128-bit output.
        let k = [0x2Bu8; 16];
        let mut input = vec![1u8];
        input.extend_from_slice(b"L");
        input.extend_from_slice(&[0, 0x00, 0x80]);
        let want = aes_cmac(&k, &input).expect("cmac");
        assert_eq!(kdf_cmac(&k, b"L", 16).expect("kdf").expose(), &want);
        assert_eq!(kdf_cmac(&k, b"L", 32).expect("kdf").len(), 32);
    }
}
