//! Property tests: every decoder of untrusted bytes round-trips what the encoder makes and never
//! panics on arbitrary input.

use esim_codec::ber::{self, Content, LengthForm, Node, Tag};
use esim_codec::{Aid, Eid, Iccid, Imsi, hex, simple_tlv};
use proptest::prelude::*;

/// Tags with correct BER structure: one byte (low bits != 1F) or 2–3 bytes.
fn arb_tag(constructed: bool) -> impl Strategy<Value = Tag> {
    let cbit = if constructed { 0x20u8 } else { 0 };
    prop_oneof![
        // Tag 00 is reserved for end-of-contents (X.690 §8.1.5).
        (0u8..4, 0u8..0x1F)
            .prop_filter("not end-of-contents", |(class, n)| *class != 0 || *n != 0)
            .prop_map(move |(class, n)| Tag(u32::from((class << 6) | cbit | n))),
        (0u8..4, 0x1Fu8..0x80).prop_map(move |(class, n)| {
            Tag(u32::from_be_bytes([0, 0, (class << 6) | cbit | 0x1F, n]))
        }),
        (0u8..4, 0x81u8..0xFF, 0u8..0x80).prop_map(move |(class, a, b)| {
            Tag(u32::from_be_bytes([0, (class << 6) | cbit | 0x1F, a, b]))
        }),
    ]
}

fn arb_node() -> impl Strategy<Value = Node> {
    let leaf = (
        arb_tag(false),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(t, v)| Node::primitive(t, v));
    leaf.prop_recursive(4, 64, 6, |inner| {
        (
            arb_tag(true),
            proptest::collection::vec(inner, 0..6),
            prop_oneof![
                Just(LengthForm::Minimal),
                Just(LengthForm::Indefinite),
                Just(LengthForm::Long(2))
            ],
        )
            .prop_map(|(t, c, form)| Node {
                tag: t,
                content: Content::Constructed(c),
                length_form: form,
            })
    })
}

proptest! {
    #[test]
    fn ber_tree_round_trip(node in arb_node()) {
        let bytes = node.to_bytes();
        let parsed = ber::parse_one(&bytes).unwrap();
        prop_assert_eq!(parsed.raw.len(), bytes.len());
        let back = Node::from_tlv(&parsed).unwrap();
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn ber_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = ber::parse_one(&data);
        if let Ok(list) = ber::parse_all(&data) {
            for t in list {
                let n = Node::from_tlv_lenient(&t);
                prop_assert_eq!(n.to_bytes(), t.raw.to_vec());
                let _ = t.child_list();
            }
        }
        let _ = Node::parse_all(&data);
        let _ = ber::parse_fixed_tag(&data, 2);
    }

    #[test]
    fn ber_whole_buffer_rejects_trailing(node in arb_node(), extra in proptest::collection::vec(any::<u8>(), 1..8)) {
        let mut bytes = node.to_bytes();
        bytes.extend_from_slice(&extra);
        prop_assert!(ber::parse_one(&bytes).is_err());
    }

    #[test]
    fn simple_tlv_round_trip(items in proptest::collection::vec((1u8..0xFF, proptest::collection::vec(any::<u8>(), 0..400)), 0..5)) {
        let mut buf = Vec::new();
        for (t, v) in &items {
            buf.extend(simple_tlv::encode(*t, v).unwrap());
        }
        let parsed = simple_tlv::parse_all(&buf).unwrap();
        prop_assert_eq!(parsed.len(), items.len());
        for (p, (t, v)) in parsed.iter().zip(&items) {
            prop_assert_eq!(p.tag, *t);
            prop_assert_eq!(p.value, &v[..]);
        }
    }

    #[test]
    fn simple_tlv_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = simple_tlv::parse_all(&data);
    }

    #[test]
    fn hex_round_trip(data in proptest::collection::vec(any::<u8>(), 0..100)) {
        prop_assert_eq!(hex::decode(&hex::encode(&data)).unwrap(), data.clone());
        prop_assert_eq!(hex::decode(&hex::encode_upper(&data)).unwrap(), data);
    }

    #[test]
    fn hex_never_panics(s in ".{0,64}") {
        let _ = hex::decode(&s);
    }

    #[test]
    fn eid_from_any_body_is_valid(body in "89[0-9]{28}") {
        let e = Eid::from_body(&body).unwrap();
        prop_assert_eq!(Eid::from_bcd(&e.to_bcd()).unwrap(), e);
    }

    #[test]
    fn ids_never_panic(s in ".{0,40}", b in proptest::collection::vec(any::<u8>(), 0..20)) {
        let _ = Eid::parse(&s);
        let _ = Iccid::parse(&s);
        let _ = Imsi::parse(&s);
        let _ = Aid::from_hex(&s);
        let _ = Eid::from_bcd(&b);
        let _ = Iccid::from_swapped_bcd(&b);
        let _ = Imsi::from_ef_imsi(&b);
        let _ = Aid::new(&b);
    }

    #[test]
    fn iccid_round_trip(s in "89[0-9]{16,18}") {
        let i = Iccid::parse(&s).unwrap();
        prop_assert_eq!(Iccid::from_swapped_bcd(&i.to_swapped_bcd()).unwrap(), i);
    }

    #[test]
    fn imsi_round_trip(s in "[0-9]{6,15}") {
        let i = Imsi::parse(&s).unwrap();
        prop_assert_eq!(Imsi::from_ef_imsi(&i.to_ef_imsi()).unwrap(), i);
    }
}
