//! Which NoExecute taints a pod tolerates, and when it must leave a node: Kubernetes'
//! `ToleratesTaint` and the taint manager's minimum toleration time.
//!
//! ```
//! use k8s_openapi::api::core::v1::{Taint, Toleration};
//! use skiff_controllers::node_lifecycle::tolerations::{eviction_deadline, tolerates, Deadline};
//! let taint = Taint { key: "node.kubernetes.io/unreachable".into(), effect: "NoExecute".into(), ..Default::default() };
//! let tol = Toleration { key: Some(taint.key.clone()), operator: Some("Exists".into()),
//!     effect: Some("NoExecute".into()), toleration_seconds: Some(300), ..Default::default() };
//! assert!(tolerates(&tol, &taint));
//! // Tainted at t=1000 s (taint without timeAdded: the caller's "first seen").
//! assert_eq!(eviction_deadline(&[tol], &[(taint.clone(), 1_000_000)]), Deadline::At(1_300_000));
//! assert_eq!(eviction_deadline(&[], &[(taint, 1_000_000)]), Deadline::Now);
//! ```

use k8s_openapi::api::core::v1::{Taint, Toleration};

/// When a pod must be evicted from its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// It tolerates every NoExecute taint of the node forever (or there is none).
    Never,
    /// It does not tolerate one of them: at once.
    Now,
    /// At this time (Unix milliseconds): when its shortest toleration runs out.
    At(i64),
}

/// Whether `toleration` tolerates `taint` (key, value, operator and effect).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    match toleration.operator.as_deref().unwrap_or("Equal") {
        // An empty key with Exists tolerates everything.
        "Exists" => key.is_empty() || key == taint.key,
        "Equal" | "" => {
            key == taint.key
                && toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// The deadline of a pod with `tolerations` on a node with the NoExecute `taints`,
/// each given with the time it was added (Unix milliseconds): the earliest over the
/// taints of added-time plus the shortest `tolerationSeconds` tolerating it.
pub fn eviction_deadline(tolerations: &[Toleration], taints: &[(Taint, i64)]) -> Deadline {
    let mut deadline = Deadline::Never;
    for (taint, added_ms) in taints.iter().filter(|(t, _)| t.effect == "NoExecute") {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Deadline::Now;
        }
        // A toleration without tolerationSeconds tolerates forever; negative is zero.
        let Some(seconds) = matching
            .iter()
            .filter_map(|t| t.toleration_seconds)
            .map(|s| s.max(0))
            .min()
        else {
            continue;
        };
        let at = added_ms.saturating_add(seconds.saturating_mul(1000));
        deadline = match deadline {
            Deadline::At(d) if d <= at => Deadline::At(d),
            _ => Deadline::At(at),
        };
    }
    deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(Into::into),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn tol(
        key: &str,
        op: &str,
        value: Option<&str>,
        effect: &str,
        secs: Option<i64>,
    ) -> Toleration {
        Toleration {
            key: Some(key.into()).filter(|k: &String| !k.is_empty()),
            operator: Some(op.into()),
            value: value.map(Into::into),
            effect: Some(effect.into()).filter(|e: &String| !e.is_empty()),
            toleration_seconds: secs,
        }
    }

    #[test]
    fn matching_rules() {
        let t = taint("k", Some("v"), "NoExecute");
        assert!(tolerates(
            &tol("k", "Equal", Some("v"), "NoExecute", None),
            &t
        ));
        assert!(!tolerates(
            &tol("k", "Equal", Some("w"), "NoExecute", None),
            &t
        ));
        assert!(tolerates(&tol("k", "Exists", None, "", None), &t));
        assert!(tolerates(&tol("", "Exists", None, "", None), &t));
        assert!(!tolerates(
            &tol("k", "Exists", None, "NoSchedule", None),
            &t
        ));
        assert!(!tolerates(
            &tol("other", "Exists", None, "NoExecute", None),
            &t
        ));
    }

    #[test]
    fn shortest_toleration_of_the_earliest_taint_wins() {
        let a = taint("a", None, "NoExecute");
        let b = taint("b", None, "NoExecute");
        let tols = [
            tol("a", "Exists", None, "NoExecute", Some(60)),
            tol("a", "Exists", None, "NoExecute", Some(10)),
            tol("b", "Exists", None, "NoExecute", Some(5)),
        ];
        let d = eviction_deadline(&tols, &[(a.clone(), 0), (b.clone(), 100_000)]);
        assert_eq!(d, Deadline::At(10_000));
        let forever = [tol("a", "Exists", None, "NoExecute", None)];
        assert_eq!(
            eviction_deadline(&forever, &[(a.clone(), 0)]),
            Deadline::Never
        );
        assert_eq!(
            eviction_deadline(&forever, &[(a, 0), (b, 0)]),
            Deadline::Now
        );
        // NoSchedule taints never evict.
        let soft = taint("c", None, "NoSchedule");
        assert_eq!(eviction_deadline(&[], &[(soft, 0)]), Deadline::Never);
    }
}
