//! The PSK-TLS 1.2 profile of SGP.02 ES5 over HTTPS (digest §5.3 "Cipher suites"; GP Amd B §2.2
//! and its PSK-TLS security requirements): TLS 1.2 only, PSK key exchange (RFC 4279) with
//! AES-128 GCM or CBC and SHA-256 (RFC 5487), no certificates, no session resumption, no
//! renegotiation. Built on OpenSSL (vendored).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use esim_crypto::SecretKey;
use openssl::ex_data::Index;
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslOptions, SslRef, SslSessionCacheMode,
    SslVerifyMode, SslVersion,
};

use crate::admin::PskIdentity;

/// A PSK-TLS 1.2 cipher suite allowed on ES5 (digest §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CipherSuite {
    /// `TLS_PSK_WITH_AES_128_GCM_SHA256` (RFC 5487 §3.1, `00 A8`).
    PskAes128GcmSha256,
    /// `TLS_PSK_WITH_AES_128_CBC_SHA256` (RFC 5487 §3.2, `00 AE`).
    PskAes128CbcSha256,
}

impl CipherSuite {
    /// Both suites, GCM preferred.
    pub const ALL: [CipherSuite; 2] = [
        CipherSuite::PskAes128GcmSha256,
        CipherSuite::PskAes128CbcSha256,
    ];

    /// The IANA name.
    pub fn iana_name(self) -> &'static str {
        match self {
            CipherSuite::PskAes128GcmSha256 => "TLS_PSK_WITH_AES_128_GCM_SHA256",
            CipherSuite::PskAes128CbcSha256 => "TLS_PSK_WITH_AES_128_CBC_SHA256",
        }
    }

    /// The OpenSSL name.
    pub fn openssl_name(self) -> &'static str {
        match self {
            CipherSuite::PskAes128GcmSha256 => "PSK-AES128-GCM-SHA256",
            CipherSuite::PskAes128CbcSha256 => "PSK-AES128-CBC-SHA256",
        }
    }

    /// The suite with this IANA or OpenSSL name, if it is one of ours.
    pub fn from_name(name: &str) -> Option<Self> {
        CipherSuite::ALL
            .into_iter()
            .find(|c| c.iana_name() == name || c.openssl_name() == name)
    }
}

impl fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.iana_name())
    }
}

impl FromStr for CipherSuite {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        CipherSuite::from_name(s).ok_or_else(|| format!("unknown SCP81 cipher suite {s:?}"))
    }
}

/// Looks up the pre-shared key of an identity. Called from inside the TLS handshake on the
/// connection's task: it must not block (keep keys in memory, e.g. loaded at start-up or
/// refreshed in the background). `None` refuses the identity: the handshake fails with
/// `unknown_psk_identity` (RFC 4279 §2).
pub trait PskStore: Send + Sync + 'static {
    /// The key for `identity`, if known.
    fn psk(&self, identity: &PskIdentity) -> Option<SecretKey>;
}

impl<T: PskStore> PskStore for Arc<T> {
    fn psk(&self, identity: &PskIdentity) -> Option<SecretKey> {
        (**self).psk(identity)
    }
}

fn base(method: SslMethod, suites: &[CipherSuite]) -> Result<SslContextBuilder, String> {
    if suites.is_empty() {
        return Err("no cipher suite configured".into());
    }
    let e = |what: &str, err: openssl::error::ErrorStack| format!("{what}: {err}");
    let mut b = SslContext::builder(method).map_err(|x| e("context", x))?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(|x| e("min version", x))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_2))
        .map_err(|x| e("max version", x))?;
    let list: Vec<&str> = suites.iter().map(|c| c.openssl_name()).collect();
    b.set_cipher_list(&list.join(":"))
        .map_err(|x| e("cipher list", x))?;
    b.set_options(SslOptions::NO_TICKET | SslOptions::NO_RENEGOTIATION);
    b.set_session_cache_mode(SslSessionCacheMode::OFF);
    b.set_verify(SslVerifyMode::NONE);
    Ok(b)
}

/// The card-side context: presents `identity` (hex text, NUL-terminated as OpenSSL expects)
/// and `psk`.
pub(crate) fn client_context(
    identity: &PskIdentity,
    psk: &SecretKey,
    suites: &[CipherSuite],
) -> Result<SslContext, String> {
    let mut b = base(SslMethod::tls_client(), suites)?;
    let id = identity.to_wire().into_bytes();
    let key = psk.clone();
    b.set_psk_client_callback(move |_ssl, _hint, id_buf, psk_buf| {
        // identity ‖ NUL must fit, and so must the key; otherwise refuse (0 = no PSK).
        if id.len() + 1 > id_buf.len() || key.len() > psk_buf.len() || key.is_empty() {
            return Ok(0);
        }
        id_buf[..id.len()].copy_from_slice(&id);
        id_buf[id.len()] = 0;
        psk_buf[..key.len()].copy_from_slice(key.expose());
        Ok(key.len())
    });
    Ok(b.build())
}

/// The SM-SR-side context: parses the identity, asks `store`, records the accepted identity in
/// the connection's ex-data at `index`. A malformed or unknown identity gets no key (handshake
/// failure).
pub(crate) fn server_context<S: PskStore>(
    store: Arc<S>,
    suites: &[CipherSuite],
    index: Index<Ssl, PskIdentity>,
) -> Result<SslContext, String> {
    let mut b = base(SslMethod::tls_server(), suites)?;
    b.set_psk_server_callback(move |ssl: &mut SslRef, identity, psk_buf| {
        let Some(raw) = identity else { return Ok(0) };
        let Ok(id) = PskIdentity::parse_wire(raw) else {
            return Ok(0);
        };
        let Some(key) = store.psk(&id) else {
            return Ok(0);
        };
        if key.is_empty() || key.len() > psk_buf.len() {
            return Ok(0);
        }
        psk_buf[..key.len()].copy_from_slice(key.expose());
        ssl.set_ex_data(index, id);
        Ok(key.len())
    });
    Ok(b.build())
}

/// A fresh per-connection ex-data slot for the authenticated identity.
pub(crate) fn identity_index() -> Result<Index<Ssl, PskIdentity>, String> {
    Ssl::new_ex_index::<PskIdentity>().map_err(|e| format!("ex-data index: {e}"))
}

/// The negotiated suite and protocol version of an established connection.
pub(crate) fn negotiated(ssl: &SslRef) -> (String, String) {
    let cipher = ssl
        .current_cipher()
        .map(|c| c.standard_name().unwrap_or(c.name()).to_string())
        .unwrap_or_default();
    (cipher, ssl.version_str().to_string())
}
