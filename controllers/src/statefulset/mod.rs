//! The StatefulSet controller: pods with stable names `{set}-{ordinal}`, hostnames and
//! claims, created in order (`OrderedReady`) or all at once (`Parallel`), removed from
//! the highest ordinal down, updated by `RollingUpdate` (with a partition) or
//! `OnDelete`, with the template's history in ControllerRevisions and a status that
//! makes `kubectl rollout status statefulset` finish.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use futures::StreamExt;
//! skiff_controllers::statefulset::run(client).for_each(|_| async {}).await;
//! # }
//! ```
//!
//! # Organization
//! - [`identity`]: pod and claim names, identity labels, the pod from a template.
//! - [`plan`]: which pod to create, delete or replace next (pure).
//! - [`claims`]: creating claims and the retention policy.
//! - [`status`]: the status from the pods.
//! - [`crate::revisions`]: the ControllerRevisions (shared with DaemonSets).
//!
//! Orphan pods named for the set and matching its selector are adopted.
//! `spec.ordinals.start` shifts the ordinals. Not done: adopting orphan claims,
//! `rollingUpdate.maxUnavailable` (updates go one pod at a time).

pub mod claims;
pub mod identity;
pub mod plan;
pub mod status;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use skiff_core::client::{Api, Client, ClientError, DeleteParams, Patch, PatchParams, PostParams};
use skiff_core::runtime::controller::{self, Action};
use skiff_core::runtime::events::{EventType, Recorder, Reporter};
use skiff_core::runtime::reflector::{self, index, Store, Writer};
use skiff_core::runtime::{watcher, Controller, ObjectRef};
use skiff_core::selector::LabelSelector;

use crate::pods;
use crate::revisions::{self, History, Owner};
use plan::{PodView, Policy, Step};

/// What a StatefulSet reconcile failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The selector does not parse, or selects everything.
    #[error("invalid selector of {0}: {1}")]
    InvalidSelector(String, String),
    /// Keeping the revision history failed.
    #[error("revisions of {set}: {source}")]
    Revision {
        /// The StatefulSet.
        set: String,
        /// What failed.
        #[source]
        source: revisions::Error,
    },
    /// A client call failed.
    #[error("{action} for {set}: {source}")]
    Client {
        /// What was being done.
        action: &'static str,
        /// The StatefulSet.
        set: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

/// What the reconciles share.
pub struct Context {
    client: Arc<dyn Client>,
    pods: Store<Pod>,
    revisions: Store<ControllerRevision>,
    recorder: Recorder,
}

/// Runs the StatefulSet controller; dropping the stream stops it.
pub fn run(
    client: Arc<dyn Client>,
) -> BoxStream<'static, Result<(ObjectRef, Action), controller::Error<Error>>> {
    let pod_writer = Writer::<Pod>::by_namespace();
    let pods = pod_writer.as_reader();
    let pod_events = reflector::watch_all(client.clone(), pod_writer);
    let rev_writer = Writer::<ControllerRevision>::by_namespace();
    let revisions = rev_writer.as_reader();
    let rev_events = reflector::watch_all(client.clone(), rev_writer);
    let ctx = Arc::new(Context {
        client: client.clone(),
        pods,
        revisions,
        recorder: Recorder::new(client.clone(), Reporter::new("statefulset-controller")),
    });
    let ctl = Controller::<StatefulSet>::new(client, None, watcher::Config::default());
    let sets = ctl.store();
    ctl.watches_stream(pod_events, move |pod: &Pod| {
        crate::adoption::owners_to_sync(pod, &sets, |s: &StatefulSet| {
            s.spec.as_ref().map(|s| &s.selector)
        })
    })
    .owns_stream(rev_events)
    .concurrency(5)
    .run(reconcile, |_, _, _| Action::requeue_rate_limited(), ctx)
}

fn name_of(set: &StatefulSet) -> String {
    ObjectRef::from_obj(set).to_string()
}

/// Takes the next steps toward one StatefulSet's spec, then writes its status.
pub async fn reconcile(set: Arc<StatefulSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    if set.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let sname = name_of(&set);
    let name = set.metadata.name.clone().unwrap_or_default();
    let ns = set.metadata.namespace.clone().unwrap_or_default();
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let spec = set.spec.clone().unwrap_or_default();
    let client_err = |action: &'static str| {
        let set = sname.clone();
        move |source| Error::Client {
            action,
            set,
            source,
        }
    };
    let selector = LabelSelector::from_label_selector(&spec.selector)
        .map_err(|e| Error::InvalidSelector(sname.clone(), e.to_string()))?;
    if selector.is_everything() {
        return Err(Error::InvalidSelector(sname, "selects everything".into()));
    }

    // Revisions: the update revision is the spec's template; the current one is what
    // the status says until a rolling update completes.
    let history = History::owned_by(&ctx.revisions, &ns, &uid);
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let owner = Owner {
        name: &name,
        namespace: &ns,
        reference: pods::controller_ref(set.as_ref()),
        labels: template_labels,
        collision_count: set.status.as_ref().and_then(|s| s.collision_count),
    };
    let update = match revisions::ensure_newest(
        &ctx.client,
        &history,
        &owner,
        revisions::template_data(&spec.template),
    )
    .await
    {
        Ok(r) => r,
        Err(revisions::Error::HashCollision(_)) => {
            bump_collision_count(&ctx.client, &set)
                .await
                .map_err(client_err("bumping collisionCount"))?;
            return Ok(Action::requeue(Duration::from_millis(100)));
        }
        Err(source) => return Err(Error::Revision { set: sname, source }),
    };
    let update_name = update.metadata.name.clone().unwrap_or_default();
    let current = set
        .status
        .as_ref()
        .and_then(|s| s.current_revision.as_deref())
        .and_then(|n| history.by_name(n));
    let current_name = current
        .and_then(|r| r.metadata.name.clone())
        .unwrap_or_else(|| update_name.clone());
    let current_template = current
        .and_then(|r| revisions::template_of(r))
        .unwrap_or_else(|| spec.template.clone());

    let candidates = ctx.pods.by_index(index::NAMESPACE, &ns);
    let owned = crate::adoption::claim_pods(
        &ctx.client,
        set.as_ref(),
        &candidates,
        &selector,
        |pod: &Pod| {
            pod.metadata
                .name
                .as_deref()
                .is_some_and(|n| identity::ordinal_of(&name, n).is_some())
        },
    )
    .await
    .map_err(client_err("adopting or releasing pods"))?;
    let views: Vec<PodView> = owned
        .iter()
        .filter_map(|p| {
            let pod_name = p.metadata.name.clone()?;
            Some(PodView {
                ordinal: identity::ordinal_of(&name, &pod_name)?,
                name: pod_name,
                uid: p.metadata.uid.clone().unwrap_or_default(),
                revision: identity::revision_of(p).unwrap_or_default().to_owned(),
                terminating: p.metadata.deletion_timestamp.is_some(),
                failed: !pods::is_active(p) && p.metadata.deletion_timestamp.is_none(),
                healthy: status::running_and_ready(p),
            })
        })
        .collect();
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let partition = match strategy.type_.as_deref() {
        Some("OnDelete") => None,
        _ => Some(
            strategy
                .rolling_update
                .and_then(|r| r.partition)
                .map_or(0, |p| usize::try_from(p).unwrap_or(0)),
        ),
    };
    let policy = Policy {
        replicas: usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0),
        start: spec
            .ordinals
            .as_ref()
            .and_then(|o| o.start)
            .map_or(0, |s| usize::try_from(s).unwrap_or(0)),
        ordered: spec.pod_management_policy.as_deref() != Some("Parallel"),
        partition,
        update_revision: update_name.clone(),
    };
    let steps = plan::plan(&policy, &views);
    let reference = Recorder::reference_of(set.as_ref());
    for step in &steps {
        match step {
            Step::Create { ordinal, current } => {
                claims::ensure(&ctx.client, &set, *ordinal)
                    .await
                    .map_err(client_err("creating claims"))?;
                let (template, revision) = if *current {
                    (&current_template, &current_name)
                } else {
                    (&spec.template, &update_name)
                };
                let pod = identity::new_pod(&set, template, revision, *ordinal);
                let pod_name = pod.metadata.name.clone().unwrap_or_default();
                let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
                match api.create(&pod, &PostParams::default()).await {
                    Ok(_) => {
                        let msg = format!("create Pod {pod_name} in StatefulSet {name} successful");
                        let _ = ctx
                            .recorder
                            .publish(&reference, EventType::Normal, "SuccessfulCreate", &msg)
                            .await;
                    }
                    // Created already; the cache has not shown it yet.
                    Err(e) if e.is_conflict() => {}
                    Err(e) => {
                        let msg = format!(
                            "create Pod {pod_name} in StatefulSet {name} failed error: {e}"
                        );
                        let _ = ctx
                            .recorder
                            .publish(&reference, EventType::Warning, "FailedCreate", &msg)
                            .await;
                        return Err(client_err("creating a pod")(e));
                    }
                }
            }
            Step::Delete {
                name: pod_name,
                uid: pod_uid,
                reason,
            } => {
                if *reason == "condemned" && claims::Retention::of(&set).delete_on_scale_down {
                    if let Some((pod, ordinal)) = owned
                        .iter()
                        .find(|p| p.metadata.uid.as_deref() == Some(pod_uid.as_str()))
                        .and_then(|p| Some((p, identity::ordinal_of(&name, pod_name)?)))
                    {
                        claims::hand_to_pod(&ctx.client, &set, pod, ordinal)
                            .await
                            .map_err(client_err("handing claims to a condemned pod"))?;
                    }
                }
                let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
                let params = DeleteParams {
                    precondition_uid: Some(pod_uid.clone()),
                    ..DeleteParams::default()
                };
                match api.delete(pod_name, &params).await {
                    Ok(_) => {
                        let msg = format!("delete Pod {pod_name} in StatefulSet {name} successful");
                        let _ = ctx
                            .recorder
                            .publish(&reference, EventType::Normal, "SuccessfulDelete", &msg)
                            .await;
                    }
                    Err(e) if e.is_not_found() || e.is_conflict() => {}
                    Err(e) => return Err(client_err("deleting a pod")(e)),
                }
            }
        }
    }

    let next = status::compute(&set, &owned, &current_name, &update_name);
    status::write(&ctx.client, &set, &next)
        .await
        .map_err(client_err("updating status"))?;

    let mut live: HashSet<String> = owned
        .iter()
        .filter_map(|p| identity::revision_of(p).map(str::to_owned))
        .collect();
    live.insert(update_name);
    live.insert(current_name);
    revisions::truncate(
        &ctx.client,
        &ns,
        &history,
        &live,
        spec.revision_history_limit.unwrap_or(10),
    )
    .await
    .map_err(|source| Error::Revision {
        set: name_of(&set),
        source,
    })?;

    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    if min_ready > 0 && next.available_replicas < next.ready_replicas {
        return Ok(Action::requeue(Duration::from_secs(
            u64::try_from(min_ready).unwrap_or(1),
        )));
    }
    // Pod events bring us back; a slow resync covers anything missed.
    Ok(Action::requeue(Duration::from_secs(30)))
}

async fn bump_collision_count(
    client: &Arc<dyn Client>,
    set: &StatefulSet,
) -> Result<(), ClientError> {
    let count = set
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0)
        + 1;
    let api: Api<StatefulSet> = Api::namespaced(
        client.clone(),
        set.metadata.namespace.as_deref().unwrap_or_default(),
    );
    api.patch_status(
        set.metadata.name.as_deref().unwrap_or_default(),
        &Patch::Merge(json!({"status": {"collisionCount": count}})),
        &PatchParams::default(),
    )
    .await
    .map(|_| ())
}
