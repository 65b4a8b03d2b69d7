//! The Node object the agent registers and the status it reports: capacity from the
//! machine (or given, for hollow nodes), labels, addresses, conditions, node info.
//! Pure functions over [`NodeResources`] and the agent's settings.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::AgentConfig;

/// What the node offers to pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeResources {
    /// CPUs (`4`, `500m`).
    pub cpu: String,
    /// Memory (`16342252Ki`).
    pub memory: String,
    /// Ephemeral storage (`100Gi`).
    pub ephemeral_storage: String,
    /// How many pods it runs at most (110, as the kubelet).
    pub pods: u32,
}

impl NodeResources {
    /// A hollow node's resources (as kwok's default node: 32 CPUs, 256 GiB).
    pub fn hollow() -> Self {
        NodeResources {
            cpu: "32".into(),
            memory: "256Gi".into(),
            ephemeral_storage: "1Ti".into(),
            pods: 110,
        }
    }

    /// This machine's: CPUs the process may use, `MemTotal` of /proc/meminfo, the
    /// size of the file system holding `dir`. A figure the machine does not reveal is
    /// reported as 0 with a logged reason.
    pub fn from_machine(dir: &std::path::Path) -> Self {
        let cpu = std::thread::available_parallelism().map_or(1, |n| n.get());
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| parse_meminfo_total(&m))
            .unwrap_or_else(|| {
                tracing::warn!("no MemTotal in /proc/meminfo; reporting memory 0");
                0
            });
        let storage = filesystem_bytes(dir).unwrap_or_else(|e| {
            tracing::warn!(dir = %dir.display(), error = %e, "statvfs failed; reporting ephemeral-storage 0");
            0
        });
        NodeResources {
            cpu: cpu.to_string(),
            memory: format!("{memory_kib}Ki"),
            ephemeral_storage: format!("{}Ki", storage / 1024),
            pods: 110,
        }
    }

    fn quantities(&self) -> BTreeMap<String, Quantity> {
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(self.cpu.clone())),
            ("memory".to_owned(), Quantity(self.memory.clone())),
            (
                "ephemeral-storage".to_owned(),
                Quantity(self.ephemeral_storage.clone()),
            ),
            ("pods".to_owned(), Quantity(self.pods.to_string())),
        ])
    }
}

/// `MemTotal` in KiB from the text of /proc/meminfo.
fn parse_meminfo_total(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Total bytes of the file system holding `dir`.
fn filesystem_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid NUL-terminated string and `st` points to writable
    // memory of the right size; statvfs only writes into it.
    let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between libcs
    Ok(st.f_blocks as u64 * st.f_frsize as u64)
}

/// The architecture label value (`amd64`, `arm64`) of this build.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The Node as first registered: labels and spec; status follows separately.
pub fn node_object(config: &AgentConfig) -> Node {
    let mut labels = BTreeMap::from([
        (
            "kubernetes.io/hostname".to_owned(),
            config.node_name.clone(),
        ),
        (
            "kubernetes.io/os".to_owned(),
            std::env::consts::OS.to_owned(),
        ),
        ("kubernetes.io/arch".to_owned(), arch().to_owned()),
        (
            "beta.kubernetes.io/os".to_owned(),
            std::env::consts::OS.to_owned(),
        ),
        ("beta.kubernetes.io/arch".to_owned(), arch().to_owned()),
    ]);
    labels.extend(config.labels.clone());
    Node {
        metadata: ObjectMeta {
            name: Some(config.node_name.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                "node.alpha.kubernetes.io/ttl".to_owned(),
                "0".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        ..Node::default()
    }
}

/// A condition; `previous` keeps `lastTransitionTime` when the status is unchanged.
fn condition(
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &Time,
    previous: &[NodeCondition],
) -> NodeCondition {
    let transition = previous
        .iter()
        .find(|c| c.type_ == kind && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    NodeCondition {
        type_: kind.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(transition),
    }
}

/// The node's status: capacity = allocatable (no reservations yet), conditions,
/// addresses, node info. `previous` is the conditions last reported.
pub fn node_status(
    config: &AgentConfig,
    runtime: &crate::runtime::RuntimeVersion,
    previous: &[NodeCondition],
    pressure: &super::pressure::Pressure,
) -> NodeStatus {
    let now = crate::agent::pod_status::now();
    let resources = config.resources.quantities();
    let pressured = |why: &Option<String>, kind: &str, calm: (&str, &str), under: &str| match why {
        None => condition(kind, "False", calm.0, calm.1, &now, previous),
        Some(message) => condition(kind, "True", under, message, &now, previous),
    };
    NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(vec![
            pressured(
                &pressure.memory,
                "MemoryPressure",
                (
                    "KubeletHasSufficientMemory",
                    "node agent has sufficient memory available",
                ),
                "KubeletHasInsufficientMemory",
            ),
            pressured(
                &pressure.disk,
                "DiskPressure",
                (
                    "KubeletHasNoDiskPressure",
                    "node agent has no disk pressure",
                ),
                "KubeletHasDiskPressure",
            ),
            pressured(
                &pressure.pids,
                "PIDPressure",
                (
                    "KubeletHasSufficientPID",
                    "node agent has sufficient PID available",
                ),
                "KubeletHasInsufficientPID",
            ),
            condition(
                "Ready",
                "True",
                "KubeletReady",
                "skiff node agent is posting ready status",
                &now,
                previous,
            ),
        ]),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: config.node_ip.clone(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: config.node_name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: config.kubelet_port.map(|port| {
                k8s_openapi::api::core::v1::DaemonEndpoint {
                    port: i32::from(port),
                }
            }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: arch().to_owned(),
            operating_system: std::env::consts::OS.to_owned(),
            os_image: "Skiff".to_owned(),
            kernel_version: kernel_version(),
            container_runtime_version: format!("{}://{}", runtime.name, runtime.version),
            kubelet_version: format!("v1.33.0-skiff.{}", env!("CARGO_PKG_VERSION")),
            kube_proxy_version: String::new(),
            machine_id: String::new(),
            system_uuid: String::new(),
            boot_id: String::new(),
            ..NodeSystemInfo::default()
        }),
        ..NodeStatus::default()
    }
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        let text = "MemFree: 10 kB\nMemTotal:       16342252 kB\n";
        assert_eq!(parse_meminfo_total(text), Some(16342252));
        assert_eq!(parse_meminfo_total("nothing"), None);
    }

    #[test]
    fn machine_resources_are_quantities() {
        let r = NodeResources::from_machine(std::path::Path::new("/"));
        assert!(r.cpu.parse::<u32>().unwrap() >= 1);
        assert!(r.memory.ends_with("Ki"));
        assert_eq!(r.pods, 110);
    }

    #[test]
    fn status_keeps_transition_times() {
        let config = AgentConfig::new("n1");
        let rt = crate::runtime::RuntimeVersion {
            name: "sim".into(),
            version: "1".into(),
        };
        let calm = crate::agent::pressure::Pressure::default();
        let first = node_status(&config, &rt, &[], &calm);
        let mut old = first.conditions.clone().unwrap();
        let long_ago = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        for c in &mut old {
            c.last_transition_time = Some(long_ago.clone());
        }
        let second = node_status(&config, &rt, &old, &calm);
        let short = crate::agent::pressure::Pressure {
            memory: Some("low".into()),
            ..calm.clone()
        };
        let third = node_status(&config, &rt, &old, &short);
        let memory = third
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "MemoryPressure")
            .unwrap();
        assert_eq!(
            (memory.status.as_str(), memory.reason.as_deref()),
            ("True", Some("KubeletHasInsufficientMemory"))
        );
        assert_ne!(memory.last_transition_time, Some(long_ago.clone()));
        let ready = second
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(ready.last_transition_time, Some(long_ago));
        let info = second.node_info.unwrap();
        assert_eq!(info.container_runtime_version, "sim://1");
    }
}
