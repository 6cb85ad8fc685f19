//! Every case of `shared/vectors/scp80.json` (pySim-derived SCP80 known answers): command packets
//! encode byte-exact and decode back; PoRs decode every field and re-encode byte-exact; the bad-CC
//! PoR is rejected.

use esim_codec::Tar;
use esim_crypto::SecretKey;
use esim_crypto::scp80::{
    CcAlgorithm, CipherAlgorithm, CommandPacket, Counter, Keyset, Kic, Kid, PorStatus,
    ResponsePacket, Scp80Error, Spi, decode_por, parse_command, udh,
};
use esim_vectors::{hex, hex_field};
use serde_json::Value;

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("field {k} missing in {v}"))
}

fn keyset(case: &Value) -> Keyset {
    let cipher = match s(case, "algo_crypt") {
        "aes_cbc" => CipherAlgorithm::AesCbc,
        "triple_des_cbc2" => CipherAlgorithm::TripleDes2Key,
        other => panic!("algo_crypt {other}"),
    };
    let cc = match s(case, "algo_auth") {
        "aes_cmac" => CcAlgorithm::AesCmac,
        "triple_des_cbc2" => CcAlgorithm::TripleDes2KeyCbcMac,
        other => panic!("algo_auth {other}"),
    };
    let idx = |k: &str| u8::try_from(case[k].as_u64().expect(k)).expect(k);
    Keyset::new(
        Kic::new(idx("kic_idx"), cipher).unwrap(),
        SecretKey::from_vec(hex_field(case, "kic")),
        Kid::cc(idx("kid_idx"), cc).unwrap(),
        SecretKey::from_vec(hex_field(case, "kid")),
    )
}

fn spi(case: &Value) -> Spi {
    let b = hex_field(case, "spi");
    Spi::from_bytes([b[0], b[1]]).unwrap()
}

/// Compares every entry of `spi_fields` with the decoded SPI.
fn check_spi_fields(name: &str, spi: &Spi, fields: &Value) {
    let want = fields.as_object().expect("spi_fields object");
    for (k, v) in want {
        let got = match k.as_str() {
            "counter" => Value::from(spi.counter.name()),
            "ciphering" => Value::from(spi.ciphering),
            "rc_cc_ds" => Value::from(spi.integrity.name()),
            "por_in_submit" => Value::from(spi.por_via_submit),
            "por_shall_be_ciphered" => Value::from(spi.por_ciphered),
            "por_rc_cc_ds" => Value::from(spi.por_integrity.name()),
            "por" => Value::from(spi.por.name()),
            other => panic!("{name}: unknown spi_fields key {other}"),
        };
        assert_eq!(&got, v, "{name}: spi_fields.{k}");
    }
}

fn check_command(case: &Value) -> Result<(), String> {
    let name = s(case, "name");
    let keys = keyset(case);
    let spi = spi(case);
    check_spi_fields(name, &spi, &case["spi_fields"]);
    let tar = Tar::new(&hex_field(case, "tar")).unwrap();
    let cbytes: [u8; 5] = hex_field(case, "counter").try_into().unwrap();
    let counter = Counter::from_bytes(cbytes);
    let apdu = hex_field(case, "apdu");
    let expected = hex_field(case, "command_packet");

    // 1. encode
    let cmd = CommandPacket {
        spi,
        tar,
        counter,
        data: apdu.clone(),
    };
    let encoded = cmd.encode(&keys).map_err(|e| format!("encode: {e}"))?;
    if encoded != expected {
        return Err(format!(
            "encode: got {}, want {}",
            esim_codec::hex::encode(&encoded),
            esim_codec::hex::encode(&expected)
        ));
    }
    if udh::add_command_udh(&encoded) != hex_field(case, "sms_user_data") {
        return Err("sms_user_data differs".into());
    }

    // 2. decode, from the SMS user data
    let user_data = hex_field(case, "sms_user_data");
    let packet = udh::strip_command_udh(&user_data).map_err(|e| e.to_string())?;
    let parsed = parse_command(packet).map_err(|e| format!("parse: {e}"))?;
    let h = parsed.header();
    if h.spi != spi || h.tar != tar || h.kic != keys.kic() || h.kid != keys.kid() {
        return Err(format!("header {h:?}"));
    }
    let opened = parsed.open(&keys).map_err(|e| format!("open: {e}"))?;
    if opened.counter != counter {
        return Err(format!("counter {}", opened.counter));
    }
    if opened.data != apdu {
        return Err(format!("data {}", esim_codec::hex::encode(&opened.data)));
    }
    if let Some(d) = case.get("deciphered_secured_data").and_then(Value::as_str) {
        if opened.secured_plaintext != hex(d) {
            return Err(format!(
                "deciphered {}",
                esim_codec::hex::encode(&opened.secured_plaintext)
            ));
        }
    }
    if let Some(cc) = case.get("cc").and_then(Value::as_str) {
        if opened.integrity != hex(cc) {
            return Err(format!("cc {}", esim_codec::hex::encode(&opened.integrity)));
        }
    }
    Ok(())
}

fn check_por(case: &Value) -> Result<(), String> {
    let keys = keyset(case);
    let spi = spi(case);
    check_spi_fields(s(case, "name"), &spi, &case["spi_fields"]);
    let por = hex_field(case, "por");
    let result = decode_por(&por, &spi, &keys);
    if let Some(err) = case.get("expect_error").and_then(Value::as_str) {
        assert_eq!(err, "cc_mismatch");
        return match result {
            Err(e @ Scp80Error::CcMismatch { .. }) => {
                assert_eq!(e.por_status(), Some(PorStatus::RcCcDsFailed));
                Ok(())
            }
            other => Err(format!("expected a CC mismatch, got {other:?}")),
        };
    }
    let d = result.map_err(|e| format!("decode: {e}"))?;
    let want = &case["decoded"];
    let num = |k: &str| want[k].as_u64().unwrap_or_else(|| panic!("{k}"));
    let checks: Vec<(&str, bool)> = vec![
        ("rpl", u64::from(d.rpl) == num("rpl")),
        ("rhl", u64::from(d.rhl) == num("rhl")),
        ("tar", d.packet.tar.0.to_vec() == hex_field(want, "tar")),
        (
            "cntr",
            d.packet.counter.to_bytes().to_vec() == hex_field(want, "cntr"),
        ),
        ("pcntr", u64::from(d.padding) == num("pcntr")),
        (
            "response_status",
            d.packet.status.name() == s(want, "response_status"),
        ),
        (
            "response_status_code",
            u64::from(d.packet.status.byte()) == num("response_status_code"),
        ),
        ("cc", d.integrity == hex_field(want, "cc")),
        (
            "additional_response_data",
            d.packet.data == hex_field(want, "additional_response_data"),
        ),
    ];
    for (field, ok) in checks {
        if !ok {
            return Err(format!("decoded.{field}: got {d:?}"));
        }
    }
    let compact = d
        .compact_response()
        .ok_or("no compact response")?
        .map_err(|e| e.to_string())?;
    if u64::from(compact.commands_executed) != num("number_of_commands")
        || compact.last_sw.to_vec() != hex_field(want, "last_status_word")
        || compact.last_data != hex_field(want, "last_response_data")
    {
        return Err(format!("compact response {compact:?}"));
    }
    if compact.encode() != d.packet.data {
        return Err("compact response does not re-encode".into());
    }
    // Re-encode from the decoded fields.
    let again = ResponsePacket {
        tar: d.packet.tar,
        counter: d.packet.counter,
        status: PorStatus::from_name(s(want, "response_status")).ok_or("status name")?,
        data: hex_field(want, "additional_response_data"),
    }
    .encode(&spi, &keys)
    .map_err(|e| format!("encode: {e}"))?;
    if again != por {
        return Err(format!(
            "re-encode: got {}",
            esim_codec::hex::encode(&again)
        ));
    }
    Ok(())
}

#[test]
fn all_scp80_vectors() {
    let v = esim_vectors::json("scp80.json");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 25, "scp80.json should hold 25 cases");
    let mut failures = Vec::new();
    for case in cases {
        let name = s(case, "name");
        let r = match s(case, "kind") {
            "command" => check_command(case),
            "por" => check_por(case),
            other => Err(format!("unknown kind {other}")),
        };
        if let Err(e) = r {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}
