//! Leader election on `coordination.k8s.io/v1` Leases, as client-go's
//! `leaderelection` does it: so that of several copies of a controller manager only
//! one acts, and another takes over within the lease duration when it dies.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use skiff_core::runtime::leader::{LeaderElector, LeaseConfig};
//! let elector = LeaderElector::new(client, "kube-system", "skiff-controller-manager", "host-a", LeaseConfig::default());
//! // Runs the work while this process leads; returns when leadership is lost.
//! let outcome = elector.run(async { /* run the controllers */ }).await;
//! println!("{outcome:?}");
//! # }
//! ```
//!
//! # How it works
//! - A candidate reads the Lease. It takes it when there is none (create), when it
//!   already holds it, or when the holder has not renewed it for `lease_duration`
//!   *as observed locally* (the candidate notes when the lease record last changed,
//!   so clocks need not agree). Every write carries the Lease's `resourceVersion`, so
//!   of two candidates racing for an expired lease only one wins (the other gets 409).
//! - The leader renews every `retry_period`; if it cannot renew for `renew_deadline`
//!   it stops its work (before anybody else may take over, since
//!   `renew_deadline < lease_duration`).
//! - On a clean stop the leader releases the lease so another takes over at once.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use tokio::time::Instant;

use crate::client::{Api, Client, ClientError, PostParams};

/// Timings of the election (Kubernetes' defaults: 15s, 10s, 2s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// How long a lease not renewed keeps others out.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up leading.
    pub renew_deadline: Duration,
    /// How often candidates try to acquire and the leader renews.
    pub retry_period: Duration,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Why [`LeaderElector::run`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The work finished while leading; the lease was released.
    WorkFinished,
    /// Renewing failed for the renew deadline; the work was stopped.
    LostLeadership,
}

/// What a lease operation failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the Lease failed.
    #[error("lease {0}: {1}")]
    Lease(String, #[source] ClientError),
}

/// The lease record as last seen, and when it was first seen locally.
struct Observed {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    at: Instant,
}

/// One candidate in an election.
pub struct LeaderElector {
    leases: Api<Lease>,
    name: String,
    identity: String,
    config: LeaseConfig,
    observed: Option<Observed>,
}

fn now() -> MicroTime {
    MicroTime(super::now())
}

impl LeaderElector {
    /// A candidate named `identity` for the Lease `namespace/name`.
    pub fn new(
        client: Arc<dyn Client>,
        namespace: &str,
        name: &str,
        identity: &str,
        config: LeaseConfig,
    ) -> Self {
        LeaderElector {
            leases: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            config,
            observed: None,
        }
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    fn spec(&self, acquire: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        let secs = i32::try_from(self.config.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(secs),
            acquire_time: acquire,
            renew_time: Some(now()),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One attempt to acquire or renew. `Ok(true)` when this candidate holds the lease
    /// afterwards.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, Error> {
        let err = |e| Error::Lease(self.name.clone(), e);
        let Some(mut lease) = self.leases.get_opt(&self.name).await.map_err(err)? else {
            let mut lease = Lease::default();
            lease.metadata.name = Some(self.name.clone());
            lease.spec = Some(self.spec(Some(now()), 0));
            return match self.leases.create(&lease, &PostParams::default()).await {
                Ok(created) => {
                    self.observe(&created);
                    Ok(true)
                }
                Err(e) if e.is_conflict() => Ok(false),
                Err(e) => Err(Error::Lease(self.name.clone(), e)),
            };
        };
        self.observe(&lease);
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let held_by_me = holder.as_deref() == Some(self.identity.as_str());
        if !held_by_me && holder.is_some() {
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map_or(self.config.lease_duration, Duration::from_secs);
            let seen = self.observed.as_ref().map_or_else(Instant::now, |o| o.at);
            if seen.elapsed() < duration {
                return Ok(false);
            }
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        lease.spec = Some(if held_by_me {
            self.spec(spec.acquire_time.clone(), transitions)
        } else {
            self.spec(Some(now()), transitions.saturating_add(1))
        });
        // The resourceVersion read above makes this a compare-and-swap.
        match self
            .leases
            .replace(&self.name, &lease, &PostParams::default())
            .await
        {
            Ok(updated) => {
                self.observe(&updated);
                Ok(true)
            }
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(Error::Lease(self.name.clone(), e)),
        }
    }

    fn observe(&mut self, lease: &Lease) {
        let spec = lease.spec.as_ref();
        let holder = spec.and_then(|s| s.holder_identity.clone());
        let renew_time = spec.and_then(|s| s.renew_time.clone());
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|o| o.holder != holder || o.renew_time != renew_time);
        if changed {
            self.observed = Some(Observed {
                holder,
                renew_time,
                at: Instant::now(),
            });
        }
    }

    /// Waits until this candidate holds the lease (retrying every retry period).
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "acquiring the lease failed"),
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Keeps renewing until a renewal has failed for the renew deadline.
    async fn renew_until_lost(&mut self) {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let attempt =
                tokio::time::timeout(self.config.renew_deadline, self.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(true)) => last_renewed = Instant::now(),
                Ok(Ok(false)) => return,
                Ok(Err(e)) => tracing::warn!(error = %e, "renewing the lease failed"),
                Err(_) => tracing::warn!("renewing the lease timed out"),
            }
            if last_renewed.elapsed() >= self.config.renew_deadline {
                return;
            }
        }
    }

    /// Releases the lease if this candidate holds it (another may take it at once).
    pub async fn release(&mut self) -> Result<(), Error> {
        let Some(mut lease) = self
            .leases
            .get_opt(&self.name)
            .await
            .map_err(|e| Error::Lease(self.name.clone(), e))?
        else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        self.leases
            .replace(&self.name, &lease, &PostParams::default())
            .await
            .map(|_| ())
            .map_err(|e| Error::Lease(self.name.clone(), e))
    }

    /// Acquires the lease, then runs `work` while renewing it. Stops `work` when
    /// leadership is lost; releases the lease when `work` finishes.
    pub async fn run<F: std::future::Future>(mut self, work: F) -> Outcome {
        self.acquire().await;
        tracing::info!(identity = %self.identity, lease = %self.name, "became the leader");
        let outcome = tokio::select! {
            _ = work => Outcome::WorkFinished,
            _ = self.renew_until_lost() => Outcome::LostLeadership,
        };
        if outcome == Outcome::WorkFinished {
            if let Err(e) = self.release().await {
                tracing::warn!(error = %e, "releasing the lease failed");
            }
        } else {
            tracing::warn!(identity = %self.identity, "lost the lease; stopping");
        }
        outcome
    }
}
