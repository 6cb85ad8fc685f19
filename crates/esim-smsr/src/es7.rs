//! ES7 at the current SM-SR (SM-SR1) in an SM-SR change (SGP.02 §3.8, digest §3.6): the new
//! SM-SR (SM-SR2) cannot reach the card yet, so SM-SR1 relays its two key-establishment messages
//! to the ISD-R over ES5 — `AuthenticateSMSR` (`3A01` with CERT.SR.ECDSA, answered by the
//! card's random challenge) and `CreateAdditionalKeySet` (`3A02` CRT ‖ ePK.SR.ECKA ‖ signature,
//! answered by `[85 DR] ‖ 86 receipt`). Only the SM-SR named as the target of the running
//! `ES4.SMSRChange` that locks the eUICC may call them. Also the client side: how an SM-SR calls
//! a peer.

use std::time::Duration;

use esim_apdu::gp::store_data::{StoreDataP1, split};
use esim_codec::Eid;
use esim_codec::ber;
use esim_codec::ber::Reader;
use esim_crypto::ec::{self, PublicKey};
use esim_crypto::ecka::{KeyParams, TAG_MESSAGE_1, TAG_MESSAGE_2};
use esim_proto::codes::{reason, subject};
use esim_proto::common::{
    FunctionCallIdentifier, FunctionExecutionStatus, HexBytes, Request, RequestHeader,
};
use esim_proto::es7::{
    AuthenticateSmsrRequest, AuthenticateSmsrResponse, CreateAdditionalKeySetRequest,
    CreateAdditionalKeySetResponse,
};
use esim_proto::function::{AnyRequest, Function};
use esim_store::StoreError;

use crate::delivery::{Es5Outcome, JobTarget};
use crate::ops::{apdus, check, internal, respond};
use crate::service::{Access, Inner, OpState, Run, RunErr};

type R = Result<serde_json::Value, RunErr>;

/// `KeyType` value of an SCP80 keyset in `CreateAdditionalKeySet` (docs/spec-choices.md).
pub const KEY_TYPE_SCP80: &str = "SCP80";
/// `KeyType` value of an SCP81 PSK-TLS keyset.
pub const KEY_TYPE_SCP81: &str = "SCP81";

fn not_allowed(eid: &Eid, msg: &str) -> RunErr {
    respond(FunctionExecutionStatus::failed_for(
        subject::EID,
        reason::NOT_ALLOWED,
        eid.as_str(),
        msg,
    ))
}

/// The relays are for the target SM-SR of the `ES4.SMSRChange` holding the eUICC's lock.
async fn guard(run: &Run, eid: &Eid) -> Result<(), RunErr> {
    let store = &run.inner.store;
    let rec = match store.get_eis(eid).await {
        Ok(r) => r,
        Err(StoreError::NotFound { .. }) => {
            return Err(not_allowed(eid, "EID not managed by this SM-SR"));
        }
        Err(e) => return Err(e.into()),
    };
    let Some(lock) = rec.locked_by else {
        return Err(not_allowed(
            eid,
            "no SM-SR change of this eUICC is in progress",
        ));
    };
    let op = match store.get_operation(&lock).await {
        Ok(op) => op,
        Err(StoreError::NotFound { .. }) => {
            return Err(not_allowed(
                eid,
                "the eUICC is not being handed over to this SM-SR",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let st: OpState = serde_json::from_value(op.state)
        .map_err(|e| internal("the locking operation's state", e))?;
    let target = st
        .request
        .get("Body")
        .and_then(|b| b.get("Target-Smsr-id"))
        .and_then(|t| t.as_str());
    let caller = &run.state.caller.id;
    if st.function != Function::Es4SmsrChange
        || op.status.is_terminal()
        || (run.access() != Access::Admin && target != Some(caller.as_str()))
    {
        return Err(not_allowed(
            eid,
            "the eUICC is not being handed over to this SM-SR",
        ));
    }
    Ok(())
}

/// The data of the last response of a completed ES5 job.
fn last_data(out: Es5Outcome, what: &str) -> Result<Vec<u8>, RunErr> {
    let responses = check(out, what, None)?;
    Ok(responses.last().map(|r| r.data.clone()).unwrap_or_default())
}

/// `ES7.AuthenticateSMSR` at SM-SR1: `3A01 {CERT.SR.ECDSA}` to the ISD-R; the card verifies
/// the certificate against PK.CI.ECDSA (`6982` when it does not) and answers `85 L RC`.
pub(crate) async fn authenticate(run: &mut Run, b: &AuthenticateSmsrRequest) -> R {
    guard(run, &b.eid).await?;
    let cert = b.smsr_certificate.as_bytes();
    if cert.first() != Some(&0x7F) || cert.len() > 1024 {
        return Err(respond(FunctionExecutionStatus::failed(
            subject::REQUEST_FIELD,
            reason::INVALID_FORMAT,
            "SmsrCertificate must be a 7F21 certificate",
        )));
    }
    let payload = ber::tlv(TAG_MESSAGE_1, cert);
    let cmds = split(
        StoreDataP1::sgp02_last_with_response(),
        &payload,
        run.inner.config.max_block,
    )
    .map_err(|e| internal("building 3A01", e))?;
    let out = run
        .es5(&b.eid, "authenticate-smsr", JobTarget::IsdR, apdus(&cmds)?)
        .await?;
    let data = last_data(out, "AuthenticateSMSR")?;
    let rc = ber::parse_one(&data)
        .and_then(|t| t.expect_tag(0x85u8))
        .map(|t| t.value.to_vec())
        .map_err(|e| internal("the card's answer to 3A01", e))?;
    Ok(run.ok(Some(AuthenticateSmsrResponse {
        random_challenge: HexBytes(rc),
    })))
}

/// The CRT SM-SR2 signed, rebuilt from the request's fields: `KeyType` chooses
/// [`KeyParams::isd_r_scp80`] or [`KeyParams::isd_r_scp81_psk`]; the initial counter is five
/// bytes; `HostID` as given; the scenario parameter must match (docs/spec-choices.md).
pub fn key_params(b: &CreateAdditionalKeySetRequest) -> Result<KeyParams, String> {
    let mut p = match b.key_type.as_deref() {
        None | Some(KEY_TYPE_SCP80) => KeyParams::isd_r_scp80(b.key_version_number),
        Some(KEY_TYPE_SCP81) => KeyParams::isd_r_scp81_psk(b.key_version_number),
        Some(other) => return Err(format!("KeyType {other:?} is not SCP80 or SCP81")),
    };
    if !b.ecc_key_length.eq_ignore_ascii_case("ECC-256") {
        return Err(format!(
            "ECCKeyLength {:?}: only ECC-256 is supported",
            b.ecc_key_length
        ));
    }
    let c = b.initial_sequence_counter.to_be_bytes();
    p.initial_counter = vec![0, c[0], c[1], c[2], c[3]];
    p.host_id = b.host_id.as_ref().map(|h| h.as_bytes().to_vec());
    p.include_dr = b.scenario_parameter & esim_crypto::ecka::PARAM_DERIVATION_RANDOM != 0;
    if p.scenario_parameters() != b.scenario_parameter {
        return Err(format!(
            "ScenarioParameter {:02X} is not supported",
            b.scenario_parameter
        ));
    }
    Ok(p)
}

/// Message 2 (`3A02 {A6 CRT} ‖ 7F49 ePK ‖ 5F37 signature`) of a `CreateAdditionalKeySet`.
pub fn message2(b: &CreateAdditionalKeySetRequest) -> Result<Vec<u8>, String> {
    let params = key_params(b)?;
    let epk = PublicKey::from_sec1(b.ephemeral_public_key.as_bytes())
        .map_err(|e| format!("EphemeralPublicKey: {e}"))?;
    if b.signature.as_bytes().len() != ec::SIGNATURE_LEN {
        return Err("Signature must be 64 bytes (r‖s)".into());
    }
    let mut msg = ber::tlv(TAG_MESSAGE_2, &params.to_crt());
    msg.extend_from_slice(&ec::encode_7f49(&epk));
    msg.extend_from_slice(&ber::tlv(0x5F37u16, b.signature.as_bytes()));
    Ok(msg)
}

/// `ES7.CreateAdditionalKeySet` at SM-SR1: message 2 to the ISD-R; the answer is the card's
/// derivation random and receipt, which only SM-SR2 can check.
pub(crate) async fn create_keyset(run: &mut Run, b: &CreateAdditionalKeySetRequest) -> R {
    guard(run, &b.eid).await?;
    let msg = message2(b).map_err(|m| {
        respond(FunctionExecutionStatus::failed(
            subject::REQUEST_FIELD,
            reason::INVALID_FORMAT,
            &m,
        ))
    })?;
    let cmds = split(
        StoreDataP1::sgp02_last_with_response(),
        &msg,
        run.inner.config.max_block,
    )
    .map_err(|e| internal("building 3A02", e))?;
    let out = run
        .es5(&b.eid, "create-keyset", JobTarget::IsdR, apdus(&cmds)?)
        .await?;
    let data = last_data(out, "CreateAdditionalKeySet")?;
    let parsed = (|| {
        let mut r = Reader::new(&data);
        let dr = r.read_optional(0x85u8)?.map(|t| t.value.to_vec());
        let receipt = r.read_tag(0x86u8)?.value.to_vec();
        r.finish()?;
        Ok::<_, esim_codec::DecodeError>((dr, receipt))
    })();
    let (dr, receipt) = parsed.map_err(|e| internal("the card's answer to 3A02", e))?;
    Ok(run.ok(Some(CreateAdditionalKeySetResponse {
        derivation_random: dr.map(HexBytes),
        receipt: HexBytes(receipt),
    })))
}

/// Why a peer call produced no usable answer.
#[derive(Debug)]
pub(crate) enum PeerErr {
    /// The peer answered with this status (failed or expired).
    Status(FunctionExecutionStatus),
    /// No SGP.02 answer (transport, time-out, a server error): the peer may have run it.
    Transport(String),
    /// Refused before it ran: no ES7 link configured here, or the peer's binding refused the
    /// call (HTTP 400, 401, 403, 404, 413: bad request, authentication, role, not served,
    /// size). A repeat would be refused the same way.
    Refused(String),
}

/// Calls `request` at the peer SM-SR `peer` (a [`esim_service::FunctionClient`] registered
/// with [`crate::Smsr::set_peer_smsrs`]) and returns its executed answer (status, body).
pub(crate) async fn call_peer(
    inner: &Inner,
    peer: &str,
    request: AnyRequest,
    limit: Duration,
) -> Result<(FunctionExecutionStatus, serde_json::Value), PeerErr> {
    let client = inner
        .peers
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(peer)
        .cloned()
        .ok_or_else(|| PeerErr::Refused(format!("no ES7 link to the SM-SR {peer:?}")))?;
    let name = request.function().name();
    let json = client.call(&request, limit).await.map_err(|e| match e {
        // 409 (the call identifier used with another body) is not here: the first call may
        // have run.
        esim_service::ClientError::Refused {
            status: 400 | 401 | 403 | 404 | 413,
            ..
        } => PeerErr::Refused(format!("ES7.{name}: {e}")),
        e => PeerErr::Transport(format!("ES7.{name}: {e}")),
    })?;
    let status = esim_service::status_of(&json)
        .ok_or_else(|| PeerErr::Transport(format!("ES7.{name}: no FunctionExecutionStatus")))?;
    if !status.is_executed() {
        return Err(PeerErr::Status(status));
    }
    Ok((
        status,
        json.get("Body").cloned().unwrap_or(serde_json::Value::Null),
    ))
}

/// A request header from this SM-SR with `call_id`.
pub(crate) fn header(inner: &Inner, call_id: &str) -> Result<RequestHeader, RunErr> {
    Ok(RequestHeader {
        function_requester_identifier: inner.config.smsr_id.clone(),
        function_call_identifier: FunctionCallIdentifier::new(call_id)
            .map_err(|e| internal("call identifier", e))?,
        validity_period: None,
        message_id: None,
        relates_to: None,
    })
}

/// `Request { header, body }`.
pub(crate) fn request<B>(inner: &Inner, call_id: &str, body: B) -> Result<Request<B>, RunErr> {
    Ok(Request {
        header: header(inner, call_id)?,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use esim_crypto::ecka::{Message2, OffCardAwaitingChallenge};
    use proptest::prelude::*;

    fn request_from(
        msg2: &[u8],
        params: &KeyParams,
        key_type: &str,
    ) -> CreateAdditionalKeySetRequest {
        let m = Message2::parse(msg2).unwrap();
        let c = &params.initial_counter;
        CreateAdditionalKeySetRequest {
            eid: esim_crypto::pki::eid_from_prefix("8904903200", 1).unwrap(),
            key_version_number: params.kvn,
            initial_sequence_counter: c.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)),
            ecc_key_length: "ECC-256".into(),
            scenario_parameter: params.scenario_parameters(),
            host_id: params.host_id.clone().map(HexBytes),
            ephemeral_public_key: HexBytes(m.ephemeral_key.to_sec1().to_vec()),
            signature: HexBytes(m.signature.to_vec()),
            key_type: Some(key_type.into()),
        }
    }

    /// What SM-SR1 rebuilds from the ES7 fields is, byte for byte, the message SM-SR2 signed.
    #[test]
    fn sm_sr1_rebuilds_the_signed_message_2() {
        let signer = esim_crypto::ec::KeyPair::generate().unwrap();
        let ecasd = esim_crypto::ec::KeyPair::generate().unwrap();
        for (params, kt) in [
            (KeyParams::isd_r_scp80(0x02), KEY_TYPE_SCP80),
            (KeyParams::isd_r_scp81_psk(0x41), KEY_TYPE_SCP81),
        ] {
            let st = OffCardAwaitingChallenge::new(
                signer.clone(),
                ecasd.public_key().clone(),
                params.clone(),
            )
            .unwrap();
            let (_, msg2) = st.handle(&ber::tlv(0x85u8, &[7u8; 16])).unwrap();
            let req = request_from(&msg2, &params, kt);
            assert_eq!(message2(&req).unwrap(), msg2);
            // Another key type or KVN gives another CRT: the card's signature check would fail.
            let mut other = req.clone();
            other.key_type = Some(
                if kt == KEY_TYPE_SCP80 {
                    KEY_TYPE_SCP81
                } else {
                    KEY_TYPE_SCP80
                }
                .into(),
            );
            assert_ne!(message2(&other).unwrap(), msg2);
            let mut other = req.clone();
            other.key_version_number ^= 1;
            assert_ne!(message2(&other).unwrap(), msg2);
        }
    }

    #[test]
    fn bad_fields_are_refused() {
        let signer = esim_crypto::ec::KeyPair::generate().unwrap();
        let ecasd = esim_crypto::ec::KeyPair::generate().unwrap();
        let params = KeyParams::isd_r_scp80(0x02);
        let st = OffCardAwaitingChallenge::new(signer, ecasd.public_key().clone(), params.clone())
            .unwrap();
        let (_, msg2) = st.handle(&ber::tlv(0x85u8, &[7u8; 16])).unwrap();
        let req = request_from(&msg2, &params, KEY_TYPE_SCP80);
        let mut r = req.clone();
        r.key_type = Some("SCP03".into());
        assert!(message2(&r).is_err());
        let mut r = req.clone();
        r.ecc_key_length = "ECC-384".into();
        assert!(message2(&r).is_err());
        let mut r = req.clone();
        r.scenario_parameter = 0x0B;
        assert!(message2(&r).is_err());
        let mut r = req.clone();
        r.signature = HexBytes(vec![0; 63]);
        assert!(message2(&r).is_err());
        let mut r = req;
        r.ephemeral_public_key = HexBytes(vec![0x04; 65]);
        assert!(message2(&r).is_err());
    }

    proptest! {
        #[test]
        fn message2_never_panics(
            kvn in any::<u8>(),
            counter in any::<u32>(),
            scenario in any::<u8>(),
            host in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
            epk in proptest::collection::vec(any::<u8>(), 0..80),
            sig in proptest::collection::vec(any::<u8>(), 0..80),
            kt in proptest::option::of("[A-Z0-9]{0,6}"),
        ) {
            let r = CreateAdditionalKeySetRequest {
                eid: esim_crypto::pki::eid_from_prefix("8904903200", 1).unwrap(),
                key_version_number: kvn,
                initial_sequence_counter: counter,
                ecc_key_length: "ECC-256".into(),
                scenario_parameter: scenario,
                host_id: host.map(HexBytes),
                ephemeral_public_key: HexBytes(epk),
                signature: HexBytes(sig),
                key_type: kt,
            };
            let _ = message2(&r);
        }
    }
}
