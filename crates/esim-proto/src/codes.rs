//! The subject and reason code catalogue of `StatusCodeData`, in one place
//! (digest §2.1; gaps §3). The SGP.02 normative table was NOT found in public
//! material: codes marked FOUND-NJ are used with that meaning by Njiwa
//! (SGP.02 code), FOUND-22 are named in SGP.22 (which copied the SGP.02
//! table, BK), and INFERRED ones are our choice by lineage. Recorded in
//! docs/spec-choices.md.

use crate::common::{FunctionExecutionStatus, Status, StatusCodeData};

/// Subject codes (what the status is about).
pub mod subject {
    /// `1.6`: the function call itself (NJ pairs it with `5.3` "Expired").
    /// FOUND-NJ; meaning INFERRED.
    pub const FUNCTION: &str = "1.6";
    /// `1.3.1`: a request field (SGP.22 usage with `2.2`). FOUND-22.
    pub const REQUEST_FIELD: &str = "1.3.1";
    /// `8.1`: the eUICC. FOUND-22.
    pub const EUICC: &str = "8.1";
    /// `8.1.1`: EID. FOUND-NJ, FOUND-22.
    pub const EID: &str = "8.1.1";
    /// `8.1.2`: EUM certificate. FOUND-22.
    pub const EUM_CERTIFICATE: &str = "8.1.2";
    /// `8.1.3`: eUICC (ECASD) certificate. FOUND-22.
    pub const EUICC_CERTIFICATE: &str = "8.1.3";
    /// `8.2`: Profile. FOUND-22.
    pub const PROFILE: &str = "8.2";
    /// `8.2.1`: Profile ICCID. FOUND-NJ, FOUND-22.
    pub const ICCID: &str = "8.2.1";
    /// `8.2.5`: Profile Type. FOUND-NJ, FOUND-22.
    pub const PROFILE_TYPE: &str = "8.2.5";
    /// `8.3.1`: ISD-P (NJ uses it for ISD-P conditions). FOUND-NJ; meaning INFERRED.
    pub const ISD_P: &str = "8.3.1";
    /// `8.4`: the eUICC's execution of an ES5/ES8 command. FOUND-NJ
    /// (with `4.2`); meaning INFERRED.
    pub const EUICC_EXECUTION: &str = "8.4";
    /// `8.7`: SM-SR. FOUND-NJ; meaning INFERRED.
    pub const SM_SR: &str = "8.7";
    /// `8.8`: SM-DP. INFERRED (SGP.22 uses 8.8 for SM-DP+).
    pub const SM_DP: &str = "8.8";
    /// `8.2.2`: POL2 of a Profile. INFERRED (no public code; chosen inside the
    /// Profile family 8.2).
    pub const POL2: &str = "8.2.2";
    /// `8.2.3`: Fall-back attribute of a Profile. INFERRED.
    pub const FALLBACK_ATTRIBUTE: &str = "8.2.3";
    /// `8.5`: the operator / function requester. INFERRED.
    pub const REQUESTER: &str = "8.5";
}

/// Reason codes (why).
pub mod reason {
    /// `1.1`: unknown / unauthenticated requester. FOUND-NJ (with `8.7`);
    /// meaning INFERRED.
    pub const NOT_AUTHENTICATED: &str = "1.1";
    /// `1.2`: Not Allowed (authorisation). FOUND-NJ, FOUND-22.
    pub const NOT_ALLOWED: &str = "1.2";
    /// `2.2`: Mandatory Element Missing. FOUND-22.
    pub const MANDATORY_ELEMENT_MISSING: &str = "2.2";
    /// `2.1`: Invalid format / value. INFERRED (format family 2.x).
    pub const INVALID_FORMAT: &str = "2.1";
    /// `3.1`: Unsupported. INFERRED from SGP.22 usage.
    pub const UNSUPPORTED: &str = "3.1";
    /// `3.3`: Already in use / conflicting. INFERRED from SGP.22 texts.
    pub const ALREADY_IN_USE: &str = "3.3";
    /// `3.5`: Invalid state transition. INFERRED.
    pub const INVALID_TRANSITION: &str = "3.5";
    /// `3.7`: Unavailable. INFERRED from SGP.22 texts.
    pub const UNAVAILABLE: &str = "3.7";
    /// `3.8`: Refused (e.g. by POL2). FOUND-22.
    pub const REFUSED: &str = "3.8";
    /// `3.9`: Unknown. FOUND-NJ, FOUND-22.
    pub const UNKNOWN: &str = "3.9";
    /// `3.10`: Invalid association. FOUND-22.
    pub const INVALID_ASSOCIATION: &str = "3.10";
    /// `4.2`: Execution error. FOUND-NJ; name INFERRED.
    pub const EXECUTION_ERROR: &str = "4.2";
    /// `4.3`: Stopped on warning. FOUND-22.
    pub const STOPPED_ON_WARNING: &str = "4.3";
    /// `4.8`: Insufficient memory. FOUND-22 (text).
    pub const INSUFFICIENT_MEMORY: &str = "4.8";
    /// `5.1`: Inaccessible (e.g. the eUICC cannot be reached). FOUND-22 (text).
    pub const INACCESSIBLE: &str = "5.1";
    /// `5.3`: Expired (transaction). FOUND-NJ (with `1.6`).
    pub const EXPIRED: &str = "5.3";
    /// `6.1`: Verification failed (signature, certificate). FOUND-22.
    pub const VERIFICATION_FAILED: &str = "6.1";
    /// `6.3`: Expired (certificate). FOUND-22.
    pub const CERTIFICATE_EXPIRED: &str = "6.3";
}

impl FunctionExecutionStatus {
    /// `Executed-Success` without code data.
    pub fn success() -> Self {
        Self {
            status: Status::ExecutedSuccess,
            status_code_data: None,
        }
    }

    fn with(
        status: Status,
        subject: &str,
        reason: &str,
        subject_identifier: Option<&str>,
        message: &str,
    ) -> Self {
        Self {
            status,
            status_code_data: Some(StatusCodeData {
                subject_code: subject.to_owned(),
                reason_code: reason.to_owned(),
                subject_identifier: subject_identifier.map(str::to_owned),
                message: (!message.is_empty()).then(|| message.to_owned()),
            }),
        }
    }

    /// `Failed` with subject and reason codes and a message.
    pub fn failed(subject: &str, reason: &str, message: &str) -> Self {
        Self::with(Status::Failed, subject, reason, None, message)
    }

    /// `Failed` naming the concerned identifier (`SubjectIdentifier`).
    pub fn failed_for(subject: &str, reason: &str, identifier: &str, message: &str) -> Self {
        Self::with(Status::Failed, subject, reason, Some(identifier), message)
    }

    /// `Executed-WithWarning` with codes and a message.
    pub fn warning(subject: &str, reason: &str, message: &str) -> Self {
        Self::with(Status::ExecutedWithWarning, subject, reason, None, message)
    }

    /// `Expired`: subject `1.6`, reason `5.3` (as NJ reports it).
    pub fn expired(message: &str) -> Self {
        Self::with(
            Status::Expired,
            subject::FUNCTION,
            reason::EXPIRED,
            None,
            message,
        )
    }

    /// Whether the function executed (with or without warning).
    pub fn is_executed(&self) -> bool {
        matches!(
            self.status,
            Status::ExecutedSuccess | Status::ExecutedWithWarning
        )
    }
}
