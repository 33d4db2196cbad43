//! Flux `Kustomization`s (`kustomize.toolkit.fluxcd.io`) rendered as kustomize-controller
//! renders them (SPEC §11): which ones read this repo, the repo directory each one's
//! `spec.path` names (through an `ArtifactGenerator`'s copy rules for an `ExternalArtifact`),
//! the build (a kustomization generated when the directory has none, then the spec's
//! `targetNamespace`, `namePrefix`, `nameSuffix`, `patches`, `images` and `components`
//! written into it, as Flux writes them, and `kubectl kustomize --load-restrictor
//! LoadRestrictionsNone`), then `postBuild` substitution and `commonMetadata`.

pub mod varsub;

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use gitops_git::{EnvRepo, ObjectId, join_path, normalize_path};
use k8s_model::{Manifest, Source};

use crate::kustomize::{self, KUSTOMIZATION_FILES, Unit, UnitKind};
use crate::{RenderError, RenderOptions, documents};
use varsub::Lookup;

/// The API group of Flux Kustomizations.
pub const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";
/// The API group of Flux ArtifactGenerators.
pub const SOURCE_EXTENSIONS_GROUP: &str = "source.extensions.fluxcd.io";
/// Label or annotation that turns substitution off for one object.
const SUBSTITUTE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// The spec fields Flux writes into the kustomization before building.
const BUILD_FIELDS: [&str; 8] = [
    "targetNamespace",
    "namePrefix",
    "nameSuffix",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "images",
    "components",
];

/// Where a Kustomization's `spec.path` lies, when it reads this repo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// The repo directory to build.
    Path(String),
    /// Another repo's, or a source this repo cannot stand for: the object stays a plain one.
    NotThisRepo(String),
}

/// What one Kustomization gave.
#[derive(Debug)]
pub enum Expansion {
    /// The build failed: why, for a [`RenderError`] on the Kustomization.
    Failed(String),
    /// A `substituteFrom` object is not (yet) among the rendered ones: try again once the rest
    /// of the environment is rendered.
    Waiting(String),
    /// The objects it applies, with their repo sources; warnings for the user; the repo paths
    /// the build read.
    Objects(Vec<(Value, Source)>, Vec<String>, Vec<String>),
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// A Flux path (`./apps/staging`, `apps/`, `""`) as a normalized relative path; `None` when
/// it climbs out of its root.
pub(crate) fn clean_path(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

fn is_dir(repo: &EnvRepo, commit: ObjectId, path: &str) -> bool {
    matches!(repo.subtree_id(commit, path), Ok(Some(_)))
}

/// The repo directory a Kustomization builds. `GitRepository`: `spec.path` from the repo root,
/// when it exists (a GitRepository of another repo names paths this one does not have; the
/// remotes are not compared). `OCIRepository`: artifacts are often pushed from a subdirectory
/// (`flux push artifact --path kubernetes`), so the path is looked up below the shallowest
/// directory of `env_path` (root first) where it exists. `ExternalArtifact`: through the copy
/// rules of the `ArtifactGenerator` in `env` that produces it from a GitRepository.
pub fn followed_path(
    repo: &EnvRepo,
    commit: ObjectId,
    ks: &Manifest,
    env: &[Manifest],
    env_path: &str,
) -> Result<Followed, String> {
    let object = &ks.object;
    let kind = text(object, "/spec/sourceRef/kind").unwrap_or("");
    let name = text(object, "/spec/sourceRef/name").unwrap_or("");
    let namespace = text(object, "/spec/sourceRef/namespace")
        .or(ks.id.namespace.as_deref())
        .unwrap_or("");
    let path = text(object, "/spec/path").unwrap_or("");
    let Some(path) = clean_path(path) else {
        return Err(format!("spec.path {path:?} leaves the source's root"));
    };
    match kind {
        "GitRepository" if !this_repo(env, env_path, namespace, name) => {
            Ok(Followed::NotThisRepo(format!(
                "GitRepository {namespace}/{name} is not the one the Kustomization of --path syncs from"
            )))
        }
        "GitRepository" => Ok(if is_dir(repo, commit, &path) {
            Followed::Path(path)
        } else {
            Followed::NotThisRepo(format!(
                "GitRepository {namespace}/{name}: {path:?} is not a directory of this repo"
            ))
        }),
        "OCIRepository" => Ok(oci_path(repo, commit, env_path, &path).map_or_else(
            || {
                Followed::NotThisRepo(format!(
                    "OCIRepository {namespace}/{name}: {path:?} is not a directory of this repo"
                ))
            },
            Followed::Path,
        )),
        "ExternalArtifact" => artifact_path(repo, commit, env, env_path, namespace, name, &path),
        other => Ok(Followed::NotThisRepo(format!(
            "source kind {other:?} is not rendered from this repo"
        ))),
    }
}

/// Whether GitRepository `namespace/name` can be this repo: when a Kustomization of `env`
/// builds `env_path` itself (the cluster's own sync, `flux-system` usually), its
/// GitRepository is this repo and no other is; without one, any can be (the caller then
/// asks whether the path exists here).
fn this_repo(env: &[Manifest], env_path: &str, namespace: &str, name: &str) -> bool {
    let env_path = normalize_path(env_path);
    let mut anchors = env.iter().filter(|m| {
        m.id.group == KUSTOMIZE_GROUP
            && m.id.kind == "Kustomization"
            && text(&m.object, "/spec/sourceRef/kind") == Some("GitRepository")
            && text(&m.object, "/spec/path").and_then(clean_path) == Some(env_path.clone())
    });
    let mut any = false;
    let matched = anchors.any(|m| {
        any = true;
        let source_namespace = text(&m.object, "/spec/sourceRef/namespace")
            .or(m.id.namespace.as_deref())
            .unwrap_or("");
        source_namespace == namespace && text(&m.object, "/spec/sourceRef/name") == Some(name)
    });
    matched || !any
}

/// The repo directory of `path` of an OCI artifact pushed from this repo: below the
/// shallowest directory of `env_path` (the root first) where it exists.
fn oci_path(repo: &EnvRepo, commit: ObjectId, env_path: &str, path: &str) -> Option<String> {
    let mut root = String::new();
    let mut ancestors = vec![String::new()];
    for part in normalize_path(env_path)
        .split('/')
        .filter(|p| !p.is_empty())
    {
        root = join_path(&root, part);
        ancestors.push(root.clone());
    }
    ancestors
        .into_iter()
        .map(|root| join_path(&root, path))
        .find(|candidate| is_dir(repo, commit, candidate))
}

/// The repo directory that `path` of ExternalArtifact `namespace/name` holds, by the copy
/// rules of the ArtifactGenerator of `env` that produces it.
fn artifact_path(
    repo: &EnvRepo,
    commit: ObjectId,
    env: &[Manifest],
    env_path: &str,
    namespace: &str,
    name: &str,
    path: &str,
) -> Result<Followed, String> {
    let generator = env.iter().find_map(|m| {
        if m.id.group != SOURCE_EXTENSIONS_GROUP
            || m.id.kind != "ArtifactGenerator"
            || m.id.namespace.as_deref() != Some(namespace)
        {
            return None;
        }
        let artifacts = m.object.pointer("/spec/artifacts")?.as_array()?;
        let artifact = artifacts
            .iter()
            .find(|a| a.get("name").and_then(Value::as_str) == Some(name))?;
        Some((m, artifact))
    });
    let Some((generator, artifact)) = generator else {
        return Ok(Followed::NotThisRepo(format!(
            "ExternalArtifact {namespace}/{name} is produced by no ArtifactGenerator of the environment"
        )));
    };
    let what = format!(
        "ExternalArtifact {namespace}/{name} (ArtifactGenerator {namespace}/{})",
        generator.id.name
    );
    // Aliases of this repo's sources: GitRepositories (their artifact is the repo's root) and
    // OCIRepositories (pushed from one of its directories, see [`oci_path`]).
    let sources = generator
        .object
        .pointer("/spec/sources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let alias_kind = |alias: &str| {
        let source = sources
            .iter()
            .find(|s| s.get("alias").and_then(Value::as_str) == Some(alias))?;
        let source_name = source.get("name").and_then(Value::as_str).unwrap_or("");
        let source_namespace = source
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or(namespace);
        match source.get("kind").and_then(Value::as_str)? {
            "GitRepository" if this_repo(env, env_path, source_namespace, source_name) => {
                Some("GitRepository")
            }
            "OCIRepository" => Some("OCIRepository"),
            _ => None,
        }
    };
    let mut best: Option<(usize, String, &str)> = None;
    let mut assembled = false;
    for rule in artifact
        .get("copy")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(from), Some(to)) = (
            rule.get("from").and_then(Value::as_str),
            rule.get("to").and_then(Value::as_str),
        ) else {
            continue;
        };
        let Some((alias, from_path)) = from.strip_prefix('@').and_then(|f| f.split_once('/'))
        else {
            continue;
        };
        let Some(kind) = alias_kind(alias) else {
            continue;
        };
        // `apps/base/**` (a directory's contents) or `apps/base/*.yaml`: the directory
        // before the first glob.
        let dir_end = from_path
            .find(['*', '?', '['])
            .map_or(from_path.len(), |i| {
                from_path[..i].rfind('/').map_or(0, |j| j)
            });
        let Some(source_dir) = clean_path(&from_path[..dir_end]) else {
            continue;
        };
        let Some(dest) = to.strip_prefix("@artifact").and_then(clean_path) else {
            continue;
        };
        let within = |outer: &str, inner: &str| {
            outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}/"))
        };
        if within(&dest, path) {
            let rest = path[dest.len()..].trim_start_matches('/');
            let mapped = clean_path(&join_path(&source_dir, rest)).unwrap_or_default();
            if best.as_ref().is_none_or(|(len, _, _)| dest.len() > *len) {
                best = Some((dest.len(), mapped, kind));
            }
        } else if within(path, &dest) {
            assembled = true;
        }
    }
    let found = |mapped: &str, kind: &str| match kind {
        "OCIRepository" => oci_path(repo, commit, env_path, mapped),
        _ => is_dir(repo, commit, mapped).then(|| mapped.to_owned()),
    };
    match best {
        Some((_, mapped, kind)) if let Some(dir) = found(&mapped, kind) => Ok(Followed::Path(dir)),
        Some((_, mapped, _)) => Err(format!(
            "{what}: its path {path:?} maps to {mapped:?}, which is not a directory of this repo"
        )),
        None if assembled => Err(format!(
            "{what}: its path {path:?} is assembled from several copy rules; kubectl gitops \
             renders a path that one rule copies from this repo"
        )),
        None => Ok(Followed::NotThisRepo(format!(
            "{what}: no copy rule from this repo's GitRepository or OCIRepository covers {path:?}"
        ))),
    }
}

/// The variables of `spec.postBuild`: `substituteFrom` ConfigMaps and Secrets (in the
/// Kustomization's namespace, from `env` when defined there, else read live; later ones win)
/// under the inline `substitute`.
/// `None` when substitution is off (Flux substitutes only when at least one variable or
/// source is given). `Unknown` values come from SOPS-encrypted Secrets.
struct Variables {
    values: BTreeMap<String, Option<String>>,
    /// Whether a value came from a Secret: then a parser's message about the substituted text
    /// is not shown (it may quote the value, SPEC §4).
    secret: bool,
}

impl Variables {
    fn lookup(&self, name: &str) -> Lookup<'_> {
        match self.values.get(name) {
            Some(Some(value)) => Lookup::Set(value),
            Some(None) => Lookup::Unknown,
            None => Lookup::Unset,
        }
    }
}

/// How [`prepare`] treats a `substituteFrom` object that the environment does not define.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undefined {
    /// The rest of the environment may still define it: [`Expansion::Waiting`].
    Wait,
    /// The environment is complete: the object is read live ([`RenderOptions::live`]); with no
    /// cluster (offline), an optional one is skipped and another is an error.
    Settle,
}

/// Where a `substituteFrom` object was found: the environment's manifest, or the cluster's
/// object (owned).
enum Found<'a> {
    Rendered(&'a Value),
    Live(Value),
}

/// The `substituteFrom` object `kind namespace/name`: from `env` when defined there, else (when
/// `undefined` settles) read live. `Ok(None)`: skipped (optional and absent).
fn substitute_source<'a>(
    env: &'a [Manifest],
    opts: &RenderOptions,
    undefined: Undefined,
    kind: &str,
    namespace: &str,
    name: &str,
    optional: bool,
) -> Result<Option<Found<'a>>, Expansion> {
    let found = env.iter().find(|m| {
        m.id.group.is_empty()
            && m.id.kind == kind
            && m.id.name == name
            && m.id.namespace.as_deref() == Some(namespace)
    });
    if let Some(found) = found {
        return Ok(Some(Found::Rendered(&found.object)));
    }
    let what = format!("postBuild.substituteFrom {kind} {namespace}/{name}");
    if undefined == Undefined::Wait {
        return Err(Expansion::Waiting(format!("{kind} {namespace}/{name}")));
    }
    // What the render gives now depends on more than git (see [`RenderCache::outside_read_count`]).
    opts.cache.count_outside_read();
    let Some(live) = &opts.live else {
        if optional {
            return Ok(None);
        }
        return Err(Expansion::Failed(format!(
            "{what} is not defined in the environment, and this run does not read the cluster \
             (an online run reads it from there; or define it, or mark it `optional: true`)"
        )));
    };
    match live(kind, namespace, name) {
        Ok(Some(object)) => Ok(Some(Found::Live(object))),
        Ok(None) if optional => Ok(None),
        Ok(None) => Err(Expansion::Failed(format!(
            "{what} is neither defined in the environment nor in the cluster (define it, \
             create it in namespace {namespace}, or mark it `optional: true`)"
        ))),
        Err(why) => Err(Expansion::Failed(format!(
            "{what} is not defined in the environment and could not be read from the cluster: \
             {why}"
        ))),
    }
}

fn variables(
    ks: &Manifest,
    env: &[Manifest],
    opts: &RenderOptions,
    undefined: Undefined,
    warnings: &mut Vec<String>,
) -> Result<Option<Variables>, Expansion> {
    let Some(post_build) = ks.object.pointer("/spec/postBuild") else {
        return Ok(None);
    };
    let inline = post_build.get("substitute").and_then(Value::as_object);
    let from = post_build
        .get("substituteFrom")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if inline.is_none_or(Map::is_empty) && from.is_empty() {
        return Ok(None);
    }
    let namespace = ks.id.namespace.as_deref().unwrap_or("");
    let mut values: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut secret = false;
    for reference in &from {
        let kind = text(reference, "/kind").unwrap_or("");
        let name = text(reference, "/name").unwrap_or("");
        let optional = reference
            .get("optional")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if kind != "ConfigMap" && kind != "Secret" {
            return Err(Expansion::Failed(format!(
                "postBuild.substituteFrom kind {kind:?} is not ConfigMap or Secret"
            )));
        }
        let found = substitute_source(env, opts, undefined, kind, namespace, name, optional)?;
        let object = match &found {
            None => continue,
            Some(Found::Rendered(object)) => *object,
            Some(Found::Live(object)) => object,
        };
        if kind == "Secret" && object.get("sops").is_some() {
            warnings.push(format!(
                "Secret {namespace}/{name} is SOPS-encrypted: its variables are left as written \
                 (kubectl gitops does not decrypt)"
            ));
            let keys = ["data", "stringData"]
                .into_iter()
                .filter_map(|field| object.get(field).and_then(Value::as_object))
                .flat_map(|map| map.keys().cloned());
            for key in keys {
                values.insert(key, None);
            }
            continue;
        }
        secret |= kind == "Secret";
        let mut put = |key: &str, value: String| {
            values.insert(key.to_owned(), Some(value));
        };
        if let Some(data) = object.get("data").and_then(Value::as_object) {
            for (key, value) in data {
                let value = scalar_text(value);
                if kind == "Secret" {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(value.trim())
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .ok_or_else(|| {
                            Expansion::Failed(format!(
                                "Secret {namespace}/{name}: data.{key} is not base64-encoded text"
                            ))
                        })?;
                    put(key, decoded);
                } else {
                    put(key, value);
                }
            }
        }
        if kind == "Secret"
            && let Some(data) = object.get("stringData").and_then(Value::as_object)
        {
            for (key, value) in data {
                put(key, scalar_text(value));
            }
        }
    }
    for (key, value) in inline.into_iter().flatten() {
        values.insert(key.clone(), Some(scalar_text(value)));
    }
    if let Some(bad) = values.keys().find(|k| !varsub::valid_name(k)) {
        return Err(Expansion::Failed(format!(
            "postBuild variable name {bad:?} is invalid (it must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$)"
        )));
    }
    Ok(Some(Variables { values, secret }))
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What a build reads of the repo: the directory's own kustomization, or the units and files
/// a generated one lists; and the components.
pub(crate) struct Inputs {
    /// The unit built: `dir` with its kustomization file (generated when the repo has none).
    unit: Unit,
    /// Resources of the generated kustomization (relative to `dir`), `None` when the
    /// directory has its own.
    generated: Option<Vec<String>>,
    /// Units whose reads must be written to the workspace besides `dir`.
    units: Vec<Unit>,
}

impl Inputs {
    /// Whether the build may read something no commit pins: a remote base of one of its
    /// kustomizations, or a remote component in `spec` ([`kustomize::looks_remote`]).
    pub(crate) fn reads_remote(&self, repo: &EnvRepo, commit: ObjectId, spec: &Value) -> bool {
        let components = spec
            .get("components")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        components.into_iter().any(kustomize::looks_remote)
            || std::iter::once(&self.unit)
                .chain(&self.units)
                .any(|unit| kustomize::reads_remote(repo, commit, unit))
    }
}

pub(crate) fn inputs(
    repo: &EnvRepo,
    commit: ObjectId,
    dir: &str,
    spec: &Value,
) -> Result<Inputs, String> {
    let own = KUSTOMIZATION_FILES.iter().find_map(|name| {
        let file = join_path(dir, name);
        matches!(repo.file_blob(commit, &file), Ok(Some(_))).then_some(file)
    });
    let unit_of = |dir: &str, kustomization: String| Unit {
        dir: dir.to_owned(),
        kustomization,
        kind: UnitKind::Kustomize,
    };
    let mut units = Vec::new();
    let (unit, generated) = match own {
        Some(file) => (unit_of(dir, file), None),
        None => {
            // kustomize-controller's generator: every `.yaml`/`.yml` below the directory,
            // except below a subdirectory holding a kustomization, which is listed instead.
            let files = repo
                .tree_entries(commit, dir)
                .map_err(|e| format!("cannot list {dir}: {e}"))?;
            let below = |file: &str| {
                file.strip_prefix(dir)
                    .map(|rest| rest.trim_start_matches('/').to_owned())
                    .unwrap_or_else(|| file.to_owned())
            };
            let subunits: Vec<Unit> = kustomize::find_units(&files)
                .into_iter()
                .filter(|u| u.dir != dir)
                .map(|u| unit_of(&u.dir, u.kustomization))
                .collect();
            let mut resources: Vec<String> = subunits.iter().map(|u| below(&u.dir)).collect();
            resources.extend(
                files
                    .iter()
                    .filter(|f| f.path.ends_with(".yaml") || f.path.ends_with(".yml"))
                    .filter(|f| !subunits.iter().any(|u| u.contains(&f.path)))
                    .map(|f| below(&f.path)),
            );
            resources.sort();
            units.extend(subunits);
            (
                unit_of(dir, join_path(dir, "kustomization.yaml")),
                Some(resources),
            )
        }
    };
    for component in spec
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let Some(path) = crate::kustomize::resolve_relative(dir, component)
            .filter(|_| !component.starts_with('/') && !component.contains("://"))
        else {
            return Err(format!(
                "component path {component:?} must be local and relative"
            ));
        };
        let file = KUSTOMIZATION_FILES
            .iter()
            .map(|name| join_path(&path, name))
            .find(|file| matches!(repo.file_blob(commit, file), Ok(Some(_))))
            .unwrap_or_else(|| join_path(&path, "kustomization.yaml"));
        units.push(unit_of(&path, file));
    }
    Ok(Inputs {
        unit,
        generated,
        units,
    })
}

/// The cache key of a build: what it reads (the directory's tree, each unit's
/// [`kustomize::input_address`]), the spec fields written into the kustomization, and the
/// tools.
pub(crate) fn build_key(
    repo: &EnvRepo,
    commit: ObjectId,
    inputs: &Inputs,
    spec: &Value,
    tools: &str,
) -> String {
    let tree = repo
        .subtree_id(commit, &inputs.unit.dir)
        .ok()
        .flatten()
        .map_or_else(|| "none".to_owned(), |id| id.to_string());
    let mut key = format!("flux {} {tree}\ntools {tools}\n", inputs.unit.dir);
    for unit in std::iter::once(&inputs.unit).chain(&inputs.units) {
        match kustomize::input_address(repo, commit, unit) {
            Some(address) => key.push_str(&address),
            None => key.push_str(&format!("commit {commit}\n")),
        }
    }
    for field in BUILD_FIELDS {
        if let Some(value) = spec.get(field) {
            key.push_str(&format!("{field} {value}\n"));
        }
    }
    key
}

/// A followed Kustomization ready to build: [`prepare`], then [`Prepared::build`] (the slow
/// part, which may run on another thread), then [`Prepared::finish`].
pub struct Prepared {
    dir: String,
    variables: Option<Variables>,
    warnings: Vec<String>,
    spec: Value,
    inputs: Inputs,
    key: String,
}

/// Reads what rendering the Kustomization `ks`, whose `spec.path` is the repo directory `dir`,
/// needs: its variables (`env` is what is rendered so far, for `substituteFrom`; what it does
/// not define is waited for or read live as `undefined` says), the paths its build reads, and
/// the build's cache key. The variables are not part of the key: the build is kept before
/// substitution ([`Prepared::finish`] substitutes), so values read live (a Secret's among
/// them) never reach the on-disk build cache and never make it stale.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    repo: &EnvRepo,
    commit: ObjectId,
    tools: &str,
    ks: &Manifest,
    dir: &str,
    env: &[Manifest],
    opts: &RenderOptions,
    undefined: Undefined,
) -> Result<Prepared, Expansion> {
    let mut warnings = Vec::new();
    let variables = variables(ks, env, opts, undefined, &mut warnings)?;
    let spec = ks.object.get("spec").cloned().unwrap_or(Value::Null);
    let inputs = inputs(repo, commit, dir, &spec).map_err(Expansion::Failed)?;
    let key = build_key(repo, commit, &inputs, &spec, tools);
    Ok(Prepared {
        dir: dir.to_owned(),
        variables,
        warnings,
        spec,
        inputs,
        key,
    })
}

impl Prepared {
    /// The kustomize build, through the render cache.
    pub(crate) fn build(
        &self,
        repo: &EnvRepo,
        commit: ObjectId,
        opts: &RenderOptions,
    ) -> crate::Built {
        let keep = || !self.inputs.reads_remote(repo, commit, &self.spec);
        opts.cache.build_kept(self.key.clone(), keep, || {
            build(repo, commit, opts, &self.inputs, &|kustomization| {
                write_spec(kustomization, &self.spec);
            })
            .map_err(|message| RenderError {
                file: self.dir.clone(),
                line: None,
                message,
            })
        })
    }

    /// The objects the Kustomization applies, from its build: substituted, with its
    /// common metadata.
    pub(crate) fn finish(
        self,
        repo: &EnvRepo,
        commit: ObjectId,
        built: &crate::Built,
    ) -> Expansion {
        let objects = match built.as_ref() {
            Ok(objects) => objects,
            Err(e) => return Expansion::Failed(e.message.clone()),
        };
        let mut out = Vec::with_capacity(objects.len());
        for (value, source) in objects {
            let mut value = value.clone();
            if let Some(variables) = &self.variables
                && !substitution_disabled(&value)
            {
                match substitute_object(&value, variables) {
                    Ok(Some(substituted)) => value = substituted,
                    Ok(None) => {}
                    Err(message) => {
                        return Expansion::Failed(format!(
                            "postBuild substitution in {}:{}: {message}",
                            source.file, source.line
                        ));
                    }
                }
            }
            apply_common_metadata(&mut value, self.spec.get("commonMetadata"));
            out.push((value, source.clone()));
        }
        let read = self.inputs.reads(repo, commit);
        Expansion::Objects(out, self.warnings, read)
    }
}

impl Inputs {
    /// The repo paths the build reads: the directory, the units and what they reference.
    pub(crate) fn reads(&self, repo: &EnvRepo, commit: ObjectId) -> Vec<String> {
        let mut read = vec![self.unit.dir.clone()];
        for unit in std::iter::once(&self.unit).chain(&self.units) {
            read.push(unit.dir.clone());
            read.extend(kustomize::referenced_paths(repo, commit, unit));
        }
        read.dedup();
        read
    }
}

/// Writes what the build reads into a workspace of its own (the kustomization is edited there
/// by `write`, as the controller edits it, so it is not shared with other units) and builds
/// it. Shared with Argo CD's kustomize sources ([`crate::argo`]).
pub(crate) fn build(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
    inputs: &Inputs,
    write: &dyn Fn(&mut Map<String, Value>),
) -> Result<Vec<(Value, Source)>, String> {
    for unit in std::iter::once(&inputs.unit).chain(&inputs.units) {
        if let Some((file, entry)) = kustomize::outside_reference(repo, commit, unit) {
            return Err(format!(
                "{file} names {entry:?}, outside the repo; a build reads only the source's files"
            ));
        }
    }
    let workspace = kustomize::Workspace::new(commit)?;
    workspace.prepare(repo, &inputs.unit)?;
    for unit in &inputs.units {
        workspace.prepare(repo, unit)?;
    }
    let file = workspace.path().join(&inputs.unit.kustomization);
    let mut kustomization = match &inputs.generated {
        Some(resources) => serde_json::json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": resources,
        }),
        None => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", inputs.unit.kustomization))?;
            documents::parse_yaml_document(&text)
                .map_err(|e| format!("{}: {}", inputs.unit.kustomization, e.message))?
                .unwrap_or_else(|| Value::Object(Map::new()))
        }
    };
    let Some(map) = kustomization.as_object_mut() else {
        return Err(format!(
            "{}: a kustomization must be a mapping",
            inputs.unit.kustomization
        ));
    };
    write(map);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot write the kustomization: {e}"))?;
    }
    let json = serde_json::to_vec_pretty(&kustomization).map_err(|e| e.to_string())?;
    std::fs::write(&file, json).map_err(|e| format!("cannot write the kustomization: {e}"))?;
    let kubectl = opts
        .kubectl
        .clone()
        .unwrap_or_else(kustomize::default_kubectl);
    kustomize::build_with(
        repo,
        commit,
        &inputs.unit,
        &workspace,
        &kubectl,
        &opts.cache,
        &["--load-restrictor", "LoadRestrictionsNone"],
    )
    .map_err(|e| e.message)
}

/// The spec's fields written into a kustomization as fluxcd/pkg's generator writes them:
/// `targetNamespace`, `namePrefix` and `nameSuffix` replace the kustomization's own; patches
/// and components are appended; an image replaces the kustomization's entry of its name.
pub(crate) fn write_spec(kustomization: &mut Map<String, Value>, spec: &Value) {
    for (field, target) in [
        ("targetNamespace", "namespace"),
        ("namePrefix", "namePrefix"),
        ("nameSuffix", "nameSuffix"),
    ] {
        if let Some(value) = spec.get(field).and_then(Value::as_str) {
            kustomization.insert(target.to_owned(), Value::from(value));
        }
    }
    for field in [
        "patches",
        "components",
        "patchesStrategicMerge",
        "patchesJson6902",
    ] {
        let Some(added) = spec.get(field).and_then(Value::as_array) else {
            continue;
        };
        // Only what Flux's types carry: inline patches (a `path:` or a string
        // patchesStrategicMerge entry would make kustomize read a file).
        let added: Vec<Value> = added
            .iter()
            .filter_map(|entry| match field {
                "components" => Some(entry.clone()),
                "patchesStrategicMerge" => entry.is_object().then(|| entry.clone()),
                "patchesJson6902" => {
                    let patch = entry.get("patch")?;
                    let patch = match patch {
                        Value::String(text) => text.clone(),
                        ops => ops.to_string(),
                    };
                    let mut kept = Map::new();
                    kept.insert("patch".to_owned(), Value::from(patch));
                    if let Some(target) = entry.get("target") {
                        kept.insert("target".to_owned(), target.clone());
                    }
                    Some(Value::Object(kept))
                }
                _ => {
                    let mut kept = Map::new();
                    for key in ["patch", "target"] {
                        if let Some(value) = entry.get(key) {
                            kept.insert(key.to_owned(), value.clone());
                        }
                    }
                    Some(Value::Object(kept))
                }
            })
            .collect();
        let list = kustomization
            .entry(field)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = list.as_array_mut() {
            list.extend(added);
        }
    }
    if let Some(images) = spec.get("images").and_then(Value::as_array) {
        let list = kustomization
            .entry("images")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = list.as_array_mut() {
            for image in images {
                let name = image.get("name");
                match list.iter_mut().find(|i| i.get("name") == name) {
                    Some(existing) => *existing = image.clone(),
                    None => list.push(image.clone()),
                }
            }
        }
    }
}

/// Whether an object opts out of substitution (label or annotation `...substitute: disabled`).
fn substitution_disabled(value: &Value) -> bool {
    ["labels", "annotations"].into_iter().any(|field| {
        value
            .pointer(&format!("/metadata/{field}"))
            .and_then(|m| m.get(SUBSTITUTE_ANNOTATION))
            .and_then(Value::as_str)
            == Some("disabled")
    })
}

/// The object with its YAML text substituted (as Flux substitutes `res.AsYAML()`, so a
/// `replicas: ${N}` becomes a number), `None` when it holds no `$`.
fn substitute_object(value: &Value, variables: &Variables) -> Result<Option<Value>, String> {
    let yaml = serde_saphyr::to_string(value).map_err(|e| e.to_string())?;
    if !yaml.contains('$') {
        return Ok(None);
    }
    let substituted = varsub::substitute(&yaml, &|name| variables.lookup(name))?;
    if substituted == yaml {
        return Ok(None);
    }
    documents::parse_yaml_document(&substituted)
        .map_err(|e| {
            let at = e
                .line
                .map(|line| format!(" (line {line} of the object as substituted)"))
                .unwrap_or_default();
            if variables.secret {
                // A parser's message may quote the text it stopped at: a Secret's value.
                format!(
                    "the substituted object is not YAML{at}; the parser's message is withheld \
                     as it may quote a Secret's value: check the values of the variables it uses"
                )
            } else {
                format!("the substituted object is not YAML{at}: {}", e.message)
            }
        })?
        .ok_or_else(|| "the substituted object is empty".to_owned())
        .map(Some)
}

/// `spec.commonMetadata` labels and annotations set on an object (they win over its own).
fn apply_common_metadata(value: &mut Value, common: Option<&Value>) {
    let Some(common) = common else {
        return;
    };
    let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for field in ["labels", "annotations"] {
        let Some(entries) = common.get(field).and_then(Value::as_object) else {
            continue;
        };
        let target = metadata
            .entry(field)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(target) = target.as_object_mut() {
            for (key, entry) in entries {
                target.insert(key.clone(), entry.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned() {
        assert_eq!(
            clean_path("./apps/staging/").as_deref(),
            Some("apps/staging")
        );
        assert_eq!(clean_path("").as_deref(), Some(""));
        assert_eq!(clean_path("./").as_deref(), Some(""));
        assert_eq!(clean_path("a/../b").as_deref(), Some("b"));
        assert_eq!(clean_path("../x"), None);
    }

    #[test]
    fn spec_is_written_as_flux_writes_it() {
        let mut kustomization = serde_json::json!({
            "namespace": "old",
            "resources": ["a.yaml"],
            "patches": [{"path": "p.yaml"}],
            "images": [{"name": "podinfo", "newName": "mirror/podinfo"}, {"name": "other", "newTag": "1"}],
        });
        let spec = serde_json::json!({
            "targetNamespace": "apps",
            "namePrefix": "p-",
            "patches": [{"patch": "x"}],
            "images": [{"name": "podinfo", "newTag": "v2"}, {"name": "new", "newTag": "3"}],
            "components": ["../c"],
        });
        write_spec(kustomization.as_object_mut().unwrap(), &spec);
        assert_eq!(
            kustomization,
            serde_json::json!({
                "namespace": "apps",
                "resources": ["a.yaml"],
                "patches": [{"path": "p.yaml"}, {"patch": "x"}],
                "images": [{"name": "podinfo", "newTag": "v2"}, {"name": "other", "newTag": "1"}, {"name": "new", "newTag": "3"}],
                "namePrefix": "p-",
                "components": ["../c"],
            })
        );
    }

    #[test]
    fn substitution_follows_the_yaml_text() {
        let variables = Variables {
            values: [
                ("N".to_owned(), Some("3".to_owned())),
                ("HOST".to_owned(), Some("a.example".to_owned())),
            ]
            .into(),
            secret: false,
        };
        let object = serde_json::json!({
            "kind": "X",
            "metadata": {"name": "x-${HOST}"},
            "spec": {"replicas": "${N}", "quoted": "'${N}'", "keep": "$${N}", "shell": "$HOME"}
        });
        let out = substitute_object(&object, &variables).unwrap().unwrap();
        assert_eq!(out["metadata"]["name"], "x-a.example");
        assert_eq!(out["spec"]["keep"], "${N}");
        assert_eq!(out["spec"]["shell"], "$HOME");
        // What Flux gives: the text `replicas: ${N}` becomes `replicas: 3`, a number.
        assert_eq!(out["spec"]["replicas"], 3, "{out}");
        let plain = serde_json::json!({"kind": "X", "metadata": {"name": "x"}});
        assert_eq!(substitute_object(&plain, &variables).unwrap(), None);
    }

    #[test]
    fn a_substituted_value_that_breaks_the_yaml_is_not_quoted_in_the_error() {
        // A Secret's value substituted into the text: the error must not print it (SPEC §4).
        let mut refused = 0;
        for value in [
            "S3CRET: [unclosed",
            "\"S3CRET",
            "S3CRET\n  bad: : indent",
            "{S3CRET: *nowhere}",
            "S3CRET: a\nS3CRET: b",
            "[S3CRET, ]]",
            "1\n  S3CRET: 1\n  S3CRET: 2",
            "!!int S3CRET",
        ] {
            let variables = Variables {
                values: [("PASSWORD".to_owned(), Some(value.to_owned()))].into(),
                secret: true,
            };
            let object = serde_json::json!({
                "kind": "X",
                "metadata": {"name": "x"},
                "data": {"password": "${PASSWORD}", "other": "${PASSWORD}"}
            });
            if let Err(message) = substitute_object(&object, &variables) {
                assert!(!message.contains("S3CRET"), "{value:?}: {message}");
                assert!(
                    message.contains("withheld as it may quote") && !message.contains("  "),
                    "{message}"
                );
                refused += 1;
            }
        }
        assert!(refused >= 3, "{refused} of the values broke the YAML");
        // From ConfigMaps and inline values only, the parser says why.
        let variables = Variables {
            values: [("V".to_owned(), Some("1\n  dup: 1\n  dup: 2".to_owned()))].into(),
            secret: false,
        };
        let object =
            serde_json::json!({"kind": "X", "metadata": {"name": "x"}, "data": {"v": "${V}"}});
        let message = substitute_object(&object, &variables).unwrap_err();
        assert!(message.contains("duplicate mapping key: dup"), "{message}");
    }

    fn manifest(kind: &str, name: &str, object: Value) -> Manifest {
        Manifest {
            id: k8s_model::ResourceId {
                group: if kind == "Kustomization" {
                    KUSTOMIZE_GROUP.to_owned()
                } else {
                    String::new()
                },
                kind: kind.to_owned(),
                namespace: Some("flux-system".to_owned()),
                name: name.to_owned(),
            },
            api_version: "v1".to_owned(),
            object,
            source: Source {
                file: "f.yaml".to_owned(),
                document: 0,
                line: 1,
                end_line: 1,
            },
            owner: None,
        }
    }

    /// A Kustomization substituting from `refs` (`(kind, name, optional)`).
    fn substituting(refs: &[(&str, &str, bool)]) -> Manifest {
        let from: Vec<Value> = refs
            .iter()
            .map(|(kind, name, optional)| {
                serde_json::json!({"kind": kind, "name": name, "optional": optional})
            })
            .collect();
        manifest(
            "Kustomization",
            "apps",
            serde_json::json!({"spec": {"postBuild": {"substituteFrom": from}}}),
        )
    }

    /// Options whose cluster holds `objects` (`(kind, name, object)`) and records each read;
    /// `Err` for the name `forbidden`.
    fn live_options(
        objects: Vec<(&'static str, &'static str, Value)>,
    ) -> (RenderOptions, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let reads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&reads);
        let mut opts = RenderOptions::new("", "default");
        opts.live = Some(std::sync::Arc::new(
            move |kind: &str, namespace: &str, name: &str| {
                seen.lock()
                    .unwrap()
                    .push(format!("{kind} {namespace}/{name}"));
                if name == "forbidden" {
                    return Err("get v1 secrets forbidden/forbidden: no (403 Forbidden)".to_owned());
                }
                Ok(objects
                    .iter()
                    .find(|(k, n, _)| *k == kind && *n == name)
                    .map(|(_, _, object)| object.clone()))
            },
        ));
        (opts, reads)
    }

    fn values(result: Result<Option<Variables>, Expansion>) -> BTreeMap<String, Option<String>> {
        match result {
            Ok(Some(variables)) => variables.values,
            Ok(None) => BTreeMap::new(),
            Err(Expansion::Failed(message)) => panic!("failed: {message}"),
            Err(Expansion::Waiting(what)) => panic!("waiting for {what}"),
            Err(Expansion::Objects(..)) => panic!("objects"),
        }
    }

    fn failure(result: Result<Option<Variables>, Expansion>) -> String {
        match result {
            Err(Expansion::Failed(message)) => message,
            Err(Expansion::Waiting(what)) => format!("waiting for {what}"),
            Ok(v) => panic!("no failure: {:?}", v.map(|v| v.values)),
            Err(Expansion::Objects(..)) => panic!("objects"),
        }
    }

    #[test]
    fn substitute_from_takes_the_environment_first_then_the_cluster() {
        let env = vec![manifest(
            "ConfigMap",
            "vars",
            serde_json::json!({"data": {"WHERE": "environment"}}),
        )];
        let (opts, reads) = live_options(vec![
            (
                "ConfigMap",
                "vars",
                serde_json::json!({"data": {"WHERE": "cluster"}}),
            ),
            (
                "Secret",
                "token",
                // As the API server gives it: base64 `data`.
                serde_json::json!({"data": {"TOKEN": "czNjcjN0"}}),
            ),
        ]);
        let ks = substituting(&[
            ("ConfigMap", "vars", false),
            ("Secret", "token", false),
            ("ConfigMap", "absent", true),
        ]);
        let mut warnings = Vec::new();
        // While the environment may still define them, nothing is read live.
        assert_eq!(
            failure(variables(&ks, &env, &opts, Undefined::Wait, &mut warnings)),
            "waiting for Secret flux-system/token"
        );
        assert!(reads.lock().unwrap().is_empty());
        assert_eq!(opts.cache.outside_read_count(), 0);
        let got = values(variables(
            &ks,
            &env,
            &opts,
            Undefined::Settle,
            &mut warnings,
        ));
        assert_eq!(got["WHERE"].as_deref(), Some("environment"));
        assert_eq!(got["TOKEN"].as_deref(), Some("s3cr3t"));
        assert_eq!(got.len(), 2, "the optional absent ConfigMap is skipped");
        assert_eq!(
            *reads.lock().unwrap(),
            ["Secret flux-system/token", "ConfigMap flux-system/absent"],
            "the ConfigMap the environment defines is not read live"
        );
        assert_eq!(opts.cache.outside_read_count(), 2);
    }

    #[test]
    fn substitute_from_missing_everywhere_or_unreadable_is_an_error() {
        let (opts, _) = live_options(Vec::new());
        let mut warnings = Vec::new();
        let absent = substituting(&[("ConfigMap", "nope", false)]);
        assert_eq!(
            failure(variables(
                &absent,
                &[],
                &opts,
                Undefined::Settle,
                &mut warnings
            )),
            "postBuild.substituteFrom ConfigMap flux-system/nope is neither defined in the \
             environment nor in the cluster (define it, create it in namespace flux-system, or \
             mark it `optional: true`)"
        );
        // Optional or not, a read that fails is an error: the variables are not known.
        let forbidden = substituting(&[("Secret", "forbidden", true)]);
        assert_eq!(
            failure(variables(
                &forbidden,
                &[],
                &opts,
                Undefined::Settle,
                &mut warnings
            )),
            "postBuild.substituteFrom Secret flux-system/forbidden is not defined in the \
             environment and could not be read from the cluster: get v1 secrets \
             forbidden/forbidden: no (403 Forbidden)"
        );
        // Offline: no cluster to read; an optional one is skipped.
        let offline = RenderOptions::new("", "default");
        assert!(
            failure(variables(
                &absent,
                &[],
                &offline,
                Undefined::Settle,
                &mut warnings
            ))
            .contains("this run does not read the cluster (an online run reads it from there")
        );
        let optional = substituting(&[("ConfigMap", "nope", true)]);
        assert!(
            values(variables(
                &optional,
                &[],
                &offline,
                Undefined::Settle,
                &mut warnings
            ))
            .is_empty()
        );
    }
}

#[cfg(test)]
mod repo_tests;
