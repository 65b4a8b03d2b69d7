//! A StatefulSet pod's stable identity: its name `{set}-{ordinal}`, hostname and
//! subdomain, identity labels, and its claims `{template}-{set}-{ordinal}` mounted
//! through the pod's volumes.
//!
//! ```
//! use skiff_controllers::statefulset::identity::{claim_name, ordinal_of, pod_name};
//! assert_eq!(pod_name("web", 2), "web-2");
//! assert_eq!(ordinal_of("web", "web-2"), Some(2));
//! assert_eq!(ordinal_of("web", "web-x"), None);
//! assert_eq!(ordinal_of("web", "webby-1"), None);
//! assert_eq!(claim_name("data", "web", 0), "data-web-0");
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::pods;
use crate::revisions::HASH_LABEL;

/// The label naming a StatefulSet pod.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label holding a StatefulSet pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The name of the pod with `ordinal`.
pub fn pod_name(set: &str, ordinal: usize) -> String {
    format!("{set}-{ordinal}")
}

/// The ordinal of a pod of `set` from its name (`None` if not `{set}-{n}`).
pub fn ordinal_of(set: &str, pod: &str) -> Option<usize> {
    let digits = pod.strip_prefix(set)?.strip_prefix('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The name of the claim of `template` for the pod with `ordinal`.
pub fn claim_name(template: &str, set: &str, ordinal: usize) -> String {
    format!("{template}-{set}-{ordinal}")
}

fn set_name(set: &StatefulSet) -> &str {
    set.metadata.name.as_deref().unwrap_or_default()
}

fn claim_templates(set: &StatefulSet) -> &[PersistentVolumeClaim] {
    set.spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_deref())
        .unwrap_or(&[])
}

/// The claims the pod with `ordinal` mounts: one per volume claim template, labelled
/// with the set's selector labels.
pub fn claims(set: &StatefulSet, ordinal: usize) -> Vec<PersistentVolumeClaim> {
    let name = set_name(set);
    let selector_labels = set
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    claim_templates(set)
        .iter()
        .map(|t| {
            let tname = t.metadata.name.clone().unwrap_or_default();
            let mut labels = t.metadata.labels.clone().unwrap_or_default();
            labels.extend(selector_labels.clone());
            PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(claim_name(&tname, name, ordinal)),
                    namespace: set.metadata.namespace.clone(),
                    labels: Some(labels),
                    annotations: t.metadata.annotations.clone(),
                    ..ObjectMeta::default()
                },
                spec: t.spec.clone(),
                status: None,
            }
        })
        .collect()
}

/// The pod with `ordinal` from `template`, made from revision `revision`.
pub fn new_pod(
    set: &StatefulSet,
    template: &PodTemplateSpec,
    revision: &str,
    ordinal: usize,
) -> Pod {
    let name = set_name(set);
    let ns = set.metadata.namespace.clone().unwrap_or_default();
    let pod_name = pod_name(name, ordinal);
    let labels: BTreeMap<String, String> = [
        (POD_NAME_LABEL.to_owned(), pod_name.clone()),
        (POD_INDEX_LABEL.to_owned(), ordinal.to_string()),
        (HASH_LABEL.to_owned(), revision.to_owned()),
    ]
    .into();
    let mut pod = pods::from_template(template, &ns, name, pods::controller_ref(set), &labels);
    pod.metadata.generate_name = None;
    pod.metadata.name = Some(pod_name.clone());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(pod_name);
    if let Some(service) = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .filter(|s| !s.is_empty())
    {
        spec.subdomain = Some(service);
    }
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    for t in claim_templates(set) {
        let tname = t.metadata.name.clone().unwrap_or_default();
        let volume = Volume {
            name: tname.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(&tname, name, ordinal),
                read_only: None,
            }),
            ..Volume::default()
        };
        // A claim template replaces a template volume of the same name.
        volumes.retain(|v| v.name != tname);
        volumes.push(volume);
    }
    if volumes.is_empty() {
        spec.volumes = None;
    }
    pod
}

/// The revision a pod was made from (its `controller-revision-hash` label).
pub fn revision_of(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(HASH_LABEL))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set() -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {
                "serviceName": "nginx",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                    "containers": [{"name": "c", "image": "i"}],
                    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "emptyDir": {}}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                    "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn pod_has_identity_and_claim_volumes() {
        let s = set();
        let pod = new_pod(&s, &s.spec.clone().unwrap().template, "web-abc", 3);
        assert_eq!(pod.metadata.name.as_deref(), Some("web-3"));
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], "web-3");
        assert_eq!(labels[POD_INDEX_LABEL], "3");
        assert_eq!(labels[HASH_LABEL], "web-abc");
        assert_eq!(labels["app"], "web");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-3"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let volumes = spec.volumes.unwrap();
        assert_eq!(volumes.len(), 2);
        let data = volumes.iter().find(|v| v.name == "data").unwrap();
        assert_eq!(
            data.persistent_volume_claim.as_ref().unwrap().claim_name,
            "data-web-3"
        );
        assert_eq!(pod.metadata.owner_references.unwrap()[0].uid, "u1");
    }

    #[test]
    fn claims_carry_selector_labels() {
        let c = claims(&set(), 1);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].metadata.name.as_deref(), Some("data-web-1"));
        assert_eq!(c[0].metadata.labels.as_ref().unwrap()["app"], "web");
        assert!(c[0].spec.is_some());
    }

    #[test]
    fn ordinals_parse_strictly() {
        assert_eq!(ordinal_of("web", "web-0"), Some(0));
        assert_eq!(ordinal_of("web", "web-"), None);
        assert_eq!(ordinal_of("web", "web-1-2"), None);
        assert_eq!(ordinal_of("web", "web-99999999999999999999999"), None);
    }
}
