//! A small namespace-aware XML tree on quick-xml, sized for SOAP messages (digest §2.1): no
//! DTDs, no external entities, bounded depth, every error with its byte position.

use quick_xml::XmlVersion;
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Deepest element nesting accepted (a SOAP message of SGP.02 needs about ten levels).
pub const MAX_DEPTH: usize = 64;

/// Most elements accepted in one message.
pub const MAX_ELEMENTS: usize = 100_000;

/// Why an XML document was refused; the text names the element or byte position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("XML at byte {position}: {reason}")]
pub struct XmlError {
    /// Byte offset in the document where the problem was found.
    pub position: u64,
    /// What is wrong.
    pub reason: String,
}

/// An element: namespace URI, local name, attributes (local name, value), children, and the
/// concatenated character data directly inside it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Namespace URI (`None` when unqualified).
    pub ns: Option<String>,
    /// Local name.
    pub name: String,
    /// Attributes as (namespace URI, local name, value).
    pub attrs: Vec<(Option<String>, String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// Character data directly inside the element (CDATA included).
    pub text: String,
    /// Byte position of the start tag.
    pub position: u64,
}

impl Element {
    /// Whether the element is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.name == name
    }

    /// The first child `{ns}name`.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    /// The value of the attribute with this local name (any namespace).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(_, n, _)| n == name)
            .map(|(_, _, v)| v.as_str())
    }

    /// `{ns}name` for messages.
    pub fn qname(&self) -> String {
        match &self.ns {
            Some(ns) => format!("{{{ns}}}{}", self.name),
            None => self.name.clone(),
        }
    }
}

fn decode_entity(name: &str) -> Option<String> {
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse::<u32>().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')?
        }
    };
    Some(c.to_string())
}

/// Parses a whole document into its root element. Refuses DOCTYPEs, unknown entities,
/// unbalanced tags, text or a second element outside the root, more than [`MAX_DEPTH`] levels or
/// [`MAX_ELEMENTS`] elements.
pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
    let input = std::str::from_utf8(input).map_err(|e| XmlError {
        position: e.valid_up_to() as u64,
        reason: "not UTF-8".into(),
    })?;
    let mut reader = NsReader::from_str(input);
    reader.config_mut().check_end_names = true;
    reader.config_mut().expand_empty_elements = false;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let err = |position: u64, reason: String| XmlError { position, reason };
    loop {
        let position = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => return Err(err(reader.error_position(), e.to_string())),
        };
        let start = |reader: &NsReader<&[u8]>,
                     e: &quick_xml::events::BytesStart<'_>|
         -> Result<Element, XmlError> {
            let (resolved, _) = reader.resolver().resolve_element(e.name());
            let ns = match resolved {
                ResolveResult::Bound(ns) => Some(ns.into_inner().to_owned()),
                ResolveResult::Unbound => None,
                ResolveResult::Unknown(p) => {
                    return Err(err(position, format!("unknown namespace prefix {:?}", p)));
                }
            };
            let name = e.local_name().into_inner().to_owned();
            let mut attrs = Vec::new();
            for a in e.attributes() {
                let a = a.map_err(|x| err(position, format!("attribute in <{name}>: {x}")))?;
                if a.key.as_namespace_binding().is_some() {
                    continue;
                }
                let (ans, local) = reader.resolver().resolve_attribute(a.key);
                let ans = match ans {
                    ResolveResult::Bound(ns) => Some(ns.into_inner().to_owned()),
                    _ => None,
                };
                let value = a
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|x| err(position, format!("attribute in <{name}>: {x}")))?
                    .into_owned();
                attrs.push((ans, local.into_inner().to_owned(), value));
            }
            Ok(Element {
                ns,
                name,
                attrs,
                children: Vec::new(),
                text: String::new(),
                position,
            })
        };
        match event {
            Event::Start(e) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(err(
                        position,
                        "document nested too deep or too large".into(),
                    ));
                }
                if root.is_some() {
                    return Err(err(position, "a second element after the root".into()));
                }
                let el = start(&reader, &e)?;
                stack.push(el);
            }
            Event::Empty(e) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(err(position, "document too large".into()));
                }
                if root.is_some() {
                    return Err(err(position, "a second element after the root".into()));
                }
                let el = start(&reader, &e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| err(position, "end tag without a start tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t.xml_content(XmlVersion::Implicit1_0);
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(err(position, "text outside the root element".into())),
                }
            }
            Event::CData(t) => {
                let s = t.xml_content(XmlVersion::Implicit1_0);
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None => return Err(err(position, "CDATA outside the root element".into())),
                }
            }
            Event::GeneralRef(r) => {
                let name = r.into_inner();
                let s = decode_entity(&name)
                    .ok_or_else(|| err(position, format!("unknown entity &{name};")))?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None => return Err(err(position, "entity outside the root element".into())),
                }
            }
            Event::DocType(_) => {
                return Err(err(
                    position,
                    "DOCTYPE is not allowed in SOAP messages".into(),
                ));
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(err(
            reader.buffer_position(),
            format!("element <{}> is not closed", open.name),
        ));
    }
    root.ok_or_else(|| err(0, "no root element".into()))
}

/// An XML writer into a string: elements get the prefix the caller gives; text is escaped.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    /// An empty document with the XML declaration.
    pub fn new() -> Self {
        Writer {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        }
    }

    /// Opens `<name attr="v"…>` (the attribute values are escaped).
    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            self.out.push_str(&escape(*v));
            self.out.push('"');
        }
        self.out.push('>');
    }

    /// Closes `</name>`.
    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name>text</name>`.
    pub fn leaf(&mut self, name: &str, text: &str) {
        self.open(name, &[]);
        self.text(text);
        self.close(name);
    }

    /// Escaped character data.
    pub fn text(&mut self, text: &str) {
        self.out.push_str(&escape(text));
    }

    /// Raw, already well-formed XML.
    pub fn raw(&mut self, xml: &str) {
        self.out.push_str(xml);
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaces_entities_and_cdata() {
        let doc = br#"<?xml version="1.0"?><a:x xmlns:a="urn:a" xmlns="urn:d" k="1&amp;2"><y>p&lt;q&#x41;<![CDATA[<z>]]></y><w/></a:x>"#;
        let el = parse(doc).unwrap();
        assert!(el.is("urn:a", "x"));
        assert_eq!(el.attr("k"), Some("1&2"));
        assert!(el.children[0].is("urn:d", "y"));
        assert_eq!(el.children[0].text, "p<qA<z>");
        assert!(el.children[1].is("urn:d", "w"));
    }

    #[test]
    fn refuses_bad_documents_with_positions() {
        for bad in [
            &b"<a><b></a>"[..],
            b"<a>",
            b"",
            b"<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>",
            b"<a>&e;</a>",
            b"<p:a/>",
            b"<a/><b/>",
            b"text<a/>",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(!e.reason.is_empty(), "{bad:?}");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).unwrap_err().reason.contains("deep"));
    }

    #[test]
    fn writer_escapes() {
        let mut w = Writer::new();
        w.open("a", &[("k", "\"<&")]);
        w.leaf("b", "<&>");
        w.close("a");
        let s = w.finish();
        let el = parse(s.as_bytes()).unwrap();
        assert_eq!(el.attr("k"), Some("\"<&"));
        assert_eq!(el.children[0].text, "<&>");
    }
}
