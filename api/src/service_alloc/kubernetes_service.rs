//! The `kubernetes` Service in `default`, as kube-apiserver keeps it: the first address
//! of the service IP range, port 443 named `https`, and Endpoints listing every API
//! server's advertised address. Each server adds its own address when it starts
//! ([`ensure`]) and removes it when it stops cleanly ([`withdraw`]); servers sharing a
//! store on different ports appear as one Endpoints subset per port.
//!
//! ```no_run
//! # async fn run(server: skiff_api::ApiServer) -> Result<(), skiff_core::status::ApiError> {
//! use skiff_api::service_alloc::kubernetes_service;
//! let me = "127.0.0.1:6443".parse().unwrap();
//! kubernetes_service::ensure(&server, me).await?;
//! kubernetes_service::withdraw(&server, me).await?;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;

use serde_json::{json, Value};
use skiff_core::status::ApiError;

use crate::registry::{UpdateTarget, WriteOptions};
use crate::ApiServer;

/// The Service's namespace.
pub const NAMESPACE: &str = "default";
/// The Service's name.
pub const NAME: &str = "kubernetes";
/// The name of its one port.
const PORT_NAME: &str = "https";
/// How often a lost race with another API server is retried.
const ATTEMPTS: usize = 5;

fn served(
    server: &ApiServer,
    plural: &str,
) -> Result<std::sync::Arc<crate::registry::Registry>, ApiError> {
    server
        .find("", "v1", plural)
        .map(|s| s.registry.clone())
        .ok_or_else(|| ApiError::internal(&format!("the server does not serve {plural}")))
}

/// The Service as a new server creates it.
fn service(server: &ApiServer, target_port: u16) -> Value {
    let ip = server.config().service_ranges.ips.first().to_string();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE,
            "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "sessionAffinity": "None",
            "ports": [{"name": PORT_NAME, "port": 443, "protocol": "TCP", "targetPort": target_port}]
        }
    })
}

/// The subset ports of an API server serving on `port`.
fn subset_ports(port: u16) -> Value {
    json!([{"name": PORT_NAME, "port": port, "protocol": "TCP"}])
}

/// `endpoints` with `me` listed (`add`) or not (`!add`).
fn with_address(mut endpoints: Value, me: SocketAddr, add: bool) -> Value {
    let ports = subset_ports(me.port());
    let ip = me.ip().to_string();
    let Some(map) = endpoints.as_object_mut() else {
        return endpoints;
    };
    let subsets = map.entry("subsets").or_insert_with(|| json!([]));
    if !subsets.is_array() {
        *subsets = json!([]);
    }
    let Some(list) = subsets.as_array_mut() else {
        return endpoints;
    };
    let index = match list.iter().position(|s| s.get("ports") == Some(&ports)) {
        Some(i) => i,
        None if add => {
            list.push(json!({"addresses": [], "ports": ports}));
            list.len() - 1
        }
        None => return endpoints,
    };
    if let Some(subset) = list[index].as_object_mut() {
        let addresses = subset.entry("addresses").or_insert_with(|| json!([]));
        let mut ips: Vec<String> = addresses
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.get("ip").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        ips.retain(|x| *x != ip);
        if add {
            ips.push(ip);
        }
        ips.sort();
        *addresses = Value::Array(ips.into_iter().map(|ip| json!({"ip": ip})).collect());
    }
    list.retain(|s| {
        s.get("addresses")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    });
    endpoints
}

/// Creates the `kubernetes` Service if missing, and lists `me` (the server's advertised
/// address and port) in its Endpoints.
pub async fn ensure(server: &ApiServer, me: SocketAddr) -> Result<(), ApiError> {
    let services = served(server, "services")?;
    match services
        .create(
            Some(NAMESPACE),
            service(server, me.port()),
            &WriteOptions::default(),
        )
        .await
    {
        Ok(_) => {
            tracing::info!(ip = %server.config().service_ranges.ips.first(), "created the kubernetes Service")
        }
        Err(e) if e.is_already_exists() => {}
        Err(e) => return Err(e),
    }
    update_endpoints(server, me, true).await
}

/// Removes `me` from the `kubernetes` Service's Endpoints (a clean stop).
pub async fn withdraw(server: &ApiServer, me: SocketAddr) -> Result<(), ApiError> {
    update_endpoints(server, me, false).await
}

async fn update_endpoints(server: &ApiServer, me: SocketAddr, add: bool) -> Result<(), ApiError> {
    let endpoints = served(server, "endpoints")?;
    let opts = WriteOptions::default();
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let updated = endpoints
            .update_with(
                Some(NAMESPACE),
                NAME,
                UpdateTarget::Main,
                &opts,
                |current| Ok(with_address(current.clone(), me, add)),
            )
            .await;
        match updated {
            Ok(_) => return Ok(()),
            Err(e) if e.is_not_found() && add => {
                let fresh = json!({
                    "apiVersion": "v1",
                    "kind": "Endpoints",
                    "metadata": {"name": NAME, "namespace": NAMESPACE,
                        "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                });
                match endpoints
                    .create(Some(NAMESPACE), with_address(fresh, me, true), &opts)
                    .await
                {
                    Ok(_) => return Ok(()),
                    // Another API server created it first: add to it.
                    Err(e) if e.is_already_exists() => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| ApiError::internal("updating the kubernetes Endpoints")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_added_once_and_removed_per_port() {
        let a: SocketAddr = "127.0.0.1:6443".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:6443".parse().unwrap();
        let c: SocketAddr = "127.0.0.1:6444".parse().unwrap();
        let mut ep = json!({"metadata": {"name": "kubernetes"}});
        for me in [a, b, a, c] {
            ep = with_address(ep, me, true);
        }
        assert_eq!(
            ep["subsets"],
            json!([
                {"addresses": [{"ip": "127.0.0.1"}, {"ip": "127.0.0.2"}], "ports": subset_ports(6443)},
                {"addresses": [{"ip": "127.0.0.1"}], "ports": subset_ports(6444)}
            ])
        );
        ep = with_address(ep, c, false);
        ep = with_address(ep, b, false);
        assert_eq!(
            ep["subsets"],
            json!([{"addresses": [{"ip": "127.0.0.1"}], "ports": subset_ports(6443)}])
        );
        ep = with_address(ep, a, false);
        assert_eq!(ep["subsets"], json!([]));
    }
}
