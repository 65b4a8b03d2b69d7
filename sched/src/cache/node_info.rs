//! [`NodeInfo`]: one node with the pods on it and what they add up to, the unit every
//! filter and score looks at.
//!
//! ```
//! use k8s_openapi::api::core::v1::{Node, Pod};
//! use skiff_sched::cache::NodeInfo;
//! let node: Node = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "n1"},
//!     "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}
//! })).unwrap();
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
//!     "spec": {"nodeName": "n1", "containers": [{"name": "c",
//!         "resources": {"requests": {"cpu": "1"}},
//!         "ports": [{"containerPort": 80, "hostPort": 8080}]}]}
//! })).unwrap();
//! let mut info = NodeInfo::new(node);
//! info.add_pod(std::sync::Arc::new(pod));
//! assert_eq!(info.requested().milli_cpu, 1000);
//! assert_eq!(info.allocatable().milli_cpu, 4000);
//! assert_eq!(info.used_ports().len(), 1);
//! assert!(info.remove_pod("u1"));
//! assert_eq!(info.requested().milli_cpu, 0);
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use super::affinity::PodAffinityTerms;
use super::resource::{pod_non_zero_requests, pod_requests, Resource};
use crate::pod::pod_key;

/// A host port a pod uses: `(ip, protocol, port)`; ip `0.0.0.0` means every address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The host IP (`0.0.0.0` when unset).
    pub ip: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The port.
    pub port: i32,
}

impl HostPort {
    /// Whether two host ports cannot both be used: same protocol and port, and the
    /// same IP or either is the wildcard.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// The host ports a pod asks for.
pub fn pod_host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|hp| *hp > 0)?;
            Some(HostPort {
                ip: p
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".to_owned()),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
                port,
            })
        })
        .collect()
}

/// A pod with what the scheduler computed from it once.
#[derive(Clone, Debug)]
pub struct PodInfo {
    /// The pod.
    pub pod: Arc<Pod>,
    /// Its key (UID).
    pub key: String,
    /// Its requests.
    pub requests: Resource,
    /// Its requests with scoring defaults.
    pub non_zero_requests: Resource,
    /// Its host ports.
    pub host_ports: Vec<HostPort>,
    /// Whether it has pod affinity or anti-affinity terms.
    pub has_affinity: bool,
    /// Its parsed pod (anti-)affinity terms (`None` when it has none, or when they
    /// do not parse: such terms are ignored on existing pods).
    pub affinity: Option<Arc<PodAffinityTerms>>,
}

impl PodInfo {
    /// Computes the pod's requests, ports and affinity flags.
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let has_affinity = pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some());
        let affinity = if has_affinity {
            PodAffinityTerms::from_pod(&pod)
                .ok()
                .filter(|t| !t.is_empty())
                .map(Arc::new)
        } else {
            None
        };
        PodInfo {
            key: pod_key(&pod),
            requests: pod_requests(&pod),
            non_zero_requests: pod_non_zero_requests(&pod),
            host_ports: pod_host_ports(&pod),
            has_affinity,
            affinity,
            pod,
        }
    }

    /// Whether the pod has required anti-affinity terms.
    pub fn has_required_anti_affinity(&self) -> bool {
        self.affinity
            .as_ref()
            .is_some_and(|a| !a.required_anti_affinity.is_empty())
    }

    /// The pod's labels (empty when it has none).
    pub fn labels(&self) -> &std::collections::BTreeMap<String, String> {
        static EMPTY: std::collections::BTreeMap<String, String> =
            std::collections::BTreeMap::new();
        self.pod.metadata.labels.as_ref().unwrap_or(&EMPTY)
    }

    /// The pod's namespace.
    pub fn namespace(&self) -> &str {
        crate::pod::namespace(&self.pod)
    }
}

/// A node, the pods the scheduler counts on it (bound and assumed) and their sums.
///
/// `repr(C)` keeps the fields every filter and score reads for every pod (the node
/// facts, pod count, allocatable and requested amounts) together at the front, so
/// the few cache lines [`NodeInfo::prefetch`] pulls in are the ones needed.
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub struct NodeInfo {
    name: Arc<str>,
    node: Option<Arc<Node>>,
    /// Facts of the node object read once in [`NodeInfo::set_node`], so the filters
    /// run for every pod do not chase the `Node` for them.
    facts: NodeFacts,
    pods: Vec<PodInfo>,
    allocatable: Resource,
    requested: Resource,
    non_zero_requested: Resource,
    used_ports: Vec<HostPort>,
    pods_with_affinity: usize,
    pods_with_required_anti_affinity: usize,
    /// Image name → size in bytes, for every name of every image on the node.
    images: HashMap<String, i64>,
}

/// What the per-node filters ask of the node object, computed when it is set.
#[derive(Clone, Copy, Debug, Default)]
struct NodeFacts {
    /// `spec.unschedulable`.
    unschedulable: bool,
    /// Whether it has a `NoSchedule` or `NoExecute` taint.
    hard_taints: bool,
    /// Whether it has a `PreferNoSchedule` taint.
    soft_taints: bool,
}

impl NodeInfo {
    /// A node with no pods.
    pub fn new(node: Node) -> NodeInfo {
        let mut info = NodeInfo::default();
        info.set_node(node);
        info
    }

    /// An entry for pods whose node the cache has not seen (yet, or any more).
    pub fn placeholder(name: &str) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            ..NodeInfo::default()
        }
    }

    /// Replaces the node object (allocatable, labels, taints, images).
    pub fn set_node(&mut self, node: Node) {
        self.name = node.metadata.name.as_deref().unwrap_or_default().into();
        let status = node.status.as_ref();
        self.allocatable = status
            .and_then(|s| s.allocatable.as_ref())
            .map(Resource::from_list)
            .unwrap_or_default();
        self.images = status
            .and_then(|s| s.images.as_ref())
            .into_iter()
            .flatten()
            .flat_map(|img| {
                let size = img.size_bytes.unwrap_or(0);
                img.names.iter().flatten().map(move |n| (n.clone(), size))
            })
            .collect();
        let spec = node.spec.as_ref();
        let taints = spec.and_then(|s| s.taints.as_deref()).unwrap_or(&[]);
        self.facts = NodeFacts {
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            hard_taints: taints
                .iter()
                .any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute"),
            soft_taints: taints.iter().any(|t| t.effect == "PreferNoSchedule"),
        };
        self.node = Some(Arc::new(node));
    }

    /// Forgets the node object, keeping its pods (they may outlive it briefly).
    pub fn clear_node(&mut self) {
        self.node = None;
        self.facts = NodeFacts::default();
    }

    /// A hint to the CPU to start loading this entry's hot fields (the first four
    /// cache lines), for a loop that will read it soon. No effect on architectures
    /// without a prefetch instruction.
    #[inline]
    pub fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let base = (self as *const NodeInfo).cast::<i8>();
            let size = std::mem::size_of::<NodeInfo>();
            for offset in [0, 64, 128, 192] {
                if offset < size {
                    // SAFETY: prefetching is a hint that never faults, and every
                    // address is inside `self`.
                    unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(offset)) };
                }
            }
        }
    }

    /// Whether the node object is known (a placeholder's is not).
    pub fn has_node(&self) -> bool {
        self.node.is_some()
    }

    /// The node's `spec.unschedulable` (false when the node is unknown).
    pub fn unschedulable(&self) -> bool {
        self.facts.unschedulable
    }

    /// Whether the node has a `NoSchedule` or `NoExecute` taint.
    pub fn has_hard_taints(&self) -> bool {
        self.facts.hard_taints
    }

    /// Whether the node has a `PreferNoSchedule` taint.
    pub fn has_soft_taints(&self) -> bool {
        self.facts.soft_taints
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's name, shared (cheap to clone into per-node results).
    pub fn name_arc(&self) -> Arc<str> {
        self.name.clone()
    }

    /// The node object, when known.
    pub fn node(&self) -> Option<&Node> {
        self.node.as_deref()
    }

    /// The pods counted on the node.
    pub fn pods(&self) -> &[PodInfo] {
        &self.pods
    }

    /// The sum of the pods' requests.
    pub fn requested(&self) -> &Resource {
        &self.requested
    }

    /// The sum of the pods' requests with scoring defaults.
    pub fn non_zero_requested(&self) -> &Resource {
        &self.non_zero_requested
    }

    /// `status.allocatable`.
    pub fn allocatable(&self) -> &Resource {
        &self.allocatable
    }

    /// The host ports in use.
    pub fn used_ports(&self) -> &[HostPort] {
        &self.used_ports
    }

    /// The size of image `name` on the node, if present.
    pub fn image_size(&self, name: &str) -> Option<i64> {
        self.images.get(name).copied()
    }

    /// The names of the images on the node.
    pub fn image_names(&self) -> impl Iterator<Item = &str> {
        self.images.keys().map(String::as_str)
    }

    /// How many pods on the node have pod affinity or anti-affinity.
    pub fn pods_with_affinity(&self) -> usize {
        self.pods_with_affinity
    }

    /// How many pods on the node have required pod anti-affinity terms.
    pub fn pods_with_required_anti_affinity(&self) -> usize {
        self.pods_with_required_anti_affinity
    }

    /// The node's labels.
    pub fn labels(&self) -> Option<&std::collections::BTreeMap<String, String>> {
        self.node.as_ref().and_then(|n| n.metadata.labels.as_ref())
    }

    /// Counts `pod` on the node.
    pub fn add_pod(&mut self, pod: Arc<Pod>) {
        self.add_pod_info(PodInfo::new(pod));
    }

    /// Counts an already computed pod on the node.
    pub fn add_pod_info(&mut self, info: PodInfo) {
        self.requested.add(&info.requests);
        self.non_zero_requested.add(&info.non_zero_requests);
        self.used_ports.extend(info.host_ports.iter().cloned());
        if info.has_affinity {
            self.pods_with_affinity += 1;
        }
        if info.has_required_anti_affinity() {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pods.push(info);
    }

    /// Stops counting the pod with `key`; returns whether it was there.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(pos) = self.pods.iter().position(|p| p.key == key) else {
            return false;
        };
        let info = self.pods.swap_remove(pos);
        self.requested.sub(&info.requests);
        self.non_zero_requested.sub(&info.non_zero_requests);
        for hp in &info.host_ports {
            if let Some(i) = self.used_ports.iter().position(|u| u == hp) {
                self.used_ports.swap_remove(i);
            }
        }
        if info.has_affinity {
            self.pods_with_affinity -= 1;
        }
        if info.has_required_anti_affinity() {
            self.pods_with_required_anti_affinity -= 1;
        }
        true
    }
}
