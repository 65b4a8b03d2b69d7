//! Columns of the cluster-policy kinds, as kube-apiserver prints them:
//! `ServiceAccount` (SECRETS), `ResourceQuota` (REQUEST, LIMIT), `LimitRange`
//! (CREATED AT, kube's default table for kinds without a printer),
//! `PodDisruptionBudget` (MIN AVAILABLE, MAX UNAVAILABLE, ALLOWED DISRUPTIONS),
//! `PriorityClass` (VALUE, GLOBAL-DEFAULT, PREEMPTIONPOLICY) and
//! `ControllerRevision` (CONTROLLER, REVISION).
//!
//! ```text
//! NAME   REQUEST                            LIMIT              AGE
//! mem    pods: 1/10, requests.cpu: 0/2      limits.cpu: 0/4    5m
//! ```

use serde_json::{json, Value};

use super::cells::{array_at, created_at, int_at, int_or_string, quantity_text, str_at};
use super::columns::{age_column, col, name_column, Column};

/// The columns of `group`/`kind` if this module prints it.
pub fn columns(group: &str, kind: &str) -> Option<Vec<Column>> {
    match (group, kind) {
        ("", "ServiceAccount") => Some(vec![
            name_column(),
            col("Secrets", "string", 0, |o, _| {
                json!(array_at(o, "secrets").len())
            }),
            age_column(),
        ]),
        ("", "ResourceQuota") => Some(vec![
            name_column(),
            col("Request", "string", 0, |o, _| json!(quota_usage(o, false))),
            col("Limit", "string", 0, |o, _| json!(quota_usage(o, true))),
            age_column(),
        ]),
        ("", "LimitRange") => Some(vec![
            name_column(),
            col("Created At", "date", 0, |o, _| json!(created_at(o))),
        ]),
        ("policy", "PodDisruptionBudget") => Some(vec![
            name_column(),
            col("Min Available", "string", 0, |o, _| {
                json!(int_or_string(o.pointer("/spec/minAvailable")).unwrap_or_else(|| "N/A".into()))
            }),
            col("Max Unavailable", "string", 0, |o, _| {
                json!(int_or_string(o.pointer("/spec/maxUnavailable"))
                    .unwrap_or_else(|| "N/A".into()))
            }),
            col("Allowed Disruptions", "integer", 0, |o, _| {
                json!(int_at(o, "status.disruptionsAllowed"))
            }),
            age_column(),
        ]),
        ("scheduling.k8s.io", "PriorityClass") => Some(vec![
            name_column(),
            col("Value", "integer", 0, |o, _| json!(int_at(o, "value"))),
            col("Global-Default", "boolean", 0, |o, _| {
                json!(o
                    .get("globalDefault")
                    .and_then(Value::as_bool)
                    .unwrap_or(false))
            }),
            age_column(),
            col("PreemptionPolicy", "string", 0, |o, _| {
                json!(str_at(o, "preemptionPolicy", ""))
            }),
        ]),
        ("apps", "ControllerRevision") => Some(vec![
            name_column(),
            col("Controller", "string", 0, |o, _| json!(controller(o))),
            col("Revision", "string", 0, |o, _| json!(int_at(o, "revision"))),
            age_column(),
        ]),
        _ => None,
    }
}

/// `resource: used/hard` of each resource in `status.hard`, sorted by name, joined
/// with `, `; the `limits.*` resources when `limits`, the others otherwise.
fn quota_usage(o: &Value, limits: bool) -> String {
    let Some(hard) = o.pointer("/status/hard").and_then(Value::as_object) else {
        return String::new();
    };
    let used = o.pointer("/status/used");
    hard.iter()
        .filter(|(name, _)| is_limit(name) == limits)
        .map(|(name, quantity)| {
            format!(
                "{name}: {}/{}",
                quantity_text(used.and_then(|u| u.get(name.as_str()))),
                quantity_text(Some(quantity))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a quota resource name is a `limits.` one (`limits.cpu`, `limits.memory`).
fn is_limit(name: &str) -> bool {
    name.split_once('.')
        .is_some_and(|(prefix, _)| prefix == "limits")
}

/// `kind.group/name` (lower-cased) of the controlling owner, or `<none>`.
fn controller(o: &Value) -> String {
    let Some(owner) = array_at(o, "metadata.ownerReferences")
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
    else {
        return "<none>".into();
    };
    let name = str_at(owner, "name", "");
    let kind = str_at(owner, "kind", "");
    // apiVersion is `group/version`, or just `version` for the core group.
    let group = str_at(owner, "apiVersion", "")
        .rsplit_once('/')
        .map_or("", |(group, _)| group);
    let group_kind = match (group, kind) {
        ("", "") => return name.to_string(),
        ("", kind) => kind.to_string(),
        (group, kind) => format!("{kind}.{group}"),
    };
    format!("{}/{name}", group_kind.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn cells(group: &str, kind: &str, obj: Value) -> Vec<Value> {
        super::super::columns::cells_now(columns(group, kind), &obj)
    }

    fn named(name: &str, mut obj: Value) -> Value {
        obj["metadata"]["name"] = json!(name);
        obj
    }

    #[test]
    fn priority_class_cells() {
        let pc = named("high", json!({"value": 1000, "preemptionPolicy": "Never"}));
        assert_eq!(
            cells("scheduling.k8s.io", "PriorityClass", pc),
            [
                json!("high"),
                json!(1000),
                json!(false),
                json!("<unknown>"),
                json!("Never")
            ]
        );
    }

    #[test]
    fn service_account_counts_secrets() {
        let sa = named("build", json!({"secrets": [{"name": "a"}, {"name": "b"}]}));
        assert_eq!(
            cells("", "ServiceAccount", sa),
            [json!("build"), json!(2), json!("<unknown>")]
        );
        let sa = named("default", json!({}));
        assert_eq!(cells("", "ServiceAccount", sa)[1], json!(0));
    }

    #[test]
    fn resource_quota_splits_requests_and_limits() {
        let quota = named(
            "compute",
            json!({"status": {
                "hard": {"pods": "10", "requests.cpu": "2", "limits.cpu": "4",
                         "limits.memory": "1Gi", "requests.memory": "1024Mi"},
                "used": {"pods": "1", "requests.cpu": "500m", "limits.memory": "512Mi"}
            }}),
        );
        assert_eq!(
            cells("", "ResourceQuota", quota),
            [
                json!("compute"),
                json!("pods: 1/10, requests.cpu: 500m/2, requests.memory: 0/1Gi"),
                json!("limits.cpu: 0/4, limits.memory: 512Mi/1Gi"),
                json!("<unknown>")
            ]
        );
        let empty = named("empty", json!({"spec": {"hard": {"pods": "1"}}}));
        assert_eq!(
            cells("", "ResourceQuota", empty)[1..3],
            [json!(""), json!("")]
        );
    }

    #[test]
    fn limit_range_prints_creation_time() {
        let limits = named(
            "limits",
            json!({"metadata": {"creationTimestamp": "2024-05-06T09:08:09+02:00"}}),
        );
        assert_eq!(
            cells("", "LimitRange", limits),
            [json!("limits"), json!("2024-05-06T07:08:09Z")]
        );
        assert_eq!(
            cells("", "LimitRange", named("new", json!({})))[1],
            json!("0001-01-01T00:00:00Z")
        );
    }

    #[test]
    fn pod_disruption_budget_cells() {
        let cases = [
            (
                json!({"spec": {"minAvailable": 22}, "status": {"disruptionsAllowed": 5}}),
                ["22", "N/A"],
                5,
            ),
            (
                json!({"spec": {"maxUnavailable": "10%"}, "status": {"disruptionsAllowed": 5}}),
                ["N/A", "10%"],
                5,
            ),
            (
                json!({"spec": {"minAvailable": "50%", "maxUnavailable": 1}}),
                ["50%", "1"],
                0,
            ),
        ];
        for (obj, [min, max], allowed) in cases {
            let created = (Utc::now() - chrono::Duration::seconds(300)).to_rfc3339();
            let mut obj = named("pdb1", obj);
            obj["metadata"]["creationTimestamp"] = json!(created);
            assert_eq!(
                cells("policy", "PodDisruptionBudget", obj.clone()),
                [
                    json!("pdb1"),
                    json!(min),
                    json!(max),
                    json!(allowed),
                    json!("5m")
                ],
                "{obj}"
            );
        }
    }

    #[test]
    fn controller_revision_names_its_controller() {
        let owners = |refs: Value| json!({"metadata": {"name": "web-7c9d", "ownerReferences": refs}, "revision": 3});
        let cases = [
            (
                owners(json!([
                    {"apiVersion": "v1", "kind": "Pod", "name": "not-controller"},
                    {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                     "controller": true}
                ])),
                "statefulset.apps/web",
            ),
            (
                owners(json!([{"apiVersion": "v1", "kind": "ReplicationController",
                               "name": "rc", "controller": true}])),
                "replicationcontroller/rc",
            ),
            (
                owners(
                    json!([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds",
                               "controller": false}]),
                ),
                "<none>",
            ),
            (owners(json!(null)), "<none>"),
        ];
        for (obj, controller) in cases {
            assert_eq!(
                cells("apps", "ControllerRevision", obj.clone()),
                [
                    json!("web-7c9d"),
                    json!(controller),
                    json!(3),
                    json!("<unknown>")
                ],
                "{obj}"
            );
        }
    }
}
