//! Sandbox fidelity: the real kubectl against the sandbox (or a real cluster when
//! `KUBECTL_GITOPS_E2E_KUBECONFIG` is set). Each scenario asserts API semantics a sloppy server
//! would get wrong, and runs twice: with the kubectl the dispatcher picks for a 1.33 server, and
//! with kubectl 1.28.

mod common;

use std::time::Duration;

use common::{KubectlOutput, TestCluster, poll_until};
use serde_json::{Value, json};

/// Runs each scenario `fn name(&TestCluster)` as two tests: `name::kubectl_1_33` and
/// `name::kubectl_1_28`.
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn kubectl_1_33() {
                super::$name(&crate::common::TestCluster::start());
            }

            #[test]
            fn kubectl_1_28() {
                super::$name(&crate::common::TestCluster::start_with_kube_version("1.28"));
            }
        }
    )*};
}

scenarios!(
    deployment_and_service_defaults,
    statefulset_daemonset_job_defaults,
    apply_records_managed_fields,
    client_side_apply_then_server_side,
    diff_server_side_exit_codes,
    scale_then_apply_conflicts_until_forced,
    patch_merge_strategic_json,
    invalid_names_are_rejected,
    workload_selectors_are_immutable,
    missing_namespace_is_not_found,
    create_twice_already_exists,
    typed_create_subcommands,
    label_selectors,
    get_watch_streams_changes,
    delete_removes_objects,
    crd_then_custom_resource,
    dry_run_server_writes_nothing,
    api_resources_and_namespaces,
    edit_with_editor_script,
    get_yaml_round_trips_with_optimistic_concurrency,
    rollout_status_follows_spec,
    applyset_prune,
);

const WAIT: Duration = Duration::from_secs(30);

/// A Deployment with a tagged and an untagged image, so imagePullPolicy defaults both ways.
fn deployment(replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
      - name: sidecar
        image: busybox
        command: ["sleep", "infinity"]
"#
    )
}

fn configmap(name: &str, data: &[(&str, &str)]) -> String {
    let mut doc = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n");
    for (k, v) in data {
        doc.push_str(&format!("  {k}: {v:?}\n"));
    }
    doc
}

fn managed_fields(obj: &Value) -> Vec<Value> {
    obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no metadata.managedFields in {obj:#}"))
}

/// Whether the whitespace-separated columns of `line` begin with `expected`.
fn row_starts(line: &str, expected: &[&str]) -> bool {
    let cols: Vec<&str> = line.split_whitespace().collect();
    cols.starts_with(expected)
}

/// managedFields of `what`, fetched with `--show-managed-fields`.
fn managed_fields_of(c: &TestCluster, what: &[&str]) -> Vec<Value> {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", "json", "--show-managed-fields"]);
    managed_fields(&c.kubectl(&args).success().json())
}

/// `KUBECTL_APPLYSET=true kubectl apply --server-side --applyset=configmap/gitops-set --prune` of `docs`.
fn apply_set(c: &TestCluster, docs: &[String]) -> KubectlOutput {
    c.kubectl_stdin_env(
        &[
            "apply",
            "--server-side",
            "--applyset=configmap/gitops-set",
            "--prune",
            "-f",
            "-",
        ],
        &docs.join("---\n"),
        &[("KUBECTL_APPLYSET", "true")],
    )
}

/// `kubectl patch <kind> <name> --type <patch_type> -p <body>` in the test namespace.
fn patch(c: &TestCluster, kind: &str, name: &str, patch_type: &str, body: &str) -> KubectlOutput {
    c.kubectl(&["patch", kind, name, "--type", patch_type, "-p", body])
}

fn replicas(c: &TestCluster) -> i64 {
    c.get_json(&["deployment", "web"])["spec"]["replicas"]
        .as_i64()
        .unwrap()
}

/// Defaults a real API server fills in are visible in `get -o json`.
fn deployment_and_service_defaults(c: &TestCluster) {
    c.apply(&deployment(2))
        .success()
        .stdout_has("deployment.apps/web serverside-applied");
    c.apply(
        r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
  - name: dns
    port: 53
    protocol: UDP
    targetPort: 5353
"#,
    )
    .success()
    .stdout_has("service/web serverside-applied");

    let deploy = c.get_json(&["deployment", "web"]);
    let meta = &deploy["metadata"];
    assert_eq!(meta["generation"], 1, "{meta:#}");
    assert!(
        meta["uid"].as_str().is_some_and(|u| u.len() == 36),
        "{meta:#}"
    );
    assert!(
        meta["resourceVersion"]
            .as_str()
            .is_some_and(|rv| !rv.is_empty())
    );
    assert!(
        meta["creationTimestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let mut spec = deploy["spec"].clone();
    // `template.metadata.creationTimestamp: null` is a Go serialisation artefact whose presence
    // differs between versions; it carries no meaning.
    if let Some(m) = spec["template"]["metadata"].as_object_mut() {
        m.remove("creationTimestamp");
    }
    // Both kubectl variants must see the same object.
    insta::allow_duplicates! {
        insta::assert_json_snapshot!(spec, @r#"
        {
          "progressDeadlineSeconds": 600,
          "replicas": 2,
          "revisionHistoryLimit": 10,
          "selector": {
            "matchLabels": {
              "app": "web"
            }
          },
          "strategy": {
            "rollingUpdate": {
              "maxSurge": "25%",
              "maxUnavailable": "25%"
            },
            "type": "RollingUpdate"
          },
          "template": {
            "metadata": {
              "labels": {
                "app": "web"
              }
            },
            "spec": {
              "containers": [
                {
                  "image": "nginx:1.27",
                  "imagePullPolicy": "IfNotPresent",
                  "name": "web",
                  "ports": [
                    {
                      "containerPort": 80,
                      "protocol": "TCP"
                    }
                  ],
                  "resources": {},
                  "terminationMessagePath": "/dev/termination-log",
                  "terminationMessagePolicy": "File"
                },
                {
                  "command": [
                    "sleep",
                    "infinity"
                  ],
                  "image": "busybox",
                  "imagePullPolicy": "Always",
                  "name": "sidecar",
                  "resources": {},
                  "terminationMessagePath": "/dev/termination-log",
                  "terminationMessagePolicy": "File"
                }
              ],
              "dnsPolicy": "ClusterFirst",
              "restartPolicy": "Always",
              "schedulerName": "default-scheduler",
              "securityContext": {},
              "terminationGracePeriodSeconds": 30
            }
          }
        }
        "#);
    }

    let svc = c.get_json(&["service", "web"]);
    let mut spec = svc["spec"].clone();
    let ip = spec["clusterIP"].as_str().unwrap_or_default().to_string();
    assert!(
        ip.parse::<std::net::Ipv4Addr>().is_ok(),
        "clusterIP {ip:?} is not an IPv4 address: {spec:#}"
    );
    assert_eq!(spec["clusterIPs"], json!([ip]), "{spec:#}");
    spec["clusterIP"] = json!("[ip]");
    spec["clusterIPs"] = json!(["[ip]"]);
    // Both kubectl variants must see the same object.
    insta::allow_duplicates! {
        insta::assert_json_snapshot!(spec, @r#"
        {
          "clusterIP": "[ip]",
          "clusterIPs": [
            "[ip]"
          ],
          "internalTrafficPolicy": "Cluster",
          "ipFamilies": [
            "IPv4"
          ],
          "ipFamilyPolicy": "SingleStack",
          "ports": [
            {
              "name": "http",
              "port": 80,
              "protocol": "TCP",
              "targetPort": 80
            },
            {
              "name": "dns",
              "port": 53,
              "protocol": "UDP",
              "targetPort": 5353
            }
          ],
          "selector": {
            "app": "web"
          },
          "sessionAffinity": "None",
          "type": "ClusterIP"
        }
        "#);
    }
}

/// StatefulSet, DaemonSet and Job get their workload defaults; a Job gets its generated selector.
fn statefulset_daemonset_job_defaults(c: &TestCluster) {
    let template = "  template:\n    metadata:\n      labels:\n        app: w\n    spec:\n      \
                    containers:\n      - name: w\n        image: busybox:1.36\n        \
                    command: [\"sleep\", \"infinity\"]\n";
    let selector = "  selector:\n    matchLabels:\n      app: w\n";
    c.apply(&format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: st\nspec:\n  serviceName: st\n{selector}{template}"
    ))
    .success();
    c.apply(&format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: ds\nspec:\n{selector}{template}"
    ))
    .success();
    c.apply(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\nspec:\n  template:\n    spec:\n      \
         restartPolicy: Never\n      containers:\n      - name: once\n        image: busybox:1.36\n        \
         command: [\"true\"]\n",
    )
    .success();

    let st = c.get_json(&["statefulset", "st"])["spec"].clone();
    assert_eq!(st["replicas"], 1, "{st:#}");
    assert_eq!(st["podManagementPolicy"], "OrderedReady", "{st:#}");
    assert_eq!(st["revisionHistoryLimit"], 10, "{st:#}");
    assert_eq!(
        st["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
        "{st:#}"
    );
    assert_eq!(
        st["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
        "{st:#}"
    );
    assert_eq!(
        st["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );

    let ds = c.get_json(&["daemonset", "ds"])["spec"].clone();
    assert_eq!(ds["revisionHistoryLimit"], 10, "{ds:#}");
    assert_eq!(
        ds["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
        "{ds:#}"
    );
    assert_eq!(
        ds["template"]["spec"]["dnsPolicy"], "ClusterFirst",
        "{ds:#}"
    );

    let job = c.get_json(&["job", "once"]);
    let spec = &job["spec"];
    assert_eq!(spec["backoffLimit"], 6, "{spec:#}");
    assert_eq!(spec["completions"], 1, "{spec:#}");
    assert_eq!(spec["parallelism"], 1, "{spec:#}");
    assert_eq!(spec["completionMode"], "NonIndexed", "{spec:#}");
    assert_eq!(spec["suspend"], false, "{spec:#}");
    // JobPodReplacementPolicy is on by default from 1.29 (alpha in 1.28: no default).
    if c.server_minor() >= 29 {
        assert_eq!(
            spec["podReplacementPolicy"], "TerminatingOrFailed",
            "{spec:#}"
        );
    } else {
        assert_eq!(spec.get("podReplacementPolicy"), None, "{spec:#}");
    }
    let uid = job["metadata"]["uid"].as_str().unwrap();
    assert_eq!(
        spec["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"], uid,
        "the generated selector names the Job's uid: {spec:#}"
    );
    let labels = &spec["template"]["metadata"]["labels"];
    assert_eq!(labels["batch.kubernetes.io/job-name"], "once", "{labels:#}");
    assert_eq!(labels["job-name"], "once", "{labels:#}");
    assert_eq!(
        labels["batch.kubernetes.io/controller-uid"], uid,
        "{labels:#}"
    );
}

/// `apply --server-side` records an Apply entry for manager `kubectl` owning exactly what the
/// manifest set, not the defaults; managedFields are hidden unless asked for.
fn apply_records_managed_fields(c: &TestCluster) {
    c.apply(&deployment(2)).success();
    let hidden = c.get_json(&["deployment", "web"]);
    assert!(
        hidden["metadata"].get("managedFields").is_none(),
        "kubectl hides managedFields by default: {:#}",
        hidden["metadata"]
    );
    let entries = managed_fields_of(c, &["deployment", "web"]);
    let apply = entries
        .iter()
        .find(|e| e["manager"] == "kubectl" && e["operation"] == "Apply")
        .unwrap_or_else(|| panic!("no Apply entry for kubectl: {entries:#?}"));
    assert_eq!(apply["apiVersion"], "apps/v1", "{apply:#}");
    assert_eq!(apply["fieldsType"], "FieldsV1", "{apply:#}");
    assert!(apply.get("subresource").is_none(), "{apply:#}");
    assert!(
        apply["time"]
            .as_str()
            .is_some_and(|t| t.len() == 20 && t.ends_with('Z')),
        "time must be RFC 3339 seconds: {apply:#}"
    );
    let fields = &apply["fieldsV1"];
    assert_eq!(fields["f:spec"]["f:replicas"], json!({}), "{fields:#}");
    assert_eq!(
        fields["f:metadata"]["f:labels"]["f:app"],
        json!({}),
        "{fields:#}"
    );
    // LabelSelector is an atomic struct: owned as a whole.
    assert_eq!(fields["f:spec"]["f:selector"], json!({}), "{fields:#}");
    let web = &fields["f:spec"]["f:template"]["f:spec"]["f:containers"][r#"k:{"name":"web"}"#];
    assert_eq!(web["."], json!({}), "{fields:#}");
    assert_eq!(web["f:image"], json!({}), "{fields:#}");
    assert_eq!(web["f:name"], json!({}), "{fields:#}");
    assert_eq!(
        web["f:ports"][r#"k:{"containerPort":80,"protocol":"TCP"}"#]["f:containerPort"],
        json!({}),
        "{fields:#}"
    );
    // Defaults belong to nobody.
    for defaulted in [
        "f:revisionHistoryLimit",
        "f:progressDeadlineSeconds",
        "f:strategy",
    ] {
        assert!(
            fields["f:spec"].get(defaulted).is_none(),
            "{defaulted} was defaulted, not applied: {fields:#}"
        );
    }
    assert!(web.get("f:imagePullPolicy").is_none(), "{fields:#}");
    assert!(fields.get("f:status").is_none(), "{fields:#}");

    // Re-applying the same manifest is a no-op: no new generation.
    c.apply(&deployment(2)).success();
    assert_eq!(
        c.get_json(&["deployment", "web"])["metadata"]["generation"],
        1
    );

    // Fields the applier stops sending are removed: a label and a whole container.
    let with_label = deployment(2).replacen(
        "  labels:\n    app: web\n",
        "  labels:\n    app: web\n    tier: front\n",
        1,
    );
    c.apply(&with_label).success();
    assert_eq!(
        c.get_json(&["deployment", "web"])["metadata"]["labels"]["tier"],
        "front"
    );
    let full = deployment(2);
    let without_sidecar = &full[..full.find("      - name: sidecar").unwrap()];
    c.apply(without_sidecar).success();
    let d = c.get_json(&["deployment", "web"]);
    assert_eq!(d["metadata"]["labels"], json!({"app": "web"}), "{d:#}");
    let names: Vec<&str> = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web"], "{d:#}");
    assert_eq!(
        d["metadata"]["generation"], 2,
        "only the container removal touched spec"
    );
}

/// Client-side `apply` keeps the last-applied annotation and merges three ways; a later
/// `apply --server-side` takes the fields over without conflicts (kubectl migrates the
/// managedFields first) and the server keeps the annotation in step.
fn client_side_apply_then_server_side(c: &TestCluster) {
    const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        &configmap("csa", &[("a", "1"), ("b", "2")]),
    )
    .success()
    .stdout_has("configmap/csa created");
    let cm = c.get_json(&["configmap", "csa"]);
    let last: Value = serde_json::from_str(
        cm["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["data"], json!({"a": "1", "b": "2"}), "{cm:#}");
    let entries = managed_fields_of(c, &["configmap", "csa"]);
    assert!(
        entries
            .iter()
            .any(|e| e["manager"] == "kubectl-client-side-apply" && e["operation"] == "Update"),
        "{entries:#?}"
    );

    // Dropping b from the manifest deletes it; c is added.
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        &configmap("csa", &[("a", "1"), ("c", "3")]),
    )
    .success()
    .stdout_has("configmap/csa configured");
    assert_eq!(
        c.get_json(&["configmap", "csa"])["data"],
        json!({"a": "1", "c": "3"})
    );
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        &configmap("csa", &[("a", "1"), ("c", "3")]),
    )
    .success()
    .stdout_has("configmap/csa unchanged");

    c.apply(&configmap("csa", &[("a", "9"), ("c", "3")]))
        .success()
        .stdout_has("configmap/csa serverside-applied");
    let cm = c.get_json(&["configmap", "csa"]);
    assert_eq!(cm["data"], json!({"a": "9", "c": "3"}));
    let last: Value = serde_json::from_str(
        cm["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        last["data"],
        json!({"a": "9", "c": "3"}),
        "the annotation follows server-side apply"
    );
    let entries = managed_fields_of(c, &["configmap", "csa"]);
    let apply = entries
        .iter()
        .find(|e| e["manager"] == "kubectl" && e["operation"] == "Apply")
        .unwrap_or_else(|| panic!("{entries:#?}"));
    assert_eq!(apply["fieldsV1"]["f:data"]["f:a"], json!({}), "{apply:#}");
    assert!(
        !entries
            .iter()
            .any(|e| e["manager"] == "kubectl-client-side-apply"
                && e["fieldsV1"]["f:data"].get("f:a").is_some()),
        "kubectl moved the client-side fields to its Apply entry: {entries:#?}"
    );
}

/// `diff --server-side` exits 0 when live equals the manifest, 1 with the change shown.
fn diff_server_side_exit_codes(c: &TestCluster) {
    c.apply(&deployment(2)).success();
    // Let status settle so only our change can differ.
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .success();
    let same = c.kubectl_stdin(&["diff", "--server-side", "-f", "-"], &deployment(2));
    let same = same.code_is(0);
    assert_eq!(same.stdout.trim(), "", "no diff expected\n{same}");

    let changed = c
        .kubectl_stdin(&["diff", "--server-side", "-f", "-"], &deployment(3))
        .code_is(1);
    let lines = changed.lines();
    assert!(lines.contains(&"-  replicas: 2"), "{changed}");
    assert!(lines.contains(&"+  replicas: 3"), "{changed}");
    assert!(lines.contains(&"-  generation: 1"), "{changed}");
    assert!(lines.contains(&"+  generation: 2"), "{changed}");
    // The diff is a dry run: nothing changed.
    assert_eq!(replicas(c), 2);
}

/// `scale` makes a second manager own `.spec.replicas`; applying another value conflicts and
/// names it; `--force-conflicts` takes ownership over.
fn scale_then_apply_conflicts_until_forced(c: &TestCluster) {
    c.apply(&deployment(2)).success();
    c.kubectl(&["scale", "deployment/web", "--replicas=5"])
        .success()
        .stdout_has("deployment.apps/web scaled");
    assert_eq!(replicas(c), 5);
    let entries = managed_fields_of(c, &["deployment", "web"]);
    // kubectl scale sets no field manager: the server takes the user agent's product name,
    // which is the name kubectl was run as.
    let scaler = entries
        .iter()
        .find(|e| e["subresource"] == "scale")
        .unwrap_or_else(|| {
            panic!("no managedFields entry for the scale subresource: {entries:#?}")
        });
    let ua_manager = c.kubectl_user_agent_name();
    assert_eq!(scaler["manager"], ua_manager.as_str(), "{scaler:#}");
    assert_eq!(scaler["operation"], "Update", "{scaler:#}");
    assert_eq!(scaler["apiVersion"], "apps/v1", "{scaler:#}");
    assert_eq!(
        scaler["fieldsV1"],
        json!({"f:spec": {"f:replicas": {}}}),
        "{scaler:#}"
    );
    let apply = entries
        .iter()
        .find(|e| e["operation"] == "Apply")
        .unwrap_or_else(|| panic!("no Apply entry: {entries:#?}"));
    assert!(
        apply["fieldsV1"]["f:spec"].get("f:replicas").is_none(),
        "{apply:#}"
    );

    // Same value as live: no conflict (shared ownership).
    c.apply(&deployment(5)).success();

    c.apply(&deployment(3))
        .code_is(1)
        .stderr_has(&format!(
            r#"Apply failed with 1 conflict: conflict with "{ua_manager}" with subresource "scale" using apps/v1: .spec.replicas"#
        ))
        .stderr_has("--force-conflicts");
    assert_eq!(replicas(c), 5, "a conflicting apply must change nothing");

    c.kubectl_stdin(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        &deployment(3),
    )
    .success()
    .stdout_has("deployment.apps/web serverside-applied");
    assert_eq!(replicas(c), 3);
    let entries = managed_fields_of(c, &["deployment", "web"]);
    assert!(
        !entries
            .iter()
            .any(|e| e["subresource"] == "scale"
                && e["fieldsV1"]["f:spec"].get("f:replicas").is_some()),
        "the scale manager must lose .spec.replicas: {entries:#?}"
    );
    let apply = entries
        .iter()
        .find(|e| e["manager"] == "kubectl" && e["operation"] == "Apply")
        .unwrap();
    assert_eq!(
        apply["fieldsV1"]["f:spec"]["f:replicas"],
        json!({}),
        "{apply:#}"
    );
}

/// Merge, strategic merge and JSON patches with their distinct list semantics.
fn patch_merge_strategic_json(c: &TestCluster) {
    c.apply(&deployment(2)).success();

    // Strategic: containers merge by name.
    patch(c, "deployment", "web", "strategic", r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}"#)
    .success()
    .stdout_has("deployment.apps/web patched");
    let d = c.get_json(&["deployment", "web"]);
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    let images: Vec<&str> = containers
        .iter()
        .map(|c| c["image"].as_str().unwrap())
        .collect();
    assert_eq!(images, ["nginx:1.27", "busybox:1.36"], "{d:#}");
    assert_eq!(containers[1]["command"], json!(["sleep", "infinity"]));
    assert_eq!(d["metadata"]["generation"], 2);

    // A metadata-only change does not bump generation.
    patch(
        c,
        "deployment",
        "web",
        "merge",
        r#"{"metadata":{"labels":{"patched":"yes"}}}"#,
    )
    .success();
    let d = c.get_json(&["deployment", "web"]);
    assert_eq!(d["metadata"]["labels"]["patched"], "yes");
    assert_eq!(
        d["metadata"]["generation"], 2,
        "metadata changes keep generation"
    );

    // Merge: lists are replaced wholesale; the new container is defaulted.
    patch(
        c,
        "deployment",
        "web",
        "merge",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"nginx:latest"}]}}}}"#,
    )
    .success();
    let d = c.get_json(&["deployment", "web"]);
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1, "{d:#}");
    assert_eq!(containers[0]["name"], "only");
    assert_eq!(
        containers[0]["imagePullPolicy"], "Always",
        ":latest pulls always"
    );
    assert_eq!(containers[0]["terminationMessagePolicy"], "File");
    assert_eq!(d["metadata"]["generation"], 3);

    // JSON patch: ordered operations.
    patch(c, "deployment", "web", "json", r#"[{"op":"replace","path":"/spec/replicas","value":4},{"op":"add","path":"/metadata/labels/tier","value":"front"}]"#)
    .success();
    let d = c.get_json(&["deployment", "web"]);
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(d["metadata"]["labels"]["tier"], "front");

    // A failing `test` op applies nothing, not even the operations before it.
    let generation = d["metadata"]["generation"].clone();
    patch(c, "deployment", "web", "json", r#"[{"op":"replace","path":"/spec/replicas","value":1},{"op":"test","path":"/spec/replicas","value":99}]"#)
    .failure();
    let d = c.get_json(&["deployment", "web"]);
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(d["metadata"]["generation"], generation);

    // Merge patch null deletes a key.
    c.apply(&configmap("settings", &[("a", "1"), ("b", "2")]))
        .success();
    patch(
        c,
        "configmap",
        "settings",
        "merge",
        r#"{"data":{"a":null,"c":"3"}}"#,
    )
    .success()
    .stdout_has("configmap/settings patched");
    let cm = c.get_json(&["configmap", "settings"]);
    assert_eq!(cm["data"], json!({"b": "2", "c": "3"}));
    // Nothing else writes ConfigMaps, so a refused patch must leave the resourceVersion alone.
    patch(
        c,
        "configmap",
        "settings",
        "json",
        r#"[{"op":"remove","path":"/data/b"},{"op":"test","path":"/data/c","value":"4"}]"#,
    )
    .failure();
    let after = c.get_json(&["configmap", "settings"]);
    assert_eq!(after["data"], cm["data"]);
    assert_eq!(
        after["metadata"]["resourceVersion"],
        cm["metadata"]["resourceVersion"]
    );
}

/// Names are validated per kind with the API server's messages, answered 422.
fn invalid_names_are_rejected(c: &TestCluster) {
    let bad_cm = configmap("Bad_Name", &[("a", "1")]);
    let out = c
        .kubectl_stdin(&["create", "-f", "-", "-v=6"], &bad_cm)
        .code_is(1);
    out.stderr_has("422 Unprocessable Entity")
        .stderr_has(r#"ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"#);

    // Services need a DNS-1035 label: a leading digit is a valid subdomain but not a label.
    c.kubectl_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: 1web\nspec:\n  ports:\n  - port: 80\n",
    )
    .code_is(1)
    .stderr_has(r#"Service "1web" is invalid: metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character"#);

    // Same through server-side apply.
    c.apply(&bad_cm)
        .code_is(1)
        .stderr_has(r#"ConfigMap "Bad_Name" is invalid"#);
    let names = c.kubectl(&["get", "configmaps", "-o", "name"]).success();
    assert!(!names.stdout.contains("Bad_Name"), "{names}");
}

/// A workload's `spec.selector` cannot change, ReplicaSet's included (its strategy refuses it
/// for every group-version but the removed extensions/v1beta1); the object is left as it was.
fn workload_selectors_are_immutable(c: &TestCluster) {
    let replica_set = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: rs\nspec:\n  replicas: 0\n  selector:\n    matchLabels:\n      app: a\n  template:\n    metadata:\n      labels:\n        app: a\n        tier: x\n    spec:\n      containers:\n      - name: c\n        image: busybox\n";
    c.kubectl_stdin(&["create", "-f", "-"], replica_set)
        .success();
    patch(
        c,
        "replicaset",
        "rs",
        "merge",
        r#"{"spec":{"selector":{"matchLabels":{"app":"a","tier":"x"}}}}"#,
    )
    .code_is(1)
    .stderr_has(r#"The ReplicaSet "rs" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"a", "tier":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#);
    let selector = c
        .kubectl(&["get", "replicaset", "rs", "-o", "jsonpath={.spec.selector}"])
        .success();
    assert_eq!(
        selector.stdout, r#"{"matchLabels":{"app":"a"}}"#,
        "{selector}"
    );
}

/// Namespaced writes into a namespace that does not exist are NotFound; reads list nothing.
fn missing_namespace_is_not_found(c: &TestCluster) {
    let ns = format!("nosuch-{}", common::random_suffix());
    let cm = configmap("orphan", &[("a", "1")]);
    // The same name exists in the test namespace, which must not leak into the missing one.
    c.kubectl_stdin(&["create", "-f", "-"], &cm).success();
    let out = c
        .kubectl_raw_stdin(&["-n", &ns, "create", "-f", "-"], &cm)
        .code_is(1);
    out.stderr_has("Error from server (NotFound)")
        .stderr_has(&format!(r#"namespaces "{ns}" not found"#));
    c.kubectl_raw_stdin(&["-n", &ns, "apply", "--server-side", "-f", "-"], &cm)
        .code_is(1)
        .stderr_has(&format!(r#"namespaces "{ns}" not found"#));
    // Listing in a missing namespace is not an error on a real server.
    c.kubectl_raw(&["-n", &ns, "get", "configmaps"])
        .success()
        .stderr_has(&format!("No resources found in {ns} namespace."));
    // A read of a named object in a missing namespace: the server answers that the object is
    // not found (reads do not check the namespace) ...
    c.kubectl_raw(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/{ns}/configmaps/orphan"),
    ])
    .code_is(1)
    .stderr_has(r#"Error from server (NotFound): configmaps "orphan" not found"#);
    // ... and kubectl (1.28 and 1.33 alike) follows that 404 with a GET of the namespace and
    // reports the missing namespace instead.
    c.kubectl_raw(&["-n", &ns, "get", "configmap", "orphan"])
        .code_is(1)
        .stderr_has(&format!(
            r#"Error from server (NotFound): namespaces "{ns}" not found"#
        ));
}

/// A second create of the same name is AlreadyExists and leaves the first object alone.
fn create_twice_already_exists(c: &TestCluster) {
    c.kubectl_stdin(
        &["create", "-f", "-"],
        &configmap("once", &[("v", "first")]),
    )
    .success()
    .stdout_has("configmap/once created");
    c.kubectl_stdin(
        &["create", "-f", "-"],
        &configmap("once", &[("v", "second")]),
    )
    .code_is(1)
    .stderr_has("Error from server (AlreadyExists)")
    .stderr_has(r#"configmaps "once" already exists"#);
    c.kubectl(&["create", "configmap", "once", "--from-literal=v=third"])
        .code_is(1)
        .stderr_has(r#"configmaps "once" already exists"#);
    assert_eq!(c.get_json(&["configmap", "once"])["data"]["v"], "first");
}

/// kubectl's typed `create <kind>` subcommands (protobuf request bodies from kubectl 1.33 on).
fn typed_create_subcommands(c: &TestCluster) {
    let ns = c.unique_name("kgo-e2e-typed-");
    c.track_cluster_scoped("namespace", &ns);
    c.kubectl_raw(&["create", "namespace", &ns])
        .success()
        .stdout_has(&format!("namespace/{ns} created"));
    let created = c
        .kubectl_raw(&["get", "namespace", &ns, "-o", "json"])
        .success()
        .json();
    assert_eq!(created["status"]["phase"], "Active", "{created:#}");

    c.kubectl(&[
        "create",
        "configmap",
        "literal",
        "--from-literal=k=v",
        "--from-literal=n=1",
    ])
    .success()
    .stdout_has("configmap/literal created");
    assert_eq!(
        c.get_json(&["configmap", "literal"])["data"],
        json!({"k": "v", "n": "1"})
    );

    c.kubectl(&[
        "create",
        "secret",
        "generic",
        "token",
        "--from-literal=password=s3cret",
    ])
    .success()
    .stdout_has("secret/token created");
    let secret = c.get_json(&["secret", "token"]);
    assert_eq!(secret["type"], "Opaque", "{secret:#}");
    assert_eq!(
        secret["data"]["password"], "czNjcmV0",
        "base64 of s3cret: {secret:#}"
    );

    c.kubectl(&[
        "create",
        "deployment",
        "made",
        "--image=nginx:1.27",
        "--replicas=2",
    ])
    .success()
    .stdout_has("deployment.apps/made created");
    let made = c.get_json(&["deployment", "made"]);
    assert_eq!(made["spec"]["replicas"], 2);
    assert_eq!(made["spec"]["selector"]["matchLabels"]["app"], "made");
    assert_eq!(
        made["spec"]["revisionHistoryLimit"], 10,
        "defaults apply: {made:#}"
    );
    let entries = managed_fields_of(c, &["deployment", "made"]);
    assert!(
        entries
            .iter()
            .any(|e| e["manager"] == "kubectl-create" && e["operation"] == "Update"),
        "{entries:#?}"
    );
}

/// `-l` with =, !=, in, notin, exists and !exists; lists come back sorted by name.
fn label_selectors(c: &TestCluster) {
    let objects = [
        ("delta", "suite: sel"),
        ("bravo", "suite: sel\n    app: web\n    tier: back"),
        ("alpha", "suite: sel\n    app: web\n    tier: front"),
        ("charlie", "suite: sel\n    app: db"),
    ];
    for (name, labels) in objects {
        c.apply(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels:\n    {labels}\n"
        ))
        .success();
    }
    let select = |selector: &str| -> Vec<String> {
        c.kubectl(&["get", "configmaps", "-l", selector, "-o", "name"])
            .success()
            .lines()
            .iter()
            .map(|l| l.trim_start_matches("configmap/").to_string())
            .collect()
    };
    assert_eq!(select("app=web"), ["alpha", "bravo"]);
    assert_eq!(select("app==web"), ["alpha", "bravo"]);
    assert_eq!(select("suite=sel,app!=web"), ["charlie", "delta"]);
    assert_eq!(select("app in (web,db)"), ["alpha", "bravo", "charlie"]);
    assert_eq!(
        select("suite=sel,tier notin (front)"),
        ["bravo", "charlie", "delta"]
    );
    assert_eq!(select("tier"), ["alpha", "bravo"]);
    assert_eq!(select("suite=sel,!tier"), ["charlie", "delta"]);
    assert_eq!(select("app=web,tier=back"), ["bravo"]);
    assert!(select("app=none").is_empty());
    // A malformed selector is the server's 400, not an empty list.
    c.kubectl(&["get", "configmaps", "-l", "app in web"])
        .failure();

    // Field selectors: metadata.name works for every kind; other fields are refused.
    let by_field = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["get", "configmaps", "-o", "name"];
        args.extend_from_slice(extra);
        c.kubectl(&args)
            .success()
            .lines()
            .iter()
            .map(|l| l.trim_start_matches("configmap/").to_string())
            .collect()
    };
    assert_eq!(
        by_field(&["--field-selector", "metadata.name=bravo"]),
        ["bravo"]
    );
    assert_eq!(
        by_field(&[
            "--field-selector",
            "metadata.name!=bravo",
            "-l",
            "suite=sel"
        ]),
        ["alpha", "charlie", "delta"]
    );
    // ConfigMaps have no field label conversion of their own: the default one answers (as
    // kube-apiserver 1.28 does); Pods have theirs, with its own words.
    c.kubectl(&["get", "configmaps", "--field-selector", "data.x=1"])
        .code_is(1)
        .stderr_has(
            r#""data.x" is not a known field selector: only "metadata.name", "metadata.namespace""#,
        );
    c.kubectl(&["get", "pods", "--field-selector", "data.x=1"])
        .code_is(1)
        .stderr_has("field label not supported: data.x");

    // Pagination: limit and continue, in name order; with a selector the remaining count is
    // unknown, so it is left out.
    let base = format!(
        "/api/v1/namespaces/{}/configmaps?labelSelector=suite%3Dsel&limit=3",
        c.namespace()
    );
    let page = c.kubectl_raw(&["get", "--raw", &base]).success().json();
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&page), ["alpha", "bravo", "charlie"], "{page:#}");
    assert_eq!(page["kind"], "ConfigMapList");
    let token = page["metadata"]["continue"].as_str().unwrap_or_default();
    assert!(
        !token.is_empty(),
        "a partial page carries a continue token: {page:#}"
    );
    assert!(
        page["metadata"].get("remainingItemCount").is_none(),
        "{page:#}"
    );
    let rest = c
        .kubectl_raw(&["get", "--raw", &format!("{base}&continue={token}")])
        .success()
        .json();
    assert_eq!(names(&rest), ["delta"], "{rest:#}");
    assert!(
        rest["metadata"]["continue"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "the last page has no continue token: {rest:#}"
    );
}

/// `get -w` prints the current state, then each change as it happens.
fn get_watch_streams_changes(c: &TestCluster) {
    c.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: w1\n  labels:\n    suite: watch\ndata:\n  a: \"1\"\n",
    )
    .success();
    let mut watch = c.spawn_kubectl(&[
        "get",
        "configmaps",
        "-l",
        "suite=watch",
        "--watch",
        "--output-watch-events",
    ]);
    watch.expect_line(WAIT, |l| row_starts(l, &["EVENT", "NAME", "DATA", "AGE"]));
    watch.expect_line(WAIT, |l| row_starts(l, &["ADDED", "w1", "1"]));

    patch(c, "configmap", "w1", "merge", r#"{"data":{"b":"2"}}"#).success();
    watch.expect_line(WAIT, |l| row_starts(l, &["MODIFIED", "w1", "2"]));

    c.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: w2\n  labels:\n    suite: watch\n",
    )
    .success();
    watch.expect_line(WAIT, |l| row_starts(l, &["ADDED", "w2", "0"]));

    // Objects outside the selector never show up; the next event after this one must be w2's.
    c.apply(&configmap("unrelated", &[("x", "1")])).success();
    c.kubectl(&["delete", "configmap", "w2"]).success();
    let next = watch.expect_line(WAIT, |_| true);
    assert!(
        row_starts(&next, &["DELETED", "w2"]),
        "expected w2's deletion, got {next:?}"
    );
}

/// `delete` removes; a second delete is NotFound unless `--ignore-not-found`.
fn delete_removes_objects(c: &TestCluster) {
    c.apply(&configmap("doomed", &[("a", "1")])).success();
    c.apply(&deployment(1)).success();
    c.kubectl(&["delete", "configmap", "doomed"])
        .success()
        .stdout_has(r#"configmap "doomed" deleted"#);
    c.kubectl(&["get", "configmap", "doomed"])
        .code_is(1)
        .stderr_has(r#"Error from server (NotFound): configmaps "doomed" not found"#);
    c.kubectl(&["delete", "configmap", "doomed"])
        .code_is(1)
        .stderr_has(r#"configmaps "doomed" not found"#);
    c.kubectl(&["delete", "configmap", "doomed", "--ignore-not-found"])
        .success();
    // --wait (the default) watches until the object is gone.
    c.kubectl_stdin(&["delete", "-f", "-", "--timeout=30s"], &deployment(1))
        .success()
        .stdout_has(r#"deployment.apps "web" deleted"#);
    c.kubectl(&["get", "deployments", "-o", "name"])
        .success()
        .stdout
        .lines()
        .for_each(|l| assert_ne!(l, "deployment.apps/web"));

    // A namespace goes with its contents; `delete` waits until it is gone.
    let ns = c.unique_name("kgo-e2e-del-");
    c.track_cluster_scoped("namespace", &ns);
    c.kubectl_raw_stdin(
        &["create", "-f", "-"],
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
    )
    .success();
    c.kubectl_raw_stdin(
        &["-n", &ns, "create", "-f", "-"],
        &configmap("inside", &[("a", "1")]),
    )
    .success();
    c.kubectl_raw(&["delete", "namespace", &ns, "--timeout=60s"])
        .success()
        .stdout_has(&format!(r#"namespace "{ns}" deleted"#));
    c.kubectl_raw(&["get", "namespace", &ns])
        .code_is(1)
        .stderr_has(&format!(r#"namespaces "{ns}" not found"#));
    c.kubectl_raw(&["-n", &ns, "get", "configmaps"])
        .success()
        .stderr_has(&format!("No resources found in {ns} namespace."));
}

/// A CRD makes its kind served: CRs apply, and resolve by plural, kind and short name.
fn crd_then_custom_resource(c: &TestCluster) {
    let suffix = common::random_suffix();
    let group = format!("g{suffix}.kgo-e2e.example.com");
    let short = format!("wd{suffix}");
    let crd_name = format!("widgets.{group}");
    c.track_cluster_scoped("customresourcedefinition", &crd_name);
    c.apply(&format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {crd_name}
spec:
  group: {group}
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [{short}]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size:
                type: integer
              color:
                type: string
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    subresources:
      status: {{}}
"#
    ))
    .success()
    .stdout_has(&format!(
        "customresourcedefinition.apiextensions.k8s.io/{crd_name} serverside-applied"
    ));
    c.kubectl_raw(&[
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        &format!("crd/{crd_name}"),
    ])
    .success()
    .stdout_has("condition met");

    c.apply(&format!(
        "apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: gear\nspec:\n  size: 3\n  color: red\n"
    ))
    .success()
    .stdout_has(&format!("widget.{group}/gear serverside-applied"));

    let by_plural = c.get_json(&[&format!("widgets.{group}"), "gear"]);
    assert_eq!(by_plural["apiVersion"], format!("{group}/v1"));
    assert_eq!(by_plural["kind"], "Widget");
    assert_eq!(by_plural["spec"], json!({"size": 3, "color": "red"}));
    assert_eq!(by_plural["metadata"]["namespace"], c.namespace());
    assert_eq!(by_plural["metadata"]["generation"], 1);
    c.kubectl(&["get", &short, "gear", "-o", "name"])
        .success()
        .stdout_has(&format!("widget.{group}/gear"));
    c.kubectl(&["get", &format!("widget.{group}"), "gear", "-o", "name"])
        .success()
        .stdout_has(&format!("widget.{group}/gear"));
    // The table carries the CRD's printer columns; with any declared, the server adds no Age.
    let table = c.kubectl(&["get", &short]).success();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows, [["NAME", "SIZE"], ["gear", "3"]], "{table}");

    // Custom resources take merge patches but not strategic ones: 415 with the accepted types.
    patch(c, &short, "gear", "strategic", r#"{"spec":{"size":4}}"#)
        .code_is(1)
        .stderr_has("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml");
    patch(c, &short, "gear", "merge", r#"{"spec":{"size":4}}"#).success();
    let gear = c.get_json(&[&short, "gear"]);
    assert_eq!(gear["spec"]["size"], 4);
    assert_eq!(gear["metadata"]["generation"], 2);
    c.kubectl_raw(&["api-resources", "--api-group", &group, "--no-headers"])
        .success()
        .stdout_has("widgets");
}

/// `--dry-run=server` answers as if it wrote, and writes nothing.
fn dry_run_server_writes_nothing(c: &TestCluster) {
    c.kubectl_stdin(
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        &configmap("ghost", &[("a", "1")]),
    )
    .success()
    .stdout_has("configmap/ghost serverside-applied (server dry run)");
    c.kubectl(&["get", "configmap", "ghost"])
        .code_is(1)
        .stderr_has(r#"configmaps "ghost" not found"#);

    // A dry-run create answers with the defaulted object.
    let preview = c
        .kubectl_stdin(
            &["create", "--dry-run=server", "-o", "json", "-f", "-"],
            &deployment(2),
        )
        .success()
        .json();
    assert_eq!(preview["spec"]["revisionHistoryLimit"], 10, "{preview:#}");
    c.kubectl(&["get", "deployment", "web"]).code_is(1);

    c.apply(&deployment(2)).success();
    let before = c.get_json(&["deployment", "web"]);
    c.kubectl(&[
        "scale",
        "deployment/web",
        "--replicas=7",
        "--dry-run=server",
    ])
    .success()
    .stdout_has("deployment.apps/web scaled (server dry run)");
    c.kubectl_stdin(
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        &deployment(9),
    )
    .success();
    c.kubectl(&["delete", "deployment", "web", "--dry-run=server"])
        .success()
        .stdout_has("(server dry run)");
    let after = c.get_json(&["deployment", "web"]);
    assert_eq!(after["spec"]["replicas"], 2);
    assert_eq!(
        after["metadata"]["generation"],
        before["metadata"]["generation"]
    );
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
}

/// Discovery: `api-resources` lists kinds with short names; the usual namespaces exist.
fn api_resources_and_namespaces(c: &TestCluster) {
    let out = c.kubectl_raw(&["api-resources"]).success();
    let rows: Vec<Vec<&str>> = out
        .lines()
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"],
        "{out}"
    );
    for expected in [
        ["configmaps", "cm", "v1", "true", "ConfigMap"],
        ["namespaces", "ns", "v1", "false", "Namespace"],
        ["services", "svc", "v1", "true", "Service"],
        ["deployments", "deploy", "apps/v1", "true", "Deployment"],
        ["statefulsets", "sts", "apps/v1", "true", "StatefulSet"],
        ["daemonsets", "ds", "apps/v1", "true", "DaemonSet"],
        [
            "customresourcedefinitions",
            "crd,crds",
            "apiextensions.k8s.io/v1",
            "false",
            "CustomResourceDefinition",
        ],
    ] {
        assert!(
            rows.iter().any(|r| r[..] == expected),
            "no row {expected:?}\n{out}"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r[..] == ["secrets", "v1", "true", "Secret"]),
        "secrets have no short name\n{out}"
    );
    let names = c
        .kubectl_raw(&["api-resources", "--api-group=apps", "-o", "name"])
        .success();
    assert!(names.lines().contains(&"deployments.apps"), "{names}");

    let ns = c
        .kubectl_raw(&["get", "namespaces", "-o", "name"])
        .success();
    for expected in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        c.namespace(),
    ] {
        assert!(
            ns.lines()
                .contains(&format!("namespace/{expected}").as_str()),
            "{ns}"
        );
    }
    let mine = c
        .kubectl_raw(&["get", "namespace", c.namespace(), "-o", "json"])
        .success()
        .json();
    assert_eq!(mine["status"]["phase"], "Active", "{mine:#}");
    assert_eq!(
        mine["spec"]["finalizers"],
        json!(["kubernetes"]),
        "{mine:#}"
    );
    assert_eq!(
        mine["metadata"]["labels"]["kubernetes.io/metadata.name"],
        c.namespace(),
        "{mine:#}"
    );
}

/// `edit` runs $EDITOR on the object's YAML and persists the edit.
fn edit_with_editor_script(c: &TestCluster) {
    c.apply(&configmap("editable", &[("color", "blue"), ("size", "m")]))
        .success();
    let script = c.scratch().join("editor.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nsed -i 's/color: blue/color: green/' \"$1\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let editor = script.to_str().unwrap();
    c.kubectl_env(&["edit", "configmap", "editable"], &[("EDITOR", editor)])
        .success()
        .stdout_has("configmap/editable edited");
    let cm = c
        .kubectl(&[
            "get",
            "configmap",
            "editable",
            "-o",
            "json",
            "--show-managed-fields",
        ])
        .success()
        .json();
    assert_eq!(cm["data"], json!({"color": "green", "size": "m"}));
    let entries = managed_fields(&cm);
    let edit = entries
        .iter()
        .find(|e| e["manager"] == "kubectl-edit")
        .unwrap_or_else(|| panic!("no kubectl-edit manager: {entries:#?}"));
    assert_eq!(edit["operation"], "Update");
    assert_eq!(edit["fieldsV1"]["f:data"]["f:color"], json!({}), "{edit:#}");

    // An editor that changes nothing: kubectl reports it and sends nothing.
    let rv = cm["metadata"]["resourceVersion"].clone();
    c.kubectl_env(&["edit", "configmap", "editable"], &[("EDITOR", "true")])
        .success()
        .stderr_has("Edit cancelled, no changes made.");
    assert_eq!(
        c.get_json(&["configmap", "editable"])["metadata"]["resourceVersion"],
        rv
    );
}

/// `get -o yaml` output is the object; replacing with a stale copy is a 409 Conflict.
fn get_yaml_round_trips_with_optimistic_concurrency(c: &TestCluster) {
    c.apply(&configmap("roundtrip", &[("k", "v1")])).success();
    let yaml = c
        .kubectl(&["get", "configmap", "roundtrip", "-o", "yaml"])
        .success()
        .stdout;
    let json = c.get_json(&["configmap", "roundtrip"]);
    let parsed: Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(parsed, json, "YAML and JSON views differ\n{yaml}");

    // Someone else changes it: the copy we hold is stale.
    c.kubectl(&["label", "configmap", "roundtrip", "touched=yes"])
        .success();
    let stale = yaml.replace("k: v1", "k: v2");
    c.kubectl_stdin(&["replace", "-f", "-"], &stale)
        .code_is(1)
        .stderr_has("Error from server (Conflict)")
        .stderr_has(r#"Operation cannot be fulfilled on configmaps "roundtrip": the object has been modified; please apply your changes to the latest version and try again"#);

    let fresh = c
        .kubectl(&["get", "configmap", "roundtrip", "-o", "yaml"])
        .success()
        .stdout;
    c.kubectl_stdin(&["replace", "-f", "-"], &fresh.replace("k: v1", "k: v2"))
        .success()
        .stdout_has("configmap/roundtrip replaced");
    let now = c.get_json(&["configmap", "roundtrip"]);
    assert_eq!(now["data"]["k"], "v2");
    assert_eq!(now["metadata"]["labels"]["touched"], "yes");
    assert_eq!(now["metadata"]["uid"], json["metadata"]["uid"]);
    assert_ne!(
        now["metadata"]["resourceVersion"],
        json["metadata"]["resourceVersion"]
    );
}

/// A Deployment's status follows its spec, so `rollout status` completes.
fn rollout_status_follows_spec(c: &TestCluster) {
    c.apply(&deployment(2)).success();
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .success()
        .stdout_has(r#"deployment "web" successfully rolled out"#);
    // The whole object as kubectl shows it once rolled out, as a real 1.33 cluster shows it.
    let yaml = c
        .kubectl(&["get", "deployment", "web", "-o", "yaml"])
        .success()
        .stdout;
    insta::with_settings!({filters => vec![
        (r"uid: [0-9a-f-]{36}", "uid: [uid]"),
        (r#""\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ""#, "[time]"),
        (r#"resourceVersion: "\d+""#, "resourceVersion: [rv]"),
        (r"kgo-e2e-[0-9a-f]{8}", "[namespace]"),
        (r#"ReplicaSet "web-[a-z0-9]+""#, "ReplicaSet \"web-[hash]\""),
        // A Go serialisation artefact whose presence differs between versions.
        (r"\n +creationTimestamp: null", ""),
    ]}, {
        // Both kubectl variants must see the same object.
    insta::allow_duplicates! {
        insta::assert_snapshot!(yaml, @r#"
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              annotations:
                deployment.kubernetes.io/revision: "1"
              creationTimestamp: [time]
              generation: 1
              labels:
                app: web
              name: web
              namespace: [namespace]
              resourceVersion: [rv]
              uid: [uid]
            spec:
              progressDeadlineSeconds: 600
              replicas: 2
              revisionHistoryLimit: 10
              selector:
                matchLabels:
                  app: web
              strategy:
                rollingUpdate:
                  maxSurge: 25%
                  maxUnavailable: 25%
                type: RollingUpdate
              template:
                metadata:
                  labels:
                    app: web
                spec:
                  containers:
                  - image: nginx:1.27
                    imagePullPolicy: IfNotPresent
                    name: web
                    ports:
                    - containerPort: 80
                      protocol: TCP
                    resources: {}
                    terminationMessagePath: /dev/termination-log
                    terminationMessagePolicy: File
                  - command:
                    - sleep
                    - infinity
                    image: busybox
                    imagePullPolicy: Always
                    name: sidecar
                    resources: {}
                    terminationMessagePath: /dev/termination-log
                    terminationMessagePolicy: File
                  dnsPolicy: ClusterFirst
                  restartPolicy: Always
                  schedulerName: default-scheduler
                  securityContext: {}
                  terminationGracePeriodSeconds: 30
            status:
              availableReplicas: 2
              conditions:
              - lastTransitionTime: [time]
                lastUpdateTime: [time]
                message: Deployment has minimum availability.
                reason: MinimumReplicasAvailable
                status: "True"
                type: Available
              - lastTransitionTime: [time]
                lastUpdateTime: [time]
                message: ReplicaSet "web-[hash]" has successfully progressed.
                reason: NewReplicaSetAvailable
                status: "True"
                type: Progressing
              observedGeneration: 1
              readyReplicas: 2
              replicas: 2
              updatedReplicas: 2
            "#);
    }
    });
    let d = c.get_json(&["deployment", "web"]);
    let status = &d["status"];
    assert_eq!(
        status["observedGeneration"], d["metadata"]["generation"],
        "{status:#}"
    );
    for field in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        assert_eq!(status[field], 2, "status.{field}: {status:#}");
    }
    let conditions = status["conditions"].as_array().unwrap();
    let cond = |t: &str| {
        conditions
            .iter()
            .find(|c| c["type"] == t)
            .unwrap_or_else(|| panic!("no {t} condition: {status:#}"))
    };
    assert_eq!(cond("Available")["status"], "True");
    assert_eq!(cond("Progressing")["status"], "True");
    assert_eq!(cond("Progressing")["reason"], "NewReplicaSetAvailable");
    c.kubectl(&[
        "wait",
        "--for=condition=Available",
        "--timeout=30s",
        "deployment/web",
    ])
    .success()
    .stdout_has("deployment.apps/web condition met");
    // Status is not writable through the main resource: the patch is a no-op.
    patch(
        c,
        "deployment",
        "web",
        "merge",
        r#"{"status":{"replicas":9}}"#,
    )
    .success()
    .stdout_has("deployment.apps/web patched (no change)");
    assert_eq!(c.get_json(&["deployment", "web"])["status"]["replicas"], 2);
    let row = c
        .kubectl(&["get", "deployment", "web", "--no-headers"])
        .success();
    let cols: Vec<&str> = row.stdout.split_whitespace().collect();
    assert_eq!(cols[..4], ["web", "2/2", "2", "2"], "{row}");

    c.kubectl(&["scale", "deployment/web", "--replicas=3"])
        .success();
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .success();
    let ready = poll_until(WAIT, "readyReplicas 3", || {
        let d = c.get_json(&["deployment", "web"]);
        (d["status"]["readyReplicas"] == 3).then_some(d)
    });
    assert_eq!(
        ready["status"]["observedGeneration"],
        ready["metadata"]["generation"]
    );
}

/// `kubectl version -o json` against `c`.
fn kubectl_version(c: &TestCluster) -> Value {
    c.kubectl_raw(&["version", "-o", "json"]).success().json()
}

/// The sandbox reports Kubernetes `1.<minor>` at /version.
#[track_caller]
fn assert_server_minor(v: &Value, minor: &str) {
    let server = &v["serverVersion"];
    assert_eq!(server["major"], "1", "{v:#}");
    assert_eq!(server["minor"], minor, "{v:#}");
    let git = server["gitVersion"].as_str().unwrap_or_default();
    assert!(git.starts_with(&format!("v1.{minor}.")), "{v:#}");
}

/// The dispatcher picks kubectl by the server's version: 1.28 when the server says 1.28.
#[test]
fn dispatcher_runs_kubectl_1_28_for_a_1_28_server() {
    let c = TestCluster::start_with_kube_version("1.28");
    let v = kubectl_version(&c);
    assert_eq!(v["clientVersion"]["minor"], "28", "{v:#}");
    if !c.is_real() {
        assert_server_minor(&v, "28");
    }
}

/// By default the sandbox reports 1.33, so the dispatcher runs kubectl 1.33.
#[test]
fn dispatcher_runs_kubectl_1_33_by_default() {
    let c = TestCluster::start();
    let v = kubectl_version(&c);
    if c.is_real() {
        assert!(v["serverVersion"]["minor"].is_string(), "{v:#}");
    } else {
        assert_eq!(v["clientVersion"]["minor"], "33", "{v:#}");
        assert_server_minor(&v, "33");
    }
}

/// kubectl's ApplySet (KEP-3659) against the server: a labelled parent, labelled members, and
/// pruning of members that left the set.
fn applyset_prune(c: &TestCluster) {
    let set = |docs: &[String]| apply_set(c, docs);
    let a = configmap("member-a", &[("k", "a")]);
    let b = configmap("member-b", &[("k", "b")]);
    set(&[a.clone(), b.clone(), deployment(1)])
        .success()
        .stdout_has("configmap/member-b serverside-applied");
    let parent = c.get_json(&["configmap", "gitops-set"]);
    let id = parent["metadata"]["labels"]["applyset.kubernetes.io/id"]
        .as_str()
        .unwrap_or_else(|| panic!("parent has no applyset id label: {parent:#}"))
        .to_string();
    assert!(id.starts_with("applyset-") && id.ends_with("-v1"), "{id}");
    let annotations = &parent["metadata"]["annotations"];
    assert!(
        annotations["applyset.kubernetes.io/tooling"]
            .as_str()
            .is_some_and(|t| t.starts_with("kubectl/v1.")),
        "{parent:#}"
    );
    // kubectl 1.28 records resources, newer kubectl records kinds.
    assert!(
        annotations["applyset.kubernetes.io/contains-group-kinds"] == "ConfigMap,Deployment.apps"
            || annotations["applyset.kubernetes.io/contains-group-resources"]
                == "configmaps,deployments.apps",
        "{parent:#}"
    );
    for what in [
        ["configmap", "member-a"],
        ["configmap", "member-b"],
        ["deployment", "web"],
    ] {
        let obj = c.get_json(&what);
        assert_eq!(
            obj["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
            id.as_str(),
            "{obj:#}"
        );
    }

    set(&[a, deployment(1)])
        .success()
        .stdout_has("configmap/member-b pruned");
    c.kubectl(&["get", "configmap", "member-b"])
        .code_is(1)
        .stderr_has(r#"configmaps "member-b" not found"#);
    c.kubectl(&["get", "configmap", "member-a"]).success();
    c.kubectl(&["get", "deployment", "web"]).success();
}
