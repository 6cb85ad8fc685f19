//! Output mode shared by every subcommand.

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// JSON (one document on stdout) instead of text.
    pub json: bool,
}

impl Output {
    /// Prints `value` as pretty JSON.
    pub fn print_json(&self, value: &serde_json::Value) -> anyhow::Result<()> {
        emit(&serde_json::to_string_pretty(value)?)
    }
}

/// Writes a line to stdout; a closed pipe (`esim … | head`) is a one-line error, not a panic.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|()| o.write_all(b"\n"))
        .and_then(|()| o.flush())
        .context("cannot write to standard output")
}

/// Parses a hex command-line argument, naming the argument on error.
pub fn hex_arg(name: &str, text: &str) -> anyhow::Result<Vec<u8>> {
    esim_codec::hex::decode(text).map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

/// `println!` that returns a one-line error on a closed pipe instead of panicking
/// (use inside functions returning `anyhow::Result`).
macro_rules! outln {
    () => { $crate::output::emit("")? };
    ($($arg:tt)*) => { $crate::output::emit(&format!($($arg)*))? };
}
