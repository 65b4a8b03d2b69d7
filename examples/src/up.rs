//! `skiff up`: a whole cluster in one process: the embedded store, the API server over
//! HTTPS, the controller manager (every controller), the scheduler and N node agents,
//! until Ctrl-C or SIGTERM. Every component but the API server uses the server's
//! in-process client, exactly as it would use a remote one.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use skiff_api::standalone::{RunningServer, ServingOptions, StartError};
use skiff_controllers::manager::ControllerManager;
use skiff_node::fleet::{node_names, Fleet, FleetConfig, NodeServing};
use skiff_sched::scheduler::{Scheduler, SchedulerConfig, SchedulerError};
use skiff_store::location::StoreLocation;

use crate::node::RuntimeArg;

/// Flags of `skiff up`.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// Directory for everything the cluster keeps: certificates (DIR/pki), the admin
    /// kubeconfig (DIR/admin.kubeconfig), the store (DIR/store) and the nodes' pods
    /// (DIR/nodes). Starting again with the same directory brings the cluster back.
    #[arg(long, default_value = ".skiff")]
    pub data_dir: PathBuf,
    /// How many node agents to run.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Where the pods' containers run: `process` (host processes) or `sim` (hollow
    /// nodes, no processes).
    #[arg(long, value_enum, default_value_t = RuntimeArg::Process)]
    pub runtime: RuntimeArg,
    /// The API server's HTTPS port (0 picks a free port; the kubeconfig names it).
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
    /// The address the API server listens on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_address: IpAddr,
    /// The controllers' settings (kube-controller-manager's flags).
    #[command(flatten)]
    pub controllers: crate::controller_flags::ControllerFlags,
    /// The API server's settings (kube-apiserver's flags).
    #[command(flatten)]
    pub api: crate::apiserver_flags::ApiServerFlags,
}

/// Why `skiff up` could not start.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] skiff_store::StoreError),
    /// The API server could not start.
    #[error(transparent)]
    ApiServer(#[from] StartError),
    /// The scheduler could not be built.
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// A controller setting is invalid.
    #[error(transparent)]
    Flags(#[from] crate::controller_flags::FlagError),
    /// The signal handlers could not be installed.
    #[error("installing signal handlers: {0}")]
    Signal(std::io::Error),
}

/// Runs the cluster until Ctrl-C or SIGTERM; then stops the pods, the components and
/// the server, and closes the store.
pub async fn run(args: UpArgs) -> Result<(), UpError> {
    let store = StoreLocation::Embedded(args.data_dir.join("store"))
        .open()
        .await?;
    let mut options = ServingOptions::new(args.data_dir.clone());
    options.bind_address = args.bind_address;
    options.secure_port = args.secure_port;
    args.api.apply(&mut options);
    let server = RunningServer::start(options, store.store()).await?;
    let client = server.client();

    // Process nodes' pods get addresses of their own unless
    // --allocate-node-cidrs=false (hollow nodes have no use for them).
    let mut controller_flags = args.controllers.clone();
    let allocate = *controller_flags
        .allocate_node_cidrs
        .get_or_insert(matches!(args.runtime, RuntimeArg::Process));
    let settings = controller_flags.settings()?;
    let controllers = tokio::spawn(
        ControllerManager::new(client.clone())
            .settings(settings)
            .run(),
    );
    tracing::info!("controller manager started");
    let scheduler = Scheduler::new(client.clone(), SchedulerConfig::default())?;
    let (stop_scheduler, scheduler_stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = tokio::spawn(async move {
        scheduler
            .run(async move {
                let _ = scheduler_stopped.await;
            })
            .await;
    });
    tracing::info!("scheduler started");
    let names = node_names(None, args.nodes, args.runtime.into());
    // Process nodes serve logs, exec and port-forward to the API server, which
    // presents a client certificate from the cluster CA.
    let mut fleet_config =
        FleetConfig::new(args.runtime.into(), names, args.data_dir.join("nodes")).serving(
            NodeServing {
                bind_ip: IpAddr::from([127, 0, 0, 1]),
                client_ca_pem: server.ca_cert_pem().to_owned(),
            },
        );
    if allocate {
        // Already validated by `settings()`.
        fleet_config.cluster_cidr = controller_flags.cluster_cidr.parse().ok();
    }
    let fleet = Fleet::start(client.clone(), fleet_config).await;
    tracing::info!(nodes = ?fleet.names(), runtime = ?args.runtime, "node agents started");
    println!(
        "Skiff is starting. Use it with:\n\n    kubectl --kubeconfig {} get nodes\n",
        server.kubeconfig().display()
    );

    let ready = async {
        while !server.readiness_failures().await.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        crate::node::wait_until_ready(&fleet, &client).await;
    };
    // One listener from start to end: a signal sent on seeing "cluster ready" must not
    // fall between two listeners (it would be lost).
    let signal = crate::store::wait_for_signal();
    tokio::pin!(signal);
    let signal = tokio::select! {
        () = ready => {
            tracing::info!(url = server.url(), nodes = fleet.len(), "cluster ready");
            signal.await
        }
        signal = &mut signal => signal,
    }
    .map_err(UpError::Signal)?;

    tracing::info!(signal, "stopping: node agents stop their pods");
    fleet.stop().await;
    let _ = stop_scheduler.send(());
    let _ = scheduler.await;
    controllers.abort();
    let _ = controllers.await;
    drop(client);
    server.stop().await;
    crate::apiserver::close_store(store).await;
    tracing::info!("stopped");
    Ok(())
}
