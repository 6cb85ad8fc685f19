//! `esim pki`: writes and inspects a test PKI (CI, EUM, SM-DP, SM-SR, TLS) and issues eUICC
//! credentials. The cryptography lives in `esim_crypto::{pki, x509, cert, ec}`; this module only
//! reads and writes files. Private keys and documents holding keys are created with mode 0600.

use crate::output::Output;
use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use esim_codec::hex;
use esim_crypto::cert::{Certificate, Date};
use esim_crypto::ec::KeyPair;
use esim_crypto::pki::{
    self, CaIdentity, EisDocument, EuiccParams, PkiParams, ServerIdentity, TestPki,
};
use esim_crypto::primitives::SecretBytes;
use esim_crypto::x509::X509Certificate;
use serde_json::{Value, json};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const INIT_EXAMPLES: &str = "Examples:
  esim pki init --out ./pki
  esim pki init --out ./pki --force --valid-from 2025-01-01 --smdp-host dp.example.org

Layout written:
  pki.json                      identifiers of the PKI
  ci/    cert.pem cert.der key.pem id.txt           CI (self-signed X.509 root)
  eum/   cert.pem cert.der key.pem id.txt           EUM (X.509, signed by the CI)
  smdp/  cert.gp cert.gp.hex key.pem id.txt tls-cert.pem tls-key.pem
  smsr/  cert.gp cert.gp.hex key.pem id.txt tls-cert.pem tls-key.pem
  tls/   ca-cert.pem ca-key.pem                     TLS CA of every TLS identity
  operators/ID/  tls-cert.pem tls-key.pem ca-cert.pem id.txt   (--operator ID) client identity
cert.gp is the GP Amendment E certificate (7F21, BER) signed by the CI. Key files are PKCS#8 PEM
with mode 0600. The SM-DP and SM-SR TLS certificates (CN = their id) are server and client
identities valid for localhost, 127.0.0.1, ::1, the id and every --smdp-host/--smsr-host; an
operator's (CN = its id) is a client identity. Mutual TLS compares the CN with the party the
bearer token authenticates.";

const ISSUE_TLS_EXAMPLES: &str = "Examples:
  esim pki issue-tls --pki ./pki --id mno-b                 # ./pki/operators/mno-b/
  esim pki issue-tls --pki ./pki --id smsr-b.example --server --dns smsr-b.example --ip 10.0.0.7 --out ./smsr-b-tls

Writes OUT/tls-cert.pem (CN = ID, signed by PKI/tls/ca-cert.pem), OUT/tls-key.pem (PKCS#8, 0600),
OUT/ca-cert.pem (the TLS CA, to trust the servers) and OUT/id.txt. Without --server the
certificate is a client identity (extendedKeyUsage clientAuth); with it, a server and client
identity for localhost, 127.0.0.1, ::1 and the --dns/--ip names.";

const EUICC_EXAMPLES: &str = "Examples:
  esim pki euicc --eum ./pki/eum --out ./euiccs
  esim pki euicc --eum ./pki/eum --out ./euiccs --count 100 --eid-prefix 8904903200

Per eUICC, OUT/<EID>/ holds: eid.txt, ecasd-key.pem (0600), ecasd-cert.gp(.hex) (signed by the
EUM), isd-r-keys.json (0600: SCP80 KIc/KID/DEK and SCP81 PSK), eis.json (0600: the EUM-signed
EIS, which also carries the ISD-R keys), eum-cert.pem, ci-cert.pem, ci-public-key.pem.
EIDs are the prefix, a serial number (continuing after the highest one in OUT) and the
ISO 7064 check digits.";

const SHOW_EXAMPLES: &str = "Examples:
  esim pki show ./pki
  esim pki show ./euiccs/89049032000000000000000000000123 --json";

/// `esim pki` subcommands.
#[derive(Debug, Subcommand)]
pub enum PkiCmd {
    /// Create a complete test PKI: CI, EUM, SM-DP, SM-SR (GP certificates and TLS identities).
    #[command(after_help = INIT_EXAMPLES)]
    Init {
        /// Directory to write (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing PKI in OUT.
        #[arg(long)]
        force: bool,
        /// First valid day, YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        valid_from: Option<String>,
        /// Validity of the CA certificates in days.
        #[arg(long, default_value_t = 3650)]
        ca_days: i64,
        /// Validity of the SM-DP, SM-SR and TLS certificates in days.
        #[arg(long, default_value_t = 730)]
        days: i64,
        /// SM-DP identifier (subject of its GP certificate and TLS common name).
        #[arg(long, default_value = "smdp.esim-rsp.test")]
        smdp_id: String,
        /// SM-SR identifier.
        #[arg(long, default_value = "smsr.esim-rsp.test")]
        smsr_id: String,
        /// EUM identifier (EIS eumId).
        #[arg(long, default_value = "esim-rsp-test-eum")]
        eum_id: String,
        /// Extra DNS name for the SM-DP TLS certificate (repeatable; localhost and the id are always included).
        #[arg(long)]
        smdp_host: Vec<String>,
        /// Extra DNS name for the SM-SR TLS certificate (repeatable).
        #[arg(long)]
        smsr_host: Vec<String>,
        /// Also issue a TLS client identity for this operator in OUT/operators/ID (repeatable).
        #[arg(long)]
        operator: Vec<String>,
    },
    /// Issue a TLS identity (client, or server and client) from the PKI's TLS CA, e.g. for an
    /// operator's mutual TLS with the servers.
    #[command(after_help = ISSUE_TLS_EXAMPLES)]
    IssueTls {
        /// The PKI directory (`esim pki init`): its tls/ca-cert.pem and tls/ca-key.pem sign.
        #[arg(long)]
        pki: PathBuf,
        /// The party identifier: the certificate's subject CN (e.g. the operator id).
        #[arg(long)]
        id: String,
        /// Output directory (default: PKI/operators/ID).
        #[arg(long)]
        out: Option<PathBuf>,
        /// A server (and client) identity: serverAuth, localhost, 127.0.0.1 and ::1.
        #[arg(long)]
        server: bool,
        /// Extra subjectAltName DNS name (repeatable).
        #[arg(long)]
        dns: Vec<String>,
        /// Extra subjectAltName IP address (repeatable).
        #[arg(long)]
        ip: Vec<std::net::IpAddr>,
        /// Validity in days from today.
        #[arg(long, default_value_t = 730)]
        days: i64,
    },
    /// Issue eUICC credentials signed by an EUM: EID, ECASD key and certificate, ISD-R keysets, EIS.
    #[command(after_help = EUICC_EXAMPLES)]
    Euicc {
        /// EUM directory (cert.pem, key.pem, id.txt), e.g. PKI/eum.
        #[arg(long)]
        eum: PathBuf,
        /// CI directory (cert.pem); default: the `ci` directory beside the EUM directory.
        #[arg(long)]
        ci: Option<PathBuf>,
        /// Output directory; one subdirectory per eUICC.
        #[arg(long)]
        out: PathBuf,
        /// Number of eUICCs to issue.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Leading EID digits (starting with 89, at most 29 digits).
        #[arg(long, default_value = "89049032")]
        eid_prefix: String,
        /// First serial number (default: one more than the highest already in OUT, or 1).
        #[arg(long)]
        first_serial: Option<u64>,
        /// Validity of the ECASD certificates in days.
        #[arg(long, default_value_t = 3650)]
        days: i64,
        /// Production date YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        production_date: Option<String>,
    },
    /// Summarise a PKI directory or an eUICC directory and verify its certificates.
    #[command(after_help = SHOW_EXAMPLES)]
    Show {
        /// A directory written by `esim pki init` or one eUICC directory of `esim pki euicc`.
        dir: PathBuf,
    },
}

/// Runs a `esim pki` subcommand.
pub fn run(cmd: PkiCmd, out: &Output) -> Result<()> {
    match cmd {
        PkiCmd::Init {
            out: dir,
            force,
            valid_from,
            ca_days,
            days,
            smdp_id,
            smsr_id,
            eum_id,
            smdp_host,
            smsr_host,
            operator,
        } => {
            let mut p = PkiParams::test_defaults(date_or_today(valid_from.as_deref())?);
            p.ca_days = ca_days;
            p.entity_days = days;
            p.smdp_dns = dns_names(&smdp_id, &smdp_host);
            p.smsr_dns = dns_names(&smsr_id, &smsr_host);
            p.smdp_id = smdp_id;
            p.smsr_id = smsr_id;
            p.eum_id = eum_id;
            init(&dir, force, &p, out)?;
            for id in &operator {
                let tls = load_ca(
                    &dir.join("tls"),
                    "ca-key.pem",
                    "ca-cert.pem",
                    Some(String::new()),
                )?;
                let spec = TlsSpec::client(id, p.not_before, days);
                write_tls_identity(&dir.join("operators").join(id), &tls, &spec)?;
                if !out.json {
                    outln!(
                        "  TLS client identity of {id} in {}",
                        dir.join("operators").join(id).display()
                    );
                }
            }
            Ok(())
        }
        PkiCmd::IssueTls {
            pki,
            id,
            out: dir,
            server,
            dns,
            ip,
            days,
        } => {
            let tls = load_ca(
                &pki.join("tls"),
                "ca-key.pem",
                "ca-cert.pem",
                Some(String::new()),
            )
            .with_context(|| format!("loading the TLS CA of {}", pki.display()))?;
            let mut spec = TlsSpec::client(&id, today()?, days);
            if server {
                spec.server = true;
                spec.dns = dns_names(&id, &dns);
                spec.ips = loopback_ips();
            } else {
                spec.dns = dns;
            }
            for a in ip {
                if !spec.ips.contains(&a) {
                    spec.ips.push(a);
                }
            }
            let dir = dir.unwrap_or_else(|| pki.join("operators").join(&id));
            let cert = write_tls_identity(&dir, &tls, &spec)?;
            if out.json {
                out.print_json(&json!({
                    "out": dir.display().to_string(),
                    "id": id,
                    "cert": x509_summary(&cert),
                }))?;
            } else {
                outln!(
                    "TLS {} identity of {id} written to {} (tls-cert.pem, tls-key.pem, ca-cert.pem)",
                    if server {
                        "server and client"
                    } else {
                        "client"
                    },
                    dir.display()
                );
            }
            Ok(())
        }
        PkiCmd::Euicc {
            eum,
            ci,
            out: dir,
            count,
            eid_prefix,
            first_serial,
            days,
            production_date,
        } => {
            let ci = ci.unwrap_or_else(|| eum.join("..").join("ci"));
            let production = date_or_today(production_date.as_deref())?;
            euicc(
                &eum,
                &ci,
                &dir,
                count,
                &eid_prefix,
                first_serial,
                days,
                production,
                out,
            )
        }
        PkiCmd::Show { dir } => show(&dir, out),
    }
}

fn dns_names(id: &str, extra: &[String]) -> Vec<String> {
    let mut v = vec!["localhost".to_string(), id.to_string()];
    for h in extra {
        if !v.contains(h) {
            v.push(h.clone());
        }
    }
    v
}

/// A TLS identity for `id` from the TLS CA `ca` (CN = `id`, valid from today for a year):
/// certificate PEM and PKCS#8 key PEM. With `server`, also valid for `localhost` and the
/// loopback addresses. Used by `esim scenario export --tls`.
pub(crate) fn tls_pem(
    ca: &CaIdentity,
    id: &str,
    server: bool,
) -> Result<(Vec<u8>, zeroize::Zeroizing<Vec<u8>>)> {
    let mut spec = TlsSpec::client(id, today()?, 365);
    if server {
        spec.server = true;
        spec.dns = dns_names(id, &[]);
        spec.ips = loopback_ips();
    }
    let (cert, key) = tls_identity(ca, &spec)?;
    let key_pem = key.to_pkcs8_pem()?;
    Ok((
        cert.to_pem()?.into_bytes(),
        zeroize::Zeroizing::new(key_pem.as_bytes().to_vec()),
    ))
}

pub(crate) fn today() -> Result<Date> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("system clock before 1970")?
        .as_secs();
    Date::from_unix_days(i64::try_from(secs / 86_400)?).ok_or_else(|| anyhow!("date out of range"))
}

fn date_or_today(s: Option<&str>) -> Result<Date> {
    match s {
        Some(s) => Date::parse(s).ok_or_else(|| anyhow!("date {s:?}: expected YYYY-MM-DD")),
        None => today(),
    }
}

/// Writes a public file (mode 0644 on creation), replacing an existing one.
fn write_public(path: &Path, data: &[u8]) -> Result<()> {
    fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}

/// Writes a secret file created with mode 0600 (never chmod afterwards: the bytes never exist
/// in a file with wider permissions). An existing file is removed first.
pub(crate) fn write_secret(path: &Path, data: &[u8]) -> Result<()> {
    if path.exists() {
        fs::remove_file(path).with_context(|| format!("replacing {}", path.display()))?;
    }
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data)
        .with_context(|| format!("writing {}", path.display()))
}

fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn read_cert(path: &Path) -> Result<X509Certificate> {
    X509Certificate::from_pem(&read_text(path)?).with_context(|| format!("{}", path.display()))
}

fn read_key(path: &Path) -> Result<KeyPair> {
    // Key files are read into a zeroizing buffer.
    let pem =
        SecretBytes::new(fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    let text =
        std::str::from_utf8(&pem).map_err(|_| anyhow!("{}: not UTF-8 PEM", path.display()))?;
    KeyPair::from_pem(text).with_context(|| format!("{}", path.display()))
}

fn read_gp_cert(path: &Path) -> Result<Certificate> {
    let b = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Certificate::decode(&b).with_context(|| format!("{}", path.display()))
}

fn mkdir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))
}

fn write_ca(dir: &Path, ca: &CaIdentity) -> Result<()> {
    mkdir(dir)?;
    write_public(&dir.join("cert.pem"), ca.cert.to_pem()?.as_bytes())?;
    write_public(&dir.join("cert.der"), ca.cert.to_der())?;
    write_secret(&dir.join("key.pem"), ca.key.to_pkcs8_pem()?.as_bytes())?;
    write_public(&dir.join("id.txt"), format!("{}\n", ca.id).as_bytes())
}

fn write_server(dir: &Path, s: &ServerIdentity) -> Result<()> {
    mkdir(dir)?;
    let gp = s.cert.encode();
    write_public(&dir.join("cert.gp"), &gp)?;
    write_public(
        &dir.join("cert.gp.hex"),
        format!("{}\n", hex::encode_upper(&gp)).as_bytes(),
    )?;
    write_secret(&dir.join("key.pem"), s.key.to_pkcs8_pem()?.as_bytes())?;
    write_public(&dir.join("id.txt"), format!("{}\n", s.id).as_bytes())?;
    write_public(&dir.join("tls-cert.pem"), s.tls_cert.to_pem()?.as_bytes())?;
    write_secret(
        &dir.join("tls-key.pem"),
        s.tls_key.to_pkcs8_pem()?.as_bytes(),
    )
}

/// What a TLS certificate of [`tls_identity`] certifies.
#[derive(Debug, Clone)]
struct TlsSpec {
    id: String,
    dns: Vec<String>,
    ips: Vec<std::net::IpAddr>,
    server: bool,
    not_before: Date,
    days: i64,
}

impl TlsSpec {
    fn client(id: &str, not_before: Date, days: i64) -> Self {
        TlsSpec {
            id: id.to_string(),
            dns: Vec::new(),
            ips: Vec::new(),
            server: false,
            not_before,
            days,
        }
    }
}

/// `127.0.0.1` and `::1`: the servers' certificates are valid for loopback URLs.
fn loopback_ips() -> Vec<std::net::IpAddr> {
    vec![
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    ]
}

/// A fresh P-256 key and its TLS certificate (CN = id) signed by the TLS CA
/// (`esim_http::issue_tls_certificate`: esim-crypto's profile has no IP addresses).
fn tls_identity(ca: &CaIdentity, spec: &TlsSpec) -> Result<(X509Certificate, KeyPair)> {
    let key = KeyPair::generate()?;
    let first = spec.not_before.to_unix_days();
    let last = spec
        .not_before
        .add_days(spec.days.max(1))
        .ok_or_else(|| anyhow!("validity out of range"))?
        .to_unix_days();
    let pem = esim_http::issue_tls_certificate(
        ca.cert.to_pem()?.as_bytes(),
        ca.key.to_pkcs8_pem()?.as_bytes(),
        &key.public_key().to_spki_der()?,
        &esim_http::TlsCertificateSpec {
            common_name: spec.id.clone(),
            dns_names: spec.dns.clone(),
            ip_addresses: spec.ips.clone(),
            server: spec.server,
            not_before_unix: first * 86_400,
            not_after_unix: last * 86_400 + 86_399,
        },
    )
    .with_context(|| format!("issuing the TLS certificate of {}", spec.id))?;
    let cert = X509Certificate::from_pem(&pem)?;
    Ok((cert, key))
}

/// Writes DIR/tls-cert.pem, tls-key.pem (0600), ca-cert.pem and id.txt.
fn write_tls_identity(dir: &Path, ca: &CaIdentity, spec: &TlsSpec) -> Result<X509Certificate> {
    let (cert, key) = tls_identity(ca, spec)?;
    mkdir(dir)?;
    write_public(&dir.join("tls-cert.pem"), cert.to_pem()?.as_bytes())?;
    write_secret(&dir.join("tls-key.pem"), key.to_pkcs8_pem()?.as_bytes())?;
    write_public(&dir.join("ca-cert.pem"), ca.cert.to_pem()?.as_bytes())?;
    write_public(&dir.join("id.txt"), format!("{}\n", spec.id).as_bytes())?;
    Ok(cert)
}

/// Replaces a server's TLS identity with one valid for its DNS names and the loopback
/// addresses (so `https://127.0.0.1:PORT` works as well as `https://localhost:PORT`).
fn reissue_server_tls(
    s: &mut ServerIdentity,
    dns: &[String],
    ca: &CaIdentity,
    p: &PkiParams,
) -> Result<()> {
    let spec = TlsSpec {
        id: s.id.clone(),
        dns: dns.to_vec(),
        ips: loopback_ips(),
        server: true,
        not_before: p.not_before,
        days: p.entity_days,
    };
    let (cert, key) = tls_identity(ca, &spec)?;
    s.tls_cert = cert;
    s.tls_key = key;
    Ok(())
}

fn init(dir: &Path, force: bool, p: &PkiParams, out: &Output) -> Result<()> {
    let pki = create(dir, force, p)?;
    if out.json {
        out.print_json(&pki_summary(dir, &pki, None))?;
    } else {
        outln!("test PKI written to {}", dir.display());
        outln!("  CI    {}", pki.ci.cert.subject());
        outln!("  EUM   {} ({})", pki.eum.cert.subject(), pki.eum.id);
        outln!("  SM-DP {} (GP certificate type 01)", pki.smdp.id);
        outln!("  SM-SR {} (GP certificate type 02)", pki.smsr.id);
        outln!(
            "next: esim pki euicc --eum {} --out <DIR>",
            dir.join("eum").display()
        );
    }
    Ok(())
}

/// Generates a PKI and writes it to `dir` (the layout of `esim pki init`), printing nothing.
pub(crate) fn create(dir: &Path, force: bool, p: &PkiParams) -> Result<TestPki> {
    let manifest = dir.join("pki.json");
    if !force && (manifest.exists() || dir.join("ci").join("key.pem").exists()) {
        bail!(
            "{} already holds a PKI (use --force to overwrite it)",
            dir.display()
        );
    }
    let mut pki = TestPki::generate(p).context("generating the PKI")?;
    reissue_server_tls(&mut pki.smdp, &p.smdp_dns, &pki.tls_ca, p)?;
    reissue_server_tls(&mut pki.smsr, &p.smsr_dns, &pki.tls_ca, p)?;
    pki.verify(Some(p.not_before))
        .context("verifying the new PKI")?;
    mkdir(dir)?;
    write_ca(&dir.join("ci"), &pki.ci)?;
    write_ca(&dir.join("eum"), &pki.eum)?;
    write_server(&dir.join("smdp"), &pki.smdp)?;
    write_server(&dir.join("smsr"), &pki.smsr)?;
    let tls = dir.join("tls");
    mkdir(&tls)?;
    write_public(
        &tls.join("ca-cert.pem"),
        pki.tls_ca.cert.to_pem()?.as_bytes(),
    )?;
    write_secret(
        &tls.join("ca-key.pem"),
        pki.tls_ca.key.to_pkcs8_pem()?.as_bytes(),
    )?;
    let m = json!({
        "format": "esim-rsp test PKI 1",
        "validFrom": p.not_before.to_string(),
        "ciId": pki.ci.id,
        "eumId": pki.eum.id,
        "smdpId": pki.smdp.id,
        "smsrId": pki.smsr.id,
        "tlsCaId": pki.tls_ca.id,
    });
    write_public(&manifest, serde_json::to_string_pretty(&m)?.as_bytes())?;
    Ok(pki)
}

/// Loads a PKI written by [`create`] / `esim pki init`.
pub(crate) fn load(dir: &Path) -> Result<TestPki> {
    let tls = dir.join("tls");
    let manifest: Value = serde_json::from_str(&read_text(&dir.join("pki.json"))?)
        .with_context(|| format!("{}: not a PKI manifest", dir.join("pki.json").display()))?;
    let tls_ca_id = manifest["tlsCaId"].as_str().unwrap_or("tls-ca").to_string();
    let pki = TestPki {
        ci: load_ca(&dir.join("ci"), "key.pem", "cert.pem", None).context("loading the CI")?,
        eum: load_ca(&dir.join("eum"), "key.pem", "cert.pem", None).context("loading the EUM")?,
        smdp: load_server(&dir.join("smdp")).context("loading the SM-DP identity")?,
        smsr: load_server(&dir.join("smsr")).context("loading the SM-SR identity")?,
        tls_ca: load_ca(&tls, "ca-key.pem", "ca-cert.pem", Some(tls_ca_id))
            .context("loading the TLS CA")?,
    };
    pki.verify(None)
        .with_context(|| format!("verifying the PKI in {}", dir.display()))?;
    Ok(pki)
}

fn load_ca(dir: &Path, key_file: &str, cert_file: &str, id: Option<String>) -> Result<CaIdentity> {
    let id = match id {
        Some(id) => id,
        None => read_text(&dir.join("id.txt"))?.trim().to_string(),
    };
    Ok(CaIdentity {
        id,
        key: read_key(&dir.join(key_file))?,
        cert: read_cert(&dir.join(cert_file))?,
    })
}

fn load_server(dir: &Path) -> Result<ServerIdentity> {
    Ok(ServerIdentity {
        id: read_text(&dir.join("id.txt"))?.trim().to_string(),
        key: read_key(&dir.join("key.pem"))?,
        cert: read_gp_cert(&dir.join("cert.gp"))?,
        tls_key: read_key(&dir.join("tls-key.pem"))?,
        tls_cert: read_cert(&dir.join("tls-cert.pem"))?,
    })
}

/// Highest serial already used under `out` for `prefix`.
fn highest_serial(out: &Path, prefix: &str) -> Option<u64> {
    let rd = fs::read_dir(out).ok()?;
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.len() == 32 && n.starts_with(prefix) && n.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|n| n[prefix.len()..30].parse::<u64>().ok())
        .max()
}

#[allow(clippy::too_many_arguments)]
fn euicc(
    eum_dir: &Path,
    ci_dir: &Path,
    out_dir: &Path,
    count: u32,
    prefix: &str,
    first_serial: Option<u64>,
    days: i64,
    production: Date,
    out: &Output,
) -> Result<()> {
    let progress = count > 1 && !out.json;
    let issued = issue(
        eum_dir,
        ci_dir,
        out_dir,
        count,
        prefix,
        first_serial,
        days,
        production,
        progress,
    )?;
    if out.json {
        out.print_json(&json!({ "out": out_dir.display().to_string(), "issued": issued }))?;
    } else {
        outln!("{} eUICC(s) issued in {}", issued.len(), out_dir.display());
        for eid in &issued {
            outln!("  {eid}");
        }
    }
    Ok(())
}

/// Issues `count` eUICCs into `out_dir` (the layout of `esim pki euicc`); returns their EIDs.
/// With `progress`, a counter is shown on standard error.
#[allow(clippy::too_many_arguments)]
pub(crate) fn issue(
    eum_dir: &Path,
    ci_dir: &Path,
    out_dir: &Path,
    count: u32,
    prefix: &str,
    first_serial: Option<u64>,
    days: i64,
    production: Date,
    progress: bool,
) -> Result<Vec<String>> {
    let eum = load_ca(eum_dir, "key.pem", "cert.pem", None).context("loading the EUM")?;
    let ci_cert = read_cert(&ci_dir.join("cert.pem")).context("loading the CI certificate")?;
    eum.cert
        .verify_issued_by(&ci_cert)
        .context("the EUM certificate is not signed by this CI")?;
    if eum.cert.public_key()? != *eum.key.public_key() {
        bail!("{}: key.pem does not match cert.pem", eum_dir.display());
    }
    mkdir(out_dir)?;
    let first =
        first_serial.unwrap_or_else(|| highest_serial(out_dir, prefix).map_or(1, |h| h + 1));
    let mut issued = Vec::new();
    for i in 0..u64::from(count) {
        let eid = pki::eid_from_prefix(prefix, first + i)?;
        let dir = out_dir.join(eid.as_str());
        if dir.exists() {
            bail!(
                "{} already exists (choose another --first-serial)",
                dir.display()
            );
        }
        let params = EuiccParams::test_defaults(eid.clone(), production, days)?;
        let e = pki::issue_euicc(&eum, &ci_cert, &params)
            .with_context(|| format!("issuing eUICC {}", eid.as_str()))?;
        mkdir(&dir)?;
        write_public(
            &dir.join("eid.txt"),
            format!("{}\n", eid.as_str()).as_bytes(),
        )?;
        write_secret(
            &dir.join("ecasd-key.pem"),
            e.ecasd_key.to_pkcs8_pem()?.as_bytes(),
        )?;
        let gp = e.ecasd_cert.encode();
        write_public(&dir.join("ecasd-cert.gp"), &gp)?;
        write_public(
            &dir.join("ecasd-cert.gp.hex"),
            format!("{}\n", hex::encode_upper(&gp)).as_bytes(),
        )?;
        write_public(&dir.join("ci-cert.pem"), ci_cert.to_pem()?.as_bytes())?;
        write_public(
            &dir.join("ci-public-key.pem"),
            e.ci_public_key.to_pem()?.as_bytes(),
        )?;
        write_public(&dir.join("eum-cert.pem"), eum.cert.to_pem()?.as_bytes())?;
        let keys = isd_r_keys_json(&e)?;
        write_secret(&dir.join("isd-r-keys.json"), &keys)?;
        write_secret(&dir.join("eis.json"), e.eis.to_json()?.as_bytes())?;
        issued.push(eid.as_str().to_string());
        if progress {
            eprint!("\rissued {}/{count} eUICC(s): {}", i + 1, eid.as_str());
        }
    }
    if progress {
        eprintln!();
    }
    Ok(issued)
}

/// `isd-r-keys.json`: the ISD-R keysets in a form the card and the SM-SR load directly.
fn isd_r_keys_json(e: &pki::IssuedEuicc) -> Result<SecretBytes> {
    let scp80: Vec<Value> = e
        .scp80
        .iter()
        .map(|k| {
            json!({
                "kvn": k.kvn,
                "kic": hex::encode_upper(k.kic.expose()),
                "kid": hex::encode_upper(k.kid.expose()),
                "dek": hex::encode_upper(k.dek.expose()),
                "initialCounter": hex::encode(&k.initial_counter),
                "algorithm": "AES-128 (KIc: AES-CBC, KID: AES-CMAC)",
            })
        })
        .collect();
    let scp81: Vec<Value> = e
        .scp81
        .iter()
        .map(|k| {
            json!({
                "kvn": k.kvn,
                "kid": k.kid,
                "pskIdentity": hex::encode_upper(&k.identity),
                "psk": hex::encode_upper(k.psk.expose()),
            })
        })
        .collect();
    let doc = json!({ "eid": e.eid.as_str(), "scp80": scp80, "scp81": scp81 });
    Ok(SecretBytes::new(serde_json::to_vec_pretty(&doc)?))
}

fn check(r: Result<(), impl std::fmt::Display>) -> Value {
    match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(format!("FAILED: {e}")),
    }
}

fn x509_summary(c: &X509Certificate) -> Value {
    let v = c.validity();
    json!({
        "subject": c.subject(),
        "issuer": c.issuer(),
        "serial": hex::encode(&c.serial()),
        "notBefore": v.not_before.to_string(),
        "notAfter": v.not_after.to_string(),
        "subjectKeyId": c.subject_key_id().map(|k| hex::encode(&k)),
        "dnsNames": c.dns_names(),
    })
}

fn gp_summary(c: &Certificate) -> Value {
    let b = c.body();
    json!({
        "type": b.cert_type.map(|t| format!("{:02X} ({t:?})", t.to_byte())),
        "serial": hex::encode(&b.serial),
        "caId": String::from_utf8_lossy(&b.ca_id),
        "subjectId": hex::encode(&b.subject_id),
        "keyUsage": hex::encode(&b.key_usage),
        "effective": b.effective_date.map(|d| d.to_string()),
        "expiry": b.expiry_date.to_string(),
        "authorityKeyId": b.authority_key_id.as_ref().map(|k| hex::encode(k)),
        "publicKey": hex::encode(&c.public_key().to_sec1()),
    })
}

fn pki_summary(dir: &Path, pki: &TestPki, at: Option<Date>) -> Value {
    json!({
        "dir": dir.display().to_string(),
        "ci": { "id": pki.ci.id, "cert": x509_summary(&pki.ci.cert) },
        "eum": { "id": pki.eum.id, "cert": x509_summary(&pki.eum.cert) },
        "smdp": { "id": pki.smdp.id, "cert": gp_summary(&pki.smdp.cert), "tls": x509_summary(&pki.smdp.tls_cert) },
        "smsr": { "id": pki.smsr.id, "cert": gp_summary(&pki.smsr.cert), "tls": x509_summary(&pki.smsr.tls_cert) },
        "tlsCa": x509_summary(&pki.tls_ca.cert),
        "verification": check(pki.verify(at)),
    })
}

fn show(dir: &Path, out: &Output) -> Result<()> {
    let today = today()?;
    if dir.join("pki.json").exists() {
        let pki = TestPki {
            ci: load_ca(&dir.join("ci"), "key.pem", "cert.pem", None)?,
            eum: load_ca(&dir.join("eum"), "key.pem", "cert.pem", None)?,
            smdp: load_server(&dir.join("smdp"))?,
            smsr: load_server(&dir.join("smsr"))?,
            tls_ca: load_ca(
                &dir.join("tls"),
                "ca-key.pem",
                "ca-cert.pem",
                Some("esim-rsp-test-tls-ca".into()),
            )?,
        };
        let summary = pki_summary(dir, &pki, Some(today));
        if out.json {
            return out.print_json(&summary);
        }
        outln!("test PKI in {}", dir.display());
        for (name, c) in [
            ("CI", &pki.ci.cert),
            ("EUM", &pki.eum.cert),
            ("TLS CA", &pki.tls_ca.cert),
        ] {
            let v = c.validity();
            outln!(
                "  {name:<6} {}  valid {} .. {}",
                c.subject(),
                v.not_before,
                v.not_after
            );
        }
        for (name, s) in [("SM-DP", &pki.smdp), ("SM-SR", &pki.smsr)] {
            let b = s.cert.body();
            outln!(
                "  {name:<6} {}  GP cert type {:?}, serial {}, expires {}; TLS names {}",
                s.id,
                b.cert_type,
                hex::encode(&b.serial),
                b.expiry_date,
                s.tls_cert.dns_names().join(", ")
            );
        }
        outln!(
            "  chains: {}",
            summary["verification"].as_str().unwrap_or("?")
        );
        Ok(())
    } else if dir.join("eis.json").exists() {
        let eis = EisDocument::from_json(&read_text(&dir.join("eis.json"))?)
            .with_context(|| format!("{}", dir.join("eis.json").display()))?;
        let ecasd = read_gp_cert(&dir.join("ecasd-cert.gp"))?;
        let eum = read_cert(&dir.join("eum-cert.pem"))?;
        let ci = read_cert(&dir.join("ci-cert.pem"))?;
        let verified = pki::verify_eis(&eis, &eum, &ci).map(|_| ());
        let same_cert = eis.ecasd_certificate().ok().as_ref() == Some(&ecasd);
        let info = &eis.eum_signed_info;
        let keysets: Vec<Value> = info
            .isd_r
            .keysets
            .iter()
            .map(|k| json!({ "type": k.keyset_type, "kvn": k.version, "keys": k.keys.len() }))
            .collect();
        let summary = json!({
            "dir": dir.display().to_string(),
            "eid": info.eid,
            "eumId": info.eum_id,
            "productionDate": info.production_date,
            "platform": format!("{} {}", info.platform_type, info.platform_version),
            "ecasdCertificate": gp_summary(&ecasd),
            "ecasdCertificateMatchesEis": same_cert,
            "isdRKeysets": keysets,
            "eisVerification": check(verified),
            "ecasdCertificateValidToday": check(ecasd.check_validity(today)),
        });
        if out.json {
            return out.print_json(&summary);
        }
        outln!("eUICC {}", info.eid);
        outln!("  EUM {}  produced {}", info.eum_id, info.production_date);
        outln!(
            "  ECASD certificate serial {}, expires {}",
            hex::encode(&ecasd.body().serial),
            ecasd.body().expiry_date
        );
        for k in &info.isd_r.keysets {
            outln!(
                "  ISD-R keyset {} KVN {:02X} ({} key(s))",
                k.keyset_type,
                k.version,
                k.keys.len()
            );
        }
        outln!(
            "  EIS signature and chain: {}",
            summary["eisVerification"].as_str().unwrap_or("?")
        );
        Ok(())
    } else {
        bail!(
            "{} is neither a PKI directory (pki.json) nor an eUICC directory (eis.json)",
            dir.display()
        )
    }
}
