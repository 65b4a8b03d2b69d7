//! The columns kubectl shows for each kind (from kube-apiserver's printers).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use skiff_core::resource::ApiResource;

use super::cells::{
    age_at, array_at, at, containers_and_images, created_at, human_duration, int_at, join_or_none,
    map_string, selector_string, str_at, time_at,
};
use super::{columns_cluster, columns_events, columns_network, columns_pods, columns_storage};

/// Computes one cell of a row from the object and the current time.
pub type CellFn = fn(&Value, DateTime<Utc>) -> Value;

/// One column: its definition and how to fill it.
#[derive(Clone)]
pub struct Column {
    /// Header (kubectl upper-cases it).
    pub name: &'static str,
    /// `string`, `integer`, `date`, ...
    pub kind: &'static str,
    /// `name` for the name column, empty otherwise.
    pub format: &'static str,
    /// 0: always shown; 1: only with `-o wide`.
    pub priority: u8,
    /// The cell of an object.
    pub cell: CellFn,
}

impl Column {
    /// The `TableColumnDefinition`.
    pub fn definition(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind,
            "format": self.format,
            "description": "",
            "priority": self.priority,
        })
    }
}

/// A column of no particular format.
pub(super) const fn col(
    name: &'static str,
    kind: &'static str,
    priority: u8,
    cell: CellFn,
) -> Column {
    Column {
        name,
        kind,
        format: "",
        priority,
        cell,
    }
}

/// NAME: `metadata.name`.
pub(super) fn name_column() -> Column {
    Column {
        name: "Name",
        kind: "string",
        format: "name",
        priority: 0,
        cell: |o, _| json!(str_at(o, "metadata.name", "")),
    }
}

/// AGE: how long ago `metadata.creationTimestamp` was.
pub(super) fn age_column() -> Column {
    col("Age", "string", 0, |o, now| {
        json!(age_at(o, "metadata.creationTimestamp", now))
    })
}

/// The columns for `resource`'s kind: NAME, the kind's own, AGE; NAME and AGE for kinds
/// without a printer of their own.
pub fn columns_for(resource: &ApiResource) -> Vec<Column> {
    let (group, kind) = (resource.group.as_str(), resource.kind.as_str());
    if let Some(columns) = columns_pods::columns(group, kind)
        .or_else(|| columns_network::columns(group, kind))
        .or_else(|| columns_storage::columns(group, kind))
        .or_else(|| columns_cluster::columns(group, kind))
        .or_else(|| columns_events::columns(group, kind))
    {
        return columns;
    }
    let mut columns = vec![name_column()];
    let (own, wide): (Vec<Column>, Vec<Column>) =
        match (resource.group.as_str(), resource.kind.as_str()) {
            ("apps", "Deployment") => (
                vec![
                    col("Ready", "string", 0, |o, _| {
                        json!(format!(
                            "{}/{}",
                            int_at(o, "status.readyReplicas"),
                            replicas(o)
                        ))
                    }),
                    col("Up-to-date", "integer", 0, |o, _| {
                        json!(int_at(o, "status.updatedReplicas"))
                    }),
                    col("Available", "integer", 0, |o, _| {
                        json!(int_at(o, "status.availableReplicas"))
                    }),
                    age_column(),
                ],
                template_wide(),
            ),
            ("apps", "ReplicaSet") => (replica_counts(), template_wide()),
            // A ReplicationController's selector is a plain label map, not a
            // LabelSelector.
            ("", "ReplicationController") => (
                replica_counts(),
                vec![
                    col("Containers", "string", 1, |o, _| {
                        json!(containers_and_images(o, "spec.template.spec").0)
                    }),
                    col("Images", "string", 1, |o, _| {
                        json!(containers_and_images(o, "spec.template.spec").1)
                    }),
                    col("Selector", "string", 1, |o, _| {
                        json!(map_string(at(o, "spec.selector")))
                    }),
                ],
            ),
            ("apps", "StatefulSet") => (
                vec![
                    col("Ready", "string", 0, |o, _| {
                        json!(format!(
                            "{}/{}",
                            int_at(o, "status.readyReplicas"),
                            replicas(o)
                        ))
                    }),
                    age_column(),
                ],
                template_wide().into_iter().take(2).collect(),
            ),
            ("apps", "DaemonSet") => (
                vec![
                    col("Desired", "integer", 0, |o, _| {
                        json!(int_at(o, "status.desiredNumberScheduled"))
                    }),
                    col("Current", "integer", 0, |o, _| {
                        json!(int_at(o, "status.currentNumberScheduled"))
                    }),
                    col("Ready", "integer", 0, |o, _| {
                        json!(int_at(o, "status.numberReady"))
                    }),
                    col("Up-to-date", "integer", 0, |o, _| {
                        json!(int_at(o, "status.updatedNumberScheduled"))
                    }),
                    col("Available", "integer", 0, |o, _| {
                        json!(int_at(o, "status.numberAvailable"))
                    }),
                    col("Node Selector", "string", 0, |o, _| {
                        json!(map_string(at(o, "spec.template.spec.nodeSelector")))
                    }),
                    age_column(),
                ],
                template_wide(),
            ),
            ("", "Service") => (
                vec![
                    col("Type", "string", 0, |o, _| {
                        json!(str_at(o, "spec.type", "ClusterIP"))
                    }),
                    col("Cluster-IP", "string", 0, |o, _| {
                        json!(str_at(o, "spec.clusterIP", "<none>"))
                    }),
                    col("External-IP", "string", 0, |o, _| {
                        json!(service_external_ip(o))
                    }),
                    col("Port(s)", "string", 0, |o, _| json!(service_ports(o))),
                    age_column(),
                ],
                vec![col("Selector", "string", 1, |o, _| {
                    json!(map_string(at(o, "spec.selector")))
                })],
            ),
            ("", "Node") => (
                vec![
                    col("Status", "string", 0, |o, _| json!(node_status(o))),
                    col("Roles", "string", 0, |o, _| json!(node_roles(o))),
                    age_column(),
                    col("Version", "string", 0, |o, _| {
                        json!(str_at(o, "status.nodeInfo.kubeletVersion", ""))
                    }),
                ],
                vec![
                    col("Internal-IP", "string", 1, |o, _| {
                        json!(node_address(o, "InternalIP"))
                    }),
                    col("External-IP", "string", 1, |o, _| {
                        json!(node_address(o, "ExternalIP"))
                    }),
                    col("OS-Image", "string", 1, |o, _| {
                        json!(str_at(o, "status.nodeInfo.osImage", "<unknown>"))
                    }),
                    col("Kernel-Version", "string", 1, |o, _| {
                        json!(str_at(o, "status.nodeInfo.kernelVersion", "<unknown>"))
                    }),
                    col("Container-Runtime", "string", 1, |o, _| {
                        json!(str_at(
                            o,
                            "status.nodeInfo.containerRuntimeVersion",
                            "<unknown>"
                        ))
                    }),
                ],
            ),
            ("", "Namespace") => (
                vec![
                    col("Status", "string", 0, |o, _| {
                        json!(str_at(o, "status.phase", "Active"))
                    }),
                    age_column(),
                ],
                vec![],
            ),
            ("", "ConfigMap") => (
                vec![
                    col("Data", "integer", 0, |o, _| {
                        json!(object_len(o, "data") + object_len(o, "binaryData"))
                    }),
                    age_column(),
                ],
                vec![],
            ),
            ("", "Secret") => (
                vec![
                    col("Type", "string", 0, |o, _| {
                        json!(str_at(o, "type", "Opaque"))
                    }),
                    col("Data", "integer", 0, |o, _| json!(object_len(o, "data"))),
                    age_column(),
                ],
                vec![],
            ),
            ("batch", "Job") => (
                vec![
                    col("Status", "string", 0, |o, _| json!(job_status(o))),
                    col("Completions", "string", 0, |o, _| json!(job_completions(o))),
                    col("Duration", "string", 0, |o, now| {
                        json!(job_duration(o, now))
                    }),
                    age_column(),
                ],
                template_wide(),
            ),
            ("batch", "CronJob") => (
                vec![
                    col("Schedule", "string", 0, |o, _| {
                        json!(str_at(o, "spec.schedule", ""))
                    }),
                    col("Timezone", "string", 0, |o, _| {
                        json!(str_at(o, "spec.timeZone", "<none>"))
                    }),
                    // kube prints `True`/`False` (`<unset>` when absent), not a JSON
                    // boolean, though the column's type is boolean.
                    col("Suspend", "boolean", 0, |o, _| {
                        json!(match at(o, "spec.suspend").and_then(Value::as_bool) {
                            Some(true) => "True",
                            Some(false) => "False",
                            None => "<unset>",
                        })
                    }),
                    col("Active", "integer", 0, |o, _| {
                        json!(array_at(o, "status.active").len())
                    }),
                    col("Last Schedule", "string", 0, |o, now| {
                        json!(time_at(o, "status.lastScheduleTime")
                            .map(|t| human_duration(now.signed_duration_since(t)))
                            .unwrap_or_else(|| "<none>".into()))
                    }),
                    age_column(),
                ],
                vec![
                    col("Containers", "string", 1, |o, _| {
                        json!(containers_and_images(o, "spec.jobTemplate.spec.template.spec").0)
                    }),
                    col("Images", "string", 1, |o, _| {
                        json!(containers_and_images(o, "spec.jobTemplate.spec.template.spec").1)
                    }),
                    col("Selector", "string", 1, |o, _| {
                        json!(selector_string(at(o, "spec.jobTemplate.spec.selector")))
                    }),
                ],
            ),
            ("apiextensions.k8s.io", "CustomResourceDefinition") => (
                // kube's default table: the creation time in RFC 3339, not an age.
                vec![col("Created At", "date", 0, |o, _| json!(created_at(o)))],
                vec![],
            ),
            ("coordination.k8s.io", "Lease") => (
                vec![
                    col("Holder", "string", 0, |o, _| {
                        json!(str_at(o, "spec.holderIdentity", ""))
                    }),
                    age_column(),
                ],
                vec![],
            ),
            _ => (vec![age_column()], vec![]),
        };
    columns.extend(own);
    columns.extend(wide);
    columns
}

/// Desired, Current, Ready, Age of a ReplicaSet or ReplicationController.
fn replica_counts() -> Vec<Column> {
    vec![
        col("Desired", "integer", 0, |o, _| json!(replicas(o))),
        col("Current", "integer", 0, |o, _| {
            json!(int_at(o, "status.replicas"))
        }),
        col("Ready", "integer", 0, |o, _| {
            json!(int_at(o, "status.readyReplicas"))
        }),
        age_column(),
    ]
}

/// Containers, Images, Selector of a pod-template workload (`-o wide`).
fn template_wide() -> Vec<Column> {
    vec![
        col("Containers", "string", 1, |o, _| {
            json!(containers_and_images(o, "spec.template.spec").0)
        }),
        col("Images", "string", 1, |o, _| {
            json!(containers_and_images(o, "spec.template.spec").1)
        }),
        col("Selector", "string", 1, |o, _| {
            json!(selector_string(at(o, "spec.selector")))
        }),
    ]
}

/// `spec.replicas`, which defaults to 1.
fn replicas(o: &Value) -> i64 {
    at(o, "spec.replicas").and_then(Value::as_i64).unwrap_or(1)
}

fn object_len(o: &Value, key: &str) -> usize {
    o.get(key).and_then(Value::as_object).map_or(0, |m| m.len())
}

/// EXTERNAL-IP by service type, as kube's `getServiceExternalIP`: the external IPs
/// (`<none>`), for a LoadBalancer its ingress addresses (sorted, deduplicated; an IP,
/// else a hostname) then the external IPs, or `<pending>`.
fn service_external_ip(o: &Value) -> String {
    let ips: Vec<String> = array_at(o, "spec.externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    match str_at(o, "spec.type", "ClusterIP") {
        "ClusterIP" | "NodePort" => join_or_none(ips),
        "LoadBalancer" => {
            let ingress: BTreeSet<String> = array_at(o, "status.loadBalancer.ingress")
                .iter()
                .map(|i| match str_at(i, "ip", "") {
                    "" => str_at(i, "hostname", "").to_string(),
                    ip => ip.to_string(),
                })
                .filter(|a| !a.is_empty())
                .collect();
            if ingress.is_empty() && ips.is_empty() {
                "<pending>".into()
            } else {
                ingress.into_iter().chain(ips).collect::<Vec<_>>().join(",")
            }
        }
        "ExternalName" => str_at(o, "spec.externalName", "").to_string(),
        _ => "<unknown>".into(),
    }
}

fn service_ports(o: &Value) -> String {
    join_or_none(array_at(o, "spec.ports").iter().map(|p| {
        let proto = str_at(p, "protocol", "TCP");
        match at(p, "nodePort")
            .and_then(Value::as_i64)
            .filter(|n| *n != 0)
        {
            Some(node) => format!("{}:{node}/{proto}", int_at(p, "port")),
            None => format!("{}/{proto}", int_at(p, "port")),
        }
    }))
}

fn node_status(o: &Value) -> String {
    let ready = array_at(o, "status.conditions")
        .iter()
        .find(|c| str_at(c, "type", "") == "Ready");
    let mut status = match ready.map(|c| str_at(c, "status", "")) {
        Some("True") => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if at(o, "spec.unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

fn node_roles(o: &Value) -> String {
    let roles = o["metadata"]["labels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("node-role.kubernetes.io/")
                        .map(String::from)
                        .or_else(|| {
                            (k == "kubernetes.io/role")
                                .then(|| v.as_str().unwrap_or_default().to_string())
                        })
                })
                .collect::<BTreeSet<_>>()
        })
        .unwrap_or_default();
    join_or_none(roles)
}

fn node_address(o: &Value, kind: &str) -> String {
    array_at(o, "status.addresses")
        .iter()
        .find(|a| str_at(a, "type", "") == kind)
        .map(|a| str_at(a, "address", "<none>").to_string())
        .unwrap_or_else(|| "<none>".into())
}

fn job_status(o: &Value) -> String {
    let conditions = array_at(o, "status.conditions");
    let has = |t: &str| {
        conditions
            .iter()
            .any(|c| str_at(c, "type", "") == t && str_at(c, "status", "") == "True")
    };
    if has("Complete") {
        "Complete".into()
    } else if has("Failed") {
        "Failed".into()
    } else if at(o, "metadata.deletionTimestamp").is_some() {
        "Terminating".into()
    } else if has("Suspended") {
        "Suspended".into()
    } else if has("FailureTarget") {
        "FailureTarget".into()
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet".into()
    } else {
        "Running".into()
    }
}

fn job_completions(o: &Value) -> String {
    let succeeded = int_at(o, "status.succeeded");
    match at(o, "spec.completions").and_then(Value::as_i64) {
        Some(completions) => format!("{succeeded}/{completions}"),
        None => {
            let parallelism = at(o, "spec.parallelism")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    }
}

fn job_duration(o: &Value, now: DateTime<Utc>) -> String {
    let Some(start) = time_at(o, "status.startTime") else {
        return String::new();
    };
    let end = time_at(o, "status.completionTime").unwrap_or(now);
    human_duration(end.signed_duration_since(start))
}

/// The cells of `obj` in `columns` now (for the printers' tests).
#[cfg(test)]
pub(crate) fn cells_now(columns: Option<Vec<Column>>, obj: &Value) -> Vec<Value> {
    let now = Utc::now();
    columns
        .expect("a printer for the kind")
        .iter()
        .map(|c| (c.cell)(obj, now))
        .collect()
}
