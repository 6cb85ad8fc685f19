//! Placeholder: `esim pki` is being built (see the open issue).

use crate::output::Output;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum PkiCmd {}

pub fn run(cmd: PkiCmd, _out: &Output) -> anyhow::Result<()> {
    match cmd {}
}
