//! The DaemonSet controller: one pod on every node the pod template is eligible for
//! (node selector, required node affinity, taints and tolerations), placed the way
//! Kubernetes places it (required node affinity on the node's name, so the default
//! scheduler binds it), taken off nodes that go away or stop being eligible, updated
//! by `RollingUpdate` (`maxUnavailable`, `maxSurge`) or `OnDelete`, with its template
//! history in ControllerRevisions and a status that makes `kubectl rollout status
//! daemonset` finish.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use futures::StreamExt;
//! skiff_controllers::daemonset::run(client).for_each(|_| async {}).await;
//! # }
//! ```
//!
//! # Organization
//! - [`eligibility`]: whether a node should run the pod; the default tolerations.
//! - [`placement`]: the pod for a node, and the node a pod is for.
//! - [`plan`]: pods to create and delete, and rolling-update replacements (pure).
//! - [`status`]: the status from the nodes and pods.
//! - [`crate::revisions`]: the ControllerRevisions (shared with StatefulSets).
//!
//! Pods on a node that no longer exists are deleted by this controller (Kubernetes
//! leaves them to the pod garbage collector). Orphan pods matching the selector are
//! adopted.

pub mod eligibility;
pub mod placement;
pub mod plan;
pub mod status;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;
use skiff_core::client::{Api, Client, ClientError, DeleteParams, Patch, PatchParams, PostParams};
use skiff_core::runtime::controller::{self, Action};
use skiff_core::runtime::events::{EventType, Recorder, Reporter};
use skiff_core::runtime::reflector::{self, index, Store, Writer};
use skiff_core::runtime::{now, watcher, Controller, ObjectRef};
use skiff_core::selector::LabelSelector;

use crate::deployment::rollout::scaled_value;
use crate::expectations::Expectations;
use crate::pods;
use crate::revisions::{self, History, Owner, HASH_LABEL};
use plan::{DaemonPod, NodeState, Plan};

/// What a DaemonSet reconcile failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The selector does not parse, or selects everything.
    #[error("invalid selector of {0}: {1}")]
    InvalidSelector(String, String),
    /// Keeping the revision history failed.
    #[error("revisions of {ds}: {source}")]
    Revision {
        /// The DaemonSet.
        ds: String,
        /// What failed.
        #[source]
        source: revisions::Error,
    },
    /// A client call failed.
    #[error("{action} for {ds}: {source}")]
    Client {
        /// What was being done.
        action: &'static str,
        /// The DaemonSet.
        ds: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

/// What the reconciles share.
pub struct Context {
    client: Arc<dyn Client>,
    pods: Store<Pod>,
    nodes: Store<Node>,
    revisions: Store<ControllerRevision>,
    expectations: Expectations,
    recorder: Recorder,
}

/// Runs the DaemonSet controller; dropping the stream stops it.
pub fn run(
    client: Arc<dyn Client>,
) -> BoxStream<'static, Result<(ObjectRef, Action), controller::Error<Error>>> {
    let pod_writer = Writer::<Pod>::by_namespace();
    let pods = pod_writer.as_reader();
    let pod_events = reflector::watch_all(client.clone(), pod_writer);
    let node_writer = Writer::<Node>::default();
    let nodes = node_writer.as_reader();
    let node_events = reflector::watch_all(client.clone(), node_writer);
    let rev_writer = Writer::<ControllerRevision>::by_namespace();
    let revisions = rev_writer.as_reader();
    let rev_events = reflector::watch_all(client.clone(), rev_writer);
    let ctx = Arc::new(Context {
        client: client.clone(),
        pods,
        nodes,
        revisions,
        expectations: Expectations::default(),
        recorder: Recorder::new(client.clone(), Reporter::new("daemonset-controller")),
    });
    let ctl = Controller::<DaemonSet>::new(client, None, watcher::Config::default());
    let sets = ctl.store();
    // Any node change may change where every DaemonSet belongs.
    let pod_sets = sets.clone();
    ctl.watches_stream(pod_events, move |pod: &Pod| {
        crate::adoption::owners_to_sync(pod, &pod_sets, |ds: &DaemonSet| {
            ds.spec.as_ref().map(|s| &s.selector)
        })
    })
    .owns_stream(rev_events)
    .watches_stream(node_events, move |_: &Node| {
        sets.list()
            .iter()
            .map(|ds| ObjectRef::from_obj(ds.as_ref()))
            .collect()
    })
    .concurrency(5)
    .run(reconcile, |_, _, _| Action::requeue_rate_limited(), ctx)
}

fn name_of(ds: &DaemonSet) -> String {
    ObjectRef::from_obj(ds).to_string()
}

fn int_or_string(v: Option<&IntOrString>) -> Option<String> {
    v.map(|v| match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    })
}

/// Brings one DaemonSet's pods to its nodes and template, then writes its status.
pub async fn reconcile(ds: Arc<DaemonSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = ObjectRef::from_obj(ds.as_ref());
    if ds.metadata.deletion_timestamp.is_some() {
        ctx.expectations.forget(&key);
        return Ok(Action::await_change());
    }
    let dname = name_of(&ds);
    let name = ds.metadata.name.clone().unwrap_or_default();
    let ns = ds.metadata.namespace.clone().unwrap_or_default();
    let uid = ds.metadata.uid.clone().unwrap_or_default();
    let spec = ds.spec.clone().unwrap_or_default();
    let client_err = |action: &'static str| {
        let ds = dname.clone();
        move |source| Error::Client { action, ds, source }
    };
    let selector = LabelSelector::from_label_selector(&spec.selector)
        .map_err(|e| Error::InvalidSelector(dname.clone(), e.to_string()))?;
    if selector.is_everything() {
        return Err(Error::InvalidSelector(dname, "selects everything".into()));
    }

    let history = History::owned_by(&ctx.revisions, &ns, &uid);
    let owner = Owner {
        name: &name,
        namespace: &ns,
        reference: pods::controller_ref(ds.as_ref()),
        labels: spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default(),
        collision_count: ds.status.as_ref().and_then(|s| s.collision_count),
    };
    let data = revisions::template_data(&spec.template);
    let update = match revisions::ensure_newest(&ctx.client, &history, &owner, data.clone()).await {
        Ok(r) => r,
        Err(revisions::Error::HashCollision(_)) => {
            bump_collision_count(&ctx.client, &ds)
                .await
                .map_err(client_err("bumping collisionCount"))?;
            return Ok(Action::requeue(Duration::from_millis(100)));
        }
        Err(source) => return Err(Error::Revision { ds: dname, source }),
    };
    let hash = update
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(HASH_LABEL).cloned())
        .unwrap_or_else(|| revisions::hash_of(&owner, &data));

    let all = ctx.pods.by_index(index::NAMESPACE, &ns);
    let cached = |pod_name: &str| {
        all.iter().any(|p| {
            p.metadata.name.as_deref() == Some(pod_name) && p.metadata.deletion_timestamp.is_none()
        })
    };
    let in_sync = ctx.expectations.satisfied(&key, cached);
    let mut owned =
        crate::adoption::claim_pods(&ctx.client, ds.as_ref(), &all, &selector, |_| true)
            .await
            .map_err(client_err("adopting or releasing pods"))?;
    owned.sort_by_key(|p| {
        (
            p.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second()),
            p.metadata.name.clone(),
        )
    });
    let states = node_states(&ctx, &spec, &owned, &hash);
    let desired = i32::try_from(
        states
            .iter()
            .filter(|s| s.exists && s.eligibility.should_run)
            .count(),
    )
    .unwrap_or(i32::MAX);
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let rolling = strategy.type_.as_deref() != Some("OnDelete");
    let ru = strategy.rolling_update.unwrap_or_default();
    let surge = if rolling {
        scaled_value(
            int_or_string(ru.max_surge.as_ref()).as_deref(),
            desired,
            true,
            "0",
        )
    } else {
        0
    };
    let unavailable = scaled_value(
        int_or_string(ru.max_unavailable.as_ref()).as_deref(),
        desired,
        true,
        "1",
    );

    if in_sync {
        let mut steps = plan::manage(&states, surge);
        if steps.is_empty() && rolling {
            steps = plan::rolling_update(&states, unavailable, surge);
        }
        execute(&ctx, &ds, &key, &hash, &steps).await?;
    }

    let next = status::compute(&ds, &states);
    status::write(&ctx.client, &ds, &next)
        .await
        .map_err(client_err("updating status"))?;

    let hashes: HashSet<&str> = owned
        .iter()
        .filter_map(|p| p.metadata.labels.as_ref()?.get(HASH_LABEL))
        .map(String::as_str)
        .chain([hash.as_str()])
        .collect();
    let live: HashSet<String> = history
        .revisions
        .iter()
        .filter(|r| {
            r.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(HASH_LABEL))
                .is_some_and(|h| hashes.contains(h.as_str()))
        })
        .filter_map(|r| r.metadata.name.clone())
        .chain(update.metadata.name.clone())
        .collect();
    revisions::truncate(
        &ctx.client,
        &ns,
        &history,
        &live,
        spec.revision_history_limit.unwrap_or(10),
    )
    .await
    .map_err(|source| Error::Revision {
        ds: name_of(&ds),
        source,
    })?;

    if !in_sync {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    if min_ready > 0 && next.number_available.unwrap_or(0) < next.number_ready {
        return Ok(Action::requeue(Duration::from_secs(
            u64::try_from(min_ready).unwrap_or(1),
        )));
    }
    Ok(Action::requeue(Duration::from_secs(30)))
}

/// Every node with its eligibility and the set's pods on it, plus the nodes pods are
/// on that no longer exist.
fn node_states(
    ctx: &Context,
    spec: &k8s_openapi::api::apps::v1::DaemonSetSpec,
    owned: &[Arc<Pod>],
    hash: &str,
) -> Vec<NodeState> {
    let pod_spec = placement::daemon_spec(&spec.template);
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let t = now();
    let mut by_node: BTreeMap<String, Vec<DaemonPod>> = BTreeMap::new();
    for pod in owned {
        let node = placement::target_node(pod).unwrap_or_default();
        by_node.entry(node).or_default().push(DaemonPod {
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            updated: pod.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL))
                == Some(&hash.to_owned()),
            ready: pods::is_ready(pod),
            available: pods::is_available(pod, min_ready, t),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            failed: !pods::is_active(pod) && pod.metadata.deletion_timestamp.is_none(),
        });
    }
    let mut nodes = ctx.nodes.list();
    nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut states: Vec<NodeState> = nodes
        .iter()
        .filter_map(|n| {
            let node = n.metadata.name.clone()?;
            Some(NodeState {
                eligibility: eligibility::check(n, &pod_spec),
                pods: by_node.remove(&node).unwrap_or_default(),
                exists: true,
                node,
            })
        })
        .collect();
    states.extend(by_node.into_iter().map(|(node, pods)| NodeState {
        node,
        exists: false,
        eligibility: eligibility::Eligibility::default(),
        pods,
    }));
    states
}

/// Creates and deletes what `steps` says, recording expectations and events.
async fn execute(
    ctx: &Context,
    ds: &DaemonSet,
    key: &ObjectRef,
    hash: &str,
    steps: &Plan,
) -> Result<(), Error> {
    let ns = ds.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let reference = Recorder::reference_of(ds);
    let mut failure = None;
    for node in &steps.create_on {
        let pod = placement::new_pod(ds, hash, node);
        match api.create(&pod, &PostParams::default()).await {
            Ok(created) => {
                let pod_name = created.metadata.name.unwrap_or_default();
                ctx.expectations.expect_creations(key, [pod_name.clone()]);
                let _ = ctx
                    .recorder
                    .publish(
                        &reference,
                        EventType::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {pod_name}"),
                    )
                    .await;
            }
            Err(e) => {
                let _ = ctx
                    .recorder
                    .publish(
                        &reference,
                        EventType::Warning,
                        "FailedCreate",
                        &format!("Error creating: {e}"),
                    )
                    .await;
                failure = Some(e);
            }
        }
    }
    for (pod_name, pod_uid) in &steps.delete {
        let params = DeleteParams {
            precondition_uid: Some(pod_uid.clone()),
            ..DeleteParams::default()
        };
        match api.delete(pod_name, &params).await {
            Ok(_) => {
                ctx.expectations.expect_deletions(key, [pod_name.clone()]);
                let _ = ctx
                    .recorder
                    .publish(
                        &reference,
                        EventType::Normal,
                        "SuccessfulDelete",
                        &format!("Deleted pod: {pod_name}"),
                    )
                    .await;
            }
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(e) => failure = Some(e),
        }
    }
    match failure {
        None => Ok(()),
        Some(source) => Err(Error::Client {
            action: "creating or deleting daemon pods",
            ds: name_of(ds),
            source,
        }),
    }
}

async fn bump_collision_count(client: &Arc<dyn Client>, ds: &DaemonSet) -> Result<(), ClientError> {
    let count = ds
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0)
        + 1;
    let api: Api<DaemonSet> = Api::namespaced(
        client.clone(),
        ds.metadata.namespace.as_deref().unwrap_or_default(),
    );
    api.patch_status(
        ds.metadata.name.as_deref().unwrap_or_default(),
        &Patch::Merge(json!({"status": {"collisionCount": count}})),
        &PatchParams::default(),
    )
    .await
    .map(|_| ())
}
