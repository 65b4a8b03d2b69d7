//! [`FieldSet`]: a set of field paths in Kubernetes' `FieldsV1` format, the value of
//! `metadata.managedFields[].fieldsV1`.
//!
//! Each path is a list of [`PathElement`]s: `f:name` (a field of a map), `k:{"name":"x"}`
//! (the item of an associative list with these key values), `v:"a"` (an item of a set
//! list), `i:0` (an item by index). A node whose own path is in the set and that also
//! has children is written with a `.` entry, as Kubernetes writes list items:
//!
//! ```text
//! {"f:spec":{"f:replicas":{},"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{}}}}}
//! ```
//!
//! holds `.spec.replicas`, `.spec.containers[name="web"]` and
//! `.spec.containers[name="web"].image`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// Why a `fieldsV1` document could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FieldSetError {
    /// A node is not a JSON object.
    #[error("fieldsV1 node at {0} is not an object")]
    NotObject(String),
    /// A key without one of the `f:`, `k:`, `v:`, `i:` prefixes.
    #[error("unknown fieldsV1 key {0:?}")]
    UnknownKey(String),
    /// A `k:` or `v:` key whose JSON does not parse, or an `i:` key that is no number.
    #[error("malformed fieldsV1 key {0:?}")]
    MalformedKey(String),
}

/// One step of a path into an object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of a map: `f:name`.
    Field(String),
    /// An associative-list item by its key fields, as canonical JSON (keys sorted):
    /// `k:{"name":"web"}`.
    Key(String),
    /// A set-list item by its value, as JSON: `v:"a"`.
    Value(String),
    /// A list item by index: `i:0`.
    Index(usize),
}

impl PathElement {
    /// The key of a list item: the values of `keys` in `item`, as canonical JSON;
    /// `None` when a key field is missing.
    pub fn key_of(item: &Value, keys: &[&str]) -> Option<PathElement> {
        let mut map = Map::new();
        for k in keys {
            map.insert((*k).to_owned(), item.get(*k)?.clone());
        }
        Some(PathElement::Key(canonical_json(&Value::Object(map))))
    }

    /// A set-list item by value.
    pub fn value_of(item: &Value) -> PathElement {
        PathElement::Value(canonical_json(item))
    }

    /// The `fieldsV1` key of this element.
    pub fn to_key(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(k) => format!("k:{k}"),
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    fn from_key(key: &str) -> Result<PathElement, FieldSetError> {
        let malformed = || FieldSetError::MalformedKey(key.to_owned());
        let (prefix, rest) = key
            .split_once(':')
            .ok_or_else(|| FieldSetError::UnknownKey(key.to_owned()))?;
        match prefix {
            "f" => Ok(PathElement::Field(rest.to_owned())),
            "k" => {
                let v: Value = serde_json::from_str(rest).map_err(|_| malformed())?;
                if !v.is_object() {
                    return Err(malformed());
                }
                Ok(PathElement::Key(canonical_json(&v)))
            }
            "v" => {
                let v: Value = serde_json::from_str(rest).map_err(|_| malformed())?;
                Ok(PathElement::Value(canonical_json(&v)))
            }
            "i" => rest
                .parse()
                .map(PathElement::Index)
                .map_err(|_| malformed()),
            _ => Err(FieldSetError::UnknownKey(key.to_owned())),
        }
    }

    /// Whether this element selects `item` of a list (`index` is its position).
    pub fn matches_item(&self, index: usize, item: &Value) -> bool {
        match self {
            PathElement::Field(_) => false,
            PathElement::Index(i) => *i == index,
            PathElement::Value(v) => canonical_json(item) == *v,
            PathElement::Key(k) => match serde_json::from_str::<Value>(k) {
                Ok(Value::Object(keys)) => keys.iter().all(|(f, v)| item.get(f) == Some(v)),
                _ => false,
            },
        }
    }
}

impl fmt::Display for PathElement {
    /// As Kubernetes prints paths in conflict messages: `.name`, `[name="web"]`,
    /// `[="a"]`, `[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
            PathElement::Key(k) => {
                let parts: Vec<String> = match serde_json::from_str::<Value>(k) {
                    Ok(Value::Object(m)) => m.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    _ => vec![k.clone()],
                };
                write!(f, "[{}]", parts.join(","))
            }
        }
    }
}

/// A path: the elements from the object's root.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Path(pub Vec<PathElement>);

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// JSON with object keys sorted (serde_json's map may keep insertion order).
pub fn canonical_json(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let s: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(s.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// A set of paths, stored as a tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Whether the path of this node itself is in the set.
    member: bool,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        FieldSet::default()
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds a path.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether `path` is in the set.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether the set holds `path` or any path below it.
    pub fn contains_prefix(&self, path: &[PathElement]) -> bool {
        match path.split_first() {
            None => !self.is_empty(),
            Some((first, rest)) => self
                .children
                .get(first)
                .is_some_and(|c| c.contains_prefix(rest)),
        }
    }

    /// Whether the set holds a path strictly below `path`.
    pub fn has_descendants(&self, path: &[PathElement]) -> bool {
        match path.split_first() {
            None => self.children.values().any(|c| !c.is_empty()),
            Some((first, rest)) => self
                .children
                .get(first)
                .is_some_and(|c| c.has_descendants(rest)),
        }
    }

    /// Every path in the set, parents before children, in a stable order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        if self.member {
            out.push(Path(prefix.clone()));
        }
        for (e, child) in &self.children {
            prefix.push(e.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (e, c) in &other.children {
            let merged = match out.children.get(e) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(e.clone(), merged);
        }
        out.pruned()
    }

    /// The paths in `self` and not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (e, c) in &self.children {
            let d = match other.children.get(e) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            out.children.insert(e.clone(), d);
        }
        out.pruned()
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (e, c) in &self.children {
            if let Some(o) = other.children.get(e) {
                out.children.insert(e.clone(), c.intersection(o));
            }
        }
        out.pruned()
    }

    /// The set without the paths at or below `path`.
    pub fn without_prefix(&self, path: &[PathElement]) -> FieldSet {
        let mut out = self.clone();
        out.remove_prefix(path);
        out.pruned()
    }

    fn remove_prefix(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => *self = FieldSet::default(),
            Some((first, rest)) => {
                if let Some(c) = self.children.get_mut(first) {
                    c.remove_prefix(rest);
                }
            }
        }
    }

    /// Only the paths at or below `path`.
    pub fn only_prefix(&self, path: &[PathElement]) -> FieldSet {
        match path.split_first() {
            None => self.clone(),
            Some((first, rest)) => {
                let mut out = FieldSet::default();
                if let Some(c) = self.children.get(first) {
                    let below = c.only_prefix(rest);
                    if !below.is_empty() {
                        out.children.insert(first.clone(), below);
                    }
                }
                out
            }
        }
    }

    fn pruned(mut self) -> FieldSet {
        self.children.retain(|_, c| !c.is_empty());
        self
    }

    /// The set as a `fieldsV1` JSON document.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (e, c) in &self.children {
            if !c.is_empty() {
                map.insert(e.to_key(), c.to_fields_v1());
            }
        }
        Value::Object(map)
    }

    /// Reads a `fieldsV1` document.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, FieldSetError> {
        Self::read_node(value, "", true).map(FieldSet::pruned)
    }

    fn read_node(value: &Value, at: &str, root: bool) -> Result<FieldSet, FieldSetError> {
        let map = value
            .as_object()
            .ok_or_else(|| FieldSetError::NotObject(at.to_owned()))?;
        let mut node = FieldSet {
            // `{}` below the root is a leaf: the path itself is in the set.
            member: !root && map.is_empty(),
            children: BTreeMap::new(),
        };
        for (k, v) in map {
            if k == "." {
                node.member = !root;
                continue;
            }
            let e = PathElement::from_key(k)?;
            let child = Self::read_node(v, &format!("{at}{e}"), false)?;
            node.children.insert(e, child);
        }
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.into())
    }

    #[test]
    fn round_trips_fields_v1() {
        let doc = json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}},
            },
            "f:finalizers": {"v:\"a\"": {}},
        });
        let set = FieldSet::from_fields_v1(&doc).unwrap();
        assert!(set.contains(&[f("spec"), f("replicas")]));
        assert!(!set.contains(&[f("spec")]));
        let item = [
            f("spec"),
            f("template"),
            f("spec"),
            f("containers"),
            PathElement::Key("{\"name\":\"web\"}".into()),
        ];
        assert!(set.contains(&item));
        assert_eq!(set.to_fields_v1(), doc);
        let printed: Vec<String> = set.paths().iter().map(Path::to_string).collect();
        assert!(printed.contains(&".spec.template.spec.containers[name=\"web\"].image".into()));
        assert!(printed.contains(&".finalizers[=\"a\"]".into()));
    }

    #[test]
    fn rejects_malformed_documents() {
        assert_eq!(
            FieldSet::from_fields_v1(&json!({"x:a": {}})),
            Err(FieldSetError::UnknownKey("x:a".into()))
        );
        assert!(FieldSet::from_fields_v1(&json!({"k:{": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
    }

    #[test]
    fn set_operations() {
        let mut a = FieldSet::new();
        a.insert(&[f("spec"), f("replicas")]);
        a.insert(&[f("spec"), f("paused")]);
        let mut b = FieldSet::new();
        b.insert(&[f("spec"), f("replicas")]);
        b.insert(&[f("metadata"), f("labels"), f("x")]);
        assert_eq!(a.intersection(&b).paths().len(), 1);
        assert_eq!(
            a.difference(&b).paths(),
            vec![Path(vec![f("spec"), f("paused")])]
        );
        assert_eq!(a.union(&b).paths().len(), 3);
        assert!(a.difference(&a).is_empty());
        assert!(a.has_descendants(&[f("spec")]));
        assert!(a.without_prefix(&[f("spec")]).is_empty());
        assert_eq!(b.only_prefix(&[f("metadata")]).paths().len(), 1);
    }

    #[test]
    fn keys_are_canonical() {
        let item = json!({"protocol": "TCP", "containerPort": 80, "name": "http"});
        let k = PathElement::key_of(&item, &["protocol", "containerPort"]).unwrap();
        assert_eq!(k.to_key(), "k:{\"containerPort\":80,\"protocol\":\"TCP\"}");
        assert!(k.matches_item(3, &item));
        assert_eq!(k.to_string(), "[containerPort=80,protocol=\"TCP\"]");
        assert!(PathElement::key_of(&item, &["missing"]).is_none());
    }
}
