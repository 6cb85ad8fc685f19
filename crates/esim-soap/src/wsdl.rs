//! The WSDL 1.1 document (SOAP 1.2 binding, document/literal) of an interface's served functions,
//! with an embedded XML Schema generated from the same JSON Schemas as the codec and the JSON
//! binding's OpenAPI document (digest §2.1; docs/spec-choices.md).
//!
//! JSON Schema → XSD: objects are sequences of their properties (in the order the codec writes
//! them), externally tagged enums are `xs:choice`, arrays are repeated elements, optional fields
//! have `minOccurs="0"`, nullable ones `nillable="true"`; identifiers and timestamps are
//! `xs:string` (their JSON Schema patterns are not carried over: `decode_request` checks them);
//! a free-form object (no listed properties) is its JSON text in an `xs:string`.

use std::collections::BTreeSet;

use esim_proto::function::{Function, Interface};
use serde_json::Value;

use crate::codec::schemas;
use crate::schema::{
    GSMA_NS, Schemas, interface_name, request_element, response_action, response_element,
};
use crate::xml::Writer;

const XS: &str = "http://www.w3.org/2001/XMLSchema";
const WSDL: &str = "http://schemas.xmlsoap.org/wsdl/";
const SOAP12: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const WSAM: &str = "http://www.w3.org/2007/05/addressing/metadata";

/// An XSD type name from a definition name.
fn ncname(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

fn def_name(s: &Value) -> Option<&str> {
    s.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
}

struct Xsd<'a> {
    s: &'a Schemas,
    w: Writer,
    used: BTreeSet<String>,
}

/// How one property is typed.
struct Typed {
    /// `type="…"` or `None` for an inline type written by `inline`.
    name: Option<String>,
    nillable: bool,
    array: bool,
    inline: Option<Value>,
}

impl<'a> Xsd<'a> {
    fn typed(&mut self, p: &Value) -> Typed {
        if let Some(n) = def_name(p) {
            self.used.insert(n.to_owned());
            return Typed {
                name: Some(format!("tns:{}", ncname(n))),
                nillable: false,
                array: false,
                inline: None,
            };
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(alts) = p.get(key).and_then(Value::as_array) {
                let non_null: Vec<&Value> = alts
                    .iter()
                    .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                    .collect();
                if non_null.len() == 1 && alts.len() == 2 {
                    if let Some(one) = non_null.first() {
                        let mut t = self.typed(one);
                        t.nillable = true;
                        return t;
                    }
                }
            }
        }
        let types: Vec<&str> = match p.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let nillable = types.contains(&"null");
        let simple = |n: &str| Typed {
            name: Some(n.to_owned()),
            nillable,
            array: false,
            inline: None,
        };
        if types.contains(&"array") {
            let items = p.get("items").cloned().unwrap_or(Value::Bool(true));
            let items_shape = self.s.shape(&items);
            if items_shape.array || p.get("prefixItems").is_some() {
                // A tuple or nested array: one element per item, `item` children.
                return Typed {
                    name: None,
                    nillable,
                    array: true,
                    inline: Some(serde_json::json!({"type": "object", "x-items": true})),
                };
            }
            let mut t = self.typed(&items);
            t.array = true;
            t.nillable = nillable;
            return t;
        }
        if p.get("enum").is_some() {
            return Typed {
                name: None,
                nillable,
                array: false,
                inline: Some(p.clone()),
            };
        }
        if types.contains(&"string") {
            return simple("xs:string");
        }
        if types.contains(&"integer") {
            let t = match p.get("format").and_then(Value::as_str) {
                Some("uint8") => "xs:unsignedByte",
                Some("uint16") => "xs:unsignedShort",
                Some("uint32") => "xs:unsignedInt",
                Some("uint64") | Some("uint") => "xs:unsignedLong",
                Some("int8") => "xs:byte",
                Some("int16") => "xs:short",
                Some("int32") => "xs:int",
                _ => "xs:long",
            };
            return simple(t);
        }
        if types.contains(&"number") {
            return simple("xs:double");
        }
        if types.contains(&"boolean") {
            return simple("xs:boolean");
        }
        if types.contains(&"object") {
            if self.s.shape(p).is_free_object() {
                return simple("xs:string");
            }
            return Typed {
                name: None,
                nillable,
                array: false,
                inline: Some(p.clone()),
            };
        }
        simple("xs:anyType")
    }

    fn element(&mut self, name: &str, p: &Value, required: bool) {
        let t = self.typed(p);
        let min = if required && !t.array { "1" } else { "0" };
        let mut attrs: Vec<(&str, &str)> = vec![("name", name), ("minOccurs", min)];
        if t.array {
            attrs.push(("maxOccurs", "unbounded"));
        }
        if t.nillable {
            attrs.push(("nillable", "true"));
        }
        match (&t.name, &t.inline) {
            (Some(n), _) => {
                let n = n.clone();
                attrs.push(("type", &n));
                self.w.open("xs:element", &attrs);
                self.w.close("xs:element");
            }
            (None, Some(inline)) => {
                self.w.open("xs:element", &attrs);
                self.type_body(inline, None);
                self.w.close("xs:element");
            }
            (None, None) => {
                attrs.push(("type", "xs:anyType"));
                self.w.open("xs:element", &attrs);
                self.w.close("xs:element");
            }
        }
    }

    /// Writes a complexType or simpleType for schema `s` (named when `name` is given).
    fn type_body(&mut self, s: &Value, name: Option<&str>) {
        let name_attr: Vec<(&str, &str)> = name.map(|n| vec![("name", n)]).unwrap_or_default();
        if s.get("x-items").is_some() {
            self.w.open("xs:complexType", &name_attr);
            self.w.open("xs:sequence", &[]);
            self.w.open(
                "xs:element",
                &[
                    ("name", "item"),
                    ("type", "xs:string"),
                    ("minOccurs", "0"),
                    ("maxOccurs", "unbounded"),
                ],
            );
            self.w.close("xs:element");
            self.w.close("xs:sequence");
            self.w.close("xs:complexType");
            return;
        }
        // Externally tagged enum: a choice of single-property objects.
        let alts = s
            .get("oneOf")
            .or_else(|| s.get("anyOf"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !alts.is_empty() {
            let singles: Vec<(String, Value)> = alts
                .iter()
                .filter_map(|a| {
                    let a = self.s.resolve(a);
                    let props = a.get("properties")?.as_object()?;
                    if props.len() != 1 {
                        return None;
                    }
                    props.iter().next().map(|(k, v)| (k.clone(), v.clone()))
                })
                .collect();
            if singles.len() == alts.len() {
                self.w.open("xs:complexType", &name_attr);
                self.w.open("xs:choice", &[]);
                for (k, v) in singles {
                    self.element(&k, &v, true);
                }
                self.w.close("xs:choice");
                self.w.close("xs:complexType");
                return;
            }
            let strings: Vec<String> = alts
                .iter()
                .flat_map(|a| {
                    let a = self.s.resolve(a);
                    let mut v: Vec<String> = a
                        .get("enum")
                        .and_then(Value::as_array)
                        .map(|e| {
                            e.iter()
                                .filter_map(|x| x.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    if let Some(c) = a.get("const").and_then(Value::as_str) {
                        v.push(c.to_owned());
                    }
                    v
                })
                .collect();
            if !strings.is_empty()
                && alts.iter().all(|a| {
                    let a = self.s.resolve(a);
                    a.get("enum").is_some() || a.get("const").is_some()
                })
            {
                self.enumeration(&name_attr, &strings);
                return;
            }
            // Anything else: open content.
            self.w.open(
                "xs:complexType",
                &[&name_attr[..], &[("mixed", "true")]].concat(),
            );
            self.w.open("xs:sequence", &[]);
            self.w.open(
                "xs:any",
                &[
                    ("processContents", "lax"),
                    ("minOccurs", "0"),
                    ("maxOccurs", "unbounded"),
                ],
            );
            self.w.close("xs:any");
            self.w.close("xs:sequence");
            self.w.close("xs:complexType");
            return;
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            let v: Vec<String> = e
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect();
            self.enumeration(&name_attr, &v);
            return;
        }
        let shape = self.s.shape(s);
        if shape.object && !shape.is_free_object() {
            self.w.open("xs:complexType", &name_attr);
            self.w.open("xs:sequence", &[]);
            let required = shape.required.clone();
            for (k, v) in shape.properties.clone() {
                self.element(&k, &v, required.contains(&k));
            }
            self.w.close("xs:sequence");
            self.w.close("xs:complexType");
            return;
        }
        // A simple type: restriction of the base type.
        let t = self.typed(s);
        let base = t.name.unwrap_or_else(|| "xs:string".into());
        let base = if base.starts_with("xs:") {
            base
        } else {
            "xs:string".into()
        };
        self.w.open("xs:simpleType", &name_attr);
        self.w.open("xs:restriction", &[("base", &base)]);
        self.w.close("xs:restriction");
        self.w.close("xs:simpleType");
    }

    fn enumeration(&mut self, name_attr: &[(&str, &str)], values: &[String]) {
        self.w.open("xs:simpleType", name_attr);
        self.w.open("xs:restriction", &[("base", "xs:string")]);
        for v in values {
            self.w.open("xs:enumeration", &[("value", v)]);
            self.w.close("xs:enumeration");
        }
        self.w.close("xs:restriction");
        self.w.close("xs:simpleType");
    }

    /// A message element: header fields then body fields.
    fn message(&mut self, name: &str, header: &Value, body: &Value, response: bool) {
        self.w.open("xs:element", &[("name", name)]);
        self.w.open("xs:complexType", &[]);
        self.w.open("xs:sequence", &[]);
        let h = self.s.shape(header);
        for (k, v) in &h.properties {
            self.element(k, v, h.required.contains(k));
        }
        let b = self.s.shape(body);
        for (k, v) in &b.properties {
            self.element(k, v, !response && b.required.contains(k));
        }
        self.w.close("xs:sequence");
        self.w.close("xs:complexType");
        self.w.close("xs:element");
    }
}

/// The XML Schema (target namespace GSMA) of the request and response elements of `functions`.
pub fn xsd(functions: &[Function]) -> String {
    let s = schemas();
    let mut x = Xsd {
        s,
        w: Writer::default(),
        used: BTreeSet::new(),
    };
    x.w.open(
        "xs:schema",
        &[
            ("xmlns:xs", XS),
            ("xmlns:tns", GSMA_NS),
            ("targetNamespace", GSMA_NS),
            ("elementFormDefault", "qualified"),
        ],
    );
    for &f in functions {
        if let Some((rq, rs)) = s.body(f) {
            x.message(&request_element(f), s.request_header(), rq, false);
            x.message(&response_element(f), s.response_header(), rs, true);
        }
    }
    // Named types for every definition reached, including those reached from others.
    let mut done: BTreeSet<String> = BTreeSet::new();
    loop {
        let todo: Vec<String> = x.used.difference(&done).cloned().collect();
        if todo.is_empty() {
            break;
        }
        for n in todo {
            done.insert(n.clone());
            if let Some(def) = s.definitions().get(&n).cloned() {
                x.type_body(&def, Some(&ncname(&n)));
            } else {
                x.w.open(
                    "xs:complexType",
                    &[("name", &ncname(&n)), ("mixed", "true")],
                );
                x.w.close("xs:complexType");
            }
        }
    }
    x.w.close("xs:schema");
    x.w.finish()
}

/// The WSDL 1.1 document of `interface` for `functions` (those of the interface are used), with
/// the SOAP 1.2 endpoint `location`.
pub fn wsdl(interface: Interface, functions: &[Function], location: &str) -> String {
    let fs: Vec<Function> = functions
        .iter()
        .copied()
        .filter(|f| f.interface() == interface)
        .collect();
    let iname = interface_name(interface);
    let mut w = Writer::new();
    w.open(
        "wsdl:definitions",
        &[
            ("xmlns:wsdl", WSDL),
            ("xmlns:soap12", SOAP12),
            ("xmlns:wsam", WSAM),
            ("xmlns:xs", XS),
            ("xmlns:tns", GSMA_NS),
            ("targetNamespace", GSMA_NS),
            ("name", iname),
        ],
    );
    w.open("wsdl:types", &[]);
    let schema = xsd(&fs);
    w.raw(
        schema
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
            .unwrap_or(&schema),
    );
    w.close("wsdl:types");
    for &f in &fs {
        for el in [request_element(f), response_element(f)] {
            w.open("wsdl:message", &[("name", &el)]);
            w.open(
                "wsdl:part",
                &[("name", "parameters"), ("element", &format!("tns:{el}"))],
            );
            w.close("wsdl:part");
            w.close("wsdl:message");
        }
    }
    let port_type = format!("{iname}PortType");
    w.open("wsdl:portType", &[("name", &port_type)]);
    for &f in &fs {
        w.open("wsdl:operation", &[("name", f.name())]);
        w.open(
            "wsdl:input",
            &[
                ("message", &format!("tns:{}", request_element(f))),
                ("wsam:Action", f.action()),
            ],
        );
        w.close("wsdl:input");
        w.open(
            "wsdl:output",
            &[
                ("message", &format!("tns:{}", response_element(f))),
                ("wsam:Action", &response_action(f)),
            ],
        );
        w.close("wsdl:output");
        w.close("wsdl:operation");
    }
    w.close("wsdl:portType");
    let binding = format!("{iname}Binding");
    w.open(
        "wsdl:binding",
        &[("name", &binding), ("type", &format!("tns:{port_type}"))],
    );
    w.open(
        "soap12:binding",
        &[
            ("style", "document"),
            ("transport", "http://schemas.xmlsoap.org/soap/http"),
        ],
    );
    w.close("soap12:binding");
    for &f in &fs {
        w.open("wsdl:operation", &[("name", f.name())]);
        w.open(
            "soap12:operation",
            &[("soapAction", f.action()), ("soapActionRequired", "true")],
        );
        w.close("soap12:operation");
        for io in ["wsdl:input", "wsdl:output"] {
            w.open(io, &[]);
            w.open("soap12:body", &[("use", "literal")]);
            w.close("soap12:body");
            w.close(io);
        }
        w.close("wsdl:operation");
    }
    w.close("wsdl:binding");
    w.open("wsdl:service", &[("name", &format!("{iname}Service"))]);
    w.open(
        "wsdl:port",
        &[
            ("name", &format!("{iname}Port")),
            ("binding", &format!("tns:{binding}")),
        ],
    );
    w.open("soap12:address", &[("location", location)]);
    w.close("soap12:address");
    w.close("wsdl:port");
    w.close("wsdl:service");
    w.close("wsdl:definitions");
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;

    #[test]
    fn every_interface_wsdl_is_well_formed_and_names_every_function() {
        for i in [
            Interface::ES1,
            Interface::ES2,
            Interface::ES3,
            Interface::ES4,
            Interface::ES7,
        ] {
            let doc = wsdl(i, Function::ALL, "http://127.0.0.1/soap/X");
            let root = parse(doc.as_bytes()).unwrap();
            assert!(root.is(WSDL, "definitions"));
            for f in Function::ALL.iter().filter(|f| f.interface() == i) {
                assert!(doc.contains(&format!("name=\"{}\"", request_element(*f))));
                assert!(doc.contains(f.action()));
            }
            // Every tns: type referenced is defined.
            for cap in doc.split("type=\"tns:").skip(1) {
                let name = cap.split('"').next().unwrap();
                assert!(
                    doc.contains(&format!("Type name=\"{name}\"")),
                    "{i:?}: type {name} is not defined"
                );
            }
        }
    }
}
