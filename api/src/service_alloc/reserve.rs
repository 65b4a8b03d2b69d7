//! [`ServiceReservations`]: the store side of service allocation. Free values are
//! found by reading the record keys under the two prefixes; each value taken is a
//! create-only key compared in the Service's own transaction, so a race with another
//! API server fails that transaction instead of handing a value out twice (the
//! registry then asks again).

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;

use bytes::Bytes;
use rand::Rng;
use serde_json::{json, Value};
use skiff_core::status::{ApiError, StatusCause};
use skiff_store::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, KeyRange, KvStore, PutRequest,
    RangeRequest, RequestOp,
};

use super::plan::{self, Choice};
use super::Ranges;
use crate::registry::{api_error, meta, ReservationTxn, Reservations};

/// Where allocated cluster IPs are recorded: one key per address.
pub const SERVICE_IP_PREFIX: &str = "/registry/ranges/serviceips/";
/// Where allocated node ports are recorded: one key per port.
pub const NODE_PORT_PREFIX: &str = "/registry/ranges/servicenodeports/";

/// The [`Reservations`] of services over [`Ranges`].
#[derive(Clone, Debug)]
pub struct ServiceReservations {
    ranges: Ranges,
}

impl ServiceReservations {
    /// Reservations drawing from `ranges`.
    pub fn new(ranges: Ranges) -> Self {
        ServiceReservations { ranges }
    }

    /// The ranges.
    pub fn ranges(&self) -> &Ranges {
        &self.ranges
    }
}

fn ip_key(ip: IpAddr) -> String {
    format!("{SERVICE_IP_PREFIX}{ip}")
}

fn port_key(port: u16) -> String {
    format!("{NODE_PORT_PREFIX}{port}")
}

/// The value stored under a record key: who holds it (for people reading the store).
fn owner(svc: &Value) -> Bytes {
    let record = json!({
        "namespace": meta::namespace(svc),
        "name": meta::name(svc),
        "uid": meta::meta_str(svc, "uid"),
    });
    Bytes::from(record.to_string())
}

/// Adds "create `key` with `value`, if it does not exist" to `txn`.
fn claim(txn: &mut ReservationTxn, key: String, value: &Bytes) {
    txn.compare.push(Compare {
        range: KeyRange::key(key.clone()),
        result: CompareResult::Equal,
        target: CompareTarget::Create(0),
    });
    txn.success
        .push(RequestOp::Put(PutRequest::new(key, value.clone())));
}

fn release_op(key: String) -> RequestOp {
    RequestOp::DeleteRange(DeleteRangeRequest {
        range: KeyRange::key(key),
        prev_kv: false,
    })
}

/// The last path segment of every key under `prefix`.
async fn taken(store: &dyn KvStore, prefix: &str) -> Result<HashSet<String>, ApiError> {
    let resp = store
        .range(RangeRequest {
            keys_only: true,
            ..RangeRequest::prefix(prefix.to_owned())
        })
        .await
        .map_err(api_error)?;
    Ok(resp
        .kvs
        .iter()
        .filter_map(|kv| {
            String::from_utf8_lossy(&kv.key)
                .strip_prefix(prefix)
                .map(str::to_owned)
        })
        .collect())
}

async fn exists(store: &dyn KvStore, key: &str) -> Result<bool, ApiError> {
    Ok(store
        .get(key.as_bytes())
        .await
        .map_err(api_error)?
        .is_some())
}

/// A random member of `low..=high` for which `free` holds, probing upwards from a
/// random start; `None` when there is none.
fn pick(low: u128, high: u128, mut free: impl FnMut(u128) -> bool) -> Option<u128> {
    if low > high {
        return None;
    }
    let span = high - low + 1;
    let start = rand::rng().random_range(0..span);
    (0..span)
        .map(|i| low + (start + i) % span)
        .find(|candidate| free(*candidate))
}

impl ServiceReservations {
    /// A free address, never the first of the range (the `kubernetes` Service's).
    async fn free_ip(&self, store: &dyn KvStore) -> Result<IpAddr, ApiError> {
        let taken = taken(store, SERVICE_IP_PREFIX).await?;
        let range = self.ranges.ips;
        pick(2, range.size(), |offset| {
            range
                .at(offset)
                .is_some_and(|ip| !taken.contains(&ip.to_string()))
        })
        .and_then(|offset| range.at(offset))
        .ok_or_else(|| {
            ApiError::internal(&format!(
                "failed to allocate a serviceIP: range {range} is full"
            ))
        })
    }

    /// A free node port not in `also_taken`.
    async fn free_port(
        &self,
        store: &dyn KvStore,
        taken: &mut Option<HashSet<String>>,
        also_taken: &BTreeSet<u16>,
    ) -> Result<u16, ApiError> {
        if taken.is_none() {
            *taken = Some(self::taken(store, NODE_PORT_PREFIX).await?);
        }
        let in_store = taken.as_ref().map(|t| t.len()).unwrap_or(0);
        let range = self.ranges.node_ports;
        pick(u128::from(range.low), u128::from(range.high), |p| {
            let Ok(port) = u16::try_from(p) else {
                return false;
            };
            !also_taken.contains(&port)
                && !taken
                    .as_ref()
                    .is_some_and(|t| t.contains(&port.to_string()))
        })
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| {
            ApiError::internal(&format!(
                "failed to allocate a nodePort: range {range} is full ({in_store} taken)"
            ))
        })
    }
}

fn set_node_port(svc: &mut Value, index: usize, port: u16) {
    if let Some(p) = svc
        .pointer_mut(&format!("/spec/ports/{index}"))
        .and_then(Value::as_object_mut)
    {
        p.insert("nodePort".into(), json!(port));
    }
}

#[async_trait::async_trait]
impl Reservations for ServiceReservations {
    async fn reserve(
        &self,
        store: &dyn KvStore,
        old: Option<&Value>,
        new: &mut Value,
    ) -> Result<ReservationTxn, ApiError> {
        let invalid = |svc: &Value, causes| ApiError::invalid("Service", meta::name(svc), causes);
        let wanted = plan::prepare(old, new, &self.ranges).map_err(|c| invalid(new, c))?;
        let before = old.map(plan::held).unwrap_or_default();
        let record = owner(new);
        let mut txn = ReservationTxn::default();
        let mut causes = Vec::new();

        match wanted.ip {
            Some(Choice::Given(ip)) if before.ip == Some(ip) => {}
            Some(Choice::Given(ip)) => {
                if exists(store, &ip_key(ip)).await? {
                    causes.push(StatusCause::invalid_value(
                        "spec.clusterIPs",
                        &json!(ip.to_string()),
                        &format!("failed to allocate IP {ip}: provided IP is already allocated"),
                    ));
                } else {
                    claim(&mut txn, ip_key(ip), &record);
                }
            }
            Some(Choice::Allocate) => {
                let ip = self.free_ip(store).await?;
                if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.insert("clusterIP".into(), json!(ip.to_string()));
                    spec.insert("clusterIPs".into(), json!([ip.to_string()]));
                }
                claim(&mut txn, ip_key(ip), &record);
            }
            None => {}
        }

        // Ports this write holds: kept from the stored object or claimed now (a port
        // number may serve both TCP and UDP of one Service).
        let mut holding: BTreeSet<u16> = BTreeSet::new();
        for (_, choice) in &wanted.node_ports {
            if let Choice::Given(port) = choice {
                if before.node_ports.contains(port) {
                    holding.insert(*port);
                }
            }
        }
        let mut in_store = None;
        for (index, choice) in &wanted.node_ports {
            match *choice {
                Choice::Given(port) if holding.contains(&port) => {}
                Choice::Given(port) => {
                    if exists(store, &port_key(port)).await? {
                        causes.push(StatusCause::invalid_value(
                            &format!("spec.ports[{index}].nodePort"),
                            &json!(port),
                            "provided port is already allocated",
                        ));
                    } else {
                        holding.insert(port);
                        claim(&mut txn, port_key(port), &record);
                    }
                }
                Choice::Allocate => {}
            }
        }
        for (index, choice) in &wanted.node_ports {
            if *choice == Choice::Allocate {
                let also: BTreeSet<u16> = holding.union(&before.node_ports).copied().collect();
                let port = self.free_port(store, &mut in_store, &also).await?;
                holding.insert(port);
                set_node_port(new, *index, port);
                claim(&mut txn, port_key(port), &record);
            }
        }
        if !causes.is_empty() {
            return Err(invalid(new, causes));
        }

        let after = plan::held(new);
        if let Some(ip) = before.ip.filter(|ip| after.ip != Some(*ip)) {
            txn.success.push(release_op(ip_key(ip)));
        }
        for port in before.node_ports.difference(&after.node_ports) {
            txn.success.push(release_op(port_key(*port)));
        }
        Ok(txn)
    }

    fn release(&self, obj: &Value) -> Vec<RequestOp> {
        let held = plan::held(obj);
        held.ip
            .map(ip_key)
            .into_iter()
            .chain(held.node_ports.iter().copied().map(port_key))
            .map(release_op)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_finds_the_only_free_value_and_none_when_full() {
        for _ in 0..20 {
            assert_eq!(pick(10, 20, |v| v == 17), Some(17));
        }
        assert_eq!(pick(10, 20, |_| false), None);
        assert_eq!(pick(3, 2, |_| true), None);
    }
}
