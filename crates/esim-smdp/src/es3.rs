//! ES3 (SM-DP → SM-SR, digest §2.4) as the SM-DP uses it: building requests with the SM-DP's
//! header, reading the SM-SR's responses, and the byte framing of `SendData` /
//! `EuiccResponseData` (docs/spec-choices.md, SM-DP ES3 framing row).

use esim_apdu::apdu::{CommandApdu, ResponseApdu};
use esim_apdu::etsi102226::{CommandScript, ResponseScript};
use esim_proto::codes::{reason, subject};
use esim_proto::common::{FunctionExecutionStatus, Request, RequestHeader};
use esim_proto::{FunctionCallIdentifier, ValidityPeriod};
use serde::de::DeserializeOwned;

/// A request header of the SM-DP with a derived call identifier.
pub(crate) fn header(
    smdp_id: &str,
    call_id: &str,
    validity: ValidityPeriod,
) -> Result<RequestHeader, String> {
    Ok(RequestHeader {
        function_requester_identifier: smdp_id.to_owned(),
        function_call_identifier: FunctionCallIdentifier::new(call_id)
            .map_err(|e| e.to_string())?,
        validity_period: Some(validity),
        message_id: None,
        relates_to: None,
    })
}

/// A request of body `B` with `header`.
pub(crate) fn request<B>(header: RequestHeader, body: B) -> Request<B> {
    Request { header, body }
}

/// What an ES3 response said.
#[derive(Debug)]
pub(crate) enum Answer<B> {
    /// Executed (success or warning), with the body if it had one.
    Executed(FunctionExecutionStatus, Option<B>),
    /// Failed or expired: the SM-SR's status.
    NotExecuted(FunctionExecutionStatus),
}

/// Reads an SGP.02 response JSON.
pub(crate) fn answer<B: DeserializeOwned>(json: &serde_json::Value) -> Answer<B> {
    let Some(status) = esim_service::status_of(json) else {
        return Answer::NotExecuted(FunctionExecutionStatus::failed(
            subject::SM_SR,
            reason::INVALID_FORMAT,
            "the SM-SR's response has no FunctionExecutionStatus",
        ));
    };
    if !status.is_executed() {
        return Answer::NotExecuted(status);
    }
    let body = json
        .get("Body")
        .and_then(|b| serde_json::from_value::<B>(b.clone()).ok());
    Answer::Executed(status, body)
}

/// A failure status for an SM-SR that could not be reached or answered badly.
pub(crate) fn smsr_failure(what: &str, detail: &str) -> FunctionExecutionStatus {
    FunctionExecutionStatus::failed(
        subject::SM_SR,
        reason::INACCESSIBLE,
        &format!("{what}: {detail}"),
    )
}

/// `SendData.Data` for the ISD-R: the C-APDUs as an expanded remote command script
/// (ETSI TS 102 226 §5.2, definite form).
pub(crate) fn isd_r_script(cmds: &[CommandApdu]) -> Result<Vec<u8>, String> {
    CommandScript::of_apdus(cmds.iter().cloned())
        .encode()
        .map_err(|e| e.to_string())
}

/// The R-APDUs of an ISD-R `EuiccResponseData` (an expanded response script).
pub(crate) fn isd_r_responses(data: &[u8]) -> Result<Vec<ResponseApdu>, String> {
    let script = ResponseScript::decode(data).map_err(|e| format!("response script: {e}"))?;
    Ok(script.responses().cloned().collect())
}

/// The card's answer to the INSTALL [for install] in a CreateISDP `EuiccResponseData`: a
/// response script (its last R-APDU) or a bare R-APDU (data ‖ SW). Absent data on an executed
/// CreateISDP means `9000`.
pub(crate) fn install_response(data: Option<&[u8]>) -> Result<ResponseApdu, String> {
    let Some(data) = data.filter(|d| !d.is_empty()) else {
        return Ok(ResponseApdu::new(Vec::new(), 0x9000u16));
    };
    if matches!(data.first(), Some(0xAB | 0xAF)) {
        return isd_r_responses(data)?
            .pop()
            .ok_or_else(|| "empty response script".to_owned());
    }
    ResponseApdu::decode(data).map_err(|e| format!("R-APDU: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use esim_apdu::etsi102226::ScriptForm;

    #[test]
    fn install_response_forms() {
        assert!(install_response(None).unwrap().is_success());
        let script = ResponseScript::of_responses(
            ScriptForm::Definite,
            [ResponseApdu::new(vec![0x00], 0x6A84u16)],
        )
        .encode();
        assert_eq!(install_response(Some(&script)).unwrap().sw.to_u16(), 0x6A84);
        assert_eq!(
            install_response(Some(&[0x00, 0x90, 0x00])).unwrap().data,
            vec![0x00]
        );
        assert!(install_response(Some(&[0xAB, 0x05])).is_err());
    }

    proptest::proptest! {
        /// `EuiccResponseData` comes from the SM-SR (and the card): never a panic.
        #[test]
        fn euicc_response_data_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = install_response(Some(&bytes));
            let _ = isd_r_responses(&bytes);
            let mut script = vec![0xAB, bytes.len().min(0x7F) as u8];
            script.extend(bytes.iter().take(0x7F));
            let _ = install_response(Some(&script));
        }
    }

    #[test]
    fn answer_reads_status_and_body() {
        let ok = esim_service::response(
            esim_store::Timestamp(0),
            esim_store::Timestamp(1),
            FunctionExecutionStatus::success(),
            Some(serde_json::json!({"EuiccResponseData": "9000"})),
        );
        let a: Answer<esim_proto::es3::SendDataResponse> = answer(&ok);
        assert!(matches!(a, Answer::Executed(_, Some(_))));
        let a: Answer<esim_proto::es3::SendDataResponse> = answer(&serde_json::json!({}));
        assert!(matches!(a, Answer::NotExecuted(_)));
    }
}
