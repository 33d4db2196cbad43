//! Kustomize units: a directory holding a kustomization is built with `kubectl kustomize` from a
//! temp dir holding what the unit reads of the commit (its directory and the local paths its
//! kustomizations name: bases may reference `../` directories), with origin annotations
//! switched on in the copy so each rendered resource maps back to its file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use gitops_git::{EnvRepo, ObjectId, TreeFile, join_path, normalize_path};
use k8s_model::Source;

use super::documents::{self, Format};
use super::{RenderCache, RenderError};

/// File names that make a directory a kustomize unit, in kustomize's order of preference.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Annotation kustomize writes with `buildMetadata: [originAnnotations]`.
const ORIGIN_ANNOTATION: &str = "config.kubernetes.io/origin";

/// The file that makes a directory a Helm chart (SPEC §3).
pub const CHART_FILE: &str = "Chart.yaml";

/// How a unit is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitKind {
    /// A kustomization, built with `kubectl kustomize`.
    Kustomize,
    /// A Helm chart, rendered with `helm template`.
    Helm,
}

/// A directory built as one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Repo-relative directory.
    pub dir: String,
    /// Repo-relative path of the file that makes it a unit: its kustomization file, or
    /// `Chart.yaml` for a Helm chart.
    pub kustomization: String,
    /// Kustomize or Helm.
    pub kind: UnitKind,
}

impl Unit {
    /// Whether a repo-relative file lies in this unit's directory or below.
    pub fn contains(&self, file: &str) -> bool {
        self.dir.is_empty()
            || file
                .strip_prefix(self.dir.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// The units among `files`: the topmost directories holding a kustomization file or a
/// `Chart.yaml`. A unit below another is part of it (a base it references, a subchart). A
/// directory holding both is a Helm chart, as Argo CD decides.
pub fn find_units(files: &[TreeFile]) -> Vec<Unit> {
    // Rank of each defining file: lower wins within one directory.
    let rank = |name: &str| -> Option<(usize, UnitKind)> {
        if name == CHART_FILE {
            return Some((0, UnitKind::Helm));
        }
        KUSTOMIZATION_FILES
            .iter()
            .position(|k| *k == name)
            .map(|i| (i + 1, UnitKind::Kustomize))
    };
    let mut candidates: Vec<(usize, Unit)> = Vec::new();
    for file in files {
        let (dir, name) = file.path.rsplit_once('/').unwrap_or(("", &file.path));
        let Some((file_rank, kind)) = rank(name) else {
            continue;
        };
        let unit = Unit {
            dir: dir.to_owned(),
            kustomization: file.path.clone(),
            kind,
        };
        match candidates.iter_mut().find(|(_, u)| u.dir == dir) {
            // Two defining files in one directory: the chart, else kustomize's first choice.
            Some(existing) if file_rank < existing.0 => *existing = (file_rank, unit),
            Some(_) => {}
            None => candidates.push((file_rank, unit)),
        }
    }
    candidates
        .iter()
        .filter(|(_, u)| {
            !candidates
                .iter()
                .any(|(_, other)| other.dir != u.dir && other.contains(&u.kustomization))
        })
        .map(|(_, u)| u.clone())
        .collect()
}

/// The kubectl binary: `$KUBECTL_PATH` when kubectl set it (we run as its plugin), else `kubectl`.
pub fn default_kubectl() -> PathBuf {
    std::env::var_os("KUBECTL_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kubectl"))
}

/// A temp dir holding what a render's units read of a commit, written as each unit is built
/// ([`Workspace::prepare`]) and shared by them; removed on drop.
pub struct Workspace {
    dir: PathBuf,
    commit: ObjectId,
    /// Repo paths written so far (`""`: the whole tree).
    written: std::sync::Mutex<Vec<String>>,
}

impl Workspace {
    /// A fresh, empty temp dir for `commit`'s units.
    pub fn new(commit: ObjectId) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!(
            "kubectl-gitops-kustomize-{}",
            uuid::Uuid::new_v4().simple()
        ));
        // `create_dir`, not `create_dir_all`: fails rather than reuse a directory someone
        // planted at the name.
        std::fs::create_dir(&dir).map_err(|e| {
            format!(
                "cannot create a temp dir for kustomize at {}: {e}",
                dir.display()
            )
        })?;
        Ok(Self {
            dir,
            commit,
            written: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Writes what `unit`'s build can read ([`read_paths`]; the whole tree when that is not
    /// known) unless already written: a large repo's other thousand files are never written,
    /// nor deleted again, for each commit whose unit is built.
    pub fn prepare(&self, repo: &EnvRepo, unit: &Unit) -> Result<(), String> {
        let paths = read_paths(repo, self.commit, unit).unwrap_or_else(|| vec![String::new()]);
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let covered = |path: &str, written: &[String]| {
            written.iter().any(|w| {
                w.is_empty()
                    || path == w
                    || path
                        .strip_prefix(w.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        };
        let missing: Vec<String> = paths
            .into_iter()
            .filter(|p| !covered(p, &written))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        repo.materialize_paths(self.commit, &missing, &self.dir)
            .map_err(|e| e.to_string())?;
        written.extend(missing);
        Ok(())
    }

    /// A workspace holding all of `commit`'s tree.
    pub fn whole(repo: &EnvRepo, commit: ObjectId) -> Result<Self, String> {
        let workspace = Self::new(commit)?;
        repo.materialize(commit, &workspace.dir)
            .map_err(|e| e.to_string())?;
        workspace
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(String::new());
        Ok(workspace)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A tool's message with the workspace's paths made repo-relative.
    pub(crate) fn relative(&self, message: &[u8]) -> String {
        let root = self.dir.display().to_string();
        String::from_utf8_lossy(message)
            .replace(&format!("{root}/"), "")
            .replace(&root, ".")
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir is harmless and the OS cleans it eventually.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Builds one unit and maps each resource back to its source file. The error is kustomize's
/// message (temp paths made repo-relative), for a [`RenderError`] on the unit's directory.
pub fn build(
    repo: &EnvRepo,
    commit: ObjectId,
    unit: &Unit,
    workspace: &Workspace,
    kubectl: &Path,
    cache: &RenderCache,
) -> Result<Vec<(Value, Source)>, RenderError> {
    build_with(repo, commit, unit, workspace, kubectl, cache, &[])
}

/// [`build`] passing `args` to `kubectl kustomize` too (Flux builds with
/// `--load-restrictor LoadRestrictionsNone`).
pub fn build_with(
    repo: &EnvRepo,
    commit: ObjectId,
    unit: &Unit,
    workspace: &Workspace,
    kubectl: &Path,
    cache: &RenderCache,
    args: &[&str],
) -> Result<Vec<(Value, Source)>, RenderError> {
    let unit_error = |message: String| RenderError {
        file: if unit.dir.is_empty() {
            ".".to_owned()
        } else {
            unit.dir.clone()
        },
        line: None,
        message,
    };
    let root = workspace.path();
    // Before the origin annotations rewrite the unit's file, so lines are the repo's.
    check_references(root, unit)?;
    inject_origin_annotations(&root.join(&unit.kustomization)).map_err(|message| RenderError {
        file: unit.kustomization.clone(),
        line: message.0,
        message: message.1,
    })?;
    let unit_dir = root.join(&unit.dir);
    // Plugins and exec functions stay off: kustomize's default, and we never pass the flags
    // that enable them, so a repo cannot run code on the operator's machine.
    let mut command = Command::new(kubectl);
    command
        .arg("kustomize")
        .arg(&unit_dir)
        .args(args)
        // Remote bases are fetched with git: it must never prompt on the operator's terminal.
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    let output = run_with_timeout(command, BUILD_TIMEOUT).map_err(|e| {
        unit_error(format!(
            "cannot run {} kustomize: {e} (install kubectl or set KUBECTL_PATH)",
            kubectl.display()
        ))
    })?;
    let Some(output) = output else {
        return Err(unit_error(format!(
            "kubectl kustomize did not finish within {}s (a remote base that does not answer?)",
            BUILD_TIMEOUT.as_secs()
        )));
    };
    if !output.status.success() {
        let stderr = workspace.relative(&output.stderr);
        return Err(unit_error(format!(
            "kubectl kustomize failed: {}",
            stderr.trim()
        )));
    }
    let rendered = documents::parse(Format::Yaml, &output.stdout).map_err(|e| {
        unit_error(format!(
            "cannot parse the output of kubectl kustomize: {} (line {})",
            e.message,
            e.line.unwrap_or(0)
        ))
    })?;
    let mut out = Vec::with_capacity(rendered.len());
    for doc in rendered {
        let mut value = doc.value;
        let origin = take_origin(&mut value);
        let file = origin
            .and_then(|o| resolve_relative(&unit.dir, &o))
            .unwrap_or_else(|| unit.kustomization.clone());
        let source = locate(repo, commit, cache, &file, &value).unwrap_or(Source {
            file,
            document: 0,
            line: 1,
            end_line: 1,
        });
        out.push((value, source));
    }
    Ok(out)
}

/// Fields of a kustomization naming other kustomizations or resource directories.
const REFERENCE_FIELDS: [&str; 3] = ["resources", "bases", "components"];

/// Refuses a unit whose kustomizations (its own and the local ones it reaches) name a path
/// outside the repo. kustomize's load restrictor keeps files inside a kustomization's root, but
/// a directory becomes a root of its own, so `resources: [/home/me/prod]` or `[../../..]`
/// would read the operator's disk; a `file:` URL clones a local repo. Remote URLs stay allowed.
fn check_references(root: &Path, unit: &Unit) -> Result<(), RenderError> {
    let mut pending = vec![normalize_path(&unit.dir)];
    let mut seen = std::collections::HashSet::new();
    while let Some(dir) = pending.pop() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let Some(file) = KUSTOMIZATION_FILES
            .iter()
            .map(|name| join_path(&dir, name))
            .find(|file| root.join(file).is_file())
        else {
            continue;
        };
        // A kustomization that cannot be read or parsed fails in kustomize with its message.
        let Ok(text) = std::fs::read_to_string(root.join(&file)) else {
            continue;
        };
        let Ok(Some(kustomization)) = documents::parse_yaml_document(&text) else {
            continue;
        };
        for field in REFERENCE_FIELDS {
            let entries = kustomization
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str);
            for entry in entries {
                let inside = resolve_relative(&dir, entry)
                    .filter(|_| !entry.starts_with('/') && !entry.starts_with("file:"));
                let Some(target) = inside else {
                    return Err(RenderError {
                        line: text.lines().position(|l| l.contains(entry)).map(|i| i + 1),
                        file,
                        message: format!(
                            "{field} entry {entry:?} is outside the repo; a kustomization may \
                             only use files and directories of the repo, or remote URLs"
                        ),
                    });
                };
                if root.join(&target).is_dir() {
                    pending.push(target);
                }
            }
        }
    }
    Ok(())
}

/// What [`walk_kustomizations`] found.
struct KustomizationWalk {
    /// Each kustomization file read, with its blob.
    files: Vec<(String, ObjectId)>,
    /// Each repo path the kustomizations name, once, with its id: a directory's tree, a file's
    /// blob, `None` where nothing is.
    named: Vec<(String, Option<ObjectId>)>,
    /// Whether every kustomization file could be read as text.
    complete: bool,
    /// Whether a kustomization names something that may be remote ([`looks_remote`]).
    remote: bool,
}

/// Whether a string of a kustomization may name a remote base or file, as kustomize reads
/// them (`https://…`, `git@…`, `git::…`, `github.com/org/repo//dir?ref=…`). Any string is
/// looked at, so an annotation holding a URL counts too: a false yes only costs a cache entry.
pub(crate) fn looks_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("git::")
        || entry.contains("?ref=")
        || entry.contains("?version=")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"]
            .iter()
            .any(|host| entry.starts_with(host))
}

/// Whether `unit`'s kustomizations (its own and those it reaches) name anything that may be
/// remote ([`looks_remote`]): its build then reads what no commit pins, and is not kept
/// across runs ([`crate::RenderCache::build_kept`]).
pub(crate) fn reads_remote(repo: &EnvRepo, commit: ObjectId, unit: &Unit) -> bool {
    let walk = walk_kustomizations(repo, commit, unit, collect_strings);
    walk.remote || !walk.complete
}

/// Walks a kustomize unit's kustomizations at `commit`: the one in the unit's directory, then
/// those of the directories it names, and theirs in turn, each directory once. `names` picks
/// the strings of a kustomization that name paths; each is resolved against its
/// kustomization's directory (remote URLs, absolute paths, inline patches and paths leaving
/// the repo left out).
fn walk_kustomizations(
    repo: &EnvRepo,
    commit: ObjectId,
    unit: &Unit,
    names: impl Fn(&Value, &mut Vec<String>),
) -> KustomizationWalk {
    let mut walk = KustomizationWalk {
        files: Vec::new(),
        named: Vec::new(),
        complete: true,
        remote: false,
    };
    let mut pending = vec![normalize_path(&unit.dir)];
    let mut seen = std::collections::HashSet::new();
    while let Some(dir) = pending.pop() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let found = KUSTOMIZATION_FILES.iter().find_map(|name| {
            let file = join_path(&dir, name);
            let blob = repo.file_blob(commit, &file).ok().flatten()?;
            Some((file, blob))
        });
        let Some((file, blob)) = found else {
            continue;
        };
        walk.files.push((file, blob));
        let Some(text) = repo
            .read_blob(blob)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
        else {
            walk.complete = false;
            continue;
        };
        // A kustomization that does not parse: kustomize reports it; its file's id stands.
        let Ok(Some(kustomization)) = documents::parse_yaml_document(&text) else {
            continue;
        };
        let mut entries = Vec::new();
        names(&kustomization, &mut entries);
        for entry in entries {
            walk.remote |= looks_remote(&entry);
            if entry.contains("://") || entry.starts_with('/') || entry.contains('\n') {
                continue;
            }
            let Some(target) = resolve_relative(&dir, &entry) else {
                continue;
            };
            if target.is_empty()
                || seen.contains(&target)
                || walk.named.iter().any(|(named, _)| *named == target)
            {
                continue;
            }
            let id = match repo.subtree_id(commit, &target) {
                Ok(Some(tree)) => {
                    pending.push(target.clone());
                    Some(tree)
                }
                _ => repo.file_blob(commit, &target).ok().flatten(),
            };
            walk.named.push((target, id));
        }
    }
    walk
}

/// Paths of the repo that a kustomize unit reads at `commit` beyond its own directory: the
/// local directories and files its kustomization names (`resources`, `bases`, `components`,
/// patch files), and theirs in turn. Remote URLs and paths leaving the repo are left out.
pub fn referenced_paths(repo: &EnvRepo, commit: ObjectId, unit: &Unit) -> Vec<String> {
    let walk = walk_kustomizations(repo, commit, unit, |kustomization, out| {
        for field in REFERENCE_FIELDS.iter().chain(&["patchesStrategicMerge"]) {
            let listed = kustomization.get(*field).and_then(Value::as_array);
            out.extend(
                listed
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned),
            );
        }
        let patches = kustomization.get("patches").and_then(Value::as_array);
        out.extend(
            patches
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("path").and_then(Value::as_str))
                .map(str::to_owned),
        );
    });
    walk.named.into_iter().map(|(path, _)| path).collect()
}

/// The repo paths a unit's build can read at `commit`: a chart's directory; a kustomization's
/// directory and every local path its kustomizations name (the walk of [`input_address`], so
/// what is written for the build is what its address covers). `None` when a kustomization
/// cannot be read as text (then write everything).
pub fn read_paths(repo: &EnvRepo, commit: ObjectId, unit: &Unit) -> Option<Vec<String>> {
    if unit.kind == UnitKind::Helm {
        return Some(vec![unit.dir.clone()]);
    }
    let walk = walk_kustomizations(repo, commit, unit, collect_strings);
    if !walk.complete {
        return None;
    }
    let mut paths = vec![unit.dir.clone()];
    paths.extend(
        walk.named
            .into_iter()
            .filter(|(_, id)| id.is_some())
            .map(|(path, _)| path),
    );
    Some(paths)
}

/// The content address of what a unit's build reads at `commit`: the id of every repo path
/// it can read, as `(path, id)` lines. For a kustomization, its own file and every string of
/// it that names a path of the repo relative to its directory (resources, bases, components,
/// patches, generator files, ... whatever the field: a string that is no path names
/// nothing), a named directory by its tree id (which covers all below it) and, when it holds
/// a kustomization, that kustomization's own paths in turn. A chart is its directory's tree.
/// Two commits with the same address build the same output (for the same tools): most
/// commits of a repo leave a unit's inputs alone even when they change files beside them.
/// `None` when the unit cannot be read (the build reports why).
pub fn input_address(repo: &EnvRepo, commit: ObjectId, unit: &Unit) -> Option<String> {
    use std::fmt::Write as _;
    let mut lines = String::new();
    if unit.kind == UnitKind::Helm {
        let tree = repo.subtree_id(commit, &unit.dir).ok()??;
        let _ = writeln!(lines, "helm {} {tree}", unit.dir);
        return Some(lines);
    }
    let walk = walk_kustomizations(repo, commit, unit, collect_strings);
    if !walk.complete {
        return None;
    }
    for (file, blob) in &walk.files {
        let _ = writeln!(lines, "{file} {blob}");
    }
    for (path, id) in &walk.named {
        if let Some(id) = id {
            let _ = writeln!(lines, "{path} {id}");
        }
    }
    Some(lines)
}

/// A string of `unit`'s kustomizations (its own and those it reaches) that names a file
/// outside the repo, as `(kustomization file, string)`: a relative path climbing above the
/// root, or an absolute path that exists on this machine. Builds run with
/// `--load-restrictor LoadRestrictionsNone` (as Flux builds) must refuse those, or a repo
/// could read the operator's files into its output (Flux confines the build to the artifact).
pub fn outside_reference(
    repo: &EnvRepo,
    commit: ObjectId,
    unit: &Unit,
) -> Option<(String, String)> {
    let walk = walk_kustomizations(repo, commit, unit, |_, _| {});
    for (file, blob) in walk.files {
        let Some(text) = repo
            .read_blob(blob)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
        else {
            continue;
        };
        let Ok(Some(kustomization)) = documents::parse_yaml_document(&text) else {
            continue;
        };
        let dir = file.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut strings = Vec::new();
        collect_strings(&kustomization, &mut strings);
        let outside = strings.into_iter().find(|s| {
            if s.contains('\n') || s.contains("://") {
                return false;
            }
            if s.starts_with('/') {
                return Path::new(s).exists();
            }
            s.contains("..") && resolve_relative(dir, s).is_none()
        });
        if let Some(outside) = outside {
            return Some((file, outside));
        }
    }
    None
}

/// Every string value of a YAML value, depth first.
fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            out.push(text.clone());
            // A generator's `key=path` (`files:`, `envs:`) names the path after the `=`.
            if let Some((_, path)) = text.split_once('=') {
                out.push(path.to_owned());
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, out)),
        _ => {}
    }
}

/// Longest a kustomize build may take; remote bases can hang on the network.
pub(crate) const BUILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `command` to completion and collects its output, or kills it after `timeout` (`None`).
pub(crate) fn run_with_timeout(
    mut command: Command,
    timeout: Duration,
) -> std::io::Result<Option<Output>> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Drain both pipes on their own threads so a chatty child never blocks on a full pipe.
    // The child closing its output is when it exits: wait for that rather than poll (each
    // poll interval was added to every build's time).
    let (closed, closing) = std::sync::mpsc::channel();
    let stdout = drain(child.stdout.take(), Some(closed));
    let stderr = drain(child.stderr.take(), None);
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    let mut open = true;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        let wait = pause.min(deadline - now);
        if open {
            // Wakes as soon as the child closes its output (it is exiting).
            open = matches!(
                closing.recv_timeout(wait),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout)
            );
        } else {
            // Output closed, still running: polled less and less often.
            std::thread::sleep(wait);
        }
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(status.map(|status| Output {
        status,
        stdout,
        stderr,
    }))
}

/// Reads a child's pipe to the end on a thread.
fn drain<R: Read + Send + 'static>(
    pipe: Option<R>,
    closed: Option<std::sync::mpsc::Sender<()>>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error leaves what was read; the exit status tells what happened.
            let _ = pipe.read_to_end(&mut bytes);
        }
        if let Some(closed) = closed {
            let _ = closed.send(());
        }
        bytes
    })
}

/// Adds `originAnnotations` to the kustomization's `buildMetadata` in the temp copy.
fn inject_origin_annotations(path: &Path) -> Result<(), (Option<usize>, String)> {
    let bytes = std::fs::read(path).map_err(|e| (None, format!("cannot read: {e}")))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| (None, "not valid UTF-8".to_owned()))?;
    let mut kustomization = documents::parse_yaml_document(text)
        .map_err(|e| (e.line, e.message))?
        .unwrap_or_else(|| Value::Object(Default::default()));
    let Some(map) = kustomization.as_object_mut() else {
        return Err((Some(1), "a kustomization must be a mapping".to_owned()));
    };
    let metadata = map
        .entry("buildMetadata")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(list) = metadata.as_array_mut() else {
        return Err((None, "buildMetadata must be a list".to_owned()));
    };
    if !list.iter().any(|v| v == "originAnnotations") {
        list.push(Value::from("originAnnotations"));
    }
    // JSON is YAML, and serde_json writes it without loss.
    let json = serde_json::to_vec_pretty(&kustomization)
        .map_err(|e| (None, format!("cannot write: {e}")))?;
    std::fs::write(path, json).map_err(|e| (None, format!("cannot write: {e}")))
}

/// Removes the origin annotation (and an emptied `annotations` map); returns its `path`, or
/// for generated resources the file that configured the generator.
fn take_origin(value: &mut Value) -> Option<String> {
    let metadata = value.get_mut("metadata")?.as_object_mut()?;
    let annotations = metadata.get_mut("annotations")?.as_object_mut()?;
    let origin = annotations.shift_remove(ORIGIN_ANNOTATION)?;
    if annotations.is_empty() {
        metadata.shift_remove("annotations");
    }
    let origin = documents::parse_yaml_document(origin.as_str()?).ok()??;
    // A remote base's path is inside that remote repo, not ours: the unit is the best source.
    if origin.get("repo").is_some() {
        return None;
    }
    origin
        .get("path")
        .or_else(|| origin.get("configuredIn"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `dir` joined with a relative path that may climb with `..`; `None` when it leaves the repo.
pub(crate) fn resolve_relative(dir: &str, relative: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    let joined = join_path(&normalize_path(dir), relative);
    for part in joined.split('/') {
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

/// Finds the document of `file` at `commit` a rendered object came from: the only document of
/// its kind, else the one whose name the rendered name contains (name prefixes and suffixes
/// keep the original), else the first of its kind. For generated objects, whose file is the
/// kustomization, no document has their kind: the first document stands for them.
fn locate(
    repo: &EnvRepo,
    commit: ObjectId,
    cache: &RenderCache,
    file: &str,
    rendered: &Value,
) -> Option<Source> {
    let blob = repo.file_blob(commit, file).ok()??;
    let format = Format::of(file).unwrap_or(Format::Yaml);
    let parsed = cache.documents(repo, blob, format).ok()?;
    let docs = parsed.as_ref().as_ref().ok()?;
    let kind = rendered.get("kind").and_then(Value::as_str);
    let name = rendered
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut candidates: Vec<_> = docs
        .iter()
        .filter(|d| d.value.get("kind").and_then(Value::as_str) == kind)
        .collect();
    if candidates.is_empty() {
        candidates.extend(docs.first());
    }
    let doc = match candidates.as_slice() {
        [only] => *only,
        several => several
            .iter()
            .filter(|d| {
                d.value
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty() && name.contains(n))
            })
            .max_by_key(|d| {
                d.value
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map_or(0, str::len)
            })
            .or_else(|| several.first())
            .copied()?,
    };
    Some(Source {
        file: file.to_owned(),
        document: doc.index,
        line: doc.line,
        end_line: doc.end_line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_git::FileKind;

    fn file(path: &str) -> TreeFile {
        TreeFile {
            path: path.to_owned(),
            blob: ObjectId::null(gix::hash::Kind::Sha1),
            kind: FileKind::Regular,
        }
    }

    #[test]
    fn topmost_units_only() {
        let files = [
            file("apps/web/kustomization.yaml"),
            file("apps/web/base/kustomization.yml"),
            file("apps/web/deploy.yaml"),
            file("apps/db/Kustomization"),
            file("apps/db/kustomization.yaml"),
            file("plain/cm.yaml"),
            file("charts/guestbook/Chart.yaml"),
            file("charts/guestbook/values.yaml"),
            file("charts/guestbook/charts/redis/Chart.yaml"),
            file("charts/both/kustomization.yaml"),
            file("charts/both/Chart.yaml"),
        ];
        let units = find_units(&files);
        let unit = |dir: &str, file: &str, kind| Unit {
            dir: dir.into(),
            kustomization: format!("{dir}/{file}"),
            kind,
        };
        assert_eq!(
            units,
            [
                unit("apps/web", "kustomization.yaml", UnitKind::Kustomize),
                unit("apps/db", "kustomization.yaml", UnitKind::Kustomize),
                unit("charts/guestbook", "Chart.yaml", UnitKind::Helm),
                unit("charts/both", "Chart.yaml", UnitKind::Helm),
            ]
        );
        assert!(units[0].contains("apps/web/base/x.yaml"));
        assert!(!units[0].contains("apps/webx/x.yaml"));
    }

    #[test]
    fn relative_paths_resolve_inside_the_repo() {
        assert_eq!(
            resolve_relative("envs/prod", "../../base/d.yaml").as_deref(),
            Some("base/d.yaml")
        );
        assert_eq!(
            resolve_relative("", "svc.yaml").as_deref(),
            Some("svc.yaml")
        );
        assert_eq!(resolve_relative("a", "../../x.yaml"), None);
    }

    #[test]
    fn slow_commands_are_killed() {
        let mut sleep = Command::new("sleep");
        sleep.arg("5");
        let started = Instant::now();
        let out = run_with_timeout(sleep, Duration::from_millis(200)).unwrap();
        assert!(out.is_none());
        assert!(started.elapsed() < Duration::from_secs(3));
        let mut echo = Command::new("sh");
        echo.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = run_with_timeout(echo, Duration::from_secs(10))
            .unwrap()
            .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn references_out_of_the_repo_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("base/kustomization.yaml", "resources:\n- cm.yaml\n");
        write(
            "app/kustomization.yaml",
            "resources:\n- ../base\n- https://github.com/org/repo//deploy?ref=v1\n",
        );
        let unit = |dir: &str| Unit {
            dir: dir.into(),
            kustomization: format!("{dir}/kustomization.yaml"),
            kind: UnitKind::Kustomize,
        };
        assert_eq!(check_references(root.path(), &unit("app")), Ok(()));
        for escape in ["/etc", "../../..", "file:///home/me/env", "../base/../../x"] {
            write(
                "base/kustomization.yaml",
                &format!("resources:\n- cm.yaml\n- {escape}\n"),
            );
            let err = check_references(root.path(), &unit("app")).unwrap_err();
            assert_eq!(err.file, "base/kustomization.yaml", "{escape}");
            assert_eq!(err.line, Some(3), "{escape}");
            assert!(err.message.contains(escape), "{err}");
        }
    }

    #[test]
    fn origin_annotation_is_taken_out() {
        let mut value = serde_json::json!({
            "kind": "ConfigMap",
            "metadata": {"name": "x", "annotations": {ORIGIN_ANNOTATION: "path: ../base/cm.yaml\n"}}
        });
        assert_eq!(take_origin(&mut value).as_deref(), Some("../base/cm.yaml"));
        assert_eq!(value["metadata"], serde_json::json!({"name": "x"}));
    }
}
