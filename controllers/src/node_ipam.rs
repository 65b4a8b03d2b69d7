//! Node IPAM: gives every node a pod CIDR (`spec.podCIDR` and `spec.podCIDRs`) cut
//! from the cluster CIDR, never the same one twice, and takes it back when the node is
//! deleted. The allocations are rebuilt from the nodes' own `podCIDR`s at start (the
//! nodes are the source of truth; the controller keeps no state elsewhere).
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use futures::StreamExt;
//! use skiff_controllers::node_ipam::{self, Config};
//! let config = Config::new("10.244.0.0/16", 24).unwrap();
//! node_ipam::run(client, config).unwrap().for_each(|_| async {}).await;
//! # }
//! ```
//!
//! The CIDR arithmetic is [`CidrSet`], usable on its own:
//!
//! ```
//! use skiff_controllers::node_ipam::{CidrSet, Config};
//! let mut set = CidrSet::new(&Config::new("10.244.0.0/16", 24).unwrap());
//! assert!(set.occupy("10.244.0.0/24".parse().unwrap(), "a").is_ok());
//! assert_eq!(set.allocate("b").unwrap().to_string(), "10.244.1.0/24");
//! set.release_node("a");
//! assert_eq!(set.allocate("c").unwrap().to_string(), "10.244.0.0/24");
//! ```

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::stream::BoxStream;
use futures::StreamExt;
use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use serde_json::json;
use skiff_core::client::{Api, Client, ClientError, ObjectTarget, Patch, PatchParams, ResourceRef};
use skiff_core::runtime::controller::{self, Action};
use skiff_core::runtime::events::{EventType, Recorder, Reporter};
use skiff_core::runtime::watcher::{self, Event};
use skiff_core::runtime::{Controller, ObjectRef};

/// The most bits a node mask may add to the cluster CIDR's prefix (Kubernetes'
/// limit: 65536 node CIDRs).
pub const MAX_MASK_DIFFERENCE: u8 = 16;

/// What configuring or running node IPAM failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cluster CIDR does not parse.
    #[error("invalid cluster CIDR {0:?}: {1}")]
    InvalidClusterCidr(String, String),
    /// The node mask does not fit the cluster CIDR.
    #[error("node CIDR mask /{mask} does not fit cluster CIDR {cluster} (it must be between /{cluster_prefix} and /{max}, at most {MAX_MASK_DIFFERENCE} bits longer)", cluster_prefix = cluster.prefix_len(), max = cluster.max_prefix_len())]
    InvalidNodeMask {
        /// The cluster CIDR.
        cluster: IpNet,
        /// The node mask asked for.
        mask: u8,
    },
    /// Every node CIDR is taken.
    #[error("no pod CIDR left in {0} for node {1}")]
    Exhausted(IpNet, String),
    /// A node's `podCIDR` is not a CIDR of this cluster, or belongs to another node.
    #[error("pod CIDR {cidr:?} of node {node} cannot be used: {reason}")]
    Unusable {
        /// The CIDR.
        cidr: String,
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
    /// Writing the node failed.
    #[error("setting the pod CIDR of node {0}: {1}")]
    Client(String, #[source] ClientError),
}

/// The cluster CIDR and the size of each node's share
/// (`--cluster-cidr`, `--node-cidr-mask-size`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The CIDR pod CIDRs are cut from.
    pub cluster_cidr: IpNet,
    /// The prefix length of each node's CIDR.
    pub node_mask: u8,
}

impl Default for Config {
    /// `10.244.0.0/16` in `/24`s (flannel's and kubeadm's usual choice).
    fn default() -> Self {
        Config {
            cluster_cidr: IpNet::V4(
                ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, 244, 0, 0), 16).unwrap_or_default(),
            ),
            node_mask: 24,
        }
    }
}

impl Config {
    /// A checked configuration: `cluster_cidr` parses (its host bits are cleared) and
    /// `node_mask` is no shorter than its prefix, no longer than the address, and at
    /// most [`MAX_MASK_DIFFERENCE`] bits longer than the prefix.
    pub fn new(cluster_cidr: &str, node_mask: u8) -> Result<Config, Error> {
        let cluster: IpNet = cluster_cidr.parse().map_err(|e: ipnet::AddrParseError| {
            Error::InvalidClusterCidr(cluster_cidr.to_owned(), e.to_string())
        })?;
        let cluster = cluster.trunc();
        if node_mask < cluster.prefix_len()
            || node_mask > cluster.max_prefix_len()
            || node_mask - cluster.prefix_len() > MAX_MASK_DIFFERENCE
        {
            return Err(Error::InvalidNodeMask {
                cluster,
                mask: node_mask,
            });
        }
        Ok(Config {
            cluster_cidr: cluster,
            node_mask,
        })
    }
}

/// The node CIDRs of a cluster CIDR and which node holds each.
#[derive(Debug)]
pub struct CidrSet {
    config: Config,
    /// CIDR -> the node holding it.
    used: BTreeMap<IpNet, String>,
}

impl CidrSet {
    /// An empty set over a checked `config`.
    pub fn new(config: &Config) -> Self {
        CidrSet {
            config: *config,
            used: BTreeMap::new(),
        }
    }

    /// Records that `node` holds `cidr`. Refuses a CIDR that is not one of the set's
    /// node CIDRs or that another node holds.
    pub fn occupy(&mut self, cidr: IpNet, node: &str) -> Result<(), String> {
        if cidr.prefix_len() != self.config.node_mask
            || cidr.trunc() != cidr
            || !self.config.cluster_cidr.contains(&cidr)
        {
            return Err(format!(
                "not a /{} of {}",
                self.config.node_mask, self.config.cluster_cidr
            ));
        }
        match self.used.get(&cidr) {
            Some(holder) if holder != node => Err(format!("already held by node {holder}")),
            _ => {
                self.used.insert(cidr, node.to_owned());
                Ok(())
            }
        }
    }

    /// The CIDR `node` holds, if any.
    pub fn of_node(&self, node: &str) -> Option<IpNet> {
        self.used
            .iter()
            .find(|(_, n)| n.as_str() == node)
            .map(|(c, _)| *c)
    }

    /// The CIDR of `node`: the one it holds, or the first free one (now its own).
    pub fn allocate(&mut self, node: &str) -> Option<IpNet> {
        if let Some(held) = self.of_node(node) {
            return Some(held);
        }
        let free = self
            .config
            .cluster_cidr
            .subnets(self.config.node_mask)
            .ok()?
            .find(|c| !self.used.contains_key(c))?;
        self.used.insert(free, node.to_owned());
        Some(free)
    }

    /// Frees whatever `node` holds.
    pub fn release_node(&mut self, node: &str) {
        self.used.retain(|_, n| n != node);
    }

    /// Frees what the nodes not in `nodes` hold.
    pub fn retain_nodes(&mut self, nodes: &HashSet<String>) {
        self.used.retain(|_, n| nodes.contains(n));
    }
}

/// The node's pod CIDR as it stands (`spec.podCIDR`, else the first of `podCIDRs`).
pub fn pod_cidr(node: &Node) -> Option<String> {
    let spec = node.spec.as_ref()?;
    spec.pod_cidr
        .clone()
        .filter(|c| !c.is_empty())
        .or_else(|| spec.pod_cidrs.as_ref()?.first().cloned())
}

/// What the reconciles share.
pub struct Context {
    client: Arc<dyn Client>,
    set: Arc<Mutex<CidrSet>>,
    recorder: Recorder,
}

fn lock(set: &Mutex<CidrSet>) -> std::sync::MutexGuard<'_, CidrSet> {
    set.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps the set in step with the node events: CIDRs nodes hold are taken, those of
/// deleted nodes freed, and after a re-list those of nodes that are gone.
struct Tracker {
    set: Arc<Mutex<CidrSet>>,
    relisted: Option<HashSet<String>>,
}

impl Tracker {
    fn apply(&mut self, event: &Event<Node>) {
        let mut set = lock(&self.set);
        match event {
            Event::Init => self.relisted = Some(HashSet::new()),
            Event::InitApply(node) | Event::Apply(node) => {
                let name = node.metadata.name.clone().unwrap_or_default();
                if let Some(seen) = self.relisted.as_mut() {
                    seen.insert(name.clone());
                }
                if let Some(cidr) = pod_cidr(node).and_then(|c| c.parse::<IpNet>().ok()) {
                    if let Err(reason) = set.occupy(cidr, &name) {
                        tracing::warn!(node = %name, %cidr, %reason, "node's pod CIDR not tracked");
                    }
                }
            }
            Event::InitDone => {
                if let Some(seen) = self.relisted.take() {
                    set.retain_nodes(&seen);
                }
            }
            Event::Delete(node) => {
                set.release_node(node.metadata.name.as_deref().unwrap_or_default());
            }
        }
    }
}

/// The outcomes of the controller's reconciles.
pub type Results = BoxStream<'static, Result<(ObjectRef, Action), controller::Error<Error>>>;

/// Runs node IPAM over `config` (checked by [`Config::new`]); dropping the stream stops
/// it.
pub fn run(client: Arc<dyn Client>, config: Config) -> Result<Results, Error> {
    let config = Config::new(&config.cluster_cidr.to_string(), config.node_mask)?;
    let set = Arc::new(Mutex::new(CidrSet::new(&config)));
    let mut tracker = Tracker {
        set: set.clone(),
        relisted: None,
    };
    let target = ObjectTarget::collection(&ResourceRef::of::<Node>(), None);
    let events = watcher::watcher::<Node>(client.clone(), target, watcher::Config::default())
        .inspect(move |e| {
            if let Ok(event) = e {
                tracker.apply(event);
            }
        })
        .boxed();
    let ctx = Arc::new(Context {
        client: client.clone(),
        set,
        recorder: Recorder::new(client.clone(), Reporter::new("node-ipam-controller")),
    });
    // One reconcile at a time: allocations are quick, and never racing is simpler.
    Ok(
        Controller::for_stream(client, Default::default(), events, "Node", "")
            .concurrency(1)
            .run(reconcile, |_, _, _| Action::requeue_rate_limited(), ctx),
    )
}

/// Gives the node a pod CIDR when it has none.
pub async fn reconcile(node: Arc<Node>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = node.metadata.name.clone().unwrap_or_default();
    if node.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    if let Some(cidr) = pod_cidr(&node) {
        // Already has one; the tracker recorded it (or warned that it cannot).
        let parsed: Option<IpNet> = cidr.parse().ok();
        if parsed.is_some() && lock(&ctx.set).of_node(&name) == parsed {
            return Ok(Action::await_change());
        }
        return Err(Error::Unusable {
            cidr,
            node: name,
            reason: "not a node CIDR of the cluster CIDR, or held by another node".into(),
        });
    }
    let allocated = lock(&ctx.set).allocate(&name);
    let Some(cidr) = allocated else {
        let cluster = lock(&ctx.set).config.cluster_cidr;
        let _ = ctx
            .recorder
            .publish(
                &Recorder::reference_of(node.as_ref()),
                EventType::Warning,
                "CIDRNotAvailable",
                &format!("Node {name} status is now: CIDRNotAvailable"),
            )
            .await;
        return Err(Error::Exhausted(cluster, name));
    };
    let api: Api<Node> = Api::all(ctx.client.clone());
    // The resourceVersion makes it a compare-and-swap: a node that got a CIDR
    // meanwhile is not given a second.
    let patch = json!({
        "metadata": {"resourceVersion": node.metadata.resource_version},
        "spec": {"podCIDR": cidr.to_string(), "podCIDRs": [cidr.to_string()]},
    });
    match api
        .patch(&name, &Patch::Merge(patch), &PatchParams::default())
        .await
    {
        Ok(_) => {
            tracing::info!(node = %name, %cidr, "assigned pod CIDR");
            Ok(Action::await_change())
        }
        Err(e) => {
            lock(&ctx.set).release_node(&name);
            if e.is_not_found() || e.is_conflict() {
                // Gone, or changed: its next event brings it back.
                return Ok(Action::await_change());
            }
            Err(Error::Client(name, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_checked() {
        assert!(Config::new("10.244.0.0/16", 24).is_ok());
        assert_eq!(
            Config::new("10.244.3.7/16", 24)
                .unwrap()
                .cluster_cidr
                .to_string(),
            "10.244.0.0/16"
        );
        assert!(Config::new("10.244.0.0/16", 8).is_err());
        assert!(Config::new("10.0.0.0/8", 28).is_err());
        assert!(Config::new("10.0.0.0/8", 33).is_err());
        assert!(Config::new("banana", 24).is_err());
        assert!(Config::new("fd00::/48", 64).is_ok());
        assert_eq!(Config::default(), Config::new("10.244.0.0/16", 24).unwrap());
    }

    #[test]
    fn allocation_is_unique_until_released() {
        let mut set = CidrSet::new(&Config::new("10.0.0.0/30", 31).unwrap());
        let a = set.allocate("a").unwrap();
        assert_eq!(set.allocate("a"), Some(a), "a node keeps its CIDR");
        let b = set.allocate("b").unwrap();
        assert_ne!(a, b);
        assert_eq!(set.allocate("c"), None, "full");
        set.release_node("a");
        assert_eq!(set.allocate("c"), Some(a));
        assert!(set.occupy(b, "d").is_err(), "b's");
        assert!(
            set.occupy("10.0.1.0/31".parse().unwrap(), "d").is_err(),
            "outside"
        );
        assert!(
            set.occupy("10.0.0.0/30".parse().unwrap(), "d").is_err(),
            "wrong size"
        );
        set.retain_nodes(&HashSet::from(["b".to_owned()]));
        assert_eq!(set.of_node("c"), None);
        assert_eq!(set.of_node("b"), Some(b));
    }
}
