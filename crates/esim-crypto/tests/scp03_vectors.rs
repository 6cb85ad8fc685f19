//! Every case of `shared/vectors/scp03.json` (GP Amd D SCP03 sessions, AES key check values, the
//! SCP02 session and its negative case), one assertion per case naming it.

use esim_codec::Aid;
use esim_crypto::SecretKey;
use esim_crypto::scp02;
use esim_crypto::scp03::{
    self, CardIdle, HostAwaitingInitUpdateResponse, InitUpdateCommand, InitUpdateResponse,
    SecurityLevel, StaticKeys,
};
use esim_vectors::{hex, hex_field, json};
use serde_json::Value;

fn h(v: &Value, k: &str) -> Vec<u8> {
    hex_field(v, k)
}

fn static_keys(case: &Value) -> StaticKeys {
    let sk = &case["static_keys"];
    StaticKeys::new(
        sk["kvn"].as_u64().unwrap() as u8,
        SecretKey::from_vec(h(sk, "enc")),
        SecretKey::from_vec(h(sk, "mac")),
        SecretKey::from_vec(h(sk, "dek")),
    )
    .unwrap()
}

fn arr8(v: &[u8]) -> [u8; 8] {
    v.try_into().unwrap()
}

fn sw(v: &Value) -> u16 {
    let b = h(v, "sw");
    u16::from_be_bytes([b[0], b[1]])
}

/// Runs one SCP03 session case; returns a description of the first divergence.
fn run_scp03_case(case: &Value) -> Result<(), String> {
    let name = case["name"].as_str().unwrap();
    let keys = static_keys(case);
    let level = SecurityLevel::new(h(case, "security_level")[0]).map_err(|e| e.to_string())?;
    let hc = arr8(&h(case, "host_challenge"));
    let (host, iu) = HostAwaitingInitUpdateResponse::start(keys.clone(), hc, level);
    if iu != h(case, "initialize_update_cmd") {
        return Err(format!(
            "{name}: INITIALIZE UPDATE command {}",
            hex::encode(&iu)
        ));
    }
    let cmd = InitUpdateCommand::parse(&iu).map_err(|e| e.to_string())?;
    if cmd.host_challenge != hc || cmd.kvn != keys.kvn() {
        return Err(format!("{name}: INITIALIZE UPDATE parse"));
    }
    let rsp_bytes = h(case, "initialize_update_rsp");
    let rsp = InitUpdateResponse::parse(&rsp_bytes).map_err(|e| e.to_string())?;
    let f = &case["initialize_update_rsp_fields"];
    if rsp.key_diversification_data.to_vec() != h(f, "key_diversification_data")
        || rsp.key_info().to_vec() != h(f, "key_info")
        || rsp.card_challenge.to_vec() != h(f, "card_challenge")
        || rsp.card_cryptogram.to_vec() != h(f, "card_cryptogram")
        || rsp.sequence_counter.map(|s| s.to_vec()) != Some(h(f, "sequence_counter"))
    {
        return Err(format!("{name}: INITIALIZE UPDATE response fields {rsp:?}"));
    }
    if rsp.to_bytes() != rsp_bytes {
        return Err(format!("{name}: INITIALIZE UPDATE response re-encoding"));
    }
    // The vectors' pseudo-random card challenges were made with the ISD-R AID.
    let host = host.expect_sd_aid(Aid::isd_r().as_bytes());
    let (host, ext_auth) = host
        .handle(&rsp_bytes, 0x9000)
        .map_err(|e| format!("{name}: {e}"))?;
    let d = &case["derived"];
    let sk = host.session_keys();
    for (what, got, want) in [
        ("s_enc", sk.s_enc.expose().to_vec(), h(d, "s_enc")),
        ("s_mac", sk.s_mac.expose().to_vec(), h(d, "s_mac")),
        ("s_rmac", sk.s_rmac.expose().to_vec(), h(d, "s_rmac")),
        (
            "host_cryptogram",
            host.host_cryptogram().to_vec(),
            h(d, "host_cryptogram"),
        ),
        (
            "card_cryptogram",
            host.init_update_response().card_cryptogram.to_vec(),
            h(d, "card_cryptogram"),
        ),
    ] {
        if got != want {
            return Err(format!("{name}: {what} {}", hex::encode(&got)));
        }
    }
    let steps = case["steps"].as_array().unwrap();
    let ea = &steps[0];
    if ext_auth != h(ea, "wrapped") {
        return Err(format!(
            "{name}: EXTERNAL AUTHENTICATE {}",
            hex::encode(&ext_auth)
        ));
    }
    if host.channel().mac_chaining_value().to_vec() != h(ea, "mac_chaining_value_after") {
        return Err(format!(
            "{name}: chaining value after EXTERNAL AUTHENTICATE"
        ));
    }
    let mut session = host.handle(0x9000).map_err(|e| e.to_string())?;
    for (i, step) in steps.iter().enumerate().skip(1) {
        match step["op"].as_str().unwrap() {
            "wrap_cmd" => {
                let w = session
                    .wrap_cmd(&h(step, "plain"))
                    .map_err(|e| format!("{name} step {i}: {e}"))?;
                if w != h(step, "wrapped") {
                    return Err(format!("{name} step {i}: wrapped {}", hex::encode(&w)));
                }
                if session.channel().mac_chaining_value().to_vec()
                    != h(step, "mac_chaining_value_after")
                {
                    return Err(format!("{name} step {i}: chaining value"));
                }
            }
            "unwrap_rsp" => {
                let p = session
                    .unwrap_rsp(&h(step, "wrapped"), sw(step))
                    .map_err(|e| format!("{name} step {i}: {e}"))?;
                if p != h(step, "plain") {
                    return Err(format!("{name} step {i}: plain {}", hex::encode(&p)));
                }
            }
            other => return Err(format!("{name} step {i}: unknown op {other}")),
        }
    }
    Ok(())
}

/// The card side of the same session: our card, given the vector's sequence counter and the
/// ISD-R AID, produces the vector's INITIALIZE UPDATE response byte for byte, accepts the
/// EXTERNAL AUTHENTICATE, unwraps every command to the plain APDU and wraps the response.
fn run_scp03_card(case: &Value) -> Result<(), String> {
    let name = case["name"].as_str().unwrap();
    let rsp = InitUpdateResponse::parse(&h(case, "initialize_update_rsp")).unwrap();
    let counter = rsp.sequence_counter_value().unwrap();
    let mut card = CardIdle::new(
        static_keys(case),
        Aid::isd_r().as_bytes(),
        rsp.key_diversification_data,
        counter - 1,
    );
    let (card_auth, iu_rsp) = card
        .handle(&h(case, "initialize_update_cmd"))
        .map_err(|e| format!("{name}: {e}"))?;
    if iu_rsp != h(case, "initialize_update_rsp") {
        return Err(format!("{name}: card IU response {}", hex::encode(&iu_rsp)));
    }
    let steps = case["steps"].as_array().unwrap();
    let mut session = card_auth
        .handle(&h(&steps[0], "wrapped"))
        .map_err(|e| format!("{name}: card EXTERNAL AUTHENTICATE: {e}"))?;
    for (i, step) in steps.iter().enumerate().skip(1) {
        match step["op"].as_str().unwrap() {
            "wrap_cmd" => {
                let p = session
                    .unwrap_cmd(&h(step, "wrapped"))
                    .map_err(|e| format!("{name} step {i}: {e}"))?;
                if p != h(step, "plain") {
                    return Err(format!("{name} step {i}: card plain {}", hex::encode(&p)));
                }
            }
            "unwrap_rsp" => {
                let w = session
                    .wrap_rsp(&h(step, "plain"), sw(step))
                    .map_err(|e| format!("{name} step {i}: {e}"))?;
                if w != h(step, "wrapped") {
                    return Err(format!("{name} step {i}: card wrapped {}", hex::encode(&w)));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

mod hex {
    pub fn encode(b: &[u8]) -> String {
        esim_codec::hex::encode(b)
    }
}

#[test]
fn scp03_sessions_host_side() {
    let v = json("scp03.json");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 9);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        assert_eq!(run_scp03_case(case), Ok(()), "case {name}");
    }
}

#[test]
fn scp03_sessions_card_side() {
    let v = json("scp03.json");
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        assert_eq!(run_scp03_card(case), Ok(()), "case {name}");
    }
}

#[test]
fn scp03_card_challenge_is_pseudo_random_from_isd_r_aid() {
    let v = json("scp03.json");
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let keys = static_keys(case);
        let rsp = InitUpdateResponse::parse(&h(case, "initialize_update_rsp")).unwrap();
        let cc = scp03::pseudo_random_card_challenge(
            keys.enc(),
            rsp.sequence_counter_value().unwrap(),
            Aid::isd_r().as_bytes(),
        )
        .unwrap();
        assert_eq!(cc.to_vec(), h(case, "card_challenge"), "case {name}");
    }
}

#[test]
fn scp03_kcv() {
    let v = json("scp03.json");
    let cases = v["kcv"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for c in cases {
        let key = h(c, "key");
        assert_eq!(
            scp03::key_check_value(&key).unwrap().to_vec(),
            h(c, "kcv"),
            "kcv of key {}",
            c["key"]
        );
    }
}

#[test]
fn scp03_wrong_card_cryptogram_rejected() {
    let v = json("scp03.json");
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut rsp = h(case, "initialize_update_rsp");
        rsp[28] ^= 0x01;
        let (host, _) = HostAwaitingInitUpdateResponse::start(
            static_keys(case),
            arr8(&h(case, "host_challenge")),
            SecurityLevel::new(h(case, "security_level")[0]).unwrap(),
        );
        assert_eq!(
            host.handle(&rsp, 0x9000).err(),
            Some(scp03::Scp03Error::CardCryptogram),
            "case {name}"
        );
    }
}

fn scp02_keys(c: &Value) -> scp02::StaticKeys {
    let sk = &c["static_keys"];
    scp02::StaticKeys::new(
        sk["kvn"].as_u64().unwrap() as u8,
        SecretKey::from_vec(h(sk, "enc")),
        SecretKey::from_vec(h(sk, "mac")),
        SecretKey::from_vec(h(sk, "dek")),
    )
    .unwrap()
}

fn run_scp02_case(c: &Value) -> Result<(), String> {
    let name = c["name"].as_str().unwrap();
    let (host, iu) =
        scp02::HostAwaitingInitUpdateResponse::start(scp02_keys(c), arr8(&h(c, "host_challenge")));
    if iu != h(c, "initialize_update_cmd") {
        return Err(format!("{name}: IU {}", hex::encode(&iu)));
    }
    let (auth, ext_auth) = host
        .handle(&h(c, "initialize_update_rsp"), 0x9000)
        .map_err(|e| format!("{name}: {e}"))?;
    if u64::from(auth.sequence_counter()) != c["sequence_counter"].as_u64().unwrap() {
        return Err(format!("{name}: sequence counter"));
    }
    let d = &c["derived"];
    let k = auth.session_keys();
    for (what, got, want) in [
        ("s_enc", k.s_enc.expose().to_vec(), h(d, "s_enc")),
        ("c_mac", k.c_mac.expose().to_vec(), h(d, "c_mac")),
        ("r_mac", k.r_mac.expose().to_vec(), h(d, "r_mac")),
        ("dek", k.dek.expose().to_vec(), h(d, "dek")),
        (
            "host_cryptogram",
            auth.host_cryptogram().to_vec(),
            h(c, "host_cryptogram"),
        ),
        (
            "card_cryptogram",
            auth.card_cryptogram().to_vec(),
            h(c, "card_cryptogram"),
        ),
    ] {
        if got != want {
            return Err(format!("{name}: {what} {}", hex::encode(&got)));
        }
    }
    let steps = c["steps"].as_array().unwrap();
    if ext_auth != h(&steps[0], "wrapped") {
        return Err(format!(
            "{name}: EXTERNAL AUTHENTICATE {}",
            hex::encode(&ext_auth)
        ));
    }
    let mut session = auth.handle(0x9000).map_err(|e| e.to_string())?;
    for (i, step) in steps.iter().enumerate().skip(1) {
        let w = session
            .wrap_cmd(&h(step, "plain"))
            .map_err(|e| format!("{name} step {i}: {e}"))?;
        if w != h(step, "wrapped") {
            return Err(format!("{name} step {i}: wrapped {}", hex::encode(&w)));
        }
    }
    Ok(())
}

#[test]
fn scp02_session() {
    let v = json("scp03.json");
    let cases = v["scp02"].as_array().unwrap();
    assert_eq!(cases.len(), 1);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        assert_eq!(run_scp02_case(c), Ok(()), "case {name}");
    }
}

#[test]
fn scp02_negative_bad_card_cryptogram() {
    let v = json("scp03.json");
    for c in v["scp02"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let bad = hex(c["negative"]["initialize_update_rsp_bad_cryptogram"]
            .as_str()
            .unwrap());
        let (host, _) = scp02::HostAwaitingInitUpdateResponse::start(
            scp02_keys(c),
            arr8(&h(c, "host_challenge")),
        );
        assert_eq!(
            host.handle(&bad, 0x9000).err(),
            Some(scp02::Scp02Error::CardCryptogram),
            "negative case of {name}"
        );
    }
}
