//! Placeholder: this subcommand is being built (see the open issue).

use crate::output::Output;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Cmd {}

pub fn run(cmd: Cmd, _out: &Output) -> anyhow::Result<()> {
    match cmd {}
}
