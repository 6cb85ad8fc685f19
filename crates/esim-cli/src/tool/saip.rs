//! `esim tool saip decode|encode|personalize|validate`: TCA eUICC Profile Packages (SAIP).

use crate::output::{Output, emit, hex_arg};
use anyhow::{Context, bail};
use clap::Subcommand;
use esim_saip::Zeroizing;
use esim_saip::{Personalization, ProfilePackage, json as saip_json, validate};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List the profile elements of a DER profile package (with --json: a form `encode` turns
    /// back into identical DER).
    ///
    /// Examples:
    ///   esim tool saip decode TS48V1-A-UNIQUE.der
    ///   esim tool saip decode TS48V1-A-UNIQUE.der --json > profile.json
    #[command(verbatim_doc_comment)]
    Decode {
        /// The profile package (DER).
        file: PathBuf,
    },
    /// Encode the JSON form written by `decode --json` back into DER.
    ///
    /// Example: esim tool saip encode profile.json -o profile.der
    Encode {
        /// The JSON document.
        file: PathBuf,
        /// Output file (DER); without it the DER is printed in hex.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Personalize a template package (e.g. a TS.48 profile) and validate the result.
    ///
    /// Example:
    ///   esim tool saip personalize TS48V1-A-UNIQUE.der --iccid 8949449999999991234 \
    ///     --imsi 001019876543210 --ki 000102030405060708090A0B0C0D0E0F \
    ///     --opc 0F0E0D0C0B0A09080706050403020100 --pin1 1234 --puk1 12345678 -o out.der
    #[command(verbatim_doc_comment)]
    Personalize(Box<PersoArgs>),
    /// Validate a DER profile package; lists every problem and exits with 1 if there is one.
    Validate {
        /// The profile package (DER).
        file: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct PersoArgs {
    /// The template package (DER).
    template: PathBuf,
    /// Output file (DER).
    #[arg(short, long)]
    output: PathBuf,
    /// ICCID (18–20 digits): header and EF.ICCID.
    #[arg(long)]
    iccid: Option<String>,
    /// IMSI (6–15 digits): EF.IMSI.
    #[arg(long)]
    imsi: Option<String>,
    /// Subscriber key K (hex), in every akaParameter with an algoParameter.
    #[arg(long)]
    ki: Option<String>,
    /// OPc (hex).
    #[arg(long)]
    opc: Option<String>,
    /// PIN1 (4–8 digits).
    #[arg(long)]
    pin1: Option<String>,
    /// PUK1 (8 digits).
    #[arg(long)]
    puk1: Option<String>,
    /// ADM1: 4–8 digits, or 8 bytes in hex (16 hex digits).
    #[arg(long)]
    adm1: Option<String>,
    /// SCP80 key version number of --kic/--kid/--kik.
    #[arg(long, default_value = "01", value_parser = parse_kvn)]
    scp80_kvn: u8,
    /// SCP80 KIc (hex).
    #[arg(long, requires = "kid")]
    kic: Option<String>,
    /// SCP80 KID (hex).
    #[arg(long, requires = "kic")]
    kid: Option<String>,
    /// SCP80 KIK (hex).
    #[arg(long, requires = "kic")]
    kik: Option<String>,
    /// SCP03 key version number of --scp03-enc/--scp03-mac/--scp03-dek.
    #[arg(long, default_value = "30", value_parser = parse_kvn)]
    scp03_kvn: u8,
    /// SCP03 S-ENC key (hex).
    #[arg(long, requires_all = ["scp03_mac", "scp03_dek"])]
    scp03_enc: Option<String>,
    /// SCP03 S-MAC key (hex).
    #[arg(long, requires = "scp03_enc")]
    scp03_mac: Option<String>,
    /// SCP03 DEK (hex).
    #[arg(long, requires = "scp03_enc")]
    scp03_dek: Option<String>,
    /// POL1 (hex), header `pol`.
    #[arg(long)]
    pol1: Option<String>,
    /// Connectivity parameters (hex), header `connectivityParameters`.
    #[arg(long)]
    connectivity: Option<String>,
}

fn parse_kvn(s: &str) -> Result<u8, String> {
    u8::from_str_radix(s.trim_start_matches("0x"), 16)
        .map_err(|_| format!("{s:?} is not a key version number (one hex byte, e.g. 01 or 30)"))
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn decode_file(path: &Path) -> anyhow::Result<(Vec<u8>, Vec<esim_saip::LocatedElement>)> {
    let der = read(path)?;
    let located =
        ProfilePackage::decode_located(&der).with_context(|| format!("{}", path.display()))?;
    Ok((der, located))
}

fn emit_json(v: &Value) -> anyhow::Result<()> {
    emit(&serde_json::to_string_pretty(v)?)
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

pub fn run(cmd: Cmd, out: &Output) -> anyhow::Result<()> {
    match cmd {
        Cmd::Decode { file } => decode(&file, out),
        Cmd::Encode { file, output } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let doc: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let pkg = saip_json::from_json(&doc).with_context(|| format!("{}", file.display()))?;
            let der = pkg.encode()?;
            match output {
                Some(o) => write(&o, &der),
                None => emit(&esim_codec::hex::encode(&der).to_ascii_uppercase()),
            }
        }
        Cmd::Personalize(args) => personalize(*args, out),
        Cmd::Validate { file } => {
            let (_, located) = decode_file(&file)?;
            let pkg = ProfilePackage {
                elements: located.into_iter().map(|l| l.element).collect(),
            };
            let problems = validate(&pkg);
            if out.json {
                let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
                emit_json(&json!({ "valid": problems.is_empty(), "problems": list }))?;
            } else if problems.is_empty() {
                emit(&format!("{}: valid", file.display()))?;
            } else {
                for p in &problems {
                    emit(&format!("{p}"))?;
                }
            }
            if let Some(first) = problems.first() {
                bail!(
                    "{}: {} problem(s), first: {first}",
                    file.display(),
                    problems.len()
                );
            }
            Ok(())
        }
    }
}

fn decode(file: &Path, out: &Output) -> anyhow::Result<()> {
    let (_, located) = decode_file(file)?;
    let pkg = ProfilePackage {
        elements: located.iter().map(|l| l.element.clone()).collect(),
    };
    let version = pkg.saip_version().map(|v| v.to_string());
    let iccid = pkg.iccid().ok().map(|i| i.as_str().to_string());
    let imsi = pkg.imsi().ok().map(|i| i.as_str().to_string());
    if out.json {
        let mut doc = saip_json::to_json(&pkg)?;
        let list: Vec<Value> = located
            .iter()
            .map(|l| {
                json!({
                    "index": l.index,
                    "offset": l.offset,
                    "length": l.len,
                    "tag": l.element.tag().to_string(),
                    "type": l.element.type_name(),
                    "identification": l.element.identification(),
                })
            })
            .collect();
        if let Value::Object(m) = &mut doc {
            m.insert("saip_version".into(), json!(version));
            m.insert("iccid".into(), json!(iccid));
            m.insert("imsi".into(), json!(imsi));
            m.insert("profile_type".into(), json!(pkg.profile_type()));
            m.insert("pe_list".into(), Value::Array(list));
        }
        return emit_json(&doc);
    }
    emit(&format!(
        "SAIP version {}, ICCID {}, IMSI {}, profile type {:?}",
        version.as_deref().unwrap_or("?"),
        iccid.as_deref().unwrap_or("?"),
        imsi.as_deref().unwrap_or("?"),
        pkg.profile_type().unwrap_or("")
    ))?;
    emit(&format!(
        "mandatory services: {}",
        pkg.mandatory_services().join(", ")
    ))?;
    emit(&format!(
        "mandatory GFSTE: {}",
        pkg.mandatory_gfste().join(", ")
    ))?;
    for l in &located {
        let id = l
            .element
            .identification()
            .map(|i| format!(" id={i}"))
            .unwrap_or_default();
        let tpl = l
            .element
            .template_id()
            .map(|t| format!(" template={t}"))
            .unwrap_or_default();
        let raw = match &l.element {
            esim_saip::ProfileElement::Raw(r) => format!(" (raw: {:?})", r.reason),
            _ => String::new(),
        };
        emit(&format!(
            "#{:<3} @{:<6} {:>5} bytes  {:<6} {}{id}{tpl}{raw}",
            l.index,
            l.offset,
            l.len,
            l.element.tag().to_string(),
            l.element.type_name()
        ))?;
    }
    Ok(())
}

fn secret_hex(name: &str, v: &Option<String>) -> anyhow::Result<Option<Zeroizing<Vec<u8>>>> {
    v.as_ref()
        .map(|s| hex_arg(name, s).map(Zeroizing::new))
        .transpose()
}

fn personalize(a: PersoArgs, out: &Output) -> anyhow::Result<()> {
    let der = read(&a.template)?;
    let template =
        ProfilePackage::decode(&der).with_context(|| format!("{}", a.template.display()))?;
    let mut p = Personalization {
        iccid: a
            .iccid
            .as_deref()
            .map(esim_codec::Iccid::parse)
            .transpose()
            .context("--iccid")?,
        imsi: a
            .imsi
            .as_deref()
            .map(esim_codec::Imsi::parse)
            .transpose()
            .context("--imsi")?,
        ki: secret_hex("--ki", &a.ki)?,
        opc: secret_hex("--opc", &a.opc)?,
        pin1: a.pin1.clone().map(Zeroizing::new),
        puk1: a.puk1.clone().map(Zeroizing::new),
        adm1: match &a.adm1 {
            None => None,
            Some(s) if s.len() == 16 => Some(Zeroizing::new(hex_arg("--adm1", s)?)),
            Some(s) => Some(Zeroizing::new(s.as_bytes().to_vec())),
        },
        pol1: a
            .pol1
            .as_deref()
            .map(|s| hex_arg("--pol1", s))
            .transpose()?,
        connectivity_parameters: a
            .connectivity
            .as_deref()
            .map(|s| hex_arg("--connectivity", s))
            .transpose()?,
        ..Default::default()
    };
    if let (Some(kic), Some(kid)) = (secret_hex("--kic", &a.kic)?, secret_hex("--kid", &a.kid)?) {
        let kik = secret_hex("--kik", &a.kik)?;
        p.scp80_keys(
            a.scp80_kvn,
            &kic,
            &kid,
            kik.as_deref().map(|v| v.as_slice()),
        );
    }
    if let (Some(enc), Some(mac), Some(dek)) = (
        secret_hex("--scp03-enc", &a.scp03_enc)?,
        secret_hex("--scp03-mac", &a.scp03_mac)?,
        secret_hex("--scp03-dek", &a.scp03_dek)?,
    ) {
        p.scp03_keys(a.scp03_kvn, &enc, &mac, &dek);
    }
    let pkg = p.apply(&template)?;
    let der = pkg.encode()?;
    write(&a.output, &der)?;
    if out.json {
        emit_json(&json!({
            "output": a.output.display().to_string(),
            "size": der.len(),
            "iccid": pkg.iccid().ok().map(|i| i.as_str().to_string()),
            "imsi": pkg.imsi().ok().map(|i| i.as_str().to_string()),
        }))?;
    } else {
        emit(&format!(
            "{}: {} bytes, valid",
            a.output.display(),
            der.len()
        ))?;
    }
    Ok(())
}
