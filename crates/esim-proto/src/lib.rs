//! SGP.02 protocol core: the message types of the off-card interfaces
//! (ES1, ES2, ES3, ES4, ES7), the eUICC Information Set (EIS) and the POL2
//! policy rules. Pure data and pure functions: no I/O, no clock
//! (digest §2, §3, §4.1, §4.3).
//!
//! Every message (de)serializes with serde using the SGP.02 PascalCase
//! field names, so that the later SOAP/JSON bindings share one model.
pub mod es5;

pub mod codes;
pub mod common;
pub mod eis;
pub mod es1;
pub mod es2;
pub mod es3;
pub mod es4;
pub mod es7;
pub mod function;
pub mod pol2;
pub mod smdp;

pub use common::{
    FunctionCallIdentifier, FunctionExecutionStatus, HexBytes, ProtoError, Request, RequestHeader,
    Response, ResponseHeader, Status, StatusCodeData, Timestamp, ValidityPeriod,
};
pub use function::{AnyRequest, Function, Interface, decode_request};
