//! `esim scenario export`: the field story of issue 5 as one command (SGP.02 §3.8 SM-SR change,
//! §3.1 profile download, §3.3 enable; digest §3.6, §3.1, §3.3). A device is built with operator
//! A's bootstrap Profile under SM-SR A, shipped abroad and moved to operator B: SM-SR change
//! A→B (ES4.PrepareSMSRChange at SM-SR B, ES4.SMSRChange at SM-SR A, ES7 between them),
//! ES2.DownloadProfile of operator B's Profile at SM-DP B through SM-SR B with EnableProfile,
//! attach on PLMN B, the card's notification confirmed by SM-SR B (the card keeps none
//! pending; SM-SR B's EIS shows the Profile Enabled, ES4.GetEIS), and operator A's Profile
//! disabled or deleted as the policy rules say: its POL2 says DISABLE + Auto-Delete, but the
//! bootstrap Profile carries the Fallback Attribute (on the card and in the EIS), which the
//! SM-SR never auto-deletes (the card would refuse, SW `6985`), so it ends up Disabled.
//!
//! Operator A hears of the change twice, as SGP.02 §3.8 has it: ES4.HandleSMSRChangeNotification
//! from SM-SR B, and ES2.HandleSMSRChangeNotification from SM-DP A, the SM-DP of its bootstrap
//! Profile, which SM-SR B told on ES3.
//!
//! Everything runs in one process on the embedded defaults, as `esim demo`: SQLite stores (one
//! per server), the SMSC simulator, two SM-SRs (each with its own CERT.SR.ECDSA from the same
//! CI), two SM-DPs (SM-DP A holding operator A's bootstrap Profiles, SM-DP B operator B's; each
//! with its own CERT.DP.ECDSA from the same CI), operator A's notification endpoint and the
//! device agent. The servers talk to each other over their real bindings on loopback.

use crate::inbox::Inbox;
use crate::lab::{self, PLMN_A, PLMN_B};
use crate::mno;
use crate::output::Output;
use crate::servers::{self, Party, SmsrSetup};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use esim_codec::{Aid, Eid};
use esim_crypto::cert::{CertType, Certificate};
use esim_crypto::ec::KeyPair;
use esim_crypto::pki::TestPki;
use esim_crypto::primitives::SecretKey;
use esim_device::{EventKind, Listeners, Plmn};
use esim_proto::function::Function;
use esim_service::{Caller, FunctionClient, role};
use esim_smpp::smsc::{Route, RoutePattern, SmscConfig};
use esim_smsr::delivery::{SmppSettings, TransportKind};
use esim_store::{KeysetKind, ProfileRecord, ProfileState, Store, SubscriptionAddress};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use zeroize::Zeroizing;

const EXAMPLES: &str = "Examples:
  esim scenario export                      # one eUICC; both SM-SRs over SMS (SCP80)
  esim scenario export --https              # both over SCP81 (PSK-TLS) admin sessions
  esim scenario export --tls --binding soap # SOAP over mutual TLS between all parties
  esim --json scenario export --cards 2     # JSON summary on standard output

The PKI is kept in DIR/pki (made on the first run); cards and databases of the run are in
DIR/run, recreated by every run. RUST_LOG=info shows the servers' logs.

The card's PoRs go back to the SM-SR that sent the command (SMSR-A or SMSR); its notifications
go to the one SM-SR address the device knows, SMSR (SM-SR B's). Each HTTPS admin session goes
to the host in the trigger of the SM-SR that sent it.";

/// `esim scenario …`.
#[derive(Debug, Subcommand)]
pub enum ScenarioCmd {
    /// Export: SM-SR change A→B, download and enable operator B's Profile, attach on PLMN B,
    /// operator A's Profile disabled or deleted per its POL2.
    Export(ExportArgs),
}

/// `esim scenario export …`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ExportArgs {
    /// Working directory (PKI kept across runs; `run/` recreated).
    #[arg(long, default_value = "esim-scenario")]
    dir: PathBuf,
    /// Number of eUICCs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    cards: u32,
    /// SAIP template (DER) for the bootstrap and the downloaded Profiles (default: the TS.48
    /// test profile of ../shared/vectors/saip).
    #[arg(long, value_name = "FILE.der")]
    template: Option<PathBuf>,
    /// Run both SM-SRs' ES5 over HTTPS (SCP81 admin sessions triggered by SMS) instead of SMS
    /// (SCP80).
    #[arg(long)]
    https: bool,
    /// Exit once the run is over (the default); `--once false` serves until Ctrl-C.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    once: bool,
    /// Give up on a long function after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// The binding of the function calls (ES2, ES3, ES4, ES7): `json` (HTTP + JSON) or `soap`
    /// (SOAP 1.2 with WS-Addressing, DESIGN §3.4). Both are served on every server port.
    #[arg(long, value_enum, default_value_t = Binding::Json)]
    binding: Binding,
    /// Mutual TLS between every party (both SM-SRs, both SM-DPs, both operators): HTTPS
    /// listeners that require a client certificate from the lab's TLS CA naming the calling
    /// party (CN = its identifier), and every client presenting its own.
    #[arg(long)]
    tls: bool,
}

/// How the parties call each other's functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Binding {
    /// JSON over HTTP (`/api/v1/{ES}/{Function}`).
    Json,
    /// SOAP 1.2 + WS-Addressing (`/soap/{ES}`).
    Soap,
}

/// Runs `esim scenario …`.
pub fn run(cmd: ScenarioCmd, out: &Output) -> Result<()> {
    match cmd {
        ScenarioCmd::Export(args) => {
            if std::env::var_os("RUST_LOG").is_some() {
                crate::device::init_logging();
            }
            let rt = crate::device::runtime()?;
            rt.block_on(export(args, out))
        }
    }
}

/// One card's story.
#[derive(Debug, Clone, Default)]
struct CardResult {
    eid: String,
    smsr_before: String,
    smsr_after: Option<String>,
    keysets_before: Vec<String>,
    keysets_after: Vec<String>,
    card_kvns: Vec<String>,
    iccid_b: Option<String>,
    state_b: Option<String>,
    bootstrap_iccid: String,
    bootstrap_after: Option<String>,
    attached: Option<bool>,
    /// The card holds no unconfirmed notification (SM-SR B confirmed the one of the switch).
    notification_confirmed: bool,
    /// Operator A got HandleSMSRChangeNotification on ES4 from SM-SR B and on ES2 from SM-DP A.
    operator_a_notified: Vec<String>,
    card_dir: PathBuf,
    failed: Option<String>,
}

impl CardResult {
    fn ok(&self) -> bool {
        self.failed.is_none()
    }
}

fn client(
    binding: Binding,
    url: &str,
    token: &str,
    tls: &esim_http::TlsOptions,
) -> Result<Arc<dyn FunctionClient>> {
    Ok(match binding {
        Binding::Json => Arc::new(
            esim_http::HttpFunctionClient::with_tls(url, token, tls)
                .map_err(|e| anyhow::anyhow!("client of {url}: {e}"))?,
        ),
        Binding::Soap => {
            let http = tls
                .http_client()
                .map_err(|e| anyhow::anyhow!("client of {url}: {e}"))?;
            Arc::new(esim_soap::SoapFunctionClient::with_http_client(
                url, token, http,
            ))
        }
    })
}

/// `--tls`: each party's TLS identity (CN = its identifier) from the lab's TLS CA.
#[derive(Default)]
struct LabTls {
    ca_pem: Vec<u8>,
    ids: HashMap<String, (Vec<u8>, Zeroizing<Vec<u8>>)>,
}

impl LabTls {
    /// Identities for `parties` (identifier, whether it also serves).
    fn issue(pki: &TestPki, parties: &[(&str, bool)]) -> Result<Self> {
        let mut ids = HashMap::new();
        for (id, server) in parties {
            ids.insert(
                (*id).to_owned(),
                crate::pki::tls_pem(&pki.tls_ca, id, *server)?,
            );
        }
        Ok(LabTls {
            ca_pem: pki.tls_ca.cert.to_pem()?.into_bytes(),
            ids,
        })
    }

    /// The client settings of `id`: the lab CA as trust anchor, its own certificate.
    fn client(&self, id: &str) -> esim_http::TlsOptions {
        esim_http::TlsOptions {
            root_certificates_pem: if self.ca_pem.is_empty() {
                Vec::new()
            } else {
                vec![self.ca_pem.clone()]
            },
            client_identity_pem: self.ids.get(id).map(|(c, k)| (c.clone(), k.to_vec())),
        }
    }

    /// The listener of `id`: HTTPS requiring a client certificate from the lab CA.
    fn server(&self, id: &str) -> Option<esim_http::ServerTls> {
        let (cert, key) = self.ids.get(id)?;
        let mut t = esim_http::ServerTls::new(cert.clone(), key.to_vec());
        t.client_ca_pem = Some(self.ca_pem.clone());
        Some(t)
    }

    fn api(&self, id: &str) -> servers::ApiTls {
        servers::ApiTls {
            server: self.server(id),
            client: self.client(id),
            ..servers::ApiTls::default()
        }
    }
}

/// The status of an SGP.02 answer as one line; `None` when executed.
fn failure(v: &Value) -> Option<String> {
    match esim_service::status_of(v) {
        Some(s) if s.is_executed() => None,
        Some(s) => Some(format!(
            "{:?} {}",
            s.status,
            s.status_code_data
                .map(|d| format!(
                    "{}/{} {}",
                    d.subject_code,
                    d.reason_code,
                    d.message.unwrap_or_default()
                ))
                .unwrap_or_default()
        )),
        None => Some(format!("no status in the answer: {v}")),
    }
}

/// Every `(Iccid, State)` pair of Profile objects in an answer.
fn profiles_in(v: &Value, found: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(i)), Some(Value::String(s))) =
                (m.get("Iccid"), m.get("State"))
            {
                found.push((i.clone(), s.clone()));
            }
            for x in m.values() {
                profiles_in(x, found);
            }
        }
        Value::Array(a) => {
            for x in a {
                profiles_in(x, found);
            }
        }
        _ => {}
    }
}

async fn keyset_names(store: &dyn Store, eid: &Eid) -> Vec<String> {
    let mut v: Vec<String> = store
        .keysets(eid)
        .await
        .unwrap_or_default()
        .iter()
        .map(|k| {
            let kind = match k.kind {
                KeysetKind::Scp80 => "SCP80",
                KeysetKind::Scp81 => "SCP81",
                _ => "other",
            };
            format!("{kind}/{:02X}", k.kvn)
        })
        .collect();
    v.sort();
    v
}

async fn call(
    client: &Arc<dyn FunctionClient>,
    f: Function,
    requester: &str,
    timeout: u64,
    body: Value,
) -> Result<Value, String> {
    let req = mno::request(
        f,
        requester,
        None,
        Some(u32::try_from(timeout).unwrap_or(u32::MAX)),
        body,
    )
    .map_err(|e| format!("{e:#}"))?;
    let v = client
        .call(&req, Duration::from_secs(timeout))
        .await
        .map_err(|e| e.to_string())?;
    match failure(&v) {
        None => Ok(v),
        Some(f) => Err(f),
    }
}

#[allow(clippy::too_many_lines)]
/// A fresh key pair and its GP certificate of `kind` for `id`, signed by the CI, valid as
/// `like` (SGP.02 §4.1.3).
fn issue_like(
    pki: &TestPki,
    like: &Certificate,
    id: &str,
    kind: CertType,
) -> Result<(KeyPair, Certificate)> {
    let key = KeyPair::generate().with_context(|| format!("{id}: key pair"))?;
    let body = like.body();
    let not_before = body
        .effective_date
        .with_context(|| format!("{id}: the model certificate has no effective date"))?;
    let cert = esim_crypto::pki::issue_gp_certificate(
        &pki.ci,
        id.as_bytes(),
        key.public_key(),
        kind,
        &esim_crypto::cert::KEY_USAGE_SIGNATURE_VERIFICATION,
        esim_crypto::x509::ValidityDays {
            not_before,
            not_after: body.expiry_date,
        },
    )
    .with_context(|| format!("issuing the certificate of {id}"))?;
    Ok((key, cert))
}

/// What operator A's endpoint received about `eid`'s SM-SR change: `ES4 from …`, `ES2 from …`.
fn smsr_change_notices(inbox: &Inbox, eid: &str) -> Vec<String> {
    let mut v: Vec<String> = inbox
        .received()
        .into_iter()
        .filter(|r| r.eid == eid)
        .filter_map(|r| match r.function {
            Function::Es4HandleSmsrChangeNotification => Some(format!("ES4 from {}", r.from)),
            Function::Es2HandleSmsrChangeNotification => Some(format!("ES2 from {}", r.from)),
            _ => None,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

async fn export(args: ExportArgs, out: &Output) -> Result<()> {
    let binding = args.binding;
    let p = lab::Progress::start();
    let (template_path, template) = lab::find_template(args.template.as_deref())?;
    p.line(&format!("SAIP template {}", template_path.display()));
    let lab = lab::prepare(&args.dir, args.cards, &template, &mut |l| p.line(l))?;
    let pki = &lab.pki;
    let smsr_a_id = pki.smsr.id.clone();
    let smsr_b_id = format!("{smsr_a_id}-b");
    let smdp_a_id = pki.smdp.id.clone();
    let smdp_id = format!("{smdp_a_id}-b");

    // SM-SR B's own CERT.SR.ECDSA and SM-DP B's own CERT.DP.ECDSA from the same CI (SGP.02
    // §4.1.3): fresh key pairs. SM-SR A and SM-DP A use the PKI's.
    let pki_b = {
        let (key, cert) = issue_like(pki, &pki.smsr.cert, &smsr_b_id, CertType::SmSr)?;
        let mut b = pki.clone();
        b.smsr.id = smsr_b_id.clone();
        b.smsr.key = key;
        b.smsr.cert = cert;
        b
    };
    let pki_dp_b = {
        let (key, cert) = issue_like(pki, &pki.smdp.cert, &smdp_id, CertType::SmDp)?;
        let mut b = pki.clone();
        b.smdp.id = smdp_id.clone();
        b.smdp.key = key;
        b.smdp.cert = cert;
        b
    };
    p.line(&format!(
        "SM-SR B ({smsr_b_id}): CERT.SR.ECDSA, SM-DP B ({smdp_id}): CERT.DP.ECDSA, issued by the CI"
    ));
    let tls = if args.tls {
        let t = LabTls::issue(
            pki,
            &[
                (&smsr_a_id, true),
                (&smsr_b_id, true),
                (&smdp_a_id, true),
                (&smdp_id, true),
                ("mno-a", true),
                ("mno-b", false),
            ],
        )?;
        p.line("mutual TLS: an identity (CN = party) for each of the six parties from the TLS CA");
        t
    } else {
        LabTls::default()
    };

    // Stores (SQLite, WAL), one per server, and the sealing key of this run.
    let master = SecretKey::random(32).context("sealing key")?;
    let sealer = Arc::new(esim_store::AesSealer::new("scenario-1", &master)?);
    let open = |name: &str| {
        let path = lab.run_dir.join(name);
        async move {
            esim_store::connect(&format!("sqlite:{}", path.display()))
                .await
                .with_context(|| format!("opening {}", path.display()))
        }
    };
    let store_a = open("smsr-a.db").await?;
    let store_b = open("smsr-b.db").await?;
    let store_dp = open("smdp-b.db").await?;
    let store_dp_a = open("smdp-a.db").await?;
    p.line(&format!(
        "SQLite stores smsr-a.db, smsr-b.db, smdp-a.db, smdp-b.db in {}",
        lab.run_dir.display()
    ));

    // The SMSC simulator. The device sends its MO SMS to "SMSR", routed to SM-SR B (the one
    // that receives the notification of the new Profile); SM-SR A binds as "smsr-a".
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let smsc = esim_smpp::Smsc::new(SmscConfig {
        routes: vec![Route {
            pattern: RoutePattern::Exact("SMSR".into()),
            system_id: "smsr-b".into(),
        }],
        ..SmscConfig::default()
    })?;
    let smsc_listener = TcpListener::bind("127.0.0.1:0").await?;
    let smsc_addr = smsc_listener.local_addr()?;
    let smsc_task = tokio::spawn({
        let stop = servers::stopper(&stop_rx);
        async move { smsc.run(smsc_listener, stop).await }
    });
    p.line(&format!(
        "SMSC simulator (SMPP 3.4) on {smsc_addr}; MO SMS to SMSR go to SM-SR B"
    ));

    let api_a = TcpListener::bind("127.0.0.1:0").await?;
    let scp81_a = TcpListener::bind("127.0.0.1:0").await?;
    let api_b = TcpListener::bind("127.0.0.1:0").await?;
    let scp81_b = TcpListener::bind("127.0.0.1:0").await?;
    let api_dp = TcpListener::bind("127.0.0.1:0").await?;
    let api_dp_a = TcpListener::bind("127.0.0.1:0").await?;
    let api_inbox = TcpListener::bind("127.0.0.1:0").await?;
    let scheme = if args.tls { "https" } else { "http" };
    let url_a = format!("{scheme}://{}", api_a.local_addr()?);
    let url_b = format!("{scheme}://{}", api_b.local_addr()?);
    let url_dp = format!("{scheme}://{}", api_dp.local_addr()?);
    let url_dp_a = format!("{scheme}://{}", api_dp_a.local_addr()?);
    let url_inbox = format!("{scheme}://{}", api_inbox.local_addr()?);

    // Tokens: each party's token at the servers it calls.
    let (eum_tok, mno_a_tok, mno_b_tok) = (lab::token()?, lab::token()?, lab::token()?);
    let (a_at_b, b_at_a, dp_at_b, b_at_dp) =
        (lab::token()?, lab::token()?, lab::token()?, lab::token()?);
    let (a_at_dpa, b_at_dpa, dpa_at_a, dpa_at_b) =
        (lab::token()?, lab::token()?, lab::token()?, lab::token()?);
    let (b_at_inbox, dpa_at_inbox) = (lab::token()?, lab::token()?);
    let party = |id: &str, name: &str, r: &str, tok: &Zeroizing<String>| Party {
        id: id.into(),
        name: name.into(),
        roles: vec![r.into()],
        token: tok.clone(),
        callback: None,
    };
    let with_cb = |mut pt: Party, url: &str, tok: &Zeroizing<String>| {
        pt.callback = Some((url.to_owned(), tok.clone()));
        pt
    };
    let cb_a = servers::install_parties_tls(
        store_a.as_ref(),
        &[
            party(&pki.eum.id, "EUM", role::EUM, &eum_tok),
            party(&smsr_b_id, "SM-SR B", role::SM_SR, &b_at_a),
            party("mno-a", "Operator A", role::MNO, &mno_a_tok),
            with_cb(
                party(&smdp_a_id, "SM-DP A", role::SM_DP, &dpa_at_a),
                &url_dp_a,
                &a_at_dpa,
            ),
        ],
        &tls.client(&smsr_a_id),
    )
    .await?;
    let cb_b = servers::install_parties_tls(
        store_b.as_ref(),
        &[
            party(&smsr_a_id, "SM-SR A", role::SM_SR, &a_at_b),
            with_cb(
                party(&smdp_id, "SM-DP B", role::SM_DP, &dp_at_b),
                &url_dp,
                &b_at_dp,
            ),
            with_cb(
                party(&smdp_a_id, "SM-DP A", role::SM_DP, &dpa_at_b),
                &url_dp_a,
                &b_at_dpa,
            ),
            with_cb(
                party("mno-a", "Operator A", role::MNO, &mno_a_tok),
                &url_inbox,
                &b_at_inbox,
            ),
            party("mno-b", "Operator B", role::MNO, &mno_b_tok),
        ],
        &tls.client(&smsr_b_id),
    )
    .await?;
    let cb_dp = servers::install_parties_tls(
        store_dp.as_ref(),
        &[
            party(&smsr_b_id, "SM-SR B", role::SM_SR, &b_at_dp),
            party("mno-b", "Operator B", role::MNO, &mno_b_tok),
        ],
        &tls.client(&smdp_id),
    )
    .await?;
    let cb_dp_a = servers::install_parties_tls(
        store_dp_a.as_ref(),
        &[
            party(&smsr_a_id, "SM-SR A", role::SM_SR, &a_at_dpa),
            party(&smsr_b_id, "SM-SR B", role::SM_SR, &b_at_dpa),
            with_cb(
                party("mno-a", "Operator A", role::MNO, &mno_a_tok),
                &url_inbox,
                &dpa_at_inbox,
            ),
        ],
        &tls.client(&smdp_a_id),
    )
    .await?;
    // Operator A's notification endpoint (ES2 from SM-DP A, ES4 from SM-SR B).
    let inbox = Arc::new(Inbox::default());
    let inbox_task = {
        let store: Arc<dyn Store> = Arc::new(esim_store::MemoryStore::new());
        servers::install_parties(
            store.as_ref(),
            &[
                party(&smsr_b_id, "SM-SR B", role::SM_SR, &b_at_inbox),
                party(&smdp_a_id, "SM-DP A", role::SM_DP, &dpa_at_inbox),
            ],
        )
        .await?;
        let services: Vec<Arc<dyn esim_service::FunctionService>> = vec![inbox.clone()];
        let state = esim_http::HttpState::new(esim_http::HttpConfig::default(), services, store);
        let stop = servers::stopper(&stop_rx);
        let server = tls.server("mno-a");
        tokio::spawn(async move {
            match server {
                Some(t) => {
                    esim_http::serve_tls_router(esim_http::router(state), api_inbox, &t, stop).await
                }
                None => esim_http::serve(state, api_inbox, stop).await,
            }
        })
    };

    let transport = if args.https {
        TransportKind::Https
    } else {
        TransportKind::Sms
    };
    let smpp = |system_id: &str| SmppSettings {
        server: smsc_addr.to_string(),
        system_id: system_id.into(),
        password: esim_smpp::Password::new(""),
    };
    // SM-SR A sends from SMSR-A: the card's PoRs go back there (its notifications go to SMSR).
    let (running_a, smsr_a) = servers::start_smsr_tls(
        SmsrSetup {
            id: smsr_a_id.clone(),
            smpp: smpp("smsr-a"),
            sms_address: "SMSR-A".into(),
            transport,
            scp81_host: None,
            initial_timeout_ms: Some(10_000),
            smdps: HashMap::from([(
                smdp_a_id.clone(),
                client(binding, &url_dp_a, &a_at_dpa, &tls.client(&smsr_a_id))?,
            )]),
            peers: HashMap::from([(
                smsr_b_id.clone(),
                client(binding, &url_b, &a_at_b, &tls.client(&smsr_a_id))?,
            )]),
            replica: "scenario".into(),
        },
        pki,
        store_a.clone(),
        sealer.clone(),
        cb_a,
        api_a,
        scp81_a,
        tls.api(&smsr_a_id),
    )
    .await?;
    let over = if args.https {
        "HTTPS (SCP81)"
    } else {
        "SMS (SCP80)"
    };
    p.line(&format!(
        "SM-SR A {smsr_a_id}: JSON+SOAP {url_a}, ES5 over {over}, SCP81 on {}",
        running_a.scp81.map(|a| a.to_string()).unwrap_or_default()
    ));
    let (running_b, _smsr_b) = servers::start_smsr_tls(
        SmsrSetup {
            id: smsr_b_id.clone(),
            smpp: smpp("smsr-b"),
            sms_address: "SMSR".into(),
            transport,
            scp81_host: None,
            initial_timeout_ms: Some(10_000),
            smdps: HashMap::from([
                (
                    smdp_id.clone(),
                    client(binding, &url_dp, &b_at_dp, &tls.client(&smsr_b_id))?,
                ),
                (
                    smdp_a_id.clone(),
                    client(binding, &url_dp_a, &b_at_dpa, &tls.client(&smsr_b_id))?,
                ),
            ]),
            peers: HashMap::from([(
                smsr_a_id.clone(),
                client(binding, &url_a, &b_at_a, &tls.client(&smsr_b_id))?,
            )]),
            replica: "scenario".into(),
        },
        &pki_b,
        store_b.clone(),
        sealer.clone(),
        cb_b,
        api_b,
        scp81_b,
        tls.api(&smsr_b_id),
    )
    .await?;
    p.line(&format!(
        "SM-SR B {smsr_b_id}: JSON+SOAP {url_b}, ES5 over {over}, SCP81 on {}",
        running_b.scp81.map(|a| a.to_string()).unwrap_or_default()
    ));
    let (running_dp, smdp) = servers::start_smdp_tls(
        &smdp_id,
        &pki_dp_b,
        store_dp.clone(),
        sealer.clone(),
        HashMap::from([(
            smsr_b_id.clone(),
            client(binding, &url_b, &dp_at_b, &tls.client(&smdp_id))?,
        )]),
        cb_dp,
        api_dp,
        "scenario",
        tls.api(&smdp_id),
    )
    .await?;
    p.line(&format!("SM-DP B {smdp_id}: JSON+SOAP {url_dp}"));
    let (running_dp_a, smdp_a) = servers::start_smdp_tls(
        &smdp_a_id,
        pki,
        store_dp_a.clone(),
        sealer.clone(),
        HashMap::from([
            (
                smsr_a_id.clone(),
                client(binding, &url_a, &dpa_at_a, &tls.client(&smdp_a_id))?,
            ),
            (
                smsr_b_id.clone(),
                client(binding, &url_b, &dpa_at_b, &tls.client(&smdp_a_id))?,
            ),
        ]),
        cb_dp_a,
        api_dp_a,
        "scenario",
        tls.api(&smdp_a_id),
    )
    .await?;
    p.line(&format!(
        "SM-DP A {smdp_a_id} (operator A's bootstrap Profiles): JSON+SOAP {url_dp_a}"
    ));
    p.line(&format!(
        "operator A's notification endpoint (ES2, ES4): {url_inbox}"
    ));

    // The device agent: no fixed SM-SR HTTPS address, so each admin session goes to the host
    // of the trigger (`8A`) of the SM-SR that sent it.
    let mut dc = lab.device_config(smsc_addr, None);
    // Unconfirmed notifications are sent again soon (the boot notification reaches SM-SR B
    // before it manages the eUICC, and must be confirmed before the switch; see below).
    dc.timing.notification_retry_ms = 1_000;
    dc.timing.notification_retry_max_ms = 4_000;
    let device = esim_device::Device::new(dc)?;
    let mut events = device.events();
    let device_task = tokio::spawn({
        let stop = servers::stopper(&stop_rx);
        async move { device.run(Listeners::default(), stop).await }
    });
    p.line(&format!(
        "device agent: {} modem(s) on operator A's network {PLMN_A}, {PLMN_B} reachable abroad",
        lab.cards.len()
    ));

    // ES1 at SM-SR A: the EUM registers each eUICC with operator A's bootstrap Profile, whose
    // POL2 says DISABLE + Auto-Delete.
    let eum = Caller {
        id: pki.eum.id.clone(),
        roles: vec![role::EUM.into()],
    };
    let pol2 = json!({"Rule": [{"Subject": "PROFILE", "Action": "DISABLE", "Qualification": "Auto-Delete"}]});
    let mut results: Vec<CardResult> = Vec::new();
    for (n, c) in lab.cards.iter().enumerate() {
        let doc_text = std::fs::read_to_string(c.issued_dir.join("eis.json"))?;
        let doc = esim_crypto::pki::EisDocument::from_json(&doc_text)?;
        let card = esim_device::store::load_card(&c.card_dir)?;
        let slot = card
            .profiles()
            .first()
            .context("the card has no bootstrap profile")?;
        let iccid = c
            .bootstrap_iccid
            .clone()
            .context("the card has no bootstrap ICCID")?;
        // SM-DP A's inventory holds the bootstrap Profile, installed on this eUICC at the
        // factory: SM-DP A is the Profile's SM-DP in the EIS.
        let boot = lab::bootstrap(&template, n as u64 + 1)?;
        let package = esim_device::store::personalize(&boot)?;
        smdp_a
            .inventory()
            .import(
                &esim_smdp::ImportRequest {
                    owner: "mno-a".into(),
                    profile_type: Some("bootstrap".into()),
                    packages: vec![package],
                },
                esim_service::now(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("SM-DP A inventory: {e}"))?;
        store_dp_a
            .allocate_iccid(&iccid, &c.eid, esim_service::now())
            .await?;
        store_dp_a
            .mark_installed(&iccid, esim_service::now())
            .await?;
        let bootstrap = ProfileRecord {
            eid: c.eid.clone(),
            iccid: iccid.clone(),
            isd_p_aid: Aid::from_hex(&slot.aid.to_string())?,
            mno_id: "mno-a".into(),
            smdp_id: smdp_a_id.clone(),
            profile_type: "bootstrap".into(),
            state: ProfileState::Enabled,
            // As on the card: the bootstrap ISD-P carries the Fallback Attribute.
            fallback: true,
            subscription_address: SubscriptionAddress {
                imsi: boot.imsi.clone(),
                msisdn: Some(c.msisdn.clone()),
            },
            pol2: Some(pol2.clone()),
            allocated_memory: 0,
            free_memory: 0,
            updated_at: esim_service::now(),
        };
        let status = smsr_a
            .register_eis_with(
                &eum,
                &doc,
                &esim_smsr::Registration {
                    msisdn: Some(c.msisdn.clone()),
                    additional_properties: BTreeMap::new(),
                    profiles: vec![bootstrap],
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("RegisterEIS {}: {e}", c.eid))?;
        if !status.is_executed() {
            bail!("RegisterEIS {} refused: {:?}", c.eid, status);
        }
        results.push(CardResult {
            eid: c.eid.to_string(),
            smsr_before: smsr_a_id.clone(),
            keysets_before: keyset_names(store_a.as_ref(), &c.eid).await,
            bootstrap_iccid: iccid.to_string(),
            card_dir: c.card_dir.clone(),
            ..CardResult::default()
        });
    }
    p.line(&format!(
        "ES1.RegisterEIS at SM-SR A: {} eUICC(s), operator A's bootstrap Profile (fallback; POL2 DISABLE Auto-Delete)",
        lab.cards.len()
    ));

    // Operator B's Profiles at SM-DP B.
    let generated =
        lab::generate_operator_b(&smdp, &template_path, &template, "export-b", args.cards).await?;
    p.line(&format!(
        "SM-DP B inventory: {} Profile(s) of type export-b for operator B (PLMN {PLMN_B})",
        generated
    ));

    let (tls_a, tls_b) = (tls.client("mno-a"), tls.client("mno-b"));
    let es4_a_by_a = client(binding, &url_a, &mno_a_tok, &tls_a)?;
    let es4_b_by_a = client(binding, &url_b, &mno_a_tok, &tls_a)?;
    let es4_b_by_b = client(binding, &url_b, &mno_b_tok, &tls_b)?;
    let es2_b = client(binding, &url_dp, &mno_b_tok, &tls_b)?;
    let plmn_b = Plmn::parse(PLMN_B).map_err(|e| anyhow::anyhow!(e))?;
    let mut attach: HashMap<String, bool> = HashMap::new();
    let note_attach = |ev: esim_device::DeviceEvent, attach: &mut HashMap<String, bool>| {
        if let EventKind::Attach { plmn, success } = ev.kind
            && plmn.as_ref() == Some(&plmn_b)
        {
            attach.insert(ev.eid.to_string(), success);
            p.line(&format!(
                "{}: attached to operator B's network {PLMN_B}: {}",
                ev.eid,
                if success { "ok" } else { "failed" }
            ));
        }
    };

    for (c, r) in lab.cards.iter().zip(results.iter_mut()) {
        let eid = c.eid.as_str();
        // 1. ES4.PrepareSMSRChange at SM-SR B, by operator A (the owner of the bootstrap).
        if let Err(e) = call(
            &es4_b_by_a,
            Function::Es4PrepareSmsrChange,
            "mno-a",
            args.timeout,
            json!({"Eid": eid, "CurrentSMSRid": smsr_a_id}),
        )
        .await
        {
            p.line(&format!(
                "{eid}: ES4.PrepareSMSRChange at SM-SR B failed: {e}"
            ));
            r.failed = Some(format!("PrepareSMSRChange: {e}"));
            continue;
        }
        p.line(&format!(
            "{eid}: ES4.PrepareSMSRChange at SM-SR B (CurrentSMSRid {smsr_a_id}) executed"
        ));
        // 2. ES4.SMSRChange at SM-SR A: ES7 HandoverEUICC, two ECKA key establishments relayed
        //    by SM-SR A, old keysets deleted by SM-SR B, EIS moved.
        let started = Instant::now();
        match call(
            &es4_a_by_a,
            Function::Es4SmsrChange,
            "mno-a",
            args.timeout,
            json!({"Eid": eid, "Target-Smsr-id": smsr_b_id}),
        )
        .await
        {
            Ok(v) => {
                let warn = esim_service::status_of(&v)
                    .filter(|s| s.status != esim_proto::common::Status::ExecutedSuccess)
                    .map(|s| format!(" ({:?})", s.status))
                    .unwrap_or_default();
                r.keysets_after = keyset_names(store_b.as_ref(), &c.eid).await;
                r.card_kvns = esim_device::store::load_card(&c.card_dir)
                    .map(|card| {
                        let mut k = card.scp80_kvns();
                        k.extend(card.scp81_keysets().iter().map(|x| x.kvn));
                        k.iter().map(|k| format!("{k:02X}")).collect()
                    })
                    .unwrap_or_default();
                let at_a = store_a.get_eis(&c.eid).await.is_ok();
                let at_b = store_b.get_eis(&c.eid).await.is_ok();
                r.smsr_after = Some(if at_b && !at_a {
                    smsr_b_id.clone()
                } else {
                    smsr_a_id.clone()
                });
                p.line(&format!(
                    "{eid}: ES4.SMSRChange at SM-SR A executed{warn} ({:.1} s): keysets established by ECKA at SM-SR B {:?}, SM-SR A's {:?} deleted (card ISD-R KVNs now {:?}); EIS {} at SM-SR A, {} at SM-SR B",
                    started.elapsed().as_secs_f64(),
                    r.keysets_after,
                    r.keysets_before,
                    r.card_kvns,
                    if at_a { "still" } else { "gone" },
                    if at_b { "registered" } else { "missing" },
                ));
                if at_a || !at_b {
                    r.failed = Some("the EIS did not move to SM-SR B".into());
                    continue;
                }
            }
            Err(e) => {
                p.line(&format!("{eid}: ES4.SMSRChange at SM-SR A failed: {e}"));
                r.failed = Some(format!("SMSRChange: {e}"));
                continue;
            }
        }
        // The device's boot notification (bootstrap Profile on PLMN A) went to SM-SR B, which
        // did not manage the eUICC then; the card sends it again until confirmed. Wait for SM-SR
        // B to confirm it now, so that it is not applied after the notification of operator
        // B's Profile (SM-SR B applies notifications in arrival order, not sequence order).
        let until = Instant::now() + Duration::from_secs(args.timeout.min(60));
        let mut confirmed = false;
        while Instant::now() < until {
            if esim_device::store::load_card(&c.card_dir)
                .is_ok_and(|card| card.registry().notifications().is_empty())
            {
                confirmed = true;
                break;
            }
            if let Ok(Ok(ev)) =
                tokio::time::timeout(Duration::from_millis(300), events.recv()).await
            {
                note_attach(ev, &mut attach);
            }
        }
        if !confirmed {
            p.line(&format!(
                "{eid}: the card's pending notifications were not confirmed by SM-SR B"
            ));
            r.failed = Some("pending notifications not confirmed by SM-SR B".into());
            continue;
        }
        p.line(&format!(
            "{eid}: the card's pending notifications confirmed by SM-SR B"
        ));
        // 3. ES2.DownloadProfile (EnableProfile) at SM-DP B through SM-SR B, by operator B.
        let started = Instant::now();
        p.line(&format!(
            "{eid}: ES2.DownloadProfile (EnableProfile) at SM-DP B through SM-SR B over {over}"
        ));
        let req = mno::request(
            Function::Es2DownloadProfile,
            "mno-b",
            None,
            Some(u32::try_from(args.timeout).unwrap_or(u32::MAX)),
            json!({"Eid": eid, "Smsr-id": smsr_b_id, "Profile": {"ProfileType": "export-b"}, "EnableProfile": true}),
        )?;
        let limit = Duration::from_secs(args.timeout);
        let download = es2_b.call(&req, limit);
        tokio::pin!(download);
        let answer = loop {
            tokio::select! {
                a = &mut download => break a,
                ev = events.recv() => if let Ok(ev) = ev { note_attach(ev, &mut attach) },
            }
        };
        match answer {
            Ok(v) => match failure(&v) {
                None => {
                    r.iccid_b = v["Body"]["Iccid"].as_str().map(str::to_owned);
                    p.line(&format!(
                        "{eid}: operator B's Profile {} installed and enabled ({:.1} s)",
                        r.iccid_b.as_deref().unwrap_or("?"),
                        started.elapsed().as_secs_f64()
                    ));
                }
                Some(f) => {
                    p.line(&format!("{eid}: ES2.DownloadProfile failed: {f}"));
                    r.failed = Some(format!("DownloadProfile: {f}"));
                    continue;
                }
            },
            Err(e) => {
                p.line(&format!("{eid}: ES2.DownloadProfile failed: {e}"));
                r.failed = Some(format!("DownloadProfile: {e}"));
                continue;
            }
        }
    }

    // 4. Attach on PLMN B, the notification in SM-SR B's EIS, operator A's Profile per POL2.
    let deadline = Instant::now() + Duration::from_secs(args.timeout.min(120));
    loop {
        let mut pending = false;
        for r in results.iter_mut().filter(|r| r.ok()) {
            // The card's notification of the switch (new Profile enabled, attached) is kept
            // until SM-SR B confirms it: an empty list on the card is the confirmation.
            r.notification_confirmed = esim_device::store::load_card(&r.card_dir)
                .is_ok_and(|card| card.registry().notifications().is_empty());
            let Some(iccid_b) = r.iccid_b.clone() else {
                continue;
            };
            let mut seen = Vec::new();
            if let Ok(v) = call(
                &es4_b_by_b,
                Function::Es4GetEis,
                "mno-b",
                30,
                json!({"Eid": r.eid}),
            )
            .await
            {
                profiles_in(&v, &mut seen);
            }
            r.state_b = seen
                .iter()
                .find(|(i, _)| *i == iccid_b)
                .map(|(_, s)| s.clone());
            let mut seen_a = Vec::new();
            if let Ok(v) = call(
                &es4_b_by_a,
                Function::Es4GetEis,
                "mno-a",
                30,
                json!({"Eid": r.eid}),
            )
            .await
            {
                profiles_in(&v, &mut seen_a);
                r.bootstrap_after = Some(
                    seen_a
                        .iter()
                        .find(|(i, _)| *i == r.bootstrap_iccid)
                        .map_or_else(|| "Deleted".to_string(), |(_, s)| s.clone()),
                );
            } else {
                // Operator A no longer sees the eUICC: it owns no Profile on it any more.
                r.bootstrap_after = Some("Deleted".into());
            }
            r.operator_a_notified = smsr_change_notices(&inbox, &r.eid);
            if r.state_b.as_deref() != Some("Enabled")
                || r.operator_a_notified.len() < 2
                || !matches!(r.bootstrap_after.as_deref(), Some("Disabled" | "Deleted"))
                || !attach.contains_key(&r.eid)
                || !r.notification_confirmed
            {
                pending = true;
            }
        }
        if !pending || Instant::now() >= deadline {
            break;
        }
        if let Ok(Ok(ev)) = tokio::time::timeout(Duration::from_millis(500), events.recv()).await {
            note_attach(ev, &mut attach);
        }
    }
    for r in results.iter_mut() {
        r.attached = attach.get(&r.eid).copied();
        if r.failed.is_some() {
            continue;
        }
        if r.iccid_b.is_none() {
            r.failed = Some("no Profile downloaded".into());
        } else if r.state_b.as_deref() != Some("Enabled") {
            r.failed = Some(format!(
                "SM-SR B's EIS shows operator B's Profile {}, not Enabled (notification not confirmed)",
                r.state_b.as_deref().unwrap_or("absent")
            ));
        } else if r.attached != Some(true) {
            r.failed = Some("the device did not attach to PLMN B".into());
        } else if !r.notification_confirmed {
            r.failed = Some("the card's notification was not confirmed by SM-SR B".into());
        } else if r.operator_a_notified.len() < 2 {
            r.failed = Some(format!(
                "operator A was not told of the SM-SR change on ES4 by SM-SR B and on ES2 by SM-DP A (got {:?})",
                r.operator_a_notified
            ));
        } else if !matches!(r.bootstrap_after.as_deref(), Some("Disabled" | "Deleted")) {
            r.failed = Some(format!(
                "operator A's Profile is {} after the switch",
                r.bootstrap_after.as_deref().unwrap_or("unknown")
            ));
        } else {
            p.line(&format!(
                "{}: card notification confirmed by SM-SR B, its EIS shows {} Enabled; operator A's Profile {}: {}; operator A notified of the SM-SR change: {}",
                r.eid,
                r.iccid_b.as_deref().unwrap_or("?"),
                r.bootstrap_iccid,
                r.bootstrap_after.as_deref().unwrap_or("?"),
                r.operator_a_notified.join(", ")
            ));
        }
    }
    let ok = results.iter().filter(|r| r.ok()).count();

    // Summary.
    if out.json {
        out.print_json(&json!({
            "smsrA": {"id": smsr_a_id, "api": url_a},
            "smsrB": {"id": smsr_b_id, "api": url_b},
            "smdpA": {"id": smdp_a_id, "api": url_dp_a},
            "smdpB": {"id": smdp_id, "api": url_dp},
            "operatorAEndpoint": url_inbox,
            "transport": if args.https { "https" } else { "sms" },
            "binding": match binding { Binding::Json => "json", Binding::Soap => "soap" },
            "mutualTls": args.tls,
            "results": results.iter().map(|r| json!({
                "eid": r.eid,
                "smsrBefore": r.smsr_before,
                "smsrAfter": r.smsr_after,
                "keysetsBefore": r.keysets_before,
                "keysetsAfter": r.keysets_after,
                "cardKvns": r.card_kvns,
                "iccid": r.iccid_b,
                "profileState": r.state_b,
                "bootstrapIccid": r.bootstrap_iccid,
                "bootstrapAfter": r.bootstrap_after,
                "attachedToOperatorB": r.attached,
                "notificationConfirmed": r.notification_confirmed,
                "operatorANotified": r.operator_a_notified,
                "result": r.failed.clone().unwrap_or_else(|| "ok".into()),
            })).collect::<Vec<_>>(),
            "succeeded": ok,
        }))?;
    } else {
        outln!();
        outln!(
            "{ok} of {} eUICC(s) moved to SM-SR B and operator B:",
            results.len()
        );
        outln!(
            "  {:<32}  {:<20}  {:<20}  {:<20}  {:<8}  {:<8}  {:<8}  result",
            "EID",
            "SM-SR before",
            "SM-SR after",
            "ICCID (B)",
            "state",
            "attached",
            "A's"
        );
        for r in &results {
            outln!(
                "  {:<32}  {:<20}  {:<20}  {:<20}  {:<8}  {:<8}  {:<8}  {}",
                r.eid,
                r.smsr_before,
                r.smsr_after.as_deref().unwrap_or("-"),
                r.iccid_b.as_deref().unwrap_or("-"),
                r.state_b.as_deref().unwrap_or("-"),
                match r.attached {
                    Some(true) => "yes",
                    Some(false) => "failed",
                    None => "-",
                },
                r.bootstrap_after.as_deref().unwrap_or("-"),
                r.failed.as_deref().unwrap_or("ok")
            );
        }
    }

    if !args.once {
        p.line("servers running; Ctrl-C to stop");
        crate::device::interrupted().await;
    }
    p.line("stopping");
    stop_tx.send_replace(true);
    let _ = device_task.await;
    // A server still waiting for a card that will not answer (a failed run) is not waited for.
    let grace = Duration::from_secs(10);
    for (name, running) in [
        ("SM-DP A", running_dp_a),
        ("SM-DP B", running_dp),
        ("SM-SR B", running_b),
        ("SM-SR A", running_a),
    ] {
        match tokio::time::timeout(grace, running.stop()).await {
            Ok(r) => r.with_context(|| format!("stopping {name}"))?,
            Err(_) => p.line(&format!("{name} did not stop within {grace:?}; leaving it")),
        }
    }
    let _ = tokio::time::timeout(grace, smsc_task).await;
    let _ = tokio::time::timeout(grace, inbox_task).await;
    if ok < results.len() {
        bail!(
            "{} of {} eUICC(s) did not complete the export",
            results.len() - ok,
            results.len()
        );
    }
    Ok(())
}
