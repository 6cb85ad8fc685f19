//! Serde forms of the card's key material and certificates, used only for the persisted card
//! state (the state file of a software card is as secret as the card's memory).
//!
//! Keys are written as hex strings; the intermediate strings are zeroized. Certificates are the
//! hex of their `7F21` TLV, public keys the hex of their uncompressed SEC1 point.

use esim_crypto::SecretKey;
use esim_crypto::cert::Certificate;
use esim_crypto::ec::{KeyPair, PublicKey};
use serde::{Deserialize, Deserializer, Serializer};
use zeroize::Zeroizing;

fn to_hex<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let h = Zeroizing::new(esim_codec::hex::encode(bytes));
    s.serialize_str(&h)
}

fn from_hex<'de, D: Deserializer<'de>>(d: D, what: &str) -> Result<Zeroizing<Vec<u8>>, D::Error> {
    let s = Zeroizing::new(String::deserialize(d)?);
    esim_codec::hex::decode(&s)
        .map(Zeroizing::new)
        .map_err(|e| serde::de::Error::custom(format!("{what}: {e}")))
}

/// A [`SecretKey`] as hex.
pub(crate) mod secret {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(k: &SecretKey, s: S) -> Result<S::Ok, S::Error> {
        to_hex(k.expose(), s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretKey, D::Error> {
        Ok(SecretKey::new(&from_hex(d, "secret key")?))
    }
}

/// An optional [`SecretKey`] as hex or null.
pub(crate) mod opt_secret {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(k: &Option<SecretKey>, s: S) -> Result<S::Ok, S::Error> {
        match k {
            Some(k) => to_hex(k.expose(), s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SecretKey>, D::Error> {
        let s: Option<Zeroizing<String>> = Option::deserialize(d)?.map(Zeroizing::new);
        match s {
            None => Ok(None),
            Some(s) => esim_codec::hex::decode(&s)
                .map(|v| Some(SecretKey::from_vec(v)))
                .map_err(|e| serde::de::Error::custom(format!("secret key: {e}"))),
        }
    }
}

/// A P-256 key pair as the hex of its private scalar.
pub(crate) mod key_pair {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(k: &KeyPair, s: S) -> Result<S::Ok, S::Error> {
        to_hex(&k.scalar_bytes(), s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KeyPair, D::Error> {
        KeyPair::from_scalar(&from_hex(d, "private key")?)
            .map_err(|e| serde::de::Error::custom(format!("private key: {e}")))
    }
}

/// A P-256 public key as the hex of its uncompressed SEC1 point.
pub(crate) mod public_key {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(k: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
        to_hex(&k.to_sec1(), s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PublicKey, D::Error> {
        PublicKey::from_sec1(&from_hex(d, "public key")?)
            .map_err(|e| serde::de::Error::custom(format!("public key: {e}")))
    }
}

/// A GP `7F21` certificate as hex.
pub(crate) mod certificate {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(c: &Certificate, s: S) -> Result<S::Ok, S::Error> {
        to_hex(&c.encode(), s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Certificate, D::Error> {
        Certificate::decode(&from_hex(d, "certificate")?)
            .map_err(|e| serde::de::Error::custom(format!("certificate: {e}")))
    }
}
