//! The pod network of the process runtime, in flannel's model: every node has a pod
//! CIDR (`spec.podCIDR`, cut from the cluster CIDR by the node IPAM controller);
//! the node has a bridge whose address is the first of that range (the pods'
//! gateway); each pod gets a network namespace of its own, joined to the bridge by
//! a veth pair, with an address from [`ipam::HostLocalIpam`].
//!
//! # Organization
//! - [`PodNetwork`]: one node's network; [`PodNetwork::attach`] and
//!   [`PodNetwork::detach`] a sandbox.
//! - [`ipam`]: host-local address allocation, on disk.
//! - [`netns`]: pinned network namespaces, and work inside one.
//! - [`links`]: bridge and veth pairs, over rtnetlink.
//! - [`masquerade`]: forwarding and the masquerade rule for traffic leaving the
//!   cluster.
//! - [`available`]: whether the machine allows any of it (probed once).
//!
//! Pods of one node reach each other over the bridge; pods of two nodes on one host
//! through the host's routing table (each bridge's subnet is a connected route);
//! routes between machines are not set up (see `docs/networking.md`).
//!
//! The namespaces are pinned under `<runtime root>/netns/`, the allocations kept
//! under `<runtime root>/network/ipam/`. The runtime keeps no sandbox across
//! restarts, so the first use of a [`PodNetwork`] reclaims what an earlier instance
//! on the same root left behind (after a crash): its namespaces are removed and
//! their addresses released. Two runtimes must not share a root.
//!
//! ```no_run
//! use skiff_node::process::network::{bridge_name, PodNetwork};
//! let net = PodNetwork::new("/var/lib/skiff/node-1".into(), bridge_name("node-1"), None);
//! net.set_pod_cidr("10.244.1.0/24".parse().unwrap());
//! let pod = net.attach("sandbox-1").unwrap(); // blocking: call off the async threads
//! println!("pod IP {} in {}", pod.ip, pod.netns.display());
//! net.detach(&pod).unwrap();
//! ```

pub mod ipam;
pub mod links;
pub mod masquerade;
pub mod netns;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};

use ipnet::Ipv4Net;

use ipam::HostLocalIpam;

/// Why a sandbox's network could not be set up or torn down.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The node has no pod CIDR yet.
    #[error("the node has no spec.podCIDR (the controller manager assigns one with --allocate-node-cidrs)")]
    NoPodCidr,
    /// Allocating or releasing the address failed.
    #[error(transparent)]
    Ipam(#[from] ipam::IpamError),
    /// A link could not be made.
    #[error(transparent)]
    Link(#[from] links::LinkError),
    /// The namespace could not be created or removed.
    #[error("network namespace {path}: {source}")]
    Netns {
        /// Its file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// FNV-1a, for short stable names.
fn fnv(text: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h ^ (h >> 32)) as u32
}

/// The bridge of the node known by `node` (its name, or its data directory): `skiff-`
/// and 8 hex digits of a hash of it (a link name has at most 15 characters), so that
/// several nodes on one host each have their own.
pub fn bridge_name(node: &str) -> String {
    format!("skiff-{:08x}", fnv(node))
}

/// Whether pods can get network namespaces here: containers can be isolated
/// ([`super::isolation::available`]) and a namespace, a bridge and a veth pair can
/// be created (tried once in a throwaway namespace). `Err` says why not.
pub fn available() -> Result<(), String> {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    AVAILABLE
        .get_or_init(|| {
            if !super::isolation::available() {
                return Err("containers cannot be isolated here (not root, or namespaces cannot be created)".into());
            }
            links::probe().map_err(|e| {
                let why = format!("network namespaces with veth pairs cannot be created here: {e}");
                tracing::warn!(%why, "pods use the host's network");
                why
            })
        })
        .clone()
}

/// One pod's place in the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodAttachment {
    /// The pinned namespace file; containers join it.
    pub netns: PathBuf,
    /// The pod's IP.
    pub ip: Ipv4Addr,
    /// The pod CIDR the address came from.
    pub range: Ipv4Net,
    /// The veth end on the host.
    pub host_veth: String,
    /// The allocation's owner (the namespace's name).
    owner: String,
}

#[derive(Debug, Default)]
struct State {
    pod_cidr: Option<Ipv4Net>,
    /// The pod CIDR forwarding and masquerading were set up for.
    routed: Option<Ipv4Net>,
    /// Whether leftovers of an earlier instance were reclaimed.
    reclaimed: bool,
}

/// One node's pod network. Its methods block (netlink, files): call them off the
/// async threads.
#[derive(Debug)]
pub struct PodNetwork {
    root: PathBuf,
    bridge: String,
    cluster_cidr: Option<Ipv4Net>,
    /// Makes this instance's namespace names unique across restarts.
    instance: String,
    state: Mutex<State>,
}

impl PodNetwork {
    /// The network of the runtime rooted at `root`, on bridge `bridge`; traffic
    /// leaving `cluster_cidr` (the pod CIDR when `None`) is masqueraded.
    pub fn new(root: PathBuf, bridge: String, cluster_cidr: Option<Ipv4Net>) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        PodNetwork {
            root,
            bridge,
            cluster_cidr,
            instance: format!("{:08x}", fnv(&format!("{}-{nanos}", std::process::id()))),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bridge's name.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// Sets the node's pod CIDR (from `spec.podCIDR`); sandboxes created from now on
    /// get addresses from it.
    pub fn set_pod_cidr(&self, cidr: Ipv4Net) {
        self.lock().pod_cidr = Some(cidr.trunc());
    }

    /// The node's pod CIDR, once known.
    pub fn pod_cidr(&self) -> Option<Ipv4Net> {
        self.lock().pod_cidr
    }

    fn ipam_dir(&self) -> PathBuf {
        self.root.join("network").join("ipam")
    }

    fn netns_dir(&self) -> PathBuf {
        self.root.join("netns")
    }

    /// Removes the namespaces an earlier instance left and releases every address
    /// it held (this instance holds none yet).
    fn reclaim(&self) {
        if let Ok(entries) = std::fs::read_dir(self.netns_dir()) {
            for entry in entries.flatten() {
                tracing::info!(netns = %entry.path().display(), "removing a pod network namespace left by an earlier run");
                if let Err(e) = netns::remove(&entry.path()) {
                    tracing::warn!(netns = %entry.path().display(), error = %e, "removing a leftover network namespace");
                }
            }
        }
        let Ok(ranges) = std::fs::read_dir(self.ipam_dir()) else {
            return;
        };
        for range in ranges.flatten() {
            let Some(net) = range
                .file_name()
                .to_str()
                .and_then(|n| n.replace('_', "/").parse::<Ipv4Net>().ok())
            else {
                continue;
            };
            let Ok(ipam) = HostLocalIpam::open(&self.ipam_dir(), net) else {
                continue;
            };
            for (ip, owner) in ipam.allocations().unwrap_or_default() {
                tracing::info!(%ip, %owner, "releasing a pod address left by an earlier run");
                let _ = ipam.release(&owner);
            }
        }
    }

    /// Gives the sandbox `sandbox_id` a namespace, an address and a veth pair on the
    /// bridge. Blocks.
    pub fn attach(&self, sandbox_id: &str) -> Result<PodAttachment, NetworkError> {
        let range = {
            let mut st = self.lock();
            let range = st.pod_cidr.ok_or(NetworkError::NoPodCidr)?;
            if !st.reclaimed {
                st.reclaimed = true;
                self.reclaim();
            }
            let gateway = ipam::gateway(range);
            links::ensure_bridge(&self.bridge, gateway, range.prefix_len())?;
            if st.routed != Some(range) {
                st.routed = Some(range);
                let cluster = self.cluster_cidr.unwrap_or(range);
                match masquerade::enable(&self.bridge, range, cluster) {
                    Ok(()) => {
                        tracing::info!(pods = %range, %cluster, "pod traffic leaving the cluster is masqueraded")
                    }
                    Err(why) => tracing::warn!(%why, "pods may not reach beyond the node"),
                }
            }
            range
        };
        let ipam = HostLocalIpam::open(&self.ipam_dir(), range)?;
        let owner = format!("{sandbox_id}-{}", self.instance);
        let ip = ipam.allocate(&owner)?;
        let path = self.netns_dir().join(&owner);
        if let Err(source) = netns::create(&path) {
            let _ = ipam.release(&owner);
            return Err(NetworkError::Netns {
                path: path.display().to_string(),
                source,
            });
        }
        let tag = fnv(&format!("{}/{owner}", self.bridge));
        let link = links::PodLink {
            netns: path.clone(),
            bridge: self.bridge.clone(),
            host_veth: format!("veth{tag:08x}"),
            peer_name: format!("skp{tag:08x}"),
            ip,
            prefix: range.prefix_len(),
            gateway: ipam::gateway(range),
        };
        if let Err(e) = links::attach(&link) {
            let _ = netns::remove(&path);
            let _ = ipam.release(&owner);
            return Err(e.into());
        }
        Ok(PodAttachment {
            netns: path,
            ip,
            range,
            host_veth: link.host_veth,
            owner,
        })
    }

    /// Removes the node's bridge and masquerade rules, if this instance set them up
    /// (the runtime's last act; pods still attached lose their network). Blocks.
    pub fn teardown(&self) {
        let mut st = self.lock();
        if st.routed.take().is_none() {
            return;
        }
        if let Err(e) = links::remove_link(&self.bridge) {
            tracing::warn!(bridge = %self.bridge, error = %e, "removing the pod bridge");
        }
        masquerade::disable(&self.bridge);
    }

    /// Removes the pod's veth pair and namespace and releases its address. Blocks.
    /// Idempotent.
    pub fn detach(&self, pod: &PodAttachment) -> Result<(), NetworkError> {
        if let Err(e) = links::remove_link(&pod.host_veth) {
            tracing::warn!(veth = %pod.host_veth, error = %e, "deleting a pod's veth");
        }
        netns::remove(&pod.netns).map_err(|source| NetworkError::Netns {
            path: pod.netns.display().to_string(),
            source,
        })?;
        HostLocalIpam::open(&self.ipam_dir(), pod.range)?.release(&pod.owner)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_in_a_link_name() {
        let a = bridge_name("node-a");
        assert_eq!(a.len(), 14);
        assert_ne!(a, bridge_name("node-b"));
        assert_eq!(a, bridge_name("node-a"));
    }
}
