//! The GP Amd B HTTP administration protocol, sans-I/O (GlobalPlatform Card Specification v2.3
//! Amendment B "Remote Application Management over HTTP"; digest §5.3, sgp02-gaps §7):
//!
//! - [`http`]: the card's `POST` and the server's `200`/`204` with their `X-Admin-*` headers;
//! - [`psk_identity`]: the SGP.02 §2.4.4.1 PSK-TLS identity (text and binary form, parser);
//! - [`trigger`]: the administration session triggering parameters (`81` TLV);
//! - [`session`]: the session as typestates on both ends.

pub mod http;
pub mod psk_identity;
pub mod session;
pub mod trigger;

pub use http::{
    ADMIN_PROTOCOL, AdminFrom, CONTENT_TYPE_RESPONSE, CONTENT_TYPE_SCRIPT, CardContent,
    CardRequest, HeaderFields, ScriptStatus, ServerResponse,
};
pub use psk_identity::PskIdentity;
pub use session::{
    AdminStep, CardAwaitingScript, CardHasScript, CardNext, CardPost, CardSessionParams,
    ServerAwaitingPost, ServerHasPost, ServerNext, SessionEnded,
};
pub use trigger::{
    AdminSessionParams, AdminSessionTrigger, DnsResolutionParams, HttpPostParams, RetryPolicy,
    SecurityParams,
};

use esim_codec::ber::DecodeError;

/// Longest header value quoted back in an error.
const QUOTE_MAX: usize = 80;

/// An administration-protocol message or state transition that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// A mandatory header is absent (server side: answered with `400`).
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A protocol header appears more than once.
    #[error("header {0} appears more than once")]
    DuplicateHeader(&'static str),
    /// A header value is malformed.
    #[error("header {name}: {reason} (value {value:?})")]
    BadHeader {
        /// Header name.
        name: String,
        /// The value (shortened to 80 characters).
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A request method other than `POST` (server answers `405`).
    #[error("method {0} not allowed, the admin protocol uses POST")]
    Method(String),
    /// A response status other than `200` or `204`.
    #[error("unexpected HTTP status {0} (expected 200 or 204)")]
    Status(u16),
    /// A `204` response with a body.
    #[error("204 response with a {0}-byte body")]
    UnexpectedBody(usize),
    /// A `POST` to another URI than the admin URI or the last `X-Admin-Next-URI` (`404`).
    #[error("POST to {got}, expected {expected}")]
    WrongUri {
        /// The URI the server expected.
        expected: String,
        /// The URI posted to (shortened).
        got: String,
    },
    /// `X-Admin-From` names another eUICC than the PSK-TLS identity (`403`).
    #[error("X-Admin-From EID {header} differs from the PSK identity EID {psk}")]
    IdentityMismatch {
        /// EID in the header.
        header: String,
        /// EID of the TLS identity.
        psk: String,
    },
    /// The bound on HTTP exchanges per session was reached.
    #[error("more than {0} HTTP exchanges in one session")]
    TooManyExchanges(u32),
    /// A malformed PSK identity (offsets are into its binary form).
    #[error("PSK identity: {0}")]
    PskIdentity(DecodeError),
    /// A malformed administration session trigger (`81` TLV).
    #[error("admin session trigger: {0}")]
    Trigger(DecodeError),
}

impl AdminError {
    /// A [`AdminError::BadHeader`], quoting at most 80 characters of the value.
    pub fn bad_header(name: &str, value: &str, reason: impl Into<String>) -> Self {
        AdminError::BadHeader {
            name: name.to_string(),
            value: value.chars().take(QUOTE_MAX).collect(),
            reason: reason.into(),
        }
    }

    /// The HTTP status a server answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            AdminError::Method(_) => 405,
            AdminError::WrongUri { .. } => 404,
            AdminError::IdentityMismatch { .. } => 403,
            AdminError::TooManyExchanges(_) => 429,
            _ => 400,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use esim_codec::ids::{Aid, Eid, Tar};

    fn eid() -> Eid {
        Eid::from_body("890490320000000000000000000000").expect("eid")
    }

    fn fields(pairs: &[(&str, &str)]) -> HeaderFields {
        HeaderFields::from_pairs(pairs.iter().map(|(n, v)| (*n, v.as_bytes()))).expect("fields")
    }

    #[test]
    fn x_admin_from_format_and_parse() {
        let f = AdminFrom::isd_r(eid());
        let s = f.to_string();
        assert_eq!(
            s,
            "//se-id/eid/89049032000000000000000000000066;//aa-id/aid/A000000559/1010FFFFFFFF8900000100"
        );
        assert_eq!(s.parse::<AdminFrom>().expect("parse"), f);
        assert_eq!(
            s.to_ascii_lowercase().parse::<AdminFrom>().expect("lower"),
            f
        );
        for bad in [
            "",
            "//se-id/eid/89049032000000000000000000000066",
            "//se-id/eid/89049032000000000000000000000067;//aa-id/aid/A000000559/10",
            "//se-id/iccid/1;//aa-id/aid/A000000559/10",
            "//se-id/eid/89049032000000000000000000000066;//aa-id/aid/A0000005/5910",
            "//se-id/eid/89049032000000000000000000000066;//aa-id/aid/A000000559/1+",
            "//se-id/eid/89049032000000000000000000000066;//aa-id/aid/A000000559",
        ] {
            assert!(bad.parse::<AdminFrom>().is_err(), "{bad}");
        }
    }

    #[test]
    fn targeted_application() {
        let aid = Aid::isd_p(Tar([0x00, 0x00, 0x10]));
        let s = http::format_targeted_application(&aid);
        assert_eq!(s, "//aid/A000000559/1010FFFFFFFF8900001000");
        assert_eq!(http::parse_targeted_application(&s).expect("parse"), aid);
        assert!(http::parse_targeted_application("/aid/A000000559/10").is_err());
    }

    #[test]
    fn card_request_headers_are_the_gp_amd_b_set() {
        let r = CardRequest {
            path: "/admin/1".into(),
            notification: None,
            host: "smsr.example".into(),
            from: AdminFrom::isd_r(eid()),
            resume: false,
            content: CardContent::Result {
                status: ScriptStatus::SecurityError,
                body: Bytes::from_static(&[0xAB, 0x00]),
            },
        };
        let h = r.header_fields();
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(
            get("X-Admin-Protocol"),
            Some("globalplatform-remote-admin/1.0")
        );
        assert_eq!(
            get("Content-Type"),
            Some("application/vnd.globalplatform.card-content-mgt-response;version=1.0")
        );
        assert_eq!(get("X-Admin-Script-Status"), Some("security-error"));
        assert_eq!(get("X-Admin-Resume"), None);
        assert_eq!(get("Host"), Some("smsr.example"));
    }

    #[test]
    fn card_request_parse_errors() {
        let from = AdminFrom::isd_r(eid()).to_string();
        let base = [
            ("host", "h"),
            ("x-admin-protocol", ADMIN_PROTOCOL),
            ("x-admin-from", from.as_str()),
        ];
        assert!(CardRequest::parse("POST", "/a", &fields(&base), Bytes::new()).is_ok());
        assert!(matches!(
            CardRequest::parse("GET", "/a", &fields(&base), Bytes::new()),
            Err(AdminError::Method(_))
        ));
        assert!(matches!(
            CardRequest::parse("POST", "/a", &fields(&base[..2]), Bytes::new()),
            Err(AdminError::MissingHeader("X-Admin-From"))
        ));
        // body without a script status
        assert!(matches!(
            CardRequest::parse("POST", "/a", &fields(&base), Bytes::from_static(b"x")),
            Err(AdminError::MissingHeader("X-Admin-Script-Status"))
        ));
        let mut with_status = base.to_vec();
        with_status.push(("X-Admin-Script-Status", "weird"));
        assert!(CardRequest::parse("POST", "/a", &fields(&with_status), Bytes::new()).is_err());
        let mut wrong_ct = base.to_vec();
        wrong_ct.push(("X-Admin-Script-Status", "ok"));
        wrong_ct.push(("Content-Type", "text/plain"));
        assert!(
            CardRequest::parse("POST", "/a", &fields(&wrong_ct), Bytes::from_static(b"x")).is_err()
        );
        let mut dup = base.to_vec();
        dup.push(("X-Admin-Protocol", ADMIN_PROTOCOL));
        assert!(matches!(
            CardRequest::parse("POST", "/a", &fields(&dup), Bytes::new()),
            Err(AdminError::DuplicateHeader(_))
        ));
        assert!(CardRequest::parse("POST", "a", &fields(&base), Bytes::new()).is_err());
        let ct_spaced = [
            ("X-Admin-Script-Status", "OK"),
            (
                "content-type",
                "Application/vnd.globalplatform.card-content-mgt-response; version=1.0",
            ),
        ];
        let mut spaced = base.to_vec();
        spaced.extend_from_slice(&ct_spaced);
        let r = CardRequest::parse("POST", "/a", &fields(&spaced), Bytes::from_static(b"x"))
            .expect("lenient media type");
        assert_eq!(
            r.content,
            CardContent::Result {
                status: ScriptStatus::Ok,
                body: Bytes::from_static(b"x")
            }
        );
    }

    #[test]
    fn server_response_parse() {
        let ok = [
            ("Content-Type", CONTENT_TYPE_SCRIPT),
            ("X-Admin-Next-URI", "/n"),
            (
                "X-Admin-Targeted-Application",
                "//aid/A000000559/1010FFFFFFFF8900001000",
            ),
        ];
        let r = ServerResponse::parse(200, &fields(&ok), Bytes::from_static(b"s")).expect("200");
        assert!(matches!(
            r,
            ServerResponse::Script {
                targeted: Some(_),
                ..
            }
        ));
        assert!(matches!(
            ServerResponse::parse(200, &fields(&ok[..1]), Bytes::new()),
            Err(AdminError::MissingHeader("X-Admin-Next-URI"))
        ));
        assert!(matches!(
            ServerResponse::parse(500, &fields(&ok), Bytes::new()),
            Err(AdminError::Status(500))
        ));
        assert!(matches!(
            ServerResponse::parse(204, &fields(&[]), Bytes::from_static(b"x")),
            Err(AdminError::UnexpectedBody(1))
        ));
        let end = ServerResponse::parse(204, &fields(&[]), Bytes::new()).expect("204");
        assert!(end.ends_session());
        let poll = ServerResponse::parse(204, &fields(&ok[1..2]), Bytes::new()).expect("204+uri");
        assert!(!poll.ends_session());
        assert!(
            ServerResponse::parse(
                200,
                &fields(&[("Content-Type", "text/html"), ("X-Admin-Next-URI", "/n")]),
                Bytes::new()
            )
            .is_err()
        );
        assert!(
            ServerResponse::parse(
                204,
                &fields(&[("X-Admin-Next-URI", "http://x/")]),
                Bytes::new()
            )
            .is_err()
        );
    }

    #[test]
    fn non_ascii_header_values_are_errors() {
        let e = HeaderFields::from_pairs([("X-Admin-From", &[0xC3u8, 0xA9][..])]);
        assert!(e.is_err());
        let long = "x".repeat(1000);
        let e = AdminError::bad_header("H", &long, "r");
        assert!(e.to_string().len() < 200);
    }

    #[test]
    fn msg_query_parameter() {
        use http::split_target;
        let ok = |t: &str| split_target(t).expect(t);
        assert_eq!(ok("/a"), ("/a".to_string(), None));
        assert_eq!(
            ok("/a?msg=E1004e"),
            ("/a".to_string(), Some(vec![0xE1, 0x00, 0x4E]))
        );
        assert_eq!(ok("/a?x=1&msg=01"), ("/a?x=1".to_string(), Some(vec![1])));
        assert_eq!(ok("/a?x=1"), ("/a?x=1".to_string(), None));
        assert_eq!(ok("/a?msgx=1"), ("/a?msgx=1".to_string(), None));
        let max = format!("/a?msg={}", "00".repeat(http::MAX_NOTIFICATION_LEN));
        assert_eq!(
            ok(&max).1.map(|n| n.len()),
            Some(http::MAX_NOTIFICATION_LEN)
        );
        let over = format!("/a?msg={}", "00".repeat(http::MAX_NOTIFICATION_LEN + 1));
        for bad in [
            "/a?msg=",
            "/a?msg",
            "/a?msg=E",
            "/a?msg=G0",
            "/a?msg=%41%42",
            "/a?msg=+0",
            "/a?msg=01&x=1",
            "/a?msg=01&msg=02",
            over.as_str(),
        ] {
            let e = split_target(bad).expect_err(bad);
            assert_eq!(e.http_status(), 400, "{bad}");
        }
        // Through the request parser: the notification is typed, the path is bare.
        let from = AdminFrom::isd_r(eid()).to_string();
        let base = [
            ("host", "h"),
            ("x-admin-protocol", ADMIN_PROTOCOL),
            ("x-admin-from", from.as_str()),
        ];
        let r =
            CardRequest::parse("POST", "/a?msg=E100", &fields(&base), Bytes::new()).expect("parse");
        assert_eq!(r.path, "/a");
        assert_eq!(r.notification, Some(vec![0xE1, 0x00]));
        assert_eq!(r.target(), "/a?msg=E100");
        assert!(CardRequest::parse("POST", "/a?msg=E1G0", &fields(&base), Bytes::new()).is_err());
    }
}
