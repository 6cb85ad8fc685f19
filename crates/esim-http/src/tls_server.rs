//! [`serve_tls`] / [`serve_tls_router`]: the bindings over HTTPS (OpenSSL via tokio-openssl,
//! hyper HTTP/1.1; TLS 1.2 or later), with an optional client-certificate requirement (mutual
//! TLS). Every request served here carries a [`TlsConnection`] extension: the identity of the
//! verified client certificate, if one was presented. The caller's identity still comes from
//! its bearer token; when a client certificate was verified, it must name that caller
//! ([`check_client_identity`], docs/spec-choices.md row 81).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::ssl::{Ssl, SslAcceptor, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::{X509, X509Ref};

use crate::server::{HttpState, router};

/// Time a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest name taken from a certificate (longer ones are ignored).
const MAX_NAME: usize = 256;

/// TLS settings of [`serve_tls`] / [`serve_tls_router`].
#[derive(Clone)]
pub struct ServerTls {
    /// The server certificate, then its intermediate CAs (PEM).
    pub certificate_chain_pem: Vec<u8>,
    /// The server's private key (PEM).
    pub private_key_pem: Vec<u8>,
    /// When set, client certificates are verified against these CAs (PEM) and, unless
    /// [`ServerTls::client_certificate_optional`], required.
    pub client_ca_pem: Option<Vec<u8>>,
    /// With a client CA: accept clients that present no certificate (a presented one is still
    /// verified). `false` (the default): the handshake fails without a client certificate.
    pub client_certificate_optional: bool,
}

impl ServerTls {
    /// A server identity without client-certificate verification.
    pub fn new(certificate_chain_pem: Vec<u8>, private_key_pem: Vec<u8>) -> Self {
        ServerTls {
            certificate_chain_pem,
            private_key_pem,
            client_ca_pem: None,
            client_certificate_optional: false,
        }
    }

    /// Checks the material as [`serve_tls_router`] will use it (certificate, key, their
    /// match, client CAs), so that a server can refuse to start instead of failing later.
    pub fn check(&self) -> io::Result<()> {
        acceptor(self).map(|_| ())
    }

    /// Requires (mutual TLS) client certificates issued by one of the CAs in `ca_pem`.
    pub fn require_client_certificates(mut self, ca_pem: Vec<u8>) -> Self {
        self.client_ca_pem = Some(ca_pem);
        self.client_certificate_optional = false;
        self
    }
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key is never printed.
        f.debug_struct("ServerTls")
            .field("certificate_chain_pem", &self.certificate_chain_pem.len())
            .field("client_ca", &self.client_ca_pem.is_some())
            .field(
                "client_certificate_optional",
                &self.client_certificate_optional,
            )
            .finish_non_exhaustive()
    }
}

/// The identity of a verified client certificate: its subject common name and its
/// subjectAltName DNS names and URIs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerIdentity {
    /// Subject CN (the first one).
    pub common_name: Option<String>,
    /// subjectAltName dNSName entries.
    pub dns_names: Vec<String>,
    /// subjectAltName uniformResourceIdentifier entries.
    pub uris: Vec<String>,
}

impl PeerIdentity {
    /// Reads the names of `cert` (names longer than 256 bytes or not UTF-8 are skipped).
    pub fn from_certificate(cert: &X509Ref) -> Self {
        let short = |s: &str| (s.len() <= MAX_NAME).then(|| s.to_owned());
        let common_name = cert
            .subject_name()
            .entries_by_nid(Nid::COMMONNAME)
            .next()
            .and_then(|e| e.data().to_string().ok())
            .and_then(|s| short(&s));
        let mut dns_names = Vec::new();
        let mut uris = Vec::new();
        if let Some(names) = cert.subject_alt_names() {
            for n in &names {
                if let Some(d) = n.dnsname().and_then(short) {
                    dns_names.push(d);
                } else if let Some(u) = n.uri().and_then(short) {
                    uris.push(u);
                }
            }
        }
        PeerIdentity {
            common_name,
            dns_names,
            uris,
        }
    }

    /// Whether the certificate names the party `id`: the CN or a URI equal to it, or a DNS
    /// name equal to it ignoring ASCII case.
    pub fn names_party(&self, id: &str) -> bool {
        self.common_name.as_deref() == Some(id)
            || self.uris.iter().any(|u| u == id)
            || self.dns_names.iter().any(|d| d.eq_ignore_ascii_case(id))
    }

    /// A short description for messages and logs (`CN=mno-b, DNS=…`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(cn) = &self.common_name {
            parts.push(format!("CN={cn}"));
        }
        parts.extend(self.dns_names.iter().map(|d| format!("DNS={d}")));
        parts.extend(self.uris.iter().map(|u| format!("URI={u}")));
        if parts.is_empty() {
            "no names".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Request extension of every request served by [`serve_tls_router`]: what the TLS handshake
/// of its connection established.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConnection {
    /// The verified client certificate's identity; `None` when no client certificate was
    /// asked for (no client CA) or presented (optional).
    pub client: Option<PeerIdentity>,
}

impl TlsConnection {
    /// For the audit trail: `{"tls": true, "client_cn": …}` (the verified client certificate's
    /// CN, or null).
    pub fn audit_detail(conn: Option<&TlsConnection>) -> serde_json::Value {
        match conn {
            None => serde_json::json!({ "tls": false }),
            Some(c) => serde_json::json!({
                "tls": true,
                "client_cn": c.client.as_ref().and_then(|p| p.common_name.clone()),
            }),
        }
    }
}

/// The mutual-TLS rule (docs/spec-choices.md row 81): a request whose connection presented a
/// verified client certificate is accepted only when that certificate names the party its
/// bearer token authenticated (`party_id`); requests over plain HTTP or without a client
/// certificate are left to the token alone. `Err` carries the refusal message (403).
pub fn check_client_identity(conn: Option<&TlsConnection>, party_id: &str) -> Result<(), String> {
    match conn.and_then(|c| c.client.as_ref()) {
        Some(id) if !id.names_party(party_id) => Err(format!(
            "the client certificate ({}) does not name the authenticated caller {:?}",
            id.describe(),
            party_id.chars().take(100).collect::<String>()
        )),
        _ => Ok(()),
    }
}

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

fn acceptor(tls: &ServerTls) -> io::Result<SslAcceptor> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .map_err(|e| invalid("TLS context", e))?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(|e| invalid("TLS context", e))?;
    let mut chain = X509::stack_from_pem(&tls.certificate_chain_pem)
        .map_err(|e| invalid("server certificate", e))?
        .into_iter();
    let leaf = chain
        .next()
        .ok_or_else(|| invalid("server certificate", "no certificate in the PEM"))?;
    b.set_certificate(&leaf)
        .map_err(|e| invalid("server certificate", e))?;
    for c in chain {
        b.add_extra_chain_cert(c)
            .map_err(|e| invalid("server certificate chain", e))?;
    }
    let key = PKey::private_key_from_pem(&tls.private_key_pem)
        .map_err(|_| invalid("server private key", "not a PEM private key"))?;
    b.set_private_key(&key)
        .map_err(|e| invalid("server private key", e))?;
    b.check_private_key()
        .map_err(|_| invalid("server private key", "does not match the certificate"))?;
    if let Some(ca) = &tls.client_ca_pem {
        let cas = X509::stack_from_pem(ca).map_err(|e| invalid("client CA", e))?;
        if cas.is_empty() {
            return Err(invalid("client CA", "no certificate in the PEM"));
        }
        for c in cas {
            // Named in the CertificateRequest, so clients pick a matching certificate.
            b.add_client_ca(&c).map_err(|e| invalid("client CA", e))?;
            b.cert_store_mut()
                .add_cert(c)
                .map_err(|e| invalid("client CA", e))?;
        }
        // Resumed sessions keep the verified peer; OpenSSL requires a context for them.
        b.set_session_id_context(b"esim-rsp")
            .map_err(|e| invalid("TLS context", e))?;
        let mode = if tls.client_certificate_optional {
            SslVerifyMode::PEER
        } else {
            SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT
        };
        b.set_verify(mode);
    }
    Ok(b.build())
}

/// Serves [`router`]`(state)` (the JSON binding) over TLS on `listener` until `shutdown`
/// completes, then lets the requests in progress finish. Errors only for unusable TLS
/// material (before serving).
pub async fn serve_tls(
    state: HttpState,
    listener: tokio::net::TcpListener,
    tls: &ServerTls,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_tls_router(router(state), listener, tls, shutdown).await
}

/// Serves any router (e.g. the JSON binding merged with the SOAP binding) over TLS on
/// `listener` until `shutdown` completes, then lets the requests in progress finish. Each
/// request carries a [`TlsConnection`] extension. A failed or timed-out handshake (garbage,
/// plain HTTP, no or an untrusted client certificate) closes that connection only. Errors only
/// for unusable TLS material (before serving).
pub async fn serve_tls_router(
    app: Router,
    listener: tokio::net::TcpListener,
    tls: &ServerTls,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = acceptor(tls)?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            client_certificates = tls.client_ca_pem.is_some(),
            client_certificate_optional = tls.client_certificate_optional,
            "listening (TLS)"
        );
    }
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // E.g. too many open files: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let ssl = match Ssl::new(acceptor.context()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "TLS session");
                continue;
            }
        };
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let Ok(mut stream) = tokio_openssl::SslStream::new(ssl, tcp) else {
                return;
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, Pin::new(&mut stream).accept()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            }
            // With a client CA, a certificate that is here passed verification.
            let client = stream
                .ssl()
                .peer_certificate()
                .map(|c| PeerIdentity::from_certificate(&c));
            if let Some(c) = &client {
                tracing::debug!(%peer, client = %c.describe(), "client certificate verified");
            }
            let app = app.layer(axum::Extension(TlsConnection { client }));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}
