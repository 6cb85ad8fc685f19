//! `esim mno`: an operator's client of the SM-DP (ES2) and the SM-SR (ES4) over the JSON or the
//! SOAP binding, plain HTTP or HTTPS with an optional client certificate (mutual TLS).
//! Every request is built as SGP.02 JSON, checked with the same decoder the servers use, sent with
//! a fresh `FunctionCallIdentifier` (or the one given, to repeat a call safely), and the response
//! is printed.

use crate::output::Output;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use esim_proto::function::{Function, decode_request};
use serde_json::{Value, json};
use std::time::Duration;

const EXAMPLES: &str = "Examples:
  export ESIM_URL=http://127.0.0.1:8445 ESIM_TOKEN=… ESIM_REQUESTER=mno-b
  esim mno download --eid 89049032000000000000000000000018 --smsr-id smsr.esim-rsp.test --profile-type demo --enable
  esim mno enable  --eid 8904… --smsr-id smsr.esim-rsp.test --iccid 8900102000000000015
  ESIM_URL=http://127.0.0.1:8443 esim mno es4 audit --eid 8904…
  esim mno call ES2.GetEIS '{\"Eid\":\"8904…\",\"Smsr-id\":\"smsr.esim-rsp.test\"}'

Over HTTPS with mutual TLS (certificates from `esim pki issue-tls --pki pki --id mno-b`), SOAP:
  export ESIM_URL=https://localhost:8445 ESIM_CA=pki/tls/ca-cert.pem \
         ESIM_CLIENT_CERT=pki/operators/mno-b/tls-cert.pem ESIM_CLIENT_KEY=pki/operators/mno-b/tls-key.pem
  esim mno --binding soap get-eis --eid 8904… --smsr-id smsr.esim-rsp.test

ES2 functions go to the SM-DP, ES4 functions (`esim mno es4 …`) to the SM-SR. The response is
the SGP.02 response (Header.FunctionExecutionStatus, Body); the exit status is 0 only for
Executed-Success and Executed-WithWarning. A server requiring client certificates refuses the
TLS handshake without one, and answers 403 (SOAP: Forbidden fault) when the certificate's CN
is not the operator of the token.";

/// The binding `esim mno` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MnoBinding {
    /// JSON: `POST /api/v1/{ES}/{Function}`.
    Json,
    /// SOAP 1.2 with WS-Addressing: `POST /soap/{ES}`.
    Soap,
}

/// Connection and header settings shared by every `esim mno` command.
#[derive(Debug, Args)]
pub struct Conn {
    /// Base URL of the server (SM-DP for ES2, SM-SR for ES4).
    #[arg(long, env = "ESIM_URL", default_value = "http://127.0.0.1:8445")]
    url: String,
    /// API token of the operator.
    #[arg(long, env = "ESIM_TOKEN", hide_env_values = true)]
    token: String,
    /// FunctionRequesterIdentifier: the operator's identifier.
    #[arg(long, env = "ESIM_REQUESTER")]
    requester: String,
    /// FunctionCallIdentifier (default: a fresh random one). Repeat a call with the same one to
    /// get its answer without executing it twice.
    #[arg(long)]
    call_id: Option<String>,
    /// ValidityPeriod in seconds.
    #[arg(long)]
    validity: Option<u32>,
    /// How long to wait for the result (seconds).
    #[arg(long, default_value_t = 300)]
    wait: u64,
    /// The binding.
    #[arg(long, env = "ESIM_BINDING", value_enum, default_value = "json")]
    binding: MnoBinding,
    /// CA certificate(s) (PEM file) to trust for an https URL, besides the system store.
    #[arg(long, env = "ESIM_CA", value_name = "PEM")]
    ca: Option<std::path::PathBuf>,
    /// Client certificate (PEM file) for mutual TLS.
    #[arg(long, env = "ESIM_CLIENT_CERT", value_name = "PEM", requires = "key")]
    cert: Option<std::path::PathBuf>,
    /// The client certificate's private key (PKCS#8 PEM file).
    #[arg(long, env = "ESIM_CLIENT_KEY", value_name = "PEM", requires = "cert")]
    key: Option<std::path::PathBuf>,
}

impl Conn {
    /// The TLS settings from `--ca`, `--cert`, `--key`.
    fn tls(&self) -> Result<esim_http::TlsOptions> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).with_context(|| format!("reading {}", p.display()))
        };
        let mut tls = esim_http::TlsOptions::default();
        if let Some(ca) = &self.ca {
            tls.root_certificates_pem.push(read(ca)?);
        }
        if let (Some(c), Some(k)) = (&self.cert, &self.key) {
            tls.client_identity_pem = Some((read(c)?, read(k)?));
        }
        Ok(tls)
    }

    /// The function client of `--binding`.
    fn client(&self) -> Result<Box<dyn esim_service::FunctionClient>> {
        let tls = self.tls()?;
        Ok(match self.binding {
            MnoBinding::Json => Box::new(
                esim_http::HttpFunctionClient::with_tls(&self.url, &self.token, &tls)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            ),
            MnoBinding::Soap => Box::new(esim_soap::SoapFunctionClient::with_http_client(
                &self.url,
                &self.token,
                tls.http_client().map_err(|e| anyhow::anyhow!("{e}"))?,
            )),
        })
    }
}

/// `esim mno …`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct MnoArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    cmd: MnoCmd,
}

/// ES2 shortcuts, ES4, and any function by name.
#[derive(Debug, Subcommand)]
enum MnoCmd {
    /// ES2.DownloadProfile: download (and optionally enable) a Profile by ICCID or type.
    Download {
        #[arg(long)]
        eid: String,
        #[arg(long)]
        smsr_id: String,
        /// A Profile of this type from the inventory.
        #[arg(long, conflicts_with = "iccid", required_unless_present = "iccid")]
        profile_type: Option<String>,
        /// This Profile.
        #[arg(long)]
        iccid: Option<String>,
        /// Enable it once installed.
        #[arg(long)]
        enable: bool,
    },
    /// ES2.EnableProfile.
    Enable(Es2Profile),
    /// ES2.DisableProfile.
    Disable(Es2Profile),
    /// ES2.DeleteProfile.
    Delete(Es2Profile),
    /// ES2.GetEIS.
    GetEis {
        #[arg(long)]
        eid: String,
        #[arg(long)]
        smsr_id: String,
    },
    /// ES2.UpdatePolicyRules: POL2 as JSON, e.g. '{"Rule":[{"Subject":"PROFILE","Action":"DELETE","Qualification":"Not-Allowed"}]}'.
    Policy {
        #[arg(long)]
        eid: String,
        #[arg(long)]
        smsr_id: String,
        #[arg(long)]
        iccid: String,
        #[arg(long)]
        pol2: String,
    },
    /// ES2.UpdateSubscriptionAddress.
    Address {
        #[arg(long)]
        eid: String,
        #[arg(long)]
        smsr_id: String,
        #[arg(long)]
        iccid: String,
        #[arg(long)]
        imsi: Option<String>,
        #[arg(long)]
        msisdn: Option<String>,
    },
    /// ES4 functions (to the SM-SR).
    #[command(subcommand)]
    Es4(Es4Cmd),
    /// Any function by name (e.g. ES2.GetEIS) with its JSON body (or @FILE).
    Call {
        /// `ESx.Name`.
        function: String,
        /// The request body (`Body` of the SGP.02 request), or @FILE.
        body: String,
    },
}

/// Arguments of the ES2 Profile functions.
#[derive(Debug, Args)]
struct Es2Profile {
    #[arg(long)]
    eid: String,
    #[arg(long)]
    smsr_id: String,
    #[arg(long)]
    iccid: String,
}

/// Arguments of the ES4 Profile functions.
#[derive(Debug, Args)]
struct Es4Profile {
    #[arg(long)]
    eid: String,
    #[arg(long)]
    iccid: String,
}

/// ES4 (operator → SM-SR).
#[derive(Debug, Subcommand)]
enum Es4Cmd {
    /// ES4.GetEIS.
    GetEis {
        #[arg(long)]
        eid: String,
    },
    /// ES4.AuditEIS (all Profiles, or those given).
    Audit {
        #[arg(long)]
        eid: String,
        #[arg(long)]
        iccid: Vec<String>,
    },
    /// ES4.EnableProfile.
    Enable(Es4Profile),
    /// ES4.DisableProfile.
    Disable(Es4Profile),
    /// ES4.DeleteProfile.
    Delete(Es4Profile),
    /// ES4.SetFallbackAttribute.
    Fallback(Es4Profile),
    /// ES4.MasterDelete.
    MasterDelete(Es4Profile),
    /// ES4.UpdatePolicyRules.
    Policy {
        #[arg(long)]
        eid: String,
        #[arg(long)]
        iccid: String,
        #[arg(long)]
        pol2: String,
    },
}

fn function_by_name(name: &str) -> Result<Function> {
    Function::ALL
        .iter()
        .copied()
        .find(|f| format!("{:?}.{}", f.interface(), f.name()).eq_ignore_ascii_case(name))
        .with_context(|| {
            format!("unknown function {name:?} (expected ESx.Name, e.g. ES2.DownloadProfile)")
        })
}

fn json_arg(what: &str, text: &str) -> Result<Value> {
    let text = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => text.to_string(),
    };
    serde_json::from_str(&text).with_context(|| format!("{what} is not JSON"))
}

fn build(cmd: MnoCmd) -> Result<(Function, Value)> {
    use Function as F;
    Ok(match cmd {
        MnoCmd::Download {
            eid,
            smsr_id,
            profile_type,
            iccid,
            enable,
        } => {
            let profile = match (profile_type, iccid) {
                (_, Some(i)) => json!({ "Iccid": i }),
                (Some(t), None) => json!({ "ProfileType": t }),
                (None, None) => bail!("give --profile-type or --iccid"),
            };
            (
                F::Es2DownloadProfile,
                json!({"Eid": eid, "Smsr-id": smsr_id, "Profile": profile, "EnableProfile": enable}),
            )
        }
        MnoCmd::Enable(p) => (F::Es2EnableProfile, es2_profile(p)),
        MnoCmd::Disable(p) => (F::Es2DisableProfile, es2_profile(p)),
        MnoCmd::Delete(p) => (F::Es2DeleteProfile, es2_profile(p)),
        MnoCmd::GetEis { eid, smsr_id } => (F::Es2GetEis, json!({"Eid": eid, "Smsr-id": smsr_id})),
        MnoCmd::Policy {
            eid,
            smsr_id,
            iccid,
            pol2,
        } => (
            F::Es2UpdatePolicyRules,
            json!({"Eid": eid, "Smsr-id": smsr_id, "Iccid": iccid, "pol2": json_arg("--pol2", &pol2)?}),
        ),
        MnoCmd::Address {
            eid,
            smsr_id,
            iccid,
            imsi,
            msisdn,
        } => {
            let mut a = serde_json::Map::new();
            if let Some(i) = imsi {
                a.insert("Imsi".into(), i.into());
            }
            if let Some(m) = msisdn {
                a.insert("Msisdn".into(), m.into());
            }
            (
                F::Es2UpdateSubscriptionAddress,
                json!({"Eid": eid, "Smsr-id": smsr_id, "Iccid": iccid, "SubscriptionAddress": a}),
            )
        }
        MnoCmd::Es4(c) => match c {
            Es4Cmd::GetEis { eid } => (F::Es4GetEis, json!({ "Eid": eid })),
            Es4Cmd::Audit { eid, iccid } => (F::Es4AuditEis, json!({"Eid": eid, "Iccid": iccid})),
            Es4Cmd::Enable(p) => (F::Es4EnableProfile, es4_profile(p)),
            Es4Cmd::Disable(p) => (F::Es4DisableProfile, es4_profile(p)),
            Es4Cmd::Delete(p) => (F::Es4DeleteProfile, es4_profile(p)),
            Es4Cmd::Fallback(p) => (F::Es4SetFallbackAttribute, es4_profile(p)),
            Es4Cmd::MasterDelete(p) => (F::Es4MasterDelete, es4_profile(p)),
            Es4Cmd::Policy { eid, iccid, pol2 } => (
                F::Es4UpdatePolicyRules,
                json!({"Eid": eid, "Iccid": iccid, "pol2": json_arg("--pol2", &pol2)?}),
            ),
        },
        MnoCmd::Call { function, body } => (function_by_name(&function)?, json_arg("body", &body)?),
    })
}

fn es2_profile(p: Es2Profile) -> Value {
    json!({"Eid": p.eid, "Smsr-id": p.smsr_id, "Iccid": p.iccid})
}

fn es4_profile(p: Es4Profile) -> Value {
    json!({"Eid": p.eid, "Iccid": p.iccid})
}

/// A fresh `FunctionCallIdentifier`: 16 random bytes in hex.
pub fn fresh_call_id() -> Result<String> {
    let mut b = [0u8; 16];
    esim_crypto::primitives::fill_random(&mut b).context("random call identifier")?;
    Ok(esim_codec::hex::encode_upper(&b))
}

/// Builds and checks the SGP.02 request of `function`.
pub fn request(
    function: Function,
    requester: &str,
    call_id: Option<String>,
    validity: Option<u32>,
    body: Value,
) -> Result<esim_proto::function::AnyRequest> {
    let mut header = json!({
        "FunctionRequesterIdentifier": requester,
        "FunctionCallIdentifier": match call_id { Some(c) => c, None => fresh_call_id()? },
    });
    if let Some(v) = validity {
        header["ValidityPeriod"] = v.into();
    }
    let text = json!({ "Header": header, "Body": body }).to_string();
    decode_request(function, &text).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs an `esim mno` command.
pub fn run(args: MnoArgs, out: &Output) -> Result<()> {
    let (function, body) = build(args.cmd)?;
    let c = args.conn;
    let req = request(function, &c.requester, c.call_id.clone(), c.validity, body)?;
    let rt = crate::device::runtime()?;
    let response = rt.block_on(async {
        let client = c.client()?;
        client
            .call(&req, Duration::from_secs(c.wait))
            .await
            .with_context(|| {
                format!(
                    "{:?}.{} at {}",
                    function.interface(),
                    function.name(),
                    c.url
                )
            })
    })?;
    out.print_json(&response)?;
    match esim_service::status_of(&response) {
        Some(s) if s.is_executed() => Ok(()),
        Some(s) => bail!(
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
        ),
        None => bail!("the answer has no FunctionExecutionStatus"),
    }
}
