//! CustomResourceDefinitions through the real kubectl: apply -f of a CRD (and of a
//! changed one), get crd,
//! apply -f of a custom object (twice), get by plural and short name with the printer
//! columns, get all (categories), describe, get -o yaml, explain, patch --type merge, scale, an invalid object refused
//! with kubectl's error, and delete crd removing the objects. Skips when kubectl is
//! missing.

mod kubectl;

use kubectl::{headers, ApiServer};

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Color
      type: string
      jsonPath: .spec.color
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        description: A Widget is a thing made by the widget factory.
        properties:
          spec:
            type: object
            description: What the widget should look like.
            required: [size]
            properties:
              size:
                type: integer
                minimum: 1
                description: How big the widget is.
              color:
                type: string
                enum: [red, blue]
                default: red
                description: The colour of the widget.
              replicas:
                type: integer
                default: 1
          status:
            type: object
            properties:
              replicas:
                type: integer
";

fn widget(name: &str, size: &str, color: &str) -> String {
    format!(
        "apiVersion: example.com/v1
kind: Widget
metadata:
  name: {name}
spec:
  size: {size}
  color: {color}
"
    )
}

#[test]
fn custom_resources_with_kubectl() {
    let Some(server) = ApiServer::start(&[]) else {
        return;
    };
    let crd = server.write("crd.yaml", CRD);
    let applied = server.ok(&["apply", "-f", &crd]);
    assert!(
        applied
            .contains("customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"),
        "{applied}"
    );
    server.ok(&[
        "wait",
        "--for",
        "condition=Established",
        "--timeout=30s",
        "crd/widgets.example.com",
    ]);
    let crds = server.ok(&["get", "crd"]);
    assert_eq!(headers(&crds), ["NAME", "CREATED AT"], "{crds}");
    assert!(crds.contains("widgets.example.com"), "{crds}");

    let w1 = server.write("w1.yaml", &widget("w1", "3", "blue"));
    let created = server.ok(&["apply", "-f", &w1]);
    assert!(
        created.contains("widget.example.com/w1 created"),
        "{created}"
    );
    let w1_bigger = server.write("w1b.yaml", &widget("w1", "4", "blue"));
    let configured = server.ok(&["apply", "-f", &w1_bigger]);
    assert!(
        configured.contains("widget.example.com/w1 configured"),
        "{configured}"
    );
    let w2 = server.write("w2.yaml", &widget("w2", "5", "red"));
    server.ok(&["create", "-f", &w2]);

    let table = server.ok(&["get", "widgets"]);
    assert_eq!(headers(&table), ["NAME", "SIZE", "COLOR", "AGE"], "{table}");
    let first = table.lines().nth(1).unwrap_or_default();
    let cells: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(cells[..3], ["w1", "4", "blue"], "{table}");
    let short = server.ok(&["get", "wd", "w2"]);
    assert!(
        short.lines().nth(1).is_some_and(|l| l.starts_with("w2 ")),
        "{short}"
    );

    // Applying a changed CRD changes what is served: a new printer column.
    let changed = server.write(
        "crd2.yaml",
        &CRD.replace(
            "    - name: Age\n",
            "    - name: Replicas\n      type: integer\n      jsonPath: .spec.replicas\n    - name: Age\n",
        ),
    );
    let configured = server.ok(&["apply", "-f", &changed]);
    assert!(
        configured.contains("widgets.example.com configured"),
        "{configured}"
    );
    server.wait_until("the new column is served", || {
        headers(&server.ok(&["get", "widgets"])) == ["NAME", "SIZE", "COLOR", "REPLICAS", "AGE"]
    });

    let all = server.ok(&["get", "all"]);
    assert!(all.contains("widget.example.com/w1"), "category all: {all}");
    let described = server.ok(&["describe", "widget", "w1"]);
    assert!(
        described.contains("Name:") && described.contains("w1") && described.contains("Size:"),
        "{described}"
    );

    let yaml = server.ok(&["get", "widget", "w1", "-o", "yaml"]);
    assert!(yaml.contains("apiVersion: example.com/v1"), "{yaml}");
    assert!(yaml.contains("kind: Widget"), "{yaml}");
    assert!(yaml.contains("size: 4"), "{yaml}");
    assert!(yaml.contains("replicas: 1"), "defaulted: {yaml}");

    let explain = server.ok(&["explain", "widget.spec"]);
    assert!(
        explain.contains("KIND:") && explain.contains("Widget"),
        "{explain}"
    );
    assert!(
        explain.contains("What the widget should look like"),
        "{explain}"
    );
    assert!(
        explain.contains("size") && explain.contains("How big the widget is"),
        "{explain}"
    );

    let patched = server.ok(&[
        "patch",
        "widget",
        "w1",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"color":"red"}}"#,
    ]);
    assert!(
        patched.contains("widget.example.com/w1 patched"),
        "{patched}"
    );
    let color = server.ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.color}"]);
    assert_eq!(color, "red");
    let refused = server.fails(&[
        "patch",
        "widget",
        "w1",
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"color":"blue"}}"#,
    ]);
    assert!(
        refused.contains("UnsupportedMediaType")
            || refused.contains("415")
            || refused.contains("not supported"),
        "{refused}"
    );

    server.ok(&["scale", "widget", "w1", "--replicas", "3"]);
    let replicas = server.ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(replicas, "3");

    let bad = server.write("bad.yaml", &widget("bad", "\"three\"", "pink"));
    let error = server.fails(&["apply", "-f", &bad]);
    assert!(error.contains("The Widget \"bad\" is invalid"), "{error}");
    assert!(
        error.contains(r#"spec.size: Invalid value: "string": spec.size in body must be of type integer: "string""#),
        "{error}"
    );
    assert!(
        error.contains(r#"spec.color: Unsupported value: "pink": supported values: "red", "blue""#),
        "{error}"
    );

    let typo = server.write(
        "typo.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: typo\nspec:\n  size: 1\n  colour: red\n",
    );
    let error = server.fails(&["apply", "-f", &typo]);
    assert!(
        error.contains(r#"strict decoding error: unknown field "spec.colour""#),
        "{error}"
    );

    let deleted = server.ok(&["delete", "crd", "widgets.example.com"]);
    assert!(deleted.contains("deleted"), "{deleted}");
    let gone = server.fails(&["get", "crd", "widgets.example.com"]);
    assert!(
        gone.contains("NotFound") || gone.contains("not found"),
        "{gone}"
    );
    let raw = server.kubectl(&["get", "--raw", "/apis/example.com/v1/widgets"]);
    assert!(
        !raw.status.success(),
        "custom resources are no longer served"
    );

    // Re-created, it starts with no objects: the old ones were deleted.
    server.ok(&["apply", "-f", &crd]);
    server.ok(&[
        "wait",
        "--for",
        "condition=Established",
        "--timeout=30s",
        "crd/widgets.example.com",
    ]);
    server.wait_until("widgets are served again", || {
        server
            .kubectl(&["get", "--raw", "/apis/example.com/v1/widgets"])
            .status
            .success()
    });
    let raw = server.ok(&["get", "--raw", "/apis/example.com/v1/widgets"]);
    assert!(raw.contains(r#""items":[]"#), "{raw}");
}
