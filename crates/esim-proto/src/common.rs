//! Common header fields of every SGP.02 off-card function (digest §2.1):
//! the request header (`FunctionRequesterIdentifier`, `FunctionCallIdentifier`,
//! `ValidityPeriod`), the response header (`ProcessingStart`, `ProcessingEnd`,
//! `AcceptableValidityPeriod`, `FunctionExecutionStatus`) and the envelopes
//! [`Request`] / [`Response`] that pair a header with a function body.
//!
//! No clock is read here: timestamps are passed in by the caller.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Errors of the protocol message layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// A message body did not decode (JSON syntax, a missing or unknown field,
    /// or a field value that failed validation, e.g. an EID check digit).
    /// The text names the field or identifier and the JSON line/column.
    #[error("{function}: {detail}")]
    Decode {
        /// The function whose message was being decoded.
        function: &'static str,
        /// What is wrong and where.
        detail: String,
    },
    /// An Action URI that names no known function (digest §2.1).
    #[error("unknown action {0:?}")]
    UnknownAction(String),
    /// A header field with an invalid value.
    #[error("{field}: {reason}")]
    Field {
        /// SGP.02 field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Longest `FunctionCallIdentifier` accepted (an INFERRED bound; SGP.02 gives
/// the field as a string).
pub const MAX_CALL_ID_LEN: usize = 256;

/// `FunctionCallIdentifier` (digest §2.1): the caller's identifier of one
/// function call, used to answer a repeated request instead of re-executing
/// it. Non-empty, printable ASCII, at most [`MAX_CALL_ID_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct FunctionCallIdentifier(String);

impl FunctionCallIdentifier {
    /// Validates a call identifier.
    pub fn new(s: &str) -> Result<Self, ProtoError> {
        if s.is_empty() || s.len() > MAX_CALL_ID_LEN {
            return Err(ProtoError::Field {
                field: "FunctionCallIdentifier",
                reason: format!("length {} outside 1..={MAX_CALL_ID_LEN}", s.len()),
            });
        }
        if let Some((position, c)) = s
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_graphic() || *c == ' '))
        {
            return Err(ProtoError::Field {
                field: "FunctionCallIdentifier",
                reason: format!("invalid character {c:?} at position {position}"),
            });
        }
        Ok(Self(s.to_owned()))
    }

    /// The identifier text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FunctionCallIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FunctionCallIdentifier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

/// `ValidityPeriod` in seconds (digest §2.1): how long the caller waits for
/// the function to complete; after it the function ends `Expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct ValidityPeriod(pub u32);

impl ValidityPeriod {
    /// The period in seconds.
    pub fn seconds(self) -> u32 {
        self.0
    }
}

/// An xs:dateTime value (RFC 3339, e.g. `2026-11-25T22:43:35Z`) supplied by
/// the caller (no clock in this crate). Checked for the RFC 3339 shape
/// `YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)`; calendar ranges are checked
/// (month 1–12, day 1–31, hour 0–23, minute/second 0–59/60).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// Validates an RFC 3339 timestamp.
    pub fn parse(s: &str) -> Result<Self, ProtoError> {
        let err = |reason: String| ProtoError::Field {
            field: "Timestamp",
            reason,
        };
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(err(format!("{s:?} is too short for RFC 3339")));
        }
        let shape = b"dddd-dd-ddTdd:dd:dd";
        for (i, (&c, &want)) in b.iter().zip(shape.iter()).enumerate() {
            let ok = match want {
                b'd' => c.is_ascii_digit(),
                b'T' => c == b'T' || c == b't',
                other => c == other,
            };
            if !ok {
                return Err(err(format!("unexpected {:?} at position {i}", c as char)));
            }
        }
        let num = |a: usize, z: usize| -> u32 {
            b.get(a..z)
                .unwrap_or_default()
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d.wrapping_sub(b'0')))
        };
        let (mo, d, h, mi, se) = (num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19));
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
            return Err(err(format!("{s:?} has a field out of range")));
        }
        let mut rest = b.get(19..).unwrap_or_default();
        if let Some(frac) = rest.strip_prefix(b".") {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return Err(err("empty fraction at position 20".into()));
            }
            rest = frac.get(n..).unwrap_or_default();
        }
        let zone_ok = match rest {
            b"Z" | b"z" => true,
            [sign, h1, h2, b':', m1, m2] => {
                (*sign == b'+' || *sign == b'-')
                    && [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
            }
            _ => false,
        };
        if !zone_ok {
            return Err(err(format!("{s:?} has no valid time zone (Z or ±hh:mm)")));
        }
        Ok(Self(s.to_owned()))
    }

    /// The UTC instant `ms` milliseconds after the Unix epoch (negative values clamp to the
    /// epoch), as `YYYY-MM-DDThh:mm:ss.fffZ`. A pure conversion: the caller reads the clock.
    pub fn from_unix_millis(ms: i64) -> Self {
        let ms = ms.max(0);
        let secs = ms / 1000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
        // Civil date from days since 1970-01-01 (H. Hinnant, "chrono-Compatible Low-Level
        // Date Algorithms").
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        Self(format!(
            "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
            ms % 1000
        ))
    }

    /// The timestamp text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Binary payload carried as hex text (e.g. `SendData.Data`,
/// `EuiccResponseData`). Serializes as upper-case hex; deserializes strictly
/// (no separators) and reports the offending character position.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct HexBytes(pub Vec<u8>);

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexBytes({})", esim_codec::hex::encode_upper(&self.0))
    }
}

impl HexBytes {
    /// Strict hex decoding: an even number of `0-9a-fA-F` characters.
    pub fn from_hex(s: &str) -> Result<Self, ProtoError> {
        let err = |reason: String| ProtoError::Field {
            field: "hex",
            reason,
        };
        let b = s.as_bytes();
        if let Some(position) = b.iter().position(|c| !c.is_ascii_hexdigit()) {
            let found = s.get(position..).and_then(|r| r.chars().next());
            return Err(err(format!(
                "invalid hex character {found:?} at position {position}"
            )));
        }
        if b.len() % 2 != 0 {
            return Err(err(format!("odd number of hex digits ({})", b.len())));
        }
        let val = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
        Ok(Self(
            b.chunks_exact(2)
                .map(|p| match p {
                    [h, l] => (val(*h) << 4) | val(*l),
                    _ => 0,
                })
                .collect(),
        ))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for HexBytes {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("HexBytes")
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9A-Fa-f]{2})*$",
            "description": "bytes as hex text (upper case when sent)",
        })
    }
}

impl Serialize for HexBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&esim_codec::hex::encode_upper(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Request header (digest §2.1 common request header fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RequestHeader {
    /// `FunctionRequesterIdentifier`: the calling entity (MNO id, SM-DP id,
    /// SM-SR id or EUM id).
    #[serde(rename = "FunctionRequesterIdentifier")]
    pub function_requester_identifier: String,
    /// `FunctionCallIdentifier`.
    #[serde(rename = "FunctionCallIdentifier")]
    pub function_call_identifier: FunctionCallIdentifier,
    /// `ValidityPeriod` (seconds); absent = the receiver's default.
    #[serde(
        rename = "ValidityPeriod",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub validity_period: Option<ValidityPeriod>,
    /// WS-Addressing `MessageID`, when the binding carries one.
    #[serde(rename = "MessageID", default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// WS-Addressing `RelatesTo`, for asynchronous replies.
    #[serde(rename = "RelatesTo", default, skip_serializing_if = "Option::is_none")]
    pub relates_to: Option<String>,
}

/// `FunctionExecutionStatus.Status` (digest §2.1). Serialized exactly as
/// `Executed-Success`, `Executed-WithWarning`, `Failed`, `Expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Status {
    /// The function completed.
    #[serde(rename = "Executed-Success")]
    ExecutedSuccess,
    /// The function completed with a warning (see `StatusCodeData`).
    #[serde(rename = "Executed-WithWarning")]
    ExecutedWithWarning,
    /// The function failed (see `StatusCodeData`).
    #[serde(rename = "Failed")]
    Failed,
    /// The `ValidityPeriod` ran out before completion.
    #[serde(rename = "Expired")]
    Expired,
}

/// `StatusCodeData` (digest §2.1): subject and reason codes (dotted strings,
/// see [`crate::codes`]), the subject's identifier and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusCodeData {
    /// `Subject` code, e.g. `8.1.1` (EID).
    #[serde(rename = "Subject")]
    pub subject_code: String,
    /// `Reason` code, e.g. `3.9` (Unknown).
    #[serde(rename = "Reason")]
    pub reason_code: String,
    /// `SubjectIdentifier`: the concerned value (an EID, ICCID, …).
    #[serde(
        rename = "SubjectIdentifier",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subject_identifier: Option<String>,
    /// `Message`: human-readable text.
    #[serde(rename = "Message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `FunctionExecutionStatus` (digest §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FunctionExecutionStatus {
    /// `Status`.
    #[serde(rename = "Status")]
    pub status: Status,
    /// `StatusCodeData`, present for warnings, failures and expiry.
    #[serde(
        rename = "StatusCodeData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status_code_data: Option<StatusCodeData>,
}

/// Response header (digest §2.1 common response header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ResponseHeader {
    /// `ProcessingStart` (xs:dateTime).
    #[serde(rename = "ProcessingStart")]
    pub processing_start: Timestamp,
    /// `ProcessingEnd` (xs:dateTime).
    #[serde(rename = "ProcessingEnd")]
    pub processing_end: Timestamp,
    /// `AcceptableValidityPeriod` (seconds), when the receiver shortened or
    /// lengthened the requested one.
    #[serde(
        rename = "AcceptableValidityPeriod",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub acceptable_validity_period: Option<ValidityPeriod>,
    /// `FunctionExecutionStatus`.
    #[serde(rename = "FunctionExecutionStatus")]
    pub function_execution_status: FunctionExecutionStatus,
}

/// A request: header plus the function's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Request<B> {
    /// The common request header.
    #[serde(rename = "Header")]
    pub header: RequestHeader,
    /// The function's input.
    #[serde(rename = "Body")]
    pub body: B,
}

/// A response: header plus the function's output (absent unless the status
/// is `Executed-Success` or `Executed-WithWarning`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Response<B> {
    /// The common response header.
    #[serde(rename = "Header")]
    pub header: ResponseHeader,
    /// The function's output.
    #[serde(rename = "Body", skip_serializing_if = "Option::is_none")]
    pub body: Option<B>,
}

/// A function without output data (the response carries only the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Empty {}
