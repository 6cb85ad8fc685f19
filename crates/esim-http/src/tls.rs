//! TLS settings of the binding's HTTP clients ([`crate::HttpFunctionClient`],
//! [`crate::HttpCallbacks`]): `https://` base URLs, extra trust anchors, a client certificate
//! for mutual TLS. OpenSSL (vendored) through reqwest's native-tls backend.

use std::time::Duration;

use esim_service::ClientError;

/// TLS settings for `https://` peers. The system trust store is always used; these add to it.
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// Extra trust anchors, PEM (e.g. the private CA of the peers).
    pub root_certificates_pem: Vec<Vec<u8>>,
    /// Client certificate (PEM, chain allowed) and its PKCS#8 private key (PEM) for mutual
    /// TLS.
    pub client_identity_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key is never printed.
        f.debug_struct("TlsOptions")
            .field("root_certificates", &self.root_certificates_pem.len())
            .field("client_identity", &self.client_identity_pem.is_some())
            .finish()
    }
}

impl TlsOptions {
    /// An HTTP client with these settings (TLS 1.2 or later), e.g. for the SOAP binding's
    /// clients (`esim_soap::SoapFunctionClient::with_http_client`). Unusable PEM is an error.
    pub fn http_client(&self) -> Result<reqwest::Client, ClientError> {
        http_client(self)
    }
}

/// The reqwest client of the binding.
pub(crate) fn http_client(tls: &TlsOptions) -> Result<reqwest::Client, ClientError> {
    let bad = |what: &str, e: reqwest::Error| ClientError::Transport(format!("{what}: {e}"));
    let mut b = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .tls_version_min(reqwest::tls::Version::TLS_1_2);
    for pem in &tls.root_certificates_pem {
        let certs =
            reqwest::Certificate::from_pem_bundle(pem).map_err(|e| bad("root certificate", e))?;
        if certs.is_empty() {
            return Err(ClientError::Transport(
                "root certificate: no certificate in the PEM".into(),
            ));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if let Some((cert, key)) = &tls.client_identity_pem {
        let id =
            reqwest::Identity::from_pkcs8_pem(cert, key).map_err(|e| bad("client identity", e))?;
        b = b.identity(id);
    }
    b.build().map_err(|e| bad("HTTP client", e))
}
