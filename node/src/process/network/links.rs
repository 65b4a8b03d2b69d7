//! The links of the pod network, over rtnetlink: the node's bridge, and per pod a
//! veth pair whose host end is a port of the bridge and whose other end is the
//! pod's `eth0`, with its address and a default route through the bridge.
//!
//! Each call opens its own netlink socket on a thread of its own (see
//! [`super::netns::run_in`]), inside the namespace it works on, and drives it on a
//! small single-threaded tokio runtime: it can be called from async code (through
//! `spawn_blocking`) and from `Drop` alike.
//!
//! ```no_run
//! use skiff_node::process::network::links;
//! let gw = "10.244.1.1".parse().unwrap();
//! links::ensure_bridge("skiff-1a2b3c4d", gw, 24).unwrap();
//! links::remove_link("skiff-1a2b3c4d").unwrap();
//! ```

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use futures::TryStreamExt;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use super::netns;

/// Why a link operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The kernel refused a request.
    #[error("{what}: {source}")]
    Netlink {
        /// The step that failed.
        what: String,
        /// The kernel's answer.
        source: rtnetlink::Error,
    },
    /// A link that should exist does not.
    #[error("no link named {0}")]
    Missing(String),
    /// A namespace, socket or thread could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// The step that failed.
        what: String,
        /// Why.
        source: std::io::Error,
    },
}

fn nl(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> LinkError {
    let what = what.into();
    move |source| LinkError::Netlink { what, source }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| c.get().abs()),
        _ => None,
    }
}

/// Runs `f` with a netlink handle whose socket lives in `netns` (the agent's
/// namespace with `None`).
fn with_netlink<T, F, Fut>(netns: Option<&Path>, f: F) -> Result<T, LinkError>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, LinkError>>,
{
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| LinkError::Io { what, source }
    };
    netns::run_in(netns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(io("starting a netlink runtime"))?;
        rt.block_on(async move {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(io("opening a netlink socket"))?;
            let driver = tokio::spawn(conn);
            let out = f(handle).await;
            driver.abort();
            out
        })
    })
    .map_err(io("entering the network namespace"))?
}

/// The index of the link called `name`, if there is one.
async fn index_of(h: &Handle, name: &str) -> Result<Option<u32>, LinkError> {
    match h
        .link()
        .get()
        .match_name(name.to_owned())
        .execute()
        .try_next()
        .await
    {
        Ok(Some(link)) => Ok(Some(link.header.index)),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl(format!("looking up link {name}"))(e)),
    }
}

async fn must_index(h: &Handle, name: &str) -> Result<u32, LinkError> {
    index_of(h, name)
        .await?
        .ok_or_else(|| LinkError::Missing(name.to_owned()))
}

/// Adds `ip/prefix` to link `index`; an address already there is fine.
async fn add_address(h: &Handle, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<(), LinkError> {
    match h
        .address()
        .add(index, IpAddr::V4(ip), prefix)
        .execute()
        .await
    {
        Err(e) if errno(&e) != Some(libc::EEXIST) => Err(nl(format!("adding {ip}/{prefix}"))(e)),
        _ => Ok(()),
    }
}

/// Makes sure the bridge `name` exists, is up and has `gateway/prefix`.
pub fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<(), LinkError> {
    let name = name.to_owned();
    with_netlink(None, move |h| async move {
        let index = match index_of(&h, &name).await? {
            Some(i) => i,
            None => {
                match h.link().add(LinkBridge::new(&name).build()).execute().await {
                    Err(e) if errno(&e) != Some(libc::EEXIST) => {
                        return Err(nl(format!("creating bridge {name}"))(e))
                    }
                    _ => {}
                }
                must_index(&h, &name).await?
            }
        };
        add_address(&h, index, gateway, prefix).await?;
        h.link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(nl(format!("setting bridge {name} up")))
    })
}

/// Deletes the link `name` (a bridge, or a veth with its peer). Idempotent.
pub fn remove_link(name: &str) -> Result<(), LinkError> {
    let name = name.to_owned();
    with_netlink(None, move |h| async move {
        let Some(index) = index_of(&h, &name).await? else {
            return Ok(());
        };
        match h.link().del(index).execute().await {
            Err(e) if errno(&e) != Some(libc::ENODEV) => Err(nl(format!("deleting {name}"))(e)),
            _ => Ok(()),
        }
    })
}

/// Whether a link called `name` exists in the agent's namespace.
pub fn exists(name: &str) -> Result<bool, LinkError> {
    let name = name.to_owned();
    with_netlink(None, move |h| async move {
        Ok(index_of(&h, &name).await?.is_some())
    })
}

/// What [`attach`] sets up for one pod.
#[derive(Clone, Debug)]
pub struct PodLink {
    /// The pod's namespace (a pinned file).
    pub netns: std::path::PathBuf,
    /// The bridge the host end joins.
    pub bridge: String,
    /// The host end's name.
    pub host_veth: String,
    /// A temporary name for the pod end, until it is renamed `eth0` in the pod.
    pub peer_name: String,
    /// The pod's address.
    pub ip: Ipv4Addr,
    /// The prefix length of the pod CIDR.
    pub prefix: u8,
    /// The gateway (the bridge's address).
    pub gateway: Ipv4Addr,
}

/// Creates the veth pair, plugs the host end into the bridge, moves the other end
/// into the pod's namespace and configures it there (`eth0` with the pod's
/// address, `lo` up, default route via the gateway). On failure the pair is
/// deleted.
pub fn attach(link: &PodLink) -> Result<(), LinkError> {
    let host = link.clone();
    let moved = with_netlink(None, move |h| async move {
        let bridge = must_index(&h, &host.bridge).await?;
        h.link()
            .add(LinkVeth::new(&host.host_veth, &host.peer_name).build())
            .execute()
            .await
            .map_err(nl(format!("creating veth {}", host.host_veth)))?;
        let veth = must_index(&h, &host.host_veth).await?;
        let peer = must_index(&h, &host.peer_name).await?;
        h.link()
            .set(
                LinkUnspec::new_with_index(veth)
                    .controller(bridge)
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(nl(format!(
                "plugging {} into {}",
                host.host_veth, host.bridge
            )))?;
        let ns = std::fs::File::open(&host.netns).map_err(|source| LinkError::Io {
            what: format!("opening {}", host.netns.display()),
            source,
        })?;
        h.link()
            .set(
                LinkUnspec::new_with_index(peer)
                    .setns_by_fd(ns.as_raw_fd())
                    .build(),
            )
            .execute()
            .await
            .map_err(nl("moving the pod's end into its namespace"))
    });
    let pod = link.clone();
    let configured = moved.and_then(|()| {
        with_netlink(Some(&link.netns), move |h| async move {
            let index = must_index(&h, &pod.peer_name).await?;
            h.link()
                .set(LinkUnspec::new_with_index(index).name("eth0").build())
                .execute()
                .await
                .map_err(nl("renaming the pod's end eth0"))?;
            add_address(&h, index, pod.ip, pod.prefix).await?;
            h.link()
                .set(LinkUnspec::new_with_index(index).up().build())
                .execute()
                .await
                .map_err(nl("setting eth0 up"))?;
            let lo = must_index(&h, "lo").await?;
            h.link()
                .set(LinkUnspec::new_with_index(lo).up().build())
                .execute()
                .await
                .map_err(nl("setting lo up"))?;
            h.route()
                .add(
                    RouteMessageBuilder::<Ipv4Addr>::new()
                        .gateway(pod.gateway)
                        .build(),
                )
                .execute()
                .await
                .map_err(nl(format!("adding the default route via {}", pod.gateway)))
        })
    });
    if configured.is_err() {
        let _ = remove_link(&link.host_veth);
    }
    configured
}

/// Whether this machine lets the agent create network namespaces, bridges and veth
/// pairs: tried once in a throwaway namespace (nothing on the host changes).
pub fn probe() -> Result<(), LinkError> {
    let io = |what: &'static str| {
        move |source| LinkError::Io {
            what: what.into(),
            source,
        }
    };
    netns::run_in(None, move || -> Result<(), LinkError> {
        // SAFETY: unshare on this thread only.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(io("creating a network namespace")(
                std::io::Error::last_os_error(),
            ));
        }
        // A thread started from this one shares its (new) namespace.
        with_netlink(None, |h| async move {
            h.link()
                .add(LinkBridge::new("skiff-probe").build())
                .execute()
                .await
                .map_err(nl("creating a bridge"))?;
            h.link()
                .add(LinkVeth::new("skiff-probe0", "skiff-probe1").build())
                .execute()
                .await
                .map_err(nl("creating a veth pair"))
        })
    })
    .map_err(io("starting a thread"))?
}
