//! Codec tests: every request function survives JSON → SOAP envelope → JSON (canonical JSON
//! identical and the decoded request equal), responses round-trip, and malformed messages are
//! faults naming the element or position.

mod common;

use common::{iccid, request, sample_eis};
use esim_proto::function::{Function, decode_request};
use esim_soap::codec::{
    DecodedResponse, decode_request_envelope, decode_response_envelope, encode_request,
    encode_response,
};
use esim_soap::envelope::{Addressing, FaultCode};
use serde_json::{Value, json};

fn canonical(f: Function, json: &str) -> Value {
    let r = decode_request(f, json).unwrap_or_else(|e| panic!("{f:?}: {e}"));
    serde_json::from_str(&r.to_json().unwrap()).unwrap()
}

#[test]
fn every_request_function_round_trips_through_soap() {
    let mut covered = 0;
    for &f in Function::ALL {
        let Some(original) = request(f) else {
            println!("NOTE: no sample request for {f:?} yet; not round-tripped");
            continue;
        };
        covered += 1;
        let req = decode_request(f, &original).unwrap();
        let xml = encode_request(&req, &Addressing::default()).unwrap();
        assert!(
            xml.contains(&format!(
                "{}-{}Request",
                esim_soap::schema::interface_name(f.interface()),
                f.name()
            )),
            "{f:?}"
        );
        let back = decode_request_envelope(xml.as_bytes(), Some(f.action()))
            .unwrap_or_else(|e| panic!("{f:?}: {}\n{xml}", e.fault));
        assert_eq!(back.function, f);
        assert_eq!(back.request, req, "{f:?}");
        assert_eq!(
            canonical(f, &back.json.to_string()),
            canonical(f, &original),
            "{f:?}"
        );
        assert_eq!(back.addressing.action.as_deref(), Some(f.action()));
    }
    // The 46 functions of esim-proto when this test was written.
    assert!(covered >= 46, "{covered}");
}

#[test]
fn responses_round_trip_with_header_and_body() {
    let f = Function::Es2DownloadProfile;
    let ok = esim_service::response(
        esim_store::Timestamp(0),
        esim_store::Timestamp(1000),
        esim_proto::common::FunctionExecutionStatus::success(),
        Some(json!({"Iccid": iccid().to_string(), "EuiccResponseData": "9000"})),
    );
    let xml = encode_response(f, &ok, Some("urn:uuid:req"));
    match decode_response_envelope(xml.as_bytes()).unwrap() {
        DecodedResponse::Response {
            function,
            addressing,
            json,
        } => {
            assert_eq!(function, f);
            assert_eq!(json, ok);
            assert_eq!(addressing.relates_to.as_deref(), Some("urn:uuid:req"));
        }
        other => panic!("{other:?}"),
    }
    let failed = esim_service::response::<Value>(
        esim_store::Timestamp(0),
        esim_store::Timestamp(1000),
        esim_proto::common::FunctionExecutionStatus::failed("8.1.1", "3.9", "unknown EID"),
        None,
    );
    let xml = encode_response(Function::Es2GetEis, &failed, None);
    match decode_response_envelope(xml.as_bytes()).unwrap() {
        DecodedResponse::Response { json, .. } => assert_eq!(json, failed),
        other => panic!("{other:?}"),
    }
    // GetEIS with a full EIS in the body.
    let eis_ok = esim_service::response(
        esim_store::Timestamp(0),
        esim_store::Timestamp(1000),
        esim_proto::common::FunctionExecutionStatus::success(),
        Some(json!({"Eis": serde_json::to_value(sample_eis().redacted()).unwrap()})),
    );
    let xml = encode_response(Function::Es2GetEis, &eis_ok, None);
    match decode_response_envelope(xml.as_bytes()).unwrap() {
        DecodedResponse::Response { json, .. } => {
            let a: esim_proto::es2::GetEisResponse =
                serde_json::from_value(json["Body"].clone()).unwrap();
            let b: esim_proto::es2::GetEisResponse =
                serde_json::from_value(eis_ok["Body"].clone()).unwrap();
            assert_eq!(a, b);
        }
        other => panic!("{other:?}"),
    }
}

fn soap(body: &str) -> String {
    format!(
        "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body>{body}</e:Body></e:Envelope>"
    )
}

#[test]
fn malformed_requests_are_sender_faults_naming_the_problem() {
    let gsma = "http://namespaces.gsma.org/esim-messaging/1";
    let cases: Vec<(String, Option<&str>, &str, &str)> = vec![
        ("<e:Envelope".into(), None, "MalformedXml", "byte"),
        (
            soap("<x:ES2-GetEISRequest xmlns:x=\"urn:other\"/>"),
            None,
            "WrongNamespace",
            "urn:other",
        ),
        (
            soap(&format!("<ES2-NoSuchRequest xmlns=\"{gsma}\"/>")),
            None,
            "UnknownAction",
            "ES2-NoSuchRequest",
        ),
        (
            soap(&format!("<ES2-GetEISRequest xmlns=\"{gsma}\"/>")),
            Some("http://gsma.com/nope"),
            "UnknownAction",
            "nope",
        ),
        (
            soap(&format!("<ES2-GetEISRequest xmlns=\"{gsma}\"/>")),
            Some(Function::Es2DownloadProfile.action()),
            "ActionMismatch",
            "ES2-DownloadProfileRequest",
        ),
        (
            soap(&format!(
                "<ES2-GetEISRequest xmlns=\"{gsma}\"><FunctionRequesterIdentifier>m</FunctionRequesterIdentifier><FunctionCallIdentifier>c</FunctionCallIdentifier><Eid>123</Eid><Smsr-id>S</Smsr-id></ES2-GetEISRequest>"
            )),
            None,
            "BadRequest",
            "EID: expected 32 decimal digits, got 3",
        ),
        (
            soap(&format!(
                "<ES2-GetEISRequest xmlns=\"{gsma}\"><FunctionRequesterIdentifier>m</FunctionRequesterIdentifier><Eid xmlns=\"urn:x\">1</Eid></ES2-GetEISRequest>"
            )),
            None,
            "WrongNamespace",
            "{urn:x}Eid",
        ),
    ];
    for (xml, action, subcode, needle) in cases {
        let fault = decode_request_envelope(xml.as_bytes(), action)
            .unwrap_err()
            .fault;
        assert_eq!(fault.code, FaultCode::Sender, "{xml}");
        assert_eq!(fault.subcode, subcode, "{xml}: {fault}");
        assert!(fault.reason.contains(needle), "{xml}: {fault}");
    }
    let big = vec![b' '; esim_soap::codec::MAX_MESSAGE + 1];
    assert_eq!(
        decode_request_envelope(&big, None)
            .unwrap_err()
            .fault
            .subcode,
        "PayloadTooLarge"
    );
}

#[test]
fn a_message_with_many_distinct_elements_is_refused_not_stuck() {
    let gsma = "http://namespaces.gsma.org/esim-messaging/1";
    let mut kids = String::new();
    for i in 0..50_000 {
        kids.push_str(&format!("<x{i}/>"));
    }
    let xml = soap(&format!(
        "<ES2-GetEISRequest xmlns=\"{gsma}\">{kids}</ES2-GetEISRequest>"
    ));
    assert!(xml.len() < esim_soap::codec::MAX_MESSAGE);
    let fault = decode_request_envelope(xml.as_bytes(), None)
        .unwrap_err()
        .fault;
    assert_eq!(fault.subcode, "BadRequest", "{fault}");
    assert!(fault.reason.contains("unknown field"), "{fault}");
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
        let _ = decode_request_envelope(&bytes, None);
        let _ = decode_response_envelope(&bytes);
    }

    #[test]
    fn mutated_requests_never_panic(n in 0usize..41, cut in 0usize..4000, ins in ".{0,8}") {
        let f = Function::ALL[n % Function::ALL.len()];
        let Some(text) = request(f) else { return Ok(()) };
        let req = decode_request(f, &text).unwrap();
        let xml = encode_request(&req, &Addressing::default()).unwrap();
        let cut = cut.min(xml.len());
        let mut mutated = xml.as_bytes()[..cut].to_vec();
        mutated.extend_from_slice(ins.as_bytes());
        mutated.extend_from_slice(&xml.as_bytes()[cut..]);
        let _ = decode_request_envelope(&mutated, Some(f.action()));
        let _ = decode_request_envelope(&xml.as_bytes()[..cut], None);
    }
}
