//! SCP81: GlobalPlatform Card Specification v2.3 Amendment B "Remote Application Management over
//! HTTP" as SGP.02 uses it on ES5 over HTTPS (digest §5.3, sgp02-gaps §7): PSK-TLS 1.2 transport
//! and the HTTP administration-session protocol.
//!
//! - [`admin`] — sans-I/O: the `X-Admin-*` HTTP messages, the SGP.02 §2.4.4.1 PSK identity,
//!   the administration session trigger TLV and the session typestates of both ends;
//! - [`client`] (feature `net`, default) — the card/device side: one PSK-TLS 1.2 connection,
//!   `POST`s with chunked bodies until the server ends the session
//!   ([`client::run_admin_session`]);
//! - [`server`] (feature `net`) — the SM-SR side: PSK-TLS 1.2 with identities checked during
//!   the handshake, HTTP/1.1 served by hand with hyper, administration decisions taken by an
//!   [`server::AdminHandler`] ([`server::run`]).
//!
//! # PSK-TLS profile (digest §5.3)
//!
//! TLS 1.2 only; `TLS_PSK_WITH_AES_128_GCM_SHA256` (OpenSSL `PSK-AES128-GCM-SHA256`) and
//! `TLS_PSK_WITH_AES_128_CBC_SHA256` (`PSK-AES128-CBC-SHA256`); no certificates; no session
//! resumption (no tickets, no session cache) on either side. The identity is the hex text of
//! [`admin::PskIdentity`].
//!
//! # Citations
//!
//! GP Amd B clause numbers for the trigger (Table 3-3, §3.8.x, §3.11) follow pySim's
//! `global_platform/http.py`; the clause numbers given for the HTTP exchange (§3.3 request,
//! §3.4 response, §3.5 session) are our reading and are not verified against the
//! GlobalPlatform text. Choices where the public record is silent are rows 35–39 of
//! `docs/spec-choices.md`.
#![forbid(unsafe_code)]

pub mod admin;
#[cfg(feature = "net")]
pub mod client;
#[cfg(feature = "net")]
pub mod server;
#[cfg(feature = "net")]
mod tls;
#[cfg(feature = "net")]
mod wire;

#[cfg(feature = "net")]
pub use tls::CipherSuite;
