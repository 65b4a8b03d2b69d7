//! The two ranges services draw from: the service IP range
//! (`--service-cluster-ip-range`, a CIDR) and the node port range
//! (`--service-node-port-range`, `LOW-HIGH`).
//!
//! ```
//! use skiff_api::service_alloc::{NodePortRange, ServiceIpRange};
//! let ips: ServiceIpRange = "10.96.0.0/12".parse().unwrap();
//! assert_eq!(ips.first().to_string(), "10.96.0.1");
//! assert!(ips.contains("10.111.255.254".parse().unwrap()));
//! assert!(!ips.contains("10.111.255.255".parse().unwrap())); // broadcast
//! let ports: NodePortRange = "30000-32767".parse().unwrap();
//! assert_eq!(ports.size(), 2768);
//! ```

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// A range flag that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Not a CIDR (`10.96.0.0/12`).
    #[error("{0:?} is not a CIDR such as 10.96.0.0/12")]
    NotCidr(String),
    /// The CIDR leaves fewer than two usable addresses.
    #[error("{0} is too small for a service IP range (at least a /30 or a /126)")]
    TooSmall(String),
    /// Not `LOW-HIGH` with 1 <= LOW <= HIGH <= 65535.
    #[error("{0:?} is not a port range such as 30000-32767")]
    NotPortRange(String),
}

/// Most addresses of a range that are handed out (an IPv6 /64 is not walked in full;
/// Kubernetes caps IPv6 service ranges the same way).
const MAX_OFFSETS: u128 = 1 << 24;

/// The service IP range: addresses at offsets `1..size` of the CIDR (the network
/// address, and for IPv4 the broadcast address, are never handed out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceIpRange {
    net: IpNet,
}

impl ServiceIpRange {
    /// The CIDR.
    pub fn net(&self) -> IpNet {
        self.net
    }

    /// How many offsets the range spans, the unusable ones at its ends included.
    fn span(&self) -> u128 {
        let host_bits = u32::from(self.net.max_prefix_len() - self.net.prefix_len());
        let span = 1u128.checked_shl(host_bits).unwrap_or(u128::MAX);
        span.min(MAX_OFFSETS)
    }

    /// The last usable offset.
    fn last_offset(&self) -> u128 {
        match self.net {
            IpNet::V4(_) if self.span() == 1u128 << (32 - u32::from(self.net.prefix_len())) => {
                self.span() - 2
            }
            _ => self.span() - 1,
        }
    }

    /// The first usable address, which the `kubernetes` Service gets.
    pub fn first(&self) -> IpAddr {
        self.at(1).unwrap_or_else(|| self.net.network())
    }

    /// How many addresses may be handed out.
    pub fn size(&self) -> u128 {
        self.last_offset()
    }

    /// The address at `offset` (1 = the first usable one), if usable.
    pub fn at(&self, offset: u128) -> Option<IpAddr> {
        if offset == 0 || offset > self.last_offset() {
            return None;
        }
        match self.net.network() {
            IpAddr::V4(base) => {
                let value = u128::from(u32::from(base)) + offset;
                u32::try_from(value).ok().map(|v| IpAddr::V4(v.into()))
            }
            IpAddr::V6(base) => u128::from(base)
                .checked_add(offset)
                .map(|v| IpAddr::V6(v.into())),
        }
    }

    /// The offset of `ip`, if it is a usable address of the range.
    pub fn offset(&self, ip: IpAddr) -> Option<u128> {
        if !self.net.contains(&ip) {
            return None;
        }
        let offset = match (ip, self.net.network()) {
            (IpAddr::V4(ip), IpAddr::V4(base)) => u128::from(u32::from(ip) - u32::from(base)),
            (IpAddr::V6(ip), IpAddr::V6(base)) => u128::from(ip) - u128::from(base),
            _ => return None,
        };
        (offset >= 1 && offset <= self.last_offset()).then_some(offset)
    }

    /// Whether `ip` is a usable address of the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.offset(ip).is_some()
    }
}

impl FromStr for ServiceIpRange {
    type Err = RangeError;

    fn from_str(text: &str) -> Result<Self, RangeError> {
        let net: IpNet = text
            .trim()
            .parse()
            .map_err(|_| RangeError::NotCidr(text.to_owned()))?;
        let range = ServiceIpRange { net: net.trunc() };
        if range.span() < 4 {
            return Err(RangeError::TooSmall(text.to_owned()));
        }
        Ok(range)
    }
}

impl fmt::Display for ServiceIpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.net.fmt(f)
    }
}

impl Default for ServiceIpRange {
    /// kube-apiserver's default, `10.96.0.0/12`.
    fn default() -> Self {
        ServiceIpRange {
            net: IpNet::V4(ipnet::Ipv4Net::new([10, 96, 0, 0].into(), 12).unwrap_or_default()),
        }
    }
}

/// The node port range, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodePortRange {
    /// The lowest port.
    pub low: u16,
    /// The highest port.
    pub high: u16,
}

impl NodePortRange {
    /// How many ports.
    pub fn size(&self) -> u32 {
        u32::from(self.high) - u32::from(self.low) + 1
    }

    /// Whether `port` is in the range.
    pub fn contains(&self, port: i64) -> bool {
        port >= i64::from(self.low) && port <= i64::from(self.high)
    }
}

impl Default for NodePortRange {
    /// kube-apiserver's default, `30000-32767`.
    fn default() -> Self {
        NodePortRange {
            low: 30000,
            high: 32767,
        }
    }
}

impl FromStr for NodePortRange {
    type Err = RangeError;

    fn from_str(text: &str) -> Result<Self, RangeError> {
        let bad = || RangeError::NotPortRange(text.to_owned());
        let (low, high) = text.trim().split_once('-').ok_or_else(bad)?;
        let low: u16 = low.trim().parse().map_err(|_| bad())?;
        let high: u16 = high.trim().parse().map_err(|_| bad())?;
        if low == 0 || low > high {
            return Err(bad());
        }
        Ok(NodePortRange { low, high })
    }
}

impl fmt::Display for NodePortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_ranges_skip_network_and_broadcast() {
        let r: ServiceIpRange = "10.0.0.0/29".parse().unwrap();
        assert_eq!(r.size(), 6);
        assert_eq!(r.at(1), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(r.at(6), Some("10.0.0.6".parse().unwrap()));
        assert_eq!(r.at(7), None);
        assert_eq!(r.at(0), None);
        assert_eq!(r.offset("10.0.0.6".parse().unwrap()), Some(6));
        assert!(!r.contains("10.0.0.0".parse().unwrap()));
        assert!(!r.contains("10.0.0.7".parse().unwrap()));
        assert!(!r.contains("10.0.0.8".parse().unwrap()));
        assert!(!r.contains("::1".parse().unwrap()));
        // Host bits are dropped, as Kubernetes does.
        let r: ServiceIpRange = "10.96.3.4/12".parse().unwrap();
        assert_eq!(r.to_string(), "10.96.0.0/12");
        assert_eq!(r, ServiceIpRange::default());
    }

    #[test]
    fn ipv6_ranges_are_capped() {
        let r: ServiceIpRange = "fd00:10:96::/108".parse().unwrap();
        assert_eq!(r.first().to_string(), "fd00:10:96::1");
        assert_eq!(r.size(), (1 << 20) - 1);
        let big: ServiceIpRange = "fd00::/64".parse().unwrap();
        assert_eq!(big.size(), MAX_OFFSETS - 1);
        assert!(big.contains("fd00::2".parse().unwrap()));
        assert!(!big.contains("fd00::ffff:ffff:ffff".parse().unwrap()));
    }

    #[test]
    fn bad_ranges_are_errors() {
        assert!(matches!(
            "10.0.0.0".parse::<ServiceIpRange>(),
            Err(RangeError::NotCidr(_))
        ));
        assert!(matches!(
            "10.0.0.0/31".parse::<ServiceIpRange>(),
            Err(RangeError::TooSmall(_))
        ));
        for bad in ["", "30000", "0-10", "200-100", "1-70000", "a-b"] {
            assert!(bad.parse::<NodePortRange>().is_err(), "{bad}");
        }
        let p: NodePortRange = " 30000 - 30001 ".parse().unwrap();
        assert_eq!((p.low, p.high, p.size()), (30000, 30001, 2));
        assert!(p.contains(30001) && !p.contains(30002) && !p.contains(-1));
    }
}
