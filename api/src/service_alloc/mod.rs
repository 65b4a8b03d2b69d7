//! Service cluster IPs and node ports, as kube-apiserver allocates them: a Service of
//! type ClusterIP, NodePort or LoadBalancer without `spec.clusterIP` gets a free
//! address of `--service-cluster-ip-range`; NodePort (and LoadBalancer) services get
//! free node ports of `--service-node-port-range`; values a client names must be in
//! range and free (422 otherwise); `clusterIP: None` (headless) takes nothing; a
//! deleted Service gives its values back.
//!
//! Every allocated value is a create-only key in the store, written in the same
//! transaction as the Service (as Kubernetes 1.31+ records `IPAddress` objects):
//! `/registry/ranges/serviceips/{ip}` and `/registry/ranges/servicenodeports/{port}`.
//! So allocation is correct with several API servers on one store and across
//! restarts, and no bitmap is kept in memory.
//!
//! # Organization
//! - [`ServiceIpRange`], [`NodePortRange`]: the ranges and their flags' syntax.
//! - [`plan`]: what a write asks for, from the object alone.
//! - [`ServiceReservations`]: the [`Reservations`](crate::registry::Reservations) of
//!   services: picks free values in the store and builds the transaction parts.
//! - [`kubernetes_service`]: the `default/kubernetes` Service and its Endpoints.
//!
//! ```
//! use skiff_api::service_alloc::Ranges;
//! let ranges = Ranges::new("10.0.0.0/24", "30000-30100").unwrap();
//! assert_eq!(ranges.ips.first().to_string(), "10.0.0.1");
//! ```

pub mod kubernetes_service;
pub mod plan;
mod ranges;
mod reserve;

pub use ranges::{NodePortRange, RangeError, ServiceIpRange};
pub use reserve::{ServiceReservations, NODE_PORT_PREFIX, SERVICE_IP_PREFIX};

/// The ranges services draw from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ranges {
    /// `--service-cluster-ip-range`.
    pub ips: ServiceIpRange,
    /// `--service-node-port-range`.
    pub node_ports: NodePortRange,
}

impl Ranges {
    /// The ranges from their flags' text.
    pub fn new(ips: &str, node_ports: &str) -> Result<Ranges, RangeError> {
        Ok(Ranges {
            ips: ips.parse()?,
            node_ports: node_ports.parse()?,
        })
    }
}
