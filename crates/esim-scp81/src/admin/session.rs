//! The administration session as typestates (GP Amd B §3.5 "administration session"; digest
//! §5.3 steps 1–4), for both ends, with no I/O.
//!
//! Card side:
//!
//! ```text
//! CardAwaitingScript::open ──POST (Open)──▶ server
//! CardAwaitingScript::handle(200 + script) ─▶ CardHasScript { targeted, script }
//! CardHasScript::respond(status, body)     ─▶ POST (Result) + CardAwaitingScript
//! CardAwaitingScript::handle(204 + next)   ─▶ POST (Open) to next URI + CardAwaitingScript
//! CardAwaitingScript::handle(204)          ─▶ SessionEnded
//! ```
//!
//! Server side:
//!
//! ```text
//! ServerAwaitingPost::new(identity, admin URI)
//! ServerAwaitingPost::handle(POST)   ─▶ ServerHasPost { post }
//! ServerHasPost::reply(AdminStep)    ─▶ response + ServerAwaitingPost | SessionEnded
//! ```
//!
//! Both ends bound the number of HTTP exchanges.

use bytes::Bytes;
use esim_codec::ids::Aid;

use super::http::{
    CardContent, CardRequest, MAX_NOTIFICATION_LEN, ServerResponse, check_uri, header, split_target,
};
use super::{AdminError, AdminFrom, PskIdentity, ScriptStatus};

/// Default bound on HTTP exchanges (`POST` + response) in one session.
pub const DEFAULT_MAX_EXCHANGES: u32 = 64;

/// A finished session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionEnded {
    /// HTTP exchanges made.
    pub exchanges: u32,
    /// Scripts delivered by the server (`200` responses).
    pub scripts: u32,
}

/// Parameters of a card-side session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSessionParams {
    /// `Host` header (trigger `8A`, or the server name).
    pub host: String,
    /// Target of the first `POST` (trigger `8C`).
    pub admin_uri: String,
    /// `X-Admin-From`.
    pub from: AdminFrom,
    /// Send `X-Admin-Resume: true` on the first `POST` (GP Amd B §3.3.4).
    pub resume: bool,
    /// Bound on HTTP exchanges.
    pub max_exchanges: u32,
    /// A notification (`E1` TLV) to post with the first `POST` as `?msg=<hex>` (SGP.02
    /// default notification transport over HTTPS, digest §3.3).
    pub notification: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CardCommon {
    host: String,
    from: AdminFrom,
    max_exchanges: u32,
    exchanges: u32,
    scripts: u32,
}

impl CardCommon {
    fn request(&self, path: String, content: CardContent, resume: bool) -> CardRequest {
        CardRequest {
            path,
            notification: None,
            host: self.host.clone(),
            from: self.from.clone(),
            resume,
            content,
        }
    }
}

/// The card has sent a `POST` and waits for the server's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardAwaitingScript {
    common: CardCommon,
}

/// What follows a server response on the card side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardNext {
    /// `200`: a script to execute.
    Script(CardHasScript),
    /// `204` with a next URI: post this (no result) and wait again.
    Poll(CardRequest, CardAwaitingScript),
    /// `204` without a next URI: the session is over.
    Ended(SessionEnded),
}

impl CardAwaitingScript {
    /// Starts a session: the first `POST` to the admin URI (GP Amd B §3.5.1), carrying the
    /// notification if there is one (digest §3.3). The admin URI must not itself carry a `msg`
    /// parameter, and the notification must be 1 to [`MAX_NOTIFICATION_LEN`] bytes.
    pub fn open(params: CardSessionParams) -> Result<(CardRequest, Self), AdminError> {
        if split_target(&params.admin_uri)?.1.is_some() {
            return Err(AdminError::bad_header(
                "admin URI",
                &params.admin_uri,
                "carries a msg parameter; pass the notification separately",
            ));
        }
        if let Some(n) = &params.notification {
            if n.is_empty() || n.len() > MAX_NOTIFICATION_LEN {
                return Err(AdminError::bad_header(
                    "admin URI",
                    &params.admin_uri,
                    format!(
                        "notification of {} bytes (1 to {MAX_NOTIFICATION_LEN} allowed)",
                        n.len()
                    ),
                ));
            }
        }
        let common = CardCommon {
            host: params.host,
            from: params.from,
            max_exchanges: params.max_exchanges,
            exchanges: 0,
            scripts: 0,
        };
        let mut req = common.request(params.admin_uri, CardContent::Open, params.resume);
        req.notification = params.notification;
        // The target with the notification must still be a valid URI (length bound).
        check_uri("admin URI", &req.target())?;
        Ok((req, CardAwaitingScript { common }))
    }

    /// Exchanges completed so far.
    pub fn exchanges(&self) -> u32 {
        self.common.exchanges
    }

    /// Takes the server's response to the last `POST`.
    pub fn handle(mut self, response: ServerResponse) -> Result<CardNext, AdminError> {
        self.common.exchanges += 1;
        match response {
            ServerResponse::NoContent { next_uri: None } => Ok(CardNext::Ended(SessionEnded {
                exchanges: self.common.exchanges,
                scripts: self.common.scripts,
            })),
            _ if self.common.exchanges >= self.common.max_exchanges => {
                Err(AdminError::TooManyExchanges(self.common.max_exchanges))
            }
            ServerResponse::NoContent {
                next_uri: Some(uri),
            } => {
                let req = self.common.request(uri, CardContent::Open, false);
                Ok(CardNext::Poll(req, self))
            }
            ServerResponse::Script {
                next_uri,
                targeted,
                script,
            } => {
                self.common.scripts += 1;
                Ok(CardNext::Script(CardHasScript {
                    common: self.common,
                    next_uri,
                    targeted,
                    script,
                }))
            }
        }
    }
}

/// The card holds a script and owes the server its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardHasScript {
    common: CardCommon,
    next_uri: String,
    /// `X-Admin-Targeted-Application` (`None`: the ISD-R itself).
    pub targeted: Option<Aid>,
    /// The command script.
    pub script: Bytes,
}

impl CardHasScript {
    /// Where the result goes.
    pub fn next_uri(&self) -> &str {
        &self.next_uri
    }

    /// Sends the script's result: a `POST` to the next URI with `X-Admin-Script-Status`.
    pub fn respond(self, status: ScriptStatus, body: Bytes) -> (CardRequest, CardAwaitingScript) {
        let req = self
            .common
            .request(self.next_uri, CardContent::Result { status, body }, false);
        (
            req,
            CardAwaitingScript {
                common: self.common,
            },
        )
    }
}

/// What the server's administration logic decides after a `POST` (GP Amd B §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminStep {
    /// `200` with a script.
    Script {
        /// Target security domain (`X-Admin-Targeted-Application`), `None` = the ISD-R.
        targeted: Option<Aid>,
        /// The command script.
        script: Bytes,
        /// Where the card posts the result; `None`: the server picks `<admin URI>/<n>`.
        next_uri: Option<String>,
    },
    /// `204` with a next URI: nothing now, the card posts again.
    Poll {
        /// The next URI; `None`: the server picks `<admin URI>/<n>`.
        next_uri: Option<String>,
    },
    /// `204` without a next URI: end of session.
    End,
}

/// What a card posted, as the server's administration logic sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardPost {
    /// Index of this exchange in the session (0 = the opening `POST`).
    pub exchange: u32,
    /// The request as parsed (headers, body).
    pub request: CardRequest,
}

impl CardPost {
    /// `X-Admin-Script-Status`, if this post carries a script result.
    pub fn status(&self) -> Option<ScriptStatus> {
        match &self.request.content {
            CardContent::Open => None,
            CardContent::Result { status, .. } => Some(*status),
        }
    }

    /// The response script (empty for an opening `POST`).
    pub fn body(&self) -> Bytes {
        self.request.body()
    }

    /// The notification (`E1` TLV) the card posted as `?msg=<hex>` (only ever on the first
    /// `POST` of a session; digest §3.3). The SM-SR answers it with the confirmation script.
    pub fn notification(&self) -> Option<&[u8]> {
        self.request.notification.as_deref()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerCommon {
    identity: PskIdentity,
    base: String,
    max_exchanges: u32,
    exchanges: u32,
    scripts: u32,
}

/// The server waits for the card's next `POST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAwaitingPost {
    common: ServerCommon,
    expected_path: String,
}

/// The server holds a `POST` and owes the card a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHasPost {
    common: ServerCommon,
    /// The post.
    pub post: CardPost,
}

/// What follows a server response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerNext {
    /// The session goes on.
    AwaitingPost(ServerAwaitingPost),
    /// The response ended the session.
    Ended(SessionEnded),
}

impl ServerAwaitingPost {
    /// A session authenticated as `identity` whose first `POST` must target `admin_uri`.
    pub fn new(
        identity: PskIdentity,
        admin_uri: &str,
        max_exchanges: u32,
    ) -> Result<Self, AdminError> {
        if split_target(admin_uri)?.1.is_some() {
            return Err(AdminError::bad_header(
                "admin URI",
                admin_uri,
                "must not carry a msg parameter",
            ));
        }
        Ok(ServerAwaitingPost {
            common: ServerCommon {
                identity,
                base: admin_uri.trim_end_matches('/').to_string(),
                max_exchanges,
                exchanges: 0,
                scripts: 0,
            },
            expected_path: admin_uri.to_string(),
        })
    }

    /// The TLS-authenticated identity.
    pub fn identity(&self) -> &PskIdentity {
        &self.common.identity
    }

    /// The path the next `POST` must target.
    pub fn expected_path(&self) -> &str {
        &self.expected_path
    }

    /// Takes a parsed `POST`. Fails if it targets another URI than the one last given (`404`),
    /// if it carries a notification (`msg=`) on any but the first `POST` (`400`), if its
    /// `X-Admin-From` EID is not the TLS-authenticated one, or if the exchange bound is reached.
    pub fn handle(self, request: CardRequest) -> Result<ServerHasPost, AdminError> {
        if request.path != self.expected_path {
            return Err(AdminError::WrongUri {
                expected: self.expected_path,
                got: request.target().chars().take(128).collect(),
            });
        }
        if request.notification.is_some() && self.common.exchanges > 0 {
            return Err(AdminError::bad_header(
                "request target",
                &request.target(),
                "msg is only allowed on the first POST of a session",
            ));
        }
        if request.from.eid != self.common.identity.eid {
            return Err(AdminError::IdentityMismatch {
                header: request.from.eid.as_str().to_string(),
                psk: self.common.identity.eid.as_str().to_string(),
            });
        }
        if self.common.exchanges >= self.common.max_exchanges {
            return Err(AdminError::TooManyExchanges(self.common.max_exchanges));
        }
        let post = CardPost {
            exchange: self.common.exchanges,
            request,
        };
        Ok(ServerHasPost {
            common: self.common,
            post,
        })
    }
}

impl ServerHasPost {
    /// The TLS-authenticated identity.
    pub fn identity(&self) -> &PskIdentity {
        &self.common.identity
    }

    /// Turns the administration decision into the HTTP response. A next URI given by the
    /// caller is checked; a bad one is an error.
    pub fn reply(self, step: AdminStep) -> Result<(ServerResponse, ServerNext), AdminError> {
        let mut c = self.common;
        c.exchanges += 1;
        let pick = |c: &ServerCommon, given: Option<String>| -> Result<String, AdminError> {
            match given {
                Some(u) => {
                    check_uri(header::X_ADMIN_NEXT_URI, &u)?;
                    if split_target(&u).map_or(true, |(_, n)| n.is_some()) {
                        return Err(AdminError::bad_header(
                            header::X_ADMIN_NEXT_URI,
                            &u,
                            "a next URI must not carry a msg parameter",
                        ));
                    }
                    Ok(u)
                }
                None => Ok(format!("{}/{}", c.base, c.exchanges)),
            }
        };
        match step {
            AdminStep::End => Ok((
                ServerResponse::NoContent { next_uri: None },
                ServerNext::Ended(SessionEnded {
                    exchanges: c.exchanges,
                    scripts: c.scripts,
                }),
            )),
            AdminStep::Poll { next_uri } => {
                let uri = pick(&c, next_uri)?;
                Ok((
                    ServerResponse::NoContent {
                        next_uri: Some(uri.clone()),
                    },
                    ServerNext::AwaitingPost(ServerAwaitingPost {
                        common: c,
                        expected_path: uri,
                    }),
                ))
            }
            AdminStep::Script {
                targeted,
                script,
                next_uri,
            } => {
                let uri = pick(&c, next_uri)?;
                c.scripts += 1;
                Ok((
                    ServerResponse::Script {
                        next_uri: uri.clone(),
                        targeted,
                        script,
                    },
                    ServerNext::AwaitingPost(ServerAwaitingPost {
                        common: c,
                        expected_path: uri,
                    }),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::HeaderFields;
    use esim_codec::ids::{Eid, Tar};

    fn eid() -> Eid {
        Eid::from_body("890490320000000000000000000000").expect("eid")
    }

    /// Carries a request through its header list and body, as a transport would.
    fn wire_request(r: &CardRequest) -> CardRequest {
        let fields = r.header_fields();
        let h = HeaderFields::from_pairs(fields.iter().map(|(n, v)| (*n, v.as_bytes())))
            .expect("fields");
        CardRequest::parse("POST", &r.target(), &h, r.body()).expect("parse request")
    }

    fn wire_response(r: &ServerResponse) -> ServerResponse {
        let fields = r.header_fields();
        let h = HeaderFields::from_pairs(fields.iter().map(|(n, v)| (*n, v.as_bytes())))
            .expect("fields");
        ServerResponse::parse(r.status(), &h, r.body()).expect("parse response")
    }

    #[test]
    fn both_ends_run_a_session() {
        let isd_p = Aid::isd_p(Tar([0x00, 0x00, 0x10]));
        let steps = vec![
            AdminStep::Script {
                targeted: None,
                script: Bytes::from_static(&[0xAA, 0x01]),
                next_uri: None,
            },
            AdminStep::Poll { next_uri: None },
            AdminStep::Script {
                targeted: Some(isd_p.clone()),
                script: Bytes::from_static(&[0xAA, 0x02]),
                next_uri: Some("/custom?x=1".into()),
            },
            AdminStep::End,
        ];
        let (mut req, mut card) = CardAwaitingScript::open(CardSessionParams {
            host: "smsr.example:8443".into(),
            admin_uri: "/gp/admin".into(),
            from: AdminFrom::isd_r(eid()),
            resume: true,
            max_exchanges: 10,
            notification: None,
        })
        .expect("open");
        assert!(req.resume);
        let mut server = ServerAwaitingPost::new(PskIdentity::new(eid(), 0x40, 1), "/gp/admin", 10)
            .expect("server");
        let mut seen = Vec::new();
        let mut steps = steps.into_iter();
        let ended = loop {
            let has = server.handle(wire_request(&req)).expect("server handle");
            seen.push((has.post.request.path.clone(), has.post.status()));
            let (resp, next) = has.reply(steps.next().expect("step")).expect("reply");
            let resp = wire_response(&resp);
            match card.handle(resp).expect("card handle") {
                CardNext::Script(s) => {
                    let status = if s.targeted.is_some() {
                        ScriptStatus::UnknownApplication
                    } else {
                        ScriptStatus::Ok
                    };
                    let body = Bytes::from(vec![0x90, 0x00, s.script[1]]);
                    (req, card) = s.respond(status, body);
                }
                CardNext::Poll(r, c) => (req, card) = (r, c),
                CardNext::Ended(e) => {
                    assert!(matches!(next, ServerNext::Ended(x) if x == e));
                    break e;
                }
            }
            match next {
                ServerNext::AwaitingPost(s) => server = s,
                ServerNext::Ended(_) => panic!("server ended first"),
            }
        };
        assert_eq!(
            ended,
            SessionEnded {
                exchanges: 4,
                scripts: 2
            }
        );
        assert_eq!(
            seen,
            vec![
                ("/gp/admin".to_string(), None),
                ("/gp/admin/1".to_string(), Some(ScriptStatus::Ok)),
                ("/gp/admin/2".to_string(), None),
                (
                    "/custom?x=1".to_string(),
                    Some(ScriptStatus::UnknownApplication)
                ),
            ]
        );
    }

    #[test]
    fn server_refuses_wrong_uri_eid_and_too_many_exchanges() {
        let other = Eid::from_body("890490320000000000000000000001").expect("eid");
        let (req, _) = CardAwaitingScript::open(CardSessionParams {
            host: "h".into(),
            admin_uri: "/a".into(),
            from: AdminFrom::isd_r(other),
            resume: false,
            max_exchanges: 10,
            notification: None,
        })
        .expect("open");
        let s = ServerAwaitingPost::new(PskIdentity::new(eid(), 1, 1), "/a", 10).expect("s");
        assert!(matches!(
            s.clone().handle(req.clone()),
            Err(AdminError::IdentityMismatch { .. })
        ));
        let mut wrong = req.clone();
        wrong.path = "/b".into();
        assert!(matches!(s.handle(wrong), Err(AdminError::WrongUri { .. })));
        let s0 = ServerAwaitingPost::new(PskIdentity::new(eid(), 1, 1), "/a", 0).expect("s");
        let mut ok = req;
        ok.from = AdminFrom::isd_r(eid());
        assert!(matches!(
            s0.handle(ok),
            Err(AdminError::TooManyExchanges(0))
        ));
    }

    #[test]
    fn card_bounds_exchanges() {
        let (_, mut card) = CardAwaitingScript::open(CardSessionParams {
            host: "h".into(),
            admin_uri: "/a".into(),
            from: AdminFrom::isd_r(eid()),
            resume: false,
            max_exchanges: 3,
            notification: None,
        })
        .expect("open");
        for _ in 0..2 {
            match card
                .handle(ServerResponse::NoContent {
                    next_uri: Some("/a".into()),
                })
                .expect("poll")
            {
                CardNext::Poll(_, c) => card = c,
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            card.handle(ServerResponse::NoContent {
                next_uri: Some("/a".into())
            }),
            Err(AdminError::TooManyExchanges(3))
        ));
    }

    #[test]
    fn notification_travels_on_the_first_post_only() {
        let e1 = vec![0xE1, 0x03, 0x4E, 0x01, 0x07];
        let open = |admin_uri: &str, notification: Option<Vec<u8>>| {
            CardAwaitingScript::open(CardSessionParams {
                host: "h".into(),
                admin_uri: admin_uri.into(),
                from: AdminFrom::isd_r(eid()),
                resume: false,
                max_exchanges: 10,
                notification,
            })
        };
        let (req, card) = open("/gp/admin", Some(e1.clone())).expect("open");
        assert_eq!(req.target(), "/gp/admin?msg=E1034E0107");
        let server = ServerAwaitingPost::new(PskIdentity::new(eid(), 1, 1), "/gp/admin", 10)
            .expect("server");
        let has = server.handle(wire_request(&req)).expect("first post");
        assert_eq!(has.post.notification(), Some(&e1[..]));
        assert_eq!(has.post.request.path, "/gp/admin");
        let (resp, next) = has
            .reply(AdminStep::Script {
                targeted: None,
                script: Bytes::from_static(&[0xAA, 0x00]),
                next_uri: None,
            })
            .expect("reply");
        let ServerNext::AwaitingPost(server) = next else {
            panic!("ended early")
        };
        let CardNext::Script(s) = card.handle(wire_response(&resp)).expect("card") else {
            panic!("no script")
        };
        let (mut result, _) = s.respond(ScriptStatus::Ok, Bytes::from_static(&[0x90, 0x00]));
        let plain = wire_request(&result);
        assert_eq!(plain.notification, None);
        // The same notification again on a later POST is refused with 400.
        result.notification = Some(e1.clone());
        let err = server
            .handle(wire_request(&result))
            .expect_err("msg on a later post");
        assert_eq!(err.http_status(), 400);

        // An admin URI with its own query keeps it; msg goes last.
        let (req, _) = open("/a?x=1", Some(vec![0x01])).expect("open");
        assert_eq!(req.target(), "/a?x=1&msg=01");
        let back = wire_request(&req);
        assert_eq!(
            (back.path.as_str(), back.notification),
            ("/a?x=1", Some(vec![1]))
        );
        // The card refuses a msg inside the admin URI, an empty or oversized notification.
        assert!(open("/a?msg=01", None).is_err());
        assert!(open("/a", Some(Vec::new())).is_err());
        assert!(open("/a", Some(vec![0; MAX_NOTIFICATION_LEN + 1])).is_err());
        assert!(open("/a", Some(vec![0; MAX_NOTIFICATION_LEN])).is_ok());
        // A handler's next URI must not carry msg.
        let server = ServerAwaitingPost::new(PskIdentity::new(eid(), 1, 1), "/a", 10).expect("s");
        let (req, _) = open("/a", None).expect("open");
        let has = server.handle(req).expect("post");
        assert!(
            has.reply(AdminStep::Poll {
                next_uri: Some("/n?msg=00".into())
            })
            .is_err()
        );
    }
}
