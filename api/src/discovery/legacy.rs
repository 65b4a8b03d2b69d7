//! The legacy discovery documents: `APIVersions`, `APIGroupList`, `APIGroup` and
//! `APIResourceList`.

use serde_json::{json, Value};
use skiff_core::resource::{join_api_version, ApiResource};

use super::groups;

/// `GET /api`: the versions of the core group.
pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [],
    })
}

/// One group's entry, as in `APIGroupList.groups` and `GET /apis/{group}`.
fn group_entry(group: &str, versions: &[String]) -> Value {
    let gv = |v: &String| json!({"groupVersion": join_api_version(group, v), "version": v});
    json!({
        "name": group,
        "versions": versions.iter().map(gv).collect::<Vec<_>>(),
        "preferredVersion": versions.first().map(gv).unwrap_or(Value::Null),
    })
}

/// `GET /apis`: every named group with its versions.
pub fn api_group_list(resources: &[ApiResource]) -> Value {
    let groups: Vec<Value> = groups(resources)
        .iter()
        .map(|(group, versions)| group_entry(group, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}`: one group, or `None` if no resource is in it.
pub fn api_group(resources: &[ApiResource], group: &str) -> Option<Value> {
    let (_, versions) = groups(resources).into_iter().find(|(g, _)| g == group)?;
    let mut entry = group_entry(group, &versions);
    entry["kind"] = json!("APIGroup");
    entry["apiVersion"] = json!("v1");
    Some(entry)
}

/// `GET /api/v1` or `GET /apis/{group}/{version}`: the resources of one group-version,
/// each followed by its subresources (`pods/status`); `None` if there are none.
pub fn api_resource_list(resources: &[ApiResource], group: &str, version: &str) -> Option<Value> {
    let mut entries = Vec::new();
    for r in resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        entries.push(entry);
        for sub in &r.subresources {
            let mut entry = json!({
                "name": format!("{}/{}", r.plural, sub.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": sub.kind,
                "verbs": sub.verbs,
            });
            if sub.group != r.group || sub.version != r.version {
                entry["group"] = json!(sub.group);
                entry["version"] = json!(sub.version);
            }
            entries.push(entry);
        }
    }
    if entries.is_empty() {
        return None;
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": join_api_version(group, version),
        "resources": entries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        APIGroup, APIGroupList, APIResourceList, APIVersions,
    };
    use skiff_core::resource::builtin_resources;

    #[test]
    fn documents_parse_as_the_kubernetes_types() {
        let all = builtin_resources();
        let _: APIVersions = serde_json::from_value(api_versions()).unwrap();
        let list: APIGroupList = serde_json::from_value(api_group_list(&all)).unwrap();
        assert!(list.groups.iter().any(|g| g.name == "apps"
            && g.preferred_version.as_ref().unwrap().group_version == "apps/v1"));
        assert!(!list.groups.iter().any(|g| g.name.is_empty()));
        let apps: APIGroup = serde_json::from_value(api_group(&all, "apps").unwrap()).unwrap();
        assert_eq!(apps.versions[0].version, "v1");
        assert!(api_group(&all, "nope.example.com").is_none());
    }

    #[test]
    fn resource_list_has_kinds_short_names_and_subresources() {
        let all = builtin_resources();
        let core: APIResourceList =
            serde_json::from_value(api_resource_list(&all, "", "v1").unwrap()).unwrap();
        assert_eq!(core.group_version, "v1");
        let pods = core.resources.iter().find(|r| r.name == "pods").unwrap();
        assert_eq!(pods.kind, "Pod");
        assert!(pods.namespaced);
        assert_eq!(pods.short_names.as_deref(), Some(&["po".to_string()][..]));
        assert_eq!(pods.categories.as_deref(), Some(&["all".to_string()][..]));
        assert!(core.resources.iter().any(|r| r.name == "pods/status"));

        let apps: APIResourceList =
            serde_json::from_value(api_resource_list(&all, "apps", "v1").unwrap()).unwrap();
        let scale = apps
            .resources
            .iter()
            .find(|r| r.name == "deployments/scale")
            .unwrap();
        assert_eq!(
            (
                scale.group.as_deref(),
                scale.version.as_deref(),
                scale.kind.as_str()
            ),
            (Some("autoscaling"), Some("v1"), "Scale")
        );
        assert!(api_resource_list(&all, "apps", "v9").is_none());
    }
}
