//! Reading cell values out of objects.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// The value at a dotted path (`spec.replicas`), if any.
pub fn at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(obj, |v, key| v.get(key))
}

/// The string at a path, or `default`.
pub fn str_at<'a>(obj: &'a Value, path: &str, default: &'a str) -> &'a str {
    at(obj, path).and_then(Value::as_str).unwrap_or(default)
}

/// The integer at a path, or 0.
pub fn int_at(obj: &Value, path: &str) -> i64 {
    at(obj, path).and_then(Value::as_i64).unwrap_or(0)
}

/// The array at a path, or an empty slice.
pub fn array_at<'a>(obj: &'a Value, path: &str) -> &'a [Value] {
    at(obj, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A timestamp field as a time.
pub fn time_at(obj: &Value, path: &str) -> Option<DateTime<Utc>> {
    let text = at(obj, path)?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How long ago `path` was, as kubectl prints ages; `<unknown>` when absent.
pub fn age_at(obj: &Value, path: &str, now: DateTime<Utc>) -> String {
    match time_at(obj, path) {
        Some(t) => human_duration(now.signed_duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

/// A duration the way Kubernetes' `duration.HumanDuration` prints it: `45s`, `3m12s`,
/// `25m`, `5h30m`, `20h`, `3d4h`, `40d`, `2y10d`, `9y`.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        let days = hours / 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    let years = hours / 24 / 365;
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{days}d")
        };
    }
    format!("{years}y")
}

/// `a,b,c` of the non-empty strings, or `<none>`.
pub fn join_or_none(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().filter(|s| !s.is_empty()).collect();
    if items.is_empty() {
        "<none>".into()
    } else {
        items.join(",")
    }
}

/// `k=v,k2=v2` of a string map (sorted by key, as `labels.FormatLabels` prints),
/// or `<none>`.
pub fn map_string(map: Option<&Value>) -> String {
    let pairs = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    join_or_none(pairs)
}

/// A label selector (`matchLabels` and `matchExpressions`) printed as kube prints a
/// `labels.Selector`: requirements sorted by key, each one's values sorted
/// (`app=web,env in (dev,prod),!legacy`), `<none>` when there are none.
pub fn selector_string(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return "<none>".into();
    };
    let mut parts: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        parts.extend(
            labels
                .iter()
                .map(|(k, v)| (k.clone(), format!("{k}={}", v.as_str().unwrap_or_default()))),
        );
    }
    for expr in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = str_at(expr, "key", "");
        let mut values: Vec<&str> = array_at(expr, "values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let text = match str_at(expr, "operator", "") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        parts.push((key.to_string(), text));
    }
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    join_or_none(parts.into_iter().map(|(_, text)| text))
}

/// The names and images of a pod template's containers.
pub fn containers_and_images(obj: &Value, spec_path: &str) -> (String, String) {
    let containers = array_at(obj, &format!("{spec_path}.containers"));
    let names = join_or_none(containers.iter().map(|c| str_at(c, "name", "").to_string()));
    let images = join_or_none(
        containers
            .iter()
            .map(|c| str_at(c, "image", "").to_string()),
    );
    (names, images)
}

/// The first `max` items joined with commas, then ` + N more...` for the rest, as
/// kube-apiserver's printers shorten endpoint and port lists; empty when there are
/// no items.
pub fn list_with_more(items: &[String], max: usize) -> String {
    let shown = items
        .iter()
        .take(max)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",");
    if items.len() > max {
        format!("{shown} + {} more...", items.len() - max)
    } else {
        shown
    }
}

/// `ip:port`, with an IPv6 address in brackets (Go's `net.JoinHostPort`).
pub fn host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// A resource quantity in its canonical form (`1.5Gi` prints `1536Mi`), `0` when
/// absent, and as written when it does not parse.
pub fn quantity_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "0".into(),
        Some(Value::String(text)) => text
            .parse::<skiff_core::quantity::Quantity>()
            .map(|q| q.to_string())
            .unwrap_or_else(|_| text.clone()),
        Some(other) => other.to_string(),
    }
}

/// An int-or-string field (`2`, `50%`) as text, or `None` when absent.
pub fn int_or_string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Access modes abbreviated as `kubectl get pv` prints them, in kube's fixed order
/// (`RWO,ROX,RWX,RWOP`) without duplicates.
pub fn access_modes(modes: &[Value]) -> String {
    const ABBREVIATIONS: [(&str, &str); 4] = [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ];
    ABBREVIATIONS
        .iter()
        .filter(|(mode, _)| modes.iter().any(|m| m.as_str() == Some(mode)))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
}

/// The annotation that, when present, names a volume's or claim's storage class
/// before `spec.storageClassName` does.
const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// The storage class of a PersistentVolume or claim: the beta annotation, else
/// `spec.storageClassName`, else empty.
pub fn storage_class(obj: &Value) -> String {
    if let Some(class) = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(BETA_STORAGE_CLASS))
        .and_then(Value::as_str)
    {
        return class.to_string();
    }
    str_at(obj, "spec.storageClassName", "").to_string()
}

/// `metadata.creationTimestamp` in RFC 3339 (UTC, seconds), as kube's default table
/// prints it; the zero time when absent.
pub fn created_at(o: &Value) -> String {
    time_at(o, "metadata.creationTimestamp")
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
}
