//! Realistic Kubernetes objects for the benchmark tools, built as JSON values and written as
//! block-style YAML the way people write manifests by hand.
//!
//! Shared by the `workload` and `loadgen` examples through `#[path]`; each uses a part of it.
#![allow(dead_code)]

use base64::Engine;
use serde_json::{Map, Value, json};

/// A small deterministic generator (SplitMix64): the same seed gives the same repo and hashes
/// on every machine and every version of `rand`.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// What a Deployment (and its Service and config) is made from.
#[derive(Debug, Clone)]
pub struct AppSpec {
    /// Namespace of every object of the app.
    pub namespace: String,
    /// Name of the Deployment, Service and container.
    pub name: String,
    /// Image repository without tag.
    pub image_repo: String,
    /// Image tag, `major.minor.patch`.
    pub version: (u32, u32, u32),
    /// `spec.replicas`.
    pub replicas: u32,
    /// Container environment, in order.
    pub env: Vec<(String, String)>,
    /// CPU request in millicores (limit is four times it).
    pub cpu_millis: u32,
    /// Memory request in MiB (limit is twice it).
    pub memory_mib: u32,
    /// Container port.
    pub port: u16,
    /// Whether the container reads `<name>-config` through envFrom.
    pub uses_config: bool,
}

impl AppSpec {
    /// `repo:major.minor.patch`.
    pub fn image(&self) -> String {
        let (a, b, c) = self.version;
        format!("{}:{a}.{b}.{c}", self.image_repo)
    }
}

fn labels(app: &AppSpec) -> Value {
    json!({
        "app.kubernetes.io/name": app.name,
        "app.kubernetes.io/part-of": app.namespace,
        "app.kubernetes.io/managed-by": "kubectl-gitops",
    })
}

/// A `v1` Namespace.
pub fn namespace(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": name, "labels": { "team": name } },
    })
}

/// An `apps/v1` Deployment with one container, probes, resources and env.
pub fn deployment(app: &AppSpec) -> Value {
    let env: Vec<Value> = app
        .env
        .iter()
        .map(|(k, v)| json!({ "name": k, "value": v }))
        .collect();
    let mut container = json!({
        "name": app.name,
        "image": app.image(),
        "ports": [ { "name": "http", "containerPort": app.port } ],
        "env": env,
    });
    if app.uses_config {
        container["envFrom"] =
            json!([ { "configMapRef": { "name": format!("{}-config", app.name) } } ]);
    }
    container["resources"] = json!({
        "requests": { "cpu": format!("{}m", app.cpu_millis), "memory": format!("{}Mi", app.memory_mib) },
        "limits": { "cpu": format!("{}m", app.cpu_millis * 4), "memory": format!("{}Mi", app.memory_mib * 2) },
    });
    container["readinessProbe"] = json!({
        "httpGet": { "path": "/healthz", "port": "http" },
        "periodSeconds": 10,
    });
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": app.name, "namespace": app.namespace, "labels": labels(app) },
        "spec": {
            "replicas": app.replicas,
            "selector": { "matchLabels": { "app.kubernetes.io/name": app.name } },
            "template": {
                "metadata": { "labels": { "app.kubernetes.io/name": app.name } },
                "spec": { "containers": [ container ] },
            },
        },
    })
}

/// A ClusterIP `v1` Service in front of the app's `http` port.
pub fn service(app: &AppSpec) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": app.name, "namespace": app.namespace, "labels": labels(app) },
        "spec": {
            "type": "ClusterIP",
            "selector": { "app.kubernetes.io/name": app.name },
            "ports": [ { "name": "http", "port": 80, "targetPort": "http", "protocol": "TCP" } ],
        },
    })
}

/// A `v1` ConfigMap `<app>-config` with the given data.
pub fn config_map(app: &AppSpec, data: &[(String, String)]) -> Value {
    let data: Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": format!("{}-config", app.name), "namespace": app.namespace, "labels": labels(app) },
        "data": data,
    })
}

/// An Opaque `v1` Secret `<app>-credentials`; values are base64-encoded here.
pub fn secret(app: &AppSpec, data: &[(String, String)]) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let data: Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(b64.encode(v))))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": format!("{}-credentials", app.name), "namespace": app.namespace, "labels": labels(app) },
        "type": "Opaque",
        "data": data,
    })
}

/// The `application.properties` file and plain keys of an app's ConfigMap, about 1 KB.
pub fn config_data(
    app: &AppSpec,
    max_connections: u32,
    timeout_seconds: u32,
) -> Vec<(String, String)> {
    let mut props = String::new();
    for (k, v) in [
        ("server.port", app.port.to_string()),
        ("server.shutdown", "graceful".into()),
        ("spring.application.name", app.name.clone()),
        ("db.pool.max-connections", max_connections.to_string()),
        ("db.pool.timeout-seconds", timeout_seconds.to_string()),
        (
            "db.url",
            format!(
                "jdbc:postgresql://postgres.{}.svc:5432/{}",
                app.namespace,
                app.name.replace('-', "_")
            ),
        ),
        ("cache.ttl", "300s".into()),
        ("cache.size", "10000".into()),
        ("metrics.enabled", "true".into()),
        ("metrics.path", "/metrics".into()),
        ("tracing.sampler", "parentbased_traceidratio".into()),
        ("tracing.ratio", "0.05".into()),
        ("http.client.retries", "3".into()),
        ("http.client.backoff", "200ms".into()),
    ] {
        props.push_str(&format!("{k}={v}\n"));
    }
    vec![
        ("application.properties".into(), props),
        ("max_connections".into(), max_connections.to_string()),
        ("timeout_seconds".into(), timeout_seconds.to_string()),
        ("log_format".into(), "json".into()),
        ("region".into(), "eu-west-1".into()),
    ]
}

/// Block-style YAML for one document, keys in the value's order.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

/// Several documents in one file, separated by `---`.
pub fn to_yaml_multi(docs: &[Value]) -> String {
    docs.iter().map(to_yaml).collect::<Vec<_>>().join("---\n")
}

/// `first_inline`: the first key goes on the current line (a sequence item's `- `).
fn write_map(out: &mut String, map: &Map<String, Value>, indent: usize, first_inline: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !first_inline {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&key_text(key));
        out.push(':');
        write_value_after_key(out, value, indent);
    }
}

fn write_value_after_key(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, indent + 2, false);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(out, items, indent + 2);
        }
        Value::String(s) if fits_literal_block(s) => {
            // Literal block: config files stay readable and diffable line by line.
            let chomp = if s.ends_with('\n') { "" } else { "-" };
            out.push_str(&format!(" |{chomp}\n"));
            for line in s.trim_end_matches('\n').split('\n') {
                if !line.is_empty() {
                    out.push_str(&" ".repeat(indent + 2));
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// Whether a multi-line string reads back unchanged from a `|` or `|-` block.
fn fits_literal_block(s: &str) -> bool {
    let body = s.strip_suffix('\n').unwrap_or(s);
    s.contains('\n')
        && !body.is_empty()
        && !body.ends_with('\n')
        && body.split('\n').all(|line| {
            !line.starts_with([' ', '\t'])
                && !line.ends_with([' ', '\t'])
                && !line.contains(['\r', '\t'])
        })
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => {
                // Lay the map out at indent + 2, its first key on this line.
                write_map(out, m, indent + 2, true);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, indent + 2);
            }
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn key_text(key: &str) -> String {
    if is_plain(key) {
        key.to_string()
    } else {
        Value::String(key.to_string()).to_string()
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if is_plain(s) => s.clone(),
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Whether a string reads back as the same string when written unquoted.
fn is_plain(s: &str) -> bool {
    const RESERVED: [&str; 13] = [
        "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~", "nan", "inf", ".inf",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || first == '/')
        || RESERVED.contains(&s.to_ascii_lowercase().as_str())
        || s.parse::<f64>().is_ok()
        || s.starts_with("0x")
        || s.starts_with("0o")
    {
        return false;
    }
    let has_letter = s.chars().any(|c| c.is_ascii_alphabetic());
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-' | ':'))
        && (has_letter || !s.contains(':'))
        && !s.ends_with(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_app() -> AppSpec {
        AppSpec {
            namespace: "shop".into(),
            name: "cart".into(),
            image_repo: "registry.example.com/shop/cart".into(),
            version: (1, 2, 3),
            replicas: 3,
            env: vec![
                ("LOG_LEVEL".into(), "info".into()),
                ("WORKERS".into(), "4".into()),
                ("FEATURE".into(), "false".into()),
            ],
            cpu_millis: 100,
            memory_mib: 128,
            port: 8080,
            uses_config: true,
        }
    }

    #[test]
    fn yaml_reads_back_as_the_same_objects() {
        let app = sample_app();
        let docs = vec![
            namespace("shop"),
            deployment(&app),
            service(&app),
            config_map(&app, &config_data(&app, 40, 15)),
            secret(&app, &[("password".into(), "s3cret=".into())]),
        ];
        for doc in &docs {
            let text = to_yaml(doc);
            let back: Value = serde_saphyr::from_str(&text).unwrap();
            assert_eq!(&back, doc, "{text}");
        }
        let back: Vec<Value> = serde_saphyr::from_multiple(&to_yaml_multi(&docs)).unwrap();
        assert_eq!(back, docs);
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        let tricky = [
            "true",
            "False",
            "null",
            "~",
            "8080",
            "1.5",
            "0x1F",
            "",
            "a: b",
            "x #y",
            "-dash",
            "#hash",
            "trailing:",
            "12:30",
            "yes",
            "multi\nline",
            "ends\n",
            "  lead",
            "a\n\n",
            "  a\nb",
            "a \nb",
            "\n",
            "x\r\ny",
        ];
        for s in tricky {
            let doc = json!({ "v": s, "list": [s], s: 1 });
            let back: Value = serde_saphyr::from_str(&to_yaml(&doc)).unwrap();
            assert_eq!(back, doc, "{s:?}");
        }
        assert_eq!(
            to_yaml(&json!({ "image": "repo/app:1.2.3" })),
            "image: repo/app:1.2.3\n"
        );
    }

    #[test]
    fn generator_is_deterministic_per_seed() {
        let draw = |seed| {
            let mut rng = SplitMix64::new(seed);
            (0..8).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let mut rng = SplitMix64::new(3);
        assert!((0..1000).all(|_| rng.below(6) < 6));
        let mut items: Vec<u32> = (0..50).collect();
        rng.shuffle(&mut items);
        let mut sorted = items.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }
}
