//! The ECASD, eUICC Controlling Authority Security Domain (SGP.02 §2.2.1.3; digest §1.2, §3.2).
//!
//! Holds the EID, PK.CI.ECDSA, SK.ECASD.ECKA and CERT.ECASD.ECKA; immutable after manufacture.
//! It runs the card side of ECKA scenario #3 ([`esim_crypto::ecka`]) for the ISD-R, either on
//! behalf of an ISD-P (SM-DP certificate, type `01`) or for the ISD-R itself in an SM-SR change
//! (SM-SR certificate, type `02`): `3A01` certificate → `85` random challenge; `3A02` CRT + ePK +
//! signature → `[85 DR] ‖ 86 receipt`.

use crate::persist;
use esim_codec::Eid;
use esim_codec::ber;
use esim_crypto::cert::{CertError, CertType, Certificate};
use esim_crypto::ec::{KeyPair, PublicKey};
use esim_crypto::ecka::{
    CardAwaitingCertificate, CardAwaitingKeyParameters, EcasdCredentials, EckaError, TAG_MESSAGE_1,
};
use esim_crypto::pki::IssuedEuicc;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The ECASD's persistent content.
#[derive(Clone, Serialize, Deserialize)]
pub struct Ecasd {
    eid: Eid,
    #[serde(with = "persist::key_pair")]
    key: KeyPair,
    #[serde(with = "persist::certificate")]
    certificate: Certificate,
    #[serde(with = "persist::public_key")]
    ci_public_key: PublicKey,
}

impl fmt::Debug for Ecasd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ecasd")
            .field("eid", &self.eid)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Ecasd {
    fn eq(&self, other: &Self) -> bool {
        self.eid == other.eid
            && self.certificate.encode() == other.certificate.encode()
            && self.ci_public_key == other.ci_public_key
            && *self.key.scalar_bytes() == *other.key.scalar_bytes()
    }
}

impl Ecasd {
    /// The ECASD of an issued eUICC.
    pub fn from_issued(issued: &IssuedEuicc) -> Self {
        Ecasd {
            eid: issued.eid.clone(),
            key: issued.ecasd_key.clone(),
            certificate: issued.ecasd_cert.clone(),
            ci_public_key: issued.ci_public_key.clone(),
        }
    }

    /// The EID.
    pub fn eid(&self) -> &Eid {
        &self.eid
    }

    /// CERT.ECASD.ECKA.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// PK.CI.ECDSA.
    pub fn ci_public_key(&self) -> &PublicKey {
        &self.ci_public_key
    }

    fn credentials(&self) -> EcasdCredentials {
        EcasdCredentials {
            key: self.key.clone(),
            certificate: self.certificate.clone(),
            ci_public_key: self.ci_public_key.clone(),
        }
    }

    /// Verifies an off-card certificate (`7F21` TLV) against PK.CI.ECDSA and requires its type.
    pub fn verify_certificate(
        &self,
        der: &[u8],
        expected: CertType,
    ) -> Result<Certificate, CertError> {
        let cert = Certificate::decode(der)?;
        cert.verify_full(&self.ci_public_key, None, &[expected])?;
        Ok(cert)
    }

    /// Key establishment message 1 (`3A01 L {7F21 …}`, the whole framed payload): checks the
    /// certificate against PK.CI.ECDSA and its type (`01` SM-DP for an ISD-P, `02` SM-SR for the
    /// ISD-R) and answers `85 10 RC`.
    pub fn start_key_establishment(
        &self,
        msg1: &[u8],
        expected: CertType,
    ) -> Result<(KeyEstablishment, Vec<u8>), EckaError> {
        // The type check needs the certificate before the generic verification.
        let (tag, value) = ber::parse_fixed_tag(msg1, 2)?;
        if tag.0 == u32::from(TAG_MESSAGE_1) {
            if let Ok(cert) = Certificate::decode(value) {
                if cert.cert_type() != Some(expected) {
                    return Err(EckaError::Certificate(CertError::WrongType {
                        found: cert.cert_type(),
                    }));
                }
            }
        }
        let (state, response) =
            CardAwaitingCertificate::new(&self.credentials(), None).handle(msg1)?;
        Ok((
            KeyEstablishment {
                state,
                off_card_type: expected,
            },
            response,
        ))
    }
}

/// A key establishment between message 1 and message 2. Volatile (lost on reset), like the
/// random challenge a real card keeps in RAM.
pub struct KeyEstablishment {
    /// The card-side ECKA state.
    pub state: CardAwaitingKeyParameters,
    /// Type of the off-card certificate accepted in message 1.
    pub off_card_type: CertType,
}

impl fmt::Debug for KeyEstablishment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEstablishment")
            .field("off_card_type", &self.off_card_type)
            .finish_non_exhaustive()
    }
}
