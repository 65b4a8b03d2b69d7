//! ImageLocality: prefers nodes that already hold the pod's images, weighted by image
//! size and by how widely the image is spread (an image on every node gives no reason
//! to pick one), as kube-scheduler's plugin does.
//!
//! ```
//! use skiff_sched::plugins::image_locality::{calculate_priority, normalized_image_name, MB};
//! assert_eq!(normalized_image_name("nginx"), "nginx:latest");
//! assert_eq!(normalized_image_name("registry:5000/app"), "registry:5000/app:latest");
//! assert_eq!(normalized_image_name("nginx:1.25"), "nginx:1.25");
//! assert_eq!(calculate_priority(0, 1), 0);
//! assert_eq!(calculate_priority(1000 * MB, 1), 100);
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{
    ClusterEvent, CycleState, Plugin, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};

/// The plugin's name.
pub const NAME: &str = "ImageLocality";
/// One mebibyte.
pub const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;
const STATE_KEY: &str = "PreScoreImageLocality";

/// Adds `:latest` to an image name with no tag (the last `:` is not after the last
/// `/`).
pub fn normalized_image_name(name: &str) -> String {
    let colon = name.rfind(':').map(|i| i as isize).unwrap_or(-1);
    let slash = name.rfind('/').map(|i| i as isize).unwrap_or(-1);
    if colon <= slash {
        format!("{name}:latest")
    } else {
        name.to_owned()
    }
}

/// Maps the summed image score to 0..=100 between 23MB and 1000MB per container.
pub fn calculate_priority(sum_scores: i64, num_containers: usize) -> i64 {
    let max_threshold = MAX_CONTAINER_THRESHOLD * num_containers.max(1) as i64;
    let sum = sum_scores.clamp(MIN_THRESHOLD, max_threshold);
    MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max_threshold - MIN_THRESHOLD)
}

/// Per cycle: the pod's normalized image names, how many nodes hold each, and the
/// number of nodes.
#[derive(Clone)]
struct ImageSpread {
    images: Vec<(String, usize)>,
    total_nodes: usize,
    containers: usize,
}

fn pod_images(pod: &Pod) -> (Vec<String>, usize) {
    let Some(spec) = &pod.spec else {
        return (Vec::new(), 0);
    };
    let all: Vec<_> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .collect();
    let images = all
        .iter()
        .filter_map(|c| c.image.as_deref())
        .map(normalized_image_name)
        .collect();
    (images, all.len())
}

/// The score of `node` for a pod whose images spread as given.
fn score_node(node: &NodeInfo, spread: &ImageSpread) -> i64 {
    let mut sum = 0i64;
    for (image, num_nodes) in &spread.images {
        if let Some(size) = node.image_size(image) {
            let scaled = size as f64 * (*num_nodes as f64 / spread.total_nodes.max(1) as f64);
            sum = sum.saturating_add(scaled as i64);
        }
    }
    calculate_priority(sum, spread.containers)
}

/// The ImageLocality score.
#[derive(Debug, Default)]
pub struct ImageLocality;

impl Plugin for ImageLocality {
    fn name(&self) -> &str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        Vec::new()
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreScorePlugin for ImageLocality {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        _: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status {
        let (names, containers) = pod_images(pod);
        let mut seen = HashMap::new();
        for n in names {
            let count = snapshot.nodes_with_image(&n);
            seen.insert(n, count);
        }
        if seen.values().all(|c| *c == 0) {
            return Status::skip();
        }
        state.write(
            STATE_KEY,
            ImageSpread {
                images: seen.into_iter().collect(),
                total_nodes: snapshot.len(),
                containers,
            },
        );
        Status::success()
    }
}

impl ScorePlugin for ImageLocality {
    fn score(&self, state: &CycleState, _: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        match state.read::<ImageSpread>(STATE_KEY) {
            Some(spread) => Ok(score_node(node, spread)),
            None => Err(Status::error("ImageLocality: pre-score state missing")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Cache;
    use crate::plugins::testing::*;
    use serde_json::json;

    #[test]
    fn scores_by_size_and_spread() {
        // kube-scheduler's image_locality_test "two images spread on two nodes":
        // node1 holds gcr.io/40:latest (40MB) and gcr.io/300:latest (300MB), node2
        // holds gcr.io/250:latest (250MB); a pod using 40 and 300 and 250 images.
        let mut cache = Cache::default();
        cache.add_node(node(
            "n1",
            json!({}),
            json!({}),
            json!({"images": [
            {"names": ["gcr.io/40:latest", "gcr.io/40:v1"], "sizeBytes": 40 * MB},
            {"names": ["gcr.io/300:latest"], "sizeBytes": 300 * MB}]}),
        ));
        cache.add_node(node(
            "n2",
            json!({}),
            json!({}),
            json!({"images": [
            {"names": ["gcr.io/250:latest"], "sizeBytes": 250 * MB}]}),
        ));
        let mut snap = Snapshot::default();
        cache.update_snapshot(&mut snap);
        let p = pod(json!({"containers": [
            {"name": "a", "image": "gcr.io/40"}, {"name": "b", "image": "gcr.io/300"}, {"name": "c", "image": "gcr.io/250"}]}));
        let mut state = CycleState::new();
        assert!(ImageLocality
            .pre_score(&mut state, &p, snap.nodes(), &snap)
            .is_success());
        let s1 = ImageLocality
            .score(&state, &p, snap.get("n1").unwrap())
            .unwrap();
        let s2 = ImageLocality
            .score(&state, &p, snap.get("n2").unwrap())
            .unwrap();
        // n1: (40+300)MB * 1/2 = 170MB; (170-23)*100/(3000-23) = 4
        // n2: 250MB * 1/2 = 125MB; (125-23)*100/(3000-23) = 3
        assert_eq!((s1, s2), (4, 3));
        let none = pod(json!({"containers": [{"name": "a", "image": "other"}]}));
        assert!(ImageLocality
            .pre_score(&mut CycleState::new(), &none, snap.nodes(), &snap)
            .is_skip());
    }
}
