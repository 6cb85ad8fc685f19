//! The list of SGP.02 off-card functions in one place (digest §2.1–2.6):
//! interface, name, the Action URI of the SOAP binding, and the request body
//! type, with [`decode_request`] as the top-level decoder of untrusted input.
//!
//! Action URIs follow the NJ WSDL pattern the digest records (including the
//! "ProfileManagent" misspelling). Functions the digest gives no URI for
//! (notifications, `UpdateSubscriptionAddress`, `SetFallbackAttribute`,
//! `MasterDelete`, ES1 is the only `...Request`-suffixed ES1 action) use the
//! same pattern under the interface's category; those are INFERRED
//! (docs/spec-choices.md). `ES3.UpdateSubscriptionAddress` and the SM-SR → SM-DP
//! `ES3.GetDeleteToken` (Master Delete; no public function) are INFERRED too.

use serde::{Deserialize, Serialize};

use crate::common::{ProtoError, Request};
use crate::{es1, es2, es3, es4, es7};

/// The off-card interface a function belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Interface {
    /// EUM → SM-SR.
    ES1,
    /// Operator → SM-DP (and SM-DP → Operator notifications).
    ES2,
    /// SM-DP → SM-SR.
    ES3,
    /// Operator → SM-SR (and notifications back).
    ES4,
    /// SM-SR ↔ SM-SR.
    ES7,
}

const MAX_BODY: usize = 1 << 20;

macro_rules! functions {
    ($( $var:ident : $iface:ident, $name:literal, $action:literal, $body:ty; )*) => {
        /// Every off-card function implemented (issues 4 and 5).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Function {
            $(
                #[doc = concat!("`", stringify!($iface), ".", $name, "`, Action `", $action, "`.")]
                $var,
            )*
        }

        /// A decoded request of any function.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum AnyRequest {
            $(
                #[doc = concat!("`", stringify!($iface), ".", $name, "`.")]
                $var(Request<$body>),
            )*
        }

        impl Function {
            /// All functions.
            pub const ALL: &'static [Function] = &[$(Function::$var),*];

            /// The interface.
            pub fn interface(self) -> Interface {
                match self { $(Function::$var => Interface::$iface),* }
            }

            /// The SGP.02 function name (e.g. `GetEIS`).
            pub fn name(self) -> &'static str {
                match self { $(Function::$var => $name),* }
            }

            /// The SOAP Action URI (digest §2.1).
            pub fn action(self) -> &'static str {
                match self { $(Function::$var => $action),* }
            }

            /// The function with this Action URI.
            pub fn from_action(action: &str) -> Result<Self, ProtoError> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|f| f.action() == action)
                    .ok_or_else(|| ProtoError::UnknownAction(action.chars().take(200).collect()))
            }
        }

        /// Decodes a JSON request of `function` (header + body). Never panics;
        /// errors name the function, the field or identifier and the JSON
        /// position. Bodies over 1 MiB are refused.
        pub fn decode_request(function: Function, json: &str) -> Result<AnyRequest, ProtoError> {
            let fname = function.name();
            if json.len() > MAX_BODY {
                return Err(ProtoError::Decode {
                    function: fname,
                    detail: format!("body of {} bytes exceeds {MAX_BODY}", json.len()),
                });
            }
            let err = |e: serde_json::Error| ProtoError::Decode {
                function: fname,
                detail: e.to_string(),
            };
            Ok(match function {
                $(Function::$var => AnyRequest::$var(serde_json::from_str(json).map_err(err)?),)*
            })
        }

        impl AnyRequest {
            /// The function of this request.
            pub fn function(&self) -> Function {
                match self { $(AnyRequest::$var(_) => Function::$var),* }
            }

            /// Encodes the request as JSON.
            pub fn to_json(&self) -> Result<String, ProtoError> {
                let r = match self { $(AnyRequest::$var(r) => serde_json::to_string(r)),* };
                r.map_err(|e| ProtoError::Decode { function: self.function().name(), detail: e.to_string() })
            }
        }
    };
}

functions! {
    Es1RegisterEis: ES1, "RegisterEIS", "http://gsma.com/ES1/eUICCManagement/ES1-RegisterEISRequest", es1::RegisterEisRequest;

    Es2GetEis: ES2, "GetEIS", "http://gsma.com/ES2/ProfileManagent/ES2-GetEISRequest", es2::GetEisRequest;
    Es2DownloadProfile: ES2, "DownloadProfile", "http://gsma.com/ES2/ProfileManagent/ES2-DownloadProfileRequest", es2::DownloadProfileRequest;
    Es2EnableProfile: ES2, "EnableProfile", "http://gsma.com/ES2/ProfileManagent/ES2-EnableProfileRequest", es2::ProfileRequest;
    Es2DisableProfile: ES2, "DisableProfile", "http://gsma.com/ES2/ProfileManagent/ES2-DisableProfileRequest", es2::ProfileRequest;
    Es2DeleteProfile: ES2, "DeleteProfile", "http://gsma.com/ES2/ProfileManagent/ES2-DeleteProfileRequest", es2::ProfileRequest;
    Es2UpdatePolicyRules: ES2, "UpdatePolicyRules", "http://gsma.com/ES2/ProfileManagement/ES2-UpdatePolicyRules", es2::UpdatePolicyRulesRequest;
    Es2UpdateSubscriptionAddress: ES2, "UpdateSubscriptionAddress", "http://gsma.com/ES2/ProfileManagent/ES2-UpdateSubscriptionAddressRequest", es2::UpdateSubscriptionAddressRequest;
    Es2HandleProfileEnabledNotification: ES2, "HandleProfileEnabledNotification", "http://gsma.com/ES2/ProfileManagentCallBack/ES2-HandleProfileEnabledNotification", es2::ProfileNotification;
    Es2HandleProfileDisabledNotification: ES2, "HandleProfileDisabledNotification", "http://gsma.com/ES2/ProfileManagentCallBack/ES2-HandleProfileDisabledNotification", es2::ProfileNotification;
    Es2HandleProfileDeletedNotification: ES2, "HandleProfileDeletedNotification", "http://gsma.com/ES2/ProfileManagentCallBack/ES2-HandleProfileDeletedNotification", es2::ProfileNotification;
    Es2HandleProfileDownloadedNotification: ES2, "HandleProfileDownloadedNotification", "http://gsma.com/ES2/ProfileManagentCallBack/ES2-HandleProfileDownloadedNotification", es2::ProfileNotification;
    Es2HandleSmsrChangeNotification: ES2, "HandleSMSRChangeNotification", "http://gsma.com/ES2/ProfileManagentCallBack/ES2-HandleSMSRChangeNotification", es2::SmsrChangeNotification;

    Es3GetEis: ES3, "GetEIS", "http://gsma.com/ES3/ProfileManagent/ES3-GetEISRequest", es3::EidRequest;
    Es3AuditEis: ES3, "AuditEIS", "http://gsma.com/ES3/ProfileManagent/ES3-AuditEIS", es3::AuditEisRequest;
    Es3CreateIsdp: ES3, "CreateISDP", "http://gsma.com/ES3/ProfileManagent/ES3-CreateISDP", es3::CreateIsdpRequest;
    Es3SendData: ES3, "SendData", "http://gsma.com/ES3/ProfileManagent/ES3-SendData", es3::SendDataRequest;
    Es3ProfileDownloadCompleted: ES3, "ProfileDownloadCompleted", "http://gsma.com/ES3/ProfileManagent/ES3-ProfileDownloadCompleted", es3::ProfileDownloadCompletedRequest;
    Es3EnableProfile: ES3, "EnableProfile", "http://gsma.com/ES3/ProfileManagent/ES3-EnableProfile", es3::EidIccidRequest;
    Es3DisableProfile: ES3, "DisableProfile", "http://gsma.com/ES3/ProfileManagent/ES3-DisableProfile", es3::EidIccidRequest;
    Es3DeleteIsdp: ES3, "DeleteISDP", "http://gsma.com/ES3/ProfileManagent/ES3-DeleteISDP", es3::EidIccidRequest;
    Es3UpdatePolicyRules: ES3, "UpdatePolicyRules", "http://gsma.com/ES3/ProfileManagent/ES3-UpdatePolicyRules", es3::UpdatePolicyRulesRequest;
    Es3UpdateConnectivityParameters: ES3, "UpdateConnectivityParameters", "http://gsma.com/ES3/ProfileManagent/ES3-UpdateConnectivityParameters", es3::UpdateConnectivityParametersRequest;
    Es3UpdateSubscriptionAddress: ES3, "UpdateSubscriptionAddress", "http://gsma.com/ES3/ProfileManagent/ES3-UpdateSubscriptionAddress", es3::UpdateSubscriptionAddressRequest;
    Es3GetDeleteToken: ES3, "GetDeleteToken", "http://gsma.com/ES3/ProfileManagentCallBack/ES3-GetDeleteToken", es3::GetDeleteTokenRequest;
    Es3HandleProfileEnabledNotification: ES3, "HandleProfileEnabledNotification", "http://gsma.com/ES3/ProfileManagentCallBack/ES3-HandleProfileEnabledNotification", es2::ProfileNotification;
    Es3HandleProfileDisabledNotification: ES3, "HandleProfileDisabledNotification", "http://gsma.com/ES3/ProfileManagentCallBack/ES3-HandleProfileDisabledNotification", es2::ProfileNotification;
    Es3HandleProfileDeletedNotification: ES3, "HandleProfileDeletedNotification", "http://gsma.com/ES3/ProfileManagentCallBack/ES3-HandleProfileDeletedNotification", es2::ProfileNotification;
    Es3HandleSmsrChangeNotification: ES3, "HandleSMSRChangeNotification", "http://gsma.com/ES3/ProfileManagentCallBack/ES3-HandleSMSRChangeNotification", es2::SmsrChangeNotification;

    Es4GetEis: ES4, "GetEIS", "http://gsma.com/ES4/ProfileManagent/ES4-GetEISRequest", es3::EidRequest;
    Es4AuditEis: ES4, "AuditEIS", "http://gsma.com/ES4/ProfileManagent/ES4-AuditEIS", es3::AuditEisRequest;
    Es4EnableProfile: ES4, "EnableProfile", "http://gsma.com/ES4/ProfileManagent/ES4-EnableProfile", es3::EidIccidRequest;
    Es4DisableProfile: ES4, "DisableProfile", "http://gsma.com/ES4/ProfileManagent/ES4-DisableProfile", es3::EidIccidRequest;
    Es4DeleteProfile: ES4, "DeleteProfile", "http://gsma.com/ES4/ProfileManagent/ES4-DeleteProfile", es3::EidIccidRequest;
    Es4UpdatePolicyRules: ES4, "UpdatePolicyRules", "http://gsma.com/ES4/ProfileManagent/ES4-UpdatePolicyRules", es3::UpdatePolicyRulesRequest;
    Es4SetFallbackAttribute: ES4, "SetFallbackAttribute", "http://gsma.com/ES4/ProfileManagent/ES4-SetFallbackAttribute", es4::SetFallbackAttributeRequest;
    Es4MasterDelete: ES4, "MasterDelete", "http://gsma.com/ES4/ProfileManagent/ES4-MasterDelete", es4::MasterDeleteRequest;
    Es4PrepareSmsrChange: ES4, "PrepareSMSRChange", "http://gsma.com/ES4/eUICCManagement/ES4-PrepareSMSRChange", es4::PrepareSmsrChangeRequest;
    Es4SmsrChange: ES4, "SMSRChange", "http://gsma.com/ES4/eUICCManagement/ES4-SMSRChange", es4::SmsrChangeRequest;
    Es4HandleProfileEnabledNotification: ES4, "HandleProfileEnabledNotification", "http://gsma.com/ES4/ProfileManagentCallBack/ES4-HandleProfileEnabledNotification", es2::ProfileNotification;
    Es4HandleProfileDisabledNotification: ES4, "HandleProfileDisabledNotification", "http://gsma.com/ES4/ProfileManagentCallBack/ES4-HandleProfileDisabledNotification", es2::ProfileNotification;
    Es4HandleProfileDeletedNotification: ES4, "HandleProfileDeletedNotification", "http://gsma.com/ES4/ProfileManagentCallBack/ES4-HandleProfileDeletedNotification", es2::ProfileNotification;
    Es4HandleSmsrChangeNotification: ES4, "HandleSMSRChangeNotification", "http://gsma.com/ES4/eUICCManagementCallBack/ES4-HandleSMSRChangeNotification", es2::SmsrChangeNotification;

    Es7HandoverEuicc: ES7, "HandoverEUICC", "http://gsma.com/ES7/eUICCManagement/ES7-HandoverEUICC", es7::HandoverEuiccRequest;
    Es7AuthenticateSmsr: ES7, "AuthenticateSMSR", "http://gsma.com/ES7/eUICCManagement/ES7-AuthenticateSMSR", es7::AuthenticateSmsrRequest;
    Es7CreateAdditionalKeySet: ES7, "CreateAdditionalKeySet", "http://gsma.com/ES7/eUICCManagement/ES7-CreateAdditionalKeySet", es7::CreateAdditionalKeySetRequest;
}
