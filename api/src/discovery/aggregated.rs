//! Aggregated discovery (`apidiscovery.k8s.io/v2`): every group, version and resource
//! in one `APIGroupDiscoveryList` document, which saves clients a request per
//! group-version.

use serde_json::{json, Value};
use skiff_core::resource::{ApiResource, Subresource};

use super::groups;

/// The Content-Type of an aggregated discovery answer.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// The aggregated discovery document: for `/api` (`core == true`) the core group only,
/// for `/apis` every named group.
pub fn aggregated_discovery(resources: &[ApiResource], core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![group_item("", &["v1".to_string()], resources)]
    } else {
        groups(resources)
            .iter()
            .map(|(group, versions)| group_item(group, versions, resources))
            .collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

/// One `APIGroupDiscovery`: the group's versions, preferred first, with their resources.
fn group_item(group: &str, versions: &[String], resources: &[ApiResource]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|version| {
            let resources: Vec<Value> = resources
                .iter()
                .filter(|r| r.group == group && &r.version == version)
                .map(resource_entry)
                .collect();
            json!({"version": version, "resources": resources, "freshness": "Current"})
        })
        .collect();
    json!({"metadata": {"name": group}, "versions": versions})
}

/// One `APIResourceDiscovery`.
fn resource_entry(r: &ApiResource) -> Value {
    let mut entry = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        entry["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        entry["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        entry["subresources"] = json!(r
            .subresources
            .iter()
            .map(subresource_entry)
            .collect::<Vec<_>>());
    }
    entry
}

/// One `APISubresourceDiscovery`.
fn subresource_entry(s: &Subresource) -> Value {
    json!({
        "subresource": s.name,
        "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
        "verbs": s.verbs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_core::resource::builtin_resources;

    #[test]
    fn core_and_named_groups() {
        let all = builtin_resources();
        let core = aggregated_discovery(&all, true);
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        assert_eq!(core["items"][0]["metadata"]["name"], "");
        let pods = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap();
        assert_eq!(pods["responseKind"]["kind"], "Pod");
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["shortNames"][0], "po");
        assert!(pods["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["subresource"] == "status" && s["responseKind"]["kind"] == "Pod"));

        let named = aggregated_discovery(&all, false);
        let apps = named["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        let scale = deploy["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subresource"] == "scale")
            .unwrap();
        assert_eq!(scale["responseKind"]["group"], "autoscaling");
        assert!(!named["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["metadata"]["name"] == ""));
    }
}
