//! The ReplicaSet controller: keeps `spec.replicas` pods matching the selector, adopts
//! orphans that match, releases pods that stop matching, and reports status.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use futures::StreamExt;
//! skiff_controllers::replicaset::run(client).for_each(|_| async {}).await;
//! # }
//! ```
//!
//! Pods are created from the template with `generateName: {rs}-` and a controller
//! owner reference (`blockOwnerDeletion: true`). Surplus pods are deleted in
//! Kubernetes' order: unscheduled before scheduled, pending before running, not ready
//! before ready, newer before older. [`Expectations`](crate::expectations) keep a
//! reconcile that sees a stale cache from creating or deleting twice.

pub(crate) mod rank;
mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use skiff_core::client::{Api, Client, ClientError, DeleteParams, PostParams};
use skiff_core::runtime::controller::{self, Action};
use skiff_core::runtime::events::{EventType, Recorder, Reporter};
use skiff_core::runtime::reflector::{self, index, Store, Writer};
use skiff_core::runtime::{watcher, Controller, ObjectRef};
use skiff_core::selector::LabelSelector;

use crate::expectations::Expectations;
use crate::pods;
use crate::slow_start::slow_start;

/// Pods created or deleted per reconcile at most (Kubernetes' `BurstReplicas`).
pub const BURST: usize = 500;

/// What a ReplicaSet reconcile failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The selector does not parse.
    #[error("invalid selector of {0}: {1}")]
    InvalidSelector(String, String),
    /// A client call failed.
    #[error("{action} for {rs}: {source}")]
    Client {
        /// What was being done.
        action: &'static str,
        /// The ReplicaSet.
        rs: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

/// What the reconciles share.
pub struct Context {
    client: Arc<dyn Client>,
    pods: Store<Pod>,
    expectations: Expectations,
    recorder: Recorder,
}

/// Runs the ReplicaSet controller; dropping the stream stops it.
pub fn run(
    client: Arc<dyn Client>,
) -> BoxStream<'static, Result<(ObjectRef, Action), controller::Error<Error>>> {
    let pod_writer = Writer::<Pod>::by_namespace();
    let pods = pod_writer.as_reader();
    let pod_events = reflector::watch_all(client.clone(), pod_writer);
    let ctl = Controller::<ReplicaSet>::new(client.clone(), None, watcher::Config::default());
    let sets = ctl.store();
    let ctx = Arc::new(Context {
        client: client.clone(),
        pods: pods.clone(),
        expectations: Expectations::default(),
        recorder: Recorder::new(client, Reporter::new("replicaset-controller")),
    });
    ctl.watches_stream(pod_events, move |pod: &Pod| {
        crate::adoption::owners_to_sync(pod, &sets, |rs: &ReplicaSet| {
            rs.spec.as_ref().map(|s| &s.selector)
        })
    })
    .concurrency(5)
    .run(reconcile, |_, _, _| Action::requeue_rate_limited(), ctx)
}

fn rs_name(rs: &ReplicaSet) -> String {
    ObjectRef::from_obj(rs).to_string()
}

/// Brings the pods of one ReplicaSet to its spec, then writes its status.
pub async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = ObjectRef::from_obj(rs.as_ref());
    let ns = key.namespace.clone().unwrap_or_default();
    let spec = rs.spec.clone().unwrap_or_default();
    let selector = LabelSelector::from_label_selector(&spec.selector)
        .map_err(|e| Error::InvalidSelector(rs_name(&rs), e.to_string()))?;
    let all = ctx.pods.by_index(index::NAMESPACE, &ns);
    let cached = |name: &str| {
        ctx.pods
            .get(&ObjectRef::new(name).within(&ns))
            .is_some_and(|p| p.metadata.deletion_timestamp.is_none())
    };
    let in_sync = ctx.expectations.satisfied(&key, cached);

    let deleting = rs.metadata.deletion_timestamp.is_some();
    let owned = crate::adoption::claim_pods(&ctx.client, rs.as_ref(), &all, &selector, |_| true)
        .await
        .map_err(|source| Error::Client {
            action: "adopting or releasing pods",
            rs: rs_name(&rs),
            source,
        })?;
    let active: Vec<Arc<Pod>> = owned
        .iter()
        .filter(|p| pods::is_active(p))
        .cloned()
        .collect();
    let mut failure = None;
    if in_sync && !deleting {
        failure = manage_replicas(&ctx, &rs, &key, &active).await?;
    }
    status::update(&ctx.client, &rs, &owned, failure.as_deref()).await?;

    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    if min_ready > 0
        && active.iter().any(|p| {
            pods::is_ready(p) && !pods::is_available(p, min_ready, skiff_core::runtime::now())
        })
    {
        return Ok(Action::requeue(Duration::from_secs(
            u64::try_from(min_ready).unwrap_or(1),
        )));
    }
    if !in_sync {
        // The cache will show our writes; their events queue us again. Check anyway.
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    Ok(Action::await_change())
}

/// Creates or deletes pods to reach `spec.replicas`. Returns a creation failure's
/// message, for the `ReplicaFailure` condition.
async fn manage_replicas(
    ctx: &Context,
    rs: &ReplicaSet,
    key: &ObjectRef,
    active: &[Arc<Pod>],
) -> Result<Option<String>, Error> {
    let spec = rs.spec.clone().unwrap_or_default();
    let want = usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
    let ns = key.namespace.clone().unwrap_or_default();
    let name = rs.metadata.name.clone().unwrap_or_default();
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let reference = Recorder::reference_of(rs);
    if active.len() < want {
        let template = spec.template.clone().unwrap_or_default();
        let count = (want - active.len()).min(BURST);
        let owner = pods::controller_ref(rs);
        // Doubling batches, as Kubernetes' slowStartBatch: a failing create stops early.
        let outcome = slow_start(count, |_| {
            let pod = pods::from_template(&template, &ns, &name, owner.clone(), &BTreeMap::new());
            let (pods_api, reference) = (&pods_api, &reference);
            async move {
                let created = pods_api.create(&pod, &PostParams::default()).await?;
                let pod_name = created.metadata.name.clone().unwrap_or_default();
                ctx.expectations.expect_creations(key, [pod_name.clone()]);
                let _ = ctx
                    .recorder
                    .publish(
                        reference,
                        EventType::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {pod_name}"),
                    )
                    .await;
                Ok::<_, ClientError>(())
            }
        })
        .await;
        if let Some(e) = outcome.error {
            let msg = e.to_string();
            let _ = ctx
                .recorder
                .publish(
                    &reference,
                    EventType::Warning,
                    "FailedCreate",
                    &format!("Error creating: {msg}"),
                )
                .await;
            return Ok(Some(msg));
        }
    } else if active.len() > want {
        let count = (active.len() - want).min(BURST);
        // All at once, as Kubernetes does.
        let deletions = rank::to_delete(active, count).into_iter().map(|pod| {
            let (pods_api, reference) = (&pods_api, &reference);
            async move {
                let pod_name = pod.metadata.name.clone().unwrap_or_default();
                let params = DeleteParams {
                    precondition_uid: pod.metadata.uid.clone(),
                    ..DeleteParams::default()
                };
                match pods_api.delete(&pod_name, &params).await {
                    Ok(_) => {
                        ctx.expectations.expect_deletions(key, [pod_name.clone()]);
                        let _ = ctx
                            .recorder
                            .publish(
                                reference,
                                EventType::Normal,
                                "SuccessfulDelete",
                                &format!("Deleted pod: {pod_name}"),
                            )
                            .await;
                        Ok(())
                    }
                    Err(e) if e.is_not_found() => Ok(()),
                    Err(source) => Err(Error::Client {
                        action: "deleting a pod",
                        rs: rs_name(rs),
                        source,
                    }),
                }
            }
        });
        for result in futures::future::join_all(deletions).await {
            result?;
        }
    }
    Ok(None)
}
