//! Fuzz entry points, shared by the cargo-fuzz targets (`fuzz_targets/`) and by the stable
//! replay test (`tests/fuzz_corpus.rs`, which includes this file), so a crash found by the
//! fuzzer and saved under `fuzz/corpus/<target>/` stays a regression test on stable.
//!
//! Each entry takes arbitrary bytes and must never panic, hang or blow the stack: every input
//! either yields a result or an error value.

use serde_json::Value;

use kubectl_gitops::drift::compare_client;
use kubectl_gitops::model::{IgnoreRule, ResourceId, split_api_version};
use kubectl_gitops::render::{EnvConfig, RenderOptions, render_bytes};
use kubectl_gitops::sandbox::apply::{FieldManagerContext, server_side_apply};
use kubectl_gitops::sandbox::patch::{json_merge_patch, json_patch, strategic_merge_patch};
use kubectl_gitops::sandbox::schema::TypeSchema;

/// Rendering: the bytes as a YAML file and as a JSON file → documents → manifests (List
/// expansion, identity, duplicates), and as the environment config file.
pub fn render_documents(data: &[u8]) {
    let opts = RenderOptions::new("", "default");
    for path in ["env/fuzz.yaml", "env/fuzz.json"] {
        let (manifests, errors) = render_bytes(path, data, &opts);
        for manifest in &manifests {
            // Every manifest has the identity the renderer promises.
            assert!(!manifest.id.kind.is_empty() && !manifest.id.name.is_empty());
            assert_eq!(manifest.source.file, path);
        }
        for error in &errors {
            assert_eq!(error.file, path);
            let _ = error.to_string();
        }
    }
    let _ = EnvConfig::parse(data, ".kubectl-gitops.yaml", "fuzz");
}

/// The client diff: the bytes as a JSON array `[desired, live, ignoreRules?]`; the identity
/// comes from `desired`. Checks that a Secret's values never survive into the comparison.
pub fn client_diff(data: &[u8]) {
    let Ok(Value::Array(values)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (Some(desired), Some(live)) = (values.first(), values.get(1)) else {
        return;
    };
    let rules: Vec<IgnoreRule> = values
        .get(2)
        .and_then(|r| serde_json::from_value(r.clone()).ok())
        .unwrap_or_default();
    let text = |v: &Value, pointer: &str| {
        v.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let api_version = text(desired, "/apiVersion");
    let (group, _) = split_api_version(&api_version);
    let id = ResourceId {
        group: group.to_owned(),
        kind: text(desired, "/kind"),
        namespace: Some(text(desired, "/metadata/namespace")).filter(|ns| !ns.is_empty()),
        name: text(desired, "/metadata/name"),
    };
    let Ok(comparison) = compare_client(&id, desired, live, &rules) else {
        return;
    };
    let _ = comparison.live_yaml();
    let _ = comparison.desired_yaml();
    let json = serde_json::to_string(&comparison).unwrap_or_default();
    if id.kind == "Secret" && id.group.is_empty() {
        for value in secret_values(desired).chain(secret_values(live)) {
            let appears_elsewhere = |v: &Value| {
                let mut without = v.clone();
                if let Some(object) = without.as_object_mut() {
                    object.remove("data");
                    object.remove("stringData");
                }
                without.to_string().contains(value.as_str())
            };
            // Long distinctive values only: a short one can be a substring of anything.
            if value.len() < 12
                || !value.chars().all(|c| c.is_ascii_alphanumeric())
                || appears_elsewhere(desired)
                || appears_elsewhere(live)
            {
                continue;
            }
            assert!(
                !json.contains(value.as_str()),
                "secret value {value:?} in the comparison {json}"
            );
        }
    }
}

/// The string values of a Secret's `data` and `stringData`.
fn secret_values(secret: &Value) -> impl Iterator<Item = String> + '_ {
    ["data", "stringData"]
        .into_iter()
        .filter_map(|key| secret.get(key).and_then(Value::as_object))
        .flat_map(|map| map.values())
        .filter_map(|v| v.as_str().map(str::to_owned))
}

/// The sandbox's merges: the bytes as a JSON array `[target, patch]`; the kind's schema comes
/// from `target`. Runs merge patch, JSON patch, strategic merge patch and server-side apply
/// (over `target`, and as a create).
pub fn sandbox_merge(data: &[u8]) {
    let Ok(Value::Array(values)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (Some(target), Some(patch)) = (values.first(), values.get(1)) else {
        return;
    };
    let api_version = target
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("v1");
    let kind = target
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("ConfigMap");
    let (group, _) = split_api_version(api_version);
    let schema = TypeSchema::for_kind(group, kind, None);
    let _ = json_merge_patch(target, patch);
    let _ = json_patch(target, patch);
    let _ = strategic_merge_patch(target, patch, &schema);
    let ctx = FieldManagerContext {
        manager: "fuzz",
        api_version,
        now: "2026-01-01T00:00:00Z",
        subresource: None,
        schema: &schema,
    };
    if let Ok(merged) = server_side_apply(Some(target), patch, false, &ctx) {
        // Applying the same configuration again by the same manager changes nothing but time.
        let _ = server_side_apply(Some(&merged), patch, false, &ctx);
    }
    let _ = server_side_apply(Some(target), patch, true, &ctx);
    let _ = server_side_apply(None, patch, false, &ctx);
}
