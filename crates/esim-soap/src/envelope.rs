//! SOAP 1.2 envelopes with WS-Addressing headers (digest §2.1; W3C SOAP 1.2 Part 1, WS-Addressing
//! 1.0 SOAP Binding): parsing of untrusted input, building of requests, responses and faults.

use crate::xml::{Element, Writer, XmlError, parse};

/// The SOAP 1.2 envelope namespace.
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The SOAP 1.1 envelope namespace (answered with a `VersionMismatch` fault).
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The WS-Addressing 1.0 namespace.
pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
/// The namespace NJ (the open-source SGP.02 implementation the digest cites) puts its addressing
/// headers under (digest §2.1); read as an alias of [`WSA_NS`] for interoperability.
pub const WSA_NJ_NS: &str = "http://www.w3.org/2007/05/addressing/metadata";
/// The anonymous address: reply on the HTTP response.
pub const WSA_ANONYMOUS: &str = "http://www.w3.org/2005/08/addressing/anonymous";
/// The none address: no reply.
pub const WSA_NONE: &str = "http://www.w3.org/2005/08/addressing/none";
/// The WS-Addressing Action of faults that have no function-specific Action.
pub const WSA_FAULT_ACTION: &str = "http://www.w3.org/2005/08/addressing/soap/fault";

/// The WS-Addressing message information headers of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addressing {
    /// `wsa:Action`.
    pub action: Option<String>,
    /// `wsa:MessageID`.
    pub message_id: Option<String>,
    /// `wsa:RelatesTo`.
    pub relates_to: Option<String>,
    /// `wsa:ReplyTo/wsa:Address`.
    pub reply_to: Option<String>,
    /// `wsa:From/wsa:Address`.
    pub from: Option<String>,
    /// `wsa:To`.
    pub to: Option<String>,
}

impl Addressing {
    /// Where the reply goes: `None` for the HTTP response (no ReplyTo, or the anonymous
    /// address), `Some(WSA_NONE)` for no reply, else the address.
    pub fn reply_address(&self) -> Option<&str> {
        match self.reply_to.as_deref().map(str::trim) {
            None | Some("") | Some(WSA_ANONYMOUS) => None,
            Some(a) => Some(a),
        }
    }
}

/// A parsed envelope: its addressing headers and the one element of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// WS-Addressing headers.
    pub addressing: Addressing,
    /// The body's element (`ES2-DownloadProfileRequest`, a response or a `Fault`).
    pub body: Element,
}

/// Fault codes of SOAP 1.2 (Part 1 §5.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    /// The envelope is not SOAP 1.2.
    VersionMismatch,
    /// A header marked mustUnderstand was not understood.
    MustUnderstand,
    /// The message is wrong (malformed, unknown action, not authenticated, …).
    Sender,
    /// The receiver failed.
    Receiver,
}

impl FaultCode {
    fn qname(self) -> &'static str {
        match self {
            FaultCode::VersionMismatch => "env:VersionMismatch",
            FaultCode::MustUnderstand => "env:MustUnderstand",
            FaultCode::Sender => "env:Sender",
            FaultCode::Receiver => "env:Receiver",
        }
    }
}

/// A SOAP fault: code, a subcode in the GSMA namespace (`Unauthenticated`, `BadRequest`, …)
/// and a reason text naming the element or position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}/{subcode}: {reason}")]
pub struct Fault {
    /// The SOAP code.
    pub code: FaultCode,
    /// The subcode (local name in the GSMA namespace).
    pub subcode: &'static str,
    /// The reason text.
    pub reason: String,
}

impl Fault {
    /// A `Sender` fault.
    pub fn sender(subcode: &'static str, reason: impl Into<String>) -> Self {
        Fault {
            code: FaultCode::Sender,
            subcode,
            reason: reason.into(),
        }
    }

    /// A `Receiver` fault.
    pub fn receiver(subcode: &'static str, reason: impl Into<String>) -> Self {
        Fault {
            code: FaultCode::Receiver,
            subcode,
            reason: reason.into(),
        }
    }
}

impl From<XmlError> for Fault {
    fn from(e: XmlError) -> Self {
        Fault::sender("MalformedXml", e.to_string())
    }
}

fn text_of(el: &Element) -> String {
    el.text.trim().to_owned()
}

/// Parses a SOAP 1.2 envelope. Faults: not XML, not an envelope, SOAP 1.1, no or several body
/// elements, `mustUnderstand` headers other than WS-Addressing.
pub fn parse_envelope(input: &[u8]) -> Result<Envelope, Fault> {
    let root = parse(input)?;
    if root.is(SOAP11_NS, "Envelope") {
        return Err(Fault {
            code: FaultCode::VersionMismatch,
            subcode: "VersionMismatch",
            reason: "SOAP 1.1 envelope; this endpoint speaks SOAP 1.2".into(),
        });
    }
    if !root.is(SOAP12_NS, "Envelope") {
        return Err(Fault::sender(
            "NotAnEnvelope",
            format!(
                "root element {} is not {{{SOAP12_NS}}}Envelope",
                root.qname()
            ),
        ));
    }
    let mut addressing = Addressing::default();
    let mut body = None;
    for part in root.children {
        if part.is(SOAP12_NS, "Header") {
            for h in &part.children {
                let wsa = match h.ns.as_deref() {
                    Some(WSA_NS) => Some(WSA_NS),
                    Some(WSA_NJ_NS) => Some(WSA_NJ_NS),
                    _ => None,
                };
                if let Some(ns) = wsa {
                    let address = || h.child(ns, "Address").map(text_of);
                    match h.name.as_str() {
                        "Action" => addressing.action = Some(text_of(h)),
                        "MessageID" => addressing.message_id = Some(text_of(h)),
                        "RelatesTo" => addressing.relates_to = Some(text_of(h)),
                        "To" => addressing.to = Some(text_of(h)),
                        "ReplyTo" => addressing.reply_to = address(),
                        "From" => addressing.from = address(),
                        _ => {}
                    }
                } else if h.attrs.iter().any(|(ns, n, v)| {
                    ns.as_deref() == Some(SOAP12_NS)
                        && n == "mustUnderstand"
                        && matches!(v.trim(), "true" | "1")
                }) {
                    return Err(Fault {
                        code: FaultCode::MustUnderstand,
                        subcode: "MustUnderstand",
                        reason: format!(
                            "header {} at byte {} is not understood",
                            h.qname(),
                            h.position
                        ),
                    });
                }
            }
        } else if part.is(SOAP12_NS, "Body") {
            if body.is_some() {
                return Err(Fault::sender("MalformedEnvelope", "two env:Body elements"));
            }
            let mut kids = part.children.into_iter();
            let first = kids
                .next()
                .ok_or_else(|| Fault::sender("MalformedEnvelope", "env:Body has no element"))?;
            if let Some(extra) = kids.next() {
                return Err(Fault::sender(
                    "MalformedEnvelope",
                    format!(
                        "env:Body has a second element {} at byte {}",
                        extra.qname(),
                        extra.position
                    ),
                ));
            }
            body = Some(first);
        } else {
            return Err(Fault::sender(
                "MalformedEnvelope",
                format!(
                    "unexpected element {} at byte {} in env:Envelope",
                    part.qname(),
                    part.position
                ),
            ));
        }
    }
    let body = body.ok_or_else(|| Fault::sender("MalformedEnvelope", "no env:Body"))?;
    Ok(Envelope { addressing, body })
}

/// Writes an envelope with the WS-Addressing headers of `a` and `body` (already well-formed
/// XML) as the body content.
pub fn build_envelope(a: &Addressing, body: &str) -> String {
    let mut w = Writer::new();
    w.open(
        "env:Envelope",
        &[("xmlns:env", SOAP12_NS), ("xmlns:wsa", WSA_NS)],
    );
    w.open("env:Header", &[]);
    let leaf = |w: &mut Writer, name: &str, v: &Option<String>| {
        if let Some(v) = v {
            w.leaf(name, v);
        }
    };
    leaf(&mut w, "wsa:Action", &a.action);
    leaf(&mut w, "wsa:MessageID", &a.message_id);
    leaf(&mut w, "wsa:RelatesTo", &a.relates_to);
    leaf(&mut w, "wsa:To", &a.to);
    for (name, v) in [("wsa:From", &a.from), ("wsa:ReplyTo", &a.reply_to)] {
        if let Some(v) = v {
            w.open(name, &[]);
            w.leaf("wsa:Address", v);
            w.close(name);
        }
    }
    w.close("env:Header");
    w.open("env:Body", &[]);
    w.raw(body);
    w.close("env:Body");
    w.close("env:Envelope");
    w.finish()
}

/// The body content of a fault (`env:Fault`, using the `env` prefix of [`build_envelope`]).
pub fn fault_body(f: &Fault) -> String {
    let mut w = Writer::default();
    w.open("env:Fault", &[("xmlns:gsma", crate::schema::GSMA_NS)]);
    w.open("env:Code", &[]);
    w.leaf("env:Value", f.code.qname());
    w.open("env:Subcode", &[]);
    w.leaf("env:Value", &format!("gsma:{}", f.subcode));
    w.close("env:Subcode");
    w.close("env:Code");
    w.open("env:Reason", &[]);
    w.open("env:Text", &[("xml:lang", "en")]);
    w.text(&f.reason);
    w.close("env:Text");
    w.close("env:Reason");
    w.close("env:Fault");
    w.finish()
}

/// Reads a fault body element back (clients and tests).
pub fn read_fault(el: &Element) -> Option<Fault> {
    if !el.is(SOAP12_NS, "Fault") {
        return None;
    }
    let code_el = el.child(SOAP12_NS, "Code")?;
    let value = text_of(code_el.child(SOAP12_NS, "Value")?);
    let code = match value.rsplit(':').next().unwrap_or_default() {
        "VersionMismatch" => FaultCode::VersionMismatch,
        "MustUnderstand" => FaultCode::MustUnderstand,
        "Sender" => FaultCode::Sender,
        _ => FaultCode::Receiver,
    };
    let sub = code_el
        .child(SOAP12_NS, "Subcode")
        .and_then(|s| s.child(SOAP12_NS, "Value"))
        .map(text_of)
        .unwrap_or_default();
    let reason = el
        .child(SOAP12_NS, "Reason")
        .and_then(|r| r.child(SOAP12_NS, "Text"))
        .map(text_of)
        .unwrap_or_default();
    let subcode = KNOWN_SUBCODES
        .iter()
        .copied()
        .find(|s| sub.rsplit(':').next() == Some(*s))
        .unwrap_or("Other");
    Some(Fault {
        code,
        subcode,
        reason,
    })
}

/// The subcodes this binding uses.
pub const KNOWN_SUBCODES: &[&str] = &[
    "VersionMismatch",
    "MustUnderstand",
    "MalformedXml",
    "NotAnEnvelope",
    "MalformedEnvelope",
    "UnknownAction",
    "ActionMismatch",
    "WrongNamespace",
    "BadRequest",
    "PayloadTooLarge",
    "Unauthenticated",
    "Forbidden",
    "NotServed",
    "Conflict",
    "Unavailable",
    "Internal",
    "Pending",
    "InvalidAddressingHeader",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trip_with_addressing() {
        let a = Addressing {
            action: Some("urn:act".into()),
            message_id: Some("urn:uuid:1".into()),
            relates_to: None,
            reply_to: Some("http://127.0.0.1:9/cb".into()),
            from: Some("http://me".into()),
            to: Some("http://you".into()),
        };
        let env = build_envelope(&a, "<x xmlns=\"urn:x\">1</x>");
        let back = parse_envelope(env.as_bytes()).unwrap();
        assert_eq!(back.addressing, a);
        assert!(back.body.is("urn:x", "x"));
        assert_eq!(
            back.addressing.reply_address(),
            Some("http://127.0.0.1:9/cb")
        );
    }

    #[test]
    fn nj_addressing_namespace_is_read_too() {
        let env = format!(
            "<e:Envelope xmlns:e=\"{SOAP12_NS}\" xmlns:w=\"{WSA_NJ_NS}\"><e:Header><w:Action>urn:a</w:Action><w:MessageID>m</w:MessageID><w:ReplyTo><w:Address>http://x/</w:Address></w:ReplyTo></e:Header><e:Body><x/></e:Body></e:Envelope>"
        );
        let back = parse_envelope(env.as_bytes()).unwrap();
        assert_eq!(back.addressing.action.as_deref(), Some("urn:a"));
        assert_eq!(back.addressing.message_id.as_deref(), Some("m"));
        assert_eq!(back.addressing.reply_to.as_deref(), Some("http://x/"));
    }

    #[test]
    fn fault_round_trip() {
        let f = Fault::sender("Unauthenticated", "missing <token> & more");
        let env = build_envelope(&Addressing::default(), &fault_body(&f));
        let back = parse_envelope(env.as_bytes()).unwrap();
        assert_eq!(read_fault(&back.body), Some(f));
    }

    #[test]
    fn envelope_faults() {
        let v11 = format!("<e:Envelope xmlns:e=\"{SOAP11_NS}\"><e:Body><x/></e:Body></e:Envelope>");
        assert_eq!(
            parse_envelope(v11.as_bytes()).unwrap_err().code,
            FaultCode::VersionMismatch
        );
        let empty = format!("<e:Envelope xmlns:e=\"{SOAP12_NS}\"><e:Body/></e:Envelope>");
        assert!(
            parse_envelope(empty.as_bytes())
                .unwrap_err()
                .reason
                .contains("no element")
        );
        let mu = format!(
            "<e:Envelope xmlns:e=\"{SOAP12_NS}\"><e:Header><s:Sec xmlns:s=\"urn:s\" e:mustUnderstand=\"true\"/></e:Header><e:Body><x/></e:Body></e:Envelope>"
        );
        assert_eq!(
            parse_envelope(mu.as_bytes()).unwrap_err().code,
            FaultCode::MustUnderstand
        );
        assert_eq!(parse_envelope(b"<a>").unwrap_err().subcode, "MalformedXml");
        assert_eq!(
            parse_envelope(b"<Envelope/>").unwrap_err().subcode,
            "NotAnEnvelope"
        );
    }
}
