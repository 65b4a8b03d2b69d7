//! Indexed completion mode: a pod's completion index, and the compact interval form
//! of `status.completedIndexes` (`"1,3-5,7"`).
//!
//! ```
//! use std::collections::BTreeSet;
//! use skiff_controllers::job::indexed;
//! let set: BTreeSet<i32> = [1, 3, 4, 5, 7].into();
//! assert_eq!(indexed::format(&set), "1,3-5,7");
//! assert_eq!(indexed::parse("1,3-5,7", 10), set);
//! ```

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;

/// The annotation (and label) holding a pod's completion index.
pub const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";
/// The environment variable that carries the index into the containers.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// The pod's completion index, if it has a valid one below `completions`.
pub fn index_of(pod: &Pod, completions: i32) -> Option<i32> {
    let meta = &pod.metadata;
    let raw = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(INDEX_KEY))
        .or_else(|| meta.labels.as_ref().and_then(|l| l.get(INDEX_KEY)))?;
    let i: i32 = raw.parse().ok()?;
    (0..completions).contains(&i).then_some(i)
}

/// `indexes` as ascending intervals: `0-2,5`.
pub fn format(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(i32, i32)> = None;
    for &i in indexes {
        run = match run {
            Some((first, last)) if last.checked_add(1) == Some(i) => Some((first, i)),
            Some(r) => {
                parts.push(interval(r));
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    if let Some(r) = run {
        parts.push(interval(r));
    }
    parts.join(",")
}

fn interval((first, last): (i32, i32)) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

/// The indexes below `completions` that `text` (the interval form) lists; malformed
/// parts are ignored.
pub fn parse(text: &str, completions: i32) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (part.parse::<i32>(), part.parse::<i32>()),
        };
        let (Ok(first), Ok(last)) = (first, last) else {
            continue;
        };
        let (first, last) = (first.max(0), last.min(completions.saturating_sub(1)));
        out.extend(first..=last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_round_trip_and_bad_input_is_ignored() {
        assert_eq!(format(&BTreeSet::new()), "");
        assert_eq!(format(&[0, 1, 2].into()), "0-2");
        assert_eq!(parse("0-2,x,9-", 5), [0, 1, 2].into());
        assert_eq!(parse("3-100", 5), [3, 4].into());
        let mut pod = Pod::default();
        pod.metadata.annotations = Some([(INDEX_KEY.to_owned(), "2".to_owned())].into());
        assert_eq!(index_of(&pod, 3), Some(2));
        assert_eq!(index_of(&pod, 2), None);
    }
}
