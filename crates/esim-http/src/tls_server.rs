//! [`serve_tls`]: the binding over HTTPS (OpenSSL via tokio-openssl, hyper HTTP/1.1), with an
//! optional client-certificate requirement (mutual TLS as a transport gate; the caller's
//! identity still comes from its bearer token).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use openssl::pkey::PKey;
use openssl::ssl::{Ssl, SslAcceptor, SslMethod, SslVerifyMode};
use openssl::x509::X509;

use crate::server::{HttpState, router};

/// Time a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS settings of [`serve_tls`].
#[derive(Clone)]
pub struct ServerTls {
    /// The server certificate, then its intermediate CAs (PEM).
    pub certificate_chain_pem: Vec<u8>,
    /// The server's private key (PEM).
    pub private_key_pem: Vec<u8>,
    /// When set, clients must present a certificate issued by one of these CAs (PEM).
    pub client_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key is never printed.
        f.debug_struct("ServerTls")
            .field("certificate_chain_pem", &self.certificate_chain_pem.len())
            .field("client_ca", &self.client_ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

fn acceptor(tls: &ServerTls) -> io::Result<SslAcceptor> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
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
            b.cert_store_mut()
                .add_cert(c)
                .map_err(|e| invalid("client CA", e))?;
        }
        b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    }
    Ok(b.build())
}

/// Serves [`router`]`(state)` over TLS on `listener` until `shutdown` completes, then lets
/// the requests in progress finish. Errors only for unusable TLS material (before serving).
pub async fn serve_tls(
    state: HttpState,
    listener: tokio::net::TcpListener,
    tls: &ServerTls,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = acceptor(tls)?;
    let app = router(state);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, client_certificates = tls.client_ca_pem.is_some(), "JSON binding listening (TLS)");
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
