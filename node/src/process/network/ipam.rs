//! Host-local IPAM: hands out the addresses of one node's pod CIDR to sandboxes,
//! one file per allocation, as the CNI `host-local` plugin does.
//!
//! Under its directory (`<runtime root>/network/ipam/<cidr>/`) each allocated address
//! is a file named after it whose content is its owner (a sandbox's network
//! namespace name), created with `O_EXCL` so that no address is ever handed out
//! twice, even by two processes at once; `last_reserved_ip` records the last address
//! handed out, so that allocation goes round the range and a just-released address
//! is the last to be reused. Everything is on disk: the allocations survive a
//! restart of the agent. The network address, the gateway (the first host address)
//! and the broadcast address are never handed out.
//!
//! ```
//! use skiff_node::process::network::ipam::HostLocalIpam;
//! let dir = tempfile::tempdir().unwrap();
//! let ipam = HostLocalIpam::open(dir.path(), "10.244.1.0/24".parse().unwrap()).unwrap();
//! let a = ipam.allocate("pod-a").unwrap();
//! assert_eq!(a.to_string(), "10.244.1.2"); // .1 is the gateway
//! ipam.release("pod-a").unwrap();
//! assert_ne!(ipam.allocate("pod-b").unwrap(), a); // round robin
//! ```

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;

/// Why an address could not be allocated or released.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// Every address of the range is taken.
    #[error("no free address left in {0}")]
    Exhausted(Ipv4Net),
    /// The range is too small to hold a gateway and a pod.
    #[error("pod CIDR {0} is too small (a /30 or larger is needed)")]
    TooSmall(Ipv4Net),
    /// Reading or writing the allocation files failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IpamError + '_ {
    move |source| IpamError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The allocations of one pod CIDR, on disk.
#[derive(Debug)]
pub struct HostLocalIpam {
    dir: PathBuf,
    range: Ipv4Net,
}

const LAST_RESERVED: &str = "last_reserved_ip";

impl HostLocalIpam {
    /// The allocations of `range` kept under `base` (in a directory named after the
    /// range, created if needed).
    pub fn open(base: &Path, range: Ipv4Net) -> Result<Self, IpamError> {
        let range = range.trunc();
        if range.prefix_len() > 30 {
            return Err(IpamError::TooSmall(range));
        }
        let dir = base.join(range.to_string().replace('/', "_"));
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(HostLocalIpam { dir, range })
    }

    /// The range.
    pub fn range(&self) -> Ipv4Net {
        self.range
    }

    /// The gateway: the first host address of the range (the bridge's address).
    pub fn gateway(&self) -> Ipv4Addr {
        gateway(self.range)
    }

    fn first_last(&self) -> (u32, u32) {
        let first = u32::from(self.gateway()) + 1;
        let last = u32::from(self.range.broadcast()) - 1;
        (first, last)
    }

    fn last_reserved(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join(LAST_RESERVED))
            .ok()
            .and_then(|s| s.trim().parse::<Ipv4Addr>().ok())
            .map(u32::from)
    }

    /// Allocates an address to `owner`: the one it already holds, else the next free
    /// one after the last handed out.
    pub fn allocate(&self, owner: &str) -> Result<Ipv4Addr, IpamError> {
        if let Some(ip) = self.owned_by(owner)?.into_iter().next() {
            return Ok(ip);
        }
        let (first, last) = self.first_last();
        let count = last - first + 1;
        let start = match self.last_reserved() {
            Some(l) if (first..=last).contains(&l) => l - first + 1,
            _ => 0,
        };
        for i in 0..count {
            let ip = Ipv4Addr::from(first + (start + i) % count);
            let path = self.dir.join(ip.to_string());
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(owner.as_bytes()).map_err(io(&path))?;
                    let marker = self.dir.join(LAST_RESERVED);
                    std::fs::write(&marker, ip.to_string()).map_err(io(&marker))?;
                    return Ok(ip);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Err(IpamError::Exhausted(self.range))
    }

    /// Every allocation: `(address, owner)`.
    pub fn allocations(&self) -> Result<Vec<(Ipv4Addr, String)>, IpamError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let Some(ip) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            // A file removed meanwhile was released: skip it.
            if let Ok(owner) = std::fs::read_to_string(entry.path()) {
                out.push((ip, owner.trim().to_owned()));
            }
        }
        out.sort();
        Ok(out)
    }

    fn owned_by(&self, owner: &str) -> Result<Vec<Ipv4Addr>, IpamError> {
        Ok(self
            .allocations()?
            .into_iter()
            .filter(|(_, o)| o == owner)
            .map(|(ip, _)| ip)
            .collect())
    }

    /// Releases every address `owner` holds. Idempotent.
    pub fn release(&self, owner: &str) -> Result<(), IpamError> {
        for ip in self.owned_by(owner)? {
            let path = self.dir.join(ip.to_string());
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Ok(())
    }
}

/// The first host address of `range` (the gateway of its pods).
pub fn gateway(range: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(range.network()) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn allocates_round_robin_and_never_twice() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = HostLocalIpam::open(dir.path(), net("10.9.0.0/29")).unwrap();
        assert_eq!(ipam.gateway(), Ipv4Addr::new(10, 9, 0, 1));
        // .2 .. .6 are the pods' (.0 network, .1 gateway, .7 broadcast).
        let got: Vec<Ipv4Addr> = (0..5)
            .map(|i| ipam.allocate(&format!("p{i}")).unwrap())
            .collect();
        assert_eq!(got[0], Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(got[4], Ipv4Addr::new(10, 9, 0, 6));
        assert!(matches!(ipam.allocate("p5"), Err(IpamError::Exhausted(_))));
        // The same owner gets the same address back.
        assert_eq!(ipam.allocate("p1").unwrap(), got[1]);
        ipam.release("p1").unwrap();
        ipam.release("p1").unwrap();
        assert_eq!(ipam.allocate("p6").unwrap(), got[1]);
    }

    #[test]
    fn allocations_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let first = HostLocalIpam::open(dir.path(), net("10.9.1.0/24")).unwrap();
        let a = first.allocate("a").unwrap();
        let b = first.allocate("b").unwrap();
        first.release("a").unwrap();
        drop(first);
        let again = HostLocalIpam::open(dir.path(), net("10.9.1.0/24")).unwrap();
        assert_eq!(again.allocations().unwrap(), vec![(b, "b".to_owned())]);
        let c = again.allocate("c").unwrap();
        assert!(c != a && c != b, "{c} after {a} and {b}");
        assert!(HostLocalIpam::open(dir.path(), net("10.9.2.0/31")).is_err());
    }
}
