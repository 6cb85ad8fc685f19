//! [`issue_tls_certificate`]: X.509 certificates for the binding's TLS endpoints (server and
//! client identities of mutual TLS), signed by a private TLS CA. Used by `esim pki` to give
//! servers certificates valid for their DNS names *and* IP addresses (e.g. `127.0.0.1`), and
//! operators client certificates whose subject CN is their party identifier (the name the
//! mutual-TLS rule of [`crate::check_client_identity`] compares with the bearer token's
//! party). RFC 5280 profile: v3, ecdsa-with-SHA256 (the CA key's curve), basicConstraints
//! cA=FALSE, keyUsage digitalSignature + keyAgreement, extendedKeyUsage serverAuth +
//! clientAuth (server) or clientAuth (client), subjectAltName, subject and authority key
//! identifiers.

use std::net::IpAddr;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509NameBuilder};

/// Why a certificate could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsIssueError {
    /// The CA certificate PEM is not a certificate.
    #[error("CA certificate: {0}")]
    CaCertificate(String),
    /// The CA private key PEM is not a private key, or does not match the CA certificate.
    #[error("CA private key: {0}")]
    CaKey(String),
    /// The subject public key is not a DER SubjectPublicKeyInfo.
    #[error("subject public key: {0}")]
    SubjectKey(String),
    /// A name, a date or an extension could not be encoded, or signing failed.
    #[error("certificate: {0}")]
    Build(String),
}

/// What to certify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsCertificateSpec {
    /// Subject common name: the party identifier (e.g. `mno-b`, `smdp.esim-rsp.test`).
    pub common_name: String,
    /// subjectAltName DNS names.
    pub dns_names: Vec<String>,
    /// subjectAltName IP addresses.
    pub ip_addresses: Vec<IpAddr>,
    /// `true`: a server (and client) identity, extendedKeyUsage serverAuth + clientAuth;
    /// `false`: a client identity, clientAuth only.
    pub server: bool,
    /// notBefore, seconds since the Unix epoch.
    pub not_before_unix: i64,
    /// notAfter, seconds since the Unix epoch.
    pub not_after_unix: i64,
}

fn build(e: impl std::fmt::Display) -> TlsIssueError {
    TlsIssueError::Build(e.to_string())
}

/// Issues a certificate for the public key `subject_spki_der` (DER SubjectPublicKeyInfo) under
/// the CA (`ca_cert_pem`, `ca_key_pem`); returns it as PEM. The CA key is never part of an
/// error message.
pub fn issue_tls_certificate(
    ca_cert_pem: &[u8],
    ca_key_pem: &[u8],
    subject_spki_der: &[u8],
    spec: &TlsCertificateSpec,
) -> Result<String, TlsIssueError> {
    let ca =
        X509::from_pem(ca_cert_pem).map_err(|e| TlsIssueError::CaCertificate(e.to_string()))?;
    let ca_key = PKey::private_key_from_pem(ca_key_pem)
        .map_err(|_| TlsIssueError::CaKey("not a PEM private key".into()))?;
    let ca_public = ca
        .public_key()
        .map_err(|e| TlsIssueError::CaCertificate(e.to_string()))?;
    if !ca_public.public_eq(&ca_key) {
        return Err(TlsIssueError::CaKey(
            "does not match the CA certificate".into(),
        ));
    }
    let subject_key = PKey::public_key_from_der(subject_spki_der)
        .map_err(|e| TlsIssueError::SubjectKey(e.to_string()))?;
    let mut name = X509NameBuilder::new().map_err(build)?;
    name.append_entry_by_nid(Nid::COMMONNAME, &spec.common_name)
        .map_err(build)?;
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "esim-rsp test")
        .map_err(build)?;
    let name = name.build();
    let mut b = X509::builder().map_err(build)?;
    b.set_version(2).map_err(build)?;
    let mut serial = BigNum::new().map_err(build)?;
    serial
        .rand(63, MsbOption::MAYBE_ZERO, false)
        .map_err(build)?;
    let serial = serial.to_asn1_integer().map_err(build)?;
    b.set_serial_number(&serial).map_err(build)?;
    b.set_subject_name(&name).map_err(build)?;
    b.set_issuer_name(ca.subject_name()).map_err(build)?;
    b.set_pubkey(&subject_key).map_err(build)?;
    let not_before = Asn1Time::from_unix(spec.not_before_unix).map_err(build)?;
    let not_after = Asn1Time::from_unix(spec.not_after_unix).map_err(build)?;
    b.set_not_before(&not_before).map_err(build)?;
    b.set_not_after(&not_after).map_err(build)?;
    b.append_extension(BasicConstraints::new().critical().build().map_err(build)?)
        .map_err(build)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_agreement()
            .build()
            .map_err(build)?,
    )
    .map_err(build)?;
    let mut eku = ExtendedKeyUsage::new();
    if spec.server {
        eku.server_auth();
    }
    eku.client_auth();
    b.append_extension(eku.build().map_err(build)?)
        .map_err(build)?;
    if !spec.dns_names.is_empty() || !spec.ip_addresses.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for d in &spec.dns_names {
            san.dns(d);
        }
        for ip in &spec.ip_addresses {
            san.ip(&ip.to_string());
        }
        let ext = san
            .build(&b.x509v3_context(Some(&ca), None))
            .map_err(build)?;
        b.append_extension(ext).map_err(build)?;
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(Some(&ca), None))
        .map_err(build)?;
    b.append_extension(ski).map_err(build)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(false)
        .build(&b.x509v3_context(Some(&ca), None))
        .map_err(build)?;
    b.append_extension(aki).map_err(build)?;
    b.sign(&ca_key, MessageDigest::sha256()).map_err(build)?;
    let pem = b.build().to_pem().map_err(build)?;
    String::from_utf8(pem).map_err(build)
}
