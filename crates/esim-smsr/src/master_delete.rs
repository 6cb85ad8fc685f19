//! Master Delete (SGP.02 §3.10, digest §3.5): the SM-SR obtains a one-time Delete Token for the
//! Profile's ISD-P from the SM-DP and sends a DELETE carrying it; the ISD-P verifies the token
//! and the ISD-R deletes the Profile regardless of POL1 and POL2 (never the Fall-back Profile).
//!
//! SGP.02's ES3 function for the token request is not public, so the SM-DP side is a trait
//! ([`DeleteTokenSource`]) the deployment wires to its SM-DP; without one, ES4.MasterDelete
//! answers `Failed` `8.8`/`3.7`. The token format is the GlobalPlatform delete token over
//! `P1 ‖ P2 ‖ L ‖ 4F AID ‖ B6 CRT` (`esim_euicc::master_delete`, docs/spec-choices.md); the
//! CRT the SM-SR asks to be signed is `B6 { 45 <EID, 16 bytes BCD> }`, binding the token to the
//! eUICC.

use async_trait::async_trait;
use esim_codec::{Aid, Eid, Iccid};

/// What the SM-DP signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTokenRequest {
    /// The SM-DP that installed the Profile (holder of the ISD-P's keys).
    pub smdp_id: String,
    /// The eUICC.
    pub eid: Eid,
    /// The Profile.
    pub iccid: Iccid,
    /// Its ISD-P.
    pub isdp_aid: Aid,
    /// P1 of the DELETE.
    pub p1: u8,
    /// P2 of the DELETE.
    pub p2: u8,
    /// Value of the `B6` control reference template.
    pub crt: Vec<u8>,
}

/// The SM-DP's side of Master Delete: issues Delete Tokens.
#[async_trait]
pub trait DeleteTokenSource: Send + Sync + std::fmt::Debug {
    /// The token (value of `9E`) for `request`, or why it is refused (never key material).
    async fn delete_token(&self, request: &DeleteTokenRequest) -> Result<Vec<u8>, String>;
}

/// The `B6` value the SM-SR asks to be signed for `eid`.
pub fn token_crt(eid: &Eid) -> Vec<u8> {
    esim_codec::ber::tlv(0x45u8, &eid.to_bcd())
}
