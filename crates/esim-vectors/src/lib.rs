//! Test support: locates the project's independent known-answer vectors (`../shared/vectors`
//! beside the repository) and loads them. Used only as a dev-dependency.
//!
//! The directory is `$ESIM_VECTORS_DIR` if set; otherwise the first `shared/vectors` found in the
//! workspace's parent directories. Missing vectors are a test failure, never a silent skip.

use std::path::PathBuf;

/// The vectors directory. Panics (failing the test) with an explanation if it cannot be found.
pub fn dir() -> PathBuf {
    if let Ok(d) = std::env::var("ESIM_VECTORS_DIR") {
        return PathBuf::from(d);
    }
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for anc in start.ancestors() {
        let cand = anc.join("shared").join("vectors");
        if cand.join("README.md").is_file() {
            return cand;
        }
        let cand = anc.join("../shared/vectors");
        if cand.join("README.md").is_file() {
            return cand;
        }
    }
    panic!(
        "test vectors not found: set ESIM_VECTORS_DIR or place the repository beside shared/vectors \
         (searched from {})",
        start.display()
    );
}

/// Path of one vector file.
pub fn path(name: &str) -> PathBuf {
    dir().join(name)
}

/// Loads and parses a JSON vector file.
pub fn json(name: &str) -> serde_json::Value {
    let p = path(name);
    let text =
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
}

/// Decodes a hex field of a vector (panics with the text on error: vectors are trusted input).
pub fn hex(s: &str) -> Vec<u8> {
    esim_codec::hex::decode(s).unwrap_or_else(|e| panic!("bad hex in vector {s:?}: {e}"))
}

/// The string field `key` of a JSON object, hex-decoded.
pub fn hex_field(v: &serde_json::Value, key: &str) -> Vec<u8> {
    hex(v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {key} missing or not a string in {v}")))
}

/// All `saip/*.der` files, sorted by name.
pub fn saip_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(path("saip"))
        .expect("saip vectors directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "der"))
        .collect();
    v.sort();
    v
}
