//! The Deployment controller: a ReplicaSet per pod template (named
//! `{deployment}-{pod-template-hash}`), rolled out with `RollingUpdate`
//! (`maxSurge`/`maxUnavailable`) or `Recreate`, revisions in the
//! `deployment.kubernetes.io/revision` annotation, old ReplicaSets pruned to
//! `revisionHistoryLimit`, pause, and a status that makes `kubectl rollout status`
//! finish (with the `Available` and `Progressing` conditions).
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use futures::StreamExt;
//! skiff_controllers::deployment::run(client).for_each(|_| async {}).await;
//! # }
//! ```
//!
//! `kubectl rollout undo` works: kubectl copies the old ReplicaSet's template into the
//! Deployment, and this controller finds that ReplicaSet again (same hash) and gives it
//! the next revision.

pub mod hash;
pub mod rollout;
pub mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector as MetaSelector, ObjectMeta};
use serde_json::json;
use skiff_core::client::{Api, Client, ClientError, DeleteParams, Patch, PatchParams, PostParams};
use skiff_core::runtime::controller::{self, Action};
use skiff_core::runtime::events::{EventType, Recorder, Reporter};
use skiff_core::runtime::reflector::{index, Store, Writer};
use skiff_core::runtime::{controller_of, now, reflector, watcher, Controller, ObjectRef};
use skiff_core::selector::LabelSelector;

use crate::pods;
use rollout::Rs;

/// The revision annotation on Deployments and their ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The desired-replicas annotation on ReplicaSets.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The max-replicas annotation on ReplicaSets.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// What a Deployment reconcile failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The selector does not parse, or selects everything.
    #[error("invalid selector of {0}: {1}")]
    InvalidSelector(String, String),
    /// A client call failed.
    #[error("{action} for {deployment}: {source}")]
    Client {
        /// What was being done.
        action: &'static str,
        /// The Deployment.
        deployment: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

/// What the reconciles share.
pub struct Context {
    client: Arc<dyn Client>,
    sets: Store<ReplicaSet>,
    recorder: Recorder,
}

/// Runs the Deployment controller; dropping the stream stops it.
pub fn run(
    client: Arc<dyn Client>,
) -> BoxStream<'static, Result<(ObjectRef, Action), controller::Error<Error>>> {
    let writer = Writer::<ReplicaSet>::by_namespace();
    let sets = writer.as_reader();
    let rs_events = reflector::watch_all(client.clone(), writer);
    let ctx = Arc::new(Context {
        client: client.clone(),
        sets,
        recorder: Recorder::new(client.clone(), Reporter::new("deployment-controller")),
    });
    Controller::<Deployment>::new(client, None, watcher::Config::default())
        .owns_stream(rs_events)
        .concurrency(5)
        .run(reconcile, |_, _, _| Action::requeue_rate_limited(), ctx)
}

fn name_of(d: &Deployment) -> String {
    ObjectRef::from_obj(d).to_string()
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn as_rs(rs: &ReplicaSet) -> Rs {
    Rs {
        name: rs.metadata.name.clone().unwrap_or_default(),
        replicas: replicas(rs),
        available: rs
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0),
    }
}

/// Rolls one Deployment forward by a step, then writes its status.
pub async fn reconcile(d: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, Error> {
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let dname = name_of(&d);
    let ns = d.metadata.namespace.clone().unwrap_or_default();
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let spec = d.spec.clone().unwrap_or_default();
    let selector = LabelSelector::from_label_selector(&spec.selector)
        .map_err(|e| Error::InvalidSelector(dname.clone(), e.to_string()))?;
    if selector.is_everything() {
        return Err(Error::InvalidSelector(dname, "selects everything".into()));
    }
    let want = spec.replicas.unwrap_or(1);
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let client_err = |action: &'static str| {
        let deployment = dname.clone();
        move |source| Error::Client {
            action,
            deployment,
            source,
        }
    };

    let mut owned: Vec<Arc<ReplicaSet>> = ctx
        .sets
        .by_index(index::NAMESPACE, &ns)
        .into_iter()
        .filter(|rs| controller_of(&rs.metadata).is_some_and(|c| c.uid == uid))
        .collect();
    owned.sort_by_key(|rs| {
        (
            revision(rs),
            rs.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second()),
        )
    });
    let template = spec.template.clone();
    let mut new_rs = owned.iter().find(|rs| {
        rs.spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .is_some_and(|t| hash::equal_ignoring_hash(t, &template))
    });
    let old: Vec<Arc<ReplicaSet>> = owned
        .iter()
        .filter(|rs| new_rs.is_none_or(|n| n.metadata.uid != rs.metadata.uid))
        .cloned()
        .collect();
    let max_revision = owned.iter().map(|rs| revision(rs)).max().unwrap_or(0);
    let strategy = spec.strategy.clone().unwrap_or_default();
    let recreate = strategy.type_.as_deref() == Some("Recreate");
    let rolling = strategy.rolling_update.clone().unwrap_or_default();
    let as_str = |v: &Option<k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>| {
        v.as_ref().map(|v| match v {
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i) => i.to_string(),
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
        })
    };
    let (surge, max_unavailable) = if recreate {
        (0, want)
    } else {
        rollout::resolve_fenceposts(
            as_str(&rolling.max_surge).as_deref(),
            as_str(&rolling.max_unavailable).as_deref(),
            want,
        )
    };
    let paused = spec.paused == Some(true);
    let mut progress: Option<&str> = None;
    let mut created: Option<ReplicaSet> = None;

    if !paused {
        // The new ReplicaSet: create it, or give it the newest revision.
        let old_total: i32 = old.iter().map(|r| replicas(r)).sum();
        let old_running: i32 = old
            .iter()
            .map(|r| r.status.as_ref().map_or(0, |s| s.replicas))
            .sum();
        match new_rs {
            None => {
                let initial = if recreate {
                    if old_total == 0 && old_running == 0 {
                        want
                    } else {
                        0
                    }
                } else {
                    rollout::new_rs_replicas(want, surge, 0, old_total)
                };
                let rs = new_replica_set(&d, &template, initial, max_revision + 1, surge);
                match api.create(&rs, &PostParams::default()).await {
                    Ok(c) => {
                        let n = c.metadata.name.clone().unwrap_or_default();
                        let _ = ctx
                            .recorder
                            .publish(
                                &Recorder::reference_of(d.as_ref()),
                                EventType::Normal,
                                "ScalingReplicaSet",
                                &format!("Scaled up replica set {n} from 0 to {initial}"),
                            )
                            .await;
                        created = Some(c);
                        progress = Some(status::reason::NEW_RS_CREATED);
                    }
                    // A ReplicaSet of that name that is not ours (a hash collision) or
                    // ours but not cached yet: bump the collision count if not ours.
                    Err(e) if e.is_conflict() => {
                        if let Some(existing) = api
                            .get_opt(rs.metadata.name.as_deref().unwrap_or_default())
                            .await
                            .map_err(client_err("reading a replica set"))?
                        {
                            if controller_of(&existing.metadata).is_none_or(|c| c.uid != uid) {
                                bump_collision_count(&ctx, &d)
                                    .await
                                    .map_err(client_err("bumping collisionCount"))?;
                            }
                        }
                        return Ok(Action::requeue(Duration::from_millis(200)));
                    }
                    Err(e) => return Err(client_err("creating a replica set")(e)),
                }
            }
            Some(rs) => {
                let rs_revision = revision(rs);
                let target_replicas = if recreate {
                    if old_total == 0 && old_running == 0 {
                        want
                    } else {
                        replicas(rs)
                    }
                } else {
                    let all: i32 = old_total + replicas(rs);
                    rollout::new_rs_replicas(want, surge, replicas(rs), all)
                };
                let needs_revision = rs_revision < max_revision || rs_revision == 0;
                if target_replicas != replicas(rs) || needs_revision {
                    let revision = if needs_revision {
                        max_revision + 1
                    } else {
                        rs_revision
                    };
                    scale(
                        &ctx,
                        &api,
                        &d,
                        rs,
                        target_replicas,
                        Some(revision),
                        want,
                        surge,
                    )
                    .await
                    .map_err(client_err("scaling the new replica set"))?;
                    progress = Some(status::reason::RS_UPDATED);
                }
            }
        }
        // Old ReplicaSets: all the way down (Recreate) or within availability.
        let new_view = created
            .as_ref()
            .or(new_rs.map(|r| r.as_ref()))
            .map(as_rs)
            .unwrap_or(Rs {
                name: String::new(),
                replicas: 0,
                available: 0,
            });
        let plan: Vec<(String, i32)> = if recreate {
            old.iter()
                .filter(|r| replicas(r) > 0)
                .map(|r| (r.metadata.name.clone().unwrap_or_default(), 0))
                .collect()
        } else {
            let old_view: Vec<Rs> = old.iter().map(|r| as_rs(r)).collect();
            rollout::scale_down_old(want, max_unavailable, &new_view, &old_view)
        };
        for (name, to) in plan {
            if let Some(rs) = old
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(name.as_str()))
            {
                scale(&ctx, &api, &d, rs, to, None, want, surge)
                    .await
                    .map_err(client_err("scaling down an old replica set"))?;
                progress = progress.or(Some(status::reason::RS_UPDATED));
            }
        }
        cleanup(&api, &old, spec.revision_history_limit.unwrap_or(10))
            .await
            .map_err(client_err("pruning old replica sets"))?;
    }

    // The deployment's revision annotation follows its new ReplicaSet.
    if created.is_some() {
        new_rs = None;
    }
    let new_ref = created.as_ref().or(new_rs.map(|r| r.as_ref()));
    if let Some(r) = new_ref.map(revision).filter(|r| *r > 0) {
        let current = d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            .cloned();
        let wanted = if created.is_some() {
            max_revision + 1
        } else {
            r.max(max_revision)
        };
        if current.as_deref() != Some(wanted.to_string().as_str()) {
            let patch = json!({"metadata": {"annotations": {REVISION: wanted.to_string()}}});
            let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
            match deployments
                .patch(
                    d.metadata.name.as_deref().unwrap_or_default(),
                    &Patch::Merge(patch),
                    &PatchParams::default(),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() || e.is_conflict() => {}
                Err(e) => return Err(client_err("annotating the revision")(e)),
            }
        }
    }

    let all: Vec<&ReplicaSet> = owned
        .iter()
        .map(|r| r.as_ref())
        .chain(created.as_ref())
        .collect();
    let t = now();
    let next = status::compute(&d, new_ref, &all, max_unavailable, progress, t);
    let done = status::complete(&d, &next);
    if status::differs(&next, &d.status.clone().unwrap_or_default()) {
        // A merge patch, not a compare-and-swap: the revision annotation written above
        // has already moved the resourceVersion, and the status is all ours.
        let patch = json!({"status": next});
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
        match deployments
            .patch_status(
                d.metadata.name.as_deref().unwrap_or_default(),
                &Patch::Merge(patch),
                &PatchParams::default(),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(e) => return Err(client_err("updating status")(e)),
        }
    }
    if done || paused {
        return Ok(Action::await_change());
    }
    // Still rolling: check the progress deadline (and minReadySeconds) again later.
    let deadline = u64::try_from(spec.progress_deadline_seconds.unwrap_or(600)).unwrap_or(600);
    Ok(Action::requeue(Duration::from_secs(deadline.clamp(1, 10))))
}

/// The ReplicaSet of `template` for `d`.
fn new_replica_set(
    d: &Deployment,
    template: &k8s_openapi::api::core::v1::PodTemplateSpec,
    replicas: i32,
    revision: i64,
    surge: i32,
) -> ReplicaSet {
    let spec = d.spec.clone().unwrap_or_default();
    let collision = d.status.as_ref().and_then(|s| s.collision_count);
    let h = hash::template_hash(template, collision);
    let mut template = template.clone();
    let tmeta = template.metadata.get_or_insert_with(ObjectMeta::default);
    tmeta
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(hash::LABEL.into(), h.clone());
    let mut selector: MetaSelector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(hash::LABEL.into(), h.clone());
    let mut labels = tmeta.labels.clone().unwrap_or_default();
    labels.insert(hash::LABEL.into(), h.clone());
    let want = spec.replicas.unwrap_or(1);
    let annotations: BTreeMap<String, String> = [
        (REVISION.to_owned(), revision.to_string()),
        (DESIRED_REPLICAS.to_owned(), want.to_string()),
        (MAX_REPLICAS.to_owned(), (want + surge).to_string()),
    ]
    .into();
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}-{h}",
                d.metadata.name.clone().unwrap_or_default()
            )),
            namespace: d.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![pods::controller_ref(d)]),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    }
}

/// Sets a ReplicaSet's replicas (and revision), with an event.
#[allow(clippy::too_many_arguments)]
async fn scale(
    ctx: &Context,
    api: &Api<ReplicaSet>,
    d: &Deployment,
    rs: &ReplicaSet,
    to: i32,
    revision: Option<i64>,
    want: i32,
    surge: i32,
) -> Result<(), ClientError> {
    let mut annotations =
        json!({DESIRED_REPLICAS: want.to_string(), MAX_REPLICAS: (want + surge).to_string()});
    if let Some(r) = revision {
        annotations[REVISION] = json!(r.to_string());
    }
    let patch = json!({
        "metadata": {"annotations": annotations, "resourceVersion": rs.metadata.resource_version},
        "spec": {"replicas": to, "minReadySeconds": d.spec.as_ref().and_then(|s| s.min_ready_seconds)},
    });
    let name = rs.metadata.name.clone().unwrap_or_default();
    match api
        .patch(&name, &Patch::Merge(patch), &PatchParams::default())
        .await
    {
        Ok(_) => {}
        // The cache was behind; the newer version's event brings us back.
        Err(e) if e.is_conflict() || e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    }
    let from = replicas(rs);
    if from != to {
        let verb = if to > from { "up" } else { "down" };
        let _ = ctx
            .recorder
            .publish(
                &Recorder::reference_of(d),
                EventType::Normal,
                "ScalingReplicaSet",
                &format!("Scaled {verb} replica set {name} from {from} to {to}"),
            )
            .await;
    }
    Ok(())
}

/// Deletes the oldest fully scaled-down old ReplicaSets beyond `limit`.
async fn cleanup(
    api: &Api<ReplicaSet>,
    old: &[Arc<ReplicaSet>],
    limit: i32,
) -> Result<(), ClientError> {
    let idle: Vec<&Arc<ReplicaSet>> = old
        .iter()
        .filter(|r| {
            replicas(r) == 0
                && r.status.as_ref().is_none_or(|s| s.replicas == 0)
                && r.metadata.deletion_timestamp.is_none()
        })
        .collect();
    let limit = usize::try_from(limit.max(0)).unwrap_or(0);
    if idle.len() <= limit {
        return Ok(());
    }
    // `old` is sorted by revision, oldest first.
    for rs in &idle[..idle.len() - limit] {
        let params = DeleteParams {
            precondition_uid: rs.metadata.uid.clone(),
            ..DeleteParams::background()
        };
        match api
            .delete(rs.metadata.name.as_deref().unwrap_or_default(), &params)
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn bump_collision_count(ctx: &Context, d: &Deployment) -> Result<(), ClientError> {
    let count = d
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0)
        + 1;
    let api: Api<Deployment> = Api::namespaced(
        ctx.client.clone(),
        d.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let patch = json!({"status": {"collisionCount": count}});
    api.patch_status(
        d.metadata.name.as_deref().unwrap_or_default(),
        &Patch::Merge(patch),
        &PatchParams::default(),
    )
    .await
    .map(|_| ())
}
