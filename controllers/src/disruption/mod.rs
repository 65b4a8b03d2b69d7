//! The disruption controller: keeps each PodDisruptionBudget's status
//! (`currentHealthy`, `desiredHealthy`, `disruptionsAllowed`, `expectedPods`,
//! `disruptedPods`, `observedGeneration`, the `DisruptionAllowed` condition) in step
//! with the pods its selector matches. The API server's eviction subresource reads
//! and decrements `disruptionsAllowed`.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use futures::StreamExt;
//! skiff_controllers::disruption::run(client).for_each(|_| async {}).await;
//! # }
//! ```
//!
//! - `minAvailable: N`: N must be healthy, of the matching pods.
//! - `minAvailable: P%` or `maxUnavailable` (N or P%): counted against the replicas
//!   of the pods' controllers ([`expected`]); a pod without one makes the budget
//!   allow no disruption (condition reason `SyncFailed`), as in Kubernetes.
//! - Healthy: ready, not terminating, and not evicted in the last two minutes
//!   (`disruptedPods`, which the controller prunes once the pods go).
//! - A budget without a selector selects no pods; an empty selector, all of its
//!   namespace.

pub mod budget;
pub mod expected;

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use skiff_core::client::{Api, Client, ClientError, ObjectTarget, PostParams, ResourceRef};
use skiff_core::runtime::controller::{self, Action};
use skiff_core::runtime::reflector::{self, index, Store, Writer};
use skiff_core::runtime::{watcher, Clock, Controller, ObjectRef, SystemClock};
use skiff_core::selector::LabelSelector;

/// How often a budget counted against its controllers' scale is recomputed (their
/// replicas can change without a pod event).
pub const SCALE_RECHECK: Duration = Duration::from_secs(30);

/// What a reconcile of a budget failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing the status failed.
    #[error("updating the status of budget {0}: {1}")]
    Client(String, #[source] ClientError),
}

/// What the reconciles share.
pub struct Context {
    client: Arc<dyn Client>,
    pods: Store<Pod>,
    clock: Arc<dyn Clock>,
}

/// Runs the disruption controller; dropping the stream stops it.
pub fn run(
    client: Arc<dyn Client>,
) -> BoxStream<'static, Result<(ObjectRef, Action), controller::Error<Error>>> {
    let pod_writer = Writer::<Pod>::by_namespace();
    let pods = pod_writer.as_reader();
    let pod_events = reflector::watch_all(client.clone(), pod_writer);
    let pdb_writer = Writer::<PodDisruptionBudget>::by_namespace();
    let budgets = pdb_writer.as_reader();
    let pdb_target = ObjectTarget::collection(&ResourceRef::of::<PodDisruptionBudget>(), None);
    let pdb_events = watcher::watcher::<PodDisruptionBudget>(
        client.clone(),
        pdb_target,
        watcher::Config::default(),
    );
    let ctx = Arc::new(Context {
        client: client.clone(),
        pods,
        clock: Arc::new(SystemClock),
    });
    Controller::for_stream(
        client,
        pdb_writer,
        pdb_events,
        "PodDisruptionBudget",
        "policy",
    )
    // Every budget of the pod's namespace: cheap, and right when labels change.
    .watches_stream(pod_events, move |pod: &Pod| {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        budgets
            .by_index(index::NAMESPACE, &ns)
            .iter()
            .map(|b| ObjectRef::from_obj(b.as_ref()))
            .collect()
    })
    .concurrency(2)
    .run(reconcile, |_, _, _| Action::requeue_rate_limited(), ctx)
}

/// The pods of the budget's namespace its selector matches; `Err` with a message
/// when the selector does not parse.
fn selected(pdb: &PodDisruptionBudget, pods: &Store<Pod>) -> Result<Vec<Arc<Pod>>, String> {
    let Some(selector) = pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return Ok(Vec::new());
    };
    let selector = LabelSelector::from_label_selector(selector).map_err(|e| e.to_string())?;
    let ns = pdb.metadata.namespace.clone().unwrap_or_default();
    Ok(pods
        .by_index(index::NAMESPACE, &ns)
        .into_iter()
        .filter(|p| selector.matches(&p.metadata.labels.clone().unwrap_or_default()))
        .collect())
}

/// Recomputes the budget's status and writes it when it changed.
pub async fn reconcile(pdb: Arc<PodDisruptionBudget>, ctx: Arc<Context>) -> Result<Action, Error> {
    if pdb.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let now = ctx.clock.now();
    let spec = pdb.spec.clone().unwrap_or_default();
    let ns = pdb.metadata.namespace.clone().unwrap_or_default();
    let computed = match selected(&pdb, &ctx.pods) {
        Err(e) => Err(format!("invalid selector: {e}")),
        Ok(pods) => {
            let scale = if budget::needs_controller_scale(&spec) {
                match expected::expected_scale(&ctx.client, &ns, &pods).await {
                    Ok(s) => Ok(Some(s)),
                    Err(e) => Err(e.to_string()),
                }
            } else {
                Ok(None)
            };
            let count = i32::try_from(pods.len()).unwrap_or(i32::MAX);
            scale
                .and_then(|scale| budget::desired_healthy(&spec, scale, count))
                .map(|(expected, desired)| budget::status(&pdb, &pods, expected, desired, now))
        }
    };
    let (status, recheck) = match computed {
        Ok((status, recheck)) => (status, recheck),
        Err(message) => {
            tracing::debug!(budget = %ObjectRef::from_obj(pdb.as_ref()), %message, "budget fails safe");
            (budget::failsafe(&pdb, &message, now), None)
        }
    };
    if pdb.status.as_ref() != Some(&status) {
        let mut next = (*pdb).clone();
        next.status = Some(status);
        let name = pdb.metadata.name.clone().unwrap_or_default();
        let api: Api<PodDisruptionBudget> = Api::namespaced(ctx.client.clone(), &ns);
        match api
            .replace_status(&name, &next, &PostParams::default())
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(Action::await_change()),
            Err(e) => {
                return Err(Error::Client(
                    ObjectRef::from_obj(pdb.as_ref()).to_string(),
                    e,
                ))
            }
        }
    }
    let mut after = budget::needs_controller_scale(&spec).then_some(SCALE_RECHECK);
    if let Some(at) = recheck {
        let wait = u64::try_from(at - now.as_millisecond()).unwrap_or(0);
        let wait = Duration::from_millis(wait);
        after = Some(after.map_or(wait, |a| a.min(wait)));
    }
    Ok(after.map_or_else(Action::await_change, Action::requeue))
}
