//! Kubernetes' strategic merge patch, applied the way the API server applies it
//! (`StrategicMergeMapPatch`: parallel lists merged, unmatched `null`s ignored).
//!
//! A worked example: live `containers: [a, b]`, patch
//! `{"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}], "containers":
//! [{"name": "a", "image": "v2"}]}` merges `a` by name (image `v2`), keeps `b` as it
//! is, and orders the result `[b, a]` as the directive asks.

use serde_json::{Map, Value};

use super::schema::{FieldPatch, ListMerge, PatchSchema};
use crate::status::ApiError;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder";
const DELETE_PRIMITIVES: &str = "$deleteFromPrimitiveList";

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

fn bad_set_order() -> ApiError {
    bad("invalid patch format of setElementOrder list")
}

/// Applies `patch` to `document` with the patch metadata of `schema`, starting at the
/// type `root` (`None`: no metadata, every list is replaced). Both must be JSON
/// objects (`document` may be `null`, meaning an empty object).
pub fn apply_strategic_merge_patch_with(
    document: &Value,
    patch: &Value,
    schema: &dyn PatchSchema,
    root: Option<&str>,
) -> Result<Value, ApiError> {
    let Value::Object(patch) = patch else {
        return Err(bad(
            "invalid strategic merge patch: the patch must be a JSON object",
        ));
    };
    let original = match document {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        _ => return Err(bad("the object to patch is not a JSON object")),
    };
    let merged = Merger { schema }.merge_map(original, patch.clone(), root)?;
    Ok(Value::Object(merged))
}

/// Whether list items are objects (merged by key) or scalars (merged as a set).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Items {
    Maps,
    Scalars,
}

struct Merger<'a> {
    schema: &'a dyn PatchSchema,
}

impl Merger<'_> {
    fn field(&self, type_name: Option<&str>, field: &str) -> FieldPatch {
        type_name.map_or(FieldPatch::UNKNOWN, |t| self.schema.field(t, field))
    }

    /// Merges a patch map into an original map.
    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        type_name: Option<&str>,
    ) -> Result<Map<String, Value>, ApiError> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some("replace") => {
                    patch.remove(DIRECTIVE);
                    Ok(patch)
                }
                Some("delete") => Ok(Map::new()),
                _ => Err(bad(format!(
                    "unknown patch type: {directive} in map: {}",
                    Value::Object(patch.clone())
                ))),
            };
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.apply_element_orders(&mut original, &mut patch, type_name)?;

        for (key, value) in patch {
            let (field, delete_list) = match key.strip_prefix(DELETE_PRIMITIVES) {
                Some(rest) => match rest.strip_prefix('/') {
                    Some(field) if !field.is_empty() => (field.to_owned(), true),
                    _ => return Err(bad("invalid patch format of primitive list")),
                },
                None => (key, false),
            };
            if value.is_null() {
                original.remove(&field);
                continue;
            }
            let meta = self.field(type_name, &field);
            let Some(current) = original.remove(&field) else {
                if !delete_list {
                    let fresh = self.fresh(value, meta)?;
                    original.insert(field, fresh);
                }
                continue;
            };
            let merged = match (current, value) {
                (Value::Object(current), Value::Object(value)) => {
                    Value::Object(self.merge_map(current, value, meta.type_name)?)
                }
                (Value::Array(current), Value::Array(value)) => {
                    if delete_list {
                        Value::Array(delete_from_primitives(current, &value))
                    } else {
                        Value::Array(self.merge_list(current, value, meta)?)
                    }
                }
                (_, value) => self.fresh(value, meta)?,
            };
            original.insert(field, merged);
        }
        Ok(original)
    }

    /// A patch value for a field the original does not have (or has with another
    /// type): the patch applied to nothing, so directives do not leak into the object.
    fn fresh(&self, value: Value, meta: FieldPatch) -> Result<Value, ApiError> {
        Ok(match value {
            Value::Object(map) => Value::Object(self.merge_map(Map::new(), map, meta.type_name)?),
            Value::Array(items) => Value::Array(self.merge_list(Vec::new(), items, meta)?),
            other => other,
        })
    }

    /// Merges a patch list into an original list according to the field's strategy.
    fn merge_list(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        meta: FieldPatch,
    ) -> Result<Vec<Value>, ApiError> {
        match meta.list {
            ListMerge::Replace => Ok(patch),
            ListMerge::ByKey(key) => self.merge_slice(original, patch, Some(key), meta.type_name),
            ListMerge::Primitives => self.merge_slice(original, patch, None, meta.type_name),
        }
    }

    /// Merges two lists with the merge strategy: items by merge key (or scalars as a
    /// set), then ordered: patch items in patch order, server-only items where they
    /// were relative to them.
    fn merge_slice(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        merge_key: Option<&str>,
        item_type: Option<&str>,
    ) -> Result<Vec<Value>, ApiError> {
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        let (merged, server_order, patch_order, key) = match item_kind(&original, &patch)? {
            Items::Scalars => {
                let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
                for v in original.iter().chain(&patch) {
                    if !merged.contains(v) {
                        merged.push(v.clone());
                    }
                }
                (merged, original, patch, None)
            }
            Items::Maps => {
                let key = merge_key
                    .ok_or_else(|| bad("cannot merge lists without merge key for type map"))?;
                let (server, patch) = apply_list_directives(original, patch, key)?;
                let mut merged = server.clone();
                for item in &patch {
                    let Value::Object(map) = item else {
                        continue;
                    };
                    let value = map.get(key).ok_or_else(|| no_merge_key(map, key))?;
                    match merged.iter().position(|m| m.get(key) == Some(value)) {
                        Some(i) => {
                            let current = match std::mem::take(&mut merged[i]) {
                                Value::Object(m) => m,
                                _ => Map::new(),
                            };
                            merged[i] =
                                Value::Object(self.merge_map(current, map.clone(), item_type)?);
                        }
                        None => merged.push(Value::Object(self.merge_map(
                            Map::new(),
                            map.clone(),
                            item_type,
                        )?)),
                    }
                }
                (merged, server, patch, Some(key))
            }
        };
        let (in_patch, server_only) = partition(merged, &patch_order, key);
        Ok(normalize_order(
            in_patch,
            server_only,
            &patch_order,
            &server_order,
            key,
        ))
    }

    /// Handles the `$setElementOrder/<field>` directives of one map: merges each named
    /// list (if the patch has it) and orders the result as the directive lists it.
    fn apply_element_orders(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        type_name: Option<&str>,
    ) -> Result<(), ApiError> {
        let keys: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ORDER))
            .cloned()
            .collect();
        for directive in keys {
            let order = match patch.remove(&directive) {
                Some(Value::Array(order)) => order,
                _ => return Err(bad_set_order()),
            };
            let field = directive
                .strip_prefix(SET_ORDER)
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|f| !f.is_empty())
                .ok_or_else(bad_set_order)?
                .to_owned();
            let meta = self.field(type_name, &field);
            let key = match meta.list {
                ListMerge::ByKey(key) => Some(key),
                _ => None,
            };
            let as_list = |v: Option<Value>| match v {
                None => Ok(None),
                Some(Value::Array(items)) => Ok(Some(items)),
                Some(other) => Err(bad(format!(
                    "expected a list for {field}, but received {other}"
                ))),
            };
            let original_list = as_list(original.get(&field).cloned())?;
            let patch_list = as_list(patch.remove(&field))?;
            if let Some(patch_list) = &patch_list {
                check_order(patch_list, &order, key)?;
            }
            let server_order = original_list.clone().unwrap_or_default();
            let merged = match (original_list, patch_list) {
                (None, None) => continue,
                (Some(o), None) => o,
                (o, Some(p)) => self.merge_list(o.unwrap_or_default(), p, meta)?,
            };
            let (in_order, server_only) = partition(merged, &order, key);
            let ordered = normalize_order(in_order, server_only, &order, &server_order, key);
            original.insert(field, Value::Array(ordered));
        }
        Ok(())
    }
}

fn no_merge_key(map: &Map<String, Value>, key: &str) -> ApiError {
    bad(format!(
        "map: {} does not contain declared merge key: {key}",
        Value::Object(map.clone())
    ))
}

/// Whether the items of both lists are maps or scalars; lists of lists and mixed
/// lists are refused.
fn item_kind(original: &[Value], patch: &[Value]) -> Result<Items, ApiError> {
    let mut kind = None;
    for item in original.iter().chain(patch) {
        let this = match item {
            Value::Array(_) => {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    "lists of lists are not supported",
                ))
            }
            Value::Object(_) => Items::Maps,
            _ => Items::Scalars,
        };
        match kind {
            None => kind = Some(this),
            Some(k) if k != this => {
                return Err(bad("list element types are not identical"));
            }
            Some(_) => {}
        }
    }
    Ok(kind.unwrap_or(Items::Scalars))
}

/// Applies the `$patch` items of a patch list of maps: `delete` removes the original
/// items with that key, `replace` makes the patch list (without directives) the whole
/// list. Returns the original list to merge into and the remaining patch items.
fn apply_list_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(value) = item.get(key) else {
                    let empty = Map::new();
                    return Err(no_merge_key(item.as_object().unwrap_or(&empty), key));
                };
                original.retain(|o| o.get(key) != Some(value));
            }
            Some("replace") => replace = true,
            Some("merge") => return Err(bad("merging lists cannot yet be specified in the patch")),
            _ => {
                return Err(bad(format!(
                    "unknown patch type: {directive} in map: {item}"
                )))
            }
        }
    }
    if replace {
        Ok((plain, Vec::new()))
    } else {
        Ok((original, plain))
    }
}

/// Removes from a list of scalars the values of a `$deleteFromPrimitiveList` list.
fn delete_from_primitives(current: Vec<Value>, delete: &[Value]) -> Vec<Value> {
    current
        .into_iter()
        .filter(|v| !delete.contains(v))
        .collect()
}

/// Applies `$retainKeys`: keeps only the listed keys of the original; every field the
/// patch sets must be listed.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let bad_retain = || bad("invalid patch format of retainKeys");
    let Value::Array(retain) = retain else {
        return Err(bad_retain());
    };
    let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_PRIMITIVES) || k.starts_with(SET_ORDER) {
            continue;
        }
        if !listed(k) {
            return Err(bad_retain());
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// The identity of a list item for ordering: its merge key's value, or itself.
fn identity<'v>(item: &'v Value, key: Option<&str>) -> Option<&'v Value> {
    match key {
        Some(key) => item.get(key),
        None => Some(item),
    }
}

fn position(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    let id = identity(item, key)?;
    list.iter()
        .position(|other| identity(other, key) == Some(id))
}

/// Splits merged items into those named by `by` and the rest, keeping their order.
fn partition(merged: Vec<Value>, by: &[Value], key: Option<&str>) -> (Vec<Value>, Vec<Value>) {
    merged
        .into_iter()
        .partition(|item| position(by, item, key).is_some())
}

/// Orders the patch items as `patch_order` lists them and the server-only items as
/// they were, then interleaves the two: a server-only item goes before a patch item
/// when both were in the original list in that order.
fn normalize_order(
    mut in_patch: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let rank = |list: &[Value], item: &Value| position(list, item, key).unwrap_or(usize::MAX);
    in_patch.sort_by_key(|item| rank(patch_order, item));
    server_only.sort_by_key(|item| rank(server_order, item));

    let mut out = Vec::with_capacity(in_patch.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = in_patch.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (
                    position(server_order, l, key),
                    position(server_order, r, key),
                ) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// Checks that the patch list names its items in the same relative order as the
/// `$setElementOrder` list, and only items that list names (deletions aside).
fn check_order(patch: &[Value], order: &[Value], key: Option<&str>) -> Result<(), ApiError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let items: Vec<&Value> = patch
        .iter()
        .filter(|item| item.get(DIRECTIVE).is_none())
        .collect();
    let same = |a: &Value, b: &Value| -> Result<bool, ApiError> {
        match key {
            None => Ok(a == b),
            Some(key) => {
                let av = a.get(key).ok_or_else(bad_set_order)?;
                let bv = b.get(key).ok_or_else(bad_set_order)?;
                Ok(av == bv)
            }
        }
    };
    let (mut i, mut j) = (0, 0);
    while i < items.len() && j < order.len() {
        if same(items[i], &order[j])? {
            i += 1;
        }
        j += 1;
    }
    if i < items.len() {
        return Err(bad(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ORDER} list:\n{}\n",
            Value::Array(patch.to_vec()),
            Value::Array(order.to_vec())
        )));
    }
    Ok(())
}
