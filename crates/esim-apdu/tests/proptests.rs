//! Property tests: every decoder of untrusted bytes never panics on arbitrary input, and what the
//! encoders produce decodes back to the same value (byte for byte where the format is canonical).

use esim_apdu::apdu::{CommandApdu, LengthForm, ResponseApdu};
use esim_apdu::etsi102226::{
    self, CommandItem, CommandScript, CompactResponse, ResponseItem, ResponseScript, ScriptForm,
};
use esim_apdu::get_response::{AwaitingResponse, Exchange};
use esim_apdu::gp::delete::Delete;
use esim_apdu::gp::get_data::{CardResources, GetData};
use esim_apdu::gp::install::{CreateIsdp, Install};
use esim_apdu::gp::sgp02::{Es5Command, Notification, NotificationConfirmationResponse};
use esim_apdu::gp::status::{self, GetStatus, RegistryEntry, SetStatus};
use esim_apdu::gp::store_data::{self, Reassembler, Reassembly, StoreDataP1};
use esim_apdu::sms::{
    self, Address, ConcatRef, InformationElement, PacketKind, ReassemblyLimits, SmsDeliver,
    SmsSubmit, UdlPolicy, UserData,
};
use esim_apdu::sw::StatusWord;
use esim_codec::{Aid, Tar};
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn arb_command() -> impl Strategy<Value = CommandApdu> {
    (
        any::<[u8; 4]>(),
        prop_oneof![bytes(20), bytes(400)],
        prop_oneof![
            Just(None),
            (1usize..=256).prop_map(Some),
            (1usize..=65_536).prop_map(Some)
        ],
    )
        .prop_map(|(h, data, le)| CommandApdu {
            cla: h[0],
            ins: h[1],
            p1: h[2],
            p2: h[3],
            data,
            le,
        })
}

fn arb_aid() -> impl Strategy<Value = Aid> {
    proptest::collection::vec(any::<u8>(), 5..=16).prop_map(|b| Aid::new(&b).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn command_apdu_round_trip(cmd in arb_command(), extended in any::<bool>()) {
        let form = if extended { LengthForm::Extended } else { cmd.minimal_form() };
        let enc = cmd.encode_with(form).unwrap();
        let (dec, f) = CommandApdu::decode_with_form(&enc).unwrap();
        prop_assert_eq!(&dec, &cmd);
        if !cmd.data.is_empty() || cmd.le.is_some() {
            prop_assert_eq!(f, form);
        }
    }

    #[test]
    fn command_apdu_arbitrary(b in bytes(300)) {
        if let Ok((cmd, form)) = CommandApdu::decode_with_form(&b) {
            prop_assert_eq!(cmd.encode_with(form).unwrap(), b.clone());
        }
        if let Ok(r) = ResponseApdu::decode(&b) {
            prop_assert_eq!(r.encode(), b);
        }
    }

    #[test]
    fn status_words(sw in any::<u16>()) {
        let s = StatusWord::from_u16(sw);
        prop_assert_eq!(s.to_u16(), sw);
        let prefix = format!("{:04X}", sw);
        prop_assert!(s.to_string().starts_with(&prefix));
    }

    #[test]
    fn gp_parsers_never_panic(
        h in any::<[u8; 4]>(),
        ins in prop::sample::select(vec![0xE6u8, 0xE4, 0xF2, 0xF0, 0xCA, 0xE2, 0x00]),
        p1 in prop::sample::select(vec![0x0Cu8, 0x04, 0x20, 0x00, 0x80, 0x40, 0x60, 0x88, 0x09]),
        data in bytes(300),
    ) {
        let ins = if ins == 0 { h[1] } else { ins };
        let p1 = if h[2] & 1 == 0 { p1 } else { h[2] };
        let cmd = CommandApdu { cla: h[0] | 0x80, ins, p1, p2: h[3] & 0x83, data: data.clone(), le: None };
        if let Ok(i) = Install::parse(&cmd) {
            let again = Install::parse(&i.to_command().unwrap()).unwrap();
            prop_assert_eq!(&again, &i);
            if let Install::ForInstall(f) = &i {
                let _ = CreateIsdp::from_install(f);
            }
        }
        if let Ok(d) = Delete::parse(&cmd) {
            prop_assert_eq!(Delete::parse(&d.to_command()).unwrap(), d);
        }
        if let Ok(g) = GetStatus::parse(&cmd) {
            prop_assert_eq!(GetStatus::parse(&g.to_command()).unwrap(), g);
        }
        if let Ok(s) = SetStatus::parse(&cmd) {
            prop_assert_eq!(SetStatus::parse(&s.to_command()).unwrap(), s);
        }
        if let Ok(g) = GetData::parse(&cmd) {
            prop_assert_eq!(GetData::parse(&g.to_command()).unwrap(), g);
        }
        let _ = store_data::AwaitingBlock::new().handle(&cmd);
        if let Ok(e) = status::parse_entries(&data) {
            prop_assert_eq!(status::parse_entries(&status::encode_entries(&e)).unwrap(), e);
        }
        if let Ok(r) = CardResources::decode(&data) {
            prop_assert_eq!(CardResources::decode(&r.encode()).unwrap(), r);
        }
        if let Ok(e) = Es5Command::decode(&data) {
            prop_assert_eq!(Es5Command::decode(&e.encode()).unwrap(), e);
        }
        if let Ok(r) = NotificationConfirmationResponse::decode(&data) {
            prop_assert_eq!(NotificationConfirmationResponse::decode(&r.encode()).unwrap(), r);
        }
        if let Ok(n) = Notification::decode(&data) {
            prop_assert_eq!(Notification::decode(&n.encode()).unwrap(), n);
        }
    }

    #[test]
    fn gp_builders_round_trip(
        aid in arb_aid(),
        tar in 0x10u16..0xFFFF,
        mem in proptest::option::of(any::<u32>()),
        seq in any::<u16>(),
        params in bytes(300),
        lc in any::<u8>(),
    ) {
        let isdp = Aid::isd_p(Tar([0, (tar >> 8) as u8, tar as u8]));
        let c = CreateIsdp::new(isdp.clone(), mem);
        let Install::ForInstall(f) = Install::parse(&c.to_command().unwrap()).unwrap() else {
            panic!("not for install")
        };
        prop_assert_eq!(CreateIsdp::from_install(&f).unwrap(), c);
        for e in [
            Es5Command::EnableProfile { isdp_aid: aid.clone() },
            Es5Command::DisableProfile { isdp_aid: aid.clone() },
            Es5Command::NotificationConfirmation { sequence: seq },
            Es5Command::UpdateConnectivityParameters { parameters: params.clone() },
        ] {
            // Through STORE DATA blocks and the card's reassembler.
            let cmds = e.to_commands(100).unwrap();
            let mut r = Reassembler::new(4096);
            let mut out = None;
            for cmd in &cmds {
                let wire = CommandApdu::decode(&cmd.encode().unwrap()).unwrap();
                match r.handle(&wire).unwrap() {
                    Reassembly::More(n) => r = n,
                    Reassembly::Complete(m) => {
                        out = Some(m);
                        break;
                    }
                }
            }
            let m = out.unwrap();
            prop_assert_eq!(m.first_p1.structure, StoreDataP1::sgp02_last().structure);
            prop_assert_eq!(Es5Command::decode(&m.data).unwrap(), e);
        }
        let mut entry = RegistryEntry::new(aid, lc);
        entry.granted_memory = mem;
        prop_assert_eq!(status::parse_entries(&status::encode_entries(&[entry.clone()])).unwrap(), vec![entry]);
    }

    #[test]
    fn store_data_reassembler_arbitrary(cmds in proptest::collection::vec((any::<u8>(), any::<u8>(), bytes(40)), 0..10)) {
        let mut r = Reassembler::new(200);
        for (p1, p2, data) in cmds {
            let cmd = CommandApdu::new(0x80, 0xE2, p1, p2).with_data(data);
            match r.clone().handle(&cmd) {
                Ok(Reassembly::More(n)) => r = n,
                Ok(Reassembly::Complete(m)) => {
                    prop_assert!(m.data.len() <= 200);
                    r = Reassembler::new(200);
                }
                Err(_) => r = Reassembler::new(200),
            }
        }
    }

    #[test]
    fn scripts_arbitrary(b in bytes(300)) {
        if let Ok(s) = CommandScript::decode(&b) {
            prop_assert_eq!(CommandScript::decode(&s.encode().unwrap()).unwrap(), s);
        }
        if let Ok(s) = ResponseScript::decode(&b) {
            prop_assert_eq!(ResponseScript::decode(&s.encode()).unwrap(), s);
        }
        if let Ok(cmds) = etsi102226::decode_compact(&b) {
            prop_assert_eq!(etsi102226::encode_compact(&cmds).unwrap(), b.clone());
        }
        if let Ok(r) = CompactResponse::decode(&b) {
            prop_assert_eq!(r.encode(), b);
        }
    }

    #[test]
    fn scripts_round_trip(
        cmds in proptest::collection::vec(arb_command(), 0..4),
        resps in proptest::collection::vec((bytes(40), any::<u16>()), 0..4),
        indefinite in any::<bool>(),
        action in proptest::option::of(bytes(3)),
    ) {
        let form = if indefinite { ScriptForm::Indefinite } else { ScriptForm::Definite };
        let mut s = CommandScript { form, items: cmds.into_iter().map(CommandItem::Apdu).collect() };
        if let Some(a) = action {
            s.items.insert(0, CommandItem::ImmediateAction(a));
        }
        prop_assert_eq!(CommandScript::decode(&s.encode().unwrap()).unwrap(), s);
        let mut r = ResponseScript::of_responses(form, resps.into_iter().map(|(d, sw)| ResponseApdu::new(d, sw)));
        r.items.push(ResponseItem::BadFormat(etsi102226::BadFormat::WrongLength));
        let enc = r.encode();
        prop_assert_eq!(ResponseScript::decode(&enc).unwrap().encode(), enc);
    }

    #[test]
    fn get_response_never_panics(resps in proptest::collection::vec((bytes(300), any::<u16>()), 1..8)) {
        let mut state = AwaitingResponse::with_limit(&CommandApdu::new(0x80, 0xCA, 0, 0x66).with_le(256), 1000);
        for (d, sw) in resps {
            match state.handle(ResponseApdu::new(d, sw)) {
                Ok(Exchange::Send { state: s, .. }) => state = s,
                Ok(Exchange::Done(r)) => { prop_assert!(r.data.len() <= 1000); break; }
                Err(_) => break,
            }
        }
    }

    #[test]
    fn tpdus_arbitrary(b in bytes(200)) {
        for policy in [UdlPolicy::Strict, UdlPolicy::TrustBuffer] {
            if let Ok(d) = SmsDeliver::decode_with(&b, policy) {
                prop_assert_eq!(d.encode().unwrap(), b.clone());
            }
            if let Ok(s) = SmsSubmit::decode_with(&b, policy) {
                prop_assert_eq!(s.encode().unwrap(), b.clone());
            }
        }
    }

    #[test]
    fn tpdus_with_headers(
        digits in "[0-9*#abc]{0,20}",
        ton in 0u8..5,
        dcs in prop_oneof![Just(0xF6u8), Just(0x00), Just(0x08), any::<u8>()],
        iei in 0x20u8..0x6F,
        body in bytes(120),
        reference in any::<u16>(),
        scts in any::<[u8; 7]>(),
        mr in any::<u8>(),
    ) {
        let oa = Address::digits(ton, 1, &digits).unwrap();
        let header = vec![
            InformationElement::Concatenation(sms::Concatenation { reference: ConcatRef::Sixteen(reference), total: 2, sequence: 1 }),
            InformationElement::Other { iei, data: vec![1, 2] },
            InformationElement::CommandPacket,
        ];
        let alphabet = sms::Alphabet::from_dcs(dcs);
        let body: Vec<u8> = if alphabet == sms::Alphabet::Gsm7 { body.iter().map(|b| b & 0x7F).collect() } else { body };
        let ud = UserData::with_header(header, body);
        let mut d = SmsDeliver::data_download(oa.clone(), scts, ud.clone());
        d.dcs = dcs;
        if let Ok(enc) = d.encode() {
            prop_assert_eq!(SmsDeliver::decode(&enc).unwrap(), d);
        }
        let mut s = SmsSubmit::data(mr, oa, ud);
        s.dcs = dcs;
        if let Ok(enc) = s.encode() {
            prop_assert_eq!(SmsSubmit::decode(&enc).unwrap(), s);
        }
    }

    #[test]
    fn packets_split_and_reassemble(
        packet in bytes(2000),
        reference in any::<u16>(),
        wide in any::<bool>(),
        order in any::<u64>(),
    ) {
        let r = if wide { ConcatRef::Sixteen(reference) } else { ConcatRef::Eight(reference as u8) };
        let mut parts = sms::split_packet(&packet, PacketKind::Response, r).unwrap();
        // Deterministic shuffle.
        let n = parts.len();
        for i in (1..n).rev() {
            parts.swap(i, (order as usize).wrapping_mul(i + 7) % (i + 1));
        }
        let oa = Address::digits(1, 1, "123").unwrap();
        let mut re = sms::Reassembler::new(ReassemblyLimits::default());
        let mut done = None;
        for p in &parts {
            let (udl, ud) = p.encode(sms::Alphabet::EightBit).unwrap();
            prop_assert!(ud.len() <= sms::MAX_UD_OCTETS);
            let back = UserData::decode(udl, &ud, true, sms::Alphabet::EightBit, 0).unwrap();
            if let Some(c) = re.push(&oa, &back).unwrap().complete {
                done = Some(c);
            }
        }
        let done = done.unwrap();
        prop_assert_eq!(done.packet_kind(), Some(PacketKind::Response));
        prop_assert_eq!(done.data, packet);
    }

    #[test]
    fn reassembler_arbitrary(pushes in proptest::collection::vec((0u8..3, any::<u8>(), 0u8..4, 0u8..5, 0usize..140), 0..40)) {
        let limits = ReassemblyLimits { max_pending: 3, max_bytes: 500 };
        let mut re = sms::Reassembler::new(limits);
        for (sender, reference, total, sequence, len) in pushes {
            let oa = Address::digits(1, 1, &sender.to_string()).unwrap();
            let ud = UserData::with_header(
                vec![InformationElement::Concatenation(sms::Concatenation { reference: ConcatRef::Eight(reference % 4), total, sequence })],
                vec![sequence; len],
            );
            let _ = re.push(&oa, &ud);
            prop_assert!(re.buffered_bytes() <= 500);
            prop_assert!(re.pending() <= 3);
        }
    }
}
