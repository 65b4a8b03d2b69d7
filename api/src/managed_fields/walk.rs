//! Field sets of objects: which paths an object sets ([`fields_of`]), which of them an
//! update changed ([`changed_fields`]), and reading or removing the value at a path.
//!
//! Lists follow the strategic-merge-patch metadata of the kind (the merge-key table of
//! `skiff_core::patch::schema`): lists with a merge key are associative (items are
//! `k:{"name":…}` nodes, each itself a member, as `.`), lists of scalars merged as sets
//! are `v:` items, and every other list is atomic (one leaf). Custom resources have no
//! metadata: their lists are atomic.
//!
//! ```
//! use serde_json::json;
//! use skiff_api::managed_fields::{fields_of, Scope};
//!
//! let deploy = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
//!     {"name": "web", "image": "nginx"}]}}}});
//! let set = fields_of(&deploy, &Scope::for_kind("apps", "Deployment", false));
//! assert_eq!(set.to_fields_v1(), json!({"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {
//!     "f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}));
//! ```

use serde_json::Value;
use skiff_core::patch::{builtin_schema, BuiltinSchema, ListMerge, PatchSchema};

use super::fieldset::{FieldSet, PathElement};

/// Metadata fields the server owns: never part of a manager's set (Kubernetes' strip
/// set).
const STRIPPED_METADATA: [&str; 10] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Which part of an object field sets cover, and the patch metadata of its kind.
#[derive(Clone, Debug)]
pub struct Scope {
    /// The root type of the kind in the built-in schema (`None` for custom resources).
    root: Option<&'static str>,
    /// The part written: everything but `status` (kinds with a status subresource), only
    /// `status` (writes to `/status`), or everything.
    part: Part,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    All,
    NoStatus,
    OnlyStatus,
}

impl Scope {
    /// The scope of writes to the main resource of a kind; `status_subresource` drops
    /// `status` (written through `/status`).
    pub fn for_kind(group: &str, kind: &str, status_subresource: bool) -> Scope {
        Scope {
            root: builtin_schema().root(group, kind),
            part: if status_subresource {
                Part::NoStatus
            } else {
                Part::All
            },
        }
    }

    /// The root type of the kind in the built-in patch schema.
    pub fn root(&self) -> Option<&'static str> {
        self.root
    }

    /// The same kind, for writes to `/status`.
    pub fn status_only(mut self) -> Scope {
        self.part = Part::OnlyStatus;
        self
    }
}

/// The paths `obj` sets, within `scope`.
pub fn fields_of(obj: &Value, scope: &Scope) -> FieldSet {
    let schema = builtin_schema();
    let mut set = FieldSet::new();
    let Some(map) = obj.as_object() else {
        return set;
    };
    for (k, v) in map {
        let keep = match scope.part {
            _ if k == "apiVersion" || k == "kind" => false,
            Part::All => true,
            Part::NoStatus => k != "status",
            Part::OnlyStatus => k == "status",
        };
        if !keep {
            continue;
        }
        let field = scope
            .root
            .map(|t| schema.field(t, k))
            .unwrap_or(skiff_core::patch::FieldPatch::UNKNOWN);
        let mut path = vec![PathElement::Field(k.clone())];
        if k == "metadata" {
            let mut meta = v.clone();
            if let Some(m) = meta.as_object_mut() {
                for s in STRIPPED_METADATA {
                    m.remove(s);
                }
            }
            if meta.as_object().is_some_and(|m| m.is_empty()) {
                continue;
            }
            walk_value(&meta, field, schema, &mut path, &mut set);
        } else {
            walk_value(v, field, schema, &mut path, &mut set);
        }
    }
    set
}

fn walk_value(
    value: &Value,
    field: skiff_core::patch::FieldPatch,
    schema: &BuiltinSchema,
    path: &mut Vec<PathElement>,
    set: &mut FieldSet,
) {
    match value {
        Value::Object(m) if !m.is_empty() => walk_map(value, field.type_name, schema, path, set),
        Value::Array(items) if !items.is_empty() => match field.list {
            ListMerge::ByKey(key) if items.iter().all(|i| i.get(key).is_some()) => {
                for item in items {
                    if let Some(e) = PathElement::key_of(item, &[key]) {
                        path.push(e);
                        set.insert(path);
                        walk_map(item, field.type_name, schema, path, set);
                        path.pop();
                    }
                }
            }
            ListMerge::Primitives => {
                for item in items {
                    path.push(PathElement::value_of(item));
                    set.insert(path);
                    path.pop();
                }
            }
            _ => set.insert(path),
        },
        _ => set.insert(path),
    }
}

fn walk_map(
    value: &Value,
    type_name: Option<&'static str>,
    schema: &BuiltinSchema,
    path: &mut Vec<PathElement>,
    set: &mut FieldSet,
) {
    let Some(map) = value.as_object() else {
        set.insert(path);
        return;
    };
    for (k, v) in map {
        let field = type_name
            .map(|t| schema.field(t, k))
            .unwrap_or(skiff_core::patch::FieldPatch::UNKNOWN);
        path.push(PathElement::Field(k.clone()));
        walk_value(v, field, schema, path, set);
        path.pop();
    }
}

/// The value at `path` in `obj`, if any.
pub fn get_path<'a>(obj: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    let mut cur = obj;
    for e in path {
        cur = match (e, cur) {
            (PathElement::Field(f), Value::Object(m)) => m.get(f)?,
            (_, Value::Array(items)) => items
                .iter()
                .enumerate()
                .find(|(i, item)| e.matches_item(*i, item))
                .map(|(_, item)| item)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Removes the value at `path` from `obj` (a map entry, or a list item); maps and
/// lists left empty by the removal are removed too, as Kubernetes prunes them.
pub fn remove_path(obj: &mut Value, path: &[PathElement]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    {
        let Some(parent) = get_path_mut(obj, parents) else {
            return;
        };
        match (last, parent) {
            (PathElement::Field(f), Value::Object(m)) => {
                m.remove(f);
            }
            (e, Value::Array(items)) => {
                let mut i = 0;
                items.retain(|item| {
                    let keep = !e.matches_item(i, item);
                    i += 1;
                    keep
                });
            }
            _ => return,
        }
    }
    let parent_empty = get_path(obj, parents).is_some_and(|p| match p {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    });
    if parent_empty && !parents.is_empty() {
        remove_path(obj, parents);
    }
}

fn get_path_mut<'a>(obj: &'a mut Value, path: &[PathElement]) -> Option<&'a mut Value> {
    let mut cur = obj;
    for e in path {
        cur = match (e, cur) {
            (PathElement::Field(f), Value::Object(m)) => m.get_mut(f)?,
            (_, Value::Array(items)) => items
                .iter_mut()
                .enumerate()
                .find(|(i, item)| e.matches_item(*i, item))
                .map(|(_, item)| item)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The paths of `new` (within `scope`) that `old` lacks or holds with another value:
/// what an update by a manager takes ownership of. List items and other nodes with
/// children count only when they are new.
pub fn changed_fields(old: &Value, new: &Value, scope: &Scope) -> FieldSet {
    let new_set = fields_of(new, scope);
    let mut changed = FieldSet::new();
    for path in new_set.paths() {
        let is_node = new_set.has_descendants(&path.0);
        let before = get_path(old, &path.0);
        let differs = match before {
            None => true,
            Some(_) if is_node => false,
            Some(b) => Some(b) != get_path(new, &path.0),
        };
        if differs {
            changed.insert(&path.0);
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy_scope() -> Scope {
        Scope::for_kind("apps", "Deployment", true)
    }

    #[test]
    fn fields_of_a_deployment() {
        let d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "uid": "u", "labels": {"app": "web"}, "finalizers": ["a"]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "c", "image": "i", "args": ["x"]}]}}},
            "status": {"replicas": 1}
        });
        let set = fields_of(&d, &deploy_scope());
        assert_eq!(
            set.to_fields_v1(),
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}, "f:finalizers": {"v:\"a\"": {}}},
                "f:spec": {"f:replicas": {}, "f:selector": {"f:matchLabels": {"f:app": {}}},
                    "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {
                        ".": {}, "f:args": {}, "f:image": {}, "f:name": {}}}}}}
            })
        );
        let status = fields_of(&d, &deploy_scope().status_only());
        assert_eq!(
            status.to_fields_v1(),
            json!({"f:status": {"f:replicas": {}}})
        );
    }

    #[test]
    fn custom_resources_have_atomic_lists() {
        let w = json!({"spec": {"items": [{"name": "a"}], "empty": {}}});
        let set = fields_of(&w, &Scope::for_kind("example.com", "Widget", false));
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:spec": {"f:items": {}, "f:empty": {}}})
        );
    }

    #[test]
    fn changed_fields_of_an_update() {
        let old = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}}}});
        let new = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "a", "image": "1"}, {"name": "b", "image": "2"}, {"name": "c", "image": "1"}]}}}});
        let changed: Vec<String> = changed_fields(&old, &new, &deploy_scope())
            .paths()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            changed,
            [
                ".spec.replicas",
                ".spec.template.spec.containers[name=\"b\"].image",
                ".spec.template.spec.containers[name=\"c\"]",
                ".spec.template.spec.containers[name=\"c\"].image",
                ".spec.template.spec.containers[name=\"c\"].name",
            ]
        );
    }

    #[test]
    fn removes_paths_and_prunes_empty_parents() {
        let mut obj = json!({"metadata": {"labels": {"a": "1"}},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        remove_path(
            &mut obj,
            &[
                PathElement::Field("metadata".into()),
                PathElement::Field("labels".into()),
                PathElement::Field("a".into()),
            ],
        );
        assert_eq!(obj.get("metadata"), None);
        remove_path(
            &mut obj,
            &[
                PathElement::Field("spec".into()),
                PathElement::Field("containers".into()),
                PathElement::Key("{\"name\":\"a\"}".into()),
            ],
        );
        assert_eq!(obj["spec"]["containers"], json!([{"name": "b"}]));
        assert_eq!(
            get_path(
                &obj,
                &[
                    PathElement::Field("spec".into()),
                    PathElement::Field("containers".into()),
                    PathElement::Key("{\"name\":\"b\"}".into()),
                ]
            ),
            Some(&json!({"name": "b"}))
        );
    }
}
