//! The API server's settings as flags, named as kube-apiserver's, shared by
//! `skiff apiserver` and `skiff up`.

use std::net::IpAddr;

use clap::Args;
use skiff_api::service_alloc::{NodePortRange, Ranges, ServiceIpRange};
use skiff_api::standalone::ServingOptions;
use skiff_api::strategy::default_tolerations::TolerationSeconds;

/// kube-apiserver's flags for services, default tolerations and advertising.
#[derive(Args, Debug, Clone)]
pub struct ApiServerFlags {
    /// The CIDR Services' cluster IPs are allocated from; its first address is the
    /// `kubernetes` Service's. Must not overlap the pods' --cluster-cidr.
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: ServiceIpRange,
    /// The ports NodePort Services get (`LOW-HIGH`, both included).
    #[arg(long, default_value = "30000-32767")]
    pub service_node_port_range: NodePortRange,
    /// For how long pods tolerate a not-ready node (the
    /// `node.kubernetes.io/not-ready:NoExecute` taint) before they are evicted, unless
    /// they say otherwise.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(i64).range(0..))]
    pub default_not_ready_toleration_seconds: i64,
    /// For how long pods tolerate an unreachable node (the
    /// `node.kubernetes.io/unreachable:NoExecute` taint) before they are evicted,
    /// unless they say otherwise.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(i64).range(0..))]
    pub default_unreachable_toleration_seconds: i64,
    /// The address listed in the `kubernetes` Service's Endpoints for this server
    /// (default: the bind address, or 127.0.0.1 when binding every address).
    #[arg(long)]
    pub advertise_address: Option<IpAddr>,
    /// Admission plugins to turn off, comma-separated. Skiff's optional one is
    /// `Priority` (pods' priority from their PriorityClass).
    #[arg(long, value_delimiter = ',', value_parser = ["Priority"])]
    pub disable_admission_plugins: Vec<String>,
}

impl ApiServerFlags {
    /// Sets these flags' parts of `options`.
    pub fn apply(&self, options: &mut ServingOptions) {
        options.service_ranges = Ranges {
            ips: self.service_cluster_ip_range,
            node_ports: self.service_node_port_range,
        };
        options.default_toleration_seconds = TolerationSeconds {
            not_ready: self.default_not_ready_toleration_seconds,
            unreachable: self.default_unreachable_toleration_seconds,
        };
        options.advertise_address = self.advertise_address;
        options.priority_admission = !self
            .disable_admission_plugins
            .iter()
            .any(|p| p == "Priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: ApiServerFlags,
    }

    #[test]
    fn defaults_and_values_as_kube_apiserver() {
        let mut options = ServingOptions::new("x".into());
        Cli::parse_from(["t"]).flags.apply(&mut options);
        assert_eq!(options.service_ranges, Ranges::default());
        assert!(options.priority_admission);
        assert_eq!(
            options.default_toleration_seconds,
            TolerationSeconds::default()
        );

        let cli = Cli::parse_from([
            "t",
            "--service-cluster-ip-range",
            "10.0.0.0/24",
            "--service-node-port-range",
            "31000-31010",
            "--default-not-ready-toleration-seconds",
            "5",
            "--default-unreachable-toleration-seconds",
            "7",
            "--disable-admission-plugins",
            "Priority",
        ]);
        cli.flags.apply(&mut options);
        assert_eq!(options.service_ranges.ips.to_string(), "10.0.0.0/24");
        assert_eq!(options.service_ranges.node_ports.size(), 11);
        assert_eq!(
            options.default_toleration_seconds,
            TolerationSeconds {
                not_ready: 5,
                unreachable: 7
            }
        );
        assert!(!options.priority_admission);
        for bad in [
            ["t", "--service-cluster-ip-range", "10.0.0.0"],
            ["t", "--service-node-port-range", "9-1"],
            ["t", "--default-unreachable-toleration-seconds", "-1"],
            ["t", "--disable-admission-plugins", "NoSuchPlugin"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
