//! `esim smsr`, `esim smdp`, `esim serve`: the servers from a configuration file
//! ([`crate::config`]), until Ctrl-C / SIGTERM; plus the SM-DP inventory and SM-SR registration
//! administration commands that work on the stores directly.

use crate::config::{Binding, OperatorSection, PeerServer, ServerConfig, TlsSection};
use crate::output::Output;
use crate::servers::{self, Party, SmsrSetup};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use esim_crypto::pki::TestPki;
use esim_service::FunctionClient;
use esim_smsr::delivery::{SmppSettings, TransportKind};
use esim_store::{Sealer, Store};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;

const CONFIG_HELP: &str =
    "Configuration (TOML; every key can be overridden with ESIM__SECTION__KEY):

  pki = \"pki\"                          # from `esim pki init`
  [store]
  smsr = \"sqlite:smsr.db\"              # or postgres://user@host/db
  smdp = \"sqlite:smdp.db\"
  master_key = \"env:ESIM_MASTER_KEY\"   # hex AES key sealing secrets at rest (or file:PATH)
  [smsr]
  api_listen = \"127.0.0.1:8443\"        # JSON API: ES1, ES3, ES4, /openapi.json, /metrics
  scp81_listen = \"127.0.0.1:8444\"      # SCP81 PSK-TLS admin sessions
  https = false                        # ES5 over HTTPS (SCP81) instead of SMS
  replica = \"1\"                        # unique per replica sharing the store
  [[smsr.smdp]]                        # SM-DPs the SM-SR asks for Master Delete tokens
  id = \"smdp.esim-rsp.test\"
  url = \"http://127.0.0.1:8445\"
  token = \"env:SMSR_TOKEN_AT_SMDP\"
  [[smsr.peers]]                       # other SM-SRs (ES7, SM-SR change)
  id = \"smsr-b.example\"
  url = \"http://smsr-b.example:8443\"
  token = \"env:SMSR_TOKEN_AT_SMSR_B\"
  [smsr.smsc]
  address = \"127.0.0.1:2775\"           # SMPP 3.4 SMSC (`esim smsc` or a real one)
  system_id = \"smsr\"
  password = \"\"
  sms_address = \"SMSR\"
  [smdp]
  api_listen = \"127.0.0.1:8445\"        # JSON API: ES2
  [[smdp.smsr]]
  id = \"smsr.esim-rsp.test\"
  url = \"http://127.0.0.1:8443\"
  token = \"env:SMDP_TOKEN_AT_SMSR\"
  [[operators]]                        # API clients of both servers
  id = \"mno-b\"
  roles = [\"MNO\"]
  token = \"env:MNO_B_TOKEN\"
  callback_url = \"http://mno-b.example:9000\"   # results and notifications (optional)
  callback_ca = \"pki/tls/ca-cert.pem\"           # trusted for an https callback_url
  callback_binding = \"json\"                     # or \"soap\" (+ callback_reply_url for results)

HTTPS and mutual TLS (any server; without [smsr.tls] / [smdp.tls] the API is plain HTTP):
  [smsr.tls]
  cert = \"pki/smsr/tls-cert.pem\"       # server certificate (esim pki init: localhost, 127.0.0.1)
  key = \"file:pki/smsr/tls-key.pem\"    # its key (file:/env:/inline PEM)
  client_ca = \"pki/tls/ca-cert.pem\"    # verify client certificates against this CA
  require_client_cert = true           # false: verified only when presented
  [[smsr.smdp]]                        # each peer: https URL, CA, our client identity, binding
  id = \"smdp.esim-rsp.test\"
  url = \"https://localhost:8445\"
  token = \"env:SMSR_TOKEN_AT_SMDP\"
  ca = \"pki/tls/ca-cert.pem\"
  binding = \"soap\"                     # or \"json\" (default)
  # client_cert = \"…\", client_key = \"file:…\"   (default: this server's [smsr.tls] cert/key)
The server's [x.tls] cert/key is also its client certificate for callbacks and peers. With a
verified client certificate, its subject CN (or a SAN DNS name/URI) must be the operator id of
the bearer token, else 403 (SOAP: Sender/Forbidden fault). Operators' client identities:
`esim pki issue-tls --pki pki --id mno-b` (or `esim pki init --operator mno-b`). See docs/tls.md.";

/// `esim smsr|smdp|serve`.
#[derive(Debug, Args)]
#[command(after_help = CONFIG_HELP)]
pub struct ServeArgs {
    /// The configuration file.
    #[arg(long, short, value_name = "FILE", default_value = "esim.toml")]
    config: PathBuf,
}

/// `esim smdp inventory …` and `esim smsr register`.
#[derive(Debug, Subcommand)]
pub enum SmdpAdmin {
    /// Generate personalized Profiles from a SAIP template into the inventory (Ki/OPc random,
    /// sealed with the master key).
    Generate {
        #[command(flatten)]
        serve: ServeArgs,
        /// Owning operator.
        #[arg(long)]
        owner: String,
        /// Profile type.
        #[arg(long = "type")]
        profile_type: String,
        /// The template (DER).
        #[arg(long, value_name = "FILE.der")]
        template: PathBuf,
        /// First ICCID without its Luhn digit (17–19 digits starting with 89).
        #[arg(long)]
        iccid_start: String,
        /// First IMSI.
        #[arg(long)]
        imsi_start: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 1)]
        count: u32,
    },
    /// Import ready SAIP packages (DER) into the inventory.
    Import {
        #[command(flatten)]
        serve: ServeArgs,
        /// Owning operator.
        #[arg(long)]
        owner: String,
        /// Profile type (default: each package's header).
        #[arg(long = "type")]
        profile_type: Option<String>,
        /// The packages.
        #[arg(required = true)]
        packages: Vec<PathBuf>,
    },
}

/// `esim smdp …`: run the SM-DP, or administer its inventory.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = CONFIG_HELP)]
pub struct SmdpArgs {
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    admin: Option<SmdpAdmin>,
}

/// `esim smsr …`: run the SM-SR, or register an eUICC directly in its store.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = CONFIG_HELP)]
pub struct SmsrArgs {
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    admin: Option<SmsrAdmin>,
}

/// SM-SR administration.
#[derive(Debug, Subcommand)]
pub enum SmsrAdmin {
    /// ES1.RegisterEIS on the store directly (as the EUM), with what the signed EIS cannot
    /// carry: the MSISDN and the bootstrap Profile read from a card directory.
    Register {
        #[command(flatten)]
        serve: ServeArgs,
        /// The issued eUICC directory (`esim pki euicc`: eis.json).
        #[arg(long, value_name = "DIR")]
        euicc: PathBuf,
        /// MSISDN of the eUICC's modem.
        #[arg(long)]
        msisdn: String,
        /// The card directory (to read the bootstrap Profile's ISD-P and ICCID).
        #[arg(long, value_name = "DIR")]
        card: Option<PathBuf>,
        /// Owner of the bootstrap Profile.
        #[arg(long, default_value = "mno-a")]
        bootstrap_owner: String,
    },
}

struct Loaded {
    cfg: ServerConfig,
    pki: TestPki,
    sealer: Arc<dyn Sealer>,
    parties: Vec<Party>,
}

fn party(o: &OperatorSection, base: &Path) -> Result<Party> {
    let callback = match (&o.callback_url, &o.callback_token) {
        (Some(u), Some(t)) => Some((u.clone(), t.resolve(base)?)),
        (Some(u), None) => Some((u.clone(), zeroize::Zeroizing::new(String::new()))),
        _ => None,
    };
    Ok(Party {
        id: o.id.clone(),
        name: o.name.clone(),
        roles: o.roles.clone(),
        token: o
            .token
            .resolve(base)
            .with_context(|| format!("token of operator {}", o.id))?,
        callback,
    })
}

fn load(path: &Path) -> Result<Loaded> {
    let cfg = ServerConfig::load(path)?;
    let pki = crate::pki::load(&cfg.pki)?;
    let key = cfg
        .store
        .master_key
        .aes_key(&cfg.base, "store.master_key")?;
    let sealer: Arc<dyn Sealer> = Arc::new(esim_store::AesSealer::new("master-1", &key)?);
    let parties = cfg
        .operators
        .iter()
        .map(|o| party(o, &cfg.base))
        .collect::<Result<Vec<_>>>()?;
    Ok(Loaded {
        cfg,
        pki,
        sealer,
        parties,
    })
}

async fn open(url: &str, what: &str) -> Result<Arc<dyn Store>> {
    esim_store::connect(url)
        .await
        .with_context(|| format!("opening the {what} store {}", redact_url(url)))
}

/// A store URL without its password.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{what}: reading {}", path.display()))
}

/// The server side of `[x.tls]` and this server's client identity (cert, key PEM).
fn api_tls(t: Option<&TlsSection>, base: &Path) -> Result<(servers::ApiTls, ClientIdentity)> {
    let Some(t) = t else {
        return Ok((servers::ApiTls::default(), None));
    };
    let cert = read_file(&t.cert, "tls.cert")?;
    let key = t.key.resolve(base).context("tls.key")?;
    let key = key.as_bytes().to_vec();
    let mut server = esim_http::ServerTls::new(cert.clone(), key.clone());
    if let Some(ca) = &t.client_ca {
        server = server.require_client_certificates(read_file(ca, "tls.client_ca")?);
        server.client_certificate_optional = !t.require_client_cert;
    }
    server
        .check()
        .with_context(|| format!("tls.cert {} / tls.key", t.cert.display()))?;
    let identity = Some((cert, zeroize::Zeroizing::new(key)));
    Ok((
        servers::ApiTls {
            server: Some(server),
            ..servers::ApiTls::default()
        },
        identity,
    ))
}

/// A server's own client certificate and key (PEM), from its `[x.tls]`.
type ClientIdentity = Option<(Vec<u8>, zeroize::Zeroizing<Vec<u8>>)>;

/// The client of a peer server: its binding, trust anchors, our client identity (its own, else
/// `own`).
fn peer_client(
    p: &PeerServer,
    own: &ClientIdentity,
    base: &Path,
    what: &str,
) -> Result<Arc<dyn FunctionClient>> {
    let token = p.token.resolve(base)?;
    let mut tls = esim_http::TlsOptions::default();
    if let Some(ca) = &p.ca {
        tls.root_certificates_pem
            .push(read_file(ca, &format!("{what} {}: ca", p.id))?);
    }
    tls.client_identity_pem = match (&p.client_cert, &p.client_key) {
        (Some(c), Some(k)) => Some((
            read_file(c, &format!("{what} {}: client_cert", p.id))?,
            k.resolve(base)
                .with_context(|| format!("{what} {}: client_key", p.id))?
                .as_bytes()
                .to_vec(),
        )),
        _ => own.as_ref().map(|(c, k)| (c.clone(), k.to_vec())),
    };
    let client: Arc<dyn FunctionClient> = match p.binding {
        Binding::Json => Arc::new(
            esim_http::HttpFunctionClient::with_tls(&p.url, &token, &tls)
                .map_err(|e| anyhow::anyhow!("{what} client for {}: {e}", p.id))?,
        ),
        Binding::Soap => Arc::new(esim_soap::SoapFunctionClient::with_http_client(
            &p.url,
            &token,
            tls.http_client()
                .map_err(|e| anyhow::anyhow!("{what} client for {}: {e}", p.id))?,
        )),
    };
    Ok(client)
}

/// The operators called back over SOAP (`callback_binding = "soap"`), by id.
fn soap_callbacks(cfg: &ServerConfig) -> Result<HashMap<String, esim_soap::SoapEndpoint>> {
    let mut m = HashMap::new();
    for o in &cfg.operators {
        if o.callback_binding != Binding::Soap {
            continue;
        }
        let Some(url) = &o.callback_url else {
            bail!(
                "operator {}: callback_binding = \"soap\" needs a callback_url",
                o.id
            );
        };
        let token = match &o.callback_token {
            Some(t) => t
                .resolve(&cfg.base)
                .with_context(|| format!("operator {}: callback_token", o.id))?
                .to_string(),
            None => String::new(),
        };
        m.insert(
            o.id.clone(),
            esim_soap::SoapEndpoint {
                base_url: url.clone(),
                token,
                reply_url: o.callback_reply_url.clone(),
            },
        );
    }
    Ok(m)
}

/// Where SOAP replies (`wsa:ReplyTo`) may go: the operators' configured callback endpoints
/// (`callback_url`, `callback_reply_url`), nowhere else (docs/spec-choices.md row 82).
fn reply_to_policy(cfg: &ServerConfig) -> esim_soap::ReplyToPolicy {
    let bases: Vec<String> = cfg
        .operators
        .iter()
        .flat_map(|o| [o.callback_url.clone(), o.callback_reply_url.clone()])
        .flatten()
        .collect();
    if bases.is_empty() {
        esim_soap::ReplyToPolicy::AnonymousOnly
    } else {
        esim_soap::ReplyToPolicy::Allowed(bases)
    }
}

/// The TLS settings of the callbacks: every operator's `callback_ca`, our client identity.
fn callback_tls(cfg: &ServerConfig, own: &ClientIdentity) -> Result<esim_http::TlsOptions> {
    let mut tls = esim_http::TlsOptions::default();
    for o in &cfg.operators {
        if let Some(ca) = &o.callback_ca {
            tls.root_certificates_pem
                .push(read_file(ca, &format!("operator {}: callback_ca", o.id))?);
        }
    }
    tls.client_identity_pem = own.as_ref().map(|(c, k)| (c.clone(), k.to_vec()));
    Ok(tls)
}

async fn bind(addr: &str, what: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} on {addr}"))
}

async fn run_smsr(l: &Loaded) -> Result<servers::Running> {
    let c = &l.cfg.smsr;
    let (mut tls, own) = api_tls(c.tls.as_ref(), &l.cfg.base).context("[smsr.tls]")?;
    // Callbacks and replies to wsa:ReplyTo: the operators' callback CAs, our identity.
    tls.client = callback_tls(&l.cfg, &own)?;
    tls.reply_to = reply_to_policy(&l.cfg);
    let store = open(&l.cfg.store.smsr, "SM-SR").await?;
    let callbacks = servers::install_parties_soap(
        store.as_ref(),
        &l.parties,
        &tls.client,
        soap_callbacks(&l.cfg)?,
    )
    .await?;
    let api = bind(&c.api_listen, "SM-SR JSON API").await?;
    let scp81 = bind(&c.scp81_listen, "SCP81 server").await?;
    let id = c.id.clone().unwrap_or_else(|| l.pki.smsr.id.clone());
    let mut smdps: HashMap<String, Arc<dyn FunctionClient>> = HashMap::new();
    for p in &c.smdp {
        smdps.insert(p.id.clone(), peer_client(p, &own, &l.cfg.base, "ES3")?);
    }
    let mut peers: HashMap<String, Arc<dyn FunctionClient>> = HashMap::new();
    for p in &c.peers {
        peers.insert(p.id.clone(), peer_client(p, &own, &l.cfg.base, "ES7")?);
    }
    let (running, _smsr) = servers::start_smsr_tls(
        SmsrSetup {
            id: id.clone(),
            smpp: SmppSettings {
                server: c.smsc.address.clone(),
                system_id: c.smsc.system_id.clone(),
                password: esim_smpp::Password::new(c.smsc.password.resolve(&l.cfg.base)?.as_str()),
            },
            sms_address: c.smsc.sms_address.clone(),
            transport: if c.https {
                TransportKind::Https
            } else {
                TransportKind::Sms
            },
            scp81_host: c.scp81_host.clone(),
            initial_timeout_ms: None,
            smdps,
            peers,
            replica: c.replica.clone(),
        },
        &l.pki,
        store,
        l.sealer.clone(),
        callbacks,
        api,
        scp81,
        tls,
    )
    .await?;
    tracing::info!(%id, api = %running.api, tls = running.tls, "SM-SR running");
    Ok(running)
}

async fn run_smdp(l: &Loaded) -> Result<servers::Running> {
    let c = &l.cfg.smdp;
    let (mut tls, own) = api_tls(c.tls.as_ref(), &l.cfg.base).context("[smdp.tls]")?;
    // Callbacks and replies to wsa:ReplyTo: the operators' callback CAs, our identity.
    tls.client = callback_tls(&l.cfg, &own)?;
    tls.reply_to = reply_to_policy(&l.cfg);
    let store = open(&l.cfg.store.smdp, "SM-DP").await?;
    let callbacks = servers::install_parties_soap(
        store.as_ref(),
        &l.parties,
        &tls.client,
        soap_callbacks(&l.cfg)?,
    )
    .await?;
    let mut smsrs: HashMap<String, Arc<dyn FunctionClient>> = HashMap::new();
    for p in &c.smsr {
        smsrs.insert(p.id.clone(), peer_client(p, &own, &l.cfg.base, "ES3")?);
    }
    let api = bind(&c.api_listen, "SM-DP JSON API").await?;
    let id = c.id.clone().unwrap_or_else(|| l.pki.smdp.id.clone());
    let (running, _smdp) = servers::start_smdp_tls(
        &id,
        &l.pki,
        store,
        l.sealer.clone(),
        smsrs,
        callbacks,
        api,
        &c.replica,
        tls,
    )
    .await?;
    tracing::info!(%id, api = %running.api, tls = running.tls, "SM-DP running");
    Ok(running)
}

/// Which servers to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The SM-SR.
    Smsr,
    /// The SM-DP.
    Smdp,
    /// Both.
    Both,
}

fn announce(out: &Output, what: &str, r: &servers::Running) -> Result<()> {
    if out.json {
        out.print_json(&json!({
            "server": what,
            "api": r.api.to_string(),
            "tls": r.tls,
            "scp81": r.scp81.map(|a| a.to_string()),
        }))?;
    } else {
        outln!(
            "{what} listening: JSON and SOAP API {}://{}{}",
            if r.tls { "https" } else { "http" },
            r.api,
            r.scp81.map(|a| format!(", SCP81 {a}")).unwrap_or_default()
        );
    }
    Ok(())
}

/// Runs the servers until Ctrl-C / SIGTERM.
pub fn serve(args: &ServeArgs, which: Which, out: &Output) -> Result<()> {
    crate::device::init_logging();
    let l = load(&args.config)?;
    crate::device::runtime()?.block_on(async {
        let mut running = Vec::new();
        if which != Which::Smdp {
            let r = run_smsr(&l).await?;
            announce(out, "SM-SR", &r)?;
            running.push(r);
        }
        if which != Which::Smsr {
            let r = run_smdp(&l).await?;
            announce(out, "SM-DP", &r)?;
            running.push(r);
        }
        let failure = {
            let mut fails = Vec::new();
            for r in &mut running {
                fails.push(Box::pin(r.failed()));
            }
            let any = futures_select_all(fails);
            tokio::select! {
                () = crate::device::interrupted() => None,
                e = any => Some(e),
            }
        };
        for r in running {
            if let Err(e) = r.stop().await {
                tracing::warn!("stopping: {e:#}");
            }
        }
        match failure {
            Some(Err(e)) => Err(e),
            _ => Ok(()),
        }
    })
}

/// Waits for the first of several futures.
async fn futures_select_all<F>(futs: Vec<std::pin::Pin<Box<F>>>) -> Result<()>
where
    F: std::future::Future<Output = Result<()>> + ?Sized,
{
    let mut futs = futs;
    std::future::poll_fn(move |cx| {
        for f in &mut futs {
            if let std::task::Poll::Ready(r) = f.as_mut().poll(cx) {
                return std::task::Poll::Ready(r);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// `esim smsr …`.
pub fn smsr(args: SmsrArgs, out: &Output) -> Result<()> {
    match args.admin {
        None => serve(&args.serve, Which::Smsr, out),
        Some(SmsrAdmin::Register {
            serve,
            euicc,
            msisdn,
            card,
            bootstrap_owner,
        }) => register(
            &serve,
            &euicc,
            &msisdn,
            card.as_deref(),
            &bootstrap_owner,
            out,
        ),
    }
}

/// `esim smdp …`.
pub fn smdp(args: SmdpArgs, out: &Output) -> Result<()> {
    let Some(admin) = args.admin else {
        return serve(&args.serve, Which::Smdp, out);
    };
    let (serve, work): (ServeArgs, _) = match admin {
        SmdpAdmin::Generate {
            serve,
            owner,
            profile_type,
            template,
            iccid_start,
            imsi_start,
            count,
        } => {
            let template_bytes = std::fs::read(&template)
                .with_context(|| format!("reading {}", template.display()))?;
            let imsi = imsi_start
                .map(|i| esim_codec::Imsi::parse(&i))
                .transpose()
                .context("--imsi-start")?;
            (
                serve,
                Work::Generate(esim_smdp::GenerateRequest {
                    owner,
                    profile_type,
                    template_name: template.display().to_string(),
                    template: template_bytes,
                    iccid_start,
                    count,
                    imsi_start: imsi,
                }),
            )
        }
        SmdpAdmin::Import {
            serve,
            owner,
            profile_type,
            packages,
        } => {
            let mut bytes = Vec::new();
            for p in &packages {
                bytes.push(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?);
            }
            (
                serve,
                Work::Import(esim_smdp::ImportRequest {
                    owner,
                    profile_type,
                    packages: bytes,
                }),
            )
        }
    };
    let l = load(&serve.config)?;
    crate::device::runtime()?.block_on(async {
        let store = open(&l.cfg.store.smdp, "SM-DP").await?;
        let inv = esim_smdp::Inventory::new(store, l.sealer.clone());
        let made = match work {
            Work::Generate(g) => inv.generate(&g, esim_service::now()).await,
            Work::Import(i) => inv.import(&i, esim_service::now()).await,
        }
        .map_err(|e| anyhow::anyhow!("inventory: {e}"))?;
        if out.json {
            out.print_json(&json!({
                "added": made.iter().map(|p| json!({
                    "iccid": p.iccid.as_str(),
                    "imsi": p.imsi.as_ref().map(|i| i.as_str().to_string()),
                    "type": p.profile_type,
                    "owner": p.owner,
                })).collect::<Vec<_>>()
            }))?;
        } else {
            outln!("{} Profile(s) added to the inventory", made.len());
            for p in &made {
                outln!(
                    "  {}  {}  {}",
                    p.iccid.as_str(),
                    p.imsi.as_ref().map(|i| i.as_str()).unwrap_or("-"),
                    p.profile_type
                );
            }
        }
        Ok(())
    })
}

enum Work {
    Generate(esim_smdp::GenerateRequest),
    Import(esim_smdp::ImportRequest),
}

fn register(
    serve: &ServeArgs,
    euicc: &Path,
    msisdn: &str,
    card: Option<&Path>,
    owner: &str,
    out: &Output,
) -> Result<()> {
    let l = load(&serve.config)?;
    let doc_text = std::fs::read_to_string(euicc.join("eis.json"))
        .with_context(|| format!("reading {}", euicc.join("eis.json").display()))?;
    let doc = esim_crypto::pki::EisDocument::from_json(&doc_text)?;
    let mut profiles = Vec::new();
    if let Some(card_dir) = card {
        let card = esim_device::store::load_card(card_dir)?;
        for slot in card.profiles() {
            let Some(p) = slot.isdp.installed_profile() else {
                continue;
            };
            profiles.push(esim_store::ProfileRecord {
                eid: card.eid().clone(),
                iccid: p.iccid().clone(),
                isd_p_aid: slot.aid.clone(),
                mno_id: owner.to_string(),
                smdp_id: "factory".into(),
                profile_type: "bootstrap".into(),
                state: if card.registry().enabled().map(|e| e.aid == slot.aid) == Some(true) {
                    esim_store::ProfileState::Enabled
                } else {
                    esim_store::ProfileState::Disabled
                },
                fallback: card
                    .registry()
                    .fallback_holder()
                    .is_some_and(|f| f.aid == slot.aid),
                subscription_address: esim_store::SubscriptionAddress {
                    imsi: p.imsi(),
                    msisdn: Some(msisdn.to_string()),
                },
                pol2: None,
                allocated_memory: 0,
                free_memory: 0,
                updated_at: esim_service::now(),
            });
        }
    }
    crate::device::runtime()?.block_on(async {
        let store = open(&l.cfg.store.smsr, "SM-SR").await?;
        let id = l
            .cfg
            .smsr
            .id
            .clone()
            .unwrap_or_else(|| l.pki.smsr.id.clone());
        let config =
            esim_smsr::SmsrConfig::new(&id, l.pki.ci.cert.clone(), vec![l.pki.eum.cert.clone()]);
        let smsr = esim_smsr::Smsr::new(
            config,
            store,
            l.sealer.clone(),
            Arc::new(NoDelivery),
            Arc::new(esim_service::NoCallbacks),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let caller = esim_service::Caller {
            id: l.pki.eum.id.clone(),
            roles: vec![esim_service::role::EUM.into()],
        };
        let status = smsr
            .register_eis_with(
                &caller,
                &doc,
                &esim_smsr::Registration {
                    msisdn: Some(msisdn.to_string()),
                    additional_properties: Default::default(),
                    profiles,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if out.json {
            out.print_json(&serde_json::to_value(&status)?)?;
        } else if status.is_executed() {
            outln!("{} registered", doc.eum_signed_info.eid);
        }
        if !status.is_executed() {
            bail!("RegisterEIS refused: {}", serde_json::to_string(&status)?);
        }
        Ok(())
    })
}

/// An executor for administration commands that never reach a card.
#[derive(Debug)]
struct NoDelivery;

#[async_trait::async_trait]
impl esim_smsr::delivery::Es5Executor for NoDelivery {
    async fn execute(
        &self,
        _eid: &esim_codec::Eid,
        _operation: &esim_store::OperationId,
        _job: esim_smsr::delivery::Es5Job,
        _deadline: esim_store::Timestamp,
    ) -> Result<esim_smsr::delivery::Es5Outcome, esim_smsr::delivery::DeliveryError> {
        Err(esim_smsr::delivery::DeliveryError::Shutdown)
    }
}
