//! [`Resource`]: amounts of cpu, memory, ephemeral storage, pods and extended
//! resources, and [`pod_requests`], what a pod asks of its node.
//!
//! A pod's request follows Kubernetes' `resourcehelper.PodRequests`: the sum of its
//! containers; each regular init container runs alone (with the sidecars started
//! before it), so the pod needs the largest of those; sidecars (init containers with
//! `restartPolicy: Always`) keep running and add to the sum; then `spec.overhead` is
//! added. Limits stand in for missing requests, as API defaulting does.
//!
//! ```
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_sched::cache::pod_requests;
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "spec": {
//!         "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}],
//!         "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}],
//!         "overhead": {"cpu": "100m"}
//!     }
//! })).unwrap();
//! let r = pod_requests(&pod);
//! assert_eq!(r.milli_cpu, 2100);
//! assert_eq!(r.memory, 1 << 30);
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use skiff_core::quantity::Quantity;

/// The cpu a container without a cpu request counts as when scoring (100m).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The memory a container without a memory request counts as when scoring (200Mi).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Resource amounts: cpu in millicores, memory and storage in bytes, a pod count, and
/// extended resources (`nvidia.com/gpu`, `hugepages-2Mi`) in their units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    /// cpu, in millicores.
    pub milli_cpu: i64,
    /// memory, in bytes.
    pub memory: i64,
    /// ephemeral-storage, in bytes.
    pub ephemeral_storage: i64,
    /// pods (only meaningful for allocatable).
    pub allowed_pod_number: i64,
    /// Every other resource, by name.
    pub scalar: BTreeMap<String, i64>,
}

impl Resource {
    /// Reads a resource list (`requests`, `allocatable`). Unparsable quantities count
    /// as zero: the API server validates them, and a bad one must not stop scheduling.
    pub fn from_list(list: &BTreeMap<String, K8sQuantity>) -> Resource {
        let mut r = Resource::default();
        for (name, q) in list {
            let q = Quantity::from_k8s(q).ok();
            let value = q.map(|q| q.value()).unwrap_or(0);
            match name.as_str() {
                "cpu" => r.milli_cpu = q.map(|q| q.milli_value()).unwrap_or(0),
                "memory" => r.memory = value,
                "ephemeral-storage" => r.ephemeral_storage = value,
                "pods" => r.allowed_pod_number = value,
                _ => {
                    r.scalar.insert(name.clone(), value);
                }
            }
        }
        r
    }

    /// Adds `other` (saturating).
    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        self.allowed_pod_number = self
            .allowed_pod_number
            .saturating_add(other.allowed_pod_number);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_insert(0);
            *e = e.saturating_add(*v);
        }
    }

    /// Subtracts `other` (saturating; amounts never go below zero).
    pub fn sub(&mut self, other: &Resource) {
        let sub = |a: i64, b: i64| a.saturating_sub(b).max(0);
        self.milli_cpu = sub(self.milli_cpu, other.milli_cpu);
        self.memory = sub(self.memory, other.memory);
        self.ephemeral_storage = sub(self.ephemeral_storage, other.ephemeral_storage);
        self.allowed_pod_number = sub(self.allowed_pod_number, other.allowed_pod_number);
        for (k, v) in &other.scalar {
            if let Some(e) = self.scalar.get_mut(k) {
                *e = sub(*e, *v);
            }
        }
    }

    /// Raises each amount to at least `other`'s.
    pub fn set_max(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.allowed_pod_number = self.allowed_pod_number.max(other.allowed_pod_number);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
    }

    /// The amount of a resolved resource name (no string comparison).
    pub fn amount(&self, name: &ResourceName) -> i64 {
        match name {
            ResourceName::Cpu => self.milli_cpu,
            ResourceName::Memory => self.memory,
            ResourceName::EphemeralStorage => self.ephemeral_storage,
            ResourceName::Pods => self.allowed_pod_number,
            ResourceName::Scalar(other) => self.scalar.get(other).copied().unwrap_or(0),
        }
    }

    /// The amount of resource `name`.
    pub fn get(&self, name: &str) -> i64 {
        match name {
            "cpu" => self.milli_cpu,
            "memory" => self.memory,
            "ephemeral-storage" => self.ephemeral_storage,
            "pods" => self.allowed_pod_number,
            other => self.scalar.get(other).copied().unwrap_or(0),
        }
    }
}

/// A resource name resolved once (scoring configurations name resources as strings;
/// per-node code reads amounts through this instead).
///
/// ```
/// use skiff_sched::cache::{Resource, ResourceName};
/// let r = Resource { milli_cpu: 250, ..Resource::default() };
/// assert_eq!(r.amount(&ResourceName::parse("cpu")), 250);
/// assert_eq!(ResourceName::parse("example.com/gpu").as_str(), "example.com/gpu");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceName {
    /// `cpu` (millicores).
    Cpu,
    /// `memory`.
    Memory,
    /// `ephemeral-storage`.
    EphemeralStorage,
    /// `pods`.
    Pods,
    /// Any other (extended) resource.
    Scalar(String),
}

impl ResourceName {
    /// Resolves a resource name.
    pub fn parse(name: &str) -> ResourceName {
        match name {
            "cpu" => ResourceName::Cpu,
            "memory" => ResourceName::Memory,
            "ephemeral-storage" => ResourceName::EphemeralStorage,
            "pods" => ResourceName::Pods,
            other => ResourceName::Scalar(other.to_owned()),
        }
    }

    /// The name as Kubernetes spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ResourceName::Cpu => "cpu",
            ResourceName::Memory => "memory",
            ResourceName::EphemeralStorage => "ephemeral-storage",
            ResourceName::Pods => "pods",
            ResourceName::Scalar(s) => s,
        }
    }
}

fn container_requests(c: &Container) -> Resource {
    let Some(res) = &c.resources else {
        return Resource::default();
    };
    // Requests default to limits for resources that only have a limit.
    let mut list = res.limits.clone().unwrap_or_default();
    if let Some(req) = &res.requests {
        list.extend(req.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Resource::from_list(&list)
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// What the pod asks of its node, with per-container defaults applied to cpu and
/// memory when `non_zero` (the scoring view: a container with no request counts as
/// 100m cpu and 200Mi memory, so empty pods do not all pile onto one node).
fn requests(pod: &Pod, non_zero: bool) -> Resource {
    let Some(spec) = &pod.spec else {
        return Resource::default();
    };
    let reqs_of = |c: &Container| {
        let mut r = container_requests(c);
        if non_zero {
            if r.milli_cpu == 0 {
                r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
            }
            if r.memory == 0 {
                r.memory = DEFAULT_MEMORY_REQUEST;
            }
        }
        r
    };
    let mut total = Resource::default();
    for c in &spec.containers {
        total.add(&reqs_of(c));
    }
    let mut sidecars = Resource::default();
    let mut init_max = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let r = reqs_of(c);
        let mut during = sidecars.clone();
        if is_sidecar(c) {
            total.add(&r);
            sidecars.add(&r);
            during = sidecars.clone();
        } else {
            during.add(&r);
        }
        init_max.set_max(&during);
    }
    total.set_max(&init_max);
    if let Some(overhead) = &spec.overhead {
        total.add(&Resource::from_list(overhead));
    }
    total
}

/// The pod's requests, as NodeResourcesFit checks them.
pub fn pod_requests(pod: &Pod) -> Resource {
    requests(pod, false)
}

/// The pod's requests with cpu/memory defaults for containers that set none (for
/// scoring).
pub fn pod_non_zero_requests(pod: &Pod) -> Resource {
    requests(pod, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({ "spec": spec })).unwrap()
    }

    #[test]
    fn requests_follow_kubernetes_rules() {
        struct Case {
            name: &'static str,
            spec: serde_json::Value,
            cpu: i64,
            mem: i64,
            non_zero_cpu: i64,
        }
        let cases = [
            Case {
                name: "sum of containers",
                spec: json!({"containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
                    {"name": "b", "resources": {"requests": {"cpu": "500m"}}}]}),
                cpu: 1500,
                mem: 1 << 30,
                non_zero_cpu: 1500,
            },
            Case {
                name: "init container larger than the sum",
                spec: json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}],
                    "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "3", "memory": "1k"}}}]}),
                cpu: 3000,
                mem: 1000,
                non_zero_cpu: 3000,
            },
            Case {
                name: "sidecar adds to the sum and to later init containers",
                spec: json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}],
                    "initContainers": [
                        {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
                        {"name": "init", "resources": {"requests": {"cpu": "2"}}}]}),
                cpu: 2500,
                mem: 0,
                non_zero_cpu: 2500,
            },
            Case {
                name: "limits stand in for requests; overhead is added",
                spec: json!({"containers": [{"name": "a", "resources": {"limits": {"cpu": "2", "memory": "1Mi"}}}],
                    "overhead": {"cpu": "250m", "memory": "1Mi"}}),
                cpu: 2250,
                mem: 2 << 20,
                non_zero_cpu: 2250,
            },
            Case {
                name: "no requests: zero, but 100m for scoring",
                spec: json!({"containers": [{"name": "a"}]}),
                cpu: 0,
                mem: 0,
                non_zero_cpu: 100,
            },
            Case {
                name: "bad quantity counts as zero",
                spec: json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "lots"}}}]}),
                cpu: 0,
                mem: 0,
                non_zero_cpu: 100,
            },
        ];
        for c in cases {
            let p = pod(c.spec);
            let r = pod_requests(&p);
            assert_eq!((r.milli_cpu, r.memory), (c.cpu, c.mem), "{}", c.name);
            assert_eq!(
                pod_non_zero_requests(&p).milli_cpu,
                c.non_zero_cpu,
                "{}",
                c.name
            );
        }
    }

    #[test]
    fn extended_resources() {
        let p = pod(
            json!({"containers": [{"name": "a", "resources": {"requests": {"nvidia.com/gpu": "2"}}}]}),
        );
        assert_eq!(pod_requests(&p).get("nvidia.com/gpu"), 2);
    }
}
