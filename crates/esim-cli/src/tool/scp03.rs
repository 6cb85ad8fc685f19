//! `esim tool scp03 …`: SCP03 (GlobalPlatform Card Spec v2.3 Amendment D) session keys,
//! cryptograms, wrapping and unwrapping by hand, key check values, and SCP03t (SGP.02 §4.1.3.3)
//! profile wrapping.

use crate::output::{Output, hex_arg};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use esim_codec::hex;
use esim_crypto::SecretKey;
use esim_crypto::scp03::{
    HostAwaitingInitUpdateResponse, SecureChannel, SecurityLevel, SessionKeys, StaticKeys,
    key_check_value,
};
use esim_crypto::scp03t::Scp03tHostAwaitingInitUpdateResponse;
use serde_json::json;
use std::path::PathBuf;

/// Static keyset options.
#[derive(Debug, Args)]
pub struct StaticKeyArgs {
    /// Key-ENC (16, 24 or 32 bytes hex).
    #[arg(long, required_unless_present = "key")]
    enc: Option<String>,
    /// Key-MAC.
    #[arg(long, required_unless_present = "key")]
    mac: Option<String>,
    /// Key-DEK (defaults to Key-ENC's length of zeros: DEK is not used for session keys).
    #[arg(long)]
    dek: Option<String>,
    /// One key used as ENC, MAC and DEK (the SGP.02 ISD-P keyset from ECKA key establishment).
    #[arg(long, conflicts_with_all = ["enc", "mac", "dek"])]
    key: Option<String>,
    /// Key version number (hex byte).
    #[arg(long, default_value = "30")]
    kvn: String,
}

impl StaticKeyArgs {
    fn keys(&self) -> anyhow::Result<StaticKeys> {
        let kvn = byte_arg("--kvn", &self.kvn)?;
        if let Some(k) = &self.key {
            return Ok(StaticKeys::from_base_key(
                kvn,
                SecretKey::from_vec(hex_arg("--key", k)?),
            )?);
        }
        let enc = hex_arg("--enc", self.enc.as_deref().unwrap_or_default())?;
        let mac = hex_arg("--mac", self.mac.as_deref().unwrap_or_default())?;
        let dek = match &self.dek {
            Some(d) => hex_arg("--dek", d)?,
            None => vec![0; enc.len()],
        };
        Ok(StaticKeys::new(
            kvn,
            SecretKey::from_vec(enc),
            SecretKey::from_vec(mac),
            SecretKey::from_vec(dek),
        )?)
    }
}

/// Session state options for stepping a session by hand.
#[derive(Debug, Args)]
pub struct SessionArgs {
    /// S-ENC session key (hex).
    #[arg(long)]
    s_enc: String,
    /// S-MAC session key (hex).
    #[arg(long)]
    s_mac: String,
    /// S-RMAC session key (hex; needed for R-MAC levels).
    #[arg(long)]
    s_rmac: Option<String>,
    /// Security level (hex): 01, 03, 11, 13 or 33.
    #[arg(long, default_value = "33")]
    level: String,
    /// MAC chaining value (16 bytes hex) before this step; after EXTERNAL AUTHENTICATE it is that
    /// command's full CMAC.
    #[arg(long)]
    mcv: String,
    /// Encryption counter: for `wrap`, the counter of the previous command (0 right after
    /// EXTERNAL AUTHENTICATE); for `unwrap`, the counter `wrap` printed for the command answered.
    #[arg(long, default_value_t = 0)]
    counter: u128,
}

impl SessionArgs {
    fn channel(&self) -> anyhow::Result<SecureChannel> {
        let s_enc = hex_arg("--s-enc", &self.s_enc)?;
        let s_mac = hex_arg("--s-mac", &self.s_mac)?;
        let s_rmac = match &self.s_rmac {
            Some(r) => hex_arg("--s-rmac", r)?,
            None => s_mac.clone(),
        };
        let keys = SessionKeys::new(
            SecretKey::from_vec(s_enc),
            SecretKey::from_vec(s_mac),
            SecretKey::from_vec(s_rmac),
        )?;
        let level = SecurityLevel::new(byte_arg("--level", &self.level)?)?;
        let mcv: [u8; 16] = hex_arg("--mcv", &self.mcv)?
            .try_into()
            .map_err(|v: Vec<u8>| anyhow::anyhow!("--mcv must be 16 bytes, got {}", v.len()))?;
        Ok(SecureChannel::new(keys, level, mcv, self.counter))
    }
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Derive session keys and cryptograms; print the EXTERNAL AUTHENTICATE APDU.
    ///
    /// Inputs: the static keys, the host challenge and the INITIALIZE UPDATE response. The card
    /// cryptogram is verified (an error if it does not match).
    ///
    /// Example:
    ///   esim tool scp03 derive --enc 000102030405060708090a0b0c0d0e0f \
    ///     --mac 101112131415161718191a1b1c1d1e1f --kvn 30 --level 03 \
    ///     --host-challenge 8e1552d0513c60f3 \
    ///     --init-update-response 0000000000000000000030037030760cd2c47c1dd395065fe5ead8a9d7000001
    #[command(verbatim_doc_comment)]
    Derive {
        #[command(flatten)]
        keys: Box<StaticKeyArgs>,
        /// Host challenge (8 bytes hex).
        #[arg(long)]
        host_challenge: String,
        /// INITIALIZE UPDATE response data (29 or 32 bytes hex, without the status word).
        #[arg(long)]
        init_update_response: String,
        /// Security level for EXTERNAL AUTHENTICATE (hex).
        #[arg(long, default_value = "33")]
        level: String,
        /// Also check the pseudo-random card challenge against this security domain AID.
        #[arg(long)]
        sd_aid: Option<String>,
    },
    /// Wrap one plain command APDU; print it with the new MAC chaining value and counter.
    ///
    /// C-MAC and C-DECRYPTION as the level says. Feed the printed chaining value and counter to
    /// the next `wrap` (and to `unwrap` for this command's response).
    ///
    /// Example (the first command after the derive example above):
    ///   esim tool scp03 wrap --s-enc ee54985e150155e021725489f717d645 \
    ///     --s-mac 59b76ddff91dba0515a9644de3a48863 --level 03 \
    ///     --mcv 3c451d2f8ae6bb21fba689f2f1fa7d47 --counter 0 80e2910006bf3e035c015a00
    #[command(verbatim_doc_comment)]
    Wrap {
        #[command(flatten)]
        session: Box<SessionArgs>,
        /// The plain command APDU (hex).
        apdu: String,
    },
    /// Unwrap response data (R-MAC check, R-ENCRYPTION per level) given its status word.
    ///
    /// --mcv and --counter are the values `wrap` printed for the command being answered.
    ///
    /// Example:
    ///   esim tool scp03 unwrap --s-enc … --s-mac … --s-rmac … --level 33 \
    ///     --mcv <chaining value after the command> --counter 1 --sw 9000 <response data>
    #[command(verbatim_doc_comment)]
    Unwrap {
        #[command(flatten)]
        session: Box<SessionArgs>,
        /// Status word (hex).
        #[arg(long, default_value = "9000")]
        sw: String,
        /// The response data without the status word (hex; may be empty "").
        data: String,
    },
    /// AES key check value: the first 3 bytes of AES-ECB(key, 16×01).
    ///
    /// Example: esim tool scp03 kcv 000102030405060708090a0b0c0d0e0f
    Kcv {
        /// The key (hex).
        key: String,
    },
    /// SCP03t: wrap a Profile Package file into `85` + `86` commands (one hex stream).
    ///
    /// SGP.02 §4.1.3.3. Needs the card's `84` response to the `84` command built from --kvn,
    /// --kid and --host-challenge (printed with --json as `initialize_update`).
    ///
    /// Example:
    ///   esim tool scp03 scp03t-wrap --key 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a --kvn 03 \
    ///     --host-challenge 0707070707070707 --init-update-response 8420… profile.der
    #[command(verbatim_doc_comment)]
    Scp03tWrap {
        #[command(flatten)]
        keys: Box<StaticKeyArgs>,
        /// Host challenge sent in the `84` command (8 bytes hex).
        #[arg(long)]
        host_challenge: String,
        /// The card's `84` response TLV (hex).
        #[arg(long)]
        init_update_response: String,
        /// Key identifier sent in `84` (hex byte).
        #[arg(long, default_value = "01")]
        kid: String,
        /// Profile Package bytes per `86` command.
        #[arg(long, default_value_t = esim_crypto::scp03t::DEFAULT_SEGMENT_SIZE)]
        segment_size: usize,
        /// The Profile Package (DER file).
        file: PathBuf,
    },
}

fn byte_arg(name: &str, text: &str) -> anyhow::Result<u8> {
    match hex_arg(name, text)?.as_slice() {
        [b] => Ok(*b),
        other => bail!(
            "{name} must be one byte (2 hex digits), got {} bytes",
            other.len()
        ),
    }
}

fn challenge(text: &str) -> anyhow::Result<[u8; 8]> {
    hex_arg("--host-challenge", text)?
        .try_into()
        .map_err(|v: Vec<u8>| anyhow::anyhow!("--host-challenge must be 8 bytes, got {}", v.len()))
}

fn sw_arg(text: &str) -> anyhow::Result<u16> {
    match hex_arg("--sw", text)?.as_slice() {
        [a, b] => Ok(u16::from_be_bytes([*a, *b])),
        other => bail!("--sw must be 2 bytes, got {}", other.len()),
    }
}

pub fn run(cmd: Cmd, out: &Output) -> anyhow::Result<()> {
    match cmd {
        Cmd::Derive {
            keys,
            host_challenge,
            init_update_response,
            level,
            sd_aid,
        } => {
            let keys = keys.keys()?;
            let level = SecurityLevel::new(byte_arg("--level", &level)?)?;
            let (host, iu) = HostAwaitingInitUpdateResponse::start(
                keys.clone(),
                challenge(&host_challenge)?,
                level,
            );
            let host = match sd_aid {
                Some(a) => host.expect_sd_aid(&hex_arg("--sd-aid", &a)?),
                None => host,
            };
            let rsp = hex_arg("--init-update-response", &init_update_response)?;
            let (auth, ext_auth) = host
                .handle(&rsp, 0x9000)
                .context("INITIALIZE UPDATE response rejected")?;
            let k = auth.session_keys();
            let r = auth.init_update_response();
            let v = json!({
                "initialize_update_cmd": hex::encode(&iu),
                "key_diversification_data": hex::encode(&r.key_diversification_data),
                "key_info": hex::encode(&r.key_info()),
                "card_challenge": hex::encode(&r.card_challenge),
                "sequence_counter": r.sequence_counter.map(|s| hex::encode(&s)),
                "s_enc": hex::encode(k.s_enc.expose()),
                "s_mac": hex::encode(k.s_mac.expose()),
                "s_rmac": hex::encode(k.s_rmac.expose()),
                "card_cryptogram": hex::encode(&r.card_cryptogram),
                "card_cryptogram_verified": true,
                "host_cryptogram": hex::encode(&auth.host_cryptogram()),
                "external_authenticate": hex::encode(&ext_auth),
                "mac_chaining_value": hex::encode(&auth.channel().mac_chaining_value()),
                "counter": 0,
                "kcv_enc": hex::encode(&key_check_value(keys.enc().expose())?),
                "kcv_mac": hex::encode(&key_check_value(keys.mac().expose())?),
            });
            print(out, &v)
        }
        Cmd::Wrap { session, apdu } => {
            let mut ch = session.channel()?;
            let wrapped = ch.wrap_command(&hex_arg("apdu", &apdu)?)?;
            print(
                out,
                &json!({
                    "wrapped": hex::encode(&wrapped),
                    "mac_chaining_value": hex::encode(&ch.mac_chaining_value()),
                    "counter": counter_json(ch.encryption_counter()),
                }),
            )
        }
        Cmd::Unwrap { session, sw, data } => {
            let ch = session.channel()?;
            let plain = ch.unwrap_response(&hex_arg("data", &data)?, sw_arg(&sw)?)?;
            print(out, &json!({ "plain": hex::encode(&plain) }))
        }
        Cmd::Kcv { key } => {
            let kcv = key_check_value(&hex_arg("key", &key)?)?;
            print(out, &json!({ "kcv": hex::encode(&kcv) }))
        }
        Cmd::Scp03tWrap {
            keys,
            host_challenge,
            init_update_response,
            kid,
            segment_size,
            file,
        } => {
            let package =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let (host, c84) = Scp03tHostAwaitingInitUpdateResponse::start(
                keys.keys()?,
                byte_arg("--kid", &kid)?,
                challenge(&host_challenge)?,
            );
            let host = host.segment_size(segment_size)?;
            let rsp = hex_arg("--init-update-response", &init_update_response)?;
            let (mut host, c85) = host.handle(&rsp).context("84 response rejected")?;
            let segments = host.wrap_profile(&package)?;
            let mut stream = c85.clone();
            for s in &segments {
                stream.extend_from_slice(s);
            }
            if out.json {
                out.print_json(&json!({
                    "initialize_update": hex::encode(&c84),
                    "external_authenticate": hex::encode(&c85),
                    "segments": segments.iter().map(|s| hex::encode(s)).collect::<Vec<_>>(),
                    "stream": hex::encode(&stream),
                }))
            } else {
                outln!("{}", hex::encode(&stream));
                Ok(())
            }
        }
    }
}

fn counter_json(c: u128) -> serde_json::Value {
    match u64::try_from(c) {
        Ok(n) => json!(n),
        Err(_) => json!(c.to_string()),
    }
}

/// Prints a flat JSON object, or `name: value` lines.
fn print(out: &Output, v: &serde_json::Value) -> anyhow::Result<()> {
    if out.json {
        return out.print_json(v);
    }
    if let Some(map) = v.as_object() {
        for (k, val) in map {
            match val {
                serde_json::Value::String(s) => outln!("{k}: {s}"),
                other => outln!("{k}: {other}"),
            }
        }
    }
    Ok(())
}
