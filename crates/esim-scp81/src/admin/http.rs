//! The HTTP messages of the GP Amd B administration protocol (GP Card Specification v2.3
//! Amendment B "Remote Application Management over HTTP", §3.3–§3.7; digest §5.3), independent
//! of any HTTP library: the card's `POST` ([`CardRequest`]) and the server's answer
//! ([`ServerResponse`]), each formatted to and parsed from a status/method, a request target and
//! a list of header fields. The HTTP framing itself (`Transfer-Encoding: chunked`, §3.4) belongs
//! to the transport.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use esim_codec::ids::{Aid, Eid};

use super::AdminError;

/// `X-Admin-Protocol` value (GP Amd B §3.3.2).
pub const ADMIN_PROTOCOL: &str = "globalplatform-remote-admin/1.0";
/// `Content-Type` of a command script sent by the server (GP Amd B §3.4.1; digest §5.3 step 2).
pub const CONTENT_TYPE_SCRIPT: &str = "application/vnd.globalplatform.card-content-mgt;version=1.0";
/// `Content-Type` of the response script sent by the card (GP Amd B §3.3.3; digest §5.3 step 3).
pub const CONTENT_TYPE_RESPONSE: &str =
    "application/vnd.globalplatform.card-content-mgt-response;version=1.0";

/// Header names used by the protocol (GP Amd B §3.3, §3.4).
pub mod header {
    /// `Host` (RFC 7230 §5.4).
    pub const HOST: &str = "Host";
    /// `Content-Type`.
    pub const CONTENT_TYPE: &str = "Content-Type";
    /// Protocol identifier.
    pub const X_ADMIN_PROTOCOL: &str = "X-Admin-Protocol";
    /// Identity of the security element and of the administration agent.
    pub const X_ADMIN_FROM: &str = "X-Admin-From";
    /// Outcome of the previous script.
    pub const X_ADMIN_SCRIPT_STATUS: &str = "X-Admin-Script-Status";
    /// The card resumes an interrupted session.
    pub const X_ADMIN_RESUME: &str = "X-Admin-Resume";
    /// Where the card posts next.
    pub const X_ADMIN_NEXT_URI: &str = "X-Admin-Next-URI";
    /// The application (security domain) a script is for.
    pub const X_ADMIN_TARGETED_APPLICATION: &str = "X-Admin-Targeted-Application";
}

/// Longest URI accepted in a request target or `X-Admin-Next-URI` (bytes).
pub const MAX_URI_LEN: usize = 1024;
/// Longest `Host` value accepted (RFC 1035 names are at most 253 characters, plus a port).
pub const MAX_HOST_LEN: usize = 262;
/// Longest notification accepted in the `msg` query parameter (bytes, decoded; an SGP.02 `E1`
/// notification is well under 100 bytes). docs/spec-choices.md.
pub const MAX_NOTIFICATION_LEN: usize = 256;
/// Name of the query parameter that carries a notification (digest §3.3).
pub const NOTIFICATION_PARAM: &str = "msg";

const TARGET: &str = "request target";

/// Splits a request target into the URI the session compares (the target without the `msg`
/// parameter) and the notification that parameter carries (SGP.02 default notification
/// transport over HTTPS, digest §3.3: the card's first `POST` goes to
/// `<admin URI>?msg=<hex notification>`; docs/spec-choices.md).
///
/// The target must pass [`check_uri`]. A query parameter named `msg` must appear at most once,
/// be the last parameter, and hold an even number (2 to `2 *` [`MAX_NOTIFICATION_LEN`]) of hex
/// digits, nothing else (no percent-encoding); otherwise the target is refused (`400`). Other
/// query parameters stay in the URI and are compared as they are.
pub fn split_target(target: &str) -> Result<(String, Option<Vec<u8>>), AdminError> {
    check_uri(TARGET, target)?;
    let Some((path, query)) = target.split_once('?') else {
        return Ok((target.to_string(), None));
    };
    let params: Vec<&str> = query.split('&').collect();
    let is_msg = |p: &&str| p.split_once('=').map_or(*p, |(n, _)| n) == NOTIFICATION_PARAM;
    let Some(pos) = params.iter().position(is_msg) else {
        return Ok((target.to_string(), None));
    };
    if pos + 1 != params.len() {
        return Err(AdminError::bad_header(
            TARGET,
            target,
            format!("the {NOTIFICATION_PARAM} parameter must be the only or last one, once"),
        ));
    }
    let value = params
        .get(pos)
        .and_then(|p| p.split_once('='))
        .map(|(_, v)| v)
        .ok_or_else(|| AdminError::bad_header(TARGET, target, "msg parameter without a value"))?;
    if value.is_empty() || value.len() % 2 != 0 || value.len() > 2 * MAX_NOTIFICATION_LEN {
        return Err(AdminError::bad_header(
            TARGET,
            target,
            format!(
                "msg must be 2 to {} hex digits, an even number (got {})",
                2 * MAX_NOTIFICATION_LEN,
                value.len()
            ),
        ));
    }
    if let Some(i) = value.bytes().position(|b| !b.is_ascii_hexdigit()) {
        return Err(AdminError::bad_header(
            TARGET,
            target,
            format!("msg character {i} is not a hex digit"),
        ));
    }
    let notification = esim_codec::hex::decode(value)
        .map_err(|e| AdminError::bad_header(TARGET, target, format!("msg: {e}")))?;
    let rest: Vec<&str> = params.iter().take(pos).copied().collect();
    let uri = if rest.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", rest.join("&"))
    };
    Ok((uri, Some(notification)))
}

/// `X-Admin-Script-Status` (GP Amd B §3.3.3; digest §5.3 step 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptStatus {
    /// `ok`: the script was executed (the response body holds the R-APDUs).
    Ok,
    /// `unknown-application`: the targeted application is not on the card.
    UnknownApplication,
    /// `not-a-security-domain`: the targeted application is not a security domain.
    NotASecurityDomain,
    /// `security-error`: the script failed the security checks of the targeted domain.
    SecurityError,
}

impl ScriptStatus {
    /// Every status, in the order of GP Amd B §3.3.3.
    pub const ALL: [ScriptStatus; 4] = [
        ScriptStatus::Ok,
        ScriptStatus::UnknownApplication,
        ScriptStatus::NotASecurityDomain,
        ScriptStatus::SecurityError,
    ];

    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptStatus::Ok => "ok",
            ScriptStatus::UnknownApplication => "unknown-application",
            ScriptStatus::NotASecurityDomain => "not-a-security-domain",
            ScriptStatus::SecurityError => "security-error",
        }
    }
}

impl fmt::Display for ScriptStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScriptStatus {
    type Err = AdminError;

    /// Parses a header value (case-insensitive, surrounding white space ignored).
    fn from_str(s: &str) -> Result<Self, AdminError> {
        let t = s.trim();
        ScriptStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| {
                AdminError::bad_header(header::X_ADMIN_SCRIPT_STATUS, s, "unknown status")
            })
    }
}

fn parse_rid_pix(header_name: &'static str, value: &str, rid_pix: &str) -> Result<Aid, AdminError> {
    let (rid, pix) = rid_pix
        .split_once('/')
        .ok_or_else(|| AdminError::bad_header(header_name, value, "AID must be <RID>/<PIX>"))?;
    if rid.len() != 10 {
        return Err(AdminError::bad_header(
            header_name,
            value,
            "RID must be 5 bytes (10 hex digits)",
        ));
    }
    let text = format!("{rid}{pix}");
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AdminError::bad_header(
            header_name,
            value,
            "RID/PIX must be hex digits",
        ));
    }
    Aid::from_hex(&text).map_err(|e| AdminError::bad_header(header_name, value, e.to_string()))
}

/// `X-Admin-From: //se-id/eid/<EID>;//aa-id/aid/<RID>/<PIX>`: the card (by EID, SGP.02) and the
/// administration agent's security domain, the ISD-R (GP Amd B §3.3.2; digest §5.3 step 1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdminFrom {
    /// The eUICC.
    pub eid: Eid,
    /// The agent's application (the ISD-R in SGP.02).
    pub agent: Aid,
}

impl AdminFrom {
    /// The ISD-R of `eid`.
    pub fn isd_r(eid: Eid) -> Self {
        AdminFrom {
            eid,
            agent: Aid::isd_r(),
        }
    }
}

impl fmt::Display for AdminFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rid, pix) = self.agent.rid_pix();
        write!(
            f,
            "//se-id/eid/{};//aa-id/aid/{rid}/{pix}",
            self.eid.as_str()
        )
    }
}

impl FromStr for AdminFrom {
    type Err = AdminError;

    /// Parses the header value; hex digits of RID/PIX in either case.
    fn from_str(s: &str) -> Result<Self, AdminError> {
        const H: &str = header::X_ADMIN_FROM;
        let v = s.trim();
        let (se, aa) = v
            .split_once(';')
            .ok_or_else(|| AdminError::bad_header(H, s, "expected <se-id>;<aa-id>"))?;
        let eid = se
            .trim()
            .strip_prefix("//se-id/eid/")
            .ok_or_else(|| AdminError::bad_header(H, s, "se-id must start with //se-id/eid/"))?;
        let eid = Eid::parse(eid).map_err(|e| AdminError::bad_header(H, s, e.to_string()))?;
        let rid_pix = aa
            .trim()
            .strip_prefix("//aa-id/aid/")
            .ok_or_else(|| AdminError::bad_header(H, s, "aa-id must start with //aa-id/aid/"))?;
        let agent = parse_rid_pix(H, s, rid_pix)?;
        Ok(AdminFrom { eid, agent })
    }
}

/// Formats `X-Admin-Targeted-Application: //aid/<RID>/<PIX>` (GP Amd B §3.4.2; digest §5.3
/// step 2).
pub fn format_targeted_application(aid: &Aid) -> String {
    let (rid, pix) = aid.rid_pix();
    format!("//aid/{rid}/{pix}")
}

/// Parses an `X-Admin-Targeted-Application` value.
pub fn parse_targeted_application(s: &str) -> Result<Aid, AdminError> {
    const H: &str = header::X_ADMIN_TARGETED_APPLICATION;
    let rid_pix = s
        .trim()
        .strip_prefix("//aid/")
        .ok_or_else(|| AdminError::bad_header(H, s, "must start with //aid/"))?;
    parse_rid_pix(H, s, rid_pix)
}

/// Checks a request target / `X-Admin-Next-URI`: origin form (`/path[?query]`, RFC 7230 §5.3.1),
/// visible ASCII, at most [`MAX_URI_LEN`] bytes. Absolute URIs are not accepted
/// (docs/spec-choices.md).
pub fn check_uri(header_name: &'static str, uri: &str) -> Result<(), AdminError> {
    if uri.is_empty() || !uri.starts_with('/') {
        return Err(AdminError::bad_header(
            header_name,
            uri,
            "must be a path starting with '/'",
        ));
    }
    if uri.len() > MAX_URI_LEN {
        return Err(AdminError::bad_header(
            header_name,
            uri,
            format!("longer than {MAX_URI_LEN} bytes"),
        ));
    }
    if let Some(pos) = uri
        .bytes()
        .position(|b| !(0x21..=0x7E).contains(&b) || b == b'#')
    {
        return Err(AdminError::bad_header(
            header_name,
            uri,
            format!("character at position {pos} is not allowed"),
        ));
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), AdminError> {
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return Err(AdminError::bad_header(
            header::HOST,
            host,
            format!("must be 1 to {MAX_HOST_LEN} characters"),
        ));
    }
    if let Some(pos) = host
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b)))
    {
        return Err(AdminError::bad_header(
            header::HOST,
            host,
            format!("character at position {pos} is not allowed"),
        ));
    }
    Ok(())
}

/// Compares media types ignoring case and white space around `;` (RFC 7231 §3.1.1.1).
fn same_media_type(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.split(';')
            .map(|p| p.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(";")
    };
    norm(a) == norm(b)
}

/// Received header fields, looked up case-insensitively. Values must be visible ASCII
/// (plus space and tab); a protocol header that appears twice is an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderFields(Vec<(String, String)>);

impl HeaderFields {
    /// Collects `(name, value)` pairs as an HTTP library delivers them.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, AdminError> {
        let mut out = Vec::new();
        for (name, value) in pairs {
            let text = std::str::from_utf8(value)
                .ok()
                .filter(|t| t.bytes().all(|b| b == b'\t' || (0x20..=0x7E).contains(&b)))
                .ok_or_else(|| AdminError::BadHeader {
                    name: name.to_string(),
                    value: String::new(),
                    reason: "value is not printable ASCII".into(),
                })?;
            out.push((name.to_string(), text.to_string()));
        }
        Ok(HeaderFields(out))
    }

    /// The single value of `name`, if present.
    pub fn get(&self, name: &'static str) -> Result<Option<&str>, AdminError> {
        let mut found = self.0.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = found.next();
        if found.next().is_some() {
            return Err(AdminError::DuplicateHeader(name));
        }
        Ok(first.map(|(_, v)| v.trim()))
    }

    /// The single value of `name`, or [`AdminError::MissingHeader`].
    pub fn require(&self, name: &'static str) -> Result<&str, AdminError> {
        self.get(name)?.ok_or(AdminError::MissingHeader(name))
    }
}

/// What a card `POST` carries (GP Amd B §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardContent {
    /// No script result: the first `POST` of a session, or the `POST` after a `204` that gave a
    /// next URI. No body, no `Content-Type`, no `X-Admin-Script-Status`.
    Open,
    /// The result of the previous script.
    Result {
        /// `X-Admin-Script-Status`.
        status: ScriptStatus,
        /// The response script (R-APDUs, TS 102 226 format), possibly empty.
        body: Bytes,
    },
}

/// A `POST` from the card's administration agent to the server (GP Amd B §3.3; digest §5.3
/// steps 1 and 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRequest {
    /// Request target without the `msg` parameter: the admin URI (first `POST`) or the last
    /// `X-Admin-Next-URI`. It never carries a `msg` query parameter ([`CardRequest::target`]
    /// adds it from `notification`).
    pub path: String,
    /// The SGP.02 notification (`E1` TLV) the card posts as `?msg=<hex>` on the first `POST`
    /// of a session (digest §3.3), at most [`MAX_NOTIFICATION_LEN`] bytes.
    pub notification: Option<Vec<u8>>,
    /// `Host`.
    pub host: String,
    /// `X-Admin-From`.
    pub from: AdminFrom,
    /// `X-Admin-Resume: true` (GP Amd B §3.3.4): the card resumes an interrupted session.
    pub resume: bool,
    /// Body and script status.
    pub content: CardContent,
}

impl CardRequest {
    /// The request method (always `POST`).
    pub const METHOD: &'static str = "POST";

    /// The request target to send: `path`, plus `msg=<HEX>` (upper case) as the last query
    /// parameter when there is a notification (digest §3.3).
    pub fn target(&self) -> String {
        match &self.notification {
            None => self.path.clone(),
            Some(n) => {
                let sep = if self.path.contains('?') { '&' } else { '?' };
                format!(
                    "{}{sep}{NOTIFICATION_PARAM}={}",
                    self.path,
                    esim_codec::hex::encode_upper(n)
                )
            }
        }
    }

    /// Header fields to send, in order (the transport adds `Transfer-Encoding`).
    pub fn header_fields(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            (header::HOST, self.host.clone()),
            (header::X_ADMIN_PROTOCOL, ADMIN_PROTOCOL.to_string()),
            (header::X_ADMIN_FROM, self.from.to_string()),
        ];
        if let CardContent::Result { status, .. } = &self.content {
            h.push((header::CONTENT_TYPE, CONTENT_TYPE_RESPONSE.to_string()));
            h.push((header::X_ADMIN_SCRIPT_STATUS, status.as_str().to_string()));
        }
        if self.resume {
            h.push((header::X_ADMIN_RESUME, "true".to_string()));
        }
        h
    }

    /// The body to send.
    pub fn body(&self) -> Bytes {
        match &self.content {
            CardContent::Open => Bytes::new(),
            CardContent::Result { body, .. } => body.clone(),
        }
    }

    /// Parses a received request (server side). `path` is the request target as received
    /// (a `msg` parameter is split off by [`split_target`]); `body` is the de-chunked body.
    pub fn parse(
        method: &str,
        path: &str,
        headers: &HeaderFields,
        body: Bytes,
    ) -> Result<Self, AdminError> {
        if method != Self::METHOD {
            return Err(AdminError::Method(method.chars().take(16).collect()));
        }
        let (path, notification) = split_target(path)?;
        let protocol = headers.require(header::X_ADMIN_PROTOCOL)?;
        if !protocol.eq_ignore_ascii_case(ADMIN_PROTOCOL) {
            return Err(AdminError::bad_header(
                header::X_ADMIN_PROTOCOL,
                protocol,
                format!("expected {ADMIN_PROTOCOL}"),
            ));
        }
        let host = headers.require(header::HOST)?;
        check_host(host)?;
        let from: AdminFrom = headers.require(header::X_ADMIN_FROM)?.parse()?;
        let resume = match headers.get(header::X_ADMIN_RESUME)? {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(AdminError::bad_header(
                    header::X_ADMIN_RESUME,
                    v,
                    "expected true or false",
                ));
            }
        };
        let content_type = headers.get(header::CONTENT_TYPE)?;
        let content = match headers.get(header::X_ADMIN_SCRIPT_STATUS)? {
            Some(v) => {
                let status: ScriptStatus = v.parse()?;
                match content_type {
                    Some(ct) if same_media_type(ct, CONTENT_TYPE_RESPONSE) => {}
                    Some(ct) => {
                        return Err(AdminError::bad_header(
                            header::CONTENT_TYPE,
                            ct,
                            format!("expected {CONTENT_TYPE_RESPONSE}"),
                        ));
                    }
                    None if body.is_empty() => {}
                    None => return Err(AdminError::MissingHeader(header::CONTENT_TYPE)),
                }
                CardContent::Result { status, body }
            }
            None if body.is_empty() => CardContent::Open,
            None => {
                return Err(AdminError::MissingHeader(header::X_ADMIN_SCRIPT_STATUS));
            }
        };
        Ok(CardRequest {
            path,
            notification,
            host: host.to_string(),
            from,
            resume,
            content,
        })
    }
}

/// The server's answer to a card `POST` (GP Amd B §3.4; digest §5.3 steps 2 and 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerResponse {
    /// `200 OK` with a command script.
    Script {
        /// `X-Admin-Next-URI`: where the card posts the result.
        next_uri: String,
        /// `X-Admin-Targeted-Application`; `None` = the agent's own domain (the ISD-R).
        targeted: Option<Aid>,
        /// The command script (C-APDUs, TS 102 226 format).
        script: Bytes,
    },
    /// `204 No Content`: no script now.
    NoContent {
        /// `Some`: the session goes on, the card posts to this URI; `None`: end of session.
        next_uri: Option<String>,
    },
}

impl ServerResponse {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            ServerResponse::Script { .. } => 200,
            ServerResponse::NoContent { .. } => 204,
        }
    }

    /// Whether this response ends the session (`204` without a next URI).
    pub fn ends_session(&self) -> bool {
        matches!(self, ServerResponse::NoContent { next_uri: None })
    }

    /// Header fields to send (the transport adds `Transfer-Encoding`).
    pub fn header_fields(&self) -> Vec<(&'static str, String)> {
        match self {
            ServerResponse::Script {
                next_uri, targeted, ..
            } => {
                let mut h = vec![
                    (header::CONTENT_TYPE, CONTENT_TYPE_SCRIPT.to_string()),
                    (header::X_ADMIN_PROTOCOL, ADMIN_PROTOCOL.to_string()),
                    (header::X_ADMIN_NEXT_URI, next_uri.clone()),
                ];
                if let Some(aid) = targeted {
                    h.push((
                        header::X_ADMIN_TARGETED_APPLICATION,
                        format_targeted_application(aid),
                    ));
                }
                h
            }
            ServerResponse::NoContent { next_uri } => {
                let mut h = vec![(header::X_ADMIN_PROTOCOL, ADMIN_PROTOCOL.to_string())];
                if let Some(uri) = next_uri {
                    h.push((header::X_ADMIN_NEXT_URI, uri.clone()));
                }
                h
            }
        }
    }

    /// The body to send.
    pub fn body(&self) -> Bytes {
        match self {
            ServerResponse::Script { script, .. } => script.clone(),
            ServerResponse::NoContent { .. } => Bytes::new(),
        }
    }

    /// Parses a received response (card side). `body` is the de-chunked body.
    /// `X-Admin-Protocol` is optional in a response; if present it must be right.
    pub fn parse(status: u16, headers: &HeaderFields, body: Bytes) -> Result<Self, AdminError> {
        if let Some(p) = headers.get(header::X_ADMIN_PROTOCOL)? {
            if !p.eq_ignore_ascii_case(ADMIN_PROTOCOL) {
                return Err(AdminError::bad_header(
                    header::X_ADMIN_PROTOCOL,
                    p,
                    format!("expected {ADMIN_PROTOCOL}"),
                ));
            }
        }
        let next_uri = headers
            .get(header::X_ADMIN_NEXT_URI)?
            .map(|u| check_uri(header::X_ADMIN_NEXT_URI, u).map(|()| u.to_string()))
            .transpose()?;
        match status {
            200 => {
                let ct = headers.require(header::CONTENT_TYPE)?;
                if !same_media_type(ct, CONTENT_TYPE_SCRIPT) {
                    return Err(AdminError::bad_header(
                        header::CONTENT_TYPE,
                        ct,
                        format!("expected {CONTENT_TYPE_SCRIPT}"),
                    ));
                }
                let next_uri =
                    next_uri.ok_or(AdminError::MissingHeader(header::X_ADMIN_NEXT_URI))?;
                let targeted = headers
                    .get(header::X_ADMIN_TARGETED_APPLICATION)?
                    .map(parse_targeted_application)
                    .transpose()?;
                Ok(ServerResponse::Script {
                    next_uri,
                    targeted,
                    script: body,
                })
            }
            204 => {
                if !body.is_empty() {
                    return Err(AdminError::UnexpectedBody(body.len()));
                }
                if headers.get(header::X_ADMIN_TARGETED_APPLICATION)?.is_some() {
                    return Err(AdminError::bad_header(
                        header::X_ADMIN_TARGETED_APPLICATION,
                        "",
                        "not allowed in a 204 response",
                    ));
                }
                Ok(ServerResponse::NoContent { next_uri })
            }
            other => Err(AdminError::Status(other)),
        }
    }
}
