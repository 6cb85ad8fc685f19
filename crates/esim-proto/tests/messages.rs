//! Message-level tests of esim-proto: serde round trips of every function's
//! request, golden JSON field names, FunctionExecutionStatus strings, POL2
//! evaluation, identifier validation errors and a never-panics proptest.

use esim_codec::ids::{Eid, Iccid};
use esim_crypto::cert::Date;
use esim_crypto::pki::{self, EuiccParams, PkiParams, TestPki};
use esim_proto::codes::{reason, subject};
use esim_proto::eis::{Eis, ProfileInfo, ProfileState, SubscriptionAddress};
use esim_proto::pol2::{
    Decision, Operation, Pol2, Pol2Action, Pol2Qualification, Pol2Rule, Pol2Subject,
};
use esim_proto::{
    AnyRequest, Function, FunctionExecutionStatus, HexBytes, Interface, ProtoError, Status,
    Timestamp, decode_request,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::OnceLock;

fn eid() -> Eid {
    Eid::from_body("890490320000000000000000000012").unwrap()
}

fn iccid() -> Iccid {
    Iccid::with_luhn("894400000000000001").unwrap()
}

fn issued() -> &'static pki::IssuedEuicc {
    static I: OnceLock<pki::IssuedEuicc> = OnceLock::new();
    I.get_or_init(|| {
        let params = PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap());
        let pki = TestPki::generate(&params).unwrap();
        let p = EuiccParams::test_defaults(eid(), Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
        pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap()
    })
}

fn sample_eis() -> Eis {
    let mut eis = Eis::from_document(&issued().eis, "SMSR-A").unwrap();
    eis.profiles.push(ProfileInfo {
        iccid: iccid(),
        isd_p_aid: esim_codec::ids::Aid::from_hex("A0000005591010FFFFFFFF8900001000").unwrap(),
        mno_id: "MNO-A".into(),
        fallback_attribute: true,
        subscription_address: Some(SubscriptionAddress {
            imsi: Some(esim_codec::ids::Imsi::parse("001010000000001").unwrap()),
            msisdn: Some("447700900001".into()),
        }),
        state: ProfileState::Enabled,
        smdp_id: "SMDP-A".into(),
        profile_type: Some("bootstrap".into()),
        allocated_memory: 65536,
        free_memory: 1024,
        pol2: Pol2 {
            rules: vec![Pol2Rule {
                subject: Pol2Subject::Profile,
                action: Pol2Action::Disable,
                qualification: Pol2Qualification::AutoDelete,
            }],
        },
    });
    eis
}

fn header() -> Value {
    json!({"FunctionRequesterIdentifier": "MNO-A", "FunctionCallIdentifier": "call-1", "ValidityPeriod": 600})
}

/// A valid body for every function.
fn body(f: Function) -> Value {
    let (e, i) = (eid().to_string(), iccid().to_string());
    let eis = serde_json::to_value(sample_eis().redacted()).unwrap();
    let pol2 = json!({"Rule": [{"Subject": "PROFILE", "Action": "DELETE", "Qualification": "Not-Allowed"}]});
    let notif = json!({"Eid": e, "Iccid": i, "CompletionTimeStamp": "2026-11-25T22:43:35Z"});
    use Function::*;
    match f {
        Es1RegisterEis => json!({"Eis": serde_json::to_value(&issued().eis).unwrap()}),
        Es2GetEis => json!({"Eid": e, "Smsr-id": "SMSR-A"}),
        Es2DownloadProfile => {
            json!({"Eid": e, "Smsr-id": "SMSR-A", "Profile": {"ProfileType": "bootstrap"}, "EnableProfile": true})
        }
        Es2EnableProfile | Es2DisableProfile | Es2DeleteProfile => {
            json!({"Eid": e, "Smsr-id": "SMSR-A", "Iccid": i})
        }
        Es2UpdatePolicyRules => json!({"Eid": e, "Iccid": i, "Smsr-id": "SMSR-A", "pol2": pol2}),
        Es2UpdateSubscriptionAddress => {
            json!({"Eid": e, "Iccid": i, "Smsr-id": "SMSR-A", "SubscriptionAddress": {"Imsi": "001010000000002", "Msisdn": "447700900002"}})
        }
        Es2HandleProfileEnabledNotification
        | Es2HandleProfileDisabledNotification
        | Es2HandleProfileDeletedNotification
        | Es2HandleProfileDownloadedNotification
        | Es3HandleProfileEnabledNotification
        | Es3HandleProfileDisabledNotification
        | Es3HandleProfileDeletedNotification
        | Es4HandleProfileEnabledNotification
        | Es4HandleProfileDisabledNotification
        | Es4HandleProfileDeletedNotification => notif,
        Es2HandleSmsrChangeNotification
        | Es3HandleSmsrChangeNotification
        | Es4HandleSmsrChangeNotification => {
            json!({"Eis": eis, "CompletionTimeStamp": "2026-11-25T22:43:35.123+01:00"})
        }
        Es3GetEis | Es4GetEis => json!({"Eid": e}),
        Es3AuditEis | Es4AuditEis => json!({"Eid": e, "Iccid": [i]}),
        Es3CreateIsdp => {
            json!({"Eid": e, "Iccid": i, "Mno-id": "MNO-A", "RequiredMemory": 32768, "MoreToDo": true})
        }
        Es3SendData => {
            json!({"Eid": e, "Sd-aid": "A0000005591010FFFFFFFF8900001000", "Data": "80E2880000", "MoreToDo": false})
        }
        Es3ProfileDownloadCompleted => {
            json!({"Eid": e, "Iccid": i, "ProfileType": "t", "SubscriptionAddress": {"Msisdn": "447700900001"}, "pol2": pol2})
        }
        Es3EnableProfile
        | Es3DisableProfile
        | Es3DeleteIsdp
        | Es4EnableProfile
        | Es4DisableProfile
        | Es4DeleteProfile
        | Es4SetFallbackAttribute
        | Es4MasterDelete => {
            json!({"Eid": e, "Iccid": i})
        }
        Es3UpdatePolicyRules | Es4UpdatePolicyRules => json!({"Eid": e, "Iccid": i, "pol2": pol2}),
        Es3UpdateConnectivityParameters => {
            json!({"Eid": e, "Iccid": i, "ConnectivityParameters": "3A0703A10100"})
        }
        Es3UpdateSubscriptionAddress => {
            json!({"Eid": e, "Iccid": i, "SubscriptionAddress": {"Imsi": "001010000000002", "Msisdn": "447700900002"}})
        }
        Es3GetDeleteToken => json!({
            "Eid": e, "Iccid": i, "Isd-p-aid": "A0000005591010FFFFFFFF8900001100",
            "P1": 0, "P2": 128, "Crt": "451089049032"
        }),
        Es4PrepareSmsrChange => json!({"Eid": e, "CurrentSMSRid": "SMSR-A"}),
        Es4SmsrChange => json!({"Eid": e, "Target-Smsr-id": "SMSR-B"}),
        Es7HandoverEuicc => json!({"Eis": serde_json::to_value(sample_eis()).unwrap()}),
        Es7AuthenticateSmsr => json!({"Eid": e, "SmsrCertificate": "7F2100"}),
        Es7CreateAdditionalKeySet => json!({
            "Eid": e, "KeyVersionNumber": 2, "InitialSequenceCounter": 1, "ECCKeyLength": "ECC-256",
            "ScenarioParameter": 1, "HostID": "0102", "EphemeralPublicKey": "04AABB", "Signature": "5F3700"
        }),
    }
}

fn request(f: Function) -> String {
    json!({"Header": header(), "Body": body(f)}).to_string()
}

#[test]
fn every_function_round_trips() {
    assert_eq!(Function::ALL.len(), 46);
    for &f in Function::ALL {
        let text = request(f);
        let req = decode_request(f, &text).unwrap_or_else(|e| panic!("{f:?}: {e}"));
        assert_eq!(req.function(), f);
        let again = req.to_json().unwrap();
        let v1: Value = serde_json::from_str(&text).unwrap();
        let v2: Value = serde_json::from_str(&again).unwrap();
        assert_eq!(v1, v2, "{f:?} JSON differs after round trip");
        assert_eq!(decode_request(f, &again).unwrap(), req);
        assert_eq!(Function::from_action(f.action()).unwrap(), f);
    }
}

#[test]
fn action_uris_are_unique_and_follow_the_pattern() {
    let mut seen = std::collections::HashSet::new();
    for &f in Function::ALL {
        assert!(seen.insert(f.action()), "duplicate action {}", f.action());
        let iface = format!("{:?}", f.interface());
        assert!(f.action().starts_with(&format!("http://gsma.com/{iface}/")));
        assert!(f.action().contains(&format!("/{iface}-{}", f.name())));
    }
    assert_eq!(
        Function::Es2DownloadProfile.action(),
        "http://gsma.com/ES2/ProfileManagent/ES2-DownloadProfileRequest"
    );
    assert_eq!(Function::Es7HandoverEuicc.interface(), Interface::ES7);
    assert!(matches!(
        Function::from_action("http://gsma.com/ES9/x"),
        Err(ProtoError::UnknownAction(_))
    ));
}

#[test]
fn golden_json_field_names() {
    let f = Function::Es3EnableProfile;
    let req = decode_request(f, &request(f)).unwrap();
    let AnyRequest::Es3EnableProfile(r) = &req else {
        panic!("wrong variant")
    };
    assert_eq!(r.header.function_call_identifier.as_str(), "call-1");
    assert_eq!(
        req.to_json().unwrap(),
        format!(
            r#"{{"Header":{{"FunctionRequesterIdentifier":"MNO-A","FunctionCallIdentifier":"call-1","ValidityPeriod":600}},"Body":{{"Eid":"{}","Iccid":"{}"}}}}"#,
            eid(),
            iccid()
        )
    );
    let st = FunctionExecutionStatus::failed_for(
        subject::EID,
        reason::UNKNOWN,
        &eid().to_string(),
        "Unknown EID",
    );
    assert_eq!(
        serde_json::to_string(&st).unwrap(),
        format!(
            r#"{{"Status":"Failed","StatusCodeData":{{"Subject":"8.1.1","Reason":"3.9","SubjectIdentifier":"{}","Message":"Unknown EID"}}}}"#,
            eid()
        )
    );
    let rule = Pol2Rule {
        subject: Pol2Subject::Profile,
        action: Pol2Action::Disable,
        qualification: Pol2Qualification::AutoDelete,
    };
    assert_eq!(
        serde_json::to_string(&rule).unwrap(),
        r#"{"Subject":"PROFILE","Action":"DISABLE","Qualification":"Auto-Delete"}"#
    );
}

#[test]
fn status_strings_are_exact() {
    for (s, text) in [
        (Status::ExecutedSuccess, "\"Executed-Success\""),
        (Status::ExecutedWithWarning, "\"Executed-WithWarning\""),
        (Status::Failed, "\"Failed\""),
        (Status::Expired, "\"Expired\""),
    ] {
        assert_eq!(serde_json::to_string(&s).unwrap(), text);
        assert_eq!(serde_json::from_str::<Status>(text).unwrap(), s);
    }
    assert!(serde_json::from_str::<Status>("\"EXECUTED_SUCCESS\"").is_err());
    assert_eq!(
        serde_json::to_string(&FunctionExecutionStatus::success()).unwrap(),
        r#"{"Status":"Executed-Success"}"#
    );
    let exp = FunctionExecutionStatus::expired("validity period elapsed");
    assert_eq!(exp.status, Status::Expired);
    let d = exp.status_code_data.unwrap();
    assert_eq!(
        (d.subject_code.as_str(), d.reason_code.as_str()),
        ("1.6", "5.3")
    );
    assert!(!FunctionExecutionStatus::failed("8.4", "4.2", "x").is_executed());
    assert!(FunctionExecutionStatus::warning("8.4", "4.3", "x").is_executed());
}

fn pol2(rules: &[(Pol2Action, Pol2Qualification)]) -> Pol2 {
    Pol2 {
        rules: rules
            .iter()
            .map(|&(action, qualification)| Pol2Rule {
                subject: Pol2Subject::Profile,
                action,
                qualification,
            })
            .collect(),
    }
}

/// (rules, operation, Some(auto-delete) if allowed / None if refused)
type Row = (
    &'static [(Pol2Action, Pol2Qualification)],
    Operation,
    Option<bool>,
);

#[test]
fn pol2_evaluator_table() {
    use Pol2Action::*;
    use Pol2Qualification::*;
    // (rules, operation, Some(auto-delete) if allowed / None if refused)
    let table: &[Row] = &[
        (&[], Operation::Enable, Some(false)),
        (&[], Operation::EnableOther, Some(false)),
        (&[], Operation::Disable, Some(false)),
        (&[], Operation::Delete, Some(false)),
        (&[(Enable, NotAllowed)], Operation::Enable, None),
        (&[(Enable, NotAllowed)], Operation::Disable, Some(false)),
        (&[(Disable, NotAllowed)], Operation::Disable, None),
        (&[(Disable, NotAllowed)], Operation::EnableOther, None),
        (&[(Disable, NotAllowed)], Operation::Delete, Some(false)),
        (
            &[(Disable, NotAllowed)],
            Operation::MasterDelete,
            Some(false),
        ),
        (&[(Delete, NotAllowed)], Operation::Delete, None),
        (&[(Delete, NotAllowed)], Operation::Disable, Some(false)),
        (
            &[(Delete, NotAllowed)],
            Operation::MasterDelete,
            Some(false),
        ),
        (&[(Disable, AutoDelete)], Operation::Disable, Some(true)),
        (&[(Disable, AutoDelete)], Operation::EnableOther, Some(true)),
        (&[(Disable, AutoDelete)], Operation::Delete, Some(false)),
        (
            &[(Disable, AutoDelete), (Delete, NotAllowed)],
            Operation::Disable,
            Some(false),
        ),
    ];
    let i = iccid().to_string();
    for (n, (rules, op, want)) in table.iter().enumerate() {
        match (pol2(rules).evaluate(*op, &i), want) {
            (
                Decision::Allowed {
                    auto_delete_after_disable,
                },
                Some(a),
            ) => {
                assert_eq!(auto_delete_after_disable, *a, "row {n}")
            }
            (Decision::Refused(st), None) => {
                assert_eq!(st.status, Status::Failed, "row {n}");
                let d = st.status_code_data.unwrap();
                assert_eq!(d.subject_code, subject::POL2);
                assert_eq!(d.reason_code, reason::REFUSED);
                assert_eq!(d.subject_identifier.as_deref(), Some(i.as_str()));
            }
            (got, _) => panic!("row {n}: unexpected {got:?}"),
        }
    }
}

#[test]
fn invalid_identifiers_are_rejected_naming_the_field() {
    let f = Function::Es4EnableProfile;
    let mut bad_eid = eid().to_string();
    bad_eid.replace_range(31..32, if bad_eid.ends_with('0') { "1" } else { "0" });
    let text = json!({"Header": header(), "Body": {"Eid": bad_eid, "Iccid": iccid().to_string()}})
        .to_string();
    let e = decode_request(f, &text).unwrap_err().to_string();
    assert!(
        e.contains("EnableProfile") && e.contains("EID") && e.contains("check digit"),
        "{e}"
    );

    let text = json!({"Header": header(), "Body": {"Eid": eid().to_string(), "Iccid": "89440000000000000X"}}).to_string();
    let e = decode_request(f, &text).unwrap_err().to_string();
    assert!(e.contains("ICCID") && e.contains("position 17"), "{e}");

    let text = json!({"Header": header(), "Body": {"Eid": eid().to_string()}}).to_string();
    let e = decode_request(f, &text).unwrap_err().to_string();
    assert!(e.contains("missing field `Iccid`"), "{e}");

    let text = json!({"Header": header(), "Body": {"Eid": eid().to_string(), "Iccid": iccid().to_string(), "Extra": 1}}).to_string();
    assert!(
        decode_request(f, &text)
            .unwrap_err()
            .to_string()
            .contains("Extra")
    );

    let h = json!({"FunctionRequesterIdentifier": "x", "FunctionCallIdentifier": ""});
    let text =
        json!({"Header": h, "Body": {"Eid": eid().to_string(), "Iccid": iccid().to_string()}})
            .to_string();
    assert!(
        decode_request(f, &text)
            .unwrap_err()
            .to_string()
            .contains("FunctionCallIdentifier")
    );
}

#[test]
fn hex_and_timestamp_errors_name_the_position() {
    assert_eq!(HexBytes::from_hex("0aFf").unwrap().0, [0x0A, 0xFF]);
    let e = HexBytes::from_hex("0A 1").unwrap_err().to_string();
    assert!(e.contains("position 2"), "{e}");
    assert!(
        HexBytes::from_hex("ABC")
            .unwrap_err()
            .to_string()
            .contains("odd")
    );
    assert_eq!(
        serde_json::to_string(&HexBytes(vec![0xab, 1])).unwrap(),
        "\"AB01\""
    );
    let f = Function::Es3SendData;
    let mut v: Value = serde_json::from_str(&request(f)).unwrap();
    v["Body"]["Data"] = json!("80E2G8");
    let e = decode_request(f, &v.to_string()).unwrap_err().to_string();
    assert!(e.contains("position 4"), "{e}");

    for ok in [
        "2026-11-25T22:43:35Z",
        "2026-01-01T00:00:00.5+01:00",
        "2026-12-31t23:59:60-05:30",
    ] {
        assert_eq!(Timestamp::parse(ok).unwrap().as_str(), ok);
    }
    for bad in [
        "2026-11-25 22:43:35Z",
        "2026-13-01T00:00:00Z",
        "2026-11-25T22:43:35",
        "2026-11-25T22:43:35.Z",
        "",
    ] {
        assert!(Timestamp::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn eis_from_document_keeps_no_keys_and_redacts() {
    let doc = &issued().eis;
    let eis = sample_eis();
    assert_eq!(eis.eid(), &eid());
    assert_eq!(eis.smsr_id, "SMSR-A");
    assert_eq!(
        eis.isd_r.keysets.len(),
        doc.eum_signed_info.isd_r.keysets.len()
    );
    assert!(!eis.isd_r.keysets.is_empty());
    let full = serde_json::to_string(&eis).unwrap().to_uppercase();
    for ks in &doc.eum_signed_info.isd_r.keysets {
        for k in &ks.keys {
            let key_hex = esim_codec::hex::encode_upper(k.value.0.expose());
            assert!(!full.contains(&key_hex), "key value leaked into the EIS");
        }
    }
    assert_eq!(eis.enabled_profile().map(|p| &p.iccid), Some(&iccid()));
    assert!(eis.profile(&iccid()).is_some());
    let public = eis.redacted();
    assert!(public.isd_r.keysets.is_empty());
    assert!(public.audit_trail.is_empty());
    assert_eq!(public.profiles, eis.profiles);
    let back: Eis = serde_json::from_str(&serde_json::to_string(&eis).unwrap()).unwrap();
    assert_eq!(back, eis);
}

proptest! {
    #[test]
    fn decoders_never_panic_on_arbitrary_text(s in ".{0,300}", n in 0usize..41) {
        let f = Function::ALL[n % Function::ALL.len()];
        let _ = decode_request(f, &s);
    }

    #[test]
    fn decoders_never_panic_on_mutated_requests(n in 0usize..41, cut in 0usize..4000, ins in ".{0,8}") {
        let f = Function::ALL[n % Function::ALL.len()];
        let text = request(f);
        let mut at = cut.min(text.len());
        while !text.is_char_boundary(at) { at -= 1; }
        let mutated = format!("{}{}{}", &text[..at], ins, &text[at..]);
        let _ = decode_request(f, &mutated);
        let truncated = &text[..at];
        let _ = decode_request(f, truncated);
    }
}

#[test]
fn responses_round_trip_with_golden_header() {
    use esim_proto::es2::{DownloadProfileResponse, GetEisResponse};
    use esim_proto::{Response, ResponseHeader, ValidityPeriod};
    let header = |st: FunctionExecutionStatus| ResponseHeader {
        processing_start: Timestamp::parse("2026-11-25T22:43:35Z").unwrap(),
        processing_end: Timestamp::parse("2026-11-25T22:43:36Z").unwrap(),
        acceptable_validity_period: Some(ValidityPeriod(300)),
        function_execution_status: st,
    };
    let r = Response {
        header: header(FunctionExecutionStatus::success()),
        body: Some(DownloadProfileResponse {
            iccid: iccid(),
            euicc_response_data: Some(HexBytes(vec![0x90, 0x00])),
        }),
    };
    let text = serde_json::to_string(&r).unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"Header":{{"ProcessingStart":"2026-11-25T22:43:35Z","ProcessingEnd":"2026-11-25T22:43:36Z","AcceptableValidityPeriod":300,"FunctionExecutionStatus":{{"Status":"Executed-Success"}}}},"Body":{{"Iccid":"{}","EuiccResponseData":"9000"}}}}"#,
            iccid()
        )
    );
    assert_eq!(
        serde_json::from_str::<Response<DownloadProfileResponse>>(&text).unwrap(),
        r
    );

    let failed: Response<GetEisResponse> = Response {
        header: header(FunctionExecutionStatus::failed(
            subject::EID,
            reason::UNKNOWN,
            "Unknown EID",
        )),
        body: None,
    };
    let text = serde_json::to_string(&failed).unwrap();
    assert!(!text.contains("Body"));
    assert_eq!(
        serde_json::from_str::<Response<GetEisResponse>>(&text).unwrap(),
        failed
    );

    let ok = Response {
        header: header(FunctionExecutionStatus::success()),
        body: Some(GetEisResponse {
            eis: sample_eis().redacted(),
        }),
    };
    let text = serde_json::to_string(&ok).unwrap();
    assert!(text.contains(r#""Isd-p-aid""#) && text.contains(r#""Smsr-id":"SMSR-A""#));
    assert_eq!(
        serde_json::from_str::<Response<GetEisResponse>>(&text).unwrap(),
        ok
    );
}

/// ES1.RegisterEIS carries, beside the signed document, the EIS Profiles (with their
/// SubscriptionAddress) and AdditionalProperties; both optional, unknown fields refused.
#[test]
fn register_eis_carries_profiles_and_properties() {
    let i = iccid().to_string();
    let profile = json!({
        "Iccid": i, "Isd-p-aid": "A0000005591010FFFFFFFF8900001000", "Mno-id": "MNO-A",
        "FallbackAttribute": true, "SubscriptionAddress": {"Msisdn": "447700900123"},
        "State": "Enabled", "Smdp-id": "SMDP-A", "AllocatedMemory": 1000, "FreeMemory": 10
    });
    let body = json!({
        "Eis": serde_json::to_value(&issued().eis).unwrap(),
        "ProfileInfo": [profile],
        "AdditionalProperties": {"es5-transport": "sms"}
    });
    let text = json!({"Header": header(), "Body": body}).to_string();
    let AnyRequest::Es1RegisterEis(r) = decode_request(Function::Es1RegisterEis, &text).unwrap()
    else {
        panic!("not RegisterEIS")
    };
    assert_eq!(r.body.profiles.len(), 1);
    let p = &r.body.profiles[0];
    assert_eq!(
        p.subscription_address.as_ref().unwrap().msisdn.as_deref(),
        Some("447700900123")
    );
    assert!(p.fallback_attribute);
    assert_eq!(
        r.body
            .additional_properties
            .get("es5-transport")
            .map(String::as_str),
        Some("sms")
    );
    let back: Value =
        serde_json::from_str(&AnyRequest::Es1RegisterEis(r.clone()).to_json().unwrap()).unwrap();
    assert_eq!(
        back["Body"]["ProfileInfo"][0]["SubscriptionAddress"]["Msisdn"],
        "447700900123"
    );
    // Without the extras: the fields are left out on the wire.
    let plain = esim_proto::es1::RegisterEisRequest::new(r.body.eis.clone());
    let v = serde_json::to_value(&plain).unwrap();
    assert!(v.get("ProfileInfo").is_none() && v.get("AdditionalProperties").is_none());
    // Unknown fields stay refused, at the top and inside a ProfileInfo.
    let mut bad = json!({"Header": header(), "Body": body_with(&r.body)});
    bad["Body"]["Msisdn"] = json!("4477");
    assert!(decode_request(Function::Es1RegisterEis, &bad.to_string()).is_err());
    let mut bad = json!({"Header": header(), "Body": body_with(&r.body)});
    bad["Body"]["ProfileInfo"][0]["Bogus"] = json!(1);
    assert!(decode_request(Function::Es1RegisterEis, &bad.to_string()).is_err());
}

fn body_with(b: &esim_proto::es1::RegisterEisRequest) -> Value {
    serde_json::to_value(b).unwrap()
}

/// The two INFERRED ES3 functions: their Action URIs resolve, GetDeleteToken's answer decodes.
#[test]
fn es3_update_subscription_address_and_get_delete_token() {
    for f in [
        Function::Es3UpdateSubscriptionAddress,
        Function::Es3GetDeleteToken,
    ] {
        assert_eq!(Function::from_action(f.action()).unwrap(), f);
        assert_eq!(f.interface(), Interface::ES3);
    }
    let AnyRequest::Es3GetDeleteToken(r) = decode_request(
        Function::Es3GetDeleteToken,
        &request(Function::Es3GetDeleteToken),
    )
    .unwrap() else {
        panic!("not GetDeleteToken")
    };
    assert_eq!((r.body.p1, r.body.p2), (0x00, 0x80));
    assert_eq!(r.body.crt.as_bytes(), &[0x45, 0x10, 0x89, 0x04, 0x90, 0x32]);
    let resp: esim_proto::es3::GetDeleteTokenResponse =
        serde_json::from_value(json!({"DeleteToken": "00112233445566778899AABBCCDDEEFF"})).unwrap();
    assert_eq!(resp.delete_token.as_bytes().len(), 16);
    assert!(
        serde_json::from_value::<esim_proto::es3::GetDeleteTokenResponse>(
            json!({"DeleteToken": "00", "X": 1})
        )
        .is_err()
    );
    // P1 out of range is a decode error, not a panic.
    let mut bad: Value = serde_json::from_str(&request(Function::Es3GetDeleteToken)).unwrap();
    bad["Body"]["P1"] = json!(256);
    assert!(decode_request(Function::Es3GetDeleteToken, &bad.to_string()).is_err());
}
