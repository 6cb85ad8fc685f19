//! The servers' configuration file (`esim smsr|smdp|serve --config esim.toml`), with environment
//! overrides: `ESIM__SECTION__KEY=value` sets `[section] key = value` (`__` separates levels,
//! names are lower-cased; the value is read as TOML when it parses, else as a string), e.g.
//! `ESIM__SMSR__API_LISTEN=0.0.0.0:8443` or `ESIM__STORE__SMSR=postgres://…`.
//!
//! Secrets (operator tokens, the sealing master key, SMPP passwords, TLS private keys) may be
//! given inline for labs, or as `env:NAME` / `file:PATH` references; they are never printed.
//!
//! TLS (docs/spec-choices.md row 81): `[smsr.tls]` / `[smdp.tls]` make the server's one listener
//! (JSON and SOAP bindings) HTTPS, with client certificates verified against `client_ca` and
//! required unless `require_client_cert = false`; the same identity is the server's client
//! certificate towards peers and callback endpoints. Each peer (`[[smsr.smdp]]`,
//! `[[smsr.peers]]`, `[[smdp.smsr]]`) may name the CA to trust (`ca`), its own client identity
//! (`client_cert`, `client_key`) and its binding (`json` or `soap`); operators' `callback_ca` is
//! trusted for their `https` callback URLs, and `callback_binding = "soap"` sends their
//! callbacks over SOAP. Without `[x.tls]` everything stays plain HTTP (docs/tls.md).

use anyhow::{Context, Result, bail};
use esim_crypto::primitives::SecretKey;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// A secret value: inline, `env:NAME` or `file:PATH`. Debug shows only the source kind.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.0.strip_prefix("env:") {
            write!(f, "Secret(env:{n})")
        } else if let Some(p) = self.0.strip_prefix("file:") {
            write!(f, "Secret(file:{p})")
        } else {
            f.write_str("Secret(<inline>)")
        }
    }
}

impl Secret {
    /// An inline secret.
    pub fn inline(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// Resolves the value (`file:` paths relative to `base`).
    pub fn resolve(&self, base: &Path) -> Result<zeroize::Zeroizing<String>> {
        if let Some(n) = self.0.strip_prefix("env:") {
            let v =
                std::env::var(n).with_context(|| format!("environment variable {n} is not set"))?;
            Ok(zeroize::Zeroizing::new(v))
        } else if let Some(p) = self.0.strip_prefix("file:") {
            let path = base.join(p);
            let v = std::fs::read_to_string(&path)
                .with_context(|| format!("reading secret file {}", path.display()))?;
            Ok(zeroize::Zeroizing::new(v.trim().to_string()))
        } else {
            Ok(zeroize::Zeroizing::new(self.0.clone()))
        }
    }

    /// Resolves a 16/24/32-byte AES key given in hex.
    pub fn aes_key(&self, base: &Path, what: &str) -> Result<SecretKey> {
        let text = self.resolve(base)?;
        let bytes = zeroize::Zeroizing::new(
            esim_codec::hex::decode(text.trim())
                .map_err(|e| anyhow::anyhow!("{what}: not hex: {e}"))?,
        );
        if ![16, 24, 32].contains(&bytes.len()) {
            bail!("{what}: {} bytes; an AES key has 16, 24 or 32", bytes.len());
        }
        Ok(SecretKey::new(&bytes))
    }
}

/// `[store]`: where each server keeps its state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// SM-SR store URL (`sqlite:PATH`, `postgres://…`, `memory:`).
    #[serde(default = "default_smsr_store")]
    pub smsr: String,
    /// SM-DP store URL.
    #[serde(default = "default_smdp_store")]
    pub smdp: String,
    /// Master key sealing secrets at rest (hex AES key; `env:`/`file:` references allowed).
    pub master_key: Secret,
}

fn default_smsr_store() -> String {
    "sqlite:smsr.db".into()
}
fn default_smdp_store() -> String {
    "sqlite:smdp.db".into()
}

/// `[smsc]` of the SM-SR: its SMPP account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmscSection {
    /// SMSC `host:port`.
    #[serde(default = "default_smsc")]
    pub address: String,
    /// SMPP system_id.
    #[serde(default = "default_smsr_system_id")]
    pub system_id: String,
    /// SMPP password.
    #[serde(default = "empty_secret")]
    pub password: Secret,
    /// The SM-SR's short code / address (source of MT SMS, destination of MO SMS).
    #[serde(default = "default_sms_address")]
    pub sms_address: String,
}

fn default_smsc() -> String {
    "127.0.0.1:2775".into()
}
fn default_smsr_system_id() -> String {
    "smsr".into()
}
fn default_sms_address() -> String {
    "SMSR".into()
}
fn empty_secret() -> Secret {
    Secret::inline("")
}

impl Default for SmscSection {
    fn default() -> Self {
        SmscSection {
            address: default_smsc(),
            system_id: default_smsr_system_id(),
            password: empty_secret(),
            sms_address: default_sms_address(),
        }
    }
}

/// `[smsr]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsrSection {
    /// SM-SR identifier (`Smsr-id`); default: the PKI's.
    pub id: Option<String>,
    /// JSON API (ES1, ES3, ES4) `host:port`.
    #[serde(default = "default_smsr_api")]
    pub api_listen: String,
    /// SCP81 PSK-TLS admin server `host:port`.
    #[serde(default = "default_scp81")]
    pub scp81_listen: String,
    /// The host name cards are told to connect to (SCP81 trigger); default: the listen host.
    pub scp81_host: Option<String>,
    /// SMPP account.
    #[serde(default)]
    pub smsc: SmscSection,
    /// Use HTTPS (SCP81) instead of SMS for the ES5 traffic of every eUICC.
    #[serde(default)]
    pub https: bool,
    /// SM-DPs the SM-SR calls (Master Delete tokens).
    #[serde(default)]
    pub smdp: Vec<PeerServer>,
    /// Other SM-SRs (ES7: SM-SR change).
    #[serde(default)]
    pub peers: Vec<PeerServer>,
    /// Name of this replica, unique among the replicas sharing the store: a restarted replica
    /// resumes what it held before at once.
    #[serde(default = "default_replica")]
    pub replica: String,
    /// HTTPS on `api_listen` (both bindings), and this server's client identity.
    #[serde(default)]
    pub tls: Option<TlsSection>,
}

/// `[smsr.tls]` / `[smdp.tls]`: the API listener over TLS 1.2+ (PEM files).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The server certificate (then its chain), PEM file (relative to the config file).
    pub cert: PathBuf,
    /// Its private key, PEM (PKCS#8): `file:PATH` (usual), `env:NAME` or inline.
    pub key: Secret,
    /// CA certificates (PEM file) that issue the clients' certificates; unset: no client
    /// certificates asked for.
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: refuse the TLS handshake without a client certificate (default);
    /// `false`: a client certificate is verified when presented.
    #[serde(default = "yes")]
    pub require_client_cert: bool,
}

fn yes() -> bool {
    true
}

/// How this server calls a peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Binding {
    /// JSON over HTTP(S) (`/api/v1/…`).
    #[default]
    Json,
    /// SOAP 1.2 over HTTP(S) (`/soap/{ES}`).
    Soap,
}

fn default_replica() -> String {
    "1".into()
}

fn default_smsr_api() -> String {
    "127.0.0.1:8443".into()
}
fn default_scp81() -> String {
    "127.0.0.1:8444".into()
}

/// Another server as this one reaches it (the SM-DP's SM-SRs, the SM-SR's SM-DPs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerServer {
    /// Its identifier (`Smsr-id` / `Smdp-id`).
    pub id: String,
    /// Base URL of its JSON API.
    pub url: String,
    /// Our token there.
    pub token: Secret,
    /// The binding spoken to it (`json`, default, or `soap`).
    #[serde(default)]
    pub binding: Binding,
    /// CA certificates (PEM file) to trust for its `https` URL, besides the system store.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Our client certificate for it (PEM file); default: our `[….tls] cert`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (`file:`/`env:`/inline PEM); default: our
    /// `[….tls] key`.
    #[serde(default)]
    pub client_key: Option<Secret>,
}

/// `[smdp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmdpSection {
    /// SM-DP identifier; default: the PKI's.
    pub id: Option<String>,
    /// JSON API (ES2) `host:port`.
    #[serde(default = "default_smdp_api")]
    pub api_listen: String,
    /// SM-SRs it talks to (ES3).
    #[serde(default)]
    pub smsr: Vec<PeerServer>,
    /// Name of this replica (see `[smsr] replica`).
    #[serde(default = "default_replica")]
    pub replica: String,
    /// HTTPS on `api_listen` (both bindings), and this server's client identity.
    #[serde(default)]
    pub tls: Option<TlsSection>,
}

fn default_smdp_api() -> String {
    "127.0.0.1:8445".into()
}

/// One API client of the servers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSection {
    /// Identifier (its FunctionRequesterIdentifier).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Roles: MNO, M2M-SP, EUM, SM-DP, SM-SR, ADMIN.
    pub roles: Vec<String>,
    /// API token.
    pub token: Secret,
    /// Where results and notifications for it are POSTed (its JSON API base URL).
    pub callback_url: Option<String>,
    /// The token to present there.
    pub callback_token: Option<Secret>,
    /// CA certificates (PEM file) to trust for an `https` callback URL.
    #[serde(default)]
    pub callback_ca: Option<PathBuf>,
    /// The binding of the callbacks: `json` (default: notifications and results to
    /// `callback_url`'s `/api/v1/…`) or `soap` (notifications to `callback_url`'s
    /// `/soap/{ES}`, results as response envelopes to `callback_reply_url`).
    #[serde(default)]
    pub callback_binding: Binding,
    /// SOAP only: where results of long functions are posted (none: not sent).
    #[serde(default)]
    pub callback_reply_url: Option<String>,
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Test PKI directory (`esim pki init`): CI, EUM, SM-DP and SM-SR credentials.
    pub pki: PathBuf,
    /// Storage.
    pub store: StoreSection,
    /// SM-SR.
    #[serde(default = "default_smsr")]
    pub smsr: SmsrSection,
    /// SM-DP.
    #[serde(default = "default_smdp")]
    pub smdp: SmdpSection,
    /// API clients.
    #[serde(default)]
    pub operators: Vec<OperatorSection>,
    /// Directory of the file (relative paths are taken from here).
    #[serde(skip)]
    pub base: PathBuf,
}

fn default_smsr() -> SmsrSection {
    // Deserializing an empty table fills every default.
    SmsrSection {
        id: None,
        api_listen: default_smsr_api(),
        scp81_listen: default_scp81(),
        scp81_host: None,
        smsc: SmscSection::default(),
        https: false,
        smdp: Vec::new(),
        peers: Vec::new(),
        replica: default_replica(),
        tls: None,
    }
}

fn default_smdp() -> SmdpSection {
    SmdpSection {
        id: None,
        api_listen: default_smdp_api(),
        smsr: Vec::new(),
        replica: default_replica(),
        tls: None,
    }
}

/// Sets `path` (lower-cased segments) in a TOML table to `value`.
fn set_path(root: &mut toml::Table, path: &[String], value: toml::Value) -> Result<()> {
    let Some((last, parents)) = path.split_last() else {
        bail!("empty override path");
    };
    let mut t = root;
    for p in parents {
        let entry = t
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = match entry {
            toml::Value::Table(tab) => tab,
            _ => bail!("override {}: {p} is not a table", path.join(".")),
        };
    }
    t.insert(last.clone(), value);
    Ok(())
}

impl ServerConfig {
    /// Parses `text` with `ESIM__…` overrides from `vars`; relative paths from `base`.
    pub fn parse(
        text: &str,
        base: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        let mut table: toml::Table = text.parse().context("not valid TOML")?;
        for (k, v) in vars {
            let Some(rest) = k.strip_prefix("ESIM__") else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            let value = format!("v = {v}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(v));
            set_path(&mut table, &path, value).with_context(|| format!("environment {k}"))?;
        }
        let mut c: ServerConfig = table.try_into().context("configuration")?;
        c.base = base.to_path_buf();
        if c.pki.is_relative() {
            c.pki = base.join(&c.pki);
        }
        for url in [&mut c.store.smsr, &mut c.store.smdp] {
            if let Some(p) = url.strip_prefix("sqlite:")
                && !p.starts_with(':')
                && Path::new(p).is_relative()
            {
                *url = format!("sqlite:{}", base.join(p).display());
            }
        }
        let rel = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for t in [&mut c.smsr.tls, &mut c.smdp.tls].into_iter().flatten() {
            rel(&mut t.cert);
            if let Some(ca) = &mut t.client_ca {
                rel(ca);
            }
        }
        for p in c
            .smsr
            .smdp
            .iter_mut()
            .chain(c.smsr.peers.iter_mut())
            .chain(c.smdp.smsr.iter_mut())
        {
            for f in [&mut p.ca, &mut p.client_cert].into_iter().flatten() {
                rel(f);
            }
            if p.client_cert.is_some() != p.client_key.is_some() {
                bail!("peer {:?}: client_cert and client_key go together", p.id);
            }
        }
        for o in &mut c.operators {
            if let Some(ca) = &mut o.callback_ca {
                rel(ca);
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for o in &c.operators {
            if !seen.insert(o.id.clone()) {
                bail!("operator {:?} is configured twice", o.id);
            }
            if o.roles.is_empty() {
                bail!("operator {:?} has no role", o.id);
            }
        }
        Ok(c)
    }

    /// Reads a file (with the process environment's overrides).
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Self::parse(&text, base, std::env::vars()).with_context(|| path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
pki = "pki"
[store]
smsr = "sqlite:data/smsr.db"
master_key = "000102030405060708090A0B0C0D0E0F"
[smsr]
api_listen = "127.0.0.1:9443"
[[smsr.smdp]]
id = "smdp.esim-rsp.test"
url = "http://127.0.0.1:8445"
token = "env:SR_AT_DP"
[smsr.smsc]
password = "env:SMPP_PW"
[[smdp.smsr]]
id = "smsr.esim-rsp.test"
url = "http://127.0.0.1:9443"
token = "file:dp.token"
[[operators]]
id = "mno-b"
roles = ["MNO"]
token = "secret-token-b"
"#;

    #[test]
    fn parses_with_defaults_and_relative_paths() {
        let c = ServerConfig::parse(SAMPLE, Path::new("/etc/esim"), []).expect("parse");
        assert_eq!(c.pki, Path::new("/etc/esim/pki"));
        assert_eq!(c.store.smsr, "sqlite:/etc/esim/data/smsr.db");
        assert_eq!(c.store.smdp, "sqlite:/etc/esim/smdp.db");
        assert_eq!(c.smsr.api_listen, "127.0.0.1:9443");
        assert_eq!(c.smsr.scp81_listen, "127.0.0.1:8444");
        assert_eq!(c.smdp.api_listen, "127.0.0.1:8445");
        assert_eq!(c.smdp.smsr.len(), 1);
        assert_eq!(c.smsr.smdp[0].id, "smdp.esim-rsp.test");
        assert_eq!(c.operators[0].roles, ["MNO"]);
        let key = c
            .store
            .master_key
            .aes_key(Path::new("."), "master_key")
            .expect("key");
        assert_eq!(key.expose().len(), 16);
    }

    #[test]
    fn environment_overrides() {
        let vars = [
            (
                "ESIM__SMSR__API_LISTEN".to_string(),
                "0.0.0.0:1".to_string(),
            ),
            (
                "ESIM__STORE__SMDP".to_string(),
                "postgres://x/y".to_string(),
            ),
            ("ESIM__SMSR__HTTPS".to_string(), "true".to_string()),
            ("OTHER".to_string(), "ignored".to_string()),
        ];
        let c = ServerConfig::parse(SAMPLE, Path::new("."), vars).expect("parse");
        assert_eq!(c.smsr.api_listen, "0.0.0.0:1");
        assert_eq!(c.store.smdp, "postgres://x/y");
        assert!(c.smsr.https);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = ServerConfig::parse("pki = 1", Path::new("."), []).expect_err("bad");
        assert!(format!("{e:#}").contains("configuration"), "{e:#}");
        let dup =
            format!("{SAMPLE}\n[[operators]]\nid = \"mno-b\"\nroles = [\"MNO\"]\ntoken = \"t\"\n");
        let e = ServerConfig::parse(&dup, Path::new("."), []).expect_err("dup");
        assert!(e.to_string().contains("twice"), "{e}");
        let e = ServerConfig::parse(
            "pki = \"p\"\n[store]\nmaster_key = \"zz\"\nbogus = 1",
            Path::new("."),
            [],
        )
        .expect_err("unknown field");
        assert!(format!("{e:#}").contains("bogus"), "{e:#}");
    }

    #[test]
    fn tls_sections_default_to_plain_http_and_resolve_paths() {
        let c = ServerConfig::parse(SAMPLE, Path::new("/etc/esim"), []).expect("parse");
        assert!(c.smsr.tls.is_none() && c.smdp.tls.is_none());
        assert_eq!(c.smsr.smdp[0].binding, Binding::Json);
        assert!(c.smsr.smdp[0].ca.is_none());
        let tls = format!(
            "{SAMPLE}\n[smdp.tls]\ncert = \"pki/smdp/tls-cert.pem\"\nkey = \"file:pki/smdp/tls-key.pem\"\n\
             client_ca = \"/abs/ca.pem\"\n"
        )
        .replace(
            "token = \"file:dp.token\"",
            "token = \"file:dp.token\"\nbinding = \"soap\"\nca = \"pki/tls/ca-cert.pem\"\n\
             client_cert = \"me.pem\"\nclient_key = \"env:ME_KEY\"",
        );
        let c = ServerConfig::parse(&tls, Path::new("/etc/esim"), []).expect("parse");
        let t = c.smdp.tls.as_ref().expect("tls");
        assert_eq!(t.cert, Path::new("/etc/esim/pki/smdp/tls-cert.pem"));
        assert_eq!(t.client_ca.as_deref(), Some(Path::new("/abs/ca.pem")));
        assert!(t.require_client_cert);
        let peer = &c.smdp.smsr[0];
        assert_eq!(peer.binding, Binding::Soap);
        assert_eq!(
            peer.ca.as_deref(),
            Some(Path::new("/etc/esim/pki/tls/ca-cert.pem"))
        );
        assert_eq!(
            peer.client_cert.as_deref(),
            Some(Path::new("/etc/esim/me.pem"))
        );
        // A certificate without its key is refused.
        let half = tls.replace("client_key = \"env:ME_KEY\"", "");
        let e = ServerConfig::parse(&half, Path::new("."), []).expect_err("half");
        assert!(e.to_string().contains("client_key"), "{e}");
        // An environment override switches client certificates to optional.
        let vars = [(
            "ESIM__SMDP__TLS__REQUIRE_CLIENT_CERT".to_string(),
            "false".to_string(),
        )];
        let c = ServerConfig::parse(&tls, Path::new("."), vars).expect("parse");
        assert!(!c.smdp.tls.expect("tls").require_client_cert);
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::inline("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        let c = ServerConfig::parse(SAMPLE, Path::new("."), []).expect("parse");
        let all = format!("{c:?}");
        assert!(
            !all.contains("secret-token-b") && !all.contains("000102030405"),
            "{all}"
        );
    }
}
