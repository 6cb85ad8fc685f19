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
        println!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }
}

/// Parses a hex command-line argument, naming the argument on error.
pub fn hex_arg(name: &str, text: &str) -> anyhow::Result<Vec<u8>> {
    esim_codec::hex::decode(text).map_err(|e| anyhow::anyhow!("{name}: {e}"))
}
