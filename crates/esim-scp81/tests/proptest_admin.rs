//! Property tests of the sans-I/O admin protocol: round trips and no panics on arbitrary input.

use bytes::Bytes;
use esim_codec::ids::{Aid, Eid};
use esim_scp81::admin::{
    AdminFrom, AdminSessionParams, AdminSessionTrigger, CardContent, CardRequest,
    DnsResolutionParams, HeaderFields, HttpPostParams, PskIdentity, RetryPolicy, ScriptStatus,
    SecurityParams, ServerResponse, http,
};
use proptest::prelude::*;

fn eid() -> impl Strategy<Value = Eid> {
    "89[0-9]{28}".prop_map(|b| Eid::from_body(&b).expect("valid body"))
}

fn aid() -> impl Strategy<Value = Aid> {
    proptest::collection::vec(any::<u8>(), 5..=16).prop_map(|v| Aid::new(&v).expect("aid"))
}

fn uri() -> impl Strategy<Value = String> {
    "/[a-zA-Z0-9/._~?=&%-]{0,40}"
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn status() -> impl Strategy<Value = ScriptStatus> {
    proptest::sample::select(ScriptStatus::ALL.to_vec())
}

/// Whether a URI carries a `msg` query parameter (which `CardRequest::parse` splits off).
fn has_msg(uri: &str) -> bool {
    uri.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|p| p.split_once('=').map_or(p, |(n, _)| n) == "msg")
    })
}

fn card_request() -> impl Strategy<Value = CardRequest> {
    (
        uri().prop_filter("no msg parameter in the path", |u| !has_msg(u)),
        proptest::option::of(proptest::collection::vec(
            any::<u8>(),
            1..=http::MAX_NOTIFICATION_LEN,
        )),
        "[a-z0-9.-]{1,30}(:[0-9]{1,5})?",
        eid(),
        aid(),
        any::<bool>(),
        proptest::option::of((status(), bytes(64))),
    )
        .prop_map(
            |(path, notification, host, eid, agent, resume, content)| CardRequest {
                path,
                notification,
                host,
                from: AdminFrom { eid, agent },
                resume,
                content: match content {
                    None => CardContent::Open,
                    Some((status, body)) => CardContent::Result { status, body },
                },
            },
        )
}

fn server_response() -> impl Strategy<Value = ServerResponse> {
    prop_oneof![
        (uri(), proptest::option::of(aid()), bytes(64)).prop_map(|(next_uri, targeted, script)| {
            ServerResponse::Script {
                next_uri,
                targeted,
                script,
            }
        }),
        proptest::option::of(uri()).prop_map(|next_uri| ServerResponse::NoContent { next_uri }),
    ]
}

fn utf8() -> impl Strategy<Value = String> {
    "\\PC{0,20}"
}

fn trigger() -> impl Strategy<Value = AdminSessionTrigger> {
    let security = (
        bytes(255),
        any::<u8>(),
        any::<u8>(),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(|(id, kvn, kid, sha)| SecurityParams::new(id, kvn, kid, sha).expect("<=255"));
    let retry =
        (any::<u16>(), any::<[u8; 5]>(), bytes(8)).prop_map(|(counter, d, r)| RetryPolicy {
            counter,
            waiting_delay: d,
            failure_report: r,
        });
    let http_post = (
        proptest::option::of(utf8()),
        proptest::option::of(utf8()),
        proptest::option::of(utf8()),
    )
        .prop_map(|(host, agent_id, uri)| HttpPostParams {
            host,
            agent_id,
            uri,
        });
    let session = (
        proptest::option::of(bytes(20)),
        proptest::option::of(security),
        proptest::option::of(bytes(10)),
        proptest::option::of(retry),
        proptest::option::of(http_post),
    )
        .prop_map(
            |(connection, security, extended_security, retry, http_post)| AdminSessionParams {
                connection,
                security,
                extended_security,
                retry,
                http_post,
            },
        );
    let dns = (
        proptest::option::of(bytes(20)),
        proptest::option::of(bytes(20)),
    )
        .prop_map(|(fqdn, connection)| DnsResolutionParams { fqdn, connection });
    (proptest::option::of(session), proptest::option::of(dns))
        .prop_map(|(session, dns)| AdminSessionTrigger { session, dns })
}

fn to_fields(pairs: Vec<(&'static str, String)>) -> HeaderFields {
    HeaderFields::from_pairs(pairs.iter().map(|(n, v)| (*n, v.as_bytes()))).expect("fields")
}

const NAMES: [&str; 9] = [
    "Host",
    "Content-Type",
    "X-Admin-Protocol",
    "X-Admin-From",
    "X-Admin-Script-Status",
    "X-Admin-Resume",
    "X-Admin-Next-URI",
    "X-Admin-Targeted-Application",
    "Other",
];

fn arbitrary_headers() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    proptest::collection::vec(
        (
            proptest::sample::select(NAMES.to_vec()),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..80),
                "[ -~]{0,80}".prop_map(String::into_bytes),
            ],
        ),
        0..10,
    )
}

proptest! {
    #[test]
    fn psk_identity_round_trip(eid in eid(), kvn in any::<u8>(), kid in any::<u8>()) {
        let id = PskIdentity::new(eid, kvn, kid);
        prop_assert_eq!(PskIdentity::parse_wire(id.to_wire().as_bytes()).expect("wire"), id.clone());
        prop_assert_eq!(PskIdentity::parse_binary(&id.to_binary()).expect("bin"), id);
    }

    #[test]
    fn psk_identity_never_panics(data in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = PskIdentity::parse_wire(&data);
        let _ = PskIdentity::parse_binary(&data);
    }

    #[test]
    fn trigger_round_trip(t in trigger()) {
        let b = t.encode();
        prop_assert_eq!(AdminSessionTrigger::decode(&b).expect("decode"), t);
    }

    #[test]
    fn trigger_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = AdminSessionTrigger::decode(&data);
        let mut framed = vec![0x81, data.len().min(127) as u8];
        framed.extend_from_slice(&data[..data.len().min(127)]);
        let _ = AdminSessionTrigger::decode(&framed);
    }

    #[test]
    fn card_request_round_trip(r in card_request()) {
        let h = to_fields(r.header_fields());
        let back = CardRequest::parse("POST", &r.target(), &h, r.body()).expect("parse");
        prop_assert_eq!(back, r);
    }

    #[test]
    fn server_response_round_trip(r in server_response()) {
        let h = to_fields(r.header_fields());
        let back = ServerResponse::parse(r.status(), &h, r.body()).expect("parse");
        prop_assert_eq!(back, r);
    }

    #[test]
    fn header_parsers_never_panic(
        headers in arbitrary_headers(),
        path in "\\PC{0,30}",
        method in "[A-Z]{0,6}",
        code in any::<u16>(),
        body in bytes(16),
        text in "\\PC{0,120}",
    ) {
        if let Ok(h) = HeaderFields::from_pairs(headers.iter().map(|(n, v)| (*n, v.as_slice()))) {
            let _ = CardRequest::parse(&method, &path, &h, body.clone());
            let _ = ServerResponse::parse(code, &h, body);
        }
        let _ = text.parse::<AdminFrom>();
        let _ = text.parse::<ScriptStatus>();
        let _ = http::parse_targeted_application(&text);
        let _ = http::check_uri("x", &text);
        let _ = http::split_target(&text);
        let _ = http::split_target(&format!("/a?{text}"));
    }

    #[test]
    fn msg_target_round_trip(
        path in uri().prop_filter("no msg parameter", |u| !has_msg(u)),
        n in proptest::collection::vec(any::<u8>(), 1..=http::MAX_NOTIFICATION_LEN),
    ) {
        let target = format!(
            "{path}{}msg={}",
            if path.contains('?') { '&' } else { '?' },
            esim_codec::hex::encode(&n)
        );
        prop_assert_eq!(http::split_target(&target).expect("split"), (path.clone(), Some(n)));
        prop_assert_eq!(http::split_target(&path).expect("plain"), (path, None));
    }

    #[test]
    fn msg_parameter_never_panics(q in "[a-zA-Z0-9=&%+]{0,80}", v in "\\PC{0,40}") {
        let _ = http::split_target(&format!("/a?msg={q}"));
        let _ = http::split_target(&format!("/a?{q}&msg={v}"));
    }

    #[test]
    fn admin_from_round_trip(eid in eid(), agent in aid()) {
        let f = AdminFrom { eid, agent };
        prop_assert_eq!(f.to_string().parse::<AdminFrom>().expect("parse"), f);
    }
}
