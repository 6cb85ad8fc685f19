//! `esim tool tlv HEX`: prints a BER-TLV tree.

use crate::output::{Output, hex_arg};
use esim_codec::ber::{self, Content, LengthForm, Node, Tlv};
use serde_json::{Value, json};

/// Print a BER-TLV structure (ISO/IEC 7816-4, GlobalPlatform, ETSI TS 102 226) as a tree.
///
/// Constructed tags are expanded; a constructed tag whose value is not TLVs (such as the
/// TS 102 226 C-APDU tag 22) is shown as bytes. Separators (spaces, colons) are allowed.
///
/// Examples:
///   esim tool tlv 3A030A4F08A000000559101001
///   esim tool tlv --json 'AF80 800101 2304 93059000 0000'
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The TLV bytes in hex (one or more top-level TLVs).
    hex: String,
}

pub fn run(args: Args, out: &Output) -> anyhow::Result<()> {
    let bytes = hex_arg("HEX", &args.hex)?;
    let tlvs = ber::parse_all(&bytes)?;
    if out.json {
        let v: Vec<Value> = tlvs
            .iter()
            .map(|t| to_json(&Node::from_tlv_lenient(t)))
            .collect();
        return out.print_json(&Value::Array(v));
    }
    for t in &tlvs {
        print_tlv(t, 0)?;
    }
    Ok(())
}

fn to_json(n: &Node) -> Value {
    let mut v = json!({ "tag": n.tag.to_string() });
    match &n.content {
        Content::Primitive(b) => v["value"] = json!(esim_codec::hex::encode(b)),
        Content::Constructed(c) => v["children"] = Value::Array(c.iter().map(to_json).collect()),
    }
    if n.length_form == LengthForm::Indefinite {
        v["indefinite"] = json!(true);
    }
    v
}

/// Prints one TLV: `TAG [length] @offset`, then its children or its value.
fn print_tlv(t: &Tlv<'_>, depth: usize) -> anyhow::Result<()> {
    let indent = "  ".repeat(depth);
    let len = if t.indefinite {
        "indefinite".to_string()
    } else {
        t.value.len().to_string()
    };
    let children = if t.tag.is_constructed() {
        t.child_list().ok()
    } else {
        None
    };
    match children {
        Some(children) => {
            outln!("{indent}{} [{len}] @{}", t.tag, t.offset);
            for c in &children {
                print_tlv(c, depth + 1)?;
            }
        }
        None => {
            let v = t.value;
            let ascii = if !v.is_empty() && v.iter().all(|c| (0x20..0x7F).contains(c)) {
                format!("  \"{}\"", String::from_utf8_lossy(v))
            } else {
                String::new()
            };
            outln!(
                "{indent}{} [{len}] @{}: {}{ascii}",
                t.tag,
                t.offset,
                esim_codec::hex::encode_upper(v)
            );
        }
    }
    Ok(())
}
