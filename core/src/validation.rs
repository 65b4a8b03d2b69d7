//! Name and label validation as Kubernetes does it (`k8s.io/apimachinery/pkg/util/validation`).
//!
//! Each check returns the list of problems, worded as Kubernetes words them (empty when
//! the input is valid), so callers can turn them into `StatusCause`s or messages.
//!
//! ```
//! use skiff_core::validation::{is_qualified_name, is_valid_label_value};
//!
//! assert!(is_qualified_name("app.kubernetes.io/name").is_empty());
//! assert!(!is_qualified_name("-bad").is_empty());
//! assert!(is_valid_label_value("").is_empty());
//! ```

/// Longest label value and name part of a qualified name.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// Longest DNS-1123 subdomain (object names, qualified-name prefixes).
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// Longest DNS-1123 label (namespace names, service names).
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_EXAMPLES: &str = "'MyName',  or 'my.name',  or '123-abc'";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";

/// `[A-Za-z0-9]` at both ends, `[-A-Za-z0-9_.]` between: a name part or label value.
fn is_name_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`: one DNS label's characters.
fn is_dns_label_chars(s: &str) -> bool {
    let bytes = s.as_bytes();
    let ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            ok(first) && ok(last) && bytes.iter().all(|b| ok(b) || *b == b'-')
        }
        _ => false,
    }
}

/// Problems with a qualified name (label and annotation keys, finalizers): an optional
/// DNS subdomain prefix and `/`, then a name of at most 63 characters.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_owned());
            } else {
                for msg in is_dns1123_subdomain(prefix) {
                    errs.push(format!("prefix part {msg}"));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. {QUALIFIED_NAME_EXAMPLES}, regex used for validation is '{QUALIFIED_NAME_FMT}') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(format!(
            "name part must be no more than {LABEL_VALUE_MAX_LENGTH} characters"
        ));
    }
    if !name.is_empty() && !is_name_part(name) {
        errs.push(format!(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. {QUALIFIED_NAME_EXAMPLES}, regex used for validation is '{QUALIFIED_NAME_FMT}')"
        ));
    }
    errs
}

/// Problems with a label value: empty, or at most 63 characters of `[-A-Za-z0-9_.]`
/// starting and ending with an alphanumeric.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(format!(
            "must be no more than {LABEL_VALUE_MAX_LENGTH} characters"
        ));
    }
    if !value.is_empty() && !is_name_part(value) {
        errs.push(format!(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '{LABEL_VALUE_FMT}')"
        ));
    }
    errs
}

/// Problems with a DNS-1123 subdomain (most object names): at most 253 characters,
/// dot-separated lower-case alphanumeric labels that may contain `-` inside.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters"
        ));
    }
    if !value.split('.').all(is_dns_label_chars) {
        errs.push(format!(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '{DNS1123_SUBDOMAIN_FMT}')"
        ));
    }
    errs
}

/// Problems with a DNS-1123 label (namespace names): at most 63 lower-case
/// alphanumeric characters or `-`, alphanumeric at both ends.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(format!(
            "must be no more than {DNS1123_LABEL_MAX_LENGTH} characters"
        ));
    }
    if !is_dns_label_chars(value) {
        errs.push(format!(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '{DNS1123_LABEL_FMT}')"
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names() {
        let good = [
            "simple",
            "now-with-dashes",
            "1-starts-with-num",
            "1234",
            "simple/simple",
            "now-with-dashes/simple",
            "now-with-dashes/now-with-dashes",
            "now.with.dots/now-with-dashes",
            "now-with.dashes-and.dots/now_with_underscores",
            "0.1.2.domain/99",
            "Upper.Case/x",
            "this-is-a-dns.domain.com/key-with-dash",
            "x.y/A_B.c-D",
        ];
        for name in good {
            let errs = is_qualified_name(name);
            // Upper-case prefixes are not DNS subdomains.
            assert_eq!(
                errs.is_empty(),
                !name.starts_with("Upper"),
                "{name}: {errs:?}"
            );
        }
        let long_name = "a".repeat(64);
        let long_prefix = format!("{}/b", "a".repeat(254));
        let bad = [
            "",
            "/simple",
            "a/",
            "nospecialchars%^=@",
            "cantendwithadash-",
            "-cantstartwithadash-",
            "only/one/slash",
            "Example.com/abc",
            "example_com/abc",
            "example.com/",
            long_name.as_str(),
            long_prefix.as_str(),
            "a b",
        ];
        for name in bad {
            assert!(!is_qualified_name(name).is_empty(), "{name:?}");
        }
        assert_eq!(is_qualified_name("a/b/c").len(), 1);
    }

    #[test]
    fn label_values() {
        let long = "a".repeat(64);
        for (value, ok) in [
            ("", true),
            ("simple", true),
            ("now-with-dashes", true),
            ("1-starts-with-num", true),
            ("end-with-num-1", true),
            ("1234", true),
            ("MixedCase", true),
            ("with_underscore", true),
            ("dots.and_such", true),
            ("a", true),
            ("nospecialchars%^=@", false),
            ("Tama-nui-te-rā.is.Māori.sun", false),
            ("\\backslashes\\are\\bad", false),
            ("-starts-with-dash", false),
            ("ends-with-dash-", false),
            (".starts.with.dot", false),
            ("ends.with.dot.", false),
            ("has space", false),
            ("slash/es", false),
            (long.as_str(), false),
        ] {
            assert_eq!(is_valid_label_value(value).is_empty(), ok, "{value:?}");
        }
    }

    #[test]
    fn dns_names() {
        for (value, subdomain, label) in [
            ("a", true, true),
            ("ab", true, true),
            ("a-b", true, true),
            ("0", true, true),
            ("a.b", true, false),
            ("a.b.c-d", true, false),
            ("", false, false),
            ("A", false, false),
            ("-a", false, false),
            ("a-", false, false),
            ("a..b", false, false),
            ("a_b", false, false),
            (".a", false, false),
        ] {
            assert_eq!(
                is_dns1123_subdomain(value).is_empty(),
                subdomain,
                "{value:?}"
            );
            assert_eq!(is_dns1123_label(value).is_empty(), label, "{value:?}");
        }
        assert!(!is_dns1123_label(&"a".repeat(64)).is_empty());
        assert!(is_dns1123_subdomain(&"a".repeat(253)).is_empty());
        assert!(!is_dns1123_subdomain(&"a".repeat(254)).is_empty());
    }
}
