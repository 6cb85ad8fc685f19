//! Sealed ISD-R keysets (digest §4.1 `Keyset`): the plaintext of a [`KeysetRecord`]'s `keys` is
//! the serde JSON of the EIS keyset as the EUM delivered it ([`EisKeyset`], key values
//! included), sealed with the additional data `keyset/<EID>/<KVN as two hex digits>` so a blob
//! cannot be moved to another eUICC or keyset (docs/spec-choices.md).

use esim_codec::Eid;
use esim_crypto::pki::EisKeyset;
use esim_store::{SealedBlob, Sealer, StoreError};

/// The additional authenticated data of keyset `kvn` of `eid`.
pub fn keyset_aad(eid: &Eid, kvn: u8) -> Vec<u8> {
    format!("keyset/{}/{kvn:02X}", eid.as_str()).into_bytes()
}

/// Seals an ISD-R keyset of `eid` for a [`esim_store::KeysetRecord`].
pub fn seal_keyset(
    sealer: &dyn Sealer,
    eid: &Eid,
    keyset: &EisKeyset,
) -> Result<SealedBlob, StoreError> {
    let json = zeroize::Zeroizing::new(
        serde_json::to_vec(keyset).map_err(|e| StoreError::Seal(format!("keyset: {e}")))?,
    );
    sealer.seal(&json, &keyset_aad(eid, keyset.version))
}

/// Opens keyset `kvn` of `eid` sealed by [`seal_keyset`].
pub fn open_keyset(
    sealer: &dyn Sealer,
    eid: &Eid,
    kvn: u8,
    blob: &SealedBlob,
) -> Result<EisKeyset, StoreError> {
    let plain = sealer.open(blob, &keyset_aad(eid, kvn))?;
    serde_json::from_slice(&plain)
        .map_err(|_| StoreError::Corrupt(format!("sealed keyset {kvn:02X} of {}", eid.as_str())))
}

/// The additional authenticated data of the sealed signed EIS of `eid`.
pub fn eis_aad(eid: &Eid) -> Vec<u8> {
    format!("eis/{}", eid.as_str()).into_bytes()
}
