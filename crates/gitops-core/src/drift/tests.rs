//! Table-driven tests of the two comparison entry points.

use serde_json::{Value, json};

use super::*;

fn id(group: &str, kind: &str, name: &str) -> ResourceId {
    ResourceId {
        group: group.into(),
        kind: kind.into(),
        namespace: Some("prod".into()),
        name: name.into(),
    }
}

pub(super) fn deployment_id() -> ResourceId {
    id("apps", "Deployment", "web")
}

/// A Deployment as written in git.
fn desired_web() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"},
            "annotations": {"example.com/x": "1"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "web", "image": "web:1", "args": ["--port", "80"],
                        "ports": [{"containerPort": 80}],
                        "env": [{"name": "LOG_LEVEL", "value": "info"}],
                        "resources": {"limits": {"cpu": "1000m", "memory": "1Gi"},
                            "requests": {"cpu": "0.5"}},
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                    }],
                    "tolerations": [{"key": "spot", "operator": "Exists"}],
                    "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1e3"}}]
                }
            }
        }
    })
}

/// The same Deployment as the API server returns it: defaults filled in, bookkeeping and
/// tracking keys added, quantities canonicalized, containers listed in another order.
fn live_web() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "uid": "1234", "resourceVersion": "99",
            "generation": 3, "creationTimestamp": "2026-11-01T00:00:00Z",
            "labels": {"app": "web", "applyset.kubernetes.io/part-of": "applyset-abc"},
            "annotations": {"example.com/x": "1", "deployment.kubernetes.io/revision": "4",
                "kubectl-gitops.io/revision": "0123abcd", "kubectl-gitops.io/source": "web.yaml#0"},
            "managedFields": [
                {"manager": "kubectl-gitops", "operation": "Apply", "fieldsV1": {"f:spec": {}}},
                {"manager": "horizontal-pod-autoscaler", "operation": "Update",
                 "fieldsV1": {"f:spec": {"f:replicas": {}}}}
            ]},
        "spec": {
            "replicas": 2, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "proxy", "image": "proxy:1"},
                        {
                            "name": "web", "image": "web:1", "args": ["--port", "80"],
                            "imagePullPolicy": "IfNotPresent",
                            "terminationMessagePath": "/dev/termination-log",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "LOG_LEVEL", "value": "info"}],
                            "resources": {"limits": {"cpu": "1", "memory": "1024Mi"},
                                "requests": {"cpu": "500m"}},
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                        }
                    ],
                    "tolerations": [{"key": "spot", "operator": "Exists", "effect": ""}],
                    "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1k"}}],
                    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"
                }
            }
        },
        "status": {"replicas": 2, "readyReplicas": 2}
    })
}

/// Name, desired, live, expected (path, op).
type ClientCase = (&'static str, Value, Value, Vec<(String, ChangeOp)>);
/// Path, op, live value, desired value.
type ExpectedChange = (&'static str, ChangeOp, Option<Value>, Option<Value>);
/// Name, dry-run result, expected changes.
type ServerCase = (&'static str, Value, Vec<ExpectedChange>);

const WEB: &str = "spec.template.spec.containers[name=web]";

/// Sets the value at an RFC 6901 pointer (`-` appends); the parent must exist.
fn set(mut object: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let key = key.replace("~1", "/").replace("~0", "~");
    match object.pointer_mut(parent).unwrap() {
        Value::Object(map) => {
            map.insert(key, value);
        }
        Value::Array(items) if key == "-" => items.push(value),
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        _ => panic!("{parent} is not a container"),
    }
    object
}

const LIVE_WEB: &str = "/spec/template/spec/containers/1";
const DESIRED_WEB: &str = "/spec/template/spec/containers/0";

#[test]
fn client_comparison_table() {
    let env_added = set(
        live_web(),
        &format!("{LIVE_WEB}/env"),
        json!([{"name": "LOG_LEVEL", "value": "info"}, {"name": "EXTRA", "value": "1"}]),
    );
    let cases: Vec<ClientCase> = vec![
        (
            "defaults, tracking keys and status are not drift",
            desired_web(),
            live_web(),
            vec![],
        ),
        (
            "replicas changed",
            desired_web(),
            set(live_web(), "/spec/replicas", json!(5)),
            vec![("spec.replicas".into(), ChangeOp::Replace)],
        ),
        (
            "container image changed, found by key",
            desired_web(),
            set(live_web(), &format!("{LIVE_WEB}/image"), json!("web:2")),
            vec![(format!("{WEB}.image"), ChangeOp::Replace)],
        ),
        (
            "env var added live is not drift",
            desired_web(),
            env_added,
            vec![],
        ),
        (
            "env var changed is drift",
            desired_web(),
            set(
                live_web(),
                &format!("{LIVE_WEB}/env/0/value"),
                json!("debug"),
            ),
            vec![(
                format!("{WEB}.env[name=LOG_LEVEL].value"),
                ChangeOp::Replace,
            )],
        ),
        (
            "desired env var missing live",
            set(
                desired_web(),
                &format!("{DESIRED_WEB}/env"),
                json!([{"name": "LOG_LEVEL", "value": "info"}, {"name": "NEW", "value": "1"}]),
            ),
            live_web(),
            vec![(format!("{WEB}.env[name=NEW]"), ChangeOp::Add)],
        ),
        (
            "list compared whole: one arg changed",
            desired_web(),
            set(live_web(), &format!("{LIVE_WEB}/args/1"), json!("8080")),
            vec![(format!("{WEB}.args"), ChangeOp::Replace)],
        ),
        (
            "list compared whole: extra live item",
            desired_web(),
            set(
                live_web(),
                &format!("{LIVE_WEB}/args"),
                json!(["--port", "80", "-v"]),
            ),
            vec![(format!("{WEB}.args"), ChangeOp::Replace)],
        ),
        (
            "list compared whole: item differs beyond defaults",
            desired_web(),
            set(
                live_web(),
                "/spec/template/spec/tolerations/0/operator",
                json!("Equal"),
            ),
            vec![("spec.template.spec.tolerations".into(), ChangeOp::Replace)],
        ),
        (
            "quantities equal by value",
            set(
                desired_web(),
                &format!("{DESIRED_WEB}/resources/limits/memory"),
                json!("1073741824"),
            ),
            live_web(),
            vec![],
        ),
        (
            "quantities unequal",
            desired_web(),
            set(
                live_web(),
                &format!("{LIVE_WEB}/resources/limits/cpu"),
                json!("2"),
            ),
            vec![(format!("{WEB}.resources.limits.cpu"), ChangeOp::Replace)],
        ),
        (
            "quantity-looking values outside quantity fields compared exactly",
            set(desired_web(), "/metadata/labels/size", json!("1Gi")),
            set(live_web(), "/metadata/labels/size", json!("1024Mi")),
            vec![("metadata.labels.size".into(), ChangeOp::Replace)],
        ),
        (
            "numbers 1 and 1.0 equal",
            set(desired_web(), "/spec/replicas", json!(2.0)),
            live_web(),
            vec![],
        ),
        (
            "field missing live",
            set(desired_web(), "/spec/minReadySeconds", json!(5)),
            live_web(),
            vec![("spec.minReadySeconds".into(), ChangeOp::Add)],
        ),
        (
            "container missing live",
            set(
                desired_web(),
                "/spec/template/spec/initContainers",
                json!([{"name": "init", "image": "busybox"}]),
            ),
            live_web(),
            vec![("spec.template.spec.initContainers".into(), ChangeOp::Add)],
        ),
        (
            "annotation key with dots is quoted",
            desired_web(),
            set(
                live_web(),
                "/metadata/annotations/example.com~1x",
                json!("2"),
            ),
            vec![(
                r#"metadata.annotations["example.com/x"]"#.into(),
                ChangeOp::Replace,
            )],
        ),
        (
            "zero values the server omits are not drift",
            set(
                desired_web(),
                &format!("{DESIRED_WEB}/volumeMounts/0"),
                json!({"name": "data", "mountPath": "/data", "readOnly": false, "subPath": ""}),
            ),
            live_web(),
            vec![],
        ),
        (
            "a set boolean missing live is drift",
            set(
                desired_web(),
                &format!("{DESIRED_WEB}/volumeMounts/0"),
                json!({"name": "data", "mountPath": "/data", "readOnly": true}),
            ),
            live_web(),
            vec![(
                format!("{WEB}.volumeMounts[mountPath=/data].readOnly"),
                ChangeOp::Add,
            )],
        ),
        (
            "empty desired map satisfied by absent live field",
            set(
                desired_web(),
                "/spec/template/spec/securityContext",
                json!({}),
            ),
            live_web(),
            vec![],
        ),
    ];
    for (name, desired, live, expected) in cases {
        let result = compare_client(&deployment_id(), &desired, &live, &[]).unwrap();
        let got: Vec<(String, ChangeOp)> = result
            .changes
            .iter()
            .map(|change| (change.path.to_string(), change.op))
            .collect();
        assert_eq!(got, expected, "{name}");
        let paths: Vec<String> = expected.into_iter().map(|(path, _)| path).collect();
        assert_eq!(result.fields, paths, "{name}: fields");
        assert_eq!(result.is_drifted(), !paths.is_empty(), "{name}: state");
        assert_eq!(result.strategy, Strategy::Client);
        // The projection is the overlay, also where compare_client skips building it.
        let [d, l] =
            prepare_objects(&deployment_id(), Some(&live), [&desired, &live], &[]).unwrap();
        assert_eq!(
            result.desired,
            client::overlay(
                &ListKeys::of("apps", "Deployment"),
                &d,
                &l,
                &FieldPath::root()
            ),
            "{name}: projection"
        );
    }
}

#[test]
fn client_container_missing_live_by_key() {
    let desired = set(
        desired_web(),
        "/spec/template/spec/containers/-",
        json!({"name": "sidecar", "image": "s:1"}),
    );
    let result = compare_client(&deployment_id(), &desired, &live_web(), &[]).unwrap();
    assert_eq!(
        result.fields,
        vec!["spec.template.spec.containers[name=sidecar]".to_owned()]
    );
    assert_eq!(result.changes[0].op, ChangeOp::Add);
    assert_eq!(result.changes[0].live, None);
}

#[test]
fn client_service_and_configmap_keys() {
    let svc_desired = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
    let svc_live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.1",
            "ports": [{"port": 443, "protocol": "TCP", "targetPort": 8443},
                      {"port": 80, "protocol": "TCP", "targetPort": 8080}]}});
    let svc = compare_client(&id("", "Service", "web"), &svc_desired, &svc_live, &[]).unwrap();
    assert_eq!(svc.fields, Vec::<String>::new());
    let svc_changed = set(svc_live.clone(), "/spec/ports/1/targetPort", json!(9090));
    let svc = compare_client(&id("", "Service", "web"), &svc_desired, &svc_changed, &[]).unwrap();
    assert_eq!(
        svc.fields,
        vec!["spec.ports[port=80,protocol=TCP].targetPort"]
    );

    let cm = |level: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
            "data": {"LOG_LEVEL": level, "config.yaml": "a: 1"}})
    };
    let result = compare_client(
        &id("", "ConfigMap", "settings"),
        &cm("info"),
        &cm("debug"),
        &[],
    )
    .unwrap();
    assert_eq!(result.fields, vec!["data.LOG_LEVEL"]);
    assert_eq!(result.changes[0].live, Some(json!("debug")));
    assert_eq!(result.changes[0].desired, Some(json!("info")));
}

/// Lists are keyed by the kind's own markers (k8s_model::merge): a Deployment's
/// topologySpreadConstraints are a list-map, so a constraint another manager added live is
/// not drift and a changed one is reported by its key; a NetworkPolicy's ingress rules and
/// their ports are atomic, so an extra live port is drift of the whole `spec.ingress`. Custom
/// resources key pod-spec lists by field name.
#[test]
fn client_lists_keyed_by_the_kinds_markers() {
    let spread = |key: &str, skew: i64| json!({"topologyKey": key, "whenUnsatisfiable": "DoNotSchedule", "maxSkew": skew});
    let desired = set(
        desired_web(),
        "/spec/template/spec/topologySpreadConstraints",
        json!([spread("zone", 1)]),
    );
    let live = set(
        live_web(),
        "/spec/template/spec/topologySpreadConstraints",
        json!([spread("host", 1), spread("zone", 1)]),
    );
    let result = compare_client(&deployment_id(), &desired, &live, &[]).unwrap();
    assert_eq!(result.fields, Vec::<String>::new());
    let changed = set(
        live,
        "/spec/template/spec/topologySpreadConstraints/1/maxSkew",
        json!(2),
    );
    let result = compare_client(&deployment_id(), &desired, &changed, &[]).unwrap();
    assert_eq!(
        result.fields,
        vec![
            "spec.template.spec.topologySpreadConstraints[topologyKey=zone,whenUnsatisfiable=DoNotSchedule].maxSkew"
        ]
    );

    let policy = |ports: Value| {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "web"}, "spec": {"ingress": [{"ports": ports}]}})
    };
    let port = |n: i64| json!({"port": n, "protocol": "TCP"});
    let result = compare_client(
        &id("networking.k8s.io", "NetworkPolicy", "web"),
        &policy(json!([port(80)])),
        &policy(json!([port(443), port(80)])),
        &[],
    )
    .unwrap();
    assert_eq!(result.fields, vec!["spec.ingress"]);

    let alertmanager = |containers: Value| {
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Alertmanager",
            "metadata": {"name": "main"}, "spec": {"containers": containers}})
    };
    let container = |name: &str| json!({"name": name, "image": "busybox"});
    let result = compare_client(
        &id("monitoring.coreos.com", "Alertmanager", "main"),
        &alertmanager(json!([container("config-reloader")])),
        &alertmanager(json!([container("injected"), container("config-reloader")])),
        &[],
    )
    .unwrap();
    assert_eq!(result.fields, Vec::<String>::new());
}

#[test]
fn client_projection_shows_only_drift() {
    let live = set(live_web(), "/spec/replicas", json!(5));
    let desired = set(
        desired_web(),
        &format!("{DESIRED_WEB}/env/-"),
        json!({"name": "NEW", "value": "1"}),
    );
    let result = compare_client(&deployment_id(), &desired, &live, &[]).unwrap();
    let mut expected = normalized(&live);
    expected["spec"]["replicas"] = json!(2);
    expected["spec"]["template"]["spec"]["containers"][1]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "NEW", "value": "1"}));
    assert_eq!(result.desired, expected);
    assert_eq!(result.live, normalized(&live));
}

#[test]
fn ignore_rules_in_comparisons() {
    let live = set(live_web(), "/spec/replicas", json!(7));
    let cases: Vec<(&str, IgnoreRule, Vec<&str>)> = vec![
        ("no rule", IgnoreRule::default(), vec!["spec.replicas"]),
        (
            "json pointer",
            IgnoreRule {
                json_pointers: vec!["/spec/replicas".into()],
                ..Default::default()
            },
            vec![],
        ),
        (
            "managedFields manager",
            IgnoreRule {
                managed_fields_managers: vec!["horizontal-pod-autoscaler".into()],
                ..Default::default()
            },
            vec![],
        ),
        (
            "rule for another name",
            IgnoreRule {
                name: Some("api".into()),
                json_pointers: vec!["/spec/replicas".into()],
                ..Default::default()
            },
            vec!["spec.replicas"],
        ),
    ];
    for (name, rule, expected) in cases {
        let rules = [rule];
        let client = compare_client(&deployment_id(), &desired_web(), &live, &rules).unwrap();
        assert_eq!(client.fields, expected, "client: {name}");
        let dry_run = set(live_web(), "/spec/replicas", json!(2));
        let server =
            compare_server(&deployment_id(), &desired_web(), &live, &dry_run, &rules).unwrap();
        assert_eq!(server.fields, expected, "server: {name}");
    }
}

#[test]
fn server_changes_table() {
    let base = live_web();
    let cases: Vec<ServerCase> = vec![
        ("same object", base.clone(), vec![]),
        (
            "replace",
            set(base.clone(), "/spec/replicas", json!(3)),
            vec![(
                "spec.replicas",
                ChangeOp::Replace,
                Some(json!(2)),
                Some(json!(3)),
            )],
        ),
        (
            "add field",
            set(base.clone(), "/metadata/labels/tier", json!("front")),
            vec![(
                "metadata.labels.tier",
                ChangeOp::Add,
                None,
                Some(json!("front")),
            )],
        ),
        (
            "remove field",
            set(base.clone(), "/metadata/annotations", json!({"other": "2"})),
            vec![
                (
                    "metadata.annotations.other",
                    ChangeOp::Add,
                    None,
                    Some(json!("2")),
                ),
                (
                    r#"metadata.annotations["example.com/x"]"#,
                    ChangeOp::Remove,
                    Some(json!("1")),
                    None,
                ),
            ],
        ),
        (
            "emptied map removed whole",
            set(base.clone(), "/metadata/annotations", json!({})),
            vec![(
                "metadata.annotations",
                ChangeOp::Remove,
                Some(json!({"example.com/x": "1"})),
                None,
            )],
        ),
        (
            "keyed item added and removed",
            set(
                base.clone(),
                "/spec/template/spec/containers/0",
                json!({"name": "logger", "image": "log:1"}),
            ),
            vec![
                (
                    "spec.template.spec.containers[name=logger]",
                    ChangeOp::Add,
                    None,
                    Some(json!({"name": "logger", "image": "log:1"})),
                ),
                (
                    "spec.template.spec.containers[name=proxy]",
                    ChangeOp::Remove,
                    Some(json!({"name": "proxy", "image": "proxy:1"})),
                    None,
                ),
            ],
        ),
        (
            "keyed item field replaced",
            set(
                base.clone(),
                &format!("{LIVE_WEB}/ports/0/containerPort"),
                json!(81),
            ),
            vec![
                (
                    "spec.template.spec.containers[name=web].ports[containerPort=81,protocol=TCP]",
                    ChangeOp::Add,
                    None,
                    Some(json!({"containerPort": 81, "protocol": "TCP"})),
                ),
                (
                    "spec.template.spec.containers[name=web].ports[containerPort=80,protocol=TCP]",
                    ChangeOp::Remove,
                    Some(json!({"containerPort": 80, "protocol": "TCP"})),
                    None,
                ),
            ],
        ),
        (
            "list by index: appended",
            set(
                base.clone(),
                &format!("{LIVE_WEB}/args"),
                json!(["--port", "80", "-v"]),
            ),
            vec![(
                "spec.template.spec.containers[name=web].args[2]",
                ChangeOp::Add,
                None,
                Some(json!("-v")),
            )],
        ),
        (
            "list by index: shortened",
            set(base.clone(), &format!("{LIVE_WEB}/args"), json!(["--port"])),
            vec![(
                "spec.template.spec.containers[name=web].args[1]",
                ChangeOp::Remove,
                Some(json!("80")),
                None,
            )],
        ),
        (
            "list by index: element replaced",
            set(base.clone(), &format!("{LIVE_WEB}/args/1"), json!("81")),
            vec![(
                "spec.template.spec.containers[name=web].args[1]",
                ChangeOp::Replace,
                Some(json!("80")),
                Some(json!("81")),
            )],
        ),
        (
            "tracking annotations differ only",
            set(
                base.clone(),
                "/metadata/annotations/kubectl-gitops.io~1revision",
                json!("ff"),
            ),
            vec![],
        ),
    ];
    for (name, dry_run, expected) in cases {
        let result =
            compare_server(&deployment_id(), &desired_web(), &base, &dry_run, &[]).unwrap();
        let got: Vec<(String, ChangeOp, Option<Value>, Option<Value>)> = result
            .changes
            .iter()
            .map(|c| (c.path.to_string(), c.op, c.live.clone(), c.desired.clone()))
            .collect();
        let expected: Vec<(String, ChangeOp, Option<Value>, Option<Value>)> = expected
            .into_iter()
            .map(|(path, op, live, desired)| (path.to_owned(), op, live, desired))
            .collect();
        assert_eq!(got, expected, "{name}");
        assert_eq!(result.strategy, Strategy::Server);
        assert_eq!(result.is_drifted(), !expected.is_empty(), "{name}");
    }
}

#[test]
fn changes_serialize_as_spec_json() {
    let dry_run = set(live_web(), "/spec/replicas", json!(3));
    let mut result =
        compare_server(&deployment_id(), &desired_web(), &live_web(), &dry_run, &[]).unwrap();
    let unattributed = json!([{"path": "spec.replicas", "op": "replace", "live": 2, "desired": 3,
        "liveManager": null, "liveOperation": null, "liveTime": null}]);
    assert_eq!(serde_json::to_value(&result.changes).unwrap(), unattributed);
    let mut live = live_web();
    live["metadata"]["managedFields"][1]["time"] = json!("2026-12-06T10:00:00Z");
    result.attribute_live_fields(&deployment_id(), &live);
    assert_eq!(
        serde_json::to_value(&result.changes).unwrap(),
        json!([{"path": "spec.replicas", "op": "replace", "live": 2, "desired": 3,
            "liveManager": "horizontal-pod-autoscaler", "liveOperation": "Update",
            "liveTime": "2026-12-06T10:00:00Z"}])
    );
    let added = set(live_web(), "/metadata/labels/tier", json!("front"));
    let mut result =
        compare_server(&deployment_id(), &desired_web(), &live_web(), &added, &[]).unwrap();
    // An added field is not live: no one set it, whoever owns its map.
    result.attribute_live_fields(&deployment_id(), &live_web());
    assert_eq!(
        serde_json::to_value(&result).unwrap(),
        json!({"strategy": "server", "fields": ["metadata.labels.tier"], "changes": [
            {"path": "metadata.labels.tier", "op": "add", "live": null, "desired": "front",
             "liveManager": null, "liveOperation": null, "liveTime": null}]})
    );
}

fn secret(data: Value, string_data: Option<Value>) -> Value {
    let mut object = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "prod"}, "type": "Opaque", "data": data});
    if let Some(string_data) = string_data {
        object["stringData"] = string_data;
    }
    object
}

#[test]
fn secrets_are_masked_everywhere() {
    // Plain values: "admin", "old-password", "new-password".
    let desired = secret(
        json!({"user": "YWRtaW4="}),
        Some(json!({"password": "new-password"})),
    );
    let mut live = secret(
        json!({"user": "YWRtaW4=", "password": "b2xkLXBhc3N3b3Jk"}),
        None,
    );
    // List items from the API server carry no kind: the identity still says Secret.
    live.as_object_mut().unwrap().remove("kind");
    let dry_run = secret(
        json!({"user": "YWRtaW4=", "password": "bmV3LXBhc3N3b3Jk"}),
        None,
    );
    let secret_id = id("", "Secret", "db");
    let server = compare_server(&secret_id, &desired, &live, &dry_run, &[]).unwrap();
    let client = compare_client(&secret_id, &desired, &live, &[]).unwrap();
    for result in [&server, &client] {
        assert_eq!(result.fields, vec!["data.password"]);
        let change = &result.changes[0];
        let (Some(Value::String(old)), Some(Value::String(new))) = (&change.live, &change.desired)
        else {
            panic!("masked strings expected: {change:?}");
        };
        assert!(old.chars().all(|c| c == '+') && old.len() >= 8, "{old}");
        assert!(new.chars().all(|c| c == '+') && new.len() >= 8, "{new}");
        assert_ne!(old, new, "changed values get distinct masks");
        assert_eq!(
            result.live["data"]["user"], result.desired["data"]["user"],
            "an unchanged value shares its mask"
        );
        let printed = format!(
            "{result:?} {} {} {}",
            serde_json::to_string(result).unwrap(),
            result.live_yaml().unwrap(),
            result.desired_yaml().unwrap()
        );
        for value in [
            "admin",
            "YWRtaW4=",
            "old-password",
            "b2xkLXBhc3N3b3Jk",
            "new-password",
            "bmV3LXBhc3N3b3Jk",
        ] {
            assert!(!printed.contains(value), "{value} leaked");
        }
    }
    // The kind taken from desired leads the live object, as in any manifest.
    let first_keys: Vec<&String> = client.live.as_object().unwrap().keys().take(2).collect();
    assert_eq!(first_keys, ["apiVersion", "kind"]);
    // Same value on both sides: in sync, though nothing is shown.
    let same = compare_client(&secret_id, &desired, &dry_run, &[]).unwrap();
    assert!(!same.is_drifted());
}

#[test]
fn yaml_keeps_stored_key_order() {
    let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings"}, "data": {"b": "2", "a": "1"}});
    let text = to_yaml(&object).unwrap();
    assert_eq!(
        text,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  b: \"2\"\n  a: \"1\"\n"
    );
    let parsed: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(parsed, object);
    // Multi-line values (config files in ConfigMaps) become block literals, diffable by line.
    let config = json!({"data": {"app.yaml": "a: 1\nb: 2\n"}});
    assert_eq!(
        to_yaml(&config).unwrap(),
        "data:\n  app.yaml: |\n    a: 1\n    b: 2\n"
    );
}

#[test]
fn quantity_fields_table() {
    let cases = [
        (
            "spec.template.spec.containers[name=web].resources.limits.cpu",
            true,
        ),
        ("spec.resources.requests.storage", true),
        ("spec.volumes[name=data].emptyDir.sizeLimit", true),
        ("spec.hard.pods", true),
        ("spec.limits[0].defaultRequest.memory", true),
        ("spec.replicas", false),
        ("metadata.labels.limits", false),
    ];
    for (dotted, expected) in cases {
        let mut path = FieldPath::root();
        for part in dotted.split('.') {
            let key = part.split('[').next().unwrap();
            path = path.key(key);
            if part.contains('[') {
                path = path.child(k8s_model::path::PathSegment::Index(0));
            }
        }
        assert_eq!(is_quantity_field(&path), expected, "{dotted}");
    }
}

#[test]
fn prepared_objects_for_display() {
    let secret_id = id("", "Secret", "db");
    let mut live = secret(json!({"password": "c2VjcmV0"}), None);
    live["metadata"]["managedFields"] = json!([{"manager": "kubectl", "fieldsV1": {}}]);
    live.as_object_mut().unwrap().remove("kind");
    let [shown] = prepare_objects(&secret_id, None, [&live], &[]).unwrap();
    assert_eq!(shown["data"]["password"], json!("++++++++"));
    assert_eq!(shown["kind"], Value::Null, "nothing to take the kind from");
    assert_eq!(shown["metadata"].get("managedFields"), None);
    let rule = IgnoreRule {
        json_pointers: vec!["/spec/replicas".into()],
        ..Default::default()
    };
    let [desired] = prepare_objects(&deployment_id(), None, [&desired_web()], &[rule]).unwrap();
    assert_eq!(desired.pointer("/spec/replicas"), None);
    assert_eq!(desired["kind"], json!("Deployment"));
}

#[test]
fn client_quantity_fields_of_other_kinds() {
    // (kind, desired, live, expected fields)
    let cases = [
        (
            "PersistentVolumeClaim",
            json!({"spec": {"resources": {"requests": {"storage": "1Gi"}}}}),
            json!({"spec": {"resources": {"requests": {"storage": "1024Mi"}},
                "volumeMode": "Filesystem"}}),
            vec![],
        ),
        (
            "PersistentVolumeClaim",
            json!({"spec": {"resources": {"requests": {"storage": "1Gi"}}}}),
            json!({"spec": {"resources": {"requests": {"storage": "1G"}}}}),
            vec!["spec.resources.requests.storage"],
        ),
        (
            "ResourceQuota",
            json!({"spec": {"hard": {"pods": 10, "requests.cpu": "4"}}}),
            json!({"spec": {"hard": {"pods": "10", "requests.cpu": "4000m"}}}),
            vec![],
        ),
        (
            "LimitRange",
            json!({"spec": {"limits": [{"type": "Container", "default": {"cpu": "0.5"}}]}}),
            json!({"spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"},
                "defaultRequest": {"cpu": "500m"}}]}}),
            vec![],
        ),
        (
            "LimitRange",
            json!({"spec": {"limits": [{"type": "Container", "max": {"memory": "1Gi"}}]}}),
            json!({"spec": {"limits": [{"type": "Container", "max": {"memory": "2Gi"}}]}}),
            vec!["spec.limits"],
        ),
    ];
    for (kind, desired, live, expected) in cases {
        let resource = id("", kind, "x");
        let result = compare_client(&resource, &desired, &live, &[]).unwrap();
        assert_eq!(result.fields, expected, "{kind}: {desired}");
    }
}
