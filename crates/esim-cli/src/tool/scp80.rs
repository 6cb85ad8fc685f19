//! `esim tool scp80 …`: SCP80 secured packets and PoRs (ETSI TS 102 225, 3GPP TS 31.115) by hand.
//! The forms `encode --spi … DATA_HEX` and `decode --enc-key … --mac-key … --json PACKET_HEX` are
//! fixed for scripts.

use crate::output::{Output, hex_arg};
use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use esim_codec::{Tar, hex};
use esim_crypto::SecretKey;
use esim_crypto::scp80::{
    CommandPacket, CompactResponse, Counter, DecodedPor, Integrity, Keyset, Kic, KicAlgorithm, Kid,
    KidCcAlgorithm, KidRcAlgorithm, OpenedCommand, PorStatus, ResponsePacket, Scp80Error, Spi,
    decode_por, parse_command, udh,
};
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Build a command packet (from CPL on) and print it in hex.
    ///
    /// Adds CPL, CHL, counter, padding (PCNTR), the RC/CC and ciphering as the SPI asks. KIc and
    /// KID name the algorithms (low nibble) and key indices (high nibble); keys are needed only
    /// when the SPI asks for ciphering or a CC.
    ///
    /// Examples:
    ///   esim tool scp80 encode --spi 1639 --kic 12 --kid 12 --tar 000001 --counter 0000000101 \
    ///     --enc-key 00112233445566778899aabbccddeeff --mac-key ffeeddccbbaa99887766554433221100 \
    ///     80e2910006bf3e035c015a
    ///   esim tool scp80 encode --udh --spi 0001 --kic 12 --kid 12 --tar 000001 --counter 00 00a4040000
    #[command(verbatim_doc_comment)]
    Encode(Box<EncodeArgs>),
    /// Decode a command packet: header, SPI and PoR settings, counter, verified data.
    ///
    /// Takes the packet from CPL on, or the SMS user data with the UDH `027000` in front.
    /// Deciphers and checks the CC with the given keys; prints the fields as text, or with
    /// --json as one object (spi, kic, kid, tar, counter, data and more, lowercase hex).
    ///
    /// Examples:
    ///   esim tool scp80 decode --enc-key 00112233445566778899aabbccddeeff \
    ///     --mac-key ffeeddccbbaa99887766554433221100 --json \
    ///     00281516391212000001aa8a97a6e783d898cd809d7d42e3561f92d2f3a04f579ba88087fc20a2c22316
    ///   esim tool scp80 decode 02700000150d00193535b0000000000000000000a40000023f00
    #[command(verbatim_doc_comment)]
    Decode(Box<DecodeArgs>),
    /// Build a PoR (response packet) and print it as SMS user data (`027100` RPL …).
    ///
    /// --spi is the SPI of the command being answered: its second byte decides the PoR's
    /// RC/CC and ciphering. --status is a hex byte or a name such as por_ok or cntr_low.
    ///
    /// Example:
    ///   esim tool scp80 encode-por --spi 1639 --kic 12 --kid 12 --tar 000001 --counter 0000000101 \
    ///     --status por_ok --enc-key 00112233445566778899aabbccddeeff \
    ///     --mac-key ffeeddccbbaa99887766554433221100 019000
    #[command(verbatim_doc_comment)]
    EncodePor(Box<EncodePorArgs>),
    /// Decode and verify a PoR (with or without the UDH `027100` in front).
    ///
    /// --spi, --kic and --kid are those of the command the PoR answers.
    ///
    /// Example:
    ///   esim tool scp80 decode-por --spi 0609 --kic 35 --kid 35 \
    ///     --enc-key 300102030405060708090a0b0c0d0e0f --mac-key 301102030405060708090a0b0c0d0e0f \
    ///     027100001612b0001100000000000000b5bcd6353a421fae016132
    #[command(verbatim_doc_comment)]
    DecodePor(Box<DecodePorArgs>),
}

/// Keys (hex). Never printed.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Ciphering key selected by KIc (DES 8, 3DES 16/24, AES 16/24/32 bytes).
    #[arg(long, value_name = "HEX")]
    enc_key: Option<String>,
    /// RC/CC key selected by KID.
    #[arg(long, value_name = "HEX")]
    mac_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// Security Parameter Indicator, 2 bytes (e.g. 1639).
    #[arg(long, value_name = "HEX")]
    spi: String,
    /// KIc byte: key index (high nibble), algorithm (low: 1 DES, 5 3DES-2key, 9 3DES-3key, 2 AES).
    #[arg(long, value_name = "HEX")]
    kic: String,
    /// KID byte: key index, CC algorithm (1/5/9 DES family CBC-MAC, 2 AES-CMAC) or, for RC,
    /// 1 CRC16, 5 CRC32.
    #[arg(long, value_name = "HEX")]
    kid: String,
    /// Toolkit Application Reference, 3 bytes (ISD-R: 000001).
    #[arg(long, value_name = "HEX")]
    tar: String,
    /// Counter, up to 5 bytes (left-padded with zeros).
    #[arg(long, value_name = "HEX")]
    counter: String,
    #[command(flatten)]
    keys: KeyArgs,
    /// Print the SMS user data (UDH 027000 in front) instead of the bare packet.
    #[arg(long)]
    udh: bool,
    /// The secured data (C-APDUs) in hex.
    #[arg(value_name = "DATA_HEX")]
    data: String,
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// Last counter the receiver accepted: also check the packet's counter against it.
    #[arg(long, value_name = "HEX")]
    stored_counter: Option<String>,
    /// The command packet (from CPL), or SMS user data starting with the UDH 027000.
    #[arg(value_name = "PACKET_HEX")]
    packet: String,
}

#[derive(Debug, Args)]
pub struct EncodePorArgs {
    /// SPI of the command being answered (2 bytes).
    #[arg(long, value_name = "HEX")]
    spi: String,
    /// KIc byte of the command.
    #[arg(long, value_name = "HEX")]
    kic: String,
    /// KID byte of the command.
    #[arg(long, value_name = "HEX")]
    kid: String,
    /// TAR, 3 bytes.
    #[arg(long, value_name = "HEX")]
    tar: String,
    /// Counter of the command, up to 5 bytes.
    #[arg(long, value_name = "HEX")]
    counter: String,
    /// Response status: hex byte (00…0C) or name (por_ok, rc_cc_ds_failed, cntr_low, …).
    #[arg(long, default_value = "por_ok")]
    status: String,
    #[command(flatten)]
    keys: KeyArgs,
    /// Additional response data in hex (e.g. the compact response 019000).
    #[arg(value_name = "DATA_HEX", default_value = "")]
    data: String,
}

#[derive(Debug, Args)]
pub struct DecodePorArgs {
    /// SPI of the command being answered (2 bytes).
    #[arg(long, value_name = "HEX")]
    spi: String,
    /// KIc byte of the command.
    #[arg(long, value_name = "HEX")]
    kic: String,
    /// KID byte of the command.
    #[arg(long, value_name = "HEX")]
    kid: String,
    #[command(flatten)]
    keys: KeyArgs,
    /// The PoR: SMS user data (027100 RPL …) or the bare packet from RPL on.
    #[arg(value_name = "POR_HEX")]
    por: String,
}

pub fn run(cmd: Cmd, out: &Output) -> anyhow::Result<()> {
    match cmd {
        Cmd::Encode(a) => encode(*a, out),
        Cmd::Decode(a) => decode(*a, out),
        Cmd::EncodePor(a) => encode_por(*a, out),
        Cmd::DecodePor(a) => decode_por_cmd(*a, out),
    }
}

fn fixed<const N: usize>(name: &str, text: &str) -> anyhow::Result<[u8; N]> {
    let b = hex_arg(name, text)?;
    let n = b.len();
    b.try_into()
        .map_err(|_| anyhow!("{name}: must be {N} byte(s), got {n}"))
}

fn spi_arg(text: &str) -> anyhow::Result<Spi> {
    let b = fixed::<2>("--spi", text)?;
    Spi::from_bytes(b).map_err(|e| anyhow!("--spi: {e}"))
}

fn counter_arg(name: &str, text: &str) -> anyhow::Result<Counter> {
    let b = hex_arg(name, text)?;
    if b.is_empty() || b.len() > 5 {
        bail!("{name}: must be 1 to 5 bytes, got {}", b.len());
    }
    let mut c = [0u8; 5];
    c[5 - b.len()..].copy_from_slice(&b);
    Ok(Counter::from_bytes(c))
}

fn key_arg(name: &str, text: &Option<String>) -> anyhow::Result<Option<SecretKey>> {
    text.as_deref()
        .map(|t| hex_arg(name, t).map(SecretKey::from_vec))
        .transpose()
}

fn keyset(kic: Kic, kid: Kid, keys: &KeyArgs) -> anyhow::Result<Keyset> {
    Ok(Keyset::with_optional_keys(
        kic,
        key_arg("--enc-key", &keys.enc_key)?,
        kid,
        key_arg("--mac-key", &keys.mac_key)?,
    ))
}

/// Adds the PoR status a receiver would send for a security failure.
fn explain(e: Scp80Error) -> anyhow::Error {
    match e.por_status() {
        Some(s) => anyhow!("{e} (a card answers with PoR status {s})"),
        None => anyhow!(e),
    }
}

fn encode(a: EncodeArgs, out: &Output) -> anyhow::Result<()> {
    let spi = spi_arg(&a.spi)?;
    let kic = Kic(fixed::<1>("--kic", &a.kic)?[0]);
    let kid = Kid(fixed::<1>("--kid", &a.kid)?[0]);
    let tar = Tar(fixed::<3>("--tar", &a.tar)?);
    let counter = counter_arg("--counter", &a.counter)?;
    let data = hex_arg("DATA_HEX", &a.data)?;
    let keys = keyset(kic, kid, &a.keys)?;
    let packet = CommandPacket {
        spi,
        tar,
        counter,
        data,
    }
    .encode(&keys)
    .map_err(explain)
    .context("encode")?;
    let user_data = udh::add_command_udh(&packet);
    if out.json {
        return out.print_json(&json!({
            "command_packet": hex::encode(&packet),
            "sms_user_data": hex::encode(&user_data),
        }));
    }
    outln!("{}", hex::encode(if a.udh { &user_data } else { &packet }));
    Ok(())
}

fn kic_name(kic: Kic) -> &'static str {
    match kic.algorithm() {
        KicAlgorithm::Cipher(c) => c.name(),
        KicAlgorithm::Implicit => "implicit",
        KicAlgorithm::DesEcb => "des_ecb",
        KicAlgorithm::Proprietary => "proprietary",
        KicAlgorithm::Reserved(_) => "reserved",
    }
}

fn kid_name(kid: Kid, integrity: Integrity) -> &'static str {
    if integrity == Integrity::Rc {
        match kid.rc_algorithm() {
            KidRcAlgorithm::Rc(r) => r.name(),
            KidRcAlgorithm::Implicit => "implicit",
            KidRcAlgorithm::Proprietary => "proprietary",
            KidRcAlgorithm::Reserved(_) => "reserved",
        }
    } else {
        match kid.cc_algorithm() {
            KidCcAlgorithm::Cc(c) => c.name(),
            KidCcAlgorithm::Implicit => "implicit",
            KidCcAlgorithm::Proprietary => "proprietary",
            KidCcAlgorithm::Reserved(_) => "reserved",
        }
    }
}

fn spi_json(spi: &Spi) -> Value {
    json!({
        "counter": spi.counter.name(),
        "ciphering": spi.ciphering,
        "rc_cc_ds": spi.integrity.name(),
        "por": spi.por.name(),
        "por_rc_cc_ds": spi.por_integrity.name(),
        "por_shall_be_ciphered": spi.por_ciphered,
        "por_in_submit": spi.por_via_submit,
    })
}

/// Strips a command UDH if the input is not a bare packet but SMS user data.
fn command_packet(bytes: &[u8]) -> (Option<&[u8]>, &[u8]) {
    if parse_command(bytes).is_err() {
        if let Ok((u, p)) = udh::split_udh(bytes, udh::IEI_CPI) {
            return (Some(u), p);
        }
    }
    (None, bytes)
}

fn decode(a: DecodeArgs, out: &Output) -> anyhow::Result<()> {
    let bytes = hex_arg("PACKET_HEX", &a.packet)?;
    let (udh_bytes, packet) = command_packet(&bytes);
    let where_ = match udh_bytes {
        Some(u) => format!("decode (offsets after the {}-byte UDH)", u.len()),
        None => "decode".to_string(),
    };
    let parsed = parse_command(packet)
        .map_err(explain)
        .context(where_.clone())?;
    let h = *parsed.header();
    let keys = keyset(h.kic, h.kid, &a.keys)?;
    let opened = parsed.open(&keys).map_err(explain).context(where_)?;
    let stored = a
        .stored_counter
        .as_deref()
        .map(|t| counter_arg("--stored-counter", t))
        .transpose()?;
    let check = stored.map(|s| opened.check_counter(s));
    if out.json {
        let mut v = command_json(&opened, udh_bytes);
        if let Some(c) = check {
            v["counter_check"] = json!(match c {
                Ok(()) => "ok".to_string(),
                Err(s) => s.to_string(),
            });
        }
        return out.print_json(&v);
    }
    print_command(&opened, udh_bytes)?;
    if let Some(c) = check {
        match c {
            Ok(()) => outln!("counter check  ok"),
            Err(s) => outln!("counter check  failed: PoR status {s}"),
        }
    }
    Ok(())
}

fn command_json(o: &OpenedCommand, udh_bytes: Option<&[u8]>) -> Value {
    let h = &o.header;
    let ic_name = match h.spi.integrity {
        Integrity::Rc => "rc",
        _ => "cc",
    };
    let mut v = json!({
        "cpl": h.cpl,
        "chl": h.chl,
        "spi": hex::encode(&h.spi.to_bytes()),
        "spi_fields": spi_json(&h.spi),
        "kic": format!("{:02x}", h.kic.0),
        "kic_fields": { "key_index": h.kic.key_index(), "algorithm": kic_name(h.kic) },
        "kid": format!("{:02x}", h.kid.0),
        "kid_fields": {
            "key_index": h.kid.key_index(),
            "algorithm": kid_name(h.kid, h.spi.integrity),
        },
        "tar": hex::encode(&h.tar.0),
        "counter": hex::encode(&o.counter.to_bytes()),
        "pcntr": o.padding,
        "padding": o.padding,
        "data": hex::encode(&o.data),
    });
    if !o.integrity.is_empty() {
        v[ic_name] = json!(hex::encode(&o.integrity));
        v["verified"] = json!(true);
    }
    if let Some(u) = udh_bytes {
        v["udh"] = json!(hex::encode(u));
    }
    v
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn print_command(o: &OpenedCommand, udh_bytes: Option<&[u8]>) -> anyhow::Result<()> {
    let h = &o.header;
    if let Some(u) = udh_bytes {
        outln!("UDH            {}", hex::encode(u));
    }
    outln!("CPL            {} bytes", h.cpl);
    outln!("CHL            {} bytes", h.chl);
    outln!("SPI            {}", hex::encode(&h.spi.to_bytes()));
    outln!("  counter      {}", h.spi.counter.name());
    outln!("  ciphering    {}", yes(h.spi.ciphering));
    outln!("  RC/CC/DS     {}", h.spi.integrity.name());
    outln!("PoR            {}", h.spi.por.name());
    outln!("  RC/CC/DS     {}", h.spi.por_integrity.name());
    outln!("  ciphered     {}", yes(h.spi.por_ciphered));
    outln!(
        "  sent in      {}",
        if h.spi.por_via_submit {
            "SMS-SUBMIT"
        } else {
            "SMS-DELIVER-REPORT"
        }
    );
    outln!(
        "KIc            {:02x} (key {}, {})",
        h.kic.0,
        h.kic.key_index(),
        kic_name(h.kic)
    );
    outln!(
        "KID            {:02x} (key {}, {})",
        h.kid.0,
        h.kid.key_index(),
        kid_name(h.kid, h.spi.integrity)
    );
    outln!("TAR            {}", hex::encode(&h.tar.0));
    outln!("CNTR           {}", o.counter);
    outln!("PCNTR          {} padding bytes", o.padding);
    if !o.integrity.is_empty() {
        let n = if h.spi.integrity == Integrity::Rc {
            "RC"
        } else {
            "CC"
        };
        outln!("{n}             {} (verified)", hex::encode(&o.integrity));
    }
    outln!("data           {}", hex::encode(&o.data));
    Ok(())
}

fn status_arg(text: &str) -> anyhow::Result<PorStatus> {
    if let Some(s) = PorStatus::from_name(text) {
        return Ok(s);
    }
    let b = fixed::<1>("--status", text)
        .map_err(|_| anyhow!("--status: {text:?} is neither a status name nor one hex byte"))?;
    Ok(PorStatus::from_byte(b[0]))
}

fn encode_por(a: EncodePorArgs, out: &Output) -> anyhow::Result<()> {
    let spi = spi_arg(&a.spi)?;
    let kic = Kic(fixed::<1>("--kic", &a.kic)?[0]);
    let kid = Kid(fixed::<1>("--kid", &a.kid)?[0]);
    let por = ResponsePacket {
        tar: Tar(fixed::<3>("--tar", &a.tar)?),
        counter: counter_arg("--counter", &a.counter)?,
        status: status_arg(&a.status)?,
        data: hex_arg("DATA_HEX", &a.data)?,
    };
    let keys = keyset(kic, kid, &a.keys)?;
    let ud = por
        .encode(&spi, &keys)
        .map_err(explain)
        .context("encode-por")?;
    if out.json {
        return out.print_json(&json!({
            "por": hex::encode(&ud),
            "packet": hex::encode(ud.get(udh::RESPONSE_UDH.len()..).unwrap_or_default()),
        }));
    }
    outln!("{}", hex::encode(&ud));
    Ok(())
}

fn decode_por_cmd(a: DecodePorArgs, out: &Output) -> anyhow::Result<()> {
    let spi = spi_arg(&a.spi)?;
    let kic = Kic(fixed::<1>("--kic", &a.kic)?[0]);
    let kid = Kid(fixed::<1>("--kid", &a.kid)?[0]);
    let keys = keyset(kic, kid, &a.keys)?;
    let bytes = hex_arg("POR_HEX", &a.por)?;
    let (ud, added) = if udh::split_udh(&bytes, udh::IEI_RPI).is_ok() {
        (bytes, false)
    } else {
        (udh::add_response_udh(&bytes), true)
    };
    let ctx = if added {
        "decode-por (offsets count the UDH 027100 placed in front)"
    } else {
        "decode-por"
    };
    let d = decode_por(&ud, &spi, &keys).map_err(explain).context(ctx)?;
    let compact = d.compact_response().transpose().context(ctx)?;
    if out.json {
        return out.print_json(&por_json(&d, compact.as_ref()));
    }
    outln!("RPL            {} bytes", d.rpl);
    outln!("RHL            {} bytes", d.rhl);
    outln!("TAR            {}", hex::encode(&d.packet.tar.0));
    outln!("CNTR           {}", d.packet.counter);
    outln!("PCNTR          {} padding bytes", d.padding);
    outln!("status         {}", d.packet.status);
    if !d.integrity.is_empty() {
        outln!("RC/CC          {} (verified)", hex::encode(&d.integrity));
    }
    outln!("data           {}", hex::encode(&d.packet.data));
    if let Some(c) = compact {
        outln!("  commands     {}", c.commands_executed);
        outln!("  last SW      {}", hex::encode(&c.last_sw));
        outln!("  last data    {}", hex::encode(&c.last_data));
    }
    Ok(())
}

fn por_json(d: &DecodedPor, compact: Option<&CompactResponse>) -> Value {
    let mut v = json!({
        "rpl": d.rpl,
        "rhl": d.rhl,
        "tar": hex::encode(&d.packet.tar.0),
        "cntr": hex::encode(&d.packet.counter.to_bytes()),
        "pcntr": d.padding,
        "response_status": d.packet.status.name(),
        "response_status_code": d.packet.status.byte(),
        "cc": hex::encode(&d.integrity),
        "additional_response_data": hex::encode(&d.packet.data),
    });
    if let Some(c) = compact {
        v["number_of_commands"] = json!(c.commands_executed);
        v["last_status_word"] = json!(hex::encode(&c.last_sw));
        v["last_response_data"] = json!(hex::encode(&c.last_data));
    }
    v
}
