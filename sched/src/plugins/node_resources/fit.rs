//! NodeResourcesFit: the pod's requests must fit the node's allocatable minus what its
//! pods already request (filter); nodes are ranked by LeastAllocated (spread) or
//! MostAllocated (pack) over weighted resources (score).
//!
//! [`fits`] is the pure core: it returns every [`InsufficientResource`]; the filter
//! only turns them into a status.
//!
//! ```
//! use skiff_sched::cache::Resource;
//! use skiff_sched::plugins::node_resources::{fits, least_requested_score, most_requested_score};
//! let alloc = Resource { milli_cpu: 4000, memory: 8 << 30, allowed_pod_number: 110, ..Default::default() };
//! let used = Resource { milli_cpu: 3500, ..Default::default() };
//! let pod = Resource { milli_cpu: 1000, ..Default::default() };
//! let short = fits(&pod, &alloc, &used, 3);
//! assert_eq!(short[0].reason, "Insufficient cpu");
//! assert!(!short[0].unresolvable);
//! assert_eq!(least_requested_score(1000, 4000), 75);
//! assert_eq!(most_requested_score(1000, 4000), 25);
//! ```

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;
use serde_json::Value;

use crate::cache::{
    pod_non_zero_requests, pod_requests, NodeInfo, Resource, ResourceName, Snapshot,
};
use crate::framework::{
    ClusterEvent, Code, CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult,
    PreScorePlugin, RegistryError, ScorePlugin, Status, MAX_NODE_SCORE,
};

/// The plugin's name.
pub const NAME: &str = "NodeResourcesFit";
const PRE_FILTER_KEY: &str = "PreFilterNodeResourcesFit";
const PRE_SCORE_KEY: &str = "PreScoreNodeResourcesFit";

/// One resource the pod needs more of than the node has free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsufficientResource {
    /// The resource (`cpu`, `memory`, `pods`, ...).
    pub resource: String,
    /// The reason line (`Insufficient cpu`, `Too many pods`).
    pub reason: String,
    /// What the pod requests.
    pub requested: i64,
    /// What the node's pods already use.
    pub used: i64,
    /// The node's allocatable.
    pub capacity: i64,
    /// The pod asks for more than the whole node has: preemption cannot help.
    pub unresolvable: bool,
}

/// Every resource `pod` (its requests) lacks on a node with `alloc` allocatable,
/// `used` requested by its pods, and `pod_count` pods.
pub fn fits(
    pod: &Resource,
    alloc: &Resource,
    used: &Resource,
    pod_count: usize,
) -> Vec<InsufficientResource> {
    let mut out = Vec::new();
    let short = |resource: &str, reason: String, requested: i64, used: i64, capacity: i64| {
        InsufficientResource {
            resource: resource.to_owned(),
            reason,
            requested,
            used,
            capacity,
            unresolvable: requested > capacity,
        }
    };
    let pods = pod_count as i64;
    if pods + 1 > alloc.allowed_pod_number {
        let mut r = short(
            "pods",
            "Too many pods".into(),
            1,
            pods,
            alloc.allowed_pod_number,
        );
        r.unresolvable = false;
        out.push(r);
    }
    if pod.milli_cpu == 0
        && pod.memory == 0
        && pod.ephemeral_storage == 0
        && pod.scalar.values().all(|v| *v == 0)
    {
        return out;
    }
    let mut check = |name: &str, req: i64, have: i64, used: i64| {
        if req > 0 && req > have.saturating_sub(used) {
            out.push(short(name, format!("Insufficient {name}"), req, used, have));
        }
    };
    check("cpu", pod.milli_cpu, alloc.milli_cpu, used.milli_cpu);
    check("memory", pod.memory, alloc.memory, used.memory);
    check(
        "ephemeral-storage",
        pod.ephemeral_storage,
        alloc.ephemeral_storage,
        used.ephemeral_storage,
    );
    for (name, req) in &pod.scalar {
        check(name, *req, alloc.get(name), used.get(name));
    }
    out
}

/// `(capacity - requested) * 100 / capacity`; 0 when over capacity or no capacity.
pub fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// `requested * 100 / capacity`, capped at 100; 0 with no capacity.
pub fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

/// A resource the score weighs.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ResourceWeight {
    /// The resource name.
    pub name: String,
    /// Its weight (at least 1).
    pub weight: i64,
}

/// The scoring strategy.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
pub enum StrategyType {
    /// Prefer nodes with the most free resources (spread).
    #[default]
    LeastAllocated,
    /// Prefer nodes with the least free resources (bin packing).
    MostAllocated,
}

/// `scoringStrategy` of the plugin arguments.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScoringStrategy {
    /// The strategy.
    #[serde(rename = "type", default)]
    pub kind: StrategyType,
    /// The resources and weights (default cpu:1, memory:1).
    #[serde(default = "default_resources")]
    pub resources: Vec<ResourceWeight>,
}

impl Default for ScoringStrategy {
    fn default() -> Self {
        ScoringStrategy {
            kind: StrategyType::LeastAllocated,
            resources: default_resources(),
        }
    }
}

/// cpu and memory, weight 1 each.
pub fn default_resources() -> Vec<ResourceWeight> {
    vec![
        ResourceWeight {
            name: "cpu".into(),
            weight: 1,
        },
        ResourceWeight {
            name: "memory".into(),
            weight: 1,
        },
    ]
}

/// `NodeResourcesFitArgs` (the parts Skiff reads).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FitArgs {
    /// The scoring strategy.
    #[serde(default)]
    pub scoring_strategy: ScoringStrategy,
    /// Extended resources the filter does not check.
    #[serde(default)]
    pub ignored_resources: Vec<String>,
}

/// The requested amount of `resource` on the node after adding the pod, and the
/// node's allocatable: cpu and memory use the scoring defaults for empty requests.
pub fn requested_and_allocatable(
    node: &NodeInfo,
    pod_non_zero: &Resource,
    pod: &Resource,
    resource: &str,
) -> (i64, i64) {
    requested_and_allocatable_of(node, pod_non_zero, pod, &ResourceName::parse(resource))
}

/// [`requested_and_allocatable`] of a resolved resource name.
fn requested_and_allocatable_of(
    node: &NodeInfo,
    pod_non_zero: &Resource,
    pod: &Resource,
    resource: &ResourceName,
) -> (i64, i64) {
    let alloc = node.allocatable().amount(resource);
    let requested = match resource {
        ResourceName::Cpu | ResourceName::Memory => {
            node.non_zero_requested().amount(resource) + pod_non_zero.amount(resource)
        }
        _ => node.requested().amount(resource) + pod.amount(resource),
    };
    (requested, alloc)
}

/// Scoring resources resolved once: each name with its weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScoredResources(Vec<(ResourceName, i64)>);

impl ScoredResources {
    pub(crate) fn new(resources: &[ResourceWeight]) -> ScoredResources {
        ScoredResources(
            resources
                .iter()
                .map(|r| (ResourceName::parse(&r.name), r.weight))
                .collect(),
        )
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(ResourceName, i64)> {
        self.0.iter()
    }
}

/// The weighted mean of `scorer(requested, allocatable)` over `resources` (the
/// pod's requests added to the node's), skipping resources the node does not have.
pub fn weighted_score(
    node: &NodeInfo,
    pod_non_zero: &Resource,
    pod: &Resource,
    resources: &[ResourceWeight],
    scorer: fn(i64, i64) -> i64,
) -> i64 {
    weighted_score_of(
        node,
        pod_non_zero,
        pod,
        &ScoredResources::new(resources),
        scorer,
    )
}

fn weighted_score_of(
    node: &NodeInfo,
    pod_non_zero: &Resource,
    pod: &Resource,
    resources: &ScoredResources,
    scorer: fn(i64, i64) -> i64,
) -> i64 {
    let (mut sum, mut weights) = (0i64, 0i64);
    for (name, weight) in resources.iter() {
        let (requested, alloc) = requested_and_allocatable_of(node, pod_non_zero, pod, name);
        if alloc == 0 {
            continue;
        }
        sum += scorer(requested, alloc) * weight;
        weights += weight;
    }
    if weights == 0 {
        0
    } else {
        sum / weights
    }
}

#[derive(Clone)]
struct PodRequests {
    requests: Resource,
    non_zero: Resource,
}

/// The NodeResourcesFit pre-filter, filter, pre-score and score.
#[derive(Debug)]
pub struct Fit {
    args: FitArgs,
    scored: ScoredResources,
}

impl Default for Fit {
    fn default() -> Self {
        Fit::with_args(FitArgs::default())
    }
}

impl Fit {
    /// Builds the plugin from its arguments (`Null`: defaults).
    pub fn from_args(args: &Value) -> Result<Fit, RegistryError> {
        let invalid = |message: String| RegistryError::InvalidArgs {
            plugin: NAME.into(),
            message,
        };
        let args: FitArgs = if args.is_null() {
            FitArgs::default()
        } else {
            serde_json::from_value(args.clone()).map_err(|e| invalid(e.to_string()))?
        };
        if args.scoring_strategy.resources.is_empty() {
            return Err(invalid(
                "scoringStrategy.resources must not be empty".into(),
            ));
        }
        if let Some(r) = args
            .scoring_strategy
            .resources
            .iter()
            .find(|r| !(1..=100).contains(&r.weight))
        {
            return Err(invalid(format!(
                "resource {:?} weight {} is not in 1..=100",
                r.name, r.weight
            )));
        }
        Ok(Fit::with_args(args))
    }

    fn with_args(args: FitArgs) -> Fit {
        Fit {
            scored: ScoredResources::new(&args.scoring_strategy.resources),
            args,
        }
    }

    fn scorer(&self) -> fn(i64, i64) -> i64 {
        match self.args.scoring_strategy.kind {
            StrategyType::LeastAllocated => least_requested_score,
            StrategyType::MostAllocated => most_requested_score,
        }
    }

    fn requests<'a>(
        state: &'a CycleState,
        key: &str,
        pod: &Pod,
        owned: &'a mut Option<PodRequests>,
    ) -> &'a PodRequests {
        match state.read::<PodRequests>(key) {
            Some(r) => r,
            None => owned.insert(PodRequests {
                requests: pod_requests(pod),
                non_zero: pod_non_zero_requests(pod),
            }),
        }
    }
}

impl Plugin for Fit {
    fn name(&self) -> &str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::NodeAdd,
            ClusterEvent::NodeUpdate,
            ClusterEvent::AssignedPodDelete,
            ClusterEvent::AssignedPodUpdate,
        ]
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for Fit {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        _: &Snapshot,
    ) -> (PreFilterResult, Status) {
        let mut requests = pod_requests(pod);
        requests
            .scalar
            .retain(|k, _| !self.args.ignored_resources.contains(k));
        state.write(
            PRE_FILTER_KEY,
            PodRequests {
                requests,
                non_zero: Resource::default(),
            },
        );
        (PreFilterResult::default(), Status::success())
    }
}

impl FilterPlugin for Fit {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let mut owned = None;
        let r = Fit::requests(state, PRE_FILTER_KEY, pod, &mut owned);
        let short = fits(
            &r.requests,
            node.allocatable(),
            node.requested(),
            node.pods().len(),
        );
        if short.is_empty() {
            return Status::success();
        }
        let code = if short.iter().any(|s| s.unresolvable) {
            Code::UnschedulableAndUnresolvable
        } else {
            Code::Unschedulable
        };
        Status::with_reasons(code, short.into_iter().map(|s| s.reason).collect())
    }
}

impl PreScorePlugin for Fit {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        _: &[Arc<NodeInfo>],
        _: &Snapshot,
    ) -> Status {
        state.write(
            PRE_SCORE_KEY,
            PodRequests {
                requests: pod_requests(pod),
                non_zero: pod_non_zero_requests(pod),
            },
        );
        Status::success()
    }
}

impl ScorePlugin for Fit {
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let mut owned = None;
        let r = Fit::requests(state, PRE_SCORE_KEY, pod, &mut owned);
        Ok(weighted_score_of(
            node,
            &r.non_zero,
            &r.requests,
            &self.scored,
            self.scorer(),
        ))
    }

    fn score_nodes(
        &self,
        state: &CycleState,
        pod: &Pod,
        nodes: &[Arc<NodeInfo>],
        out: &mut [i64],
    ) -> Result<(), Status> {
        let mut owned = None;
        let r = Fit::requests(state, PRE_SCORE_KEY, pod, &mut owned);
        let scorer = self.scorer();
        for (node, score) in nodes.iter().zip(out.iter_mut()) {
            *score = weighted_score_of(node, &r.non_zero, &r.requests, &self.scored, scorer);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::*;
    use serde_json::json;

    fn run_filter(p: &Pod, n: &NodeInfo) -> Status {
        let fit = Fit::default();
        let mut state = CycleState::new();
        fit.pre_filter(&mut state, p, &Snapshot::default());
        fit.filter(&state, p, n)
    }

    #[test]
    fn filter_table() {
        // Cases from kube-scheduler's fit_test.go (TestEnoughRequests), with a node of
        // 10 cpu (milli 10000 in kube's units scaled here) and 20 memory units.
        let node_of = |cpu_used: &str, mem_used: &str| {
            info(
                node(
                    "n",
                    json!({}),
                    json!({}),
                    json!({"allocatable": {"cpu": "10", "memory": "20", "pods": "32", "example.com/aaa": "5"}}),
                ),
                vec![requesting(cpu_used, mem_used)],
            )
        };
        let cases: Vec<(&str, Pod, NodeInfo, Code, Vec<&str>)> = vec![
            (
                "no resources requested always fits",
                pod(json!({"containers": [{"name": "c"}]})),
                node_of("10", "20"),
                Code::Success,
                vec![],
            ),
            (
                "too many resources fails",
                requesting("1", "1"),
                node_of("10", "20"),
                Code::Unschedulable,
                vec!["Insufficient cpu", "Insufficient memory"],
            ),
            (
                "fits",
                requesting("1", "1"),
                node_of("5", "5"),
                Code::Success,
                vec![],
            ),
            (
                "equal edge case",
                requesting("5", "19"),
                node_of("5", "1"),
                Code::Success,
                vec![],
            ),
            (
                "cpu only short",
                requesting("8", "1"),
                node_of("5", "5"),
                Code::Unschedulable,
                vec!["Insufficient cpu"],
            ),
            (
                "more than the node: unresolvable",
                requesting("11", "1"),
                node_of("0", "0"),
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient cpu"],
            ),
            (
                "init container larger than free",
                pod(
                    json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}],
                "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "6"}}}]}),
                ),
                node_of("5", "5"),
                Code::Unschedulable,
                vec!["Insufficient cpu"],
            ),
            (
                "extended resource fits",
                pod(
                    json!({"containers": [{"name": "c", "resources": {"requests": {"example.com/aaa": "5"}}}]}),
                ),
                node_of("0", "0"),
                Code::Success,
                vec![],
            ),
            (
                "extended resource missing on node",
                pod(
                    json!({"containers": [{"name": "c", "resources": {"requests": {"example.com/bbb": "1"}}}]}),
                ),
                node_of("0", "0"),
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient example.com/bbb"],
            ),
        ];
        for (name, p, n, code, reasons) in cases {
            let s = run_filter(&p, &n);
            assert_eq!(s.code(), code, "{name}: {s}");
            assert_eq!(
                s.reasons(),
                reasons.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                "{name}"
            );
        }
    }

    #[test]
    fn too_many_pods() {
        let n = info(
            node(
                "n",
                json!({}),
                json!({}),
                json!({"allocatable": {"cpu": "10", "memory": "20", "pods": "1"}}),
            ),
            vec![requesting("", "")],
        );
        let s = run_filter(&requesting("", ""), &n);
        assert_eq!(
            (s.code(), s.message()),
            (Code::Unschedulable, "Too many pods".to_owned())
        );
    }

    #[test]
    fn least_and_most_allocated() {
        // kube-scheduler's least_allocated_test "nothing scheduled, resources
        // requested, differently sized nodes": node1 4000m/10000 memory, node2
        // 6000m/10000; pod requests 3000m and 5000 memory.
        let p = pod(json!({"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "1000m", "memory": "2000"}}},
            {"name": "b", "resources": {"requests": {"cpu": "2000m", "memory": "3000"}}}]}));
        let n1 = info(sized_node("n1", "4", "10000"), vec![]);
        let n2 = info(sized_node("n2", "6", "10000"), vec![]);
        let score = |fit: &Fit, n: &NodeInfo| {
            let mut state = CycleState::new();
            fit.pre_score(&mut state, &p, &[], &Snapshot::default());
            fit.score(&state, &p, n).unwrap()
        };
        let least = Fit::default();
        // cpu (4000-3000)*100/4000 = 25, memory (10000-5000)*100/10000 = 50 -> 37
        // cpu (6000-3000)*100/6000 = 50, memory 50 -> 50
        assert_eq!((score(&least, &n1), score(&least, &n2)), (37, 50));
        let most = Fit::from_args(&json!({"scoringStrategy": {"type": "MostAllocated"}})).unwrap();
        // cpu 75, memory 50 -> 62; cpu 50, memory 50 -> 50
        assert_eq!((score(&most, &n1), score(&most, &n2)), (62, 50));
        // Pods without requests count as 100m / 200Mi.
        let empty = pod(json!({"containers": [{"name": "a"}]}));
        let big = info(sized_node("n", "1", "1000Mi"), vec![]);
        let mut state = CycleState::new();
        least.pre_score(&mut state, &empty, &[], &Snapshot::default());
        // cpu (1000-100)/1000 = 90, memory (1000-200)/1000 = 80 -> 85
        assert_eq!(least.score(&state, &empty, &big).unwrap(), 85);
    }

    #[test]
    fn args_are_validated() {
        assert!(Fit::from_args(&json!({"scoringStrategy": {"type": "Nope"}})).is_err());
        assert!(Fit::from_args(&json!({"scoringStrategy": {"resources": []}})).is_err());
        assert!(Fit::from_args(
            &json!({"scoringStrategy": {"resources": [{"name": "cpu", "weight": 0}]}})
        )
        .is_err());
        assert!(Fit::from_args(&json!({"ignoredResources": ["example.com/x"]})).is_ok());
    }
}
