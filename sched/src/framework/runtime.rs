//! [`Framework`]: one profile's plugins, built from the registry, and the functions
//! that run each extension point in order.
//!
//! ```
//! use std::sync::Arc;
//! use skiff_sched::framework::{Framework, Handle, Profile, WaitingPods};
//! # fn client() -> Arc<dyn skiff_core::client::Client> { unimplemented!() }
//! # fn run() {
//! let handle = Handle { client: client(), waiting_pods: WaitingPods::default() };
//! let fw = Framework::new(&Profile::default_profile(), &skiff_sched::plugins::default_registry(), &handle).unwrap();
//! assert_eq!(fw.scheduler_name(), "default-scheduler");
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use super::{
    parallel_map, ClusterEvent, CycleState, EnabledPlugin, ExtensionPoint, Handle, NodeScore,
    NodeStatuses, PermitWait, Plugin, PostFilterContext, PreFilterResult, Profile, Registry,
    RegistryError, Status, MAX_NODE_SCORE,
};
use crate::cache::{NodeInfo, NominatedPods, PodInfo, Snapshot};

/// The answer of the Permit point.
#[derive(Debug)]
pub enum PermitOutcome {
    /// Every plugin approved.
    Approved,
    /// Some plugins asked to wait; wait on this for at most the duration.
    Wait(PermitWait, Duration),
    /// A plugin rejected or failed.
    Rejected(Status),
}

/// One profile's plugins, ready to run.
pub struct Framework {
    scheduler_name: String,
    handle: Handle,
    percentage_of_nodes_to_score: Option<u32>,
    queue_sort: Option<Arc<dyn Plugin>>,
    pre_filter: Vec<Arc<dyn Plugin>>,
    filter: Vec<Arc<dyn Plugin>>,
    post_filter: Vec<Arc<dyn Plugin>>,
    pre_score: Vec<Arc<dyn Plugin>>,
    score: Vec<(Arc<dyn Plugin>, i64)>,
    reserve: Vec<Arc<dyn Plugin>>,
    permit: Vec<Arc<dyn Plugin>>,
    pre_bind: Vec<Arc<dyn Plugin>>,
    bind: Vec<Arc<dyn Plugin>>,
    post_bind: Vec<Arc<dyn Plugin>>,
    events: HashMap<String, Vec<ClusterEvent>>,
}

impl std::fmt::Debug for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names =
            |v: &[Arc<dyn Plugin>]| v.iter().map(|p| p.name().to_owned()).collect::<Vec<_>>();
        f.debug_struct("Framework")
            .field("scheduler_name", &self.scheduler_name)
            .field("filter", &names(&self.filter))
            .field(
                "score",
                &self
                    .score
                    .iter()
                    .map(|(p, w)| (p.name().to_owned(), *w))
                    .collect::<Vec<_>>(),
            )
            .field("bind", &names(&self.bind))
            .finish_non_exhaustive()
    }
}

fn enabled_at(e: &EnabledPlugin, point: ExtensionPoint) -> bool {
    !e.disabled_at.contains(&point)
}

impl Framework {
    /// Builds the plugins of `profile`. Refuses unknown plugins, weights below 1, two
    /// QueueSort plugins and a profile that cannot bind.
    pub fn new(
        profile: &Profile,
        registry: &Registry,
        handle: &Handle,
    ) -> Result<Framework, RegistryError> {
        let invalid = |message: String| RegistryError::InvalidProfile {
            profile: profile.scheduler_name.clone(),
            message,
        };
        let mut fw = Framework {
            scheduler_name: profile.scheduler_name.clone(),
            handle: handle.clone(),
            percentage_of_nodes_to_score: profile.percentage_of_nodes_to_score,
            queue_sort: None,
            pre_filter: Vec::new(),
            filter: Vec::new(),
            post_filter: Vec::new(),
            pre_score: Vec::new(),
            score: Vec::new(),
            reserve: Vec::new(),
            permit: Vec::new(),
            pre_bind: Vec::new(),
            bind: Vec::new(),
            post_bind: Vec::new(),
            events: HashMap::new(),
        };
        let mut seen = HashSet::new();
        for e in &profile.plugins {
            if !seen.insert(e.name.as_str()) {
                return Err(invalid(format!("plugin {:?} is listed twice", e.name)));
            }
            let p = registry.build(&e.name, &e.args, handle)?;
            use ExtensionPoint as X;
            if p.as_queue_sort().is_some() && enabled_at(e, X::QueueSort) {
                if fw.queue_sort.is_some() {
                    return Err(invalid("more than one QueueSort plugin".into()));
                }
                fw.queue_sort = Some(p.clone());
            }
            let add = |has: bool, point: X, list: &mut Vec<Arc<dyn Plugin>>| {
                if has && enabled_at(e, point) {
                    list.push(p.clone());
                }
            };
            add(
                p.as_pre_filter().is_some(),
                X::PreFilter,
                &mut fw.pre_filter,
            );
            add(p.as_filter().is_some(), X::Filter, &mut fw.filter);
            add(
                p.as_post_filter().is_some(),
                X::PostFilter,
                &mut fw.post_filter,
            );
            add(p.as_pre_score().is_some(), X::PreScore, &mut fw.pre_score);
            add(p.as_reserve().is_some(), X::Reserve, &mut fw.reserve);
            add(p.as_permit().is_some(), X::Permit, &mut fw.permit);
            add(p.as_pre_bind().is_some(), X::PreBind, &mut fw.pre_bind);
            add(p.as_bind().is_some(), X::Bind, &mut fw.bind);
            add(p.as_post_bind().is_some(), X::PostBind, &mut fw.post_bind);
            if p.as_score().is_some() && enabled_at(e, X::Score) {
                if e.weight < 1 {
                    return Err(invalid(format!(
                        "plugin {:?} has score weight {}; it must be at least 1",
                        e.name, e.weight
                    )));
                }
                fw.score.push((p.clone(), e.weight));
            }
            fw.events.insert(e.name.clone(), p.events_to_register());
        }
        if fw.bind.is_empty() {
            return Err(invalid("no Bind plugin is enabled".into()));
        }
        Ok(fw)
    }

    /// The `spec.schedulerName` this framework serves.
    pub fn scheduler_name(&self) -> &str {
        &self.scheduler_name
    }

    /// The handle plugins were built with.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The profile's `percentageOfNodesToScore`, if set.
    pub fn percentage_of_nodes_to_score(&self) -> Option<u32> {
        self.percentage_of_nodes_to_score
    }

    /// The QueueSort plugin, if any.
    pub fn queue_sort(&self) -> Option<Arc<dyn Plugin>> {
        self.queue_sort.clone()
    }

    /// Whether any PostFilter plugin is enabled.
    pub fn has_post_filter(&self) -> bool {
        !self.post_filter.is_empty()
    }

    /// Whether `event` may help a pod that `plugins` rejected (with no recorded
    /// plugin, any event may).
    pub fn event_may_help(&self, plugins: &HashSet<String>, event: ClusterEvent) -> bool {
        plugins.is_empty()
            || plugins.iter().any(|p| {
                self.events
                    .get(p)
                    .is_none_or(|events| events.contains(&event))
            })
    }

    /// Runs PreFilter. A rejection ends the cycle; the node sets of the plugins are
    /// intersected; an empty intersection rejects the pod.
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        let mut result = PreFilterResult::default();
        let mut narrowed_by = Vec::new();
        for p in &self.pre_filter {
            let Some(pf) = p.as_pre_filter() else {
                continue;
            };
            let (r, status) = pf.pre_filter(state, pod, snapshot);
            if status.is_skip() {
                state.skip_filter.insert(p.name().to_owned());
                continue;
            }
            if !status.is_success() {
                return (result, status.with_plugin(p.name()));
            }
            if let Some(names) = r.node_names {
                narrowed_by.push(p.name().to_owned());
                result.node_names = Some(match result.node_names.take() {
                    None => names,
                    Some(prev) => prev.intersection(&names).cloned().collect(),
                });
                if result.node_names.as_ref().is_some_and(HashSet::is_empty) {
                    let msg = format!(
                        "node(s) didn't satisfy plugin(s) [{}] simultaneously",
                        narrowed_by.join(" ")
                    );
                    return (result, Status::unresolvable(msg));
                }
            }
        }
        state.filter_mask = self
            .filter
            .iter()
            .map(|p| !state.skip_filter.contains(p.name()))
            .collect();
        (result, Status::success())
    }

    /// Runs the PreFilter extensions' `AddPod` (plugins skipped this cycle excluded).
    pub fn run_pre_filter_add_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        added: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        for p in &self.pre_filter {
            if state.skips_filter(p.name()) {
                continue;
            }
            let Some(pf) = p.as_pre_filter() else {
                continue;
            };
            let status = pf.add_pod(state, pod, added, node);
            if !status.is_success() {
                return status.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs the PreFilter extensions' `RemovePod` (plugins skipped this cycle
    /// excluded).
    pub fn run_pre_filter_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        removed: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        for p in &self.pre_filter {
            if state.skips_filter(p.name()) {
                continue;
            }
            let Some(pf) = p.as_pre_filter() else {
                continue;
            };
            let status = pf.remove_pod(state, pod, removed, node);
            if !status.is_success() {
                return status.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs the filters on one node counting the pods nominated to it with a
    /// priority at least the pod's (kube-scheduler's
    /// `RunFilterPluginsWithNominatedPods`): first with them on the node, then, if
    /// that passes, without them (the nominated pods may never arrive).
    pub fn run_filter_with_nominated(
        &self,
        state: &CycleState,
        pod: &Pod,
        node: &NodeInfo,
        nominated: &NominatedPods,
    ) -> Status {
        if nominated.is_empty() || nominated.for_node(node.name()).is_empty() {
            return self.run_filter(state, pod, node);
        }
        let prio = crate::pod::priority(pod);
        let key = crate::pod::pod_key(pod);
        let extra: Vec<&PodInfo> = nominated
            .for_node(node.name())
            .iter()
            .filter(|p| p.key != key && crate::pod::priority(&p.pod) >= prio)
            .collect();
        if extra.is_empty() {
            return self.run_filter(state, pod, node);
        }
        let mut info = node.clone();
        let mut with = state.clone();
        for p in extra {
            info.add_pod_info(p.clone());
            let s = self.run_pre_filter_add_pod(&mut with, pod, p, &info);
            if !s.is_success() {
                return s;
            }
        }
        let s = self.run_filter(&with, pod, &info);
        if !s.is_success() {
            return s;
        }
        self.run_filter(state, pod, node)
    }

    /// Runs the Filter plugins on one node; the first rejection is the answer.
    pub fn run_filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let mask = &state.filter_mask;
        let prepared = mask.len() == self.filter.len();
        for (i, p) in self.filter.iter().enumerate() {
            let skip = if prepared {
                !mask[i]
            } else {
                state.skips_filter(p.name())
            };
            if skip {
                continue;
            }
            let Some(f) = p.as_filter() else { continue };
            let status = f.filter(state, pod, node);
            if !status.is_success() {
                return status.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs PostFilter plugins until one succeeds. Returns the nominated node and the
    /// final status; the messages of the unsuccessful ones are joined.
    pub async fn run_post_filter(
        &self,
        state: &CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
        nominated: &NominatedPods,
        statuses: &NodeStatuses,
    ) -> (Option<String>, Status) {
        let mut reasons = Vec::new();
        let ctx = PostFilterContext {
            framework: self,
            snapshot,
            nominated,
        };
        for p in &self.post_filter {
            let Some(pf) = p.as_post_filter() else {
                continue;
            };
            let (nominated, status) = pf.post_filter(&ctx, state, pod, statuses).await;
            if status.is_success() {
                return (nominated, status.with_plugin(p.name()));
            }
            if !status.is_rejected() {
                return (None, status.with_plugin(p.name()));
            }
            reasons.extend(status.reasons().iter().cloned());
        }
        (
            None,
            Status::with_reasons(super::Code::Unschedulable, reasons),
        )
    }

    /// Runs PreScore over the feasible nodes.
    pub fn run_pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status {
        for p in &self.pre_score {
            let Some(ps) = p.as_pre_score() else { continue };
            let status = ps.pre_score(state, pod, nodes, snapshot);
            if status.is_skip() {
                state.skip_score.insert(p.name().to_owned());
            } else if !status.is_success() {
                return status.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Scores the nodes: each plugin's raw scores (over up to `workers` threads),
    /// normalized, checked to lie in 0..=100, weighted and summed. Returns the total
    /// per node, in the order of `nodes`.
    pub fn run_score(
        &self,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        workers: usize,
    ) -> Result<Vec<i64>, Status> {
        let plugins: Vec<_> = self
            .score
            .iter()
            .filter(|(p, _)| !state.skips_score(p.name()))
            .filter_map(|(p, w)| p.as_score().map(|s| (p.name(), s, *w)))
            .collect();
        let mut totals = vec![0i64; nodes.len()];
        if plugins.is_empty() {
            return Ok(totals);
        }
        let n = nodes.len();
        // Raw scores, plugin by plugin: raw[plugin * n + node]. Large batches are cut
        // into chunks scored on up to `workers` threads.
        let mut raw = vec![0i64; plugins.len() * n];
        let score_range = |from: usize, to: usize, out: &mut [i64]| -> Result<(), Status> {
            for (j, (name, s, _)) in plugins.iter().enumerate() {
                s.score_nodes(
                    state,
                    pod,
                    &nodes[from..to],
                    &mut out[j * (to - from)..][..to - from],
                )
                .map_err(|e| e.with_plugin(name))?;
            }
            Ok(())
        };
        if n < super::PARALLEL_THRESHOLD || workers <= 1 {
            score_range(0, n, &mut raw)?;
        } else {
            const CHUNK: usize = 128;
            let parts = parallel_map(n.div_ceil(CHUNK), workers, |c| {
                let (from, to) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
                let mut out = vec![0i64; plugins.len() * (to - from)];
                score_range(from, to, &mut out).map(|()| (from, out))
            });
            for part in parts {
                let (from, out) = part?;
                let len = out.len() / plugins.len();
                for (j, scores) in out.chunks_exact(len).enumerate() {
                    raw[j * n + from..][..len].copy_from_slice(scores);
                }
            }
        }
        // One vector of per-node scores, reused by every plugin's normalization.
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .map(|node| NodeScore {
                name: node.name(),
                score: 0,
            })
            .collect();
        for (j, (name, s, weight)) in plugins.iter().enumerate() {
            for (ns, r) in scores.iter_mut().zip(&raw[j * n..(j + 1) * n]) {
                ns.score = *r;
            }
            let status = s.normalize_score(state, pod, &mut scores);
            if !status.is_success() {
                return Err(status.with_plugin(name));
            }
            for (total, ns) in totals.iter_mut().zip(&scores) {
                if !(0..=MAX_NODE_SCORE).contains(&ns.score) {
                    return Err(Status::error(format!(
                        "plugin {name:?} returns an invalid score {}, it should in the range of [0, {MAX_NODE_SCORE}] after normalizing",
                        ns.score
                    )));
                }
                *total += ns.score * weight;
            }
        }
        Ok(totals)
    }

    /// Runs Reserve; on a failure the caller must run [`Self::run_unreserve`].
    pub fn run_reserve(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        for p in &self.reserve {
            let Some(r) = p.as_reserve() else { continue };
            let status = r.reserve(state, pod, node);
            if !status.is_success() {
                return status.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs Unreserve of every Reserve plugin, in reverse order.
    pub fn run_unreserve(&self, state: &CycleState, pod: &Pod, node: &str) {
        for p in self.reserve.iter().rev() {
            if let Some(r) = p.as_reserve() {
                r.unreserve(state, pod, node);
            }
        }
    }

    /// Runs Permit.
    pub fn run_permit(&self, state: &CycleState, pod: &Pod, node: &str) -> PermitOutcome {
        let mut waiting = HashSet::new();
        let mut longest = Duration::ZERO;
        for p in &self.permit {
            let Some(pm) = p.as_permit() else { continue };
            let (status, timeout) = pm.permit(state, pod, node);
            match status.code() {
                super::Code::Success | super::Code::Skip => {}
                super::Code::Wait => {
                    waiting.insert(p.name().to_owned());
                    longest = longest.max(timeout);
                }
                _ => return PermitOutcome::Rejected(status.with_plugin(p.name())),
            }
        }
        if waiting.is_empty() {
            return PermitOutcome::Approved;
        }
        let uid = crate::pod::pod_key(pod);
        PermitOutcome::Wait(self.handle.waiting_pods.add(&uid, waiting), longest)
    }

    /// Runs PreBind.
    pub async fn run_pre_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        for p in &self.pre_bind {
            let Some(pb) = p.as_pre_bind() else { continue };
            let status = pb.pre_bind(state, pod, node).await;
            if !status.is_success() {
                return status.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Runs Bind plugins until one does not `Skip`.
    pub async fn run_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        for p in &self.bind {
            let Some(b) = p.as_bind() else { continue };
            let status = b.bind(state, pod, node).await;
            if !status.is_skip() {
                return status.with_plugin(p.name());
            }
        }
        Status::error("every Bind plugin skipped the pod")
    }

    /// Runs PostBind.
    pub async fn run_post_bind(&self, state: &CycleState, pod: &Pod, node: &str) {
        for p in &self.post_bind {
            if let Some(pb) = p.as_post_bind() {
                pb.post_bind(state, pod, node).await;
            }
        }
    }
}

#[cfg(test)]
mod score_tests {
    use std::sync::Arc;

    use crate::cache::Snapshot;
    use crate::framework::CycleState;
    use crate::plugins::testing::{default_framework, info, requesting, sized_node};

    #[test]
    fn threaded_scoring_agrees_with_scoring_on_one_thread() {
        // Enough nodes for the chunked, threaded path; nodes of different sizes and
        // loads so the scores differ.
        let nodes: Vec<Arc<crate::cache::NodeInfo>> = (0..1300)
            .map(|i| {
                let node = sized_node(&format!("n{i}"), &format!("{}", 2 + i % 7), "16Gi");
                let pods = (0..i % 5).map(|_| requesting("300m", "1Gi")).collect();
                Arc::new(info(node, pods))
            })
            .collect();
        let fw = default_framework();
        let pod = requesting("500m", "2Gi");
        let mut state = CycleState::new();
        assert!(fw
            .run_pre_score(&mut state, &pod, &nodes, &Snapshot::default())
            .is_success());
        let one = fw.run_score(&state, &pod, &nodes, 1).unwrap();
        let two = fw.run_score(&state, &pod, &nodes, 2).unwrap();
        assert_eq!(one, two);
        assert!(one.iter().any(|t| *t != one[0]), "{:?}", &one[..8]);
    }
}
