//! OpenAPI v3 documents, enough for kubectl's field-validation support checks.
//!
//! kubectl (`k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go`) fetches `/openapi/v3`,
//! follows the group-version's `serverRelativeURL`, and looks for a path whose `patch` operation
//! carries `x-kubernetes-group-version-kind` equal to the object's GVK and has the query
//! parameter (`fieldValidation`) among the operation's own `parameters`. `kubectl explain`
//! finds the kind's schema in `components.schemas` by its `x-kubernetes-group-version-kind`.
//! Layout, operation ids and parameter texts follow the documents a 1.33 server serves.

use serde_json::{Map, Value, json};

use super::kinds::{KindInfo, served_at};
use super::naming::fnv1a64;

/// `/openapi/v3`: one entry per served group-version.
pub fn v3_root(kinds: &[KindInfo]) -> Value {
    let mut gvs: Vec<(String, String)> = kinds
        .iter()
        .map(|k| (k.group.clone(), k.version.clone()))
        .collect();
    gvs.sort();
    gvs.dedup();
    let mut paths = Map::new();
    for (group, version) in gvs {
        let key = gv_path(&group, &version);
        let Some(doc) = v3_group_version(kinds, &group, &version) else {
            continue;
        };
        let url = format!("/openapi/v3/{key}?hash={}", document_hash(&doc));
        paths.insert(key, json!({ "serverRelativeURL": url }));
    }
    json!({ "paths": paths })
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`; `None` when not served.
pub fn v3_group_version(kinds: &[KindInfo], group: &str, version: &str) -> Option<Value> {
    v3_group_version_with_schemas(kinds, group, version, &|_| None)
}

/// Like [`v3_group_version`], with a kind's own schema when `schema_for` has one (a CRD
/// version's `openAPIV3Schema`), so that `kubectl explain` shows its fields.
pub fn v3_group_version_with_schemas(
    kinds: &[KindInfo],
    group: &str,
    version: &str,
    schema_for: &dyn Fn(&KindInfo) -> Option<Value>,
) -> Option<Value> {
    let served = served_at(kinds, group, version)?;
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for k in &served {
        add_kind_paths(k, &mut paths);
        let mut schema = schema_for(k).unwrap_or_else(|| placeholder_schema(k));
        if let Some(m) = schema.as_object_mut() {
            m.insert("x-kubernetes-group-version-kind".into(), json!([gvk(k)]));
        }
        schemas.insert(schema_name(k), schema);
        schemas.insert(
            format!("{}List", schema_name(k)),
            json!({"description": format!("{}List is a list of {}.", k.kind, k.kind),
                "type": "object", "required": ["items"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "items": {"type": "array", "items": {"allOf": [{"$ref": schema_ref(k)}]}},
                    "kind": {"type": "string"},
                    "metadata": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"}]}},
                "x-kubernetes-group-version-kind": [{"group": k.group, "kind": format!("{}List", k.kind), "version": k.version}]}),
        );
    }
    add_meta_schemas(&mut schemas);
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// The root key of a group-version: `api/v1`, `apis/apps/v1`.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Upper-case hex of a 64-bit FNV-1a of the document (kube uses SHA-512; clients only compare
/// it, to cache per URL).
fn document_hash(doc: &Value) -> String {
    format!("{:016X}", fnv1a64(&doc.to_string()))
}

fn gvk(k: &KindInfo) -> Value {
    json!({"group": k.group, "kind": k.kind, "version": k.version})
}

/// The schema name kube uses: `io.k8s.api.apps.v1.Deployment`, `io.k8s.api.core.v1.Pod`,
/// `io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition`, and
/// the reversed group for custom resources (`com.example.v1.Widget`).
pub fn schema_name(k: &KindInfo) -> String {
    if k.group == "apiextensions.k8s.io" {
        return format!(
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{}.{}",
            k.version, k.kind
        );
    }
    if k.group.is_empty() {
        return format!("io.k8s.api.core.{}.{}", k.version, k.kind);
    }
    if !k.group.contains('.') || k.group.ends_with(".k8s.io") {
        let short = k.group.split('.').next().unwrap_or(&k.group);
        return format!("io.k8s.api.{short}.{}.{}", k.version, k.kind);
    }
    let reversed: Vec<&str> = k.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), k.version, k.kind)
}

fn schema_ref(k: &KindInfo) -> String {
    format!("#/components/schemas/{}", schema_name(k))
}

/// The operation id stem: `AppsV1`, `CoreV1`, `NetworkingV1`, `RbacAuthorizationV1`.
fn op_group(k: &KindInfo) -> String {
    let group = if k.group.is_empty() {
        "core".to_string()
    } else {
        k.group.trim_end_matches(".k8s.io").to_string()
    };
    let mut out = String::new();
    for part in group.split(['.', '-']) {
        let mut chars = part.chars();
        if let Some(c) = chars.next() {
            out.push(c.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    let mut version = k.version.clone();
    if let Some(first) = version.get(..1) {
        version.replace_range(..1, &first.to_ascii_uppercase());
    }
    out + &version
}

fn tag(k: &KindInfo) -> String {
    let group = if k.group.is_empty() {
        "core".to_string()
    } else {
        k.group.trim_end_matches(".k8s.io").replace(['.', '-'], "_")
    };
    format!("{group}_{}", k.version)
}

fn query(name: &str, typ: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description,
        "schema": {"type": typ, "uniqueItems": true}})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "description": description, "required": true,
        "schema": {"type": "string", "uniqueItems": true}})
}

const DRY_RUN_DESC: &str = "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed";
const FIELD_MANAGER_DESC: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).";
const FIELD_VALIDATION_DESC: &str = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.";
const FORCE_DESC: &str = "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.";

fn json_content(schema: &Value) -> Value {
    json!({"application/json": {"schema": schema},
        "application/vnd.kubernetes.protobuf": {"schema": schema},
        "application/yaml": {"schema": schema}})
}

/// Paths of one kind: collection, item (get/put/patch/delete), `status` and `scale`.
fn add_kind_paths(k: &KindInfo, paths: &mut Map<String, Value>) {
    let kp = KindPaths::of(k);
    paths.insert(kp.collection.clone(), Value::Object(kp.collection_item()));
    for (suffix, sub, schema) in [
        ("", "", kp.obj_ref.clone()),
        ("/status", "Status", kp.obj_ref.clone()),
        (
            "/scale",
            "Scale",
            json!({"$ref": "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"}),
        ),
    ] {
        if (sub == "Status" && !k.status_subresource) || (sub == "Scale" && !k.scale_subresource) {
            continue;
        }
        paths.insert(
            format!("{}/{{name}}{suffix}", kp.collection),
            Value::Object(kp.object_item(sub, &schema)),
        );
    }
}

/// What the paths of one kind share: scope, operation id parts, schema references.
struct KindPaths<'k> {
    k: &'k KindInfo,
    /// The collection path, namespaced or not.
    collection: String,
    /// `Namespaced` in the operation ids of namespaced kinds, else empty.
    ns_word: &'static str,
    ns_params: Vec<Value>,
    /// The operation id stem ([`op_group`]).
    stem: String,
    obj_ref: Value,
    pretty: Value,
}

/// One operation of a path item; [`KindPaths::operation`] adds its tags and extensions.
struct Operation {
    verb: &'static str,
    action: &'static str,
    description: String,
    op_id: String,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Value,
}

impl<'k> KindPaths<'k> {
    /// The shared parts of the paths of `k`.
    fn of(k: &'k KindInfo) -> Self {
        let prefix = format!("/{}", gv_path(&k.group, &k.version));
        let (collection, ns_word, ns_params) = if k.namespaced {
            (
                format!("{prefix}/namespaces/{{namespace}}/{}", k.plural),
                "Namespaced",
                vec![path_param(
                    "namespace",
                    "object name and auth scope, such as for teams and projects",
                )],
            )
        } else {
            (format!("{prefix}/{}", k.plural), "", vec![])
        };
        KindPaths {
            k,
            collection,
            ns_word,
            ns_params,
            stem: op_group(k),
            obj_ref: json!({"$ref": schema_ref(k)}),
            pretty: query(
                "pretty",
                "string",
                "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).",
            ),
        }
    }

    /// An operation keyed by its verb, with the kind's tag and `x-kubernetes-*` extensions.
    fn operation(&self, op: Operation) -> (String, Value) {
        let mut m = Map::new();
        m.insert("tags".into(), json!([tag(self.k)]));
        m.insert("description".into(), json!(op.description));
        m.insert("operationId".into(), json!(op.op_id));
        if !op.params.is_empty() {
            m.insert("parameters".into(), Value::Array(op.params));
        }
        if let Some(b) = op.body {
            m.insert("requestBody".into(), b);
        }
        m.insert("responses".into(), op.responses);
        m.insert("x-kubernetes-action".into(), json!(op.action));
        m.insert("x-kubernetes-group-version-kind".into(), gvk(self.k));
        (op.verb.to_string(), Value::Object(m))
    }

    /// The collection path item: list, create.
    fn collection_item(&self) -> Map<String, Value> {
        let k = self.k;
        let (stem, ns_word) = (&self.stem, self.ns_word);
        let obj_ref = &self.obj_ref;
        let list_ref = json!({"$ref": format!("{}List", schema_ref(k))});
        let unauthorized = unauthorized();
        let mut coll = Map::new();
        let (v, o) = self.operation(Operation {
            verb: "get",
            action: "list",
            description: format!("list or watch objects of kind {}", k.kind),
            op_id: format!("list{stem}{ns_word}{}", k.kind),
            params: vec![],
            body: None,
            responses: json!({"200": ok(&list_ref), "401": unauthorized}),
        });
        coll.insert(v, o);
        let (v, o) = self.operation(Operation {
            verb: "post",
            action: "post",
            description: format!("create a {}", k.kind),
            op_id: format!("create{stem}{ns_word}{}", k.kind),
            params: write_params(),
            body: Some(request_body(obj_ref)),
            responses: json!({"200": ok(obj_ref), "201": response("Created", obj_ref),
                "202": response("Accepted", obj_ref), "401": unauthorized}),
        });
        coll.insert(v, o);
        let mut coll_params = self.ns_params.clone();
        coll_params.push(self.pretty.clone());
        coll.insert("parameters".into(), Value::Array(coll_params));
        coll
    }

    /// The path item of one object (`sub` empty) or of its `Status` or `Scale` subresource.
    fn object_item(&self, sub: &str, schema: &Value) -> Map<String, Value> {
        let k = self.k;
        let stem = &self.stem;
        let what = if sub == "Scale" {
            "Scale".to_string()
        } else {
            k.kind.clone()
        };
        let name = format!("{}{}{sub}", self.ns_word, k.kind);
        let unauthorized = unauthorized();
        let mut item = Map::new();
        let (v, o) = self.operation(Operation {
            verb: "get",
            action: "get",
            description: describe("read", sub, &k.kind),
            op_id: format!("read{stem}{name}"),
            params: vec![],
            body: None,
            responses: json!({"200": ok(schema), "401": unauthorized}),
        });
        item.insert(v, o);
        // A replace or a patch answers 201 when it created the object.
        let written = json!({"200": ok(schema), "201": response("Created", schema),
            "401": unauthorized});
        let (v, o) = self.operation(Operation {
            verb: "put",
            action: "put",
            description: describe("replace", sub, &k.kind),
            op_id: format!("replace{stem}{name}"),
            params: write_params(),
            body: Some(request_body(schema)),
            responses: written.clone(),
        });
        item.insert(v, o);
        if sub.is_empty() {
            let (v, o) = self.operation(self.delete_operation(&name));
            item.insert(v, o);
        }
        let (v, o) = self.operation(Operation {
            verb: "patch",
            action: "patch",
            description: describe("partially update", sub, &k.kind),
            op_id: format!("patch{stem}{name}"),
            params: patch_params(),
            body: Some(patch_body()),
            responses: written,
        });
        item.insert(v, o);
        let mut params = vec![path_param("name", &format!("name of the {what}"))];
        params.extend(self.ns_params.clone());
        params.push(self.pretty.clone());
        item.insert("parameters".into(), Value::Array(params));
        item
    }

    /// DELETE of one object; `name` is the operation id's tail.
    fn delete_operation(&self, name: &str) -> Operation {
        let status_ref =
            json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status"});
        Operation {
            verb: "delete",
            action: "delete",
            description: format!("delete a {}", self.k.kind),
            op_id: format!("delete{}{name}", self.stem),
            params: vec![
                query("dryRun", "string", DRY_RUN_DESC),
                query(
                    "gracePeriodSeconds",
                    "integer",
                    "The duration in seconds before the object should be deleted.",
                ),
                query(
                    "propagationPolicy",
                    "string",
                    "Whether and how garbage collection will be performed.",
                ),
            ],
            body: None,
            responses: json!({"200": ok(&status_ref), "202": response("Accepted", &status_ref),
                "401": unauthorized()}),
        }
    }
}

/// The query parameters of every write: dryRun, fieldManager, fieldValidation.
fn write_params() -> Vec<Value> {
    vec![
        query("dryRun", "string", DRY_RUN_DESC),
        query("fieldManager", "string", FIELD_MANAGER_DESC),
        query("fieldValidation", "string", FIELD_VALIDATION_DESC),
    ]
}

/// A PATCH's query parameters: those of every write, and `force` for apply.
fn patch_params() -> Vec<Value> {
    let mut p = write_params();
    p.push(query("force", "boolean", FORCE_DESC));
    p
}

/// A 200 response carrying `schema`.
fn ok(schema: &Value) -> Value {
    response("OK", schema)
}

/// A response described `description` (`OK`, `Created`, `Accepted`) carrying `schema`.
fn response(description: &str, schema: &Value) -> Value {
    json!({"description": description, "content": json_content(schema)})
}

/// A 401 response.
fn unauthorized() -> Value {
    json!({"description": "Unauthorized"})
}

/// A required request body of any media type, of `schema`.
fn request_body(schema: &Value) -> Value {
    json!({"content": {"*/*": {"schema": schema}}, "required": true})
}

/// A PATCH's request body: apply, JSON and merge patches.
fn patch_body() -> Value {
    // The real documents also list application/strategic-merge-patch+json for built-in kinds.
    // It is left out on purpose: with it, client-side `kubectl apply` computes its patch from
    // these schemas (`buildStrategicMergePatchFromOpenAPIV3`), which carry no field-level patch
    // metadata here, and warns; without it kubectl falls back to its compiled-in Go types,
    // which is what it computes against a real server. The server still accepts strategic
    // merge patches for built-in kinds.
    let patch = json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"});
    json!({"content": {
        "application/apply-patch+yaml": {"schema": patch},
        "application/json-patch+json": {"schema": patch},
        "application/merge-patch+json": {"schema": patch}}, "required": true})
}

/// Upstream operation descriptions: "read the specified Deployment", "read status of the
/// specified Deployment".
fn describe(verb: &str, sub: &str, kind: &str) -> String {
    match sub {
        "" => format!("{verb} the specified {kind}"),
        sub => format!(
            "{verb} {} of the specified {kind}",
            sub.to_ascii_lowercase()
        ),
    }
}

/// A minimal object schema for a kind without a richer one: the standard top-level fields,
/// `spec` and `status` as objects.
fn placeholder_schema(k: &KindInfo) -> Value {
    json!({
        "description": format!("{} is a {} resource served by the sandbox.", k.kind, k.api_version()),
        "type": "object",
        "properties": {
            "apiVersion": {"description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources", "type": "string"},
            "kind": {"description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", "type": "string"},
            "metadata": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}], "default": {},
                "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"},
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }
    })
}

/// The meta.k8s.io schemas the paths refer to.
fn add_meta_schemas(schemas: &mut Map<String, Value>) {
    let meta = "io.k8s.apimachinery.pkg.apis.meta.v1";
    schemas.insert(
        format!("{meta}.Patch"),
        json!({"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", "type": "object"}),
    );
    schemas.insert(
        format!("{meta}.ObjectMeta"),
        json!({"description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.", "type": "object",
            "properties": {
                "name": {"type": "string"}, "generateName": {"type": "string"},
                "namespace": {"type": "string"}, "uid": {"type": "string"},
                "resourceVersion": {"type": "string"}, "generation": {"type": "integer", "format": "int64"},
                "creationTimestamp": {"type": "string", "format": "date-time"},
                "deletionTimestamp": {"type": "string", "format": "date-time"},
                "labels": {"type": "object", "additionalProperties": {"type": "string", "default": ""}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string", "default": ""}},
                "ownerReferences": {"type": "array", "items": {"type": "object"}},
                "finalizers": {"type": "array", "items": {"type": "string", "default": ""}},
                "managedFields": {"type": "array", "items": {"type": "object"}}}}),
    );
    schemas.insert(
        format!("{meta}.ListMeta"),
        json!({"description": "ListMeta describes metadata that synthetic resources must have, including lists and various status objects.", "type": "object",
            "properties": {"continue": {"type": "string"}, "remainingItemCount": {"type": "integer", "format": "int64"},
                "resourceVersion": {"type": "string"}, "selfLink": {"type": "string"}}}),
    );
    schemas.insert(
        format!("{meta}.Status"),
        json!({"description": "Status is a return value for calls that don't return other objects.", "type": "object",
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}]}),
    );
    schemas.insert(
        "io.k8s.api.autoscaling.v1.Scale".into(),
        json!({"description": "Scale represents a scaling request for a resource.", "type": "object",
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "metadata": {"allOf": [{"$ref": format!("#/components/schemas/{meta}.ObjectMeta")}]},
                "spec": {"type": "object", "properties": {"replicas": {"type": "integer", "format": "int32"}}},
                "status": {"type": "object", "properties": {"replicas": {"type": "integer", "format": "int32"},
                    "selector": {"type": "string"}}}},
            "x-kubernetes-group-version-kind": [{"group": "autoscaling", "kind": "Scale", "version": "v1"}]}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{builtin_kinds, kind_from_crd};

    fn all_kinds() -> Vec<KindInfo> {
        let mut kinds = builtin_kinds();
        let crd = json!({"spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": true, "storage": true}]}});
        kinds.push(kind_from_crd(&crd).unwrap());
        kinds
    }

    /// What `supportsQueryParamV3` does: a path whose patch op has the GVK and the param.
    fn supports(doc: &Value, k: &KindInfo, param: &str) -> bool {
        let Some(paths) = doc["paths"].as_object() else {
            return false;
        };
        for path in paths.values() {
            let Some(op) = path.get("patch") else {
                continue;
            };
            let ext = &op["x-kubernetes-group-version-kind"];
            if ext["group"] != k.group.as_str()
                || ext["version"] != k.version.as_str()
                || ext["kind"] != k.kind.as_str()
            {
                continue;
            }
            return op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"] == param);
        }
        false
    }

    #[test]
    fn every_kind_has_a_patch_op_with_field_validation() {
        let kinds = all_kinds();
        for k in &kinds {
            let doc = v3_group_version(&kinds, &k.group, &k.version).unwrap();
            for param in ["fieldValidation", "dryRun", "fieldManager", "force"] {
                assert!(supports(&doc, k, param), "{} {param}", k.kind);
            }
            let schema = &doc["components"]["schemas"][schema_name(k)];
            assert_eq!(
                schema["x-kubernetes-group-version-kind"][0],
                json!({"group": k.group, "kind": k.kind, "version": k.version}),
                "{}",
                k.kind
            );
        }
    }

    #[test]
    fn root_lists_each_group_version_with_hash() {
        let kinds = all_kinds();
        let root = v3_root(&kinds);
        let paths = root["paths"].as_object().unwrap();
        for key in [
            "api/v1",
            "apis/apps/v1",
            "apis/batch/v1",
            "apis/example.com/v1",
        ] {
            let url = paths[key]["serverRelativeURL"].as_str().unwrap();
            let prefix = format!("/openapi/v3/{key}?hash=");
            assert!(url.starts_with(&prefix), "{url}");
            assert!(url[prefix.len()..].chars().all(|c| c.is_ascii_hexdigit()));
        }
        // The hash follows the document: a new kind in a group changes it.
        let mut more = kinds.clone();
        let mut extra = kinds.iter().find(|k| k.kind == "Widget").unwrap().clone();
        extra.kind = "Gadget".into();
        extra.plural = "gadgets".into();
        more.push(extra);
        assert_ne!(
            v3_root(&more)["paths"]["apis/example.com/v1"],
            root["paths"]["apis/example.com/v1"]
        );
        assert_eq!(root["paths"]["api/v1"], v3_root(&more)["paths"]["api/v1"]);
    }

    #[test]
    fn paths_and_names_follow_kube() {
        let kinds = all_kinds();
        let apps = v3_group_version(&kinds, "apps", "v1").unwrap();
        let item = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
        assert_eq!(
            item["patch"]["operationId"],
            "patchAppsV1NamespacedDeployment"
        );
        assert!(
            apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
                .is_object()
        );
        let core = v3_group_version(&kinds, "", "v1").unwrap();
        assert_eq!(
            core["paths"]["/api/v1/namespaces/{name}"]["patch"]["operationId"],
            "patchCoreV1Namespace"
        );
        let rbac = kinds.iter().find(|k| k.kind == "ClusterRole").unwrap();
        assert_eq!(schema_name(rbac), "io.k8s.api.rbac.v1.ClusterRole");
        let widget = kinds.iter().find(|k| k.kind == "Widget").unwrap();
        assert_eq!(schema_name(widget), "com.example.v1.Widget");
        let custom = v3_group_version(&kinds, "example.com", "v1").unwrap();
        let content = &custom["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]
            ["patch"]["requestBody"]["content"];
        assert!(
            content
                .get("application/strategic-merge-patch+json")
                .is_none()
        );
        assert!(content.get("application/apply-patch+yaml").is_some());
        // Built-in kinds too (see add_kind_paths: kubectl then uses its Go types for
        // client-side apply, as against a real server).
        let deploy = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
            ["requestBody"]["content"];
        assert!(
            deploy
                .get("application/strategic-merge-patch+json")
                .is_none()
        );
        assert!(deploy.get("application/merge-patch+json").is_some());
        assert!(v3_group_version(&kinds, "nope.example", "v1").is_none());
    }

    #[test]
    fn crd_schema_is_used_when_given() {
        let kinds = all_kinds();
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"size": {"type": "integer"}}}}});
        let doc = v3_group_version_with_schemas(&kinds, "example.com", "v1", &|k| {
            (k.kind == "Widget").then(|| schema.clone())
        })
        .unwrap();
        let got = &doc["components"]["schemas"]["com.example.v1.Widget"];
        assert_eq!(
            got["properties"]["spec"]["properties"]["size"]["type"],
            "integer"
        );
        assert_eq!(got["x-kubernetes-group-version-kind"][0]["kind"], "Widget");
    }
}
