//! `esim device`: the device agent (a modem hosting software eUICCs) — create a card, run the
//! agent, change its reachable networks, or drive a card by hand with APDUs. The logic lives in
//! `esim-device`; this module parses arguments, reads files and prints.

use crate::output::{Output, hex_arg};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use esim_codec::{Iccid, Imsi};
use esim_device::store::{self, Bootstrap};
use esim_device::{DeviceConfig, Listeners};
use serde_json::json;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// `esim device …`.
#[derive(Debug, Subcommand)]
pub enum DeviceCmd {
    /// Create a card directory from an issued eUICC (`esim pki euicc` output), optionally with
    /// a bootstrap profile personalized from a SAIP template (e.g. TS.48).
    Init {
        /// The issued eUICC directory (holds eid.txt, eis.json, isd-r-keys.json, …).
        #[arg(long, value_name = "DIR")]
        pki: PathBuf,
        /// The card directory to create (card.json is written there, mode 0600).
        #[arg(long, value_name = "DIR")]
        card: PathBuf,
        /// SAIP profile package (DER) to personalize and install as the bootstrap profile.
        #[arg(long, value_name = "TEMPLATE.der")]
        bootstrap: Option<PathBuf>,
        /// ICCID of the bootstrap profile.
        #[arg(long, requires = "bootstrap")]
        iccid: Option<String>,
        /// IMSI of the bootstrap profile (its MCC+MNC is the network it attaches to).
        #[arg(long, requires = "bootstrap")]
        imsi: Option<String>,
        /// MSISDN the card serves (written to msisdn.txt, used with `cards_dir`).
        #[arg(long)]
        msisdn: Option<String>,
    },
    /// Run the device agent until Ctrl-C (SIGINT) or SIGTERM.
    Run {
        /// The TOML configuration (see the esim-device `config` module).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Address of the control endpoint (reachable networks at run time); loopback only.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        control: String,
    },
    /// Change or list the reachable networks (PLMNs) of a running agent.
    Net {
        /// The agent's control endpoint.
        #[arg(long, value_name = "ADDR")]
        control: String,
        #[command(subcommand)]
        op: NetOp,
    },
    /// A scripted contact session: hex C-APDUs in (arguments, or standard input one per line,
    /// `#` comments allowed), hex R-APDUs out; the card state is written afterwards.
    Apdu {
        /// The card directory.
        #[arg(long, value_name = "DIR")]
        card: PathBuf,
        /// C-APDUs in hex (none: read standard input).
        apdus: Vec<String>,
    },
}

/// Operations on the reachable networks.
#[derive(Debug, Subcommand)]
pub enum NetOp {
    /// Print the reachable PLMNs.
    List,
    /// Replace the reachable PLMNs.
    Set {
        /// MCC+MNC, e.g. 00101.
        plmns: Vec<String>,
    },
    /// Make PLMNs reachable.
    Add {
        /// MCC+MNC.
        #[arg(required = true)]
        plmns: Vec<String>,
    },
    /// Make PLMNs unreachable.
    Remove {
        /// MCC+MNC.
        #[arg(required = true)]
        plmns: Vec<String>,
    },
}

/// Runs an `esim device` command.
pub fn run(cmd: DeviceCmd, out: &Output) -> Result<()> {
    match cmd {
        DeviceCmd::Init {
            pki,
            card,
            bootstrap,
            iccid,
            imsi,
            msisdn,
        } => init(&pki, &card, bootstrap.as_deref(), iccid, imsi, msisdn, out),
        DeviceCmd::Run { config, control } => serve(&config, &control, out),
        DeviceCmd::Net { control, op } => net(&control, op, out),
        DeviceCmd::Apdu { card, apdus } => apdu(&card, apdus, out),
    }
}

fn init(
    pki: &Path,
    card: &Path,
    bootstrap: Option<&Path>,
    iccid: Option<String>,
    imsi: Option<String>,
    msisdn: Option<String>,
    out: &Output,
) -> Result<()> {
    let b = match bootstrap {
        Some(path) => Some(Bootstrap {
            template: std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            iccid: iccid
                .as_deref()
                .map(Iccid::parse)
                .transpose()
                .context("--iccid")?,
            imsi: imsi
                .as_deref()
                .map(Imsi::parse)
                .transpose()
                .context("--imsi")?,
        }),
        None => None,
    };
    let made = store::init_card(pki, card, b.as_ref(), msisdn.as_deref())?;
    let iccid = made.bootstrap_iccid.map(|i| i.as_str().to_string());
    if out.json {
        out.print_json(&json!({
            "eid": made.eid.as_str(),
            "card": card.display().to_string(),
            "stateFile": made.state_file.display().to_string(),
            "bootstrapIccid": iccid,
        }))?;
    } else {
        outln!("card {} created in {}", made.eid.as_str(), card.display());
        if let Some(i) = iccid {
            outln!("bootstrap profile {i} enabled (fall-back)");
        }
    }
    Ok(())
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Completes at Ctrl-C or SIGTERM.
pub async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// Logs to standard error; `RUST_LOG` selects (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn serve(config: &Path, control: &str, out: &Output) -> Result<()> {
    let mut c = DeviceConfig::load(config)?;
    c.apply_env(std::env::vars());
    init_logging();
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(control)
            .await
            .with_context(|| format!("binding the control endpoint {control}"))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            bail!("the control endpoint has no authentication: bind it to a loopback address");
        }
        if out.json {
            out.print_json(&json!({ "control": addr.to_string() }))?;
        } else {
            outln!("device agent running; control endpoint {addr}");
        }
        esim_device::run(
            c,
            Listeners {
                control: Some(listener),
            },
            interrupted(),
        )
        .await?;
        Ok(())
    })
}

fn net(control: &str, op: NetOp, out: &Output) -> Result<()> {
    let line = match op {
        NetOp::List => "net list".to_string(),
        NetOp::Set { plmns } => format!("net set {}", plmns.join(" ")),
        NetOp::Add { plmns } => format!("net add {}", plmns.join(" ")),
        NetOp::Remove { plmns } => format!("net remove {}", plmns.join(" ")),
    };
    let answer = runtime()?.block_on(esim_device::control::request(control, &line))?;
    let plmns: Vec<&str> = answer.split_whitespace().skip(1).collect();
    if out.json {
        out.print_json(&json!({ "reachable": plmns }))?;
    } else if plmns.is_empty() {
        outln!("no network reachable");
    } else {
        outln!("{}", plmns.join(" "));
    }
    Ok(())
}

/// C-APDUs from the arguments, or from standard input (one per line; `#` starts a comment;
/// blanks inside a line are ignored).
fn read_apdus(args: Vec<String>) -> Result<Vec<Vec<u8>>> {
    let lines: Vec<(usize, String)> = if args.is_empty() {
        let stdin = std::io::stdin();
        let mut v = Vec::new();
        for (i, l) in stdin.lock().lines().enumerate() {
            v.push((i + 1, l.context("reading standard input")?));
        }
        v
    } else {
        args.into_iter()
            .enumerate()
            .map(|(i, a)| (i + 1, a))
            .collect()
    };
    let mut out = Vec::new();
    for (n, l) in lines {
        let text: String = l
            .split('#')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if text.is_empty() {
            continue;
        }
        out.push(hex_arg(&format!("APDU {n}"), &text)?);
    }
    Ok(out)
}

fn apdu(card: &Path, apdus: Vec<String>, out: &Output) -> Result<()> {
    let apdus = read_apdus(apdus)?;
    let exchanges = esim_device::apdu_session(card, &apdus)?;
    if out.json {
        let list: Vec<serde_json::Value> = exchanges
            .iter()
            .map(|e| {
                json!({
                    "command": hex::encode_upper(&e.command),
                    "response": hex::encode_upper(&e.response),
                    "sw": format!("{:04X}", e.sw),
                })
            })
            .collect();
        out.print_json(&serde_json::Value::Array(list))?;
    } else {
        for e in &exchanges {
            outln!("{}{:04X}", hex::encode_upper(&e.response), e.sw);
        }
    }
    Ok(())
}
