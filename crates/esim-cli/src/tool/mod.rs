//! `esim tool …`: byte-level tools for people and scripts.

mod eid;
mod saip;
mod scp03;
mod scp80;
mod tlv;

use crate::output::Output;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ToolCmd {
    /// Print a BER-TLV structure as a tree.
    Tlv(tlv::Args),
    /// Check or generate EIDs (ISO/IEC 7064 MOD 97-10 check digits).
    #[command(subcommand)]
    Eid(eid::Cmd),
    /// Encode and decode SCP80 (ETSI TS 102 225) secured packets and PoRs.
    #[command(subcommand)]
    Scp80(scp80::Cmd),
    /// SCP03 session keys, wrapping and unwrapping (GlobalPlatform Amendment D).
    #[command(subcommand)]
    Scp03(scp03::Cmd),
    /// Decode and encode SAIP profile packages (TCA eUICC Profile Package format).
    #[command(subcommand)]
    Saip(saip::Cmd),
}

pub fn run(cmd: ToolCmd, out: &Output) -> anyhow::Result<()> {
    match cmd {
        ToolCmd::Tlv(a) => tlv::run(a, out),
        ToolCmd::Eid(c) => eid::run(c, out),
        ToolCmd::Scp80(c) => scp80::run(c, out),
        ToolCmd::Scp03(c) => scp03::run(c, out),
        ToolCmd::Saip(c) => saip::run(c, out),
    }
}
