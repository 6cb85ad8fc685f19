//! NIST P-256 keys, ECDSA with SHA-256 and ECDH (FIPS 186-4, BSI TR-03111 §4.2 and §4.3.1), as
//! used by SGP.02 certificates and key establishment (digest §3.2, §4.4).
//!
//! * Signatures are the **plain** `r ‖ s` form of BSI TR-03111 §5.2.1 (64 bytes), which is what
//!   tag `5F37` carries; X.509 certificates use the DER form internally ([`crate::x509`]).
//! * Public keys travel as SEC1 uncompressed points `04 ‖ X ‖ Y` (65 bytes, tag `B0` in `7F49`).
//! * Private keys are zeroized on drop and never appear in `Debug` output or errors.
//! * File formats (PKCS#8 and SEC1 DER/PEM for private keys, SubjectPublicKeyInfo DER/PEM for
//!   public keys) are pure conversions; writing files is the CLI's job.

use crate::primitives::{SecretBytes, fill_random};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use std::fmt;
use zeroize::Zeroizing;

/// Length of a plain `r ‖ s` ECDSA P-256 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of an uncompressed SEC1 P-256 point `04 ‖ X ‖ Y`.
pub const PUBLIC_KEY_LEN: usize = 65;
/// Length of a P-256 private scalar and of an ECDH shared secret (the x-coordinate).
pub const SCALAR_LEN: usize = 32;

/// An elliptic-curve failure. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EcError {
    /// Bytes that are not a valid P-256 public point (wrong length, prefix, or not on the curve).
    #[error("invalid P-256 public key: {0}")]
    InvalidPublicKey(&'static str),
    /// A private key that is not a valid P-256 scalar, or an unreadable key file.
    #[error("invalid P-256 private key: {0}")]
    InvalidPrivateKey(&'static str),
    /// A signature that is not 64 bytes, or whose `r`/`s` are out of range.
    #[error("malformed ECDSA signature: {0}")]
    MalformedSignature(&'static str),
    /// A well-formed signature that does not verify under the key.
    #[error("ECDSA signature does not verify")]
    BadSignature,
    /// The operating system's random source failed.
    #[error("random number generator failed")]
    Rng,
    /// A DER or PEM encoding error while converting a key.
    #[error("key encoding: {0}")]
    Encoding(String),
}

/// A P-256 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(p256::PublicKey);

impl PublicKey {
    /// Parses a SEC1 point (uncompressed `04 ‖ X ‖ Y` or compressed `02/03 ‖ X`), checking that it
    /// lies on the curve and is not the identity.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, EcError> {
        match bytes.first() {
            Some(0x04) if bytes.len() == PUBLIC_KEY_LEN => {}
            Some(0x02 | 0x03) if bytes.len() == 1 + SCALAR_LEN => {}
            Some(0x02..=0x04) => return Err(EcError::InvalidPublicKey("wrong length")),
            Some(_) => return Err(EcError::InvalidPublicKey("unknown SEC1 point prefix")),
            None => return Err(EcError::InvalidPublicKey("empty")),
        }
        p256::PublicKey::from_sec1_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| EcError::InvalidPublicKey("point not on the curve"))
    }

    /// The uncompressed SEC1 encoding `04 ‖ X ‖ Y`.
    pub fn to_sec1(&self) -> [u8; PUBLIC_KEY_LEN] {
        let point = self.0.to_sec1_point(false);
        let mut out = [0u8; PUBLIC_KEY_LEN];
        out.copy_from_slice(point.as_bytes());
        out
    }

    /// Verifies a plain `r ‖ s` ECDSA-SHA256 signature over `msg`.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<(), EcError> {
        if signature.len() != SIGNATURE_LEN {
            return Err(EcError::MalformedSignature("must be 64 bytes r||s"));
        }
        let sig = p256::ecdsa::Signature::from_slice(signature)
            .map_err(|_| EcError::MalformedSignature("r or s out of range"))?;
        p256::ecdsa::VerifyingKey::from(&self.0)
            .verify(msg, &sig)
            .map_err(|_| EcError::BadSignature)
    }

    /// Verifies a DER (`SEQUENCE { r, s }`) ECDSA-SHA256 signature, as X.509 carries it.
    pub fn verify_der(&self, msg: &[u8], signature: &[u8]) -> Result<(), EcError> {
        let sig = p256::ecdsa::Signature::from_der(signature)
            .map_err(|_| EcError::MalformedSignature("not a DER ECDSA-Sig-Value"))?;
        p256::ecdsa::VerifyingKey::from(&self.0)
            .verify(msg, &sig)
            .map_err(|_| EcError::BadSignature)
    }

    /// DER `SubjectPublicKeyInfo` (RFC 5480).
    pub fn to_spki_der(&self) -> Result<Vec<u8>, EcError> {
        self.0
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| EcError::Encoding(e.to_string()))
    }

    /// PEM `PUBLIC KEY` (RFC 7468).
    pub fn to_pem(&self) -> Result<String, EcError> {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| EcError::Encoding(e.to_string()))
    }

    /// Parses a DER `SubjectPublicKeyInfo` with an id-ecPublicKey / prime256v1 key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, EcError> {
        p256::PublicKey::from_public_key_der(der)
            .map(PublicKey)
            .map_err(|_| EcError::InvalidPublicKey("not a P-256 SubjectPublicKeyInfo"))
    }

    /// Parses a PEM `PUBLIC KEY`.
    pub fn from_pem(pem: &str) -> Result<Self, EcError> {
        p256::PublicKey::from_public_key_pem(pem)
            .map(PublicKey)
            .map_err(|_| EcError::InvalidPublicKey("not a P-256 PUBLIC KEY PEM"))
    }

    /// The RustCrypto key, for the other modules of this crate.
    pub(crate) fn inner(&self) -> &p256::PublicKey {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", esim_codec::hex::encode(&self.to_sec1()))
    }
}

/// A P-256 key pair. The private scalar is wiped on drop (RustCrypto `SecretKey` zeroizes) and
/// `Debug` shows only the public point.
#[derive(Clone)]
pub struct KeyPair {
    secret: p256::SecretKey,
    public: PublicKey,
}

impl KeyPair {
    /// A new key pair from the operating system's random source (rejection sampling of the
    /// scalar, FIPS 186-4 B.4.2).
    pub fn generate() -> Result<Self, EcError> {
        for _ in 0..64 {
            let mut bytes = Zeroizing::new([0u8; SCALAR_LEN]);
            fill_random(bytes.as_mut()).map_err(|_| EcError::Rng)?;
            if let Ok(kp) = Self::from_scalar(bytes.as_ref()) {
                return Ok(kp);
            }
        }
        Err(EcError::Rng)
    }

    /// A key pair from a 32-byte big-endian private scalar (1 ≤ d < n).
    pub fn from_scalar(bytes: &[u8]) -> Result<Self, EcError> {
        if bytes.len() != SCALAR_LEN {
            return Err(EcError::InvalidPrivateKey("scalar must be 32 bytes"));
        }
        let secret = p256::SecretKey::from_slice(bytes)
            .map_err(|_| EcError::InvalidPrivateKey("scalar is zero or not below the order"))?;
        Ok(Self::from_secret(secret))
    }

    fn from_secret(secret: p256::SecretKey) -> Self {
        let public = PublicKey(secret.public_key());
        KeyPair { secret, public }
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The private scalar (32 bytes, big-endian) in a zeroizing buffer.
    pub fn scalar_bytes(&self) -> SecretBytes {
        Zeroizing::new(self.secret.to_bytes().to_vec())
    }

    /// ECDSA-SHA256 signature over `msg`, plain `r ‖ s` (deterministic nonce, RFC 6979).
    pub fn sign(&self, msg: &[u8]) -> Result<[u8; SIGNATURE_LEN], EcError> {
        let sk = p256::ecdsa::SigningKey::from(&self.secret);
        let sig: p256::ecdsa::Signature = sk
            .try_sign(msg)
            .map_err(|_| EcError::MalformedSignature("signing failed"))?;
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(&sig.to_bytes());
        Ok(out)
    }

    /// ECDH (BSI TR-03111 §4.3.1 ECKA-DH): the x-coordinate of `d · Q_peer`, 32 bytes, zeroizing.
    pub fn ecdh(&self, peer: &PublicKey) -> SecretBytes {
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.inner().as_affine());
        Zeroizing::new(shared.raw_secret_bytes().to_vec())
    }

    /// PKCS#8 `PrivateKeyInfo` DER (RFC 5208), zeroizing.
    pub fn to_pkcs8_der(&self) -> Result<SecretBytes, EcError> {
        self.secret
            .to_pkcs8_der()
            .map(|d| Zeroizing::new(d.as_bytes().to_vec()))
            .map_err(|e| EcError::Encoding(e.to_string()))
    }

    /// PKCS#8 PEM (`PRIVATE KEY`), zeroizing.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, EcError> {
        self.secret
            .to_pkcs8_pem(LineEnding::LF)
            .map(|s| Zeroizing::new(s.as_str().to_owned()))
            .map_err(|e| EcError::Encoding(e.to_string()))
    }

    /// SEC1 `ECPrivateKey` DER (RFC 5915), zeroizing.
    pub fn to_sec1_der(&self) -> Result<SecretBytes, EcError> {
        self.secret
            .to_sec1_der()
            .map(|d| Zeroizing::new(d.to_vec()))
            .map_err(|e| EcError::Encoding(e.to_string()))
    }

    /// Parses PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, EcError> {
        p256::SecretKey::from_pkcs8_der(der)
            .map(Self::from_secret)
            .map_err(|_| EcError::InvalidPrivateKey("not a P-256 PKCS#8 key"))
    }

    /// Parses SEC1 `ECPrivateKey` DER.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, EcError> {
        p256::SecretKey::from_sec1_der(der)
            .map(Self::from_secret)
            .map_err(|_| EcError::InvalidPrivateKey("not a P-256 SEC1 key"))
    }

    /// Parses a PEM private key: PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, EcError> {
        if pem.contains("-----BEGIN EC PRIVATE KEY-----") {
            p256::SecretKey::from_sec1_pem(pem)
                .map(Self::from_secret)
                .map_err(|_| EcError::InvalidPrivateKey("not a P-256 EC PRIVATE KEY PEM"))
        } else {
            p256::SecretKey::from_pkcs8_pem(pem)
                .map(Self::from_secret)
                .map_err(|_| EcError::InvalidPrivateKey("not a P-256 PKCS#8 PEM"))
        }
    }

    /// The RustCrypto signing key, for the X.509 builder.
    pub(crate) fn signing_key(&self) -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from(&self.secret)
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Encodes `7F49 { B0 04‖X‖Y, F0 01 00 }`: a P-256 public key with key parameter reference `00`
/// (GP Amd E Table 4-26 / SGP.02 v4.1 Table 24, sgp02-gaps §4).
pub fn encode_7f49(pk: &PublicKey) -> Vec<u8> {
    let mut w = esim_codec::ber::Writer::new();
    w.constructed(0x7F49u16, |w| {
        w.put(0xB0u8, &pk.to_sec1());
        w.put(0xF0u8, &[KEY_PARAM_REF_P256]);
    });
    w.into_bytes()
}

/// Key parameter reference for NIST P-256 (GP Amd E Table 4-3, sgp02-gaps §4).
pub const KEY_PARAM_REF_P256: u8 = 0x00;

/// Decodes the value of a `7F49` template: `B0` point and optional `F0` key parameter reference
/// (which must be `00`, P-256). Errors name the tag and the absolute offset.
pub fn decode_7f49(
    t: &esim_codec::ber::Tlv<'_>,
) -> Result<PublicKey, esim_codec::ber::DecodeError> {
    use esim_codec::ber::DecodeError;
    let mut r = t.children();
    let b0 = r.read_tag(0xB0u8)?;
    if let Some(f0) = r.read_optional(0xF0u8)? {
        if f0.value != [KEY_PARAM_REF_P256] {
            return Err(DecodeError::bad_value(
                f0.offset,
                "F0 key parameter reference",
                "only 00 (NIST P-256) is supported",
            ));
        }
    }
    r.finish()?;
    PublicKey::from_sec1(b0.value)
        .map_err(|e| DecodeError::bad_value(b0.offset, "B0 public key", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_tamper() {
        let kp = KeyPair::generate().unwrap();
        let sig = kp.sign(b"hello").unwrap();
        kp.public_key().verify(b"hello", &sig).unwrap();
        assert_eq!(
            kp.public_key().verify(b"hellO", &sig),
            Err(EcError::BadSignature)
        );
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(kp.public_key().verify(b"hello", &bad).is_err());
        assert!(matches!(
            kp.public_key().verify(b"hello", &sig[..63]),
            Err(EcError::MalformedSignature(_))
        ));
    }

    #[test]
    fn key_files_round_trip() {
        let kp = KeyPair::generate().unwrap();
        let pem = kp.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = KeyPair::from_pem(&pem).unwrap();
        assert_eq!(back.public_key(), kp.public_key());
        let sec1 = kp.to_sec1_der().unwrap();
        assert_eq!(
            KeyPair::from_sec1_der(&sec1).unwrap().public_key(),
            kp.public_key()
        );
        let der = kp.to_pkcs8_der().unwrap();
        assert_eq!(
            KeyPair::from_pkcs8_der(&der).unwrap().public_key(),
            kp.public_key()
        );
        let pub_pem = kp.public_key().to_pem().unwrap();
        assert_eq!(&PublicKey::from_pem(&pub_pem).unwrap(), kp.public_key());
        let spki = kp.public_key().to_spki_der().unwrap();
        assert_eq!(&PublicKey::from_spki_der(&spki).unwrap(), kp.public_key());
    }

    #[test]
    fn debug_redacts_secret() {
        let kp = KeyPair::from_scalar(&[0x11; 32]).unwrap();
        let dbg = format!("{kp:?}");
        assert!(dbg.contains("<redacted>"));
        assert!(!dbg.contains(&"11".repeat(32)));
    }

    #[test]
    fn ecdh_agrees() {
        let a = KeyPair::generate().unwrap();
        let b = KeyPair::generate().unwrap();
        assert_eq!(*a.ecdh(b.public_key()), *b.ecdh(a.public_key()));
    }

    #[test]
    fn sec1_point_checks() {
        let kp = KeyPair::generate().unwrap();
        let p = kp.public_key().to_sec1();
        assert_eq!(p[0], 4);
        assert_eq!(&PublicKey::from_sec1(&p).unwrap(), kp.public_key());
        let mut off = p;
        off[64] ^= 1;
        assert!(PublicKey::from_sec1(&off).is_err());
        assert!(PublicKey::from_sec1(&[]).is_err());
        assert!(PublicKey::from_sec1(&p[..64]).is_err());
        assert!(KeyPair::from_scalar(&[0; 32]).is_err());
        assert!(KeyPair::from_scalar(&[0xFF; 32]).is_err());
    }

    #[test]
    fn public_key_7f49_round_trip() {
        let kp = KeyPair::generate().unwrap();
        let enc = encode_7f49(kp.public_key());
        let t = esim_codec::ber::parse_one(&enc).unwrap();
        assert_eq!(&decode_7f49(&t).unwrap(), kp.public_key());
    }

    /// Known-answer test: RFC 6979 A.2.5 (P-256, SHA-256, message "sample").
    #[test]
    fn rfc6979_p256_sha256_sample() {
        let d = esim_codec::hex::decode(
            "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721",
        )
        .unwrap();
        let kp = KeyPair::from_scalar(&d).unwrap();
        let sig = kp.sign(b"sample").unwrap();
        assert_eq!(
            esim_codec::hex::encode(&sig),
            "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716\
             f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"
        );
        let ux = "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6";
        assert!(
            esim_codec::hex::encode(&kp.public_key().to_sec1()).starts_with(&format!("04{ux}"))
        );
    }
}
