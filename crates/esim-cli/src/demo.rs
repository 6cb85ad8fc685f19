//! `esim demo`: the whole system on one machine, on the embedded defaults — SQLite stores, the
//! SMSC simulator, a test PKI made on first run — with an SM-SR, an SM-DP and a device agent
//! hosting a few software eUICCs. It registers the eUICCs, downloads, installs and enables a
//! Profile of operator B on each over SMS (or HTTPS with `--https`), shows progress and a
//! summary, and leaves the servers running until Ctrl-C (`--once` exits after the run).

use crate::lab::{self, PLMN_A, PLMN_B};
use crate::mno;
use crate::output::Output;
use crate::servers::{self, Party, SmsrSetup};
use anyhow::{Context, Result, bail};
use clap::Args;
use esim_codec::{Aid, Imsi};
use esim_crypto::primitives::SecretKey;
use esim_device::{EventKind, Listeners, Plmn};
use esim_proto::function::Function;
use esim_service::{Caller, FunctionClient, role};
use esim_smpp::smsc::{Route, RoutePattern, SmscConfig};
use esim_smsr::delivery::{SmppSettings, TransportKind};
use esim_store::{ProfileRecord, ProfileState, SubscriptionAddress};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const EXAMPLES: &str = "Examples:
  esim demo                      # 3 eUICCs over SMS, servers stay up until Ctrl-C
  esim demo --once --cards 5     # exit after the run
  esim demo --https              # ES5 over SCP81 (PSK-TLS admin sessions triggered by SMS)

The PKI is kept in DIR/pki (made on the first run); cards, databases and tokens of the run are
in DIR/run, recreated by every run. RUST_LOG=info shows the servers' logs.";

/// `esim demo …`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct DemoArgs {
    /// Working directory (PKI kept across runs; `run/` recreated).
    #[arg(long, default_value = "esim-demo")]
    dir: PathBuf,
    /// Number of eUICCs.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    cards: u32,
    /// SAIP template (DER) for the bootstrap and the downloaded Profiles (default: the TS.48
    /// test profile of ../shared/vectors/saip).
    #[arg(long, value_name = "FILE.der")]
    template: Option<PathBuf>,
    /// Run ES5 over HTTPS (SCP81) instead of SMS.
    #[arg(long)]
    https: bool,
    /// Exit once the run is over instead of serving until Ctrl-C.
    #[arg(long)]
    once: bool,
    /// Give up on a download after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

/// One card's result.
#[derive(Debug, Clone)]
struct CardResult {
    eid: String,
    iccid: Option<String>,
    status: String,
    seconds: f64,
    attached: Option<bool>,
}

/// Runs the demo.
pub fn run(args: DemoArgs, out: &Output) -> Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        crate::device::init_logging();
    }
    let rt = crate::device::runtime()?;
    rt.block_on(demo(args, out))
}

#[allow(clippy::too_many_lines)]
async fn demo(args: DemoArgs, out: &Output) -> Result<()> {
    let p = lab::Progress::start();
    let (template_path, template) = lab::find_template(args.template.as_deref())?;
    p.line(&format!("SAIP template {}", template_path.display()));
    let lab = lab::prepare(&args.dir, args.cards, &template, &mut |l| p.line(l))?;
    let pki = &lab.pki;
    let smsr_id = pki.smsr.id.clone();
    let smdp_id = pki.smdp.id.clone();

    // Stores (SQLite, WAL) and the sealing key of this run.
    let master = SecretKey::random(32).context("sealing key")?;
    let sealer = Arc::new(esim_store::AesSealer::new("demo-1", &master)?);
    let smsr_db = lab.run_dir.join("smsr.db");
    let smdp_db = lab.run_dir.join("smdp.db");
    let smsr_store = esim_store::connect(&format!("sqlite:{}", smsr_db.display()))
        .await
        .context("opening the SM-SR store")?;
    let smdp_store = esim_store::connect(&format!("sqlite:{}", smdp_db.display()))
        .await
        .context("opening the SM-DP store")?;
    p.line(&format!(
        "SQLite stores {} and {}",
        smsr_db.display(),
        smdp_db.display()
    ));

    // The SMSC simulator: MO SMS to "SMSR" go to the SM-SR's session; MT SMS to a card's MSISDN
    // go to the modem bound with that address range.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let smsc = esim_smpp::Smsc::new(SmscConfig {
        routes: vec![Route {
            pattern: RoutePattern::Exact("SMSR".into()),
            system_id: "smsr".into(),
        }],
        ..SmscConfig::default()
    })?;
    let smsc_listener = TcpListener::bind("127.0.0.1:0").await?;
    let smsc_addr = smsc_listener.local_addr()?;
    let smsc_task = tokio::spawn({
        let stop = servers::stopper(&stop_rx);
        async move { smsc.run(smsc_listener, stop).await }
    });
    p.line(&format!("SMSC simulator (SMPP 3.4) on {smsc_addr}"));

    // Listeners first: the parties' callback URLs need the addresses.
    let smsr_api = TcpListener::bind("127.0.0.1:0").await?;
    let scp81 = TcpListener::bind("127.0.0.1:0").await?;
    let smdp_api = TcpListener::bind("127.0.0.1:0").await?;
    let smsr_url = format!("http://{}", smsr_api.local_addr()?);
    let smdp_url = format!("http://{}", smdp_api.local_addr()?);

    let (eum_token, dp_token, sr_token, mno_token) =
        (lab::token()?, lab::token()?, lab::token()?, lab::token()?);
    let parties = vec![
        Party {
            id: pki.eum.id.clone(),
            name: "EUM".into(),
            roles: vec![role::EUM.into()],
            token: eum_token,
            callback: None,
        },
        Party {
            id: smdp_id.clone(),
            name: "SM-DP".into(),
            roles: vec![role::SM_DP.into()],
            token: dp_token.clone(),
            callback: Some((smdp_url.clone(), sr_token.clone())),
        },
        Party {
            id: smsr_id.clone(),
            name: "SM-SR".into(),
            roles: vec![role::SM_SR.into()],
            token: sr_token.clone(),
            callback: None,
        },
        Party {
            id: "mno-b".into(),
            name: "Operator B".into(),
            roles: vec![role::MNO.into()],
            token: mno_token.clone(),
            callback: None,
        },
    ];
    let smsr_callbacks = servers::install_parties(smsr_store.as_ref(), &parties).await?;
    let smdp_callbacks = servers::install_parties(smdp_store.as_ref(), &parties).await?;

    // The SM-SR asks the SM-DP for Master Delete tokens (ES3.GetDeleteToken).
    let to_smdp: Arc<dyn FunctionClient> = Arc::new(
        esim_http::HttpFunctionClient::new(&smdp_url, &sr_token)
            .map_err(|e| anyhow::anyhow!("SM-SR to SM-DP client: {e}"))?,
    );
    let (smsr_running, smsr) = servers::start_smsr(
        SmsrSetup {
            id: smsr_id.clone(),
            smpp: SmppSettings {
                server: smsc_addr.to_string(),
                system_id: "smsr".into(),
                password: esim_smpp::Password::new(""),
            },
            sms_address: "SMSR".into(),
            transport: if args.https {
                TransportKind::Https
            } else {
                TransportKind::Sms
            },
            scp81_host: None,
            initial_timeout_ms: Some(10_000),
            smdps: HashMap::from([(smdp_id.clone(), to_smdp)]),
            peers: HashMap::new(),
            replica: "demo".into(),
        },
        pki,
        smsr_store.clone(),
        sealer.clone(),
        smsr_callbacks,
        smsr_api,
        scp81,
    )
    .await?;
    p.line(&format!(
        "SM-SR {smsr_id}: JSON API {smsr_url}, SCP81 PSK-TLS on {}",
        smsr_running
            .scp81
            .map(|a| a.to_string())
            .unwrap_or_default()
    ));
    let es3: Arc<dyn FunctionClient> = Arc::new(
        esim_http::HttpFunctionClient::new(&smsr_url, &dp_token)
            .map_err(|e| anyhow::anyhow!("ES3 client: {e}"))?,
    );
    let (smdp_running, smdp) = servers::start_smdp(
        &smdp_id,
        pki,
        smdp_store.clone(),
        sealer.clone(),
        HashMap::from([(smsr_id.clone(), es3)]),
        smdp_callbacks,
        smdp_api,
        "demo",
    )
    .await?;
    p.line(&format!("SM-DP {smdp_id}: JSON API {smdp_url}"));

    // The device agent with every card (operator A's network and operator B's reachable).
    let dc = lab.device_config(smsc_addr, smsr_running.scp81.map(|a| a.to_string()));
    let device = esim_device::Device::new(dc)?;
    let mut events = device.events();
    let device_task = tokio::spawn({
        let stop = servers::stopper(&stop_rx);
        async move { device.run(Listeners::default(), stop).await }
    });
    p.line(&format!(
        "device agent: {} modem(s), networks {PLMN_A} (operator A) and {PLMN_B} (operator B)",
        lab.cards.len()
    ));

    // ES1: the EUM registers each eUICC with its MSISDN and bootstrap Profile.
    let eum = Caller {
        id: pki.eum.id.clone(),
        roles: vec![role::EUM.into()],
    };
    for c in &lab.cards {
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
        let index = lab.cards.iter().position(|x| x.eid == c.eid).unwrap_or(0) + 1;
        let bootstrap = ProfileRecord {
            eid: c.eid.clone(),
            iccid,
            isd_p_aid: Aid::from_hex(&slot.aid.to_string())?,
            mno_id: "mno-a".into(),
            smdp_id: "factory".into(),
            profile_type: "bootstrap".into(),
            state: ProfileState::Enabled,
            fallback: true,
            subscription_address: SubscriptionAddress {
                imsi: Some(Imsi::parse(&format!("{PLMN_A}00000{index:05}"))?),
                msisdn: Some(c.msisdn.clone()),
            },
            pol2: None,
            allocated_memory: 0,
            free_memory: 0,
            updated_at: esim_service::now(),
        };
        let status = smsr
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
    }
    p.line(&format!(
        "ES1.RegisterEIS: {} eUICC(s) registered (EUM signature and ECASD certificate verified)",
        lab.cards.len()
    ));

    // Operator B's Profiles: generated from the template, Ki/OPc random and sealed.
    let generated =
        lab::generate_operator_b(&smdp, &template_path, &template, "demo-b", args.cards).await?;
    p.line(&format!(
        "SM-DP inventory: {} Profile(s) of type demo-b for operator B (PLMN {PLMN_B})",
        generated
    ));

    // ES2.DownloadProfile with EnableProfile for every eUICC, concurrently, as operator B.
    let mno = Arc::new(
        esim_http::HttpFunctionClient::new(&smdp_url, &mno_token)
            .map_err(|e| anyhow::anyhow!("ES2 client: {e}"))?,
    );
    let mut downloads = tokio::task::JoinSet::new();
    for c in &lab.cards {
        let req = mno::request(
            Function::Es2DownloadProfile,
            "mno-b",
            None,
            Some(u32::try_from(args.timeout).unwrap_or(u32::MAX)),
            json!({"Eid": c.eid.as_str(), "Smsr-id": smsr_id, "Profile": {"ProfileType": "demo-b"}, "EnableProfile": true}),
        )?;
        let mno = mno.clone();
        let eid = c.eid.to_string();
        let limit = Duration::from_secs(args.timeout);
        let started = Instant::now();
        downloads.spawn(async move {
            let r = mno.call(&req, limit).await;
            (eid, r, started.elapsed().as_secs_f64())
        });
    }
    p.line(&format!(
        "ES2.DownloadProfile (EnableProfile) sent for {} eUICC(s) over {}",
        lab.cards.len(),
        if args.https {
            "HTTPS (SCP81)"
        } else {
            "SMS (SCP80)"
        }
    ));
    let mut results: Vec<CardResult> = Vec::new();
    let mut attach: HashMap<String, bool> = HashMap::new();
    let plmn_b = Plmn::parse(PLMN_B).map_err(|e| anyhow::anyhow!(e))?;
    while !downloads.is_empty() {
        tokio::select! {
            joined = downloads.join_next() => {
                let Some(joined) = joined else { break };
                let (eid, r, secs) = joined.context("download task")?;
                let (status, iccid) = match r {
                    Ok(v) => {
                        let s = esim_service::status_of(&v);
                        let iccid = v["Body"]["Iccid"].as_str().map(str::to_owned);
                        let text = match s {
                            Some(s) if s.is_executed() => "installed and enabled".to_string(),
                            Some(s) => format!(
                                "{:?} {}",
                                s.status,
                                s.status_code_data.map(|d| format!("{}/{} {}", d.subject_code, d.reason_code, d.message.unwrap_or_default())).unwrap_or_default()
                            ),
                            None => "no status in the answer".into(),
                        };
                        (text, iccid)
                    }
                    Err(e) => (format!("error: {e}"), None),
                };
                p.line(&format!(
                    "{eid}: {status}{} ({secs:.1} s)",
                    iccid.as_deref().map(|i| format!(", ICCID {i}")).unwrap_or_default()
                ));
                results.push(CardResult { eid, iccid, status, seconds: secs, attached: None });
            }
            ev = events.recv() => {
                if let Ok(ev) = ev
                    && let EventKind::Attach { plmn, success } = ev.kind
                    && plmn.as_ref() == Some(&plmn_b)
                {
                    attach.insert(ev.eid.to_string(), success);
                    p.line(&format!("{}: attached to operator B's network {PLMN_B}: {}", ev.eid, if success { "ok" } else { "failed" }));
                }
            }
        }
    }
    // Give the devices a moment to restart on the new Profile and attach.
    let deadline = Instant::now() + Duration::from_secs(20);
    while results
        .iter()
        .any(|r| r.iccid.is_some() && !attach.contains_key(&r.eid))
        && Instant::now() < deadline
    {
        if let Ok(Ok(ev)) = tokio::time::timeout(Duration::from_millis(500), events.recv()).await
            && let EventKind::Attach { plmn, success } = ev.kind
            && plmn.as_ref() == Some(&plmn_b)
        {
            attach.insert(ev.eid.to_string(), success);
            p.line(&format!(
                "{}: attached to operator B's network {PLMN_B}: {}",
                ev.eid,
                if success { "ok" } else { "failed" }
            ));
        }
    }
    for r in &mut results {
        r.attached = attach.get(&r.eid).copied();
    }
    results.sort_by(|a, b| a.eid.cmp(&b.eid));
    let ok = results
        .iter()
        .filter(|r| r.status == "installed and enabled")
        .count();

    // Summary.
    let mno_token_file = lab.run_dir.join("mno-b.token");
    crate::pki::write_secret(&mno_token_file, mno_token.as_bytes())?;
    if out.json {
        out.print_json(&json!({
            "smsr": {"id": smsr_id, "api": smsr_url},
            "smdp": {"id": smdp_id, "api": smdp_url},
            "transport": if args.https { "https" } else { "sms" },
            "results": results.iter().map(|r| json!({
                "eid": r.eid, "iccid": r.iccid, "status": r.status,
                "seconds": r.seconds, "attachedToOperatorB": r.attached,
            })).collect::<Vec<_>>(),
            "succeeded": ok,
        }))?;
    } else {
        outln!();
        outln!(
            "{ok} of {} eUICC(s) now run operator B's Profile:",
            results.len()
        );
        outln!(
            "  {:<32}  {:<20}  {:>7}  {:<8}  result",
            "EID",
            "ICCID",
            "seconds",
            "attached"
        );
        for r in &results {
            outln!(
                "  {:<32}  {:<20}  {:>7.1}  {:<8}  {}",
                r.eid,
                r.iccid.as_deref().unwrap_or("-"),
                r.seconds,
                match r.attached {
                    Some(true) => "yes",
                    Some(false) => "failed",
                    None => "-",
                },
                r.status
            );
        }
        outln!();
        outln!("SM-SR {smsr_url}/openapi.json · SM-DP {smdp_url}/openapi.json · /metrics");
        outln!(
            "try: esim mno --url {smdp_url} --requester mno-b --token \"$(cat {})\" get-eis --eid {} --smsr-id {smsr_id}",
            mno_token_file.display(),
            results.first().map(|r| r.eid.as_str()).unwrap_or("…")
        );
    }

    if !args.once {
        p.line("servers running; Ctrl-C to stop");
        crate::device::interrupted().await;
    }
    p.line("stopping");
    stop_tx.send_replace(true);
    let _ = device_task.await;
    smdp_running.stop().await?;
    smsr_running.stop().await?;
    let _ = smsc_task.await;
    if ok < results.len() {
        bail!(
            "{} of {} download(s) failed",
            results.len() - ok,
            results.len()
        );
    }
    Ok(())
}
