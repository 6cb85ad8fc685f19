//! The ISD-R keys the delivery needs, read from the sealed keysets of the EIS (digest §4.1
//! `Keyset`). The sealed format (the EUM's `EisKeyset` JSON, bound to `keyset/<EID>/<KVN>`) is
//! defined in one place, [`crate::keys`]; this module only turns an opened keyset into the SCP80
//! [`Keyset`] of the channel or the SCP81 PSK of the server.
//!
//! SCP80 key indexes follow the EIS issued by the EUM (`esim_crypto::pki::issue_euicc`): 1 KIc
//! (AES-CBC), 2 KID (AES-CMAC), 3 DEK. The SCP81 keyset holds one PSK whose index is its KID.

use esim_crypto::SecretKey;
use esim_crypto::pki::EisKeyset;
use esim_crypto::scp80::{CcAlgorithm, CipherAlgorithm, Keyset, Kic, Kid};
use esim_store::{KeysetRecord, Sealer};

fn open(sealer: &dyn Sealer, record: &KeysetRecord) -> Result<EisKeyset, String> {
    crate::keys::open_keyset(sealer, &record.eid, record.kvn, &record.keys)
        .map_err(|e| format!("keyset {:02X} of {}: {e}", record.kvn, record.eid))
}

fn key(ks: &EisKeyset, index: u8) -> Option<SecretKey> {
    ks.keys
        .iter()
        .find(|k| k.index == index)
        .map(|k| k.value.0.clone())
}

/// The SCP80 keyset of a stored ISD-R SCP80 keyset record (KIc AES-CBC, KID AES-CMAC, key
/// version = the record's KVN).
pub fn scp80_keyset(sealer: &dyn Sealer, record: &KeysetRecord) -> Result<Keyset, String> {
    let ks = open(sealer, record)?;
    let kic =
        key(&ks, 1).ok_or_else(|| format!("SCP80 keyset {:02X}: no KIc (key 1)", record.kvn))?;
    let kid =
        key(&ks, 2).ok_or_else(|| format!("SCP80 keyset {:02X}: no KID (key 2)", record.kvn))?;
    let kic_byte = Kic::new(record.kvn, CipherAlgorithm::AesCbc).map_err(|e| e.to_string())?;
    let kid_byte = Kid::cc(record.kvn, CcAlgorithm::AesCmac).map_err(|e| e.to_string())?;
    Ok(Keyset::new(kic_byte, kic, kid_byte, kid))
}

/// The KID and PSK of a stored ISD-R SCP81 keyset record.
pub fn scp81_psk(sealer: &dyn Sealer, record: &KeysetRecord) -> Result<(u8, SecretKey), String> {
    let ks = open(sealer, record)?;
    ks.keys
        .first()
        .map(|k| (k.index, k.value.0.clone()))
        .ok_or_else(|| format!("SCP81 keyset {:02X}: no PSK", record.kvn))
}
