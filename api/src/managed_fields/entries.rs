//! `metadata.managedFields`: reading and writing the entries, and the ownership an
//! update (create, update, patch) gives its manager.
//!
//! An update by manager `M` takes the fields it changed (from every other manager),
//! and fields it removed leave every manager's set; entries left with no field are
//! dropped, as Kubernetes does.

use serde_json::{json, Map, Value};

use super::fieldset::FieldSet;
use super::walk::{changed_fields, fields_of, Scope};
use crate::registry::meta;

/// `Apply` (server-side apply) or `Update` (every other write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Create, update, patch.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One entry of `metadata.managedFields`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The manager's name.
    pub manager: String,
    /// How the fields were written.
    pub operation: Operation,
    /// The API version the manager wrote with.
    pub api_version: String,
    /// When the entry last changed (RFC 3339).
    pub time: Option<String>,
    /// The subresource written (`status`), or empty.
    pub subresource: String,
    /// The fields the manager owns.
    pub fields: FieldSet,
}

impl Entry {
    /// Whether this entry belongs to the manager identified by these values.
    pub fn is(&self, manager: &str, operation: Operation, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }

    /// How Kubernetes names the manager in conflict messages: `"kubectl"`, or for
    /// updates `"kubectl-edit" using apps/v1` (and `with subresource "status"`).
    pub fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation.as_str()));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Option<Entry> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let operation = match s("operation")?.as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return None,
        };
        Some(Entry {
            manager: s("manager").unwrap_or_default(),
            operation,
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource").unwrap_or_default(),
            fields: FieldSet::from_fields_v1(v.get("fieldsV1")?).ok()?,
        })
    }
}

/// The entries of an object; entries that do not parse are left out.
pub fn read_entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Entry::from_json).collect())
        .unwrap_or_default()
}

/// Stores `entries` (without empty ones) as the object's `metadata.managedFields`.
pub fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(Entry::to_json)
        .collect();
    if list.is_empty() {
        meta::remove_meta(obj, "managedFields");
    } else {
        meta::metadata_mut(obj).insert("managedFields".into(), Value::Array(list));
    }
}

/// Who writes: the manager's name, the API version and the subresource.
#[derive(Clone, Debug)]
pub struct Writer<'a> {
    /// The manager (`fieldManager`, or derived from the User-Agent).
    pub manager: &'a str,
    /// `group/version` of the request.
    pub api_version: &'a str,
    /// `status` for writes to `/status`, else empty.
    pub subresource: &'a str,
}

/// Records an update of `old` into `new` by `writer`: sets `new`'s managedFields from
/// `old`'s (whatever the client sent in `new`). `old` is `Value::Null` for a create.
pub fn track_update(old: &Value, new: &mut Value, writer: &Writer<'_>, scope: &Scope) {
    let mut entries = read_entries(old);
    let changed = changed_fields(old, new, scope);
    let removed = fields_of(old, scope).difference(&fields_of(new, scope));
    for e in &mut entries {
        e.fields = e.fields.difference(&removed);
        if !e.is(writer.manager, Operation::Update, writer.subresource) {
            e.fields = e.fields.difference(&changed);
        }
    }
    if !changed.is_empty() {
        let now = meta::now_timestamp();
        match entries
            .iter_mut()
            .find(|e| e.is(writer.manager, Operation::Update, writer.subresource))
        {
            Some(e) => {
                e.fields = e.fields.union(&changed);
                e.api_version = writer.api_version.to_owned();
                e.time = Some(now);
            }
            None => entries.push(Entry {
                manager: writer.manager.to_owned(),
                operation: Operation::Update,
                api_version: writer.api_version.to_owned(),
                time: Some(now),
                subresource: writer.subresource.to_owned(),
                fields: changed,
            }),
        }
    }
    write_entries(new, &entries);
}

/// Keeps `old`'s managedFields on `new` (writes by the server itself).
pub fn keep_entries(old: &Value, new: &mut Value) {
    match old.pointer("/metadata/managedFields") {
        Some(v) => {
            meta::metadata_mut(new).insert("managedFields".into(), v.clone());
        }
        None => meta::remove_meta(new, "managedFields"),
    }
}

/// The manager name Kubernetes derives from a User-Agent when a request names none:
/// the part before the first `/` (`kubectl` of `kubectl/v1.32.0 (linux/amd64)`), at
/// most 128 bytes.
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or_default();
    let mut end = prefix.len().min(128);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    prefix[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope::for_kind("apps", "Deployment", true)
    }

    fn writer(m: &str) -> Writer<'_> {
        Writer {
            manager: m,
            api_version: "apps/v1",
            subresource: "",
        }
    }

    #[test]
    fn create_then_update_moves_ownership() {
        let mut created = json!({"metadata": {"name": "web", "labels": {"a": "1"}},
            "spec": {"replicas": 1, "paused": false}});
        track_update(
            &Value::Null,
            &mut created,
            &writer("kubectl-create"),
            &scope(),
        );
        let entries = read_entries(&created);
        assert_eq!(entries.len(), 1);
        assert_eq!(
            entries[0].fields.to_fields_v1(),
            json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:paused": {}, "f:replicas": {}}})
        );
        assert_eq!(
            created["metadata"]["managedFields"][0]["fieldsType"],
            "FieldsV1"
        );
        assert_eq!(
            created["metadata"]["managedFields"][0]["operation"],
            "Update"
        );

        let mut scaled = created.clone();
        scaled["spec"]["replicas"] = json!(3);
        track_update(&created, &mut scaled, &writer("kubectl-scale"), &scope());
        let entries = read_entries(&scaled);
        assert_eq!(entries.len(), 2);
        assert!(!entries[0].fields.to_fields_v1()["f:spec"]
            .as_object()
            .unwrap()
            .contains_key("f:replicas"));
        assert_eq!(
            entries[1].fields.to_fields_v1(),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert_eq!(entries[1].describe(), "\"kubectl-scale\" using apps/v1");

        // Removing a field drops it from its owner; empty entries disappear.
        let mut unscaled = scaled.clone();
        unscaled["spec"].as_object_mut().unwrap().remove("replicas");
        track_update(&scaled, &mut unscaled, &writer("other"), &scope());
        let managers: Vec<String> = read_entries(&unscaled)
            .into_iter()
            .map(|e| e.manager)
            .collect();
        assert_eq!(managers, ["kubectl-create"]);
    }

    #[test]
    fn user_agent_prefix() {
        assert_eq!(
            manager_from_user_agent("kubectl/v1.32.0 (linux/amd64) kubernetes/abc"),
            "kubectl"
        );
        assert_eq!(manager_from_user_agent(""), "");
    }
}
