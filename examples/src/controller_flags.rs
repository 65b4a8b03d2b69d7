//! The controller manager's settings as flags, named as kube-controller-manager's,
//! shared by `skiff controller-manager` and `skiff up`.

use std::time::Duration;

use clap::Args;
use skiff_controllers::manager::Settings;
use skiff_controllers::node_ipam;

/// kube-controller-manager's flags for the node lifecycle and node IPAM controllers.
#[derive(Args, Debug, Clone)]
pub struct ControllerFlags {
    /// How often the node lifecycle controller checks nodes' heartbeats.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub node_monitor_period: Duration,
    /// How long a node may go without a heartbeat before it is marked Unknown and
    /// tainted unreachable (its pods are then evicted after their tolerationSeconds,
    /// 300 s by default).
    #[arg(long, default_value = "40s", value_parser = parse_duration)]
    pub node_monitor_grace_period: Duration,
    /// The same for a node that has never reported Ready.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub node_startup_grace_period: Duration,
    /// Give every node a pod CIDR (spec.podCIDR) from --cluster-cidr (default: off
    /// for `skiff controller-manager`, on for `skiff up`, whose nodes then give
    /// every pod an address of its own).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub allocate_node_cidrs: Option<bool>,
    /// The pods' address range that node CIDRs are cut from.
    #[arg(long, default_value = "10.244.0.0/16")]
    pub cluster_cidr: String,
    /// The prefix length of each node's pod CIDR.
    #[arg(long, default_value_t = 24)]
    pub node_cidr_mask_size: u8,
    /// Terminated pods kept before the pod garbage collector deletes the oldest
    /// (0: never).
    #[arg(long, default_value_t = 12_500)]
    pub terminated_pod_gc_threshold: usize,
}

/// A flag value the controllers refuse.
#[derive(Debug, thiserror::Error)]
#[error("invalid --cluster-cidr/--node-cidr-mask-size: {0}")]
pub struct FlagError(String);

impl ControllerFlags {
    /// The controllers' settings.
    pub fn settings(&self) -> Result<Settings, FlagError> {
        let mut settings = Settings::default();
        settings.node_lifecycle.node_monitor_period = self.node_monitor_period;
        settings.node_lifecycle.node_monitor_grace_period = self.node_monitor_grace_period;
        settings.node_lifecycle.node_startup_grace_period = self.node_startup_grace_period;
        settings.podgc.terminated_pod_gc_threshold = self.terminated_pod_gc_threshold;
        if self.allocate_node_cidrs.unwrap_or(false) {
            settings.node_ipam = Some(
                node_ipam::Config::new(&self.cluster_cidr, self.node_cidr_mask_size)
                    .map_err(|e| FlagError(e.to_string()))?,
            );
        }
        Ok(settings)
    }
}

/// Parses a duration as Kubernetes' flags write them (`40s`, `5m`, `1m30s`, `500ms`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_kubernetes_notation() {
        assert_eq!(parse_duration("40s"), Ok(Duration::from_secs(40)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("forty").is_err());
    }

    #[test]
    fn ipam_only_when_asked_and_checked() {
        let mut flags = ControllerFlags {
            node_monitor_period: Duration::from_secs(5),
            node_monitor_grace_period: Duration::from_secs(40),
            node_startup_grace_period: Duration::from_secs(60),
            allocate_node_cidrs: None,
            cluster_cidr: "10.244.0.0/16".into(),
            node_cidr_mask_size: 24,
            terminated_pod_gc_threshold: 12_500,
        };
        assert!(flags.settings().expect("valid").node_ipam.is_none());
        flags.allocate_node_cidrs = Some(false);
        assert!(flags.settings().expect("valid").node_ipam.is_none());
        flags.allocate_node_cidrs = Some(true);
        assert!(flags.settings().expect("valid").node_ipam.is_some());
        flags.cluster_cidr = "not-a-cidr".into();
        assert!(flags.settings().is_err());
    }
}
