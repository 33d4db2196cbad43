//! Protobuf request bodies, for the kinds kubectl's typed `create <kind>` subcommands send
//! (kubectl 1.33 encodes built-in objects as `application/vnd.kubernetes.protobuf`).
//!
//! A body is the `k8s\0` magic and a `runtime.Unknown` envelope around the object's own
//! encoding. Objects decode through per-message field tables (field numbers from
//! k8s.io/api's generated.proto) into the JSON kube-apiserver would have received. Fields the
//! tables do not know are refused unless they hold a zero value (gogo-protobuf writes every
//! non-pointer field), so nothing a client set is silently dropped.

use base64::Engine;
use serde_json::{Map, Value, json};

/// A body that cannot be decoded; answered 415 so that the client can retry as JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtobufError(pub String);

#[derive(Clone, Copy)]
enum K {
    /// string, omitted when empty (omitempty).
    Str,
    /// int32/int64 value field, omitted when zero.
    Int,
    /// *int32/*int64: encoded only when set, kept even when zero.
    IntPtr,
    /// bool value field, omitted when false.
    Bool,
    /// *bool.
    BoolPtr,
    /// Nested message (value or pointer: both keep `{}`).
    Msg(&'static [F]),
    /// repeated string.
    RepStr,
    /// repeated message.
    RepMsg(&'static [F]),
    /// map<string, string>.
    MapStr,
    /// map<string, bytes>, base64 in JSON.
    MapBytes,
    /// map<string, Quantity>.
    MapQuantity,
    /// metav1.Time, omitted when zero.
    Time,
    /// intstr.IntOrString.
    IntOrStr,
}

/// One field: JSON name, field number, kind.
struct F(&'static str, u32, K);

static OWNER_REFERENCE: &[F] = &[
    F("kind", 1, K::Str),
    F("name", 3, K::Str),
    F("uid", 4, K::Str),
    F("apiVersion", 5, K::Str),
    F("controller", 6, K::BoolPtr),
    F("blockOwnerDeletion", 7, K::BoolPtr),
];

static OBJECT_META: &[F] = &[
    F("name", 1, K::Str),
    F("generateName", 2, K::Str),
    F("namespace", 3, K::Str),
    F("selfLink", 4, K::Str),
    F("uid", 5, K::Str),
    F("resourceVersion", 6, K::Str),
    F("generation", 7, K::Int),
    F("creationTimestamp", 8, K::Time),
    F("deletionTimestamp", 9, K::Time),
    F("deletionGracePeriodSeconds", 10, K::IntPtr),
    F("labels", 11, K::MapStr),
    F("annotations", 12, K::MapStr),
    F("ownerReferences", 13, K::RepMsg(OWNER_REFERENCE)),
    F("finalizers", 14, K::RepStr),
];

static NAMESPACE_SPEC: &[F] = &[F("finalizers", 1, K::RepStr)];
static NAMESPACE_STATUS: &[F] = &[F("phase", 1, K::Str)];
static NAMESPACE: &[F] = &[
    F("metadata", 1, K::Msg(OBJECT_META)),
    F("spec", 2, K::Msg(NAMESPACE_SPEC)),
    F("status", 3, K::Msg(NAMESPACE_STATUS)),
];

static CONFIG_MAP: &[F] = &[
    F("metadata", 1, K::Msg(OBJECT_META)),
    F("data", 2, K::MapStr),
    F("binaryData", 3, K::MapBytes),
    F("immutable", 4, K::BoolPtr),
];

static SECRET: &[F] = &[
    F("metadata", 1, K::Msg(OBJECT_META)),
    F("data", 2, K::MapBytes),
    F("type", 3, K::Str),
    F("stringData", 4, K::MapStr),
    F("immutable", 5, K::BoolPtr),
];

static OBJECT_REFERENCE: &[F] = &[
    F("kind", 1, K::Str),
    F("namespace", 2, K::Str),
    F("name", 3, K::Str),
    F("uid", 4, K::Str),
    F("apiVersion", 5, K::Str),
    F("resourceVersion", 6, K::Str),
    F("fieldPath", 7, K::Str),
];
static LOCAL_OBJECT_REFERENCE: &[F] = &[F("name", 1, K::Str)];

static SERVICE_ACCOUNT: &[F] = &[
    F("metadata", 1, K::Msg(OBJECT_META)),
    F("secrets", 2, K::RepMsg(OBJECT_REFERENCE)),
    F("imagePullSecrets", 3, K::RepMsg(LOCAL_OBJECT_REFERENCE)),
    F("automountServiceAccountToken", 4, K::BoolPtr),
];

static LABEL_SELECTOR_REQUIREMENT: &[F] = &[
    F("key", 1, K::Str),
    F("operator", 2, K::Str),
    F("values", 3, K::RepStr),
];
static LABEL_SELECTOR: &[F] = &[
    F("matchLabels", 1, K::MapStr),
    F("matchExpressions", 2, K::RepMsg(LABEL_SELECTOR_REQUIREMENT)),
];

static CONTAINER_PORT: &[F] = &[
    F("name", 1, K::Str),
    F("hostPort", 2, K::Int),
    F("containerPort", 3, K::Int),
    F("protocol", 4, K::Str),
    F("hostIP", 5, K::Str),
];
static ENV_VAR: &[F] = &[F("name", 1, K::Str), F("value", 2, K::Str)];
static RESOURCE_REQUIREMENTS: &[F] = &[
    F("limits", 1, K::MapQuantity),
    F("requests", 2, K::MapQuantity),
];
static CONTAINER: &[F] = &[
    F("name", 1, K::Str),
    F("image", 2, K::Str),
    F("command", 3, K::RepStr),
    F("args", 4, K::RepStr),
    F("workingDir", 5, K::Str),
    F("ports", 6, K::RepMsg(CONTAINER_PORT)),
    F("env", 7, K::RepMsg(ENV_VAR)),
    F("resources", 8, K::Msg(RESOURCE_REQUIREMENTS)),
    F("terminationMessagePath", 13, K::Str),
    F("imagePullPolicy", 14, K::Str),
    F("stdin", 16, K::Bool),
    F("stdinOnce", 17, K::Bool),
    F("tty", 18, K::Bool),
    F("terminationMessagePolicy", 20, K::Str),
];
static POD_SPEC: &[F] = &[
    F("containers", 2, K::RepMsg(CONTAINER)),
    F("restartPolicy", 3, K::Str),
    F("terminationGracePeriodSeconds", 4, K::IntPtr),
    F("activeDeadlineSeconds", 5, K::IntPtr),
    F("dnsPolicy", 6, K::Str),
    F("nodeSelector", 7, K::MapStr),
    F("serviceAccountName", 8, K::Str),
    F("serviceAccount", 9, K::Str),
    F("nodeName", 10, K::Str),
    F("hostNetwork", 11, K::Bool),
    F("hostPID", 12, K::Bool),
    F("hostIPC", 13, K::Bool),
    F("imagePullSecrets", 15, K::RepMsg(LOCAL_OBJECT_REFERENCE)),
    F("hostname", 16, K::Str),
    F("subdomain", 17, K::Str),
    F("schedulerName", 19, K::Str),
    F("initContainers", 20, K::RepMsg(CONTAINER)),
    F("priorityClassName", 24, K::Str),
];
static POD_TEMPLATE_SPEC: &[F] = &[
    F("metadata", 1, K::Msg(OBJECT_META)),
    F("spec", 2, K::Msg(POD_SPEC)),
];

static ROLLING_UPDATE_DEPLOYMENT: &[F] = &[
    F("maxUnavailable", 1, K::IntOrStr),
    F("maxSurge", 2, K::IntOrStr),
];
static DEPLOYMENT_STRATEGY: &[F] = &[
    F("type", 1, K::Str),
    F("rollingUpdate", 2, K::Msg(ROLLING_UPDATE_DEPLOYMENT)),
];
static DEPLOYMENT_SPEC: &[F] = &[
    F("replicas", 1, K::IntPtr),
    F("selector", 2, K::Msg(LABEL_SELECTOR)),
    F("template", 3, K::Msg(POD_TEMPLATE_SPEC)),
    F("strategy", 4, K::Msg(DEPLOYMENT_STRATEGY)),
    F("minReadySeconds", 5, K::Int),
    F("revisionHistoryLimit", 6, K::IntPtr),
    F("paused", 7, K::Bool),
    F("progressDeadlineSeconds", 9, K::IntPtr),
];
static DEPLOYMENT_STATUS: &[F] = &[
    F("observedGeneration", 1, K::Int),
    F("replicas", 2, K::Int),
    F("updatedReplicas", 3, K::Int),
    F("availableReplicas", 4, K::Int),
    F("unavailableReplicas", 5, K::Int),
    F("readyReplicas", 7, K::Int),
    F("collisionCount", 8, K::IntPtr),
];
static DEPLOYMENT: &[F] = &[
    F("metadata", 1, K::Msg(OBJECT_META)),
    F("spec", 2, K::Msg(DEPLOYMENT_SPEC)),
    F("status", 3, K::Msg(DEPLOYMENT_STATUS)),
];

static SERVICE_PORT: &[F] = &[
    F("name", 1, K::Str),
    F("protocol", 2, K::Str),
    F("port", 3, K::Int),
    F("targetPort", 4, K::IntOrStr),
    F("nodePort", 5, K::Int),
    F("appProtocol", 6, K::Str),
];
static SERVICE_SPEC: &[F] = &[
    F("ports", 1, K::RepMsg(SERVICE_PORT)),
    F("selector", 2, K::MapStr),
    F("clusterIP", 3, K::Str),
    F("type", 4, K::Str),
    F("externalIPs", 5, K::RepStr),
    F("sessionAffinity", 7, K::Str),
    F("loadBalancerIP", 8, K::Str),
    F("externalName", 10, K::Str),
    F("externalTrafficPolicy", 11, K::Str),
    F("publishNotReadyAddresses", 13, K::Bool),
    F("ipFamilyPolicy", 17, K::Str),
    F("clusterIPs", 18, K::RepStr),
    F("ipFamilies", 19, K::RepStr),
    F("internalTrafficPolicy", 22, K::Str),
];
static LOAD_BALANCER_STATUS: &[F] = &[];
static SERVICE_STATUS: &[F] = &[F("loadBalancer", 1, K::Msg(LOAD_BALANCER_STATUS))];
static SERVICE: &[F] = &[
    F("metadata", 1, K::Msg(OBJECT_META)),
    F("spec", 2, K::Msg(SERVICE_SPEC)),
    F("status", 3, K::Msg(SERVICE_STATUS)),
];

static JOB_SPEC: &[F] = &[
    F("parallelism", 1, K::IntPtr),
    F("completions", 2, K::IntPtr),
    F("activeDeadlineSeconds", 3, K::IntPtr),
    F("selector", 4, K::Msg(LABEL_SELECTOR)),
    F("manualSelector", 5, K::BoolPtr),
    F("template", 6, K::Msg(POD_TEMPLATE_SPEC)),
    F("backoffLimit", 7, K::IntPtr),
    F("ttlSecondsAfterFinished", 8, K::IntPtr),
    F("completionMode", 9, K::Str),
    F("suspend", 10, K::BoolPtr),
];
static JOB_STATUS: &[F] = &[
    F("active", 4, K::Int),
    F("succeeded", 5, K::Int),
    F("failed", 6, K::Int),
];
static JOB: &[F] = &[
    F("metadata", 1, K::Msg(OBJECT_META)),
    F("spec", 2, K::Msg(JOB_SPEC)),
    F("status", 3, K::Msg(JOB_STATUS)),
];

fn message_of(api_version: &str, kind: &str) -> Option<&'static [F]> {
    Some(match (api_version, kind) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("v1", "Service") => SERVICE,
        ("apps/v1", "Deployment") => DEPLOYMENT,
        ("batch/v1", "Job") => JOB,
        _ => return None,
    })
}

/// One wire-format field.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed(u64),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| ProtobufError("truncated varint".into()))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(ProtobufError("varint too long".into()))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| ProtobufError("truncated field".into()))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn next(&mut self) -> Result<Option<(u32, Wire<'a>)>, ProtobufError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| ProtobufError("bad field".into()))?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed(u64::from_le_bytes(
                self.take(8)?.try_into().unwrap_or_default(),
            )),
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| ProtobufError("bad length".into()))?;
                Wire::Bytes(self.take(len)?)
            }
            5 => Wire::Fixed(u64::from(u32::from_le_bytes(
                self.take(4)?.try_into().unwrap_or_default(),
            ))),
            other => return Err(ProtobufError(format!("unsupported wire type {other}"))),
        };
        Ok(Some((number, wire)))
    }
}

fn fields(buf: &[u8]) -> Result<Vec<(u32, Wire<'_>)>, ProtobufError> {
    let mut r = Reader { buf, pos: 0 };
    let mut out = Vec::new();
    while let Some(f) = r.next()? {
        out.push(f);
    }
    Ok(out)
}

fn text(bytes: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError("a string is not UTF-8".into()))
}

fn bytes_of<'a>(w: &Wire<'a>, name: &str) -> Result<&'a [u8], ProtobufError> {
    match w {
        Wire::Bytes(b) => Ok(b),
        _ => Err(ProtobufError(format!(
            "field {name}: expected a length-delimited value"
        ))),
    }
}

fn varint_of(w: &Wire<'_>, name: &str) -> Result<u64, ProtobufError> {
    match w {
        Wire::Varint(v) => Ok(*v),
        _ => Err(ProtobufError(format!("field {name}: expected a varint"))),
    }
}

/// Map entries are messages with the key in field 1 and the value in field 2.
fn map_entry<'a>(bytes: &'a [u8]) -> Result<(String, Option<Wire<'a>>), ProtobufError> {
    let mut key = String::new();
    let mut value = None;
    for (n, w) in fields(bytes)? {
        match n {
            1 => key = text(bytes_of(&w, "key")?)?,
            2 => value = Some(w),
            _ => {}
        }
    }
    Ok((key, value))
}

fn is_zero(w: &Wire<'_>) -> bool {
    match w {
        Wire::Varint(v) | Wire::Fixed(v) => *v == 0,
        Wire::Bytes(b) => b.is_empty(),
    }
}

fn time(bytes: &[u8]) -> Result<Option<String>, ProtobufError> {
    let mut seconds = 0i64;
    for (n, w) in fields(bytes)? {
        if n == 1 {
            seconds = varint_of(&w, "seconds")? as i64;
        }
    }
    if seconds == 0 {
        return Ok(None);
    }
    Ok(chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

fn int_or_string(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let (mut ty, mut int_val, mut str_val) = (0u64, 0i64, String::new());
    for (n, w) in fields(bytes)? {
        match n {
            1 => ty = varint_of(&w, "type")?,
            2 => int_val = varint_of(&w, "intVal")? as i32 as i64,
            3 => str_val = text(bytes_of(&w, "strVal")?)?,
            _ => {}
        }
    }
    Ok(if ty == 1 {
        json!(str_val)
    } else {
        json!(int_val)
    })
}

fn decode_message(
    bytes: &[u8],
    desc: &'static [F],
    path: &str,
) -> Result<Map<String, Value>, ProtobufError> {
    let mut out = Map::new();
    for (number, wire) in fields(bytes)? {
        let Some(F(name, _, kind)) = desc.iter().find(|f| f.1 == number) else {
            if is_zero(&wire) {
                continue;
            }
            return Err(ProtobufError(format!(
                "field {number} of {} is not supported in protobuf bodies; send JSON",
                if path.is_empty() { "the object" } else { path }
            )));
        };
        let here = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
        match *kind {
            K::Str => {
                let s = text(bytes_of(&wire, &here)?)?;
                if !s.is_empty() {
                    out.insert(name.to_string(), json!(s));
                }
            }
            K::Int | K::IntPtr => {
                let v = varint_of(&wire, &here)? as i64;
                if v != 0 || matches!(kind, K::IntPtr) {
                    out.insert(name.to_string(), json!(v));
                }
            }
            K::Bool | K::BoolPtr => {
                let v = varint_of(&wire, &here)? != 0;
                if v || matches!(kind, K::BoolPtr) {
                    out.insert(name.to_string(), json!(v));
                }
            }
            K::Msg(d) => {
                let m = decode_message(bytes_of(&wire, &here)?, d, &here)?;
                out.insert(name.to_string(), Value::Object(m));
            }
            K::RepStr => {
                let s = text(bytes_of(&wire, &here)?)?;
                push(&mut out, name, json!(s));
            }
            K::RepMsg(d) => {
                let m = decode_message(bytes_of(&wire, &here)?, d, &here)?;
                push(&mut out, name, Value::Object(m));
            }
            K::MapStr | K::MapBytes | K::MapQuantity => {
                let (key, value) = map_entry(bytes_of(&wire, &here)?)?;
                let raw = match &value {
                    Some(w) => bytes_of(w, &here)?,
                    None => &[],
                };
                let v = match kind {
                    K::MapBytes => json!(base64::engine::general_purpose::STANDARD.encode(raw)),
                    K::MapQuantity => {
                        // resource.Quantity is a message with its string in field 1
                        let mut q = String::new();
                        for (n, w) in fields(raw)? {
                            if n == 1 {
                                q = text(bytes_of(&w, &here)?)?;
                            }
                        }
                        json!(q)
                    }
                    _ => json!(text(raw)?),
                };
                let entry = out
                    .entry(name.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(m) = entry.as_object_mut() {
                    m.insert(key, v);
                }
            }
            K::Time => {
                if let Some(t) = time(bytes_of(&wire, &here)?)? {
                    out.insert(name.to_string(), json!(t));
                }
            }
            K::IntOrStr => {
                out.insert(name.to_string(), int_or_string(bytes_of(&wire, &here)?)?);
            }
        }
    }
    Ok(out)
}

fn push(out: &mut Map<String, Value>, name: &str, v: Value) {
    let entry = out
        .entry(name.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(a) = entry.as_array_mut() {
        a.push(v);
    }
}

/// Decodes a `application/vnd.kubernetes.protobuf` body into the JSON object it encodes.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body.strip_prefix(b"k8s\0").ok_or_else(|| {
        ProtobufError("the body does not start with the k8s protobuf magic".into())
    })?;
    let (mut api_version, mut kind, mut raw): (String, String, &[u8]) =
        (String::new(), String::new(), &[]);
    for (n, w) in fields(envelope)? {
        match n {
            1 => {
                for (tn, tw) in fields(bytes_of(&w, "typeMeta")?)? {
                    match tn {
                        1 => api_version = text(bytes_of(&tw, "apiVersion")?)?,
                        2 => kind = text(bytes_of(&tw, "kind")?)?,
                        _ => {}
                    }
                }
            }
            2 => raw = bytes_of(&w, "raw")?,
            _ => {}
        }
    }
    let desc = message_of(&api_version, &kind).ok_or_else(|| {
        ProtobufError(format!(
            "{kind} ({api_version}) is not supported in protobuf bodies; send JSON"
        ))
    })?;
    let mut obj = Map::new();
    obj.insert("kind".into(), json!(kind));
    obj.insert("apiVersion".into(), json!(api_version));
    obj.extend(decode_message(raw, desc, "")?);
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
        out.push((field << 3 | 2) as u8);
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut tm = Vec::new();
        put(&mut tm, 1, api_version.as_bytes());
        put(&mut tm, 2, kind.as_bytes());
        let mut body = b"k8s\0".to_vec();
        put(&mut body, 1, &tm);
        put(&mut body, 2, raw);
        body
    }

    #[test]
    fn decodes_kubectl_create_namespace() {
        // What kubectl 1.33 sends for `kubectl create namespace pbns`.
        let body: &[u8] = b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x1c\x0a\x14\x0a\x04pbns\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00\x12\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00";
        let v = decode(body).unwrap();
        assert_eq!(
            v,
            json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "pbns"},
                "spec": {}, "status": {}})
        );
    }

    #[test]
    fn decodes_maps_bytes_and_pointers() {
        let mut meta = Vec::new();
        put(&mut meta, 1, b"token");
        let mut entry = Vec::new();
        put(&mut entry, 1, b"password");
        put(&mut entry, 2, b"s3cret");
        let mut raw = Vec::new();
        put(&mut raw, 1, &meta);
        put(&mut raw, 2, &entry);
        put(&mut raw, 3, b"Opaque");
        raw.extend_from_slice(&[5 << 3, 0]); // immutable: false, a pointer: kept
        let v = decode(&envelope("v1", "Secret", &raw)).unwrap();
        assert_eq!(v["data"]["password"], "czNjcmV0");
        assert_eq!(v["type"], "Opaque");
        assert_eq!(v["immutable"], false);
    }

    #[test]
    fn refuses_unknown_non_zero_fields_and_kinds() {
        let mut raw = Vec::new();
        put(&mut raw, 9, b"surprise");
        let err = decode(&envelope("v1", "ConfigMap", &raw)).unwrap_err();
        assert!(err.0.contains("field 9"), "{err}");
        assert!(decode(&envelope("v1", "Pod", &[])).is_err());
        assert!(decode(b"{}").is_err());
    }
}
