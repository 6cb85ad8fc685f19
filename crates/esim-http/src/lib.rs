//! The JSON-over-HTTP binding of the SGP.02 off-card functions (DESIGN §3.4, §4 adapters;
//! digest §2.1 for the message shapes, docs/spec-choices.md rows 57 and 64).
//!
//! - [`router`] / [`run`] / [`serve`] / [`serve_tls`]: the server (plain HTTP, or HTTPS with an
//!   optional client-certificate requirement). `POST /api/v1/{interface}/{function}` runs one SGP.02
//!   function (e.g. `/api/v1/ES3/CreateISDP`) on the [`FunctionService`] that serves it;
//!   `GET /api/v1/operations/{id}` follows a long one; `GET /openapi.json`, `GET /metrics`,
//!   `GET /health`; [`serve_tls_router`] serves any router (both bindings) over TLS, and a
//!   verified client certificate must name the caller its token authenticates
//!   ([`check_client_identity`]); `POST /api/v1/callbacks` receives results of long functions for a
//!   [`CallbackSink`]. Callers authenticate with `Authorization: Bearer <token>`
//!   (operators' token hashes in the [`esim_store::OperatorStore`]); every function call,
//!   refused or not, is written to the audit trail.
//! - [`HttpFunctionClient`]: a [`esim_service::FunctionClient`] speaking this binding.
//! - [`HttpCallbacks`]: [`esim_service::Callbacks`] delivering results and notifications to
//!   parties over this binding, with retries.
//!
//! The URL scheme and the status mapping are in the crate's README.
//!
//! [`FunctionService`]: esim_service::FunctionService

mod callbacks;
mod client;
mod metrics;
mod names;
mod openapi;
mod server;
mod tls;
mod tls_issue;
mod tls_server;

pub use callbacks::{CallbackStats, Endpoint, HttpCallbacks, RetryPolicy};
pub use client::HttpFunctionClient;
pub use names::{function_from_path, function_from_qualified, qualified_name};
pub use openapi::openapi_document;
pub use server::{
    CallbackResult, CallbackSink, ErrorBody, HttpConfig, HttpState, PendingBody, router, run, serve,
};
pub use tls::TlsOptions;
pub use tls_issue::{TlsCertificateSpec, TlsIssueError, issue_tls_certificate};
pub use tls_server::{
    PeerIdentity, ServerTls, TlsConnection, check_client_identity, serve_tls, serve_tls_router,
};
