//! Defaulting, after Kubernetes' `SetDefaults_*` functions: the fields a client may
//! omit and every reader expects to find set.

use serde_json::{json, Map, Value};

/// Sets `obj[key]` to `value` when absent (or null). No-op when `obj` is not an object.
fn default_field(obj: &mut Value, key: &str, value: Value) {
    if let Some(map) = obj.as_object_mut() {
        match map.get(key) {
            Some(v) if !v.is_null() => {}
            _ => {
                map.insert(key.to_owned(), value);
            }
        }
    }
}

/// The object at `obj[key]`, created empty when absent. `None` when `obj` (or the
/// field) is not an object.
fn child<'a>(obj: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    let map = obj.as_object_mut()?;
    let entry = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if entry.is_null() {
        *entry = Value::Object(Map::new());
    }
    entry.is_object().then_some(entry)
}

fn image_pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    let tagged = last.contains(':') || image.contains('@');
    if !tagged || last.ends_with(":latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

fn container(c: &mut Value) {
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    default_field(c, "imagePullPolicy", json!(image_pull_policy(&image)));
    default_field(c, "terminationMessagePath", json!("/dev/termination-log"));
    default_field(c, "terminationMessagePolicy", json!("File"));
    default_field(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            default_field(p, "protocol", json!("TCP"));
        }
    }
}

/// Defaults of a pod spec (also used for the templates of workloads).
fn pod_spec(spec: &mut Value) {
    default_field(spec, "restartPolicy", json!("Always"));
    default_field(spec, "terminationGracePeriodSeconds", json!(30));
    default_field(spec, "dnsPolicy", json!("ClusterFirst"));
    default_field(spec, "securityContext", json!({}));
    default_field(spec, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        if let Some(items) = spec.get_mut(list).and_then(Value::as_array_mut) {
            items.iter_mut().for_each(container);
        }
    }
}

fn template(obj: &mut Value) {
    if let Some(spec) = obj
        .get_mut("spec")
        .and_then(|s| s.get_mut("template"))
        .and_then(|t| child(t, "spec"))
    {
        pod_spec(spec);
    }
}

/// Pods: the pod spec defaults, plus `serviceAccountName: default` and
/// `enableServiceLinks` (the default NoExecute tolerations are added by the strategy,
/// which knows the server's toleration seconds).
pub fn pod(obj: &mut Value) {
    if let Some(spec) = child(obj, "spec") {
        pod_spec(spec);
        default_field(spec, "serviceAccountName", json!("default"));
        default_field(spec, "enableServiceLinks", json!(true));
        // `priority` is admission's (the pod's PriorityClass), not a default.
    }
}

/// Namespaces: the `kubernetes` finalizer and the `kubernetes.io/metadata.name` label.
pub fn namespace(obj: &mut Value) {
    let name = crate::registry::meta::name(obj).to_owned();
    if let Some(spec) = child(obj, "spec") {
        default_field(spec, "finalizers", json!(["kubernetes"]));
    }
    let meta = crate::registry::meta::metadata_mut(obj);
    let labels = meta
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(labels) = labels.as_object_mut() {
        labels.insert("kubernetes.io/metadata.name".into(), json!(name));
    }
}

/// Services: type ClusterIP, session affinity None, port protocol and target port.
pub fn service(obj: &mut Value) {
    if let Some(spec) = child(obj, "spec") {
        default_field(spec, "type", json!("ClusterIP"));
        default_field(spec, "sessionAffinity", json!("None"));
        default_field(spec, "internalTrafficPolicy", json!("Cluster"));
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports {
                default_field(p, "protocol", json!("TCP"));
                let port = p.get("port").cloned().unwrap_or(Value::Null);
                default_field(p, "targetPort", port);
            }
        }
    }
}

/// Secrets: type Opaque; `stringData` folded into `data` (base64) as Kubernetes does.
pub fn secret(obj: &mut Value) {
    use base64::Engine as _;
    default_field(obj, "type", json!("Opaque"));
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(string_data)) = map.remove("stringData") {
        let data = map
            .entry("data")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(data) = data.as_object_mut() {
            for (k, v) in string_data {
                if let Some(s) = v.as_str() {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(s);
                    data.insert(k, json!(encoded));
                }
            }
        }
    }
}

fn rolling_update(spec: &mut Value) {
    default_field(
        spec,
        "strategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
    );
}

/// Deployments: one replica, rolling update 25%/25%, history 10, deadline 600 s.
pub fn deployment(obj: &mut Value) {
    if let Some(spec) = child(obj, "spec") {
        default_field(spec, "replicas", json!(1));
        rolling_update(spec);
        default_field(spec, "revisionHistoryLimit", json!(10));
        default_field(spec, "progressDeadlineSeconds", json!(600));
    }
    template(obj);
}

/// ReplicaSets: one replica.
pub fn replica_set(obj: &mut Value) {
    if let Some(spec) = child(obj, "spec") {
        default_field(spec, "replicas", json!(1));
    }
    template(obj);
}

/// StatefulSets: one replica, ordered pod management, rolling updates.
pub fn stateful_set(obj: &mut Value) {
    if let Some(spec) = child(obj, "spec") {
        default_field(spec, "replicas", json!(1));
        default_field(spec, "podManagementPolicy", json!("OrderedReady"));
        default_field(
            spec,
            "updateStrategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
        );
        default_field(spec, "revisionHistoryLimit", json!(10));
    }
    template(obj);
}

/// DaemonSets: rolling updates with one unavailable.
pub fn daemon_set(obj: &mut Value) {
    if let Some(spec) = child(obj, "spec") {
        default_field(
            spec,
            "updateStrategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
        );
        default_field(spec, "revisionHistoryLimit", json!(10));
    }
    template(obj);
}

/// Jobs: one completion and parallelism one when both are unset (a job with only
/// parallelism set is a work queue, without completions), back-off limit six; and,
/// unless `spec.manualSelector` is true, the generated selector on
/// `batch.kubernetes.io/controller-uid` with the `controller-uid` and `job-name`
/// labels (legacy and `batch.kubernetes.io/` forms) on the pod template, as
/// Kubernetes' job strategy does on create. A Job with no labels gets its template's.
pub fn job(obj: &mut Value) {
    job_selector(obj);
    if let Some(spec) = child(obj, "spec") {
        let unset = |k: &str| spec.get(k).is_none_or(Value::is_null);
        if unset("completions") && unset("parallelism") {
            default_field(spec, "completions", json!(1));
        }
        default_field(spec, "parallelism", json!(1));
        default_field(spec, "backoffLimit", json!(6));
        default_field(spec, "completionMode", json!("NonIndexed"));
        default_field(spec, "suspend", json!(false));
    }
    template(obj);
}

/// The selector and template labels Kubernetes generates for a Job created without a
/// selector (needs the uid, which create assigns before defaulting).
fn job_selector(obj: &mut Value) {
    let uid = obj["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    let manual = spec["manualSelector"].as_bool() == Some(true);
    let has_selector = spec.get("selector").is_some_and(|s| !s.is_null());
    if manual || has_selector || uid.is_empty() {
        return;
    }
    let Some(labels) = child(spec, "template")
        .and_then(|t| child(t, "metadata"))
        .and_then(|m| child(m, "labels"))
    else {
        return;
    };
    for key in ["job-name", "batch.kubernetes.io/job-name"] {
        default_field(labels, key, json!(name));
    }
    for key in ["controller-uid", "batch.kubernetes.io/controller-uid"] {
        default_field(labels, key, json!(uid));
    }
    let template_labels = labels.clone();
    spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    if let Some(meta) = child(obj, "metadata") {
        let empty = meta
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty);
        if empty {
            meta["labels"] = template_labels;
        }
    }
}

/// CronJobs: concurrency Allow, history limits 3 and 1.
pub fn cron_job(obj: &mut Value) {
    if let Some(spec) = child(obj, "spec") {
        default_field(spec, "concurrencyPolicy", json!("Allow"));
        default_field(spec, "suspend", json!(false));
        default_field(spec, "successfulJobsHistoryLimit", json!(3));
        default_field(spec, "failedJobsHistoryLimit", json!(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_kubernetes_defaults() {
        let mut p = json!({"spec": {"containers": [{"name": "a", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}, {"name": "b", "image": "busybox"}]}});
        pod(&mut p);
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(
            p["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(p["spec"]["containers"][1]["imagePullPolicy"], "Always");
        assert_eq!(p["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn defaults_keep_what_is_set() {
        let mut d = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": []}}}});
        deployment(&mut d);
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(d["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    }

    #[test]
    fn jobs_get_a_generated_selector_and_work_queues_no_completions() {
        let mut j = json!({"metadata": {"name": "pi", "uid": "u1"},
            "spec": {"parallelism": 2, "template": {"spec": {"containers": []}}}});
        job(&mut j);
        assert_eq!(
            j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "u1"
        );
        assert_eq!(
            j["spec"]["template"]["metadata"]["labels"]["job-name"],
            "pi"
        );
        assert_eq!(
            j["metadata"]["labels"]["batch.kubernetes.io/job-name"],
            "pi"
        );
        assert!(j["spec"].get("completions").is_none());
        let mut manual = json!({"metadata": {"name": "m", "uid": "u2"},
            "spec": {"manualSelector": true, "template": {}}});
        job(&mut manual);
        assert!(manual["spec"].get("selector").is_none());
        assert_eq!(manual["spec"]["completions"], 1);
    }

    #[test]
    fn secret_string_data_is_folded() {
        let mut s = json!({"stringData": {"a": "hi"}});
        secret(&mut s);
        assert_eq!(s["data"]["a"], "aGk=");
        assert!(s.get("stringData").is_none());
    }
}
