//! X.509 certificates of the SGP.02 PKI (digest §4.4): the CI root (self-signed), EUM
//! certificates (signed by the CI), and TLS identities for the servers' mutual TLS. All keys are
//! NIST P-256 and all signatures ECDSA-SHA256 (RFC 5758 §3.2) — the SGP.14 profile is not public,
//! so extensions follow RFC 5280 practice: CA certificates carry a critical basicConstraints
//! (cA=TRUE), keyUsage keyCertSign|cRLSign, subjectKeyIdentifier (SHA-1 of the key, RFC 5280
//! §4.2.1.2 method 1) and authorityKeyIdentifier.
//!
//! **TLS identities** are issued by a separate *TLS CA* (its own self-signed root) rather than by
//! the CI: the CI signs only GSMA entity certificates, and a server's TLS trust store then holds
//! the TLS CA alone (docs/spec-choices.md).
//!
//! Dates are passed in ([`Date`]); this crate never reads the clock. Validity runs from 00:00:00
//! UTC of `not_before` to 23:59:59 UTC of `not_after`.

use crate::cert::Date;
use crate::ec::{EcError, KeyPair, PublicKey};
use der::{Decode, DecodePem, Encode, EncodePem, pem::LineEnding};
use std::fmt;
use std::str::FromStr;
use x509_cert::builder::{Builder, CertificateBuilder, profile::BuilderProfile};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};

/// ecdsa-with-SHA256 (RFC 5758 §3.2).
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// id-kp-serverAuth (RFC 5280 §4.2.1.12).
pub const ID_KP_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
/// id-kp-clientAuth (RFC 5280 §4.2.1.12).
pub const ID_KP_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

/// An X.509 failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum X509Error {
    /// DER/PEM that is not a certificate, or a field that cannot be encoded.
    #[error("X.509 encoding: {0}")]
    Encoding(String),
    /// The certificate builder refused the input (e.g. a malformed subject name).
    #[error("X.509 building: {0}")]
    Build(String),
    /// The subject public key is not P-256.
    #[error("subject public key: {0}")]
    Key(EcError),
    /// The signature algorithm is not ecdsa-with-SHA256.
    #[error("signature algorithm {0} not supported (only ecdsa-with-SHA256)")]
    UnsupportedAlgorithm(String),
    /// The certificate's issuer name is not the issuer certificate's subject.
    #[error("issuer name {issuer} does not match the issuer certificate's subject {expected}")]
    IssuerMismatch {
        /// Issuer name in the certificate.
        issuer: String,
        /// Subject of the presumed issuer.
        expected: String,
    },
    /// The presumed issuer is not a CA (basicConstraints cA or keyUsage keyCertSign missing).
    #[error("{0} is not a CA certificate")]
    NotCa(String),
    /// The signature does not verify under the issuer's key.
    #[error("certificate signature does not verify")]
    BadSignature,
    /// The date is outside the validity period.
    #[error("certificate not valid at {at} (valid {not_before} to {not_after})")]
    NotValid {
        /// Date of the check.
        at: Date,
        /// First valid day.
        not_before: Date,
        /// Last valid day.
        not_after: Date,
    },
}

fn enc(e: impl fmt::Display) -> X509Error {
    X509Error::Encoding(e.to_string())
}

/// What kind of certificate to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertProfile {
    /// A self-signed root CA (the CI, or the TLS CA).
    Root,
    /// An intermediate CA (the EUM): may sign end-entity certificates only (pathLen 0).
    SubCa,
    /// A TLS server (and client) identity with these DNS names in subjectAltName.
    TlsServer {
        /// DNS names.
        dns_names: Vec<String>,
    },
    /// A TLS client identity.
    TlsClient,
}

/// First and last day of validity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidityDays {
    /// First valid day (from 00:00:00 UTC).
    pub not_before: Date,
    /// Last valid day (to 23:59:59 UTC).
    pub not_after: Date,
}

fn to_time(d: Date, end: bool) -> Result<Time, X509Error> {
    let (h, m, s) = if end { (23, 59, 59) } else { (0, 0, 0) };
    let dt = der::DateTime::new(d.year, d.month, d.day, h, m, s).map_err(enc)?;
    Ok(Time::from(dt))
}

fn from_time(t: &Time) -> Date {
    let dt = t.to_date_time();
    Date::new(dt.year(), dt.month(), dt.day()).unwrap_or(Date {
        year: 1970,
        month: 1,
        day: 1,
    })
}

struct Profile {
    subject: Name,
    issuer: Option<Name>,
    kind: CertProfile,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut exts: Vec<Extension> = Vec::new();
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        let aki_src = SubjectKeyIdentifier::try_from(issuer_spk)?;
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(aki_src.0.clone()),
            ..Default::default()
        };
        let (ca, path_len, usage, eku) = match &self.kind {
            CertProfile::Root => (
                true,
                None,
                KeyUsages::KeyCertSign | KeyUsages::CRLSign,
                None,
            ),
            CertProfile::SubCa => (
                true,
                Some(0),
                KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature,
                None,
            ),
            CertProfile::TlsServer { .. } => (
                false,
                None,
                KeyUsages::DigitalSignature | KeyUsages::KeyAgreement,
                Some(vec![ID_KP_SERVER_AUTH, ID_KP_CLIENT_AUTH]),
            ),
            CertProfile::TlsClient => (
                false,
                None,
                KeyUsages::DigitalSignature | KeyUsages::KeyAgreement,
                Some(vec![ID_KP_CLIENT_AUTH]),
            ),
        };
        let bc = BasicConstraints {
            ca,
            path_len_constraint: path_len,
        };
        exts.push((true, &bc).to_extension(tbs.subject(), &exts)?);
        exts.push((true, &KeyUsage(usage)).to_extension(tbs.subject(), &exts)?);
        if let Some(eku) = eku {
            exts.push((false, &ExtendedKeyUsage(eku)).to_extension(tbs.subject(), &exts)?);
        }
        if let CertProfile::TlsServer { dns_names } = &self.kind {
            let mut names = Vec::new();
            for n in dns_names {
                names.push(GeneralName::DnsName(der::asn1::Ia5String::new(n)?));
            }
            if !names.is_empty() {
                exts.push((false, &SubjectAltName(names)).to_extension(tbs.subject(), &exts)?);
            }
        }
        exts.push((false, &ski).to_extension(tbs.subject(), &exts)?);
        exts.push((false, &aki).to_extension(tbs.subject(), &exts)?);
        Ok(exts)
    }
}

/// An X.509 certificate with a P-256 key.
#[derive(Clone, PartialEq, Eq)]
pub struct X509Certificate {
    inner: x509_cert::Certificate,
    der: Vec<u8>,
}

impl fmt::Debug for X509Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509Certificate")
            .field("subject", &self.subject())
            .field("issuer", &self.issuer())
            .finish()
    }
}

/// Issues a certificate. `issuer` is `None` for a self-signed root (then `issuer_key` must be
/// the subject's own key pair).
pub fn issue(
    issuer: Option<&X509Certificate>,
    issuer_key: &KeyPair,
    subject: &str,
    subject_key: &PublicKey,
    serial: &[u8],
    validity: ValidityDays,
    profile: CertProfile,
) -> Result<X509Certificate, X509Error> {
    let subject = Name::from_str(subject).map_err(|e| X509Error::Build(e.to_string()))?;
    let issuer_name = issuer.map(|c| c.inner.tbs_certificate().subject().clone());
    let spki_der = subject_key.to_spki_der().map_err(X509Error::Key)?;
    let spki = SubjectPublicKeyInfoOwned::from_der(&spki_der).map_err(enc)?;
    let serial = SerialNumber::new(serial).map_err(enc)?;
    let validity = Validity::new(
        to_time(validity.not_before, false)?,
        to_time(validity.not_after, true)?,
    );
    let profile = Profile {
        subject,
        issuer: issuer_name,
        kind: profile,
    };
    let builder = CertificateBuilder::new(profile, serial, validity, spki)
        .map_err(|e| X509Error::Build(e.to_string()))?;
    let signer = issuer_key.signing_key();
    let cert = builder
        .build::<_, p256::ecdsa::DerSignature>(&signer)
        .map_err(|e| X509Error::Build(e.to_string()))?;
    X509Certificate::from_inner(cert)
}

/// A self-signed root CA certificate (CI or TLS CA).
pub fn self_signed_root(
    key: &KeyPair,
    subject: &str,
    serial: &[u8],
    validity: ValidityDays,
) -> Result<X509Certificate, X509Error> {
    issue(
        None,
        key,
        subject,
        key.public_key(),
        serial,
        validity,
        CertProfile::Root,
    )
}

impl X509Certificate {
    fn from_inner(inner: x509_cert::Certificate) -> Result<Self, X509Error> {
        let der = inner.to_der().map_err(enc)?;
        Ok(X509Certificate { inner, der })
    }

    /// Parses DER.
    pub fn from_der(der: &[u8]) -> Result<Self, X509Error> {
        let inner = x509_cert::Certificate::from_der(der).map_err(enc)?;
        Ok(X509Certificate {
            inner,
            der: der.to_vec(),
        })
    }

    /// Parses one PEM `CERTIFICATE`.
    pub fn from_pem(pem: &str) -> Result<Self, X509Error> {
        let inner = x509_cert::Certificate::from_pem(pem.as_bytes()).map_err(enc)?;
        Self::from_inner(inner)
    }

    /// The DER bytes.
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// PEM `CERTIFICATE`.
    pub fn to_pem(&self) -> Result<String, X509Error> {
        self.inner.to_pem(LineEnding::LF).map_err(enc)
    }

    /// Subject distinguished name (RFC 4514 string).
    pub fn subject(&self) -> String {
        self.inner.tbs_certificate().subject().to_string()
    }

    /// Issuer distinguished name (RFC 4514 string).
    pub fn issuer(&self) -> String {
        self.inner.tbs_certificate().issuer().to_string()
    }

    /// Serial number bytes (big-endian, without sign padding).
    pub fn serial(&self) -> Vec<u8> {
        self.inner
            .tbs_certificate()
            .serial_number()
            .as_bytes()
            .to_vec()
    }

    /// First and last day of validity.
    pub fn validity(&self) -> ValidityDays {
        let v = self.inner.tbs_certificate().validity();
        ValidityDays {
            not_before: from_time(&v.not_before),
            not_after: from_time(&v.not_after),
        }
    }

    /// The subject's P-256 public key.
    pub fn public_key(&self) -> Result<PublicKey, X509Error> {
        let spki = self
            .inner
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(enc)?;
        PublicKey::from_spki_der(&spki).map_err(X509Error::Key)
    }

    /// The subjectKeyIdentifier extension, if present.
    pub fn subject_key_id(&self) -> Option<Vec<u8>> {
        self.inner
            .tbs_certificate()
            .get_extension::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .map(|(_, ski)| ski.0.as_bytes().to_vec())
    }

    /// The authorityKeyIdentifier keyIdentifier, if present.
    pub fn authority_key_id(&self) -> Option<Vec<u8>> {
        self.inner
            .tbs_certificate()
            .get_extension::<AuthorityKeyIdentifier>()
            .ok()
            .flatten()
            .and_then(|(_, aki)| aki.key_identifier.map(|k| k.as_bytes().to_vec()))
    }

    /// Whether basicConstraints says cA and keyUsage allows keyCertSign.
    pub fn is_ca(&self) -> bool {
        let tbs = self.inner.tbs_certificate();
        let bc = tbs
            .get_extension::<BasicConstraints>()
            .ok()
            .flatten()
            .is_some_and(|(_, bc)| bc.ca);
        let ku = tbs
            .get_extension::<KeyUsage>()
            .ok()
            .flatten()
            .is_some_and(|(_, ku)| ku.key_cert_sign());
        bc && ku
    }

    /// DNS names of the subjectAltName extension.
    pub fn dns_names(&self) -> Vec<String> {
        self.inner
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
            .ok()
            .flatten()
            .map(|(_, san)| {
                san.0
                    .iter()
                    .filter_map(|g| match g {
                        GeneralName::DnsName(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The raw `tbsCertificate` bytes as they were signed (first element of the outer SEQUENCE).
    fn tbs_raw(&self) -> Result<&[u8], X509Error> {
        let outer = esim_codec::ber::parse_one(&self.der).map_err(enc)?;
        let first = outer
            .children()
            .next()
            .ok_or_else(|| enc("empty certificate SEQUENCE"))?
            .map_err(enc)?;
        Ok(first.raw)
    }

    /// Verifies that `issuer` (a CA certificate) signed this certificate: issuer name, CA flags,
    /// algorithm ecdsa-with-SHA256 and the signature over the tbsCertificate bytes.
    pub fn verify_issued_by(&self, issuer: &X509Certificate) -> Result<(), X509Error> {
        let tbs = self.inner.tbs_certificate();
        if tbs.issuer() != issuer.inner.tbs_certificate().subject() {
            return Err(X509Error::IssuerMismatch {
                issuer: self.issuer(),
                expected: issuer.subject(),
            });
        }
        if !issuer.is_ca() {
            return Err(X509Error::NotCa(issuer.subject()));
        }
        let alg = self.inner.signature_algorithm();
        if alg.oid != ECDSA_WITH_SHA256 || tbs.signature().oid != ECDSA_WITH_SHA256 {
            return Err(X509Error::UnsupportedAlgorithm(alg.oid.to_string()));
        }
        let sig = self
            .inner
            .signature()
            .as_bytes()
            .ok_or_else(|| enc("signature BIT STRING has unused bits"))?;
        issuer
            .public_key()?
            .verify_der(self.tbs_raw()?, sig)
            .map_err(|_| X509Error::BadSignature)
    }

    /// Checks that `at` lies within the validity period.
    pub fn check_validity(&self, at: Date) -> Result<(), X509Error> {
        let v = self.validity();
        if at < v.not_before || at > v.not_after {
            return Err(X509Error::NotValid {
                at,
                not_before: v.not_before,
                not_after: v.not_after,
            });
        }
        Ok(())
    }
}
