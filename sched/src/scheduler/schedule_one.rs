//! One pod's way through the scheduler: the scheduling cycle (snapshot, algorithm,
//! assume, Reserve, Permit) on the loop, then the binding cycle (wait on Permit,
//! PreBind, Bind, PostBind) in a spawned task. A failure anywhere after the assume
//! runs Unreserve, forgets the assumption and requeues the pod.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::{Algorithm, ScheduleError, Scheduler, Shared};
use crate::cache::Snapshot;
use crate::framework::{CycleState, Framework, PermitOutcome, Status};
use crate::pod::{namespaced_name, scheduler_name};
use crate::queue::QueuedPodInfo;

impl Scheduler {
    /// Schedules one popped pod.
    pub(crate) async fn schedule_one(
        &self,
        mut info: QueuedPodInfo,
        algorithm: &mut Algorithm,
        snapshot: &mut Snapshot,
    ) {
        let shared = &self.shared;
        let Some(fw) = shared.frameworks.get(scheduler_name(&info.pod)).cloned() else {
            shared.queue.done(&info.key);
            return;
        };
        let cycle = shared.queue.scheduling_cycle();
        let pod = info.pod.clone();
        let mut state = CycleState::new();
        let nominated = shared.nominated().clone();
        let result = {
            let mut cache = shared.cache();
            if cache.contains_pod(&info.key) {
                // Assumed or already bound: nothing to do.
                drop(cache);
                shared.queue.done(&info.key);
                return;
            }
            cache.update_snapshot(snapshot);
            drop(cache);
            algorithm.schedule(&fw, &mut state, &pod, snapshot, &nominated)
        };
        let chosen = match result {
            Ok(r) => r.node,
            Err(err) => {
                let mut nominated_node = None;
                let message = match err {
                    ScheduleError::Unfit(mut fit) => {
                        if fw.has_post_filter() {
                            let (node, status) = fw
                                .run_post_filter(
                                    &state,
                                    &pod,
                                    snapshot,
                                    &nominated,
                                    &fit.node_statuses,
                                )
                                .await;
                            if let Some(n) = &node {
                                shared
                                    .nominated()
                                    .add(crate::cache::PodInfo::new(pod.clone()), n);
                            }
                            nominated_node = node;
                            fit.post_filter_msg = Some(status.message());
                        }
                        info.unschedulable_plugins = fit.unschedulable_plugins.clone();
                        fit.to_string()
                    }
                    other => {
                        info.unschedulable_plugins.clear();
                        other.to_string()
                    }
                };
                let reason = if info.unschedulable_plugins.is_empty() {
                    "SchedulerError"
                } else {
                    "Unschedulable"
                };
                tracing::debug!(pod = %namespaced_name(&pod), %message, "unable to schedule pod");
                shared.queue.add_unschedulable(info, cycle);
                report_failure(shared, pod, reason, message, nominated_node);
                return;
            }
        };
        // Assume: the pod counts on the node from now on.
        let mut assumed = (*pod).clone();
        if let Some(spec) = assumed.spec.as_mut() {
            spec.node_name = Some(chosen.clone());
        }
        if let Err(e) = shared.cache().assume_pod(assumed) {
            tracing::warn!(pod = %namespaced_name(&pod), error = %e, "cannot assume pod");
            shared.queue.done(&info.key);
            return;
        }
        if !nominated.is_empty() {
            shared.nominated().remove(&info.key);
        }
        let reserve = fw.run_reserve(&state, &pod, &chosen);
        if !reserve.is_success() {
            fail_after_assume(shared, &fw, &state, info, cycle, &chosen, reserve);
            return;
        }
        let permit = fw.run_permit(&state, &pod, &chosen);
        if let PermitOutcome::Rejected(status) = permit {
            fail_after_assume(shared, &fw, &state, info, cycle, &chosen, status);
            return;
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            bind_cycle(shared, fw, state, info, cycle, chosen, permit).await;
        });
    }
}

async fn bind_cycle(
    shared: Arc<Shared>,
    fw: Arc<Framework>,
    state: CycleState,
    info: QueuedPodInfo,
    cycle: u64,
    node: String,
    permit: PermitOutcome,
) {
    let pod = info.pod.clone();
    if let PermitOutcome::Wait(wait, timeout) = permit {
        let status = wait.wait(timeout).await;
        if !status.is_success() {
            fail_after_assume(&shared, &fw, &state, info, cycle, &node, status);
            return;
        }
    }
    let status = fw.run_pre_bind(&state, &pod, &node).await;
    if !status.is_success() {
        fail_after_assume(&shared, &fw, &state, info, cycle, &node, status);
        return;
    }
    let status = fw.run_bind(&state, &pod, &node).await;
    if !status.is_success() {
        fail_after_assume(&shared, &fw, &state, info, cycle, &node, status);
        return;
    }
    shared
        .cache()
        .finish_binding(&info.key, std::time::Instant::now());
    shared
        .bound
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    shared.queue.done(&info.key);
    fw.run_post_bind(&state, &pod, &node).await;
    let msg = format!("Successfully assigned {} to {node}", namespaced_name(&pod));
    if let Err(e) = shared
        .reporter
        .event(&pod, "Normal", "Scheduled", &msg)
        .await
    {
        tracing::debug!(error = %e, "recording the Scheduled event");
    }
}

/// Undoes an assumption and requeues the pod with back-off.
fn fail_after_assume(
    shared: &Arc<Shared>,
    fw: &Framework,
    state: &CycleState,
    mut info: QueuedPodInfo,
    cycle: u64,
    node: &str,
    status: Status,
) {
    let pod = info.pod.clone();
    fw.run_unreserve(state, &pod, node);
    shared.cache().forget_pod(&info.key);
    let rejected = status.is_rejected();
    info.unschedulable_plugins.clear();
    if rejected {
        if let Some(p) = status.plugin() {
            info.unschedulable_plugins.insert(p.to_owned());
        }
    }
    let message = status.message();
    tracing::debug!(pod = %namespaced_name(&pod), %message, "binding cycle failed");
    shared.queue.add_unschedulable(info, cycle);
    // Moving on: other pods' requeues may now fit where this one was assumed.
    let reason = if rejected {
        "Unschedulable"
    } else {
        "SchedulerError"
    };
    report_failure(shared, pod, reason, message, None);
}

/// Writes the condition and the FailedScheduling event in the background.
fn report_failure(
    shared: &Arc<Shared>,
    pod: Arc<Pod>,
    reason: &'static str,
    message: String,
    nominated: Option<String>,
) {
    let reporter = shared.reporter.clone();
    tokio::spawn(async move {
        if let Err(e) = reporter
            .pod_unschedulable(&pod, reason, &message, nominated.as_deref())
            .await
        {
            tracing::debug!(error = %e, "updating the PodScheduled condition");
        }
        if let Err(e) = reporter
            .event(&pod, "Warning", "FailedScheduling", &message)
            .await
        {
            tracing::debug!(error = %e, "recording the FailedScheduling event");
        }
    });
}
