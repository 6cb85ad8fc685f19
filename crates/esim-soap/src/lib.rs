//! The standard SOAP 1.2 + WS-Addressing binding of the SGP.02 off-card functions (DESIGN
//! §3.4; digest §2.1, SGP.02 Annex B): the twin of the JSON binding (`esim-http`) over the same
//! [`esim_service::FunctionService`] — one function, two encodings.

pub mod callbacks;
pub mod client;
pub mod codec;
pub mod envelope;
pub mod schema;
pub mod server;
pub mod wsdl;
pub mod xml;

pub use callbacks::{SoapCallbacks, SoapEndpoint};
pub use client::SoapFunctionClient;
pub use server::{ReplyToPolicy, SoapConfig, SoapState, router, routes, run, serve};
