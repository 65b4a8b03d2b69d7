//! DefaultPreemption: when a pod fits no node, evicts lower-priority pods from the
//! node where that costs least, and nominates the pod to it.
//!
//! 1. A pod with `preemptionPolicy: Never`, or whose nominated node still has a
//!    lower-priority pod terminating, does not preempt.
//! 2. Nodes the filters rejected as `Unschedulable` (not `...AndUnresolvable`) are
//!    tried from a random offset, each on a copy of its node info and cycle state:
//!    [`select_victims_on_node`]. The search stops once
//!    `max(minCandidateNodesAbsolute, minCandidateNodesPercentage% of nodes)`
//!    candidates are found, at least one violating no PodDisruptionBudget.
//! 3. [`pick_one_node`] picks the cheapest; its victims get a `DisruptionTarget`
//!    condition, are deleted (pods waiting at Permit are rejected instead) and get a
//!    `Preempted` Event.
//! 4. The pod is nominated to the node (`status.nominatedNodeName`, written by the
//!    scheduler) and requeued; the victims' deletions move it back to active.
//!
//! PodDisruptionBudgets (`policy/v1`) are listed for each preemption; the budgets
//! only rank nodes, as in Kubernetes: preemption may still violate them.
//!
//! Arguments: `{"minCandidateNodesPercentage": 10, "minCandidateNodesAbsolute": 100}`.
//!
//! ```
//! use skiff_sched::plugins::default_preemption::num_candidates;
//! assert_eq!(num_candidates(5000, 10, 100), 500);
//! assert_eq!(num_candidates(300, 10, 100), 100);
//! assert_eq!(num_candidates(50, 10, 100), 50);
//! ```

mod victims;

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use rand::Rng;
use serde_json::{json, Value};
use skiff_core::client::{Api, DeleteParams, ListParams, Patch, PatchParams};

pub use victims::{
    eligible_to_preempt, more_important, pick_one_node, select_victims_on_node,
    split_by_pdb_violation, Candidate, REASON_NO_VICTIMS,
};

use crate::framework::{
    Code, CycleState, Handle, NodeStatuses, Plugin, PostFilterContext, PostFilterPlugin,
    RegistryError, Status,
};
use crate::scheduler::FitError;

/// The plugin's name.
pub const NAME: &str = "DefaultPreemption";

/// The reason recorded for nodes preemption cannot help.
pub const REASON_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

/// How many candidate nodes to find before picking: `pct`% of `nodes`, at least
/// `abs`, at most all.
pub fn num_candidates(nodes: usize, pct: usize, abs: usize) -> usize {
    (nodes * pct / 100).max(abs).min(nodes)
}

/// The DefaultPreemption PostFilter.
#[derive(Clone)]
pub struct DefaultPreemption {
    handle: Handle,
    /// `minCandidateNodesPercentage` (0..=100).
    pub min_candidate_nodes_percentage: usize,
    /// `minCandidateNodesAbsolute`.
    pub min_candidate_nodes_absolute: usize,
}

impl std::fmt::Debug for DefaultPreemption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultPreemption")
            .field("pct", &self.min_candidate_nodes_percentage)
            .field("abs", &self.min_candidate_nodes_absolute)
            .finish()
    }
}

impl DefaultPreemption {
    /// Builds the plugin from `DefaultPreemptionArgs` (`Null`: defaults).
    pub fn from_args(args: &Value, handle: &Handle) -> Result<Self, RegistryError> {
        let invalid = |message: String| RegistryError::InvalidArgs {
            plugin: NAME.to_owned(),
            message,
        };
        let mut p = DefaultPreemption {
            handle: handle.clone(),
            min_candidate_nodes_percentage: 10,
            min_candidate_nodes_absolute: 100,
        };
        if args.is_null() {
            return Ok(p);
        }
        let obj = args
            .as_object()
            .ok_or_else(|| invalid("arguments must be an object".into()))?;
        for (k, v) in obj {
            let n = || {
                v.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| invalid(format!("{k}: {v} is not a non-negative integer")))
            };
            match k.as_str() {
                "minCandidateNodesPercentage" => {
                    let pct = n()?;
                    if pct > 100 {
                        return Err(invalid(format!("{k}: not in valid range [0, 100]")));
                    }
                    p.min_candidate_nodes_percentage = pct;
                }
                "minCandidateNodesAbsolute" => p.min_candidate_nodes_absolute = n()?,
                "apiVersion" | "kind" => {}
                other => return Err(invalid(format!("unknown field {other:?}"))),
            }
        }
        if p.min_candidate_nodes_percentage == 0 && p.min_candidate_nodes_absolute == 0 {
            return Err(invalid(
                "minCandidateNodesPercentage and minCandidateNodesAbsolute cannot both be zero"
                    .into(),
            ));
        }
        Ok(p)
    }

    async fn list_pdbs(&self) -> Vec<PodDisruptionBudget> {
        let api: Api<PodDisruptionBudget> = Api::all(self.handle.client.clone());
        match api.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => {
                tracing::debug!(error = %e, "listing PodDisruptionBudgets for preemption; assuming none");
                Vec::new()
            }
        }
    }

    /// Dry run over the nodes: the candidates, or the diagnosis when there are none.
    fn find_candidates(
        &self,
        ctx: &PostFilterContext<'_>,
        state: &CycleState,
        pod: &Pod,
        statuses: &NodeStatuses,
        pdbs: &[PodDisruptionBudget],
    ) -> Result<Vec<Candidate>, Status> {
        let all = ctx.snapshot.nodes();
        let mut diagnosis = FitError::new(all.len());
        let potential: Vec<_> = all
            .iter()
            .filter(|n| {
                let ok = statuses
                    .get(n.name())
                    .is_some_and(|s| s.code() == Code::Unschedulable);
                if !ok {
                    diagnosis.record(n.name(), Status::unresolvable(REASON_NOT_HELPFUL));
                }
                ok
            })
            .collect();
        let mut found = Vec::new();
        if !potential.is_empty() {
            let want = num_candidates(
                potential.len(),
                self.min_candidate_nodes_percentage,
                self.min_candidate_nodes_absolute,
            );
            let offset = rand::rng().random_range(0..potential.len());
            let mut non_violating = 0;
            for i in 0..potential.len() {
                let node = potential[(offset + i) % potential.len()];
                match select_victims_on_node(ctx.framework, state, pod, node, pdbs, ctx.nominated) {
                    Ok(c) => {
                        if c.num_pdb_violations == 0 {
                            non_violating += 1;
                        }
                        found.push(c);
                        if non_violating > 0 && found.len() >= want {
                            break;
                        }
                    }
                    Err(s) if s.code() == Code::Error => return Err(s),
                    Err(s) => diagnosis.record(node.name(), s),
                }
            }
        }
        if found.is_empty() {
            return Err(Status::unschedulable(format!("preemption: {diagnosis}")));
        }
        // Non-violating candidates first, as kube-scheduler lists them.
        found.sort_by_key(|c| c.num_pdb_violations > 0);
        Ok(found)
    }

    /// Marks and deletes the victims (rejects those waiting at Permit).
    async fn evict(&self, pod: &Pod, c: &Candidate) -> Result<(), Status> {
        let message = format!(
            "{}: preempting to accommodate a higher priority pod",
            crate::pod::scheduler_name(pod)
        );
        for v in &c.victims {
            if self.handle.waiting_pods.reject(&v.key, NAME, "preempted") {
                continue;
            }
            let ns = victims::victim_namespace(v);
            let name = crate::pod::name(&v.pod);
            let api: Api<Pod> = Api::namespaced(self.handle.client.clone(), ns);
            let condition = json!({"status": {"conditions": [{
                "type": "DisruptionTarget", "status": "True",
                "reason": "PreemptionByScheduler", "message": message,
                "lastTransitionTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}]}});
            if let Err(e) = api
                .patch_status(name, &Patch::Strategic(condition), &PatchParams::default())
                .await
            {
                tracing::debug!(pod = %name, error = %e, "marking the preemption victim");
            }
            let params = DeleteParams {
                precondition_uid: v.pod.metadata.uid.clone(),
                ..DeleteParams::default()
            };
            match api.delete(name, &params).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(Status::error(format!("preempting pod {ns}/{name}: {e}"))),
            }
            tracing::info!(victim = %format!("{ns}/{name}"), preemptor = %crate::pod::namespaced_name(pod), node = %c.node, "preempted");
            let reporter = crate::scheduler::Reporter::new(self.handle.client.clone(), true);
            let msg = format!(
                "Preempted by pod {} on node {}",
                pod.metadata.uid.as_deref().unwrap_or_default(),
                c.node
            );
            if let Err(e) = reporter.event(&v.pod, "Normal", "Preempted", &msg).await {
                tracing::debug!(error = %e, "recording the Preempted event");
            }
        }
        Ok(())
    }
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &str {
        NAME
    }
    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        Some(self)
    }
}

#[async_trait]
impl PostFilterPlugin for DefaultPreemption {
    async fn post_filter(
        &self,
        ctx: &PostFilterContext<'_>,
        state: &CycleState,
        pod: &Pod,
        statuses: &NodeStatuses,
    ) -> (Option<String>, Status) {
        let nominated = pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .filter(|n| !n.is_empty())
            .filter(|n| {
                // Unresolvable on its nominated node: it may preempt elsewhere.
                statuses
                    .get(*n)
                    .is_none_or(|s| s.code() != Code::UnschedulableAndUnresolvable)
            })
            .and_then(|n| ctx.snapshot.get(n));
        if let Err(reason) = eligible_to_preempt(pod, nominated.map(Arc::as_ref)) {
            return (None, Status::unschedulable(reason));
        }
        let pdbs = self.list_pdbs().await;
        let candidates = match self.find_candidates(ctx, state, pod, statuses, &pdbs) {
            Ok(c) => c,
            Err(s) => return (None, s),
        };
        let Some(best) = pick_one_node(&candidates) else {
            return (None, Status::unschedulable("preemption: no candidate node"));
        };
        let chosen = &candidates[best];
        if let Err(s) = self.evict(pod, chosen).await {
            return (None, s);
        }
        (Some(chosen.node.clone()), Status::success())
    }
}

#[cfg(test)]
mod tests;
