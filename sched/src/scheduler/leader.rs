//! Running the scheduler only while holding the `kube-system/kube-scheduler` Lease,
//! so that of several scheduler replicas exactly one schedules, and another takes
//! over within the lease duration when it dies (kube-scheduler's `--leader-elect`).
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use skiff_core::runtime::leader::LeaseConfig;
//! use skiff_sched::scheduler::{RunOutcome, Scheduler, SchedulerConfig};
//! let scheduler = Scheduler::new(client, SchedulerConfig::default()).unwrap();
//! let shutdown = std::future::pending::<()>(); // e.g. a ctrl-c signal
//! let outcome = scheduler
//!     .run_with_leader_election("host-a", LeaseConfig::default(), shutdown)
//!     .await;
//! if outcome == RunOutcome::LostLeadership {
//!     std::process::exit(1); // as kube-scheduler: restart and campaign again
//! }
//! # }
//! ```

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use skiff_core::runtime::leader::{LeaderElector, LeaseConfig, Outcome};

use super::Scheduler;

/// The namespace of the scheduler's Lease.
pub const LEASE_NAMESPACE: &str = "kube-system";
/// The name of the scheduler's Lease (kube-scheduler's).
pub const LEASE_NAME: &str = "kube-scheduler";

/// Why a leader-elected run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// `shutdown` completed (the lease, if held, was released).
    Stopped,
    /// The lease could not be renewed in time; scheduling stopped. The process
    /// should exit (or build a new [`Scheduler`]) and campaign again.
    LostLeadership,
}

impl Scheduler {
    /// Campaigns for the Lease `kube-system/kube-scheduler` as `identity` and runs
    /// the scheduler (informers included) only while holding it. Returns when
    /// `shutdown` completes (releasing the lease) or when leadership is lost.
    pub async fn run_with_leader_election(
        &self,
        identity: &str,
        lease: LeaseConfig,
        shutdown: impl Future<Output = ()>,
    ) -> RunOutcome {
        let elector = LeaderElector::new(
            self.shared.client.clone(),
            LEASE_NAMESPACE,
            LEASE_NAME,
            identity,
            lease,
        );
        let leading = AtomicBool::new(false);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let work = async {
            leading.store(true, Ordering::SeqCst);
            self.run(async {
                let _ = stopped.await;
            })
            .await;
        };
        let elected = elector.run(work);
        tokio::pin!(elected);
        tokio::pin!(shutdown);
        tokio::select! {
            outcome = &mut elected => return match outcome {
                Outcome::WorkFinished => RunOutcome::Stopped,
                Outcome::LostLeadership => RunOutcome::LostLeadership,
            },
            _ = &mut shutdown => {}
        }
        if leading.load(Ordering::SeqCst) {
            // Stop the work; the elector then releases the lease.
            let _ = stop.send(());
            if elected.await == Outcome::LostLeadership {
                return RunOutcome::LostLeadership;
            }
        }
        RunOutcome::Stopped
    }
}
