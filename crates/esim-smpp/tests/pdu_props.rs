//! Property tests of the PDU codec: every valid PDU round-trips byte-exact, and no input —
//! arbitrary, truncated or mutated — makes the decoder panic.

use esim_smpp::pdu::{
    Address, Bind, BindMode, BindResp, Body, HEADER_LEN, Header, Password, Pdu, ShortMessage, Tlv,
    is_implemented,
};
use esim_smpp::status::CommandStatus;
use proptest::prelude::*;

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(1u8..0x80, 0..max)
        .prop_map(|v| v.into_iter().map(char::from).collect())
}

fn time() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[0-9]{12}000[+R-]"]
}

fn address(max: usize) -> impl Strategy<Value = Address> {
    (any::<u8>(), any::<u8>(), text(max)).prop_map(|(ton, npi, address)| Address {
        ton,
        npi,
        address,
    })
}

fn tlvs() -> impl Strategy<Value = Vec<Tlv>> {
    proptest::collection::vec(
        (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(tag, value)| Tlv { tag, value }),
        0..3,
    )
}

fn mode() -> impl Strategy<Value = BindMode> {
    prop_oneof![
        Just(BindMode::Transmitter),
        Just(BindMode::Receiver),
        Just(BindMode::Transceiver)
    ]
}

fn short_message() -> impl Strategy<Value = ShortMessage> {
    (
        (
            text(5),
            address(20),
            address(20),
            any::<[u8; 3]>(),
            time(),
            time(),
        ),
        (
            any::<[u8; 4]>(),
            proptest::collection::vec(any::<u8>(), 0..=254),
            tlvs(),
        ),
    )
        .prop_map(
            |((service_type, source, destination, a, sched, valid), (b, short_message, tlvs))| {
                ShortMessage {
                    service_type,
                    source,
                    destination,
                    esm_class: a[0],
                    protocol_id: a[1],
                    priority_flag: a[2],
                    schedule_delivery_time: sched,
                    validity_period: valid,
                    registered_delivery: b[0],
                    replace_if_present_flag: b[1],
                    data_coding: b[2],
                    sm_default_msg_id: b[3],
                    short_message,
                    tlvs,
                }
            },
        )
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (
            mode(),
            text(15),
            text(8),
            text(12),
            any::<u8>(),
            address(40)
        )
            .prop_map(
                |(m, system_id, pw, system_type, interface_version, address_range)| {
                    Body::Bind(
                        m,
                        Bind {
                            system_id,
                            password: Password::new(pw),
                            system_type,
                            interface_version,
                            address_range,
                        },
                    )
                }
            ),
        (mode(), proptest::option::of((text(15), tlvs()))).prop_map(|(m, r)| Body::BindResp(
            m,
            match r {
                Some((id, tlvs)) => BindResp {
                    system_id: Some(id),
                    tlvs
                },
                None => BindResp::default(),
            }
        )),
        short_message().prop_map(|s| Body::SubmitSm(Box::new(s))),
        short_message().prop_map(|s| Body::DeliverSm(Box::new(s))),
        proptest::option::of(text(64)).prop_map(Body::SubmitSmResp),
        proptest::option::of(text(64)).prop_map(Body::DeliverSmResp),
        Just(Body::Unbind),
        Just(Body::UnbindResp),
        Just(Body::EnquireLink),
        Just(Body::EnquireLinkResp),
        Just(Body::GenericNack),
        (
            any::<u32>().prop_filter("implemented", |id| !is_implemented(*id)),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(command_id, body)| Body::Unknown { command_id, body }),
    ]
}

fn pdu() -> impl Strategy<Value = Pdu> {
    (any::<u32>(), any::<u32>(), body()).prop_map(|(status, seq, body)| Pdu {
        command_status: CommandStatus::from_code(status),
        sequence_number: seq,
        body,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip(p in pdu()) {
        let bytes = p.encode().expect("valid PDU encodes");
        let header = Header::parse(&bytes).expect("header");
        prop_assert_eq!(header.command_length as usize, bytes.len());
        let back = Pdu::decode(&bytes).expect("decodes");
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.encode().expect("re-encodes"), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Header::parse(&data);
        if let Ok(p) = Pdu::decode(&data) {
            // Whatever decodes re-encodes to the same bytes.
            prop_assert_eq!(p.encode().expect("re-encodes"), data);
        }
    }

    #[test]
    fn framed_garbage_never_panics(id in any::<u32>(), body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut data = Vec::new();
        data.extend_from_slice(&u32::try_from(HEADER_LEN + body.len()).unwrap().to_be_bytes());
        data.extend_from_slice(&id.to_be_bytes());
        data.extend_from_slice(&[0; 8]);
        data.extend_from_slice(&body);
        let _ = Pdu::decode(&data);
    }

    #[test]
    fn mutated_and_truncated_never_panic(p in pdu(), pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = p.encode().expect("encodes");
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        let _ = Pdu::decode(&bytes);
        let c = cut.index(bytes.len());
        let mut short = bytes[..c].to_vec();
        let _ = Pdu::decode(&short);
        // Keep command_length consistent with the cut, so the body decoder sees the truncation.
        if short.len() >= HEADER_LEN {
            let len = u32::try_from(short.len()).unwrap();
            short[..4].copy_from_slice(&len.to_be_bytes());
            let _ = Pdu::decode(&short);
        }
    }
}
