//! The SM-DP's side of Master Delete (SGP.02 §3.10, digest §3.5): it keeps, sealed, the static
//! SCP03 Key-MAC of every ISD-P it personalised (the token key, established by ECKA during the
//! download) and answers the SM-SR's `ES3.GetDeleteToken` (INFERRED; docs/spec-choices.md) with
//! the Delete Token of row 41 (`esim_euicc::master_delete::compute_token`).

use esim_codec::{Aid, Iccid};
use esim_crypto::SecretKey;
use esim_proto::HexBytes;
use esim_proto::codes::{reason, subject};
use esim_proto::common::FunctionExecutionStatus;
use esim_proto::es3::{GetDeleteTokenRequest, GetDeleteTokenResponse};
use esim_store::{InventoryState, StoreError};

use crate::service::Inner;

/// P1 / P2 of the Master Delete DELETE (docs/spec-choices.md row 41: `80 E4 00 80`).
const P1: u8 = 0x00;
const P2: u8 = 0x80;

/// The AAD binding a sealed token key to its Profile and ISD-P: `token-key/<ICCID>/<AID hex>`.
/// Opening it for another ISD-P AID fails, so a token is only ever made for the ISD-P the key
/// was established with.
fn aad(iccid: &Iccid, aid: &Aid) -> Vec<u8> {
    format!("token-key/{iccid}/{aid}").into_bytes()
}

/// Seals and stores the token key of the ISD-P `aid` holding `iccid` (before
/// ProfileDownloadCompleted is sent).
pub(crate) async fn save_token_key(
    inner: &Inner,
    iccid: &Iccid,
    aid: &Aid,
    key: &SecretKey,
) -> Result<(), StoreError> {
    let blob = inner.sealer.seal(key.expose(), &aad(iccid, aid))?;
    inner
        .store
        .put_token_key(iccid, &blob, esim_service::now())
        .await
}

fn refused(subject: &str, reason: &str, id: &str, msg: &str) -> FunctionExecutionStatus {
    FunctionExecutionStatus::failed_for(subject, reason, id, msg)
}

/// `ES3.GetDeleteToken`: the token of the DELETE `80 E4 00 80 {4F AID ‖ B6 CRT}` for a Profile
/// this SM-DP installed on that eUICC, with the CRT binding the EID (`45 <EID BCD>`).
/// Refusals: unknown ICCID `8.2.1`/`3.9`; not installed on that eUICC `8.2.1`/`3.10`; another
/// P1/P2 or CRT `1.3.1`/`2.1`; no token key kept `8.8`/`3.7`; an ISD-P AID other than the one
/// the key was established with `8.3.1`/`3.10`.
pub(crate) async fn delete_token(
    inner: &Inner,
    r: &GetDeleteTokenRequest,
) -> Result<GetDeleteTokenResponse, FunctionExecutionStatus> {
    let iccid = r.iccid.as_str();
    let store_err = |e: StoreError| {
        FunctionExecutionStatus::failed(
            subject::SM_DP,
            reason::EXECUTION_ERROR,
            &format!("storage: {e}"),
        )
    };
    let inv = match inner.store.get_inventory(&r.iccid).await {
        Ok(inv) => inv,
        Err(StoreError::NotFound { .. }) => return Err(crate::download::unknown_iccid(&r.iccid)),
        Err(e) => return Err(store_err(e)),
    };
    if inv.eid.as_ref() != Some(&r.eid) || inv.state != InventoryState::Installed {
        return Err(refused(
            subject::ICCID,
            reason::INVALID_ASSOCIATION,
            iccid,
            "the Profile is not installed on this eUICC by this SM-DP",
        ));
    }
    if (r.p1, r.p2) != (P1, P2) {
        return Err(refused(
            subject::REQUEST_FIELD,
            reason::INVALID_FORMAT,
            "P1/P2",
            "only the DELETE 80 E4 00 80 of an ISD-P is signed",
        ));
    }
    let crt = esim_codec::ber::tlv(0x45u8, &r.eid.to_bcd());
    if r.crt.as_bytes() != crt.as_slice() {
        return Err(refused(
            subject::REQUEST_FIELD,
            reason::INVALID_FORMAT,
            "Crt",
            "the CRT must be 45 <EID> of this eUICC",
        ));
    }
    let Some(blob) = inner.store.token_key(&r.iccid).await.map_err(store_err)? else {
        return Err(refused(
            subject::SM_DP,
            reason::UNAVAILABLE,
            iccid,
            "no Delete Token key is kept for this Profile",
        ));
    };
    let key = inner
        .sealer
        .open(&blob, &aad(&r.iccid, &r.isd_p_aid))
        .map_err(|_| {
            refused(
                subject::ISD_P,
                reason::INVALID_ASSOCIATION,
                &r.isd_p_aid.to_string(),
                "not the ISD-P of this Profile",
            )
        })?;
    let key = SecretKey::new(&key);
    let token = esim_euicc::master_delete::compute_token(&key, r.p1, r.p2, &r.isd_p_aid, &crt)
        .ok_or_else(|| {
            refused(
                subject::REQUEST_FIELD,
                reason::INVALID_FORMAT,
                "Isd-p-aid",
                "DELETE data too long",
            )
        })?;
    Ok(GetDeleteTokenResponse {
        delete_token: HexBytes(token.to_vec()),
    })
}
