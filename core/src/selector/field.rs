//! Field selectors: `field=value`, `field==value`, `field!=value`, ANDed by commas,
//! parsed the way Kubernetes' `fields.ParseSelector` does.
//!
//! Values escape `\`, `,` and `=` with a backslash (`a=x\,y` is the value `x,y`); field
//! names are not escaped and end at the first operator.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::status::ApiError;

/// One term of a field selector: a field must (or must not) equal a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldTerm {
    /// The field, such as `metadata.name` or `spec.nodeName`.
    pub field: String,
    /// The value, unescaped.
    pub value: String,
    /// `!=` rather than `=`/`==`.
    pub not_equal: bool,
}

/// A field selector: a conjunction of [`FieldTerm`]s. The empty selector matches
/// everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

/// Escapes `\`, `,` and `=` in a value with a backslash, for printing a selector.
pub fn escape_field_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reverses [`escape_field_value`]; unescaped `,` or `=`, unknown escapes and a
/// trailing lone `\` are errors, as in Kubernetes.
fn unescape_value(value: &str) -> Result<String, ApiError> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "invalid field selector: invalid escape sequence: \\{other}"
                    )))
                }
                None => {
                    return Err(ApiError::bad_request(
                        "invalid field selector: invalid escape sequence: \\",
                    ))
                }
            },
            ',' | '=' => {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector: unescaped character in value: {c}"
                )))
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Splits on commas not escaped by a backslash; a backslash escapes any next character.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at its first operator (`!=`, `==` or `=`): (field, operator, value).
fn split_term(term: &str) -> Option<(&str, &str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

impl FieldSelector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parses the syntax of `?fieldSelector=` and `kubectl --field-selector`. Terms
    /// are kept in the sorted order of their text, as Kubernetes does. Errors are
    /// `BadRequest`.
    pub fn parse(selector: &str) -> Result<Self, ApiError> {
        let mut parts = split_terms(selector);
        parts.sort_unstable();
        let mut terms = Vec::new();
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            let Some((field, op, value)) = split_term(part) else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                )));
            };
            terms.push(FieldTerm {
                field: field.to_owned(),
                value: unescape_value(value)?,
                not_equal: op == "!=",
            });
        }
        Ok(Self { terms })
    }

    /// A selector of `field=value` terms, one per entry.
    pub fn from_set(fields: &BTreeMap<String, String>) -> Self {
        Self {
            terms: fields
                .iter()
                .map(|(field, value)| FieldTerm {
                    field: field.clone(),
                    value: value.clone(),
                    not_equal: false,
                })
                .collect(),
        }
    }

    /// The terms.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// Whether the selector matches everything.
    pub fn is_everything(&self) -> bool {
        self.terms.is_empty()
    }

    /// Refuses a selector on fields the resource does not support, with Kubernetes'
    /// `field label not supported: <field>` (`BadRequest`).
    pub fn check_supported(&self, supported: &[&str]) -> Result<(), ApiError> {
        match self
            .terms
            .iter()
            .find(|t| !supported.contains(&t.field.as_str()))
        {
            Some(t) => Err(ApiError::bad_request(format!(
                "field label not supported: {}",
                t.field
            ))),
            None => Ok(()),
        }
    }

    /// Whether the fields `get` returns satisfy every term; a field it does not know
    /// (`None`) counts as the empty string, as in Kubernetes.
    pub fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|t| {
            let value = get(&t.field).unwrap_or_default();
            (value == t.value) != t.not_equal
        })
    }

    /// Whether a set of field values satisfies every term.
    pub fn matches_map(&self, fields: &BTreeMap<String, String>) -> bool {
        self.matches(&|f: &str| fields.get(f).cloned())
    }

    /// Whether a JSON object satisfies every term, reading each field as a dotted path
    /// into the object (`spec.nodeName`); see [`field_value`].
    pub fn matches_object(&self, object: &Value) -> bool {
        self.matches(&|f: &str| field_value(object, f))
    }

    /// The single value the selector requires for `field` (a `field=value` term), if
    /// any; useful to pick an index (such as `metadata.name` or `spec.nodeName`).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && !t.not_equal)
            .map(|t| t.value.as_str())
    }
}

/// The value of a dotted field path in a JSON object, as a field selector compares it:
/// strings as they are, booleans and numbers in their JSON spelling; `None` for a
/// missing field, `null`, or an object or array.
pub fn field_value(object: &Value, path: &str) -> Option<String> {
    let mut current = object;
    for part in path.split('.') {
        current = current.get(part)?;
    }
    match current {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl fmt::Display for FieldSelector {
    /// The canonical form: `field=value` / `field!=value` with escaped values, joined
    /// by `,` (`==` prints as `=`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if t.not_equal { "!=" } else { "=" };
            write!(f, "{}{op}{}", t.field, escape_field_value(&t.value))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = ApiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// (selector, labels or fields, whether it matches)
    type MatchCase = (&'static str, Vec<(&'static str, &'static str)>, bool);

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn splits_terms_on_unescaped_commas() {
        let cases: Vec<(&str, Vec<&str>)> = vec![
            ("a", vec!["a"]),
            ("a=avalue", vec!["a=avalue"]),
            ("a=avalue,b=bvalue", vec!["a=avalue", "b=bvalue"]),
            (
                "a=avalue,b==bvalue,c!=cvalue",
                vec!["a=avalue", "b==bvalue", "c!=cvalue"],
            ),
            ("", vec![]),
            ("a=a,", vec!["a=a", ""]),
            (",a=a", vec!["", "a=a"]),
            (r"k=\,,k2=v2", vec![r"k=\,", "k2=v2"]),
            (r"k=\\,k2=v2", vec![r"k=\\", "k2=v2"]),
            (r"k=\\\,,k2=v2", vec![r"k=\\\,", "k2=v2"]),
            (r"k=\a\b\", vec![r"k=\a\b\"]),
            (r"k=\", vec![r"k=\"]),
            ("함=수,목=록", vec!["함=수", "목=록"]),
        ];
        for (input, want) in cases {
            assert_eq!(split_terms(input), want, "{input:?}");
        }
    }

    #[test]
    fn splits_a_term_at_its_first_operator() {
        let cases = [
            ("a=value", Some(("a", "=", "value"))),
            ("b==value", Some(("b", "==", "value"))),
            ("c!=value", Some(("c", "!=", "value"))),
            ("", None),
            ("a", None),
            (r"k=\,", Some(("k", "=", r"\,"))),
            (r"k=\=", Some(("k", "=", r"\="))),
            (r"k=\\\a\b\=\,\", Some(("k", "=", r"\\\a\b\=\,\"))),
            ("함=수", Some(("함", "=", "수"))),
        ];
        for (input, want) in cases {
            assert_eq!(split_term(input), want, "{input:?}");
        }
    }

    #[test]
    fn escapes_and_unescapes_values() {
        for (raw, escaped) in [
            ("", ""),
            ("a", "a"),
            ("=", r"\="),
            (",", r"\,"),
            (r"\", r"\\"),
            (r"\=\,\", r"\\\=\\\,\\"),
        ] {
            assert_eq!(escape_field_value(raw), escaped);
            assert_eq!(unescape_value(escaped).unwrap(), raw);
        }
        for bad in [r"\", r"\\\", r"\a"] {
            let err = unescape_value(bad).unwrap_err();
            assert!(
                err.message.contains("invalid escape sequence"),
                "{bad}: {err}"
            );
        }
        assert!(unescape_value("a=b")
            .unwrap_err()
            .message
            .contains("unescaped character"));
    }

    #[test]
    fn parses_and_prints_back() {
        for input in ["x=a,y=b,z=c", "", "x!=a,y=b", r"x=a||y\=b", r"x=a\=\=b"] {
            let sel = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(sel.to_string(), input);
        }
        assert_eq!(FieldSelector::parse("x==a").unwrap().to_string(), "x=a");
        assert_eq!(
            FieldSelector::parse("x=a,a=x").unwrap(),
            FieldSelector::parse("a=x,x=a").unwrap()
        );
        assert_eq!(
            FieldSelector::parse("x=a,a=x").unwrap().to_string(),
            "a=x,x=a"
        );
        assert_eq!(FieldSelector::parse(",x=a,").unwrap().to_string(), "x=a");
        for bad in [
            "x=a||y=b",
            "x==a==b",
            "x=a,b",
            "x in (a)",
            "x in (a,b,c)",
            "x",
        ] {
            let err = FieldSelector::parse(bad).expect_err(bad);
            assert_eq!(err.code, 400, "{bad}");
        }
        assert_eq!(
            FieldSelector::parse("x=a,b").unwrap_err().message,
            "invalid selector: 'x=a,b'; can't understand 'b'"
        );
    }

    #[test]
    fn matching() {
        let cases: Vec<MatchCase> = vec![
            ("", vec![("x", "y")], true),
            ("x=y", vec![("x", "y")], true),
            ("x=y,z=w", vec![("x", "y"), ("z", "w")], true),
            ("x!=y,z!=w", vec![("x", "z"), ("z", "a")], true),
            ("notin=in", vec![("notin", "in")], true),
            ("x=y", vec![("x", "z")], false),
            ("x=y,z=w", vec![("x", "w"), ("z", "w")], false),
            ("x!=y,z!=w", vec![("x", "z"), ("z", "w")], false),
            ("x=", vec![], true),
            ("x!=", vec![], false),
            ("x!=a", vec![], true),
        ];
        for (selector, fields, want) in cases {
            let sel = FieldSelector::parse(selector).unwrap();
            assert_eq!(
                sel.matches_map(&set(&fields)),
                want,
                "{selector:?} on {fields:?}"
            );
        }
        let fieldset = set(&[("foo", "bar"), ("baz", "blah"), ("complex", r"=value\,\")]);
        for (selector, want) in [
            ("foo=bar", true),
            ("baz=blah", true),
            ("foo=bar,baz=blah", true),
            (r"foo=bar,baz=blah,complex=\=value\\\,\\", true),
            ("foo=blah", false),
            ("baz=bar", false),
            ("foo=bar,foobar=bar,baz=blah", false),
        ] {
            assert_eq!(
                FieldSelector::parse(selector)
                    .unwrap()
                    .matches_map(&fieldset),
                want,
                "{selector}"
            );
        }
        let direct = FieldSelector::from_set(&set(&[("foo", "=blah")]));
        assert!(!direct.matches_map(&set(&[("foo", "bar")])));
        assert_eq!(direct.to_string(), r"foo=\=blah");
    }

    #[test]
    fn matches_json_objects_by_dotted_path() {
        let pod = json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"nodeName": "n1", "hostNetwork": false, "priority": 5},
            "status": {"phase": "Running"}
        });
        let cases = [
            ("metadata.name=p", true),
            ("metadata.name=q", false),
            ("spec.nodeName=n1,status.phase!=Failed", true),
            ("spec.nodeName=", false),
            ("spec.schedulerName=", true),
            ("spec.hostNetwork=false", true),
            ("spec.priority=5", true),
            ("spec=x", false),
        ];
        for (selector, want) in cases {
            assert_eq!(
                FieldSelector::parse(selector).unwrap().matches_object(&pod),
                want,
                "{selector}"
            );
        }
    }

    #[test]
    fn supported_fields_and_exact_match() {
        let sel = FieldSelector::parse("metadata.name=a,spec.nodeName!=b").unwrap();
        assert!(sel
            .check_supported(&["metadata.name", "spec.nodeName"])
            .is_ok());
        assert_eq!(
            sel.check_supported(&["metadata.name"]).unwrap_err().message,
            "field label not supported: spec.nodeName"
        );
        assert_eq!(sel.requires_exact_match("metadata.name"), Some("a"));
        assert_eq!(sel.requires_exact_match("spec.nodeName"), None);
        assert!(FieldSelector::parse("").unwrap().is_everything());
    }
}
