//! Argo CD `Application`s (`argoproj.io`, SPEC §11) rendered as Argo CD's repo server renders
//! them: each source (`spec.source`, or each of `spec.sources`) whose `repoURL` is this repo
//! (by its remotes) has its `path` read at the commit looked at — `targetRevision` is not
//! followed: kubectl gitops renders the commit it is asked about — and built by its tool:
//!
//! - directory (no kustomization, no `Chart.yaml`): the path's YAML and JSON files
//!   (subdirectories with `directory.recurse`), `directory.include`/`exclude` globs; jsonnet
//!   is not rendered (one error).
//! - kustomize (a kustomization): `kustomize.namePrefix`, `nameSuffix`, `namespace`, `images`,
//!   `replicas`, `patches`, `components`, `commonLabels`, `commonAnnotations` written into the
//!   kustomization as `kustomize edit` writes them, built as Flux builds ([`flux::build`]).
//! - helm (`Chart.yaml`, or `helm` set): `helm template` with `valueFiles` (relative to the
//!   path, or `$ref/...` of a `ref` source of this repo), then `values` (or `valuesObject`,
//!   which replaces it), then `parameters` as `--set`/`--set-string`; release name
//!   `releaseName`, else the Application's name; namespace the destination's.
//!
//! Namespaced objects that set no namespace get the destination namespace; hooks
//! (`argocd.argoproj.io/hook`, `helm.sh/hook`) are left out, as Argo CD leaves them out of the
//! Application's resources. Config management plugins are not run (one error).

use std::path::PathBuf;

use serde_json::{Map, Value};

use gitops_git::{EnvRepo, FileKind, ObjectId, join_path};
use k8s_model::{Manifest, Source};

use crate::documents::{self, Format};
use crate::flux::{self, Expansion};
use crate::helm::{self, ChartTemplate, SetValue, TemplateError};
use crate::helm_release;
use crate::kustomize::{CHART_FILE, KUSTOMIZATION_FILES, Unit, UnitKind, Workspace};
use crate::{RenderError, RenderOptions};

/// The API group of Argo CD's Application.
pub const ARGO_GROUP: &str = "argoproj.io";

/// How a source's path is built.
enum Tool {
    Directory,
    Kustomize(flux::Inputs),
    Helm {
        /// Values files as repo paths, in order.
        values_files: Vec<String>,
    },
}

/// One source of this repo to build.
struct Build {
    dir: String,
    source: Value,
    tool: Tool,
}

/// A followed Application ready to build: [`prepare`], [`Prepared::build`] (the slow part,
/// on any thread), [`Prepared::finish`].
pub struct Prepared {
    name: String,
    namespace: String,
    builds: Vec<Build>,
    key: String,
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Whether `source` is this repo's, by its `repoURL` and the repo's remotes. A repo without
/// remotes has nothing to match against: it takes a source whose `path` is one of its
/// directories at `commit` (or a `ref`-only source) as its own, as SPEC §11 has Flux do when
/// no GitRepository can be matched; said in a debug log.
fn is_this_repo(repo: &EnvRepo, commit: ObjectId, source: &Value) -> bool {
    let url = text(source, "/repoURL").unwrap_or("");
    match helm_release::is_this_repo(repo, url) {
        Some(this) => this,
        None => {
            let this = match text(source, "/path") {
                None => source.get("ref").is_some(),
                Some(raw) => flux::clean_path(raw)
                    .is_some_and(|dir| matches!(repo.subtree_id(commit, &dir), Ok(Some(_)))),
            };
            tracing::debug!(
                "the repo has no remote: Argo CD source {url} is {}taken as this repo (by its path)",
                if this { "" } else { "not " }
            );
            this
        }
    }
}

/// Reads what rendering the Application `app` needs. `Ok(None)`: none of its sources is this
/// repo (it stays a plain object). `Err`: why it cannot be rendered, for its one error.
pub fn prepare(
    repo: &EnvRepo,
    commit: ObjectId,
    tools: &str,
    app: &Manifest,
) -> Result<Option<Prepared>, String> {
    let spec = app.object.get("spec").cloned().unwrap_or(Value::Null);
    let sources: Vec<Value> = match spec.get("sources").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list.clone(),
        _ => spec.get("source").cloned().into_iter().collect(),
    };
    let this: Vec<bool> = sources
        .iter()
        .map(|s| is_this_repo(repo, commit, s))
        .collect();
    if !this.iter().any(|t| *t) {
        return Ok(None);
    }
    // `ref` sources of this repo: their files are read from the repo's root.
    let refs: Vec<(&str, bool)> = sources
        .iter()
        .zip(&this)
        .filter_map(|(s, this)| Some((text(s, "/ref")?, *this)))
        .collect();
    let name = app.id.name.clone();
    let namespace = text(&spec, "/destination/namespace")
        .unwrap_or("")
        .to_owned();
    let mut builds = Vec::new();
    for (index, (source, this)) in sources.iter().zip(&this).enumerate() {
        let url = text(source, "/repoURL").unwrap_or("");
        let what = if sources.len() > 1 {
            format!("sources[{index}] ({url})")
        } else {
            format!("source ({url})")
        };
        if let Some(plugin) = source.get("plugin") {
            let plugin = text(plugin, "/name").unwrap_or("(discovered)");
            return Err(format!(
                "{what} uses config management plugin {plugin}: config management plugins are \
                 not run by kubectl gitops (commit the plugin's output and point the \
                 Application at it)"
            ));
        }
        let ref_only = source.get("ref").is_some() && text(source, "/path").is_none();
        if ref_only {
            continue;
        }
        if !this {
            return Err(format!(
                "{what} is not this repo (by its remotes): kubectl gitops renders only this \
                 repo's sources, and a part of an Application would be wrong"
            ));
        }
        if source.get("chart").is_some() {
            return Err(format!(
                "{what}: a chart source of a Helm repository is not rendered"
            ));
        }
        let raw = text(source, "/path").unwrap_or("");
        let dir =
            flux::clean_path(raw).ok_or_else(|| format!("{what}: path {raw:?} leaves the repo"))?;
        if !matches!(repo.subtree_id(commit, &dir), Ok(Some(_))) {
            return Err(format!(
                "{what}: path {raw:?} is not a directory of this repo at {commit}"
            ));
        }
        let has =
            |file: &str| matches!(repo.file_blob(commit, &join_path(&dir, file)), Ok(Some(_)));
        let chart = has(CHART_FILE);
        let kustomization = KUSTOMIZATION_FILES.iter().any(|f| has(f));
        let tool = if source.get("helm").is_some() || (chart && source.get("kustomize").is_none()) {
            Tool::Helm {
                values_files: values_files(repo, commit, source, &dir, &refs)
                    .map_err(|e| format!("{what}: {e}"))?,
            }
        } else if source.get("kustomize").is_some() || kustomization {
            if !kustomization {
                return Err(format!("{what}: {dir} holds no kustomization"));
            }
            Tool::Kustomize(
                flux::inputs(repo, commit, &dir, &Value::Null)
                    .map_err(|e| format!("{what}: {e}"))?,
            )
        } else {
            if source
                .pointer("/directory/jsonnet")
                .is_some_and(|j| j.as_object().is_some_and(|m| !m.is_empty()))
            {
                return Err(format!(
                    "{what}: directory.jsonnet is set; jsonnet is not rendered by kubectl gitops \
                     (commit its output, `jsonnet -m`)"
                ));
            }
            Tool::Directory
        };
        builds.push(Build {
            dir,
            source: source.clone(),
            tool,
        });
    }
    let key = build_key(repo, commit, tools, &name, &namespace, &builds);
    Ok(Some(Prepared {
        name,
        namespace,
        builds,
        key,
    }))
}

/// A helm source's values files as repo paths: relative to its path, or `$ref/...` from the
/// root of the `ref` source named (which must be this repo). Missing ones are an error unless
/// `ignoreMissingValueFiles`.
fn values_files(
    repo: &EnvRepo,
    commit: ObjectId,
    source: &Value,
    dir: &str,
    refs: &[(&str, bool)],
) -> Result<Vec<String>, String> {
    let ignore_missing = source
        .pointer("/helm/ignoreMissingValueFiles")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut out = Vec::new();
    for file in source
        .pointer("/helm/valueFiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let path = if let Some(rest) = file.strip_prefix('$') {
            let (name, rest) = rest.split_once('/').unwrap_or((rest, ""));
            match refs.iter().find(|(r, _)| *r == name) {
                Some((_, true)) => flux::clean_path(rest),
                Some((_, false)) => {
                    return Err(format!(
                        "helm.valueFiles {file}: source ref {name} is not this repo; its files \
                         cannot be read"
                    ));
                }
                None => return Err(format!("helm.valueFiles {file}: no source has ref {name}")),
            }
        } else if file.contains("://") {
            return Err(format!(
                "helm.valueFiles {file}: values files from URLs are not fetched"
            ));
        } else {
            flux::clean_path(&join_path(dir, file))
        };
        let Some(path) = path else {
            return Err(format!("helm.valueFiles {file} leaves the repo"));
        };
        match repo.file_blob(commit, &path) {
            Ok(Some(_)) => out.push(path),
            Ok(None) if ignore_missing => {}
            Ok(None) => {
                return Err(format!(
                    "helm.valueFiles {file}: {path} is not in the repo at {commit} (or set \
                     ignoreMissingValueFiles)"
                ));
            }
            Err(e) => return Err(format!("helm.valueFiles {file}: {e}")),
        }
    }
    Ok(out)
}

/// The cache key of an Application's build: what each source reads (tree ids, kustomize
/// inputs, values files' blobs), its spec, the name and namespace, and the tools.
fn build_key(
    repo: &EnvRepo,
    commit: ObjectId,
    tools: &str,
    name: &str,
    namespace: &str,
    builds: &[Build],
) -> String {
    let tree = |path: &str| {
        repo.subtree_id(commit, path)
            .ok()
            .flatten()
            .map_or_else(|| "none".to_owned(), |id| id.to_string())
    };
    let mut key = format!("argo {name} {namespace}\ntools {tools}\n");
    for build in builds {
        key.push_str(&format!(
            "source {} {} {}\n",
            build.dir,
            tree(&build.dir),
            build.source
        ));
        match &build.tool {
            Tool::Directory => {}
            Tool::Kustomize(inputs) => {
                key.push_str(&flux::build_key(repo, commit, inputs, &Value::Null, tools));
            }
            Tool::Helm { values_files } => {
                for file in values_files {
                    let blob = repo.file_blob(commit, file).ok().flatten();
                    key.push_str(&format!("values {file} {blob:?}\n"));
                }
            }
        }
    }
    key
}

impl Prepared {
    /// The repo directories of the sources built.
    pub fn dirs(&self) -> Vec<String> {
        self.builds.iter().map(|b| b.dir.clone()).collect()
    }

    /// Every source's build, concatenated, through the render cache.
    pub(crate) fn build(
        &self,
        repo: &EnvRepo,
        commit: ObjectId,
        opts: &RenderOptions,
    ) -> crate::Built {
        // Kept across runs unless a kustomize source may read a remote base (what no commit
        // pins); directory and helm sources read only the commit (and pulled charts by digest).
        let keep = || {
            !self.builds.iter().any(|build| match &build.tool {
                Tool::Kustomize(inputs) => inputs.reads_remote(repo, commit, &Value::Null),
                _ => false,
            })
        };
        opts.cache.build_kept(self.key.clone(), keep, || {
            let mut out = Vec::new();
            for build in &self.builds {
                let objects = match &build.tool {
                    Tool::Directory => directory(repo, commit, opts, build),
                    Tool::Kustomize(inputs) => {
                        flux::build(repo, commit, opts, inputs, &|kustomization| {
                            write_kustomize(kustomization, &build.source);
                        })
                    }
                    Tool::Helm { values_files } => {
                        self.helm(repo, commit, opts, build, values_files)
                    }
                }
                .map_err(|message| RenderError {
                    file: build.dir.clone(),
                    line: None,
                    message,
                })?;
                out.extend(objects);
            }
            Ok(out)
        })
    }

    /// The objects the Application applies, namespaced ones without a namespace placed in the
    /// destination's (hooks left out); the repo paths it read.
    pub(crate) fn finish(
        self,
        repo: &EnvRepo,
        commit: ObjectId,
        opts: &RenderOptions,
        built: &crate::Built,
    ) -> Expansion {
        let objects = match built.as_ref() {
            Ok(objects) => objects,
            Err(e) => return Expansion::Failed(e.message.clone()),
        };
        let namespace = if self.namespace.is_empty() {
            &opts.default_namespace
        } else {
            &self.namespace
        };
        let out = objects
            .iter()
            .filter(|(value, _)| !is_hook(value))
            .map(|(value, source)| {
                let mut value = value.clone();
                helm_release::place_in_namespace(&mut value, opts, namespace);
                (value, source.clone())
            })
            .collect();
        let mut read = Vec::new();
        for build in &self.builds {
            read.push(build.dir.clone());
            match &build.tool {
                Tool::Directory => {}
                Tool::Kustomize(inputs) => read.extend(inputs.reads(repo, commit)),
                Tool::Helm { values_files } => read.extend(values_files.iter().cloned()),
            }
        }
        read.dedup();
        Expansion::Objects(out, Vec::new(), read)
    }

    /// `helm template` of a helm source, as the repo server runs it.
    fn helm(
        &self,
        repo: &EnvRepo,
        commit: ObjectId,
        opts: &RenderOptions,
        build: &Build,
        values_files: &[String],
    ) -> Result<Vec<(Value, Source)>, String> {
        let source = &build.source;
        let helm_spec = source.get("helm").cloned().unwrap_or(Value::Null);
        if helm_spec.get("fileParameters").is_some() {
            return Err("helm.fileParameters are not supported by kubectl gitops".to_owned());
        }
        let workspace = Workspace::new(commit)?;
        let unit = Unit {
            dir: build.dir.clone(),
            kustomization: join_path(&build.dir, CHART_FILE),
            kind: UnitKind::Helm,
        };
        workspace.prepare(repo, &unit)?;
        let mut files: Vec<PathBuf> = Vec::new();
        for (i, file) in values_files.iter().enumerate() {
            let blob = repo
                .file_blob(commit, file)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{file} is not in the repo at {commit}"))?;
            let bytes = repo.read_blob(blob).map_err(|e| e.to_string())?;
            let path = workspace.path().join(format!("argo-values-{i}.yaml"));
            std::fs::write(&path, bytes).map_err(|e| format!("cannot write {file}: {e}"))?;
            files.push(path);
        }
        // valuesObject replaces values (Argo CD's `ValuesYAML`), over the files.
        let values = match (helm_spec.get("valuesObject"), text(&helm_spec, "/values")) {
            (Some(object), _) if !object.is_null() => Some(object.clone()),
            (_, Some(yaml)) => documents::parse_yaml_document(yaml)
                .map_err(|e| format!("helm.values does not parse: {}", e.message))?,
            _ => None,
        };
        let set: Vec<SetValue> = helm_spec
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let name = text(p, "/name")?;
                let value = match p.get("value") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                Some(SetValue {
                    // The repo server escapes commas, so a value is never split.
                    text: format!("{name}={}", value.replace(',', "\\,")),
                    force_string: p.get("forceString").and_then(Value::as_bool) == Some(true),
                })
            })
            .collect();
        let release_name = text(&helm_spec, "/releaseName").unwrap_or(&self.name);
        let namespace = text(&helm_spec, "/namespace")
            .or((!self.namespace.is_empty()).then_some(self.namespace.as_str()))
            .unwrap_or(&opts.default_namespace);
        let helm_binary = opts.helm.clone().unwrap_or_else(helm::default_helm);
        let documents = helm::template(
            &helm_binary,
            &ChartTemplate {
                chart: &workspace.path().join(&build.dir),
                release_name,
                namespace,
                values_files: &files,
                values: values.as_ref(),
                include_crds: helm_spec.get("skipCrds").and_then(Value::as_bool) != Some(true),
                include_hooks: true,
                api_versions: &[],
                set: &set,
            },
        )
        .map_err(|e| match e {
            TemplateError::NoHelm(reason) => format!(
                "helm is needed to render {}: cannot run {}: {reason} (install helm 3, or set \
                 HELM_BINARY to its path)",
                build.dir,
                helm_binary.display()
            ),
            TemplateError::Failed(stderr) => format!(
                "helm template of {} failed: {}",
                build.dir,
                workspace.relative(stderr.as_bytes())
            ),
            other => format!("{}: {other}", build.dir),
        })?;
        Ok(documents
            .into_iter()
            .map(|document| {
                let file = document.source.map_or_else(
                    || unit.kustomization.clone(),
                    |s| helm::chart_file(&build.dir, &s),
                );
                let source = Source {
                    file,
                    document: document.index,
                    line: 1,
                    end_line: 1,
                };
                (document.value, source)
            })
            .collect())
    }
}

/// Whether an object is an Argo CD or Helm hook: Argo CD runs hooks at their sync phase
/// (often under a `generateName`) and leaves them out of the Application's resources and
/// their sync status, so they are not desired state to compare.
fn is_hook(value: &Value) -> bool {
    value
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| {
            a.contains_key("argocd.argoproj.io/hook") || a.contains_key("helm.sh/hook")
        })
}

/// A directory source: its YAML and JSON files (below subdirectories with `recurse`) that
/// `include` takes and `exclude` does not (globs relative to the path, `{a,b}` alternatives,
/// `*` crossing `/` as in Argo CD's `glob.Match`).
fn directory(
    repo: &EnvRepo,
    commit: ObjectId,
    opts: &RenderOptions,
    build: &Build,
) -> Result<Vec<(Value, Source)>, String> {
    let dir = &build.dir;
    let recurse = build
        .source
        .pointer("/directory/recurse")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let include = text(&build.source, "/directory/include");
    let exclude = text(&build.source, "/directory/exclude");
    let files = repo
        .tree_entries(commit, dir)
        .map_err(|e| format!("cannot list {dir}: {e}"))?;
    let mut out = Vec::new();
    let mut jsonnet = Vec::new();
    for file in files {
        let relative = if dir.is_empty() {
            file.path.as_str()
        } else {
            file.path
                .strip_prefix(dir.as_str())
                .map_or(file.path.as_str(), |r| r.trim_start_matches('/'))
        };
        if file.kind == FileKind::Symlink || (!recurse && relative.contains('/')) {
            continue;
        }
        if include.is_some_and(|g| !glob_match(g, relative))
            || exclude.is_some_and(|g| glob_match(g, relative))
        {
            continue;
        }
        if relative.ends_with(".jsonnet") {
            jsonnet.push(file.path.clone());
            continue;
        }
        let Some(format) = Format::of(&file.path) else {
            continue;
        };
        let parsed = opts
            .cache
            .documents(repo, file.blob, format)
            .map_err(|e| e.to_string())?;
        let docs = match parsed.as_ref() {
            Ok(docs) => docs,
            Err(e) => {
                let line = e.line.map(|l| format!(":{l}")).unwrap_or_default();
                return Err(format!("{}{line} does not parse: {}", file.path, e.message));
            }
        };
        for doc in docs {
            let source = Source {
                file: file.path.clone(),
                document: doc.index,
                line: doc.line,
                end_line: doc.end_line,
            };
            match documents::list_items(&doc.value) {
                Some(Ok(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        let mut item_source = source.clone();
                        if let Some((line, end_line)) = doc.item_lines.get(i) {
                            item_source.line = *line;
                            item_source.end_line = *end_line;
                        }
                        out.push((item.clone(), item_source));
                    }
                }
                _ => out.push((doc.value.clone(), source)),
            }
        }
    }
    if !jsonnet.is_empty() {
        return Err(format!(
            "jsonnet is not rendered by kubectl gitops ({}); commit its output (`jsonnet -m`), \
             or exclude the files with directory.exclude",
            jsonnet.join(", ")
        ));
    }
    Ok(out)
}

/// Argo CD's `glob.Match`: `{a,b}` alternatives, `*` and `?` crossing `/`.
fn glob_match(pattern: &str, path: &str) -> bool {
    expand_braces(pattern).iter().any(|p| {
        gix::glob::wildmatch(
            p.as_str().into(),
            path.into(),
            gix::glob::wildmatch::Mode::empty(),
        )
    })
}

/// `a{b,c}d{e,f}` as its alternatives (`abde`, `abdf`, `acde`, `acdf`); nested braces too.
fn expand_braces(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else {
        return vec![pattern.to_owned()];
    };
    let mut depth = 0;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, c) in pattern[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(open + i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return vec![pattern.to_owned()];
    };
    let mut bounds = vec![open];
    bounds.extend(commas);
    bounds.push(close);
    let rest = expand_braces(&pattern[close + 1..]);
    let mut out = Vec::new();
    for pair in bounds.windows(2) {
        let alternative = &pattern[pair[0] + 1..pair[1]];
        for head in expand_braces(&format!("{}{alternative}", &pattern[..open])) {
            for tail in &rest {
                out.push(format!("{head}{tail}"));
            }
        }
    }
    out
}

/// A source's `kustomize` options written into its kustomization as Argo CD's `kustomize
/// edit` calls write them: prefix, suffix and namespace replace the kustomization's, an image
/// replaces the entry of its name, patches and components are appended (as Flux writes the
/// same fields, [`flux::write_spec`]); common labels and annotations are merged over the
/// kustomization's.
fn write_kustomize(kustomization: &mut Map<String, Value>, source: &Value) {
    let Some(options) = source.get("kustomize") else {
        return;
    };
    let mut spec = Map::new();
    for (field, target) in [
        ("namePrefix", "namePrefix"),
        ("nameSuffix", "nameSuffix"),
        ("namespace", "targetNamespace"),
        ("patches", "patches"),
        ("components", "components"),
    ] {
        if let Some(value) = options.get(field) {
            spec.insert(target.to_owned(), value.clone());
        }
    }
    if let Some(images) = options.get("images").and_then(Value::as_array) {
        let images: Vec<Value> = images
            .iter()
            .filter_map(Value::as_str)
            .map(kustomize_image)
            .collect();
        spec.insert("images".to_owned(), Value::from(images));
    }
    flux::write_spec(kustomization, &Value::Object(spec));
    // `kustomize edit set replicas`: an entry replaces the kustomization's of its name.
    if let Some(replicas) = options.get("replicas").and_then(Value::as_array) {
        let list = kustomization
            .entry("replicas")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = list.as_array_mut() {
            for entry in replicas {
                let mut entry = entry.clone();
                // Argo CD's count may be written as a string.
                if let Some(count) = entry
                    .get("count")
                    .and_then(Value::as_str)
                    .and_then(|c| c.parse::<i64>().ok())
                {
                    entry["count"] = Value::from(count);
                }
                let name = entry.get("name").cloned();
                match list.iter_mut().find(|e| e.get("name") == name.as_ref()) {
                    Some(existing) => *existing = entry,
                    None => list.push(entry),
                }
            }
        }
    }
    for (field, target) in [
        ("commonLabels", "commonLabels"),
        ("commonAnnotations", "commonAnnotations"),
    ] {
        let Some(added) = options.get(field).and_then(Value::as_object) else {
            continue;
        };
        let map = kustomization
            .entry(target)
            .or_insert_with(|| Value::Object(Map::new()));
        if !map.is_object() {
            *map = Value::Object(Map::new());
        }
        if let Some(map) = map.as_object_mut() {
            for (key, value) in added {
                map.insert(key.clone(), value.clone());
            }
        }
    }
}

/// An Argo CD kustomize image (`kustomize edit set image`'s argument: `[name=]newName[:tag]
/// [@digest]`) as a kustomization `images` entry.
fn kustomize_image(image: &str) -> Value {
    let (name, rest) = match image.split_once('=') {
        Some((name, rest)) => (Some(name), rest),
        None => (None, image),
    };
    let (rest, digest) = match rest.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (rest, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (new_name, tag) = match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    let mut entry = Map::new();
    entry.insert("name".to_owned(), Value::from(name.unwrap_or(new_name)));
    if name.is_some_and(|n| n != new_name) {
        entry.insert("newName".to_owned(), Value::from(new_name));
    }
    if let Some(tag) = tag {
        entry.insert("newTag".to_owned(), Value::from(tag));
    }
    if let Some(digest) = digest {
        entry.insert("digest".to_owned(), Value::from(digest));
    }
    Value::Object(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_take_alternatives_and_cross_slashes() {
        assert!(glob_match("*.yaml", "a.yaml"));
        assert!(glob_match("*.yaml", "sub/a.yaml"));
        assert!(glob_match("{a.yaml,b.json}", "b.json"));
        assert!(!glob_match("{a.yaml,b.json}", "c.yaml"));
        assert_eq!(
            expand_braces("x{a,b}y{1,2}"),
            ["xay1", "xay2", "xby1", "xby2"]
        );
    }

    #[test]
    fn images_are_parsed_as_kustomize_edit_set_image() {
        assert_eq!(
            kustomize_image("nginx:1.27"),
            json!({"name": "nginx", "newTag": "1.27"})
        );
        assert_eq!(
            kustomize_image("nginx=registry:5000/mirror/nginx:1.27"),
            json!({"name": "nginx", "newName": "registry:5000/mirror/nginx", "newTag": "1.27"})
        );
        assert_eq!(
            kustomize_image("nginx@sha256:abc"),
            json!({"name": "nginx", "digest": "sha256:abc"})
        );
    }
}

#[cfg(test)]
mod repo_tests;
