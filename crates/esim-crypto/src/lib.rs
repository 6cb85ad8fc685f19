//! Cryptography of the M2M eSIM stack. Pure: no I/O, no clock (callers pass time and randomness
//! sources in where it matters); every secret lives in a zeroizing container whose `Debug` shows
//! no key material.
//!
//! | module | mechanism | spec |
//! |---|---|---|
//! | [`primitives`] | AES-ECB/CBC, AES-CMAC, (3)DES-CBC, CBC-MAC, SHA-256, secrets | FIPS 197, SP 800-38A/B |
//! | [`scp80`] | secured packets and PoR over SMS | ETSI TS 102 225, 3GPP TS 31.115 |
//! | [`scp02`] | SCP02 (3DES) sessions | GP Card Spec Annex E |
//! | [`scp03`] | SCP03 KDF, cryptograms, C-/R-MAC, C-/R-ENC | GP Amendment D |
//! | [`scp03t`] | SCP03t TLV commands 84/85/86/87 | SGP.02 §4.1.3.3, GP Amd D |
//! | [`ec`] | P-256 ECDSA (raw r‖s) and key handling | FIPS 186-4, BSI TR-03111 |
//! | [`cert`] | GP-format certificates (`7F21`) | GP Amd E, SGP.02 §4.1.3 |
//! | [`ecka`] | ECKA key establishment scenario #3 | GP Amd A/E, SGP.02 §3.1.2 |
//! | [`x509`] | CI and EUM X.509 certificates | SGP.14 |
//! | [`pki`] | test PKI and eUICC credential issuance (data only; files are the CLI's job) | — |

pub mod cert;
pub mod ec;
pub mod ecka;
pub mod pki;
pub mod primitives;
pub mod scp02;
pub mod scp03;
pub mod scp03t;
pub mod scp80;
pub mod x509;

pub use primitives::{CryptoError, SecretKey};
