//! Columns of events, as kube-apiserver prints them for core `Event` and for
//! `events.k8s.io` `Event` (the same printer, reading the newer API's field names):
//! LAST SEEN, TYPE, REASON, OBJECT, MESSAGE, and with `-o wide` SUBOBJECT, SOURCE,
//! FIRST SEEN, COUNT and NAME. There is no NAME column without `-o wide`.
//!
//! ```text
//! LAST SEEN   TYPE     REASON      OBJECT     MESSAGE
//! 5m          Normal   Scheduled   pod/web    Successfully assigned default/web to n1
//! ```

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::cells::{human_duration, int_at, str_at, time_at};
use super::columns::{col, name_column, Column};

/// Where an event API version keeps what the printer reads.
struct EventFields {
    message: &'static str,
    object: &'static str,
    source: &'static str,
    first: &'static str,
    last: &'static str,
    count: &'static str,
}

/// Core `v1` events.
const CORE: EventFields = EventFields {
    message: "message",
    object: "involvedObject",
    source: "source",
    first: "firstTimestamp",
    last: "lastTimestamp",
    count: "count",
};

/// `events.k8s.io/v1` events.
const EVENTS_V1: EventFields = EventFields {
    message: "note",
    object: "regarding",
    source: "deprecatedSource",
    first: "deprecatedFirstTimestamp",
    last: "deprecatedLastTimestamp",
    count: "deprecatedCount",
};

/// The columns of `group`/`kind` if this module prints it.
pub fn columns(group: &str, kind: &str) -> Option<Vec<Column>> {
    match (group, kind) {
        ("", "Event") => Some(vec![
            col("Last Seen", "string", 0, |o, now| {
                json!(last_seen(o, now, &CORE))
            }),
            col("Type", "string", 0, |o, _| json!(str_at(o, "type", ""))),
            col("Reason", "string", 0, |o, _| json!(str_at(o, "reason", ""))),
            col("Object", "string", 0, |o, _| json!(object(o, &CORE))),
            col("Subobject", "string", 1, |o, _| {
                json!(str_at(o, "involvedObject.fieldPath", ""))
            }),
            col("Source", "string", 1, |o, _| json!(source(o, &CORE))),
            col("Message", "string", 0, |o, _| json!(message(o, &CORE))),
            col("First Seen", "string", 1, |o, now| {
                json!(first_seen(o, now, &CORE))
            }),
            col("Count", "string", 1, |o, _| json!(count(o, &CORE))),
            Column {
                priority: 1,
                ..name_column()
            },
        ]),
        ("events.k8s.io", "Event") => Some(vec![
            col("Last Seen", "string", 0, |o, now| {
                json!(last_seen(o, now, &EVENTS_V1))
            }),
            col("Type", "string", 0, |o, _| json!(str_at(o, "type", ""))),
            col("Reason", "string", 0, |o, _| json!(str_at(o, "reason", ""))),
            col("Object", "string", 0, |o, _| json!(object(o, &EVENTS_V1))),
            col("Subobject", "string", 1, |o, _| {
                json!(str_at(o, "regarding.fieldPath", ""))
            }),
            col("Source", "string", 1, |o, _| json!(source(o, &EVENTS_V1))),
            col("Message", "string", 0, |o, _| json!(message(o, &EVENTS_V1))),
            col("First Seen", "string", 1, |o, now| {
                json!(first_seen(o, now, &EVENTS_V1))
            }),
            col("Count", "string", 1, |o, _| json!(count(o, &EVENTS_V1))),
            Column {
                priority: 1,
                ..name_column()
            },
        ]),
        _ => None,
    }
}

/// How long ago a timestamp field was, or `<unknown>` when it is unset.
fn since(o: &Value, path: &str, now: DateTime<Utc>) -> Option<String> {
    time_at(o, path).map(|t| human_duration(now.signed_duration_since(t)))
}

/// FIRST SEEN: the first timestamp, else the event time.
fn first_seen(o: &Value, now: DateTime<Utc>, fields: &EventFields) -> String {
    since(o, fields.first, now)
        .or_else(|| since(o, "eventTime", now))
        .unwrap_or_else(|| "<unknown>".into())
}

/// LAST SEEN: the series' last observation, else the last timestamp, else FIRST SEEN.
fn last_seen(o: &Value, now: DateTime<Utc>, fields: &EventFields) -> String {
    if o.get("series").is_some_and(Value::is_object) {
        return since(o, "series.lastObservedTime", now).unwrap_or_else(|| "<unknown>".into());
    }
    since(o, fields.last, now).unwrap_or_else(|| first_seen(o, now, fields))
}

/// COUNT: the series' count, else the count, else 1 (a singleton event).
fn count(o: &Value, fields: &EventFields) -> i64 {
    if o.get("series").is_some_and(Value::is_object) {
        return int_at(o, "series.count");
    }
    match int_at(o, fields.count) {
        0 => 1,
        n => n,
    }
}

/// OBJECT: `kind/name` of the object the event is about (the kind lower-cased), or
/// the kind alone when there is no name.
fn object(o: &Value, fields: &EventFields) -> String {
    let target = o.get(fields.object).unwrap_or(&Value::Null);
    let kind = str_at(target, "kind", "").to_lowercase();
    match str_at(target, "name", "") {
        "" => kind,
        name => format!("{kind}/{name}"),
    }
}

/// SOURCE: the component (else the reporting controller), then `, instance` (the
/// host, else the reporting instance) when there is one.
fn source(o: &Value, fields: &EventFields) -> String {
    let source = o.get(fields.source).unwrap_or(&Value::Null);
    let non_empty = |a: &str, b: &str| {
        let first = str_at(source, a, "");
        if first.is_empty() {
            str_at(o, b, "").to_string()
        } else {
            first.to_string()
        }
    };
    let component = non_empty("component", "reportingController");
    let instance = non_empty("host", "reportingInstance");
    if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    }
}

fn message(o: &Value, fields: &EventFields) -> String {
    str_at(o, fields.message, "").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(group: &str, obj: &Value) -> Vec<Value> {
        super::super::columns::cells_now(columns(group, "Event"), obj)
    }

    fn ago(seconds: i64) -> String {
        (Utc::now() - chrono::Duration::seconds(seconds)).to_rfc3339()
    }

    #[test]
    fn both_event_kinds_have_kubes_columns_and_priorities() {
        for group in ["", "events.k8s.io"] {
            let columns: Vec<(&str, u8)> = columns(group, "Event")
                .unwrap()
                .iter()
                .map(|c| (c.name, c.priority))
                .collect();
            assert_eq!(
                columns,
                [
                    ("Last Seen", 0),
                    ("Type", 0),
                    ("Reason", 0),
                    ("Object", 0),
                    ("Subobject", 1),
                    ("Source", 1),
                    ("Message", 0),
                    ("First Seen", 1),
                    ("Count", 1),
                    ("Name", 1)
                ],
                "{group}"
            );
        }
    }

    #[test]
    fn core_event_cells() {
        let event = json!({
            "metadata": {"name": "web.17a"},
            "type": "Warning", "reason": "BackOff",
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
            "message": "  Back-off restarting failed container\n",
            "source": {"component": "kubelet", "host": "n1"},
            "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 7
        });
        assert_eq!(
            cells("", &event),
            [
                json!("30s"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web"),
                json!("spec.containers{app}"),
                json!("kubelet, n1"),
                json!("Back-off restarting failed container"),
                json!("10m"),
                json!(7),
                json!("web.17a")
            ]
        );
        // A singleton event of the newer style: event time only, no count, the
        // reporting controller as source, an object without a name.
        let singleton = json!({
            "metadata": {"name": "n1.1"}, "type": "Normal", "reason": "Starting",
            "involvedObject": {"kind": "Node"}, "eventTime": ago(90),
            "reportingController": "skiff-node", "message": "up"
        });
        let row = cells("", &singleton);
        assert_eq!(row[0], json!("90s"));
        assert_eq!(row[3], json!("node"));
        assert_eq!(row[5], json!("skiff-node"));
        assert_eq!(row[7], json!("90s"));
        assert_eq!(row[8], json!(1));
        // A series: its last observation and count win.
        let series = json!({
            "firstTimestamp": ago(900), "lastTimestamp": ago(600), "count": 2,
            "series": {"count": 9, "lastObservedTime": ago(5)}
        });
        let row = cells("", &series);
        assert_eq!((row[0].clone(), row[8].clone()), (json!("5s"), json!(9)));
        assert_eq!(cells("", &json!({}))[0], json!("<unknown>"));
    }

    #[test]
    fn events_k8s_io_event_cells() {
        let event = json!({
            "metadata": {"name": "web.17b"},
            "type": "Normal", "reason": "Scheduled", "note": "Successfully assigned",
            "regarding": {"kind": "Pod", "name": "web"},
            "eventTime": ago(300), "reportingController": "default-scheduler",
            "reportingInstance": "sched-1"
        });
        assert_eq!(
            cells("events.k8s.io", &event),
            [
                json!("5m"),
                json!("Normal"),
                json!("Scheduled"),
                json!("pod/web"),
                json!(""),
                json!("default-scheduler, sched-1"),
                json!("Successfully assigned"),
                json!("5m"),
                json!(1),
                json!("web.17b")
            ]
        );
    }
}
