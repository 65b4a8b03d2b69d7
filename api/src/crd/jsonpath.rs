//! The simple JSONPaths of printer columns and scale paths: `.spec.replicas`,
//! `.items[0].name`, `.status.conditions[?(@.type=="Ready")].status`.

use serde_json::Value;

use super::CrdError;

/// One step of a path.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    /// `[?(@.key=="value")]`: the first element whose `key` equals `value`.
    Filter(String, Value),
}

fn parse(path: &str) -> Result<Vec<Step>, CrdError> {
    let bad = || CrdError::JsonPath(path.to_owned());
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    let mut rest = path.strip_prefix('.').ok_or_else(bad)?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(bad)?;
            let inner = &after[..end];
            if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (key, value) = filter.split_once("==").ok_or_else(bad)?;
                let value = value.trim().replace('\'', "\"");
                let value: Value = serde_json::from_str(&value).map_err(|_| bad())?;
                steps.push(Step::Filter(key.trim().to_owned(), value));
            } else if let Ok(i) = inner.parse::<usize>() {
                steps.push(Step::Index(i));
            } else {
                let key = inner.trim_matches(|c| c == '\'' || c == '"');
                steps.push(Step::Field(key.to_owned()));
            }
            rest = &after[end + 1..];
            rest = rest.strip_prefix('.').unwrap_or(rest);
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 {
                return Err(bad());
            }
            steps.push(Step::Field(rest[..end].to_owned()));
            rest = &rest[end..];
            rest = rest.strip_prefix('.').unwrap_or(rest);
        }
    }
    Ok(steps)
}

/// The value at `path` in `obj`; `Ok(None)` when the object has nothing there, `Err`
/// when the path itself cannot be parsed.
pub fn lookup<'a>(obj: &'a Value, path: &str) -> Result<Option<&'a Value>, CrdError> {
    let mut at = obj;
    for step in parse(path)? {
        let next = match step {
            Step::Field(f) => at.get(&f),
            Step::Index(i) => at.get(i),
            Step::Filter(key, value) => at
                .as_array()
                .and_then(|items| items.iter().find(|item| item.get(&key) == Some(&value))),
        };
        match next {
            Some(v) => at = v,
            None => return Ok(None),
        }
    }
    Ok(Some(at))
}

/// The field names of a plain dotted path (`.spec.replicas` → `["spec", "replicas"]`);
/// `Err` for paths with indexes or filters, which cannot be written to.
pub fn field_names(path: &str) -> Result<Vec<String>, CrdError> {
    parse(path)?
        .into_iter()
        .map(|s| match s {
            Step::Field(f) => Ok(f),
            _ => Err(CrdError::JsonPath(path.to_owned())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookups() {
        let obj = json!({"spec": {"replicas": 3, "items": [{"n": "a"}, {"n": "b"}]},
            "status": {"conditions": [{"type": "Synced", "status": "False"},
                                      {"type": "Ready", "status": "True"}]}});
        assert_eq!(lookup(&obj, ".spec.replicas").unwrap(), Some(&json!(3)));
        assert_eq!(lookup(&obj, ".spec.items[1].n").unwrap(), Some(&json!("b")));
        assert_eq!(
            lookup(&obj, r#".status.conditions[?(@.type=="Ready")].status"#).unwrap(),
            Some(&json!("True"))
        );
        assert_eq!(lookup(&obj, "{.spec.replicas}").unwrap(), Some(&json!(3)));
        assert_eq!(lookup(&obj, ".spec.missing").unwrap(), None);
        assert!(lookup(&obj, "spec").is_err());
        assert_eq!(
            field_names(".spec.replicas").unwrap(),
            vec!["spec", "replicas"]
        );
        assert!(field_names(".spec.items[0]").is_err());
    }
}
