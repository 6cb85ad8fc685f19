//! Master Delete (SGP.02 §3.10, digest §3.5): the SM-SR obtains a one-time Delete Token for the
//! Profile's ISD-P from the SM-DP and sends a DELETE carrying it; the ISD-P verifies the token
//! and the ISD-R deletes the Profile regardless of POL1 and POL2 (never the Fall-back Profile).
//!
//! SGP.02's ES3 function for the token request is not public, so the SM-DP side is a trait
//! ([`DeleteTokenSource`]) the deployment wires to its SM-DPs — [`Es3DeleteTokens`] asks them
//! with the INFERRED `ES3.GetDeleteToken`; without a source, ES4.MasterDelete answers `Failed`
//! `8.8`/`3.7`. The token format is the GlobalPlatform delete token over
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

/// The [`DeleteTokenSource`] over ES3: `ES3.GetDeleteToken` (SM-SR → SM-DP, INFERRED —
/// docs/spec-choices.md) sent to the Profile's SM-DP through its
/// [`esim_service::FunctionClient`], chosen by the Profile's `Smdp-id`.
#[derive(Debug, Clone)]
pub struct Es3DeleteTokens {
    smsr_id: String,
    smdps: std::collections::HashMap<String, std::sync::Arc<dyn esim_service::FunctionClient>>,
    timeout: std::time::Duration,
}

impl Es3DeleteTokens {
    /// Asks the SM-DPs in `smdps` (by `Smdp-id`) as the SM-SR `smsr_id` (the
    /// `FunctionRequesterIdentifier`); each call may take up to `timeout`.
    pub fn new(
        smsr_id: &str,
        smdps: std::collections::HashMap<String, std::sync::Arc<dyn esim_service::FunctionClient>>,
        timeout: std::time::Duration,
    ) -> Self {
        Es3DeleteTokens {
            smsr_id: smsr_id.to_owned(),
            smdps,
            timeout,
        }
    }
}

#[async_trait]
impl DeleteTokenSource for Es3DeleteTokens {
    async fn delete_token(&self, request: &DeleteTokenRequest) -> Result<Vec<u8>, String> {
        use esim_proto::common::{Request, RequestHeader};
        use esim_proto::function::AnyRequest;
        let client = self
            .smdps
            .get(&request.smdp_id)
            .ok_or_else(|| format!("no ES3 link to the SM-DP {:?}", request.smdp_id))?;
        let suffix = esim_store::OperationId::random().map_err(|e| e.to_string())?;
        let call_id = esim_proto::FunctionCallIdentifier::new(&format!("delete-token-{suffix}"))
            .map_err(|e| e.to_string())?;
        let req = AnyRequest::Es3GetDeleteToken(Request {
            header: RequestHeader {
                function_requester_identifier: self.smsr_id.clone(),
                function_call_identifier: call_id,
                validity_period: None,
                message_id: None,
                relates_to: None,
            },
            body: esim_proto::es3::GetDeleteTokenRequest {
                eid: request.eid.clone(),
                iccid: request.iccid.clone(),
                isd_p_aid: request.isdp_aid.clone(),
                p1: request.p1,
                p2: request.p2,
                crt: esim_proto::HexBytes(request.crt.clone()),
            },
        });
        let json = client
            .call(&req, self.timeout)
            .await
            .map_err(|e| format!("ES3.GetDeleteToken: {e}"))?;
        let status = esim_service::status_of(&json)
            .ok_or_else(|| "ES3.GetDeleteToken: no FunctionExecutionStatus".to_owned())?;
        if !status.is_executed() {
            let detail = status
                .status_code_data
                .map(|d| {
                    format!(
                        "{}/{} {}",
                        d.subject_code,
                        d.reason_code,
                        d.message.unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            return Err(format!("ES3.GetDeleteToken refused: {detail}"));
        }
        let body: esim_proto::es3::GetDeleteTokenResponse = json
            .get("Body")
            .cloned()
            .and_then(|b| serde_json::from_value(b).ok())
            .ok_or_else(|| "ES3.GetDeleteToken: no DeleteToken in the answer".to_owned())?;
        let token = body.delete_token.0;
        if token.is_empty() || token.len() > 64 {
            return Err(format!(
                "ES3.GetDeleteToken: a token of {} bytes",
                token.len()
            ));
        }
        Ok(token)
    }
}
