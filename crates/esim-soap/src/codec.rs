//! Whole messages: SGP.02 requests and responses as SOAP 1.2 envelopes and back (digest §2.1).
//! Requests decoded here are validated by `esim_proto::function::decode_request`, the same
//! decoder as the JSON binding's.

use std::sync::OnceLock;

use esim_proto::function::{AnyRequest, Function, decode_request};
use serde_json::Value;

use crate::envelope::{Addressing, Envelope, Fault, build_envelope, parse_envelope, read_fault};
use crate::schema::{
    GSMA_NS, Schemas, function_of_request_element, function_of_response_element, request_element,
    response_action, response_element,
};
use crate::xml::Writer;

/// Largest message accepted, in bytes (1 MiB, as `decode_request`).
pub const MAX_MESSAGE: usize = 1 << 20;

/// The schemas of all functions, generated once.
pub fn schemas() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(Schemas::new)
}

/// The function an action URI names (the `action` parameter of the Content-Type or
/// `wsa:Action`); surrounding quotes and blanks are ignored.
pub fn function_of_action(action: &str) -> Result<Function, Fault> {
    let a = action.trim().trim_matches('"');
    Function::from_action(a).map_err(|_| {
        Fault::sender(
            "UnknownAction",
            format!(
                "unknown action {:?}",
                a.chars().take(200).collect::<String>()
            ),
        )
    })
}

/// A request envelope of `request` (body `{Interface}-{Function}Request` in the GSMA namespace);
/// `addressing.action` is set to the function's Action when empty.
pub fn encode_request(request: &AnyRequest, addressing: &Addressing) -> Result<String, Fault> {
    let f = request.function();
    let json: Value = request
        .to_json()
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| Fault::receiver("Internal", "request did not encode"))?;
    let mut w = Writer::default();
    let sc = schemas();
    let body = sc
        .body(f)
        .map(|(rq, _)| rq.clone())
        .unwrap_or(Value::Bool(true));
    sc.message_to_xml(
        &mut w,
        &request_element(f),
        &json,
        sc.request_header(),
        &body,
    );
    let mut a = addressing.clone();
    if a.action.is_none() {
        a.action = Some(f.action().to_owned());
    }
    Ok(build_envelope(&a, &w.finish()))
}

/// A response envelope of `function` carrying the SGP.02 response JSON `{"Header", "Body"?}`,
/// with Action [`response_action`] and RelatesTo the request's MessageID.
pub fn encode_response(function: Function, response: &Value, relates_to: Option<&str>) -> String {
    let mut w = Writer::default();
    let sc = schemas();
    let body = sc
        .body(function)
        .map(|(_, rs)| rs.clone())
        .unwrap_or(Value::Bool(true));
    sc.message_to_xml(
        &mut w,
        &response_element(function),
        response,
        sc.response_header(),
        &body,
    );
    let a = Addressing {
        action: Some(response_action(function)),
        message_id: Some(new_message_id()),
        relates_to: relates_to.map(str::to_owned),
        ..Addressing::default()
    };
    build_envelope(&a, &w.finish())
}

/// A fault envelope; `function` selects the GSMA fault Action
/// (`http://namespaces.gsma.org/esim-messaging/1/ES2/DownloadProfile/Fault/Exception`).
pub fn encode_fault(fault: &Fault, function: Option<Function>, relates_to: Option<&str>) -> String {
    let action = match function {
        Some(f) => format!(
            "{GSMA_NS}/{}/{}/Fault/Exception",
            crate::schema::interface_name(f.interface()),
            f.name()
        ),
        None => crate::envelope::WSA_FAULT_ACTION.to_owned(),
    };
    let a = Addressing {
        action: Some(action),
        message_id: Some(new_message_id()),
        relates_to: relates_to.map(str::to_owned),
        ..Addressing::default()
    };
    build_envelope(&a, &crate::envelope::fault_body(fault))
}

/// A fresh `urn:uuid:` message identifier (random, version 4 layout).
pub fn new_message_id() -> String {
    let mut b = [0u8; 16];
    if getrandom_fill(&mut b).is_err() {
        // Unique enough without randomness: time and a counter.
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let t = esim_service::now().0 as u64;
        b[..8].copy_from_slice(&t.to_be_bytes());
        b[8..].copy_from_slice(&N.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        h.get(0..8).unwrap_or_default(),
        h.get(8..12).unwrap_or_default(),
        h.get(12..16).unwrap_or_default(),
        h.get(16..20).unwrap_or_default(),
        h.get(20..32).unwrap_or_default()
    )
}

fn getrandom_fill(b: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::fill(b)
}

/// A decoded request envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRequest {
    /// WS-Addressing headers.
    pub addressing: Addressing,
    /// The function.
    pub function: Function,
    /// The SGP.02 JSON of the request (as given, before validation).
    pub json: Value,
    /// The validated request.
    pub request: AnyRequest,
}

/// A request that could not be decoded: the fault, and what was learnt before it (for the
/// fault's Action and RelatesTo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFault {
    /// The fault.
    pub fault: Fault,
    /// The function, when it was identified.
    pub function: Option<Function>,
    /// The addressing headers, when the envelope was read.
    pub addressing: Option<Addressing>,
}

/// Decodes a request envelope. `http_action` is the `action` parameter of the Content-Type, if
/// any. The function is named by the action (Content-Type or `wsa:Action`; they must agree
/// with each other and with the body element) or, without any, by the body element. Faults
/// name the element or position.
pub fn decode_request_envelope(
    input: &[u8],
    http_action: Option<&str>,
) -> Result<DecodedRequest, Box<RequestFault>> {
    let no_fn = |fault: Fault| {
        Box::new(RequestFault {
            fault,
            function: None,
            addressing: None,
        })
    };
    if input.len() > MAX_MESSAGE {
        return Err(no_fn(Fault::sender(
            "PayloadTooLarge",
            format!("message of {} bytes exceeds {MAX_MESSAGE}", input.len()),
        )));
    }
    let Envelope { addressing, body } = parse_envelope(input).map_err(no_fn)?;
    let with = |fault: Fault, function: Option<Function>| {
        Box::new(RequestFault {
            fault,
            function,
            addressing: Some(addressing.clone()),
        })
    };
    let by_http = http_action
        .filter(|a| !a.trim().is_empty())
        .map(function_of_action)
        .transpose()
        .map_err(|f| with(f, None))?;
    let by_wsa = addressing
        .action
        .as_deref()
        .map(function_of_action)
        .transpose()
        .map_err(|f| with(f, None))?;
    if let (Some(a), Some(b)) = (by_http, by_wsa)
        && a != b
    {
        return Err(with(
            Fault::sender(
                "ActionMismatch",
                "the Content-Type action and wsa:Action name different functions",
            ),
            Some(b),
        ));
    }
    if body.ns.as_deref() != Some(GSMA_NS) {
        return Err(with(
            Fault::sender(
                "WrongNamespace",
                format!(
                    "body element {} at byte {} is not in the namespace {GSMA_NS}",
                    body.qname(),
                    body.position
                ),
            ),
            by_wsa.or(by_http),
        ));
    }
    let by_element = function_of_request_element(&body.name);
    let function = match (by_wsa.or(by_http), by_element) {
        (Some(a), Some(e)) if a == e => a,
        (Some(a), _) => {
            return Err(with(
                Fault::sender(
                    "ActionMismatch",
                    format!(
                        "body element {} at byte {} is not {} (the element of action {})",
                        body.name,
                        body.position,
                        request_element(a),
                        a.action()
                    ),
                ),
                Some(a),
            ));
        }
        (None, Some(e)) => e,
        (None, None) => {
            return Err(with(
                Fault::sender(
                    "UnknownAction",
                    format!(
                        "no action given and body element {} at byte {} names no function",
                        body.name, body.position
                    ),
                ),
                None,
            ));
        }
    };
    let json = schemas()
        .request_from_xml(function, &body)
        .map_err(|r| with(Fault::sender("WrongNamespace", r), Some(function)))?;
    let text = json.to_string();
    let request = decode_request(function, &text).map_err(|e| {
        with(
            Fault::sender("BadRequest", without_json_position(&e.to_string())),
            Some(function),
        )
    })?;
    Ok(DecodedRequest {
        addressing,
        function,
        json,
        request,
    })
}

/// What a response envelope carried.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodedResponse {
    /// An SGP.02 response of this function (JSON `{"Header", "Body"?}`).
    Response {
        /// The function (from the body element).
        function: Function,
        /// WS-Addressing headers.
        addressing: Addressing,
        /// The response JSON.
        json: Value,
    },
    /// A fault.
    Fault {
        /// WS-Addressing headers.
        addressing: Addressing,
        /// The fault.
        fault: Fault,
    },
}

/// Decodes a response or fault envelope (clients, callback receivers, tests).
pub fn decode_response_envelope(input: &[u8]) -> Result<DecodedResponse, Fault> {
    if input.len() > MAX_MESSAGE {
        return Err(Fault::sender("PayloadTooLarge", "response too large"));
    }
    let Envelope { addressing, body } = parse_envelope(input)?;
    if let Some(fault) = read_fault(&body) {
        return Ok(DecodedResponse::Fault { addressing, fault });
    }
    if body.ns.as_deref() != Some(GSMA_NS) {
        return Err(Fault::sender(
            "WrongNamespace",
            format!("body element {} is not in {GSMA_NS}", body.qname()),
        ));
    }
    let function = function_of_response_element(&body.name).ok_or_else(|| {
        Fault::sender(
            "UnknownAction",
            format!("{} is no response element", body.name),
        )
    })?;
    let json = schemas()
        .response_from_xml(function, &body)
        .map_err(|r| Fault::sender("WrongNamespace", r))?;
    Ok(DecodedResponse::Response {
        function,
        addressing,
        json,
    })
}

/// Drops serde_json's " at line L column C" (a position in the internal JSON, meaningless to
/// the XML sender); the message still names the field or identifier.
fn without_json_position(s: &str) -> String {
    match s
        .rfind(" at line ")
        .and_then(|i| Some((s.get(..i)?, s.get(i..)?)))
    {
        Some((head, tail)) if tail.contains(" column ") => head.to_owned(),
        _ => s.to_owned(),
    }
}
