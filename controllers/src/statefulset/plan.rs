//! The next steps of a StatefulSet, decided from its pods alone (no I/O), in the order
//! Kubernetes' StatefulSet controller takes them:
//!
//! 1. Replicas `start..start + replicas` (`spec.ordinals.start`, 0 by default): create a missing pod, delete a failed one. With
//!    `OrderedReady` stop at the first pod created, deleted, terminating or not
//!    Running and Ready; with `Parallel` go on.
//! 2. Condemned pods (ordinals outside that range), highest ordinal first: delete. With
//!    `OrderedReady` one at a time, only once every other pod is healthy.
//! 3. `RollingUpdate`: from the highest ordinal down to `start + partition`, delete the first
//!    pod not at the update revision (it comes back at it), waiting on any pod not
//!    Running and Ready. `OnDelete` updates nothing.
//!
//! ```
//! use skiff_controllers::statefulset::plan::{plan, PodView, Policy, Step};
//! let policy = Policy { replicas: 2, start: 0, ordered: true, partition: Some(0), update_revision: "r2".into() };
//! // Nothing yet: create pod 0 only.
//! assert_eq!(plan(&policy, &[]), vec![Step::Create { ordinal: 0, current: false }]);
//! // Pod 0 not ready: wait.
//! let p0 = PodView { ordinal: 0, name: "web-0".into(), uid: "u".into(), revision: "r2".into(),
//!                    terminating: false, failed: false, healthy: false };
//! assert!(plan(&policy, &[p0.clone()]).is_empty());
//! let p0 = PodView { healthy: true, ..p0 };
//! assert_eq!(plan(&policy, &[p0]), vec![Step::Create { ordinal: 1, current: false }]);
//! ```

/// What the planner needs to know of a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodView {
    /// Its ordinal.
    pub ordinal: usize,
    /// Its name.
    pub name: String,
    /// Its uid (a deletion precondition).
    pub uid: String,
    /// The revision it was made from.
    pub revision: String,
    /// Whether it is being deleted.
    pub terminating: bool,
    /// Whether it has finished (`Succeeded` or `Failed`) and must be replaced.
    pub failed: bool,
    /// Whether it is Running and Ready.
    pub healthy: bool,
}

/// The set's spec, as the planner reads it.
#[derive(Clone, Debug)]
pub struct Policy {
    /// `spec.replicas`.
    pub replicas: usize,
    /// `spec.ordinals.start`: the first ordinal (pods are `start..start + replicas`).
    pub start: usize,
    /// `podManagementPolicy: OrderedReady`.
    pub ordered: bool,
    /// The partition of a `RollingUpdate` (`None` for `OnDelete`).
    pub partition: Option<usize>,
    /// The name of the update revision.
    pub update_revision: String,
}

/// One step toward the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Create the pod with `ordinal` (and its claims), from the current revision when
    /// `current` (below the partition), else from the update revision.
    Create {
        /// The ordinal.
        ordinal: usize,
        /// Whether to use the current revision.
        current: bool,
    },
    /// Delete a pod.
    Delete {
        /// Its name.
        name: String,
        /// Its uid.
        uid: String,
        /// Why: `failed`, `condemned` or `update`.
        reason: &'static str,
    },
}

fn delete(pod: &PodView, reason: &'static str) -> Step {
    Step::Delete {
        name: pod.name.clone(),
        uid: pod.uid.clone(),
        reason,
    }
}

/// The steps to take now, given the set's pods (at most one per ordinal).
pub fn plan(policy: &Policy, pods: &[PodView]) -> Vec<Step> {
    let mut steps = Vec::new();
    let slot = |ord: usize| pods.iter().find(|p| p.ordinal == ord);
    let end = policy.start + policy.replicas;
    for ord in policy.start..end {
        match slot(ord) {
            None => {
                let current = policy.partition.is_some_and(|p| ord - policy.start < p);
                steps.push(Step::Create {
                    ordinal: ord,
                    current,
                });
                if policy.ordered {
                    return steps;
                }
            }
            Some(pod) if pod.failed && !pod.terminating => {
                steps.push(delete(pod, "failed"));
                if policy.ordered {
                    return steps;
                }
            }
            Some(pod) if policy.ordered && (pod.terminating || !pod.healthy) => return steps,
            Some(_) => {}
        }
    }
    let mut condemned: Vec<&PodView> = pods
        .iter()
        .filter(|p| p.ordinal < policy.start || p.ordinal >= end)
        .collect();
    condemned.sort_by_key(|p| std::cmp::Reverse(p.ordinal));
    let first_unhealthy = condemned
        .iter()
        .find(|p| p.terminating || !p.healthy)
        .map(|p| p.ordinal);
    for pod in &condemned {
        if pod.terminating {
            if policy.ordered {
                return steps;
            }
            continue;
        }
        if policy.ordered && first_unhealthy.is_some_and(|o| o != pod.ordinal) {
            return steps;
        }
        steps.push(delete(pod, "condemned"));
        if policy.ordered {
            return steps;
        }
    }
    let Some(partition) = policy.partition else {
        return steps;
    };
    // Updates wait for scaling to finish.
    if !steps.is_empty() {
        return steps;
    }
    for ord in (policy.start + partition..end).rev() {
        let Some(pod) = slot(ord) else {
            return steps;
        };
        if pod.revision != policy.update_revision && !pod.terminating {
            steps.push(delete(pod, "update"));
            return steps;
        }
        if pod.terminating || !pod.healthy {
            return steps;
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ord: usize, rev: &str, healthy: bool) -> PodView {
        PodView {
            ordinal: ord,
            name: format!("web-{ord}"),
            uid: format!("u{ord}"),
            revision: rev.into(),
            terminating: false,
            failed: false,
            healthy,
        }
    }

    fn policy(replicas: usize, ordered: bool, partition: Option<usize>) -> Policy {
        Policy {
            replicas,
            start: 0,
            ordered,
            partition,
            update_revision: "new".into(),
        }
    }

    fn deleted(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Delete { name, .. } => Some(name.clone()),
                Step::Create { .. } => None,
            })
            .collect()
    }

    #[test]
    fn parallel_creates_everything_at_once() {
        let steps = plan(&policy(3, false, Some(0)), &[pod(1, "new", false)]);
        assert_eq!(
            steps,
            vec![
                Step::Create {
                    ordinal: 0,
                    current: false
                },
                Step::Create {
                    ordinal: 2,
                    current: false
                }
            ]
        );
    }

    #[test]
    fn ordered_scale_down_goes_from_the_top_one_at_a_time() {
        let pods: Vec<_> = (0..4).map(|o| pod(o, "new", true)).collect();
        assert_eq!(deleted(&plan(&policy(1, true, Some(0)), &pods)), ["web-3"]);
        let mut pods = pods;
        pods[3].terminating = true;
        assert!(plan(&policy(1, true, Some(0)), &pods).is_empty());
        // Parallel: all condemned at once.
        let pods: Vec<_> = (0..4).map(|o| pod(o, "new", true)).collect();
        assert_eq!(
            deleted(&plan(&policy(1, false, Some(0)), &pods)),
            ["web-3", "web-2", "web-1"]
        );
    }

    #[test]
    fn ordered_scale_down_waits_for_unhealthy_lower_pods() {
        let pods = vec![
            pod(0, "new", true),
            pod(1, "new", false),
            pod(2, "new", true),
        ];
        assert!(plan(&policy(1, true, Some(0)), &pods).is_empty());
        // The unhealthy pod is the highest: it goes.
        let pods = vec![
            pod(0, "new", true),
            pod(1, "new", true),
            pod(2, "new", false),
        ];
        assert_eq!(deleted(&plan(&policy(1, true, Some(0)), &pods)), ["web-2"]);
    }

    #[test]
    fn rolling_update_respects_the_partition_from_the_top() {
        let pods: Vec<_> = (0..3).map(|o| pod(o, "old", true)).collect();
        assert_eq!(deleted(&plan(&policy(3, true, Some(1)), &pods)), ["web-2"]);
        let pods = vec![
            pod(0, "old", true),
            pod(1, "old", true),
            pod(2, "new", false),
        ];
        assert!(
            plan(&policy(3, true, Some(1)), &pods).is_empty(),
            "waits for 2"
        );
        let pods = vec![
            pod(0, "old", true),
            pod(1, "old", true),
            pod(2, "new", true),
        ];
        assert_eq!(deleted(&plan(&policy(3, true, Some(1)), &pods)), ["web-1"]);
        let pods = vec![
            pod(0, "old", true),
            pod(1, "new", true),
            pod(2, "new", true),
        ];
        assert!(plan(&policy(3, true, Some(1)), &pods).is_empty(), "0 stays");
        // OnDelete: never.
        let pods: Vec<_> = (0..3).map(|o| pod(o, "old", true)).collect();
        assert!(plan(&policy(3, true, None), &pods).is_empty());
    }

    #[test]
    fn below_the_partition_pods_come_back_at_the_current_revision() {
        let pods = vec![pod(1, "new", true)];
        assert_eq!(
            plan(&policy(2, true, Some(1)), &pods),
            vec![Step::Create {
                ordinal: 0,
                current: true
            }]
        );
    }

    #[test]
    fn failed_pods_are_replaced() {
        let mut p = pod(0, "new", false);
        p.failed = true;
        assert_eq!(deleted(&plan(&policy(1, true, Some(0)), &[p])), ["web-0"]);
    }

    #[test]
    fn ordinals_start_shifts_every_range() {
        let mut p = policy(2, true, Some(1));
        p.start = 5;
        assert_eq!(
            plan(&p, &[]),
            vec![Step::Create {
                ordinal: 5,
                current: true
            }]
        );
        let pods = vec![
            pod(0, "new", true),
            pod(5, "new", true),
            pod(6, "old", true),
        ];
        assert_eq!(
            deleted(&plan(&p, &pods)),
            ["web-0"],
            "below start is condemned"
        );
        let pods = vec![pod(5, "old", true), pod(6, "old", true)];
        assert_eq!(
            deleted(&plan(&p, &pods)),
            ["web-6"],
            "5 is below the partition"
        );
    }
}
