//! The pure part of preemption: which pods to evict from one node so the preemptor
//! fits ([`select_victims_on_node`]), which PodDisruptionBudgets that would violate
//! ([`split_by_pdb_violation`]), and which node's eviction costs least
//! ([`pick_one_node`]), in kube-scheduler's order.

use std::cmp::Ordering;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use skiff_core::selector::LabelSelector;

use crate::cache::{NodeInfo, NominatedPods, PodInfo};
use crate::framework::{CycleState, Framework, Status};
use crate::pod::{namespace, priority};

/// The reason of a node where no pod has a lower priority than the preemptor.
pub const REASON_NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// A node where preemption would work, with the pods it would evict.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The node.
    pub node: String,
    /// The pods to evict, most important first.
    pub victims: Vec<PodInfo>,
    /// How many of them are protected by a PodDisruptionBudget with no disruptions
    /// left.
    pub num_pdb_violations: usize,
}

fn start_time(pod: &Pod) -> Option<Timestamp> {
    pod.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0)
}

/// Whether `a` is more important than `b`: higher priority, then started earlier (a
/// pod not started yet counts as starting now, the latest).
pub fn more_important(a: &Pod, b: &Pod) -> bool {
    let (pa, pb) = (priority(a), priority(b));
    if pa != pb {
        return pa > pb;
    }
    match (start_time(a), start_time(b)) {
        (Some(ta), Some(tb)) => ta < tb,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Splits `pods` into those whose eviction would violate a PodDisruptionBudget and
/// the rest, spending each budget's `disruptionsAllowed` in order (pods listed in a
/// budget's `disruptedPods` are already accounted for).
pub fn split_by_pdb_violation(
    pods: Vec<PodInfo>,
    pdbs: &[PodDisruptionBudget],
) -> (Vec<PodInfo>, Vec<PodInfo>) {
    let selectors: Vec<Option<LabelSelector>> = pdbs
        .iter()
        .map(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| LabelSelector::from_label_selector(s).ok())
                // A missing or empty selector matches nothing here.
                .filter(|s| !s.is_everything() && !s.is_nothing())
        })
        .collect();
    let mut allowed: Vec<i64> = pdbs
        .iter()
        .map(|p| {
            p.status
                .as_ref()
                .map_or(0, |s| i64::from(s.disruptions_allowed))
        })
        .collect();
    let (mut violating, mut fine) = (Vec::new(), Vec::new());
    for p in pods {
        let mut violated = false;
        if !p.labels().is_empty() {
            for (i, pdb) in pdbs.iter().enumerate() {
                if pdb.metadata.namespace.as_deref() != Some(p.namespace()) {
                    continue;
                }
                let Some(sel) = &selectors[i] else { continue };
                if !sel.matches(p.labels()) {
                    continue;
                }
                let already = pdb
                    .status
                    .as_ref()
                    .and_then(|s| s.disrupted_pods.as_ref())
                    .is_some_and(|d| d.contains_key(crate::pod::name(&p.pod)));
                if already {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(p);
        } else {
            fine.push(p);
        }
    }
    (violating, fine)
}

/// Finds the fewest pods to evict from `node` so that `pod` passes the filters:
/// removes every lower-priority pod, checks the pod fits, then adds back as many as
/// possible, the most important first and PDB-protected ones before the others.
/// `state` is the cycle's state after PreFilter (copied, not changed).
pub fn select_victims_on_node(
    fw: &Framework,
    state: &CycleState,
    pod: &Pod,
    node: &NodeInfo,
    pdbs: &[PodDisruptionBudget],
    nominated: &NominatedPods,
) -> Result<Candidate, Status> {
    let mut info = node.clone();
    let mut state = state.clone();
    let prio = priority(pod);
    // Pods nominated here with at least this priority keep their room.
    let key = crate::pod::pod_key(pod);
    for p in nominated.for_node(node.name()) {
        if p.key != key && priority(&p.pod) >= prio {
            info.add_pod_info(p.clone());
            let s = fw.run_pre_filter_add_pod(&mut state, pod, p, &info);
            if !s.is_success() {
                return Err(s);
            }
        }
    }
    let mut potential: Vec<PodInfo> = info
        .pods()
        .iter()
        .filter(|p| priority(&p.pod) < prio)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(REASON_NO_VICTIMS));
    }
    for p in &potential {
        info.remove_pod(&p.key);
        let s = fw.run_pre_filter_remove_pod(&mut state, pod, p, &info);
        if !s.is_success() {
            return Err(s);
        }
    }
    let fits = fw.run_filter(&state, pod, &info);
    if !fits.is_success() {
        return Err(fits);
    }
    potential.sort_by(|a, b| {
        if more_important(&a.pod, &b.pod) {
            Ordering::Less
        } else if more_important(&b.pod, &a.pod) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    });
    let (violating, fine) = split_by_pdb_violation(potential, pdbs);
    let mut victims = Vec::new();
    let mut num_pdb_violations = 0;
    let tagged = violating
        .into_iter()
        .map(|p| (p, true))
        .chain(fine.into_iter().map(|p| (p, false)));
    for (p, protected) in tagged {
        info.add_pod_info(p.clone());
        let s = fw.run_pre_filter_add_pod(&mut state, pod, &p, &info);
        if !s.is_success() {
            return Err(s);
        }
        if !fw.run_filter(&state, pod, &info).is_success() {
            info.remove_pod(&p.key);
            let s = fw.run_pre_filter_remove_pod(&mut state, pod, &p, &info);
            if !s.is_success() {
                return Err(s);
            }
            if protected {
                num_pdb_violations += 1;
            }
            victims.push(p);
        }
    }
    if victims.is_empty() {
        return Err(Status::error(format!(
            "expected at least one victim pod on node {:?}",
            node.name()
        )));
    }
    Ok(Candidate {
        node: node.name().to_owned(),
        victims,
        num_pdb_violations,
    })
}

/// The highest priority among the victims.
fn highest_priority(c: &Candidate) -> i32 {
    c.victims
        .iter()
        .map(|v| priority(&v.pod))
        .max()
        .unwrap_or(i32::MIN)
}

/// The earliest start time among the victims of the highest priority (not started:
/// now, the latest possible).
fn earliest_start_of_highest(c: &Candidate) -> Option<Timestamp> {
    let top = highest_priority(c);
    c.victims
        .iter()
        .filter(|v| priority(&v.pod) == top)
        .map(|v| start_time(&v.pod))
        .min_by(|a, b| match (a, b) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .flatten()
}

/// The candidate whose eviction costs least, by kube-scheduler's criteria in order:
/// fewest PDB violations; lowest highest-victim priority; lowest sum of victim
/// priorities; fewest victims; latest start among the highest-priority victims;
/// then the first.
pub fn pick_one_node(candidates: &[Candidate]) -> Option<usize> {
    if candidates.is_empty() {
        return None;
    }
    let mut best: Vec<usize> = (0..candidates.len()).collect();
    let keep_min = |best: &mut Vec<usize>, key: &dyn Fn(&Candidate) -> i64| {
        let min = best.iter().map(|&i| key(&candidates[i])).min().unwrap_or(0);
        best.retain(|&i| key(&candidates[i]) == min);
    };
    keep_min(&mut best, &|c| c.num_pdb_violations as i64);
    keep_min(&mut best, &|c| i64::from(highest_priority(c)));
    keep_min(&mut best, &|c| {
        c.victims
            .iter()
            .map(|v| i64::from(priority(&v.pod)) + i64::from(i32::MAX) + 1)
            .sum()
    });
    keep_min(&mut best, &|c| c.victims.len() as i64);
    if best.len() > 1 {
        // Latest start wins; "not started" (None) is the latest.
        let key = |i: usize| earliest_start_of_highest(&candidates[i]);
        let latest = best.iter().map(|&i| key(i)).max_by(|a, b| match (a, b) {
            (Some(x), Some(y)) => x.cmp(y),
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (None, None) => Ordering::Equal,
        });
        if let Some(latest) = latest {
            best.retain(|&i| key(i) == latest);
        }
    }
    best.first().copied()
}

/// Whether `pod` may preempt: not with `preemptionPolicy: Never`, and not while a
/// lower-priority pod is still terminating on the node it was nominated to (the
/// room it made is on its way). `Err` carries the reason.
pub fn eligible_to_preempt(pod: &Pod, nominated: Option<&NodeInfo>) -> Result<(), String> {
    let spec = pod.spec.as_ref();
    if spec.and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
        return Err("not eligible due to preemptionPolicy=Never.".into());
    }
    if let Some(node) = nominated {
        let prio = priority(pod);
        if node
            .pods()
            .iter()
            .any(|p| priority(&p.pod) < prio && p.pod.metadata.deletion_timestamp.is_some())
        {
            return Err("not eligible due to a terminating pod on the nominated node.".into());
        }
    }
    Ok(())
}

/// The namespace of a victim (for deleting it).
pub(crate) fn victim_namespace(p: &PodInfo) -> &str {
    namespace(&p.pod)
}
