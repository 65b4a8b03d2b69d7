//! Cases from Kubernetes' `labels/selector_test.go` (parse, print, match), re-expressed.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

/// (key, operator, values) of a parsed requirement.
type ParsedRequirement = (&'static str, Operator, Vec<&'static str>);

/// (selector, labels, whether it matches)
type MatchCase = (&'static str, Vec<(&'static str, &'static str)>, bool);

fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn good_strings_print_back_without_spaces() {
    for input in [
        "x=a,y=b,z=c",
        "",
        "x!=a,y=b",
        "x=",
        "x= ",
        "x=,z= ",
        "x= ,z= ",
        "!x",
        "x>1",
        "x>1,z<5",
    ] {
        let sel = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(sel.to_string(), input.replace(' ', ""), "{input:?}");
    }
}

#[test]
fn bad_strings_are_bad_requests() {
    for input in [
        "x=a||y=b",
        "x==a==b",
        "!x=a",
        "x<a",
        ",x,y",
        "x nott in (y)",
        "a in (xyz),",
        "a in (xyz)b notin ()",
        "a in (xyz abc)",
        "a notin(",
        "a (",
        "(",
        "x in",
        "x=a b",
        "x=-a",
        "-x=a",
        "example.com/=a",
        "a/b/c",
    ] {
        let err = LabelSelector::parse(input).expect_err(input);
        assert_eq!(
            (err.code, err.reason.as_str()),
            (400, "BadRequest"),
            "{input:?}"
        );
    }
    let long_key = "a".repeat(254);
    assert!(LabelSelector::parse(&long_key).is_err());
}

#[test]
fn error_messages_are_kubernetes_messages() {
    let cases = [
        ("x=a||y=b", "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        ("a in (xyz),", "found '', expected: identifier after ','"),
        ("(", "found '(', expected: !, identifier, or 'end of string'"),
        ("a (", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
        ("a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
        ("a in (xyz abc)", "unable to parse requirement: found 'abc', expected: ',' or ')'"),
        ("x<a", "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"),
    ];
    for (input, message) in cases {
        assert_eq!(
            LabelSelector::parse(input).unwrap_err().message,
            message,
            "{input:?}"
        );
    }
}

#[test]
fn parse_is_deterministic() {
    let a = LabelSelector::parse("x=a,a=x").unwrap();
    let b = LabelSelector::parse("a=x,x=a").unwrap();
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(a, b);
}

#[test]
fn set_based_syntax_parses_to_requirements() {
    use Operator::*;
    let cases: Vec<(&str, Vec<ParsedRequirement>)> = vec![
        ("", vec![]),
        ("\rx", vec![("x", Exists, vec![])]),
        (
            "this-is-a-dns.domain.com/key-with-dash",
            vec![("this-is-a-dns.domain.com/key-with-dash", Exists, vec![])],
        ),
        (
            "this-is-another-dns.domain.com/key-with-dash in (so,what)",
            vec![(
                "this-is-another-dns.domain.com/key-with-dash",
                In,
                vec!["so", "what"],
            )],
        ),
        (
            "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
            vec![(
                "0.1.2.domain/99",
                NotIn,
                vec!["10.10.100.1", "tick.tack.clock"],
            )],
        ),
        ("foo  in\t (abc)", vec![("foo", In, vec!["abc"])]),
        ("x notin\n (abc)", vec![("x", NotIn, vec!["abc"])]),
        (
            "x  notin\t\t\t(abc,def)",
            vec![("x", NotIn, vec!["abc", "def"])],
        ),
        ("x in (abc,def)", vec![("x", In, vec!["abc", "def"])]),
        ("x in (abc,)", vec![("x", In, vec!["", "abc"])]),
        ("x in ()", vec![("x", In, vec![""])]),
        (
            "x notin (abc,,def),bar,z in (),w",
            vec![
                ("bar", Exists, vec![]),
                ("w", Exists, vec![]),
                ("x", NotIn, vec!["", "abc", "def"]),
                ("z", In, vec![""]),
            ],
        ),
        (
            "x,y in (a)",
            vec![("x", Exists, vec![]), ("y", In, vec!["a"])],
        ),
        ("x,y", vec![("x", Exists, vec![]), ("y", Exists, vec![])]),
        ("x=a", vec![("x", Equals, vec!["a"])]),
        ("x>1", vec![("x", GreaterThan, vec!["1"])]),
        ("x<7", vec![("x", LessThan, vec!["7"])]),
        (
            "x=a,y!=b",
            vec![("x", Equals, vec!["a"]), ("y", NotEquals, vec!["b"])],
        ),
        (
            "x=a,y!=b,z in (h,i,j)",
            vec![
                ("x", Equals, vec!["a"]),
                ("y", NotEquals, vec!["b"]),
                ("z", In, vec!["h", "i", "j"]),
            ],
        ),
        ("x notin ( )", vec![("x", NotIn, vec![""])]),
        ("x notin (, a)", vec![("x", NotIn, vec!["", "a"])]),
        ("a ", vec![("a", Exists, vec![])]),
        (
            "a in (x,y,notin, z,in)",
            vec![("a", In, vec!["in", "notin", "x", "y", "z"])],
        ),
        ("notin=in", vec![("notin", Equals, vec!["in"])]),
        ("in in (in)", vec![("in", In, vec!["in"])]),
        ("x==a", vec![("x", DoubleEquals, vec!["a"])]),
    ];
    for (input, want) in cases {
        let sel = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let got: Vec<(&str, Operator, Vec<&str>)> = sel
            .requirements()
            .iter()
            .map(|r| {
                (
                    r.key(),
                    r.operator(),
                    r.values().iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(got, want, "{input:?}");
    }
}

#[test]
fn requirement_constructor_validates() {
    use Operator::*;
    let cases: Vec<(String, Operator, Vec<&str>, bool)> = vec![
        ("x".into(), In, vec![], false),
        ("x".into(), NotIn, vec![], false),
        ("x".into(), In, vec!["foo"], true),
        ("x".into(), NotIn, vec!["foo"], true),
        ("x".into(), Exists, vec![], true),
        ("x".into(), DoesNotExist, vec![], true),
        ("x".into(), Exists, vec!["a"], false),
        ("x".into(), Equals, vec!["a", "b"], false),
        ("1foo".into(), In, vec!["bar"], true),
        ("1234".into(), In, vec!["bar"], true),
        ("y".into(), GreaterThan, vec!["1"], true),
        ("z".into(), LessThan, vec!["6"], true),
        ("foo".into(), GreaterThan, vec!["bar"], false),
        ("barz".into(), LessThan, vec!["blah"], false),
        ("a".repeat(254), Exists, vec![], false),
        ("example.com/name".into(), Equals, vec!["v"], true),
        ("x".into(), Equals, vec!["-bad"], false),
    ];
    for (key, op, values, ok) in cases {
        let got = Requirement::new(&key, op, strings(&values));
        assert_eq!(got.is_ok(), ok, "{key} {op:?} {values:?}: {got:?}");
    }
}

#[test]
fn printing_is_canonical() {
    use Operator::*;
    let req = |k: &str, op, v: &[&str]| Requirement::new(k, op, strings(v)).unwrap();
    let cases = vec![
        (
            vec![
                req("x", In, &["abc", "def"]),
                req("y", NotIn, &["jkl"]),
                req("z", Exists, &[]),
            ],
            "x in (abc,def),y notin (jkl),z",
        ),
        (
            vec![
                req("x", NotIn, &["def", "abc"]),
                req("y", NotEquals, &["jkl"]),
                req("z", DoesNotExist, &[]),
            ],
            "x notin (abc,def),y!=jkl,!z",
        ),
        (
            vec![
                req("x", NotIn, &["abc"]),
                req("y", In, &["jkl", "mno"]),
                req("z", NotIn, &[""]),
            ],
            "x notin (abc),y in (jkl,mno),z notin ()",
        ),
        (
            vec![
                req("x", Equals, &["abc"]),
                req("y", DoubleEquals, &["jkl"]),
                req("z", NotEquals, &["a"]),
                req("z", Exists, &[]),
            ],
            "x=abc,y==jkl,z!=a,z",
        ),
        (
            vec![
                req("x", GreaterThan, &["2"]),
                req("y", LessThan, &["8"]),
                req("z", Exists, &[]),
            ],
            "x>2,y<8,z",
        ),
    ];
    for (requirements, want) in cases {
        let sel = LabelSelector::from_requirements(requirements);
        assert_eq!(sel.to_string(), want);
        assert_eq!(
            LabelSelector::parse(want).unwrap(),
            sel,
            "{want} parses back"
        );
    }
}

#[test]
fn matching() {
    let cases: Vec<MatchCase> = vec![
        ("", vec![("x", "y")], true),
        ("x=y", vec![("x", "y")], true),
        ("x=y,z=w", vec![("x", "y"), ("z", "w")], true),
        ("x!=y,z!=w", vec![("x", "z"), ("z", "a")], true),
        ("notin=in", vec![("notin", "in")], true),
        ("x", vec![("x", "z")], true),
        ("!x", vec![("y", "z")], true),
        ("x>1", vec![("x", "2")], true),
        ("x<1", vec![("x", "0")], true),
        ("x=z", vec![], false),
        ("x=y", vec![("x", "z")], false),
        ("x=y,z=w", vec![("x", "w"), ("z", "w")], false),
        ("x!=y,z!=w", vec![("x", "z"), ("z", "w")], false),
        ("x", vec![("y", "z")], false),
        ("!x", vec![("x", "z")], false),
        ("x>1", vec![("x", "0")], false),
        ("x<1", vec![("x", "2")], false),
        ("x>1", vec![], false),
        ("z>1", vec![("z", "v2")], false),
        ("foo=bar", vec![("foo", "bar"), ("baz", "blah")], true),
        (
            "foo=bar,baz=blah",
            vec![("foo", "bar"), ("baz", "blah")],
            true,
        ),
        ("foo=blah", vec![("foo", "bar"), ("baz", "blah")], false),
        (
            "foo=bar,foobar=bar,baz=blah",
            vec![("foo", "bar"), ("baz", "blah")],
            false,
        ),
        (
            "x in (foo),y notin (alpha)",
            vec![("x", "foo"), ("y", "baz")],
            true,
        ),
        (
            "x in (foo),y in (alpha)",
            vec![("x", "foo"), ("y", "baz")],
            false,
        ),
        ("x notin (),y", vec![("y", "")], true),
        ("!x,y", vec![("y", "")], true),
        ("x notin (),!y", vec![("y", "")], false),
        ("x in ()", vec![("y", "baz")], false),
        ("x in ()", vec![("x", "")], true),
        ("x=", vec![("x", "")], true),
        ("x!=", vec![], true),
    ];
    for (selector, labels, want) in cases {
        let sel = LabelSelector::parse(selector).unwrap();
        assert_eq!(
            sel.matches(&set(&labels)),
            want,
            "{selector:?} on {labels:?}"
        );
    }
}

#[test]
fn matches_json_labels_of_objects() {
    let sel = LabelSelector::parse("app=web,!canary").unwrap();
    assert!(sel.matches_object(&json!({"metadata": {"labels": {"app": "web"}}})));
    assert!(!sel.matches_object(&json!({"metadata": {"labels": {"app": "web", "canary": "1"}}})));
    assert!(!sel.matches_object(&json!({"metadata": {}})));
    assert!(LabelSelector::parse("!app")
        .unwrap()
        .matches_object(&json!({})));
}

#[test]
fn from_metav1_label_selector() {
    let sel = LabelSelector::from_json(&json!({
        "matchLabels": {"app": "web", "tier": "front"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "staging"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "zone", "operator": "Exists"},
            {"key": "bad", "operator": "NotIn", "values": ["x"]},
        ]
    }))
    .unwrap();
    assert_eq!(
        sel.to_string(),
        "app=web,bad notin (x),!canary,env in (prod,staging),tier=front,zone"
    );
    assert!(sel.matches(&set(&[
        ("app", "web"),
        ("tier", "front"),
        ("env", "prod"),
        ("zone", "a")
    ])));
    assert!(!sel.matches(&set(&[
        ("app", "web"),
        ("tier", "front"),
        ("env", "dev"),
        ("zone", "a")
    ])));

    assert!(LabelSelector::from_json(&json!({}))
        .unwrap()
        .is_everything());
    let nothing = LabelSelector::from_json(&json!(null)).unwrap();
    assert!(nothing.is_nothing() && !nothing.matches(&set(&[])));

    let bad_op =
        LabelSelector::from_json(&json!({"matchExpressions": [{"key": "a", "operator": "Like"}]}));
    assert_eq!(
        bad_op.unwrap_err().message,
        "\"Like\" is not a valid label selector operator"
    );
    assert!(LabelSelector::from_json(
        &json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})
    )
    .is_err());
    assert!(LabelSelector::from_json(&json!({"matchLabels": {"a": "b c"}})).is_err());
    assert_eq!(
        LabelSelector::from_json(&json!({"matchLabels": 3}))
            .unwrap_err()
            .code,
        400
    );
}

#[test]
fn from_set_and_exact_match() {
    let sel = LabelSelector::from_set(&set(&[("b", "2"), ("a", "1")])).unwrap();
    assert_eq!(sel.to_string(), "a=1,b=2");
    assert!(LabelSelector::from_set(&set(&[])).unwrap().is_everything());
    assert!(LabelSelector::from_set(&set(&[("a", "=x")])).is_err());

    let cases = [
        ("", "test", None),
        ("a=b", "test", None),
        ("test=b", "test", Some("b")),
        ("test==b", "test", Some("b")),
        ("test in (b)", "test", Some("b")),
        ("test in (b,c)", "test", None),
        ("test!=b", "test", None),
        ("test", "test", None),
        ("test=", "test", Some("")),
    ];
    for (selector, key, want) in cases {
        let sel = LabelSelector::parse(selector).unwrap();
        assert_eq!(sel.requires_exact_match(key), want, "{selector:?}");
    }
}
