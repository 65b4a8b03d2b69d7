//! Pure helpers the default plugins share: node selector terms and tolerations
//! (re-exported from [`skiff_core::selector::node`], which the DaemonSet controller
//! shares), and the default score normalization.
//!
//! ```
//! use k8s_openapi::api::core::v1::{Taint, Toleration};
//! use skiff_sched::plugins::helpers::tolerates;
//! let taint = Taint { key: "gpu".into(), value: Some("true".into()), effect: "NoSchedule".into(), ..Default::default() };
//! let tol = Toleration { key: Some("gpu".into()), operator: Some("Exists".into()), ..Default::default() };
//! assert!(tolerates(&tol, &taint));
//! ```

pub use skiff_core::selector::node::{
    find_untolerated, selector_matches, term_matches, terms_match, tolerates,
};

use crate::framework::{NodeScore, MAX_NODE_SCORE};

/// Kubernetes' `DefaultNormalizeScore`: scales scores so the highest becomes 100
/// (all zero stays zero); with `reverse`, flips them (`100 - score`).
pub fn default_normalize_score(reverse: bool, scores: &mut [NodeScore]) {
    let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| s.score = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores {
        let mut score = MAX_NODE_SCORE * s.score / max;
        if reverse {
            score = MAX_NODE_SCORE - score;
        }
        s.score = score;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize() {
        let mk = |v: &[i64]| {
            v.iter()
                .map(|s| NodeScore {
                    name: "",
                    score: *s,
                })
                .collect::<Vec<_>>()
        };
        let get = |v: Vec<NodeScore>| v.into_iter().map(|s| s.score).collect::<Vec<_>>();
        let mut s = mk(&[1, 2, 4]);
        default_normalize_score(false, &mut s);
        assert_eq!(get(s), vec![25, 50, 100]);
        let mut s = mk(&[1, 2, 4]);
        default_normalize_score(true, &mut s);
        assert_eq!(get(s), vec![75, 50, 0]);
        let mut s = mk(&[0, 0]);
        default_normalize_score(true, &mut s);
        assert_eq!(get(s), vec![100, 100]);
    }
}
