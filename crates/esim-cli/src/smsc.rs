//! `esim smsc`: the SMSC simulator of esim-smpp, standalone, until Ctrl-C / SIGTERM.

use crate::output::Output;
use anyhow::{Context, Result, bail};
use clap::Args;
use esim_smpp::smsc::{Impairments, Route, RoutePattern, SmscConfig};
use serde_json::json;
use std::time::Duration;

/// `esim smsc …`.
#[derive(Debug, Args)]
pub struct SmscArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:2775")]
    listen: String,
    /// Static route `MSISDN=system_id` (`4477*=device` for a prefix); repeatable.
    #[arg(long = "route", value_name = "MSISDN=SYSTEM_ID")]
    routes: Vec<String>,
    /// Fixed delivery latency (ms).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Additional random latency in [0, jitter) (ms).
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Probability (0..=1) that a message is lost.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Probability (0..=1) that a message is delivered twice.
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    /// Accepted submit_sm per second (beyond: ESME_RTHROTTLED).
    #[arg(long)]
    rate: Option<u32>,
    /// Seed of the impairment generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn route(text: &str) -> Result<Route> {
    let Some((addr, system_id)) = text.split_once('=') else {
        bail!("--route {text:?}: expected MSISDN=system_id");
    };
    if addr.is_empty() || system_id.is_empty() {
        bail!("--route {text:?}: empty address or system_id");
    }
    let pattern = match addr.strip_suffix('*') {
        Some(p) => RoutePattern::Prefix(p.to_string()),
        None => RoutePattern::Exact(addr.to_string()),
    };
    Ok(Route {
        pattern,
        system_id: system_id.to_string(),
    })
}

/// Runs the simulator.
pub fn run(args: SmscArgs, out: &Output) -> Result<()> {
    let config = SmscConfig {
        routes: args
            .routes
            .iter()
            .map(|r| route(r))
            .collect::<Result<_>>()?,
        impairments: Impairments {
            latency: Duration::from_millis(args.latency_ms),
            jitter: Duration::from_millis(args.jitter_ms),
            loss: args.loss,
            duplication: args.duplicate,
            max_messages_per_second: args.rate,
        },
        seed: args.seed,
        ..SmscConfig::default()
    };
    let smsc = esim_smpp::Smsc::new(config)?;
    crate::device::init_logging();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let addr = listener.local_addr()?;
        if out.json {
            out.print_json(&json!({ "listen": addr.to_string() }))?;
        } else {
            outln!("SMSC simulator listening on {addr}");
        }
        smsc.run(listener, crate::device::interrupted()).await?;
        let m = smsc.metrics();
        tracing::info!(
            submitted = m.submitted,
            delivered = m.delivered,
            dropped = m.dropped,
            "SMSC simulator stopped"
        );
        Ok(())
    })
}
