//! `esim`: the command-line front of esim-rsp. Thin: parses arguments and calls the library crates.

#[macro_use]
mod output;
mod config;
mod demo;
mod device;
mod inbox;
mod lab;
mod mno;
mod pki;
mod scenario;
mod serve;
mod servers;
mod smsc;
mod tool;

use clap::{Parser, Subcommand};

/// Remote SIM provisioning for M2M eUICCs (GSMA SGP.02): tools, PKI, servers and a software card.
#[derive(Debug, Parser)]
#[command(name = "esim", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Print machine-readable JSON instead of text (where a command supports it).
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    cmd: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Byte-level tools: TLV, EID, SCP80, SCP03, SAIP profile packages.
    #[command(subcommand)]
    Tool(tool::ToolCmd),
    /// Test PKI: CI, EUM, SM-DP, SM-SR and eUICC credentials.
    #[command(subcommand)]
    Pki(pki::PkiCmd),
    /// The device agent: a modem hosting software eUICCs (SMS over SMPP, SCP81 over PSK-TLS).
    #[command(subcommand)]
    Device(device::DeviceCmd),
    /// The SMSC simulator (SMPP 3.4), standalone until Ctrl-C.
    Smsc(smsc::SmscArgs),
    /// The whole system on the embedded defaults: SM-SR, SM-DP, SMSC simulator and software
    /// eUICCs; registers, downloads and enables a Profile on each card.
    Demo(demo::DemoArgs),
    /// An operator's client of the SM-DP (ES2) and the SM-SR (ES4).
    Mno(mno::MnoArgs),
    /// The SM-SR (ES1, ES3, ES4; ES5 over SMPP and SCP81) from a configuration file; or
    /// register an eUICC in its store.
    Smsr(serve::SmsrArgs),
    /// The SM-DP (ES2; profile download over the SM-SR's ES3) from a configuration file; or
    /// fill its inventory.
    Smdp(serve::SmdpArgs),
    /// The SM-SR and the SM-DP in one process, from a configuration file.
    Serve(serve::ServeArgs),
    /// Field scenarios end to end in one process (e.g. `export`: SM-SR change A→B, then
    /// operator B's Profile downloaded, enabled and attached).
    #[command(subcommand)]
    Scenario(scenario::ScenarioCmd),
}

fn main() {
    let cli = Cli::parse();
    let out = output::Output { json: cli.json };
    let result = match cli.cmd {
        Command::Tool(cmd) => tool::run(cmd, &out),
        Command::Pki(cmd) => pki::run(cmd, &out),
        Command::Device(cmd) => device::run(cmd, &out),
        Command::Smsc(args) => smsc::run(args, &out),
        Command::Demo(args) => demo::run(args, &out),
        Command::Mno(args) => mno::run(args, &out),
        Command::Smsr(args) => serve::smsr(args, &out),
        Command::Smdp(args) => serve::smdp(args, &out),
        Command::Serve(args) => serve::serve(&args, serve::Which::Both, &out),
        Command::Scenario(cmd) => scenario::run(cmd, &out),
    };
    if let Err(e) = result {
        // The reader went away (`esim … | head`): stop quietly, as Unix tools do.
        if e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        }) {
            std::process::exit(0);
        }
        // One line, the whole cause chain: "what failed: why".
        let msg = e
            .chain()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(": ");
        eprintln!("error: {msg}");
        std::process::exit(1);
    }
}
