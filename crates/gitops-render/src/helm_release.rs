//! Flux `HelmRelease`s (`helm.toolkit.fluxcd.io`, SPEC §11): the objects a release deploys,
//! rendered with `helm template` as helm-controller renders them.
//!
//! - Chart: `spec.chart.spec` from a `HelmRepository` (HTTP index or `type: oci`) or a
//!   `GitRepository` that is this repo (the chart directory read at the commit), or
//!   `spec.chartRef` to an `OCIRepository`. Pulled charts are cached ([`crate::charts`]).
//! - Values: `valuesFrom` (ConfigMaps and Secrets of the rendered environment, in order,
//!   `targetPath` and `optional` honoured) merged as Flux merges them, `spec.values` over
//!   them; the chart's `valuesFiles` replace its `values.yaml`, as source-controller packages
//!   the chart.
//! - Release name: `spec.releaseName`, else `<targetNamespace>-<name>` with a target
//!   namespace, else the name; shortened over 53 characters as helm-controller's
//!   `release.ShortenName` does. Namespace: `spec.targetNamespace`, else the release's.
//! - Every object gets helm-controller's origin labels (`helm.toolkit.fluxcd.io/name` and
//!   `/namespace`) and `spec.commonMetadata`, after `spec.postRenderers` (their kustomize
//!   `patches`, `patchesStrategicMerge`, `patchesJson6902` and `images`, built with
//!   `kubectl kustomize` as helm-controller builds them with kustomize's API).
//! - Each object's [`Source`] is the HelmRelease's own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use gitops_git::{EnvRepo, ObjectId, normalize_path};
use k8s_model::{Manifest, Source, split_api_version};

use super::charts::{self, ChartError, ChartRepository, PulledChart};
use super::helm::{self, ChartTemplate, TemplateError};
use super::kustomize::{Unit, UnitKind, Workspace};
use super::{RenderError, RenderOptions};

/// The API group of HelmRelease.
pub const HELM_GROUP: &str = "helm.toolkit.fluxcd.io";
/// The API group of Flux sources (HelmRepository, GitRepository, OCIRepository).
pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";

/// helm's limit on release names, which helm-controller keeps by shortening.
const MAX_RELEASE_NAME: usize = 53;

/// How long a HelmRepository's index is used before it is fetched again when the
/// HelmRepository sets no `spec.interval`.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);

/// Whether `manifest` is a Flux HelmRelease.
pub fn is_helm_release(manifest: &Manifest) -> bool {
    manifest.id.group == HELM_GROUP && manifest.id.kind == "HelmRelease"
}

/// helm-controller's `release.ShortenName`: names over 53 characters become their first 40,
/// `-`, and the first 12 hex digits of their sha256.
pub fn shorten_release_name(name: &str) -> String {
    if name.len() <= MAX_RELEASE_NAME {
        return name.to_owned();
    }
    const HASH: usize = 12;
    let hash = charts::sha256_hex(name.as_bytes());
    // Release names are DNS labels (ASCII); a byte cut elsewhere would split a character.
    let mut cut = MAX_RELEASE_NAME - (HASH + 1);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{}", &name[..cut], &hash[..HASH])
}

/// The release name and namespace helm-controller uses for `release`.
pub fn release_identity(release: &Manifest, default_namespace: &str) -> (String, String) {
    let spec = release.object.get("spec");
    let text = |key: &str| {
        spec.and_then(|s| s.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let target_namespace = text("targetNamespace");
    let name = match (text("releaseName"), target_namespace) {
        (Some(explicit), _) => explicit.to_owned(),
        (None, Some(target)) => format!("{target}-{}", release.id.name),
        (None, None) => release.id.name.clone(),
    };
    let namespace = target_namespace
        .map(str::to_owned)
        .unwrap_or_else(|| release_namespace(release, default_namespace));
    (shorten_release_name(&name), namespace)
}

/// The namespace the HelmRelease object lives in.
fn release_namespace(release: &Manifest, default_namespace: &str) -> String {
    release
        .id
        .namespace
        .clone()
        .or_else(|| {
            release
                .object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| default_namespace.to_owned())
}

/// Helm's (and Flux's `MergeMaps`) deep merge: `over`'s maps are merged into `base`'s,
/// anything else replaces.
pub fn merge_values(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge_values(existing, value);
                    }
                    _ => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// Where a release's chart is, once found.
enum ChartSource {
    /// A pulled archive.
    Pulled(PulledChart),
    /// A directory of this repo at the commit, with its tree id.
    Repo { dir: String, tree: ObjectId },
}

/// Objects a Flux HelmRelease deploys, rendered with `helm template`: hooks left out, origin
/// labels added, namespaced objects without a namespace placed in the release's. `env` is the
/// rendered environment so far (sources, ConfigMaps, Secrets). One [`RenderError`] on the
/// HelmRelease's file and line when it cannot be rendered.
pub fn render_helm_release(
    release: &Manifest,
    env: &[Manifest],
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
) -> Result<Vec<(Value, Source)>, RenderError> {
    let hr_namespace = release_namespace(release, &opts.default_namespace);
    let what = format!("HelmRelease {hr_namespace}/{}", release.id.name);
    let error = |message: String| RenderError {
        file: release.source.file.clone(),
        line: Some(release.source.line),
        message: format!("{what}: {message}"),
    };
    let spec = release
        .object
        .get("spec")
        .ok_or_else(|| error("has no spec".to_owned()))?;
    let helm = opts.helm.clone().unwrap_or_else(helm::default_helm);
    let (release_name, namespace) = release_identity(release, &opts.default_namespace);

    let (source, values_files, chart_label) =
        locate_chart(spec, env, &hr_namespace, &helm, repo, commit, opts).map_err(error)?;

    let values = values_from(spec, env, &hr_namespace).map_err(error)?;
    let include_crds = text_at(spec, "/install/crds") != Some("Skip");
    let api_versions = crd_api_versions(env);
    let tools = super::tools_fingerprint(opts);
    let ignore_missing = spec
        .pointer("/chart/spec/ignoreMissingValuesFiles")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (digest, chart_values) = match &source {
        ChartSource::Pulled(pulled) => (format!("digest {}", pulled.digest), None),
        ChartSource::Repo { dir, tree } => {
            // valuesFiles of a GitRepository chart are paths of the repository.
            let merged = merge_repo_values_files(repo, commit, &values_files, ignore_missing)
                .map_err(error)?;
            (format!("git tree {dir} {tree}"), merged)
        }
    };
    let key = serde_json::json!({
        "helm-release": [hr_namespace, release.id.name],
        "chart": digest,
        "valuesFiles": values_files,
        "chartValues": chart_values,
        "values": values,
        "release": [release_name, namespace],
        "crds": include_crds,
        "commonMetadata": spec.get("commonMetadata"),
        "postRenderers": spec.get("postRenderers"),
        "apiVersions": api_versions,
        "tools": tools,
    })
    .to_string();
    // Kept on disk too, so a later process (the next history) runs helm only for what it
    // never rendered; not when Secret data is involved (the cache is plain files).
    let secret_values = spec
        .get("valuesFrom")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("kind").and_then(Value::as_str) == Some("Secret"))
        });
    let kept = charts::cache_dir(opts)
        .filter(|_| !secret_values)
        .map(|dir| {
            dir.join("renders")
                .join(format!("{}.json", charts::sha256_hex(key.as_bytes())))
        });
    let labels = [
        (format!("{HELM_GROUP}/name"), release.id.name.clone()),
        (format!("{HELM_GROUP}/namespace"), hr_namespace.clone()),
    ];
    let built = opts.cache.build(key, || {
        match kept.as_deref().and_then(read_kept) {
            Some(KeptRender::Objects(objects)) => {
                return Ok(objects
                    .into_iter()
                    .map(|value| (value, release.source.clone()))
                    .collect());
            }
            Some(KeptRender::Failed { failed }) => return Err(error(failed)),
            None => {}
        }
        opts.cache.count_helm_run();
        let workspace = Workspace::new(commit).map_err(&error)?;
        let chart_path = match &source {
            ChartSource::Pulled(pulled) if values_files.is_empty() => pulled.archive.clone(),
            ChartSource::Pulled(pulled) => {
                let dir = unpack(pulled, workspace.path()).map_err(&error)?;
                let merged = merge_chart_values_files(&dir, &values_files, ignore_missing)
                    .map_err(&error)?;
                write_chart_values(&dir, &merged).map_err(&error)?;
                dir
            }
            ChartSource::Repo { dir, .. } => {
                let unit = Unit {
                    dir: dir.clone(),
                    kustomization: format!("{dir}/Chart.yaml"),
                    kind: UnitKind::Helm,
                };
                workspace.prepare(repo, &unit).map_err(&error)?;
                let path = workspace.path().join(dir);
                if let Some(merged) = &chart_values {
                    write_chart_values(&path, merged).map_err(&error)?;
                }
                path
            }
        };
        let documents = helm::template(
            &helm,
            &ChartTemplate {
                chart: &chart_path,
                release_name: &release_name,
                namespace: &namespace,
                values_files: &[],
                values: Some(&values),
                include_crds,
                // helm-controller installs with helm's install action: hooks are kept apart
                // from the release manifest (helm `pkg/releaseutil.SortManifests` splits
                // objects annotated `helm.sh/hook` into `Release.Hooks`), run at their phase
                // and deleted by their policy, so they are not resources the release keeps.
                include_hooks: false,
                api_versions: &api_versions,
                set: &[],
            },
        )
        .map_err(|e| {
            error(match e {
                TemplateError::NoHelm(reason) => format!(
                    "helm is needed to render {chart_label}: cannot run {}: {reason} \
                     (install helm 3, or set HELM_BINARY to its path)",
                    helm.display()
                ),
                TemplateError::Failed(stderr) => {
                    let message = format!(
                        "helm template of {chart_label} failed: {}",
                        workspace.relative(stderr.as_bytes())
                    );
                    // helm ran and refused this chart with these values: the key names
                    // both and the tools, so it would refuse again; kept, so a history
                    // does not run helm again for it.
                    if let Some(path) = &kept {
                        gitops_git::keep_json(
                            path,
                            &KeptRender::Failed {
                                failed: message.clone(),
                            },
                        );
                    }
                    message
                }
                other => format!("{chart_label}: {other}"),
            })
        })?;
        let rendered: Vec<Value> = documents
            .into_iter()
            .map(|document| document.value)
            .filter(|value| !is_hook(value))
            .collect();
        let post_renderers = spec
            .get("postRenderers")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let kubectl = opts
            .kubectl
            .clone()
            .unwrap_or_else(super::kustomize::default_kubectl);
        let rendered = post_render(rendered, post_renderers, &kubectl, workspace.path())
            .map_err(|e| error(format!("spec.postRenderers: {e}")))?;
        let objects: Vec<(Value, Source)> = rendered
            .into_iter()
            .map(|mut value| {
                add_release_metadata(&mut value, spec.get("commonMetadata"), &labels);
                (value, release.source.clone())
            })
            .collect();
        if let Some(path) = &kept
            && !objects
                .iter()
                .any(|(v, _)| v.get("kind").and_then(Value::as_str) == Some("Secret"))
        {
            let values: Vec<&Value> = objects.iter().map(|(v, _)| v).collect();
            gitops_git::keep_json(path, &values);
        }
        Ok(objects)
    });
    // The cache is shared by every HelmRelease with the same inputs, wherever it is written:
    // sources (and an error's line) are this one's.
    let mut objects: Vec<(Value, Source)> = match built.as_ref() {
        Ok(objects) => objects
            .iter()
            .map(|(value, _)| (value.clone(), release.source.clone()))
            .collect(),
        Err(e) => {
            return Err(RenderError {
                file: release.source.file.clone(),
                line: Some(release.source.line),
                message: e.message.clone(),
            });
        }
    };
    for (value, _) in &mut objects {
        place_in_namespace(value, opts, &namespace);
    }
    Ok(objects)
}

/// helm-controller's kustomize post renderers, in order: each one a kustomization over the
/// objects so far (its `patches`, `patchesStrategicMerge`, `patchesJson6902` and `images`),
/// built with `kubectl kustomize` in a fresh directory under `dir`.
fn post_render(
    mut objects: Vec<Value>,
    renderers: &[Value],
    kubectl: &Path,
    dir: &Path,
) -> Result<Vec<Value>, String> {
    for (index, renderer) in renderers.iter().enumerate() {
        let Some(kustomize) = renderer.get("kustomize") else {
            continue;
        };
        let unit = dir.join(format!("post-render-{index}"));
        std::fs::create_dir_all(&unit)
            .map_err(|e| format!("cannot write {}: {e}", unit.display()))?;
        let resources: Vec<String> = objects.iter().map(Value::to_string).collect();
        std::fs::write(unit.join("resources.yaml"), resources.join("\n---\n"))
            .map_err(|e| format!("cannot write {}: {e}", unit.display()))?;
        let mut kustomization = serde_json::json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["resources.yaml"],
        });
        let mut patches: Vec<Value> = kustomize
            .get("patches")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // JSON 6902 patches are lists of operations; kustomize's `patches` takes them as text.
        for json6902 in kustomize
            .get("patchesJson6902")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            patches.push(serde_json::json!({
                "target": json6902.get("target"),
                "patch": json6902.get("patch").map(Value::to_string),
            }));
        }
        if !patches.is_empty() {
            kustomization["patches"] = Value::from(patches);
        }
        if let Some(strategic) = kustomize
            .get("patchesStrategicMerge")
            .and_then(Value::as_array)
        {
            let inline: Vec<String> = strategic.iter().map(Value::to_string).collect();
            kustomization["patchesStrategicMerge"] = Value::from(inline);
        }
        if let Some(images) = kustomize.get("images") {
            kustomization["images"] = images.clone();
        }
        std::fs::write(unit.join("kustomization.yaml"), kustomization.to_string())
            .map_err(|e| format!("cannot write {}: {e}", unit.display()))?;
        let mut command = std::process::Command::new(kubectl);
        command
            .arg("kustomize")
            .arg(&unit)
            .stdin(std::process::Stdio::null());
        let output = super::kustomize::run_with_timeout(command, super::kustomize::BUILD_TIMEOUT)
            .map_err(|e| {
                format!(
                    "cannot run {} kustomize: {e} (install kubectl or set KUBECTL_PATH)",
                    kubectl.display()
                )
            })?
            .ok_or("kubectl kustomize did not finish in time")?;
        if !output.status.success() {
            let stderr =
                String::from_utf8_lossy(&output.stderr).replace(&format!("{}/", dir.display()), "");
            return Err(format!("kubectl kustomize failed: {}", stderr.trim()));
        }
        objects = super::documents::parse(super::documents::Format::Yaml, &output.stdout)
            .map_err(|e| format!("cannot read kubectl kustomize's output: {}", e.message))?
            .into_iter()
            .map(|doc| doc.value)
            .collect();
    }
    Ok(objects)
}

/// helm-controller's `spec.commonMetadata` (labels and annotations) and origin labels.
fn add_release_metadata(value: &mut Value, common: Option<&Value>, labels: &[(String, String)]) {
    for field in ["labels", "annotations"] {
        for (k, v) in common
            .and_then(|c| c.get(field))
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            metadata_map(value, field).insert(k.clone(), v.clone());
        }
    }
    for (k, v) in labels {
        metadata_map(value, "labels").insert(k.clone(), Value::from(v.clone()));
    }
}

/// Helm creates namespaced objects that name no namespace in the release's. A kind of unknown
/// scope (a custom resource before discovery) is given it too: were it placed later, it would
/// get the environment's default namespace instead; a cluster-scoped kind loses it again once
/// its scope is known (`place_namespace` in lib.rs).
pub(crate) fn place_in_namespace(value: &mut Value, opts: &RenderOptions, namespace: &str) {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (group, _) = split_api_version(api_version);
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    if (opts.scope)(group, kind) != Some(false)
        && value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        && let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut)
    {
        let at = metadata
            .keys()
            .position(|k| k == "name")
            .map_or(metadata.len(), |i| i + 1);
        metadata.shift_insert(at, "namespace".to_owned(), Value::from(namespace));
    }
}

/// Rendered objects kept by an earlier process; `None` when absent or unreadable.
/// A HelmRelease render kept on disk: the objects, or the message of a `helm template` that
/// refused the chart and values (deterministic for the key, so not worth a helm run again).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum KeptRender {
    Objects(Vec<Value>),
    Failed { failed: String },
}

fn read_kept(path: &Path) -> Option<KeptRender> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// `group/version` and `group/version/Kind` of every CustomResourceDefinition in `env`, for
/// `.Capabilities.APIVersions`: helm-controller asks the cluster, where those CRDs are
/// installed; charts test them to render their custom resources (ServiceMonitors, ...).
fn crd_api_versions(env: &[Manifest]) -> Vec<String> {
    let mut out = Vec::new();
    for crd in env
        .iter()
        .filter(|m| m.id.group == "apiextensions.k8s.io" && m.id.kind == "CustomResourceDefinition")
    {
        let Some(group) = text_at(&crd.object, "/spec/group") else {
            continue;
        };
        let kind = text_at(&crd.object, "/spec/names/kind");
        for version in crd
            .object
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.get("name").and_then(Value::as_str))
        {
            out.push(format!("{group}/{version}"));
            if let Some(kind) = kind {
                out.push(format!("{group}/{version}/{kind}"));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The chart a release's spec names (pulled, or a directory of this repo), the valuesFiles
/// that replace its values.yaml, and how to name it in messages.
fn locate_chart(
    spec: &Value,
    env: &[Manifest],
    hr_namespace: &str,
    helm: &Path,
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
) -> Result<(ChartSource, Vec<String>, String), String> {
    if let Some(chart_ref) = spec.get("chartRef") {
        let kind = chart_ref.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != "OCIRepository" {
            return Err(format!(
                "chartRef kind {kind:?} is not supported (only OCIRepository; for a HelmChart, \
                 use spec.chart with its sourceRef)"
            ));
        }
        let (oci, label) = find_source(env, "OCIRepository", chart_ref, hr_namespace)?;
        let url = text_at(&oci.object, "/spec/url").unwrap_or_default();
        let chart = url.rsplit('/').next().unwrap_or_default().to_owned();
        let range = text_at(&oci.object, "/spec/ref/semver")
            .or_else(|| text_at(&oci.object, "/spec/ref/tag"))
            .unwrap_or("*");
        let pulled = charts::pull_chart(
            opts,
            helm,
            &ChartRepository::Oci {
                url: url.to_owned(),
                insecure: oci.object.pointer("/spec/insecure") == Some(&Value::Bool(true)),
            },
            &chart,
            range,
            interval_of(oci),
        )
        .map_err(|e| chart_error(&e, &format!("chart {url} ({label})")))?;
        Ok((
            ChartSource::Pulled(pulled),
            Vec::new(),
            format!("chart {url}"),
        ))
    } else {
        let chart_spec = spec
            .pointer("/chart/spec")
            .ok_or("has neither spec.chart.spec nor spec.chartRef")?;
        let chart = chart_spec
            .get("chart")
            .and_then(Value::as_str)
            .ok_or("spec.chart.spec.chart is missing")?;
        let range = chart_spec
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("*");
        let source_ref = chart_spec.get("sourceRef").unwrap_or(&Value::Null);
        let kind = source_ref.get("kind").and_then(Value::as_str).unwrap_or("");
        let values_files: Vec<String> = values_files_of(chart_spec).map(str::to_owned).collect();
        let label = format!("chart {chart} {range}");
        let source = match kind {
            "HelmRepository" => {
                let (helm_repo, repo_label) = find_source(env, kind, source_ref, hr_namespace)?;
                let url = text_at(&helm_repo.object, "/spec/url").unwrap_or_default();
                let repository = if text_at(&helm_repo.object, "/spec/type") == Some("oci")
                    || url.starts_with("oci://")
                {
                    ChartRepository::Oci {
                        url: format!("{}/{chart}", url.trim_end_matches('/')),
                        insecure: helm_repo.object.pointer("/spec/insecure")
                            == Some(&Value::Bool(true)),
                    }
                } else {
                    ChartRepository::Http {
                        url: url.to_owned(),
                    }
                };
                let pulled = charts::pull_chart(
                    opts,
                    helm,
                    &repository,
                    chart,
                    range,
                    interval_of(helm_repo),
                )
                .map_err(|e| chart_error(&e, &format!("{label} from {url} ({repo_label})")))?;
                ChartSource::Pulled(pulled)
            }
            "GitRepository" => {
                let (git, git_label) = find_source(env, kind, source_ref, hr_namespace)?;
                let dir = normalize_path(chart.trim_start_matches("./"));
                let url = text_at(&git.object, "/spec/url").unwrap_or_default();
                let tree = repo.subtree_id(commit, &dir).ok().flatten();
                let has_chart = repo
                    .file_blob(commit, &format!("{dir}/Chart.yaml"))
                    .ok()
                    .flatten()
                    .is_some();
                match (is_this_repo(repo, url), tree) {
                    (Some(false), _) => {
                        return Err(format!(
                            "{git_label} is {url}, another repository than this one: only charts \
                             of this repo are rendered (render that repository, or vendor the chart here)"
                        ));
                    }
                    (_, Some(tree)) if has_chart => ChartSource::Repo { dir, tree },
                    _ => {
                        return Err(format!(
                            "chart directory {dir} ({git_label}) holds no Chart.yaml at commit {commit}"
                        ));
                    }
                }
            }
            other => {
                return Err(format!(
                    "sourceRef kind {other:?} is not supported (HelmRepository or GitRepository)"
                ));
            }
        };
        Ok((source, values_files, label))
    }
}

/// The Flux source `reference` names (`namespace` defaulting to the release's), and its label.
fn find_source<'a>(
    env: &'a [Manifest],
    kind: &str,
    reference: &Value,
    hr_namespace: &str,
) -> Result<(&'a Manifest, String), String> {
    let name = reference
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("its {kind} reference has no name"))?;
    let ns = reference
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(hr_namespace);
    env.iter()
        .find(|m| {
            m.id.group == SOURCE_GROUP
                && m.id.kind == kind
                && m.id.name == name
                && m.id.namespace.as_deref().unwrap_or(hr_namespace) == ns
        })
        .map(|m| (m, format!("{kind} {ns}/{name}")))
        .ok_or_else(|| {
            format!(
                "{kind} {ns}/{name} is not in the rendered environment (add it, or fix sourceRef)"
            )
        })
}

/// A string at a JSON pointer.
fn text_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A source's `spec.interval`: how old its cached index may be.
fn interval_of(source: &Manifest) -> Duration {
    text_at(&source.object, "/spec/interval")
        .and_then(charts::parse_go_duration)
        .unwrap_or(DEFAULT_INTERVAL)
}

/// The message for a chart that could not be had.
fn chart_error(error: &ChartError, what: &str) -> String {
    match error {
        ChartError::NoHelm { .. } => format!("helm is needed to fetch {what}: {error}"),
        _ => format!("cannot get {what}: {error}"),
    }
}

/// Whether an object is a Helm hook.
fn is_hook(value: &Value) -> bool {
    value
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key("helm.sh/hook"))
}

/// `metadata.<field>` of an object as a map, created when absent.
fn metadata_map<'a>(value: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    let object = match value {
        Value::Object(object) => object,
        other => {
            *other = Value::Object(Map::new());
            match other {
                Value::Object(object) => object,
                _ => unreachable!("just made an object"),
            }
        }
    };
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    let Value::Object(metadata) = metadata else {
        unreachable!("just made an object")
    };
    let map = metadata
        .entry(field)
        .or_insert_with(|| Value::Object(Map::new()));
    if !map.is_object() {
        *map = Value::Object(Map::new());
    }
    let Value::Object(map) = map else {
        unreachable!("just made an object")
    };
    map
}

/// The values of a HelmRelease as helm-controller computes them (fluxcd/pkg
/// `chartutil.ChartValuesFromReferences`): each `valuesFrom` merged in order (a `targetPath`
/// one sets that path, after the inline values are merged in), then `spec.values` over all.
pub fn values_from(spec: &Value, env: &[Manifest], namespace: &str) -> Result<Value, String> {
    let inline = spec
        .get("values")
        .filter(|v| v.is_object())
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    let mut result = Value::Object(Map::new());
    for reference in spec
        .get("valuesFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = reference.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = reference.get("name").and_then(Value::as_str).unwrap_or("");
        let key = reference
            .get("valuesKey")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .unwrap_or("values.yaml");
        let optional = reference
            .get("optional")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let label = format!("valuesFrom {kind} {namespace}/{name} key {key}");
        if kind != "ConfigMap" && kind != "Secret" {
            return Err(format!("{label}: kind must be ConfigMap or Secret"));
        }
        let object = env.iter().find(|m| {
            m.id.group.is_empty()
                && m.id.kind == kind
                && m.id.name == name
                && m.id.namespace.as_deref() == Some(namespace)
        });
        let Some(object) = object else {
            if optional {
                continue;
            }
            return Err(format!(
                "{label}: no such {kind} in the rendered environment (add it, or mark the reference optional)"
            ));
        };
        let Some(data) = object_data(&object.object, kind, key)? else {
            if optional {
                continue;
            }
            return Err(format!("{label}: the {kind} has no key {key}"));
        };
        if let Some(path) = reference
            .get("targetPath")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        {
            merge_values(&mut result, &inline);
            set_path_value(&mut result, path, &data)
                .map_err(|e| format!("{label}: targetPath {path}: {e}"))?;
            continue;
        }
        let values = super::documents::parse_yaml_document(&data)
            .map_err(|e| format!("{label}: does not parse as YAML: {}", e.message))?
            .unwrap_or_else(|| Value::Object(Map::new()));
        if !values.is_object() {
            return Err(format!("{label}: values must be a mapping"));
        }
        merge_values(&mut result, &values);
    }
    merge_values(&mut result, &inline);
    Ok(result)
}

/// The text at `key` of a ConfigMap (`data`) or Secret (`stringData`, else base64 `data`).
fn object_data(object: &Value, kind: &str, key: &str) -> Result<Option<String>, String> {
    let data = |field: &str| {
        object
            .get(field)
            .and_then(|d| d.get(key))
            .and_then(Value::as_str)
    };
    if kind == "ConfigMap" {
        return Ok(data("data").map(str::to_owned));
    }
    if let Some(text) = data("stringData") {
        return Ok(Some(text.to_owned()));
    }
    let Some(encoded) = data("data") else {
        return Ok(None);
    };
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| format!("data.{key} is not base64: {e}"))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| format!("data.{key} is not UTF-8 text"))
}

/// Flux's `ReplacePathValue`: sets `path` (`a.b[0].c`, `\.` for a dot in a key) to `value`
/// typed as helm's `--set` types it (`true`, `false`, `null`, integers), or to the string
/// without its quotes when quoted. (helm also splits `--set` text at commas; a value holding
/// one is kept whole here.)
pub fn set_path_value(values: &mut Value, path: &str, value: &str) -> Result<(), String> {
    let quoted = value.len() >= 2
        && ((value.starts_with('"') && value.ends_with('"'))
            || (value.starts_with('\'') && value.ends_with('\'')));
    let typed = if quoted {
        Value::from(value.trim_matches(|c| c == '"' || c == '\''))
    } else if value.eq_ignore_ascii_case("true") {
        Value::Bool(true)
    } else if value.eq_ignore_ascii_case("false") {
        Value::Bool(false)
    } else if value.eq_ignore_ascii_case("null") {
        Value::Null
    } else if value == "0" {
        Value::from(0)
    } else if let Some(n) = (!value.starts_with('0'))
        .then(|| value.parse::<i64>().ok())
        .flatten()
    {
        Value::from(n)
    } else {
        Value::from(value)
    };
    // Keys, and list indexes after a key (`list[2]`).
    let mut steps: Vec<(String, Vec<usize>)> = Vec::new();
    let mut key = String::new();
    let mut chars = path.chars().peekable();
    let mut indexes = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => key.extend(chars.next()),
            '.' => {
                steps.push((std::mem::take(&mut key), std::mem::take(&mut indexes)));
            }
            '[' => {
                let mut digits = String::new();
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    digits.push(d);
                }
                indexes.push(
                    digits
                        .parse()
                        .map_err(|_| format!("{digits:?} is not a list index"))?,
                );
            }
            other => key.push(other),
        }
    }
    steps.push((key, indexes));
    let mut at = values;
    for (key, indexes) in steps {
        if key.is_empty() {
            return Err("empty key".to_owned());
        }
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Value::Object(map) = at else {
            unreachable!("just made an object")
        };
        at = map.entry(key).or_insert(Value::Null);
        for index in indexes {
            if !at.is_array() {
                *at = Value::Array(Vec::new());
            }
            let Value::Array(list) = at else {
                unreachable!("just made a list")
            };
            if list.len() <= index {
                list.resize(index + 1, Value::Null);
            }
            at = &mut list[index];
        }
    }
    *at = typed;
    Ok(())
}

/// Whether a GitRepository `url` is this repo, by its remotes: `None` when the repo has no
/// remote to compare with.
pub(crate) fn is_this_repo(repo: &EnvRepo, url: &str) -> Option<bool> {
    let local = gix::open(repo.git_dir()).ok()?;
    let remotes: Vec<String> = local
        .remote_names()
        .iter()
        .filter_map(|name| {
            let name: &gix::bstr::BStr = name.as_ref();
            local.find_remote(name).ok()
        })
        .filter_map(|remote| {
            remote
                .url(gix::remote::Direction::Fetch)
                .map(|u| u.to_bstring().to_string())
        })
        .collect();
    if remotes.is_empty() {
        return None;
    }
    let wanted = comparable_url(url);
    Some(remotes.iter().any(|r| comparable_url(r) == wanted))
}

/// A git URL without scheme, user, `.git` and trailing `/`, scp-like `host:path` as
/// `host/path`, lowercased: `ssh://git@github.com/org/repo.git` and
/// `https://github.com/org/repo` compare equal.
fn comparable_url(url: &str) -> String {
    let url = url.trim();
    let (rest, scp) = match url.split_once("://") {
        Some((_, rest)) => (rest, false),
        None => (url, true),
    };
    let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
    let rest = if scp {
        rest.replacen(':', "/", 1)
    } else {
        rest.to_owned()
    };
    rest.trim_end_matches('/')
        .trim_end_matches(".git")
        .to_ascii_lowercase()
}

/// The repo paths a HelmRelease whose chart comes from a `GitRepository` reads: the chart
/// directory and its `valuesFiles` (paths of the repository). A commit that changes only them
/// changes what the release deploys, so they are inputs of the environment's history.
pub(crate) fn repo_inputs(release: &Manifest) -> Vec<String> {
    let Some(chart_spec) = release.object.pointer("/spec/chart/spec") else {
        return Vec::new();
    };
    if text_at(chart_spec, "/sourceRef/kind") != Some("GitRepository") {
        return Vec::new();
    }
    text_at(chart_spec, "/chart")
        .into_iter()
        .chain(values_files_of(chart_spec))
        .map(|path| normalize_path(path.trim_start_matches("./")))
        .filter(|path| !path.is_empty())
        .collect()
}

/// A chart spec's values files, in the order they merge: the deprecated `valuesFile` before
/// the `valuesFiles` (source-controller).
fn values_files_of(chart_spec: &Value) -> impl Iterator<Item = &str> {
    chart_spec
        .get("valuesFile")
        .into_iter()
        .chain(
            chart_spec
                .get("valuesFiles")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
        .filter_map(Value::as_str)
        .filter(|f| !f.is_empty())
}

/// valuesFiles of this repo at `commit`, merged in order; `None` when there are none.
fn merge_repo_values_files(
    repo: &EnvRepo,
    commit: ObjectId,
    files: &[String],
    ignore_missing: bool,
) -> Result<Option<Value>, String> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut merged = Value::Object(Map::new());
    for file in files {
        let path = normalize_path(file.trim_start_matches("./"));
        let blob = repo.file_blob(commit, &path).map_err(|e| e.to_string())?;
        let Some(blob) = blob else {
            if ignore_missing {
                continue;
            }
            return Err(format!(
                "valuesFiles: {path} is not in the repo at {commit}"
            ));
        };
        let bytes = repo.read_blob(blob).map_err(|e| e.to_string())?;
        merge_values_text(&mut merged, &path, &bytes)?;
    }
    Ok(Some(merged))
}

/// valuesFiles of an unpacked chart, merged in order.
fn merge_chart_values_files(
    chart: &Path,
    files: &[String],
    ignore_missing: bool,
) -> Result<Value, String> {
    let mut merged = Value::Object(Map::new());
    for file in files {
        let relative = normalize_path(file.trim_start_matches("./"));
        if relative.split('/').any(|part| part == "..") {
            return Err(format!("valuesFiles: {file} leaves the chart"));
        }
        match std::fs::read(chart.join(&relative)) {
            Ok(bytes) => merge_values_text(&mut merged, file, &bytes)?,
            Err(_) if ignore_missing => {}
            Err(e) => return Err(format!("valuesFiles: {file} is not in the chart: {e}")),
        }
    }
    Ok(merged)
}

fn merge_values_text(merged: &mut Value, file: &str, bytes: &[u8]) -> Result<(), String> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| format!("valuesFiles: {file} is not UTF-8"))?;
    let values = super::documents::parse_yaml_document(text)
        .map_err(|e| format!("valuesFiles: {file} does not parse: {}", e.message))?;
    if let Some(values) = values {
        merge_values(merged, &values);
    }
    Ok(())
}

/// Replaces a chart's `values.yaml` (source-controller packages the merged valuesFiles so).
fn write_chart_values(chart: &Path, values: &Value) -> Result<(), String> {
    let text = serde_json::to_string(values).map_err(|e| e.to_string())?;
    std::fs::write(chart.join("values.yaml"), text)
        .map_err(|e| format!("cannot write the chart's values: {e}"))
}

/// Unpacks a chart archive under `dir` with `tar`; the chart's directory.
fn unpack(pulled: &PulledChart, dir: &Path) -> Result<PathBuf, String> {
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&pulled.archive)
        .arg("-C")
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run tar to unpack {}: {e}", pulled.archive.display()))?;
    if !status.success() {
        return Err(format!("tar could not unpack {}", pulled.archive.display()));
    }
    Ok(dir.join(&pulled.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_names_are_shortened_as_flux_does() {
        assert_eq!(shorten_release_name("podinfo"), "podinfo");
        let long = "some-front-appended-namespace-release-with-a-very-long-name";
        let short = shorten_release_name(long);
        assert_eq!(short.len(), 53);
        assert!(short.starts_with("some-front-appended-namespace-release-wi-"));
        assert_eq!(&short[41..], &charts::sha256_hex(long.as_bytes())[..12]);
        let exactly = "a".repeat(53);
        assert_eq!(shorten_release_name(&exactly), exactly);
    }

    #[test]
    fn maps_merge_and_the_rest_replaces() {
        let mut base = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"});
        merge_values(
            &mut base,
            &json!({"a": {"c": [3], "e": null}, "d": {"f": 1}}),
        );
        assert_eq!(
            base,
            json!({"a": {"b": 1, "c": [3], "e": null}, "d": {"f": 1}})
        );
    }

    #[test]
    fn target_paths_type_their_values_as_helm_set() {
        let mut values = json!({});
        set_path_value(&mut values, "a.b", "true").unwrap();
        set_path_value(&mut values, "a.n", "42").unwrap();
        set_path_value(&mut values, "a.z", "0755").unwrap();
        set_path_value(&mut values, "a.q", "\"42\"").unwrap();
        set_path_value(&mut values, "list[1].x", "y").unwrap();
        set_path_value(&mut values, r"ann.example\.com/k", "v").unwrap();
        assert_eq!(
            values,
            json!({
                "a": {"b": true, "n": 42, "z": "0755", "q": "42"},
                "list": [null, {"x": "y"}],
                "ann": {"example.com/k": "v"}
            })
        );
    }

    #[test]
    fn git_urls_compare_without_scheme_and_suffix() {
        assert_eq!(
            comparable_url("ssh://git@github.com/Org/Repo.git"),
            comparable_url("https://github.com/org/repo/")
        );
        assert_eq!(
            comparable_url("git@github.com:org/repo.git"),
            comparable_url("https://github.com/org/repo")
        );
        assert_ne!(
            comparable_url("https://github.com/org/other"),
            comparable_url("https://github.com/org/repo")
        );
    }
}
