//! Assembles the servers from the library crates: the SM-SR (functions + ES5 delivery over SMPP
//! and SCP81 + JSON binding) and the SM-DP (functions + inventory + JSON binding). Used by
//! `esim smsr`, `esim smdp`, `esim serve` and `esim demo`; the logic lives in the crates.

use anyhow::{Context, Result};
use esim_crypto::pki::TestPki;
use esim_http::{Endpoint, HttpCallbacks, HttpConfig, HttpState, RetryPolicy};
use esim_service::{Callbacks, FunctionClient, FunctionService};
use esim_smsr::delivery::{
    Delivery, DeliveryConfig, DeliveryListeners, HttpsSettings, SmppSettings, TransportKind,
};
use esim_store::{OperatorRecord, Sealer, Store, hash_token};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// An API client of the servers, as configured.
#[derive(Debug, Clone)]
pub struct Party {
    /// Identifier (FunctionRequesterIdentifier).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Its API token at our servers.
    pub token: zeroize::Zeroizing<String>,
    /// Its own endpoint for results and notifications, with the token we present there.
    pub callback: Option<(String, zeroize::Zeroizing<String>)>,
}

/// Writes the parties into `store` (token hashes only) and builds the callbacks to those with
/// an endpoint.
pub async fn install_parties(store: &dyn Store, parties: &[Party]) -> Result<Arc<dyn Callbacks>> {
    install_parties_tls(store, parties, &esim_http::TlsOptions::default()).await
}

/// [`install_parties`] with the TLS settings of the callbacks (trust anchors for `https`
/// callback URLs, this server's client certificate).
pub async fn install_parties_tls(
    store: &dyn Store,
    parties: &[Party],
    tls: &esim_http::TlsOptions,
) -> Result<Arc<dyn Callbacks>> {
    let mut endpoints = HashMap::new();
    for p in parties {
        store
            .put_operator(&OperatorRecord {
                id: p.id.clone(),
                name: p.name.clone(),
                roles: p.roles.clone(),
                token_hashes: vec![hash_token(&p.token)],
                created_at: esim_service::now(),
            })
            .await
            .with_context(|| format!("storing operator {}", p.id))?;
        if let Some((url, token)) = &p.callback {
            endpoints.insert(
                p.id.clone(),
                Endpoint {
                    base_url: url.clone(),
                    token: token.to_string(),
                },
            );
        }
    }
    let cb = HttpCallbacks::with_tls(endpoints, RetryPolicy::default(), tls)
        .map_err(|e| anyhow::anyhow!("callbacks: {e}"))?;
    Ok(Arc::new(cb))
}

/// [`install_parties_tls`], with the parties of `soap` (party id → endpoint) called back over
/// the SOAP binding instead of JSON (same TLS settings).
pub async fn install_parties_soap(
    store: &dyn Store,
    parties: &[Party],
    tls: &esim_http::TlsOptions,
    soap: HashMap<String, esim_soap::SoapEndpoint>,
) -> Result<Arc<dyn Callbacks>> {
    let json = install_parties_tls(store, parties, tls).await?;
    if soap.is_empty() {
        return Ok(json);
    }
    let http = tls
        .http_client()
        .map_err(|e| anyhow::anyhow!("SOAP callbacks: {e}"))?;
    Ok(Arc::new(RoutedCallbacks {
        json,
        soap_parties: soap.keys().cloned().collect(),
        soap: Arc::new(esim_soap::SoapCallbacks::new(soap).with_http_client(http)),
    }))
}

/// Callbacks to some parties over SOAP, to the others over JSON.
#[derive(Debug)]
struct RoutedCallbacks {
    json: Arc<dyn Callbacks>,
    soap: Arc<dyn Callbacks>,
    soap_parties: std::collections::HashSet<String>,
}

#[async_trait::async_trait]
impl Callbacks for RoutedCallbacks {
    async fn deliver(
        &self,
        party: &str,
        message: esim_service::Callback,
    ) -> Result<(), esim_service::ClientError> {
        if self.soap_parties.contains(party) {
            self.soap.deliver(party, message).await
        } else {
            self.json.deliver(party, message).await
        }
    }
}

/// What the SM-SR needs besides its store.
#[derive(Debug)]
pub struct SmsrSetup {
    /// `Smsr-id`.
    pub id: String,
    /// SMSC account.
    pub smpp: SmppSettings,
    /// The SM-SR's SMS address.
    pub sms_address: String,
    /// Transport of every eUICC without its own setting.
    pub transport: TransportKind,
    /// SCP81 trigger host (`8A`), e.g. `127.0.0.1:8444`.
    pub scp81_host: Option<String>,
    /// First PoR timeout (ms).
    pub initial_timeout_ms: Option<u64>,
    /// The SM-DPs, by identifier, asked for Master Delete tokens (ES3.GetDeleteToken).
    pub smdps: HashMap<String, Arc<dyn FunctionClient>>,
    /// Other SM-SRs, by identifier (ES7, SM-SR change).
    pub peers: HashMap<String, Arc<dyn FunctionClient>>,
    /// This replica's name: with it the leases of a previous run are ended at start.
    pub replica: String,
}

/// A running server: its addresses and how to stop it.
#[derive(Debug)]
pub struct Running {
    /// JSON API address.
    pub api: SocketAddr,
    /// Whether the API listener speaks TLS (`https://`).
    pub tls: bool,
    /// SCP81 address (SM-SR only).
    pub scp81: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<Result<()>>,
}

impl Running {
    /// Stops the server and waits for its tasks; the first error, if any.
    pub async fn stop(mut self) -> Result<()> {
        self.stop.send_replace(true);
        let mut first = Ok(());
        while let Some(r) = self.tasks.join_next().await {
            let r = r
                .map_err(|e| anyhow::anyhow!("server task: {e}"))
                .and_then(|r| r);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    /// Waits until a task ends (an error) — for `esim smsr` to notice a dead component.
    pub async fn failed(&mut self) -> Result<()> {
        match self.tasks.join_next().await {
            Some(Ok(r)) => r,
            Some(Err(e)) => Err(anyhow::anyhow!("server task: {e}")),
            None => std::future::pending().await,
        }
    }
}

/// A future that completes once `rx` says stop (or its sender is gone).
pub(crate) fn stopper(
    rx: &watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        while !*rx.borrow() {
            if rx.changed().await.is_err() {
                break;
            }
        }
    }
}

/// Accepts the results of long functions a peer posts to `/api/v1/callbacks` (the SM-SR sends
/// the SM-DP the result of every long ES3 call it made; the SM-DP already follows its calls,
/// so they are only logged).
#[derive(Debug)]
struct LogResults;

#[async_trait::async_trait]
impl esim_http::CallbackSink for LogResults {
    async fn result(
        &self,
        from: &esim_service::Caller,
        result: esim_http::CallbackResult,
    ) -> Result<(), esim_service::ServiceError> {
        tracing::debug!(
            from = %from.id,
            function = %esim_http::qualified_name(result.function),
            operation = %result.operation_id.as_str(),
            "result callback received"
        );
        Ok(())
    }
}

/// TLS of a server's API listener (docs/spec-choices.md row 81).
#[derive(Debug, Clone, Default)]
pub struct ApiTls {
    /// HTTPS on the API listener (both bindings), with optional or required client
    /// certificates; `None`: plain HTTP.
    pub server: Option<esim_http::ServerTls>,
    /// The client settings of replies to `wsa:ReplyTo` addresses (trust anchors, client
    /// certificate).
    pub client: esim_http::TlsOptions,
    /// The `wsa:ReplyTo` addresses SOAP replies may be posted to (default: none but the
    /// anonymous address; `esim smsr|smdp|serve`: the operators' callback endpoints).
    pub reply_to: esim_soap::ReplyToPolicy,
}

/// Serves both bindings of `services` on one listener (DESIGN §3.4: one implementation, two
/// encodings): JSON (`/api/v1/…`, `/openapi.json`, `/metrics`, `/health`) and SOAP 1.2 with
/// WS-Addressing (`/soap/{ES}`, WSDL at `/soap/{ES}?wsdl`); over TLS when `tls.server` is set.
async fn serve_bindings(
    services: Vec<Arc<dyn FunctionService>>,
    store: Arc<dyn Store>,
    listener: TcpListener,
    tls: ApiTls,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let json = HttpState::new(HttpConfig::default(), services.clone(), store.clone())
        .with_callback_sink(Arc::new(LogResults));
    let soap_config = esim_soap::SoapConfig {
        reply_to: tls.reply_to.clone(),
        ..esim_soap::SoapConfig::default()
    };
    let mut soap = esim_soap::SoapState::new(soap_config, services, store);
    let reply_client = tls
        .client
        .http_client()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    soap = soap.with_reply_client(reply_client);
    let app = esim_http::router(json).merge(esim_soap::routes(soap));
    if let Some(server) = &tls.server {
        return esim_http::serve_tls_router(app, listener, server, shutdown).await;
    }
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "JSON and SOAP bindings listening");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Starts an SM-SR: ES5 delivery (SMPP + SCP81 on `scp81`), functions and resumer, JSON API on
/// `api`.
#[allow(clippy::too_many_arguments)]
pub async fn start_smsr(
    setup: SmsrSetup,
    pki: &TestPki,
    store: Arc<dyn Store>,
    sealer: Arc<dyn Sealer>,
    callbacks: Arc<dyn Callbacks>,
    api: TcpListener,
    scp81: TcpListener,
) -> Result<(Running, Arc<esim_smsr::Smsr>)> {
    start_smsr_tls(
        setup,
        pki,
        store,
        sealer,
        callbacks,
        api,
        scp81,
        ApiTls::default(),
    )
    .await
}

/// [`start_smsr`] with TLS on the API listener.
#[allow(clippy::too_many_arguments)]
pub async fn start_smsr_tls(
    setup: SmsrSetup,
    pki: &TestPki,
    store: Arc<dyn Store>,
    sealer: Arc<dyn Sealer>,
    callbacks: Arc<dyn Callbacks>,
    api: TcpListener,
    scp81: TcpListener,
    tls: ApiTls,
) -> Result<(Running, Arc<esim_smsr::Smsr>)> {
    let api_addr = api.local_addr()?;
    let scp81_addr = scp81.local_addr()?;
    let mut dc = DeliveryConfig::new(setup.sms_address.clone(), setup.smpp);
    dc.default_transport = setup.transport;
    dc.https = Some(HttpsSettings {
        admin_uri: "/gp/admin".into(),
        trigger_host: Some(
            setup
                .scp81_host
                .clone()
                .unwrap_or_else(|| scp81_addr.to_string()),
        ),
    });
    if let Some(t) = setup.initial_timeout_ms {
        dc.initial_timeout_ms = t;
    }
    dc.holder = Some(format!("{}/es5/{}", setup.id, setup.replica));
    // The delivery hands notifications to the SM-SR, which is built after it.
    let sink = Arc::new(esim_smsr::SinkSlot::new());
    let delivery = Delivery::new(dc, store.clone(), sealer.clone(), sink.clone())
        .map_err(|e| anyhow::anyhow!("ES5 delivery: {e}"))?;
    let mut config =
        esim_smsr::SmsrConfig::new(&setup.id, pki.ci.cert.clone(), vec![pki.eum.cert.clone()]);
    config.holder = Some(format!("{}/{}", setup.id, setup.replica));
    // CERT.SR.ECDSA and its key: what the cards check when this SM-SR takes them over.
    config.gp_identity = Some(esim_smsr::GpIdentity {
        certificate: pki.smsr.cert.clone(),
        key: pki.smsr.key.clone(),
    });
    let smsr = Arc::new(
        esim_smsr::Smsr::new(
            config,
            store.clone(),
            sealer,
            Arc::new(delivery.clone()),
            callbacks,
        )
        .map_err(|e| anyhow::anyhow!("SM-SR: {e}"))?,
    );
    sink.attach(&smsr);
    smsr.set_peer_smsrs(setup.peers);
    smsr.set_delete_token_source(Arc::new(esim_smsr::Es3DeleteTokens::new(
        &setup.id,
        setup.smdps,
        std::time::Duration::from_secs(60),
    )));
    let (stop, rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    {
        let stop = stopper(&rx);
        tasks.spawn(async move {
            delivery
                .run(DeliveryListeners { https: Some(scp81) }, stop)
                .await
                .map_err(|e| anyhow::anyhow!("ES5 delivery: {e}"))
        });
    }
    {
        let smsr = smsr.clone();
        let stop = stopper(&rx);
        tasks.spawn(async move {
            smsr.run_until(stop).await;
            Ok(())
        });
    }
    {
        let services: Vec<Arc<dyn FunctionService>> = vec![smsr.clone()];
        let stop = stopper(&rx);
        let tls = tls.clone();
        tasks.spawn(async move {
            serve_bindings(services, store, api, tls, stop)
                .await
                .context("SM-SR API")
        });
    }
    Ok((
        Running {
            api: api_addr,
            tls: tls.server.is_some(),
            scp81: Some(scp81_addr),
            stop,
            tasks,
        },
        smsr,
    ))
}

/// Starts an SM-DP: functions, inventory, recovery, JSON API on `api`, reaching SM-SRs through
/// `smsrs`. Returns the running server and the SM-DP (for inventory set-up). `replica` names
/// this instance: with it the leases of a previous run are ended at start.
#[allow(clippy::too_many_arguments)]
pub async fn start_smdp(
    id: &str,
    pki: &TestPki,
    store: Arc<dyn Store>,
    sealer: Arc<dyn Sealer>,
    smsrs: HashMap<String, Arc<dyn FunctionClient>>,
    callbacks: Arc<dyn Callbacks>,
    api: TcpListener,
    replica: &str,
) -> Result<(Running, Arc<esim_smdp::Smdp>)> {
    start_smdp_tls(
        id,
        pki,
        store,
        sealer,
        smsrs,
        callbacks,
        api,
        replica,
        ApiTls::default(),
    )
    .await
}

/// [`start_smdp`] with TLS on the API listener.
#[allow(clippy::too_many_arguments)]
pub async fn start_smdp_tls(
    id: &str,
    pki: &TestPki,
    store: Arc<dyn Store>,
    sealer: Arc<dyn Sealer>,
    smsrs: HashMap<String, Arc<dyn FunctionClient>>,
    callbacks: Arc<dyn Callbacks>,
    api: TcpListener,
    replica: &str,
    tls: ApiTls,
) -> Result<(Running, Arc<esim_smdp::Smdp>)> {
    let api_addr = api.local_addr()?;
    let mut config = esim_smdp::SmdpConfig::new(
        id,
        pki.smdp.key.clone(),
        pki.smdp.cert.clone(),
        pki.ci.cert.clone(),
        vec![pki.eum.cert.clone()],
    );
    config.holder = format!("{id}/{replica}");
    let smdp = Arc::new(esim_smdp::Smdp::new(
        config,
        store.clone(),
        sealer,
        smsrs,
        callbacks,
    ));
    let (stop, rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    {
        let smdp = smdp.clone();
        let stop = stopper(&rx);
        tasks.spawn(async move {
            smdp.run_recovery(stop).await;
            Ok(())
        });
    }
    {
        let services: Vec<Arc<dyn FunctionService>> = vec![smdp.clone()];
        let stop = stopper(&rx);
        let tls = tls.clone();
        tasks.spawn(async move {
            serve_bindings(services, store, api, tls, stop)
                .await
                .context("SM-DP API")
        });
    }
    Ok((
        Running {
            api: api_addr,
            tls: tls.server.is_some(),
            scp81: None,
            stop,
            tasks,
        },
        smdp,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Record(Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl Callbacks for Record {
        async fn deliver(
            &self,
            party: &str,
            _message: esim_service::Callback,
        ) -> Result<(), esim_service::ClientError> {
            self.0.lock().expect("lock").push(party.to_string());
            Ok(())
        }
    }

    fn message() -> esim_service::Callback {
        esim_service::Callback::Result {
            function: esim_proto::function::Function::Es2DownloadProfile,
            operation_id: esim_store::OperationId::random().expect("id"),
            function_call_id: "c".into(),
            response: serde_json::json!({}),
        }
    }

    #[tokio::test]
    async fn callbacks_are_routed_by_party_binding() {
        let json = Arc::new(Record::default());
        let soap = Arc::new(Record::default());
        let routed = RoutedCallbacks {
            json: json.clone(),
            soap: soap.clone(),
            soap_parties: ["mno-s".to_string()].into_iter().collect(),
        };
        for p in ["mno-j", "mno-s", "mno-j"] {
            routed.deliver(p, message()).await.expect("deliver");
        }
        assert_eq!(*json.0.lock().expect("lock"), ["mno-j", "mno-j"]);
        assert_eq!(*soap.0.lock().expect("lock"), ["mno-s"]);
    }
}
