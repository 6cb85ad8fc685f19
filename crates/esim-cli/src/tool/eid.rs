//! `esim tool eid check|new`: EID validation and generation (GSMA SGP.29 §10, ISO/IEC 7064 MOD 97-10).

use crate::output::Output;
use anyhow::Context;
use clap::Subcommand;
use esim_codec::Eid;
use serde_json::json;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Check an EID's length, prefix and check digits; exit status 1 if it is not valid.
    ///
    /// Example: esim tool eid check 89001039240180124400000000000157
    Check {
        /// The 32-digit EID.
        eid: String,
    },
    /// Make EIDs with correct check digits.
    ///
    /// Without --body, the body is `--prefix` followed by random digits.
    /// Examples:
    ///   esim tool eid new
    ///   esim tool eid new --prefix 8904903200 --count 5
    ///   esim tool eid new --body 890010392401801244000000000001
    #[command(verbatim_doc_comment)]
    New {
        /// The first 30 digits; the check digits are appended.
        #[arg(long, conflicts_with_all = ["prefix", "count"])]
        body: Option<String>,
        /// Leading digits (country, issuer) of random EIDs.
        #[arg(long, default_value = "89049032")]
        prefix: String,
        /// How many EIDs to make.
        #[arg(long, default_value_t = 1)]
        count: u32,
    },
}

pub fn run(cmd: Cmd, out: &Output) -> anyhow::Result<()> {
    match cmd {
        Cmd::Check { eid } => match Eid::parse(&eid) {
            Ok(e) => {
                if out.json {
                    out.print_json(&json!({ "eid": e.as_str(), "valid": true }))?;
                } else {
                    outln!("{e}: valid (check digits {})", &e.as_str()[30..]);
                }
                Ok(())
            }
            Err(err) => {
                if out.json {
                    out.print_json(
                        &json!({ "eid": eid, "valid": false, "error": err.to_string() }),
                    )?;
                    std::process::exit(1);
                }
                Err(err).context(format!("EID {eid} is not valid"))
            }
        },
        Cmd::New {
            body,
            prefix,
            count,
        } => {
            let eids: Vec<Eid> = match body {
                Some(b) => vec![Eid::from_body(&b)?],
                None => (0..count)
                    .map(|_| random_eid(&prefix))
                    .collect::<anyhow::Result<_>>()?,
            };
            if out.json {
                let list: Vec<_> = eids.iter().map(|e| e.as_str()).collect();
                out.print_json(&json!(list))?;
            } else {
                for e in eids {
                    outln!("{e}");
                }
            }
            Ok(())
        }
    }
}

fn random_eid(prefix: &str) -> anyhow::Result<Eid> {
    if prefix.len() > 30 || !prefix.starts_with("89") || !prefix.bytes().all(|b| b.is_ascii_digit())
    {
        anyhow::bail!("--prefix must be 2 to 30 digits starting with 89, got {prefix:?}");
    }
    let mut body = prefix.to_string();
    let mut rnd = [0u8; 30];
    esim_crypto::primitives::fill_random(&mut rnd)?;
    for b in rnd.iter().take(30 - prefix.len()) {
        body.push(char::from(b'0' + b % 10));
    }
    Ok(Eid::from_body(&body)?)
}
