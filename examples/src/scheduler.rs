//! `skiff scheduler`: the scheduler (skiff-sched, default profile) against an API
//! server reached over HTTPS from a kubeconfig, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use skiff_core::client::https::HttpsClient;
use skiff_core::client::Client;
use skiff_core::runtime::leader::{LeaderElector, LeaseConfig, Outcome};
use skiff_sched::scheduler::{Scheduler, SchedulerConfig, SchedulerError};

/// The Lease the schedulers elect their leader with (`kube-system/{LEASE_NAME}`).
const LEASE_NAME: &str = "skiff-scheduler";
/// The namespace of that Lease.
const LEASE_NAMESPACE: &str = "kube-system";

/// How long releasing the Lease may take on the way out.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Flags of `skiff scheduler`, named as kube-scheduler's.
#[derive(Args, Debug)]
pub struct SchedulerArgs {
    /// Kubeconfig of the API server (such as DIR/admin.kubeconfig written by
    /// `skiff apiserver`, or one issued by `skiff kubeconfig`).
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// Schedule only while holding the kube-system/skiff-scheduler Lease, so several
    /// schedulers can run and one acts; the others take over within the lease
    /// duration (15 s) when it stops.
    #[arg(long)]
    pub leader_elect: bool,
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

/// Runs the scheduler until Ctrl-C or SIGTERM (or, with leader election, until
/// leadership is lost: it then exits with an error, as kube-scheduler does).
pub async fn run(args: SchedulerArgs) -> Result<(), SchedulerCmdError> {
    let client: Arc<dyn Client> = Arc::new(HttpsClient::from_kubeconfig(&args.kubeconfig)?);
    let scheduler = Scheduler::new(client.clone(), SchedulerConfig::default())?;
    tracing::info!(kubeconfig = %args.kubeconfig.display(), "scheduler starting");
    // On a signal the scheduling loop ends, so a leader releases its Lease and
    // another scheduler takes over at once.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let work = async move {
        scheduler
            .run(async move {
                let _ = stopped.await;
            })
            .await;
    };
    let elected = async move {
        if !args.leader_elect {
            work.await;
            return Ok(());
        }
        let identity = args
            .leader_elect_identity
            .unwrap_or_else(crate::controller_manager::default_identity);
        tracing::info!(%identity, "leader election on");
        let elector = LeaderElector::new(
            client,
            LEASE_NAMESPACE,
            LEASE_NAME,
            &identity,
            LeaseConfig::default(),
        );
        match elector.run(work).await {
            Outcome::LostLeadership => Err(SchedulerCmdError::LostLeadership),
            Outcome::WorkFinished => Ok(()),
        }
    };
    tokio::pin!(elected);
    tokio::select! {
        result = &mut elected => result,
        signal = crate::store::wait_for_signal() => {
            let signal = signal.map_err(SchedulerCmdError::Signal)?;
            tracing::info!(signal, "stopping");
            let _ = stop.send(());
            // A candidate still waiting for the Lease never finishes on its own.
            let _ = tokio::time::timeout(STOP_GRACE, elected).await;
            Ok(())
        }
    }
}
