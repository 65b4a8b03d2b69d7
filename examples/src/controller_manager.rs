//! `skiff controller-manager`: the control loops (skiff-controllers) against an API
//! server reached over HTTPS from a kubeconfig, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use skiff_controllers::manager::{ControllerManager, Kind};
use skiff_core::client::https::HttpsClient;
use skiff_core::client::Client;
use skiff_core::runtime::leader::LeaseConfig;

/// Flags of `skiff controller-manager`, named as kube-controller-manager's.
#[derive(Args, Debug)]
pub struct ControllerManagerArgs {
    /// Kubeconfig of the API server to manage (such as DIR/admin.kubeconfig written by
    /// `skiff apiserver`).
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// Controllers to run, comma-separated, by Kubernetes' controller names
    /// (namespace, garbagecollector, replicaset, deployment, job, cronjob, statefulset,
    /// daemonset); all of them when not given.
    #[arg(long, value_delimiter = ',')]
    pub controllers: Vec<String>,
    /// Run only while holding the kube-system/skiff-controller-manager Lease, so
    /// several managers can run and one acts.
    #[arg(long)]
    pub leader_elect: bool,
    /// The controllers' settings.
    #[command(flatten)]
    pub flags: crate::controller_flags::ControllerFlags,
    /// This manager's identity in the Lease (default: the host name and process id).
    #[arg(long)]
    pub leader_elect_identity: Option<String>,
}

/// Why `skiff controller-manager` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ControllerManagerCmdError {
    /// The kubeconfig could not be loaded.
    #[error("cannot use the kubeconfig: {0}")]
    Client(#[from] skiff_core::client::ClientError),
    /// A controller setting is invalid.
    #[error(transparent)]
    Flags(#[from] crate::controller_flags::FlagError),
    /// `--controllers` names a controller Skiff does not have.
    #[error("unknown controller {0:?}")]
    UnknownController(String),
    /// The signal handlers could not be installed.
    #[error("installing signal handlers: {0}")]
    Signal(std::io::Error),
}

/// Runs the controllers until Ctrl-C or SIGTERM (or, with leader election, until
/// leadership is lost: the manager then exits, as kube-controller-manager does).
pub async fn run(args: ControllerManagerArgs) -> Result<(), ControllerManagerCmdError> {
    let client: Arc<dyn Client> = Arc::new(HttpsClient::from_kubeconfig(&args.kubeconfig)?);
    let kinds = if args.controllers.is_empty() {
        Kind::ALL.to_vec()
    } else {
        args.controllers
            .iter()
            .map(|name| {
                Kind::from_name(name.trim())
                    .ok_or_else(|| ControllerManagerCmdError::UnknownController(name.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let mut manager = ControllerManager::new(client)
        .only(&kinds)
        .settings(args.flags.settings()?);
    if args.leader_elect {
        let identity = args.leader_elect_identity.unwrap_or_else(default_identity);
        tracing::info!(%identity, "leader election on");
        manager = manager.leader_election(&identity, LeaseConfig::default());
    }
    tracing::info!(kubeconfig = %args.kubeconfig.display(), "controller manager starting");
    tokio::select! {
        () = manager.run() => {
            tracing::warn!("the controllers stopped");
        }
        signal = crate::store::wait_for_signal() => {
            let signal = signal.map_err(ControllerManagerCmdError::Signal)?;
            tracing::info!(signal, "stopping");
        }
    }
    Ok(())
}

/// `hostname_pid`, unique per process on a machine.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "skiff".to_owned());
    format!("{host}_{}", std::process::id())
}
