//! SGP.02 protocol core: the message types of the off-card interfaces
//! (ES1, ES2, ES3, ES4, ES7), the eUICC Information Set (EIS) and the POL2
//! policy rules. Pure data and pure functions: no I/O, no clock
//! (digest §2, §3, §4.1, §4.3).
//!
//! Every message (de)serializes with serde using the SGP.02 PascalCase
//! field names, so that the later SOAP/JSON bindings share one model.
