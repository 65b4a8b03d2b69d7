//! `skiff scheduler`: the scheduler (skiff-sched) against an API server reached over
//! HTTPS from a kubeconfig, until Ctrl-C or SIGTERM, configured as kube-scheduler is:
//! profiles, parallelism and leader election from `--config FILE` (a
//! `KubeSchedulerConfiguration` in YAML or JSON), leader-election flags overriding the
//! file when given.
//!
//! ```text
//! skiff scheduler --kubeconfig admin.kubeconfig --config sched.yaml --leader-elect
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use skiff_core::client::https::HttpsClient;
use skiff_core::client::Client;
use skiff_core::runtime::leader::LeaseConfig;
use skiff_sched::scheduler::{
    ConfigError, KubeSchedulerConfiguration, RunOutcome, Scheduler, SchedulerError, LEASE_NAME,
};

/// How long stopping (releasing the Lease) may take on the way out.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Flags of `skiff scheduler`, named as kube-scheduler's.
#[derive(Args, Debug)]
pub struct SchedulerArgs {
    /// Kubeconfig of the API server (such as DIR/admin.kubeconfig written by
    /// `skiff apiserver`, or one issued by `skiff kubeconfig`).
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// A KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1, YAML or JSON):
    /// profiles, plugins and their weights, parallelism, percentageOfNodesToScore,
    /// back-off and leader election.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Schedule only while holding the kube-system/kube-scheduler Lease, so several
    /// schedulers can run and one acts; the others take over within the lease
    /// duration when it stops. Overrides the config file's `leaderElection.leaderElect`.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub leader_elect: Option<bool>,
    /// This scheduler's identity in the Lease (default: the host name and process id).
    #[arg(long)]
    pub leader_elect_identity: Option<String>,
}

/// Why `skiff scheduler` could not run.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerCmdError {
    /// The kubeconfig could not be loaded.
    #[error("cannot use the kubeconfig: {0}")]
    Client(#[from] skiff_core::client::ClientError),
    /// The configuration file could not be read.
    #[error("reading {path}: {source}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not a valid KubeSchedulerConfiguration.
    #[error("{path}: {source}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ConfigError,
    },
    /// The scheduler's profiles could not be built.
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// Leadership was lost: the process exits so it is restarted as a candidate.
    #[error("leadership lost")]
    LostLeadership,
    /// The signal handlers could not be installed.
    #[error("installing signal handlers: {0}")]
    Signal(std::io::Error),
}

/// The configuration: the file's, or the defaults; `--leader-elect` overrides the
/// file's `leaderElection.leaderElect` (kube-scheduler's `ApplyLeaderElectionTo`).
fn configuration(args: &SchedulerArgs) -> Result<KubeSchedulerConfiguration, SchedulerCmdError> {
    let registry = skiff_sched::plugins::default_registry();
    let mut config = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|source| SchedulerCmdError::ReadConfig {
                    path: path.clone(),
                    source,
                })?;
            KubeSchedulerConfiguration::from_yaml(&text, registry).map_err(|source| {
                SchedulerCmdError::Config {
                    path: path.clone(),
                    source,
                }
            })?
        }
        None => KubeSchedulerConfiguration::defaults(registry),
    };
    match args.leader_elect {
        Some(true) if config.leader_election.is_none() => {
            config.leader_election = Some(LeaseConfig::default());
        }
        Some(false) => config.leader_election = None,
        _ => {}
    }
    Ok(config)
}

/// Runs the scheduler until Ctrl-C or SIGTERM (or, with leader election, until
/// leadership is lost: it then exits with an error, as kube-scheduler does).
pub async fn run(args: SchedulerArgs) -> Result<(), SchedulerCmdError> {
    let config = configuration(&args)?;
    let client: Arc<dyn Client> = Arc::new(HttpsClient::from_kubeconfig(&args.kubeconfig)?);
    let scheduler = Scheduler::new(client, config.scheduler)?;
    tracing::info!(
        kubeconfig = %args.kubeconfig.display(),
        config = ?args.config,
        "scheduler starting"
    );
    // On a signal the scheduling loop ends, so a leader releases its Lease and
    // another scheduler takes over at once.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    let work = async move {
        let Some(lease) = config.leader_election else {
            scheduler.run(stopped).await;
            return Ok(());
        };
        let identity = args
            .leader_elect_identity
            .unwrap_or_else(crate::controller_manager::default_identity);
        tracing::info!(%identity, lease = LEASE_NAME, "leader election on");
        match scheduler
            .run_with_leader_election(&identity, lease, stopped)
            .await
        {
            RunOutcome::LostLeadership => Err(SchedulerCmdError::LostLeadership),
            RunOutcome::Stopped => Ok(()),
        }
    };
    tokio::pin!(work);
    tokio::select! {
        result = &mut work => result,
        signal = crate::store::wait_for_signal() => {
            let signal = signal.map_err(SchedulerCmdError::Signal)?;
            tracing::info!(signal, "stopping");
            let _ = stop.send(());
            // Stopping releases the Lease; a candidate still waiting returns at once.
            tokio::time::timeout(STOP_GRACE, work).await.unwrap_or(Ok(()))
        }
    }
}
