//! Cryptography of the M2M eSIM stack. Pure: no I/O, no clock (callers pass time and randomness
//! sources in where it matters); every secret lives in a zeroizing container whose `Debug` shows
//! no key material.
//!
//! | module | mechanism | spec |
//! |---|---|---|
//! | [`primitives`] | AES-ECB/CBC, AES-CMAC, (3)DES-CBC, CBC-MAC, SHA-256, secrets | FIPS 197, SP 800-38A/B |

pub mod primitives;

pub use primitives::{CryptoError, SecretKey};
