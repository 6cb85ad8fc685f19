//! Sample requests of every function (shared by the codec and XSD tests).
#![allow(dead_code)]

use esim_codec::ids::{Eid, Iccid};
use esim_crypto::cert::Date;
use esim_crypto::pki::{self, EuiccParams, PkiParams, TestPki};
use esim_proto::eis::{Eis, ProfileInfo, ProfileState, SubscriptionAddress};
use esim_proto::function::Function;
use esim_proto::pol2::{Pol2, Pol2Action, Pol2Qualification, Pol2Rule, Pol2Subject};
use serde_json::{Value, json};
use std::sync::OnceLock;

pub fn eid() -> Eid {
    Eid::from_body("890490320000000000000000000012").unwrap()
}

pub fn iccid() -> Iccid {
    Iccid::with_luhn("894400000000000001").unwrap()
}

pub fn issued() -> &'static pki::IssuedEuicc {
    static I: OnceLock<pki::IssuedEuicc> = OnceLock::new();
    I.get_or_init(|| {
        let params = PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap());
        let pki = TestPki::generate(&params).unwrap();
        let p = EuiccParams::test_defaults(eid(), Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
        pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap()
    })
}

pub fn sample_eis() -> Eis {
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

pub fn header() -> Value {
    json!({"FunctionRequesterIdentifier": "MNO-A", "FunctionCallIdentifier": "call-1", "ValidityPeriod": 600})
}

/// A valid body for every function known when this test was written (functions added to
/// esim-proto later are listed by the round-trip test and skipped until a sample is added).
pub fn body(f: Function) -> Option<Value> {
    let (e, i) = (eid().to_string(), iccid().to_string());
    let eis = serde_json::to_value(sample_eis().redacted()).unwrap();
    let pol2 = json!({"Rule": [{"Subject": "PROFILE", "Action": "DELETE", "Qualification": "Not-Allowed"}]});
    let notif = json!({"Eid": e, "Iccid": i, "CompletionTimeStamp": "2026-11-25T22:43:35Z"});
    use Function::*;
    Some(match f {
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
        Es4PrepareSmsrChange => json!({"Eid": e, "CurrentSMSRid": "SMSR-A"}),
        Es4SmsrChange => json!({"Eid": e, "Target-Smsr-id": "SMSR-B"}),
        Es7HandoverEuicc => json!({"Eis": serde_json::to_value(sample_eis()).unwrap()}),
        Es7AuthenticateSmsr => json!({"Eid": e, "SmsrCertificate": "7F2100"}),
        Es7CreateAdditionalKeySet => json!({
            "Eid": e, "KeyVersionNumber": 2, "InitialSequenceCounter": 1, "ECCKeyLength": "ECC-256",
            "ScenarioParameter": 1, "HostID": "0102", "EphemeralPublicKey": "04AABB", "Signature": "5F3700"
        }),
        Es3UpdateSubscriptionAddress => {
            json!({"Eid": e, "Iccid": i, "SubscriptionAddress": {"Imsi": "001010000000002", "Msisdn": "447700900002"}})
        }
        Es3GetDeleteToken => json!({
            "Eid": e, "Iccid": i, "Isd-p-aid": "A0000005591010FFFFFFFF8900001100",
            "P1": 0, "P2": 128, "Crt": "451089049032"
        }),
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

pub fn request(f: Function) -> Option<String> {
    Some(json!({"Header": header(), "Body": body(f)?}).to_string())
}
