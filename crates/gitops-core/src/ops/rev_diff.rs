//! `diff --from REV [--rev REV2]` (SPEC §5): the environment rendered at two commits, compared
//! resource by resource, with no cluster. Each commit is rendered as `status` renders it (the
//! same [`render`] path and options, so every unit kind `gitops-render` knows takes part), the
//! resources are paired by identity, and each pair goes through the drift engine's comparison
//! ([`prepare_objects`]: normalized, Secrets masked together with distinct masks; then the full
//! field comparison), `--from` on the `live` side of each change and `--rev` on the `desired`
//! side.
//!
//! A unit that fails to render at either commit is reported; its resources are left out of the
//! comparison on both sides (they would otherwise show as added or removed), the rest is
//! compared, and the exit code says error.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::Target;
use crate::drift::changes::full_changes;
use crate::drift::merge_key::ListKeys;
use crate::drift::{Change, DriftError, prepare_objects, to_yaml};
use crate::ops::history::{ChangeKind, change_order};
use crate::ops::status::{ResourceFilter, StatusError, resolve_resource_arg};
use gitops_git::{EnvRepo, ObjectId, RepoError};
use gitops_render::{RenderCache, RenderError, RenderFailure, RenderOptions, Rendered, render};
use k8s_model::path::FieldPath;
use k8s_model::{CommitInfo, Manifest, ResourceId, Source};

/// What to compare: the environment (`target.rev` is the newer side, `--rev`) and `--from`.
#[derive(Debug, Clone)]
pub struct RevisionDiffOptions {
    /// The environment; its `rev` is the side the changes lead to.
    pub target: Target,
    /// `--from`: the side the changes start from.
    pub from: String,
    /// RESOURCE arguments (`deploy/web`, `cm`); empty for all.
    pub resources: Vec<String>,
    /// Keep both sides' YAML in each resource (`from_yaml`, `rev_yaml`) for text diffs; the
    /// JSON, YAML and porcelain outputs do not need them, and writing a large CRD as YAML
    /// costs more than comparing it.
    pub texts: bool,
}

/// One resource that differs between the two commits.
#[derive(Debug, Clone)]
pub struct ResourceRevisionDiff {
    /// Identity.
    pub id: ResourceId,
    /// `apiVersion` at `--rev` (at `--from` when removed).
    pub api_version: String,
    /// Added (only at `--rev`), modified, or removed (only at `--from`).
    pub change: ChangeKind,
    /// Field changes `--from` → `--rev`: `live` is the `--from` value, `desired` the `--rev`
    /// one; one whole-object change at the root path for added and removed resources.
    pub changes: Vec<Change>,
    /// Where the resource is at `--rev` (at `--from` when removed).
    pub source: Source,
    /// The object at `--from`, normalized and masked, as YAML; empty when added or when
    /// [`RevisionDiffOptions::texts`] is off.
    pub from_yaml: String,
    /// The object at `--rev`, normalized and masked, as YAML; empty when removed or when
    /// [`RevisionDiffOptions::texts`] is off.
    pub rev_yaml: String,
}

/// The `Diff` report of two commits.
#[derive(Debug, Clone)]
pub struct RevisionDiff {
    /// `--from`, resolved.
    pub from: CommitInfo,
    /// `--rev`, resolved.
    pub revision: CommitInfo,
    /// `--path`, normalized.
    pub path: String,
    /// The resources that differ, by kind, namespace, name, group.
    pub resources: Vec<ResourceRevisionDiff>,
    /// Files or units that did not render at either commit (`<short sha>: file:line: message`);
    /// they make the exit code 2.
    pub render_errors: Vec<String>,
    /// Files skipped with a reason (symlinks), for stderr.
    pub warnings: Vec<String>,
}

impl RevisionDiff {
    /// How many resources were added, modified and removed.
    pub fn counts(&self) -> BTreeMap<ChangeKind, usize> {
        let mut counts = BTreeMap::new();
        for kind in [ChangeKind::Added, ChangeKind::Modified, ChangeKind::Removed] {
            counts.insert(kind, 0);
        }
        for r in &self.resources {
            *counts.entry(r.change).or_insert(0) += 1;
        }
        counts
    }

    /// SPEC §5: 2 when a unit failed to render, 1 when anything differs, else 0.
    pub fn exit_code(&self) -> i32 {
        if !self.render_errors.is_empty() {
            2
        } else if !self.resources.is_empty() {
            1
        } else {
            0
        }
    }
}

/// Errors that stop the comparison as a whole.
#[derive(Debug, thiserror::Error)]
pub enum RevisionDiffError {
    /// The repository could not be opened.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// `--from` or `--rev` names no commit.
    #[error(
        "{flag} {rev:?}: {source}; give a commit, branch or tag the repo has (git log lists them)"
    )]
    Revision {
        /// `--from` or `--rev`.
        flag: &'static str,
        /// The revision as given.
        rev: String,
        /// Why it could not be resolved.
        #[source]
        source: RepoError,
    },
    /// The environment could not be rendered at all at a commit (bad `--path`, invalid config).
    #[error("cannot render the environment at {flag} {rev}: {source}")]
    Render {
        /// `--from` or `--rev`.
        flag: &'static str,
        /// The revision as given.
        rev: String,
        /// What failed.
        #[source]
        source: RenderFailure,
    },
    /// A RESOURCE argument that names no kind or is malformed.
    #[error(transparent)]
    Resource(#[from] StatusError),
    /// An object that could not be shown as YAML.
    #[error("{resource}: {source}")]
    Object {
        /// The resource.
        resource: String,
        /// What failed.
        #[source]
        source: DriftError,
    },
}

/// Compares the environment at `opts.from` with it at `opts.target.rev` (SPEC §5 `diff --from`).
pub async fn diff_revisions(opts: &RevisionDiffOptions) -> Result<RevisionDiff, RevisionDiffError> {
    let filters = opts
        .resources
        .iter()
        .map(|arg| resolve_resource_arg(arg, opts.target.namespace.as_deref(), None))
        .collect::<Result<Vec<_>, _>>()?;
    let mut render_opts = opts.target.render_options(None).await;
    let repo = EnvRepo::open(&opts.target.repo)?;
    render_opts.cache = RenderCache::on_disk(&repo.git_dir());
    let resolve =
        |flag: &'static str, rev: &str| -> Result<(ObjectId, CommitInfo), RevisionDiffError> {
            let revision_error = |source| RevisionDiffError::Revision {
                flag,
                rev: rev.to_owned(),
                source,
            };
            let id = repo.resolve(rev).map_err(revision_error)?;
            let info = repo.commit_info(id).map_err(revision_error)?;
            Ok((id, info))
        };
    let (from_id, from) = resolve("--from", &opts.from)?;
    let (rev_id, revision) = resolve("--rev", &opts.target.rev)?;
    let [from_render, rev_render] = render_both(&repo, [from_id, rev_id], &render_opts);
    let path = opts.target.env_path();
    let mut warnings = Vec::new();
    let missing_ok = [&from_render, &rev_render].iter().any(|side| side.is_ok());
    let from_side = Side::of(("--from", &opts.from), from_render, &path, missing_ok)?;
    let rev_side = Side::of(("--rev", &opts.target.rev), rev_render, &path, missing_ok)?;
    let mut render_errors = Vec::new();
    for (side, info) in [(&from_side, &from), (&rev_side, &revision)] {
        let short = k8s_model::short_sha(&info.id);
        render_errors.extend(side.errors.iter().map(|e| format!("at {short}: {e}")));
        warnings.extend(side.warnings.iter().map(|w| format!("at {short}: {w}")));
    }
    let failed: Vec<&RenderError> = from_side.errors.iter().chain(&rev_side.errors).collect();
    let before = selected(from_side.manifests, &filters, &failed);
    let after = selected(rev_side.manifests, &filters, &failed);
    Ok(RevisionDiff {
        from,
        revision,
        path,
        resources: compare(before, after, opts.texts)?,
        render_errors,
        warnings,
    })
}

/// What one commit's render gave.
struct Side {
    manifests: Vec<Manifest>,
    errors: Vec<RenderError>,
    warnings: Vec<String>,
}

impl Side {
    /// The render of `flag`'s revision `rev`. An environment directory that does not exist at
    /// that commit (a pull request that adds or deletes the environment) is an empty side with
    /// a warning, when the other side has it (`missing_ok`); any other failure is an error.
    fn of(
        (flag, rev): (&'static str, &str),
        result: RenderResult,
        path: &str,
        missing_ok: bool,
    ) -> Result<Side, RevisionDiffError> {
        match result {
            Ok(rendered) => Ok(Side {
                manifests: rendered.manifests,
                errors: rendered.errors,
                warnings: rendered.warnings.iter().map(ToString::to_string).collect(),
            }),
            Err(RenderFailure::Repo(RepoError::PathNotFound { .. })) if missing_ok => Ok(Side {
                manifests: Vec::new(),
                errors: Vec::new(),
                warnings: vec![format!(
                    "{flag} {rev}: the environment's directory {path:?} does not exist there; \
                     its resources count as none"
                )],
            }),
            Err(source) => Err(RevisionDiffError::Render {
                flag,
                rev: rev.to_owned(),
                source,
            }),
        }
    }
}

type RenderResult = Result<Rendered, RenderFailure>;

/// Renders both commits at once (two cores: about the time of one). A render that panics is
/// a bug: its panic goes on.
fn render_both(
    repo: &EnvRepo,
    [from, rev]: [ObjectId; 2],
    opts: &RenderOptions,
) -> [RenderResult; 2] {
    let run = || {
        std::thread::scope(|scope| {
            let other = scope.spawn(|| render(repo, from, opts));
            let mine = render(repo, rev, opts);
            let theirs = other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            [theirs, mine]
        })
    };
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
        _ => run(),
    }
}

/// The manifests the RESOURCE arguments select, by identity, leaving out those of files and
/// units that failed to render at either commit.
fn selected(
    manifests: Vec<Manifest>,
    filters: &[ResourceFilter],
    failed: &[&RenderError],
) -> BTreeMap<ResourceId, Manifest> {
    let in_failed = |file: &str| {
        failed.iter().any(|e| {
            file == e.file
                || file
                    .strip_prefix(e.file.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    };
    manifests
        .into_iter()
        .filter(|m| filters.is_empty() || filters.iter().any(|f| f.matches(&m.id)))
        .filter(|m| !in_failed(&m.source.file))
        .map(|m| (m.id.clone(), m))
        .collect()
}

/// Pairs the two sides by identity and keeps what differs, by kind, namespace, name, group.
/// The pairs are compared on two threads (the machines this runs on have two cores or more;
/// comparing and writing YAML is most of a warm run).
fn compare(
    mut before: BTreeMap<ResourceId, Manifest>,
    mut after: BTreeMap<ResourceId, Manifest>,
    texts: bool,
) -> Result<Vec<ResourceRevisionDiff>, RevisionDiffError> {
    let ids: BTreeSet<ResourceId> = before.keys().chain(after.keys()).cloned().collect();
    let pairs: Vec<Pair> = ids
        .into_iter()
        .map(|id| {
            let sides = (before.remove(&id), after.remove(&id));
            (id, sides.0, sides.1)
        })
        .collect();
    let compare_all = |pairs: &[Pair]| -> Result<Vec<ResourceRevisionDiff>, RevisionDiffError> {
        let mut out = Vec::new();
        for (id, old, new) in pairs {
            let diff = match (old, new) {
                (Some(old), Some(new)) => modified(id, old, new, texts)?,
                (None, Some(new)) => Some(one_sided(id, new, ChangeKind::Added, texts)?),
                (Some(old), None) => Some(one_sided(id, old, ChangeKind::Removed, texts)?),
                (None, None) => None,
            };
            out.extend(diff);
        }
        Ok(out)
    };
    let (first, second) = pairs.split_at(pairs.len() / 2);
    let mut out = std::thread::scope(|scope| {
        let other = scope.spawn(|| compare_all(second));
        let mine = compare_all(first);
        let theirs = other
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        mine.and_then(|mut mine| {
            mine.extend(theirs?);
            Ok(mine)
        })
    })?;
    out.sort_by(|a, b| change_order(&a.id, &b.id));
    Ok(out)
}

/// A resource's identity and its manifests at `--from` and at `--rev`.
type Pair = (ResourceId, Option<Manifest>, Option<Manifest>);

/// `object` as YAML when texts are kept, else empty.
fn text_of(id: &ResourceId, object: &Value, texts: bool) -> Result<String, RevisionDiffError> {
    if texts {
        to_yaml(object).map_err(object_error(id))
    } else {
        Ok(String::new())
    }
}

fn object_error(id: &ResourceId) -> impl FnOnce(DriftError) -> RevisionDiffError + '_ {
    move |source| RevisionDiffError::Object {
        resource: id.to_string(),
        source,
    }
}

/// The changes of a resource at both commits, `None` when there are none. Both objects are
/// prepared together, so a Secret value keeps one mask on both sides.
fn modified(
    id: &ResourceId,
    old: &Manifest,
    new: &Manifest,
    texts: bool,
) -> Result<Option<ResourceRevisionDiff>, RevisionDiffError> {
    if old.object == new.object {
        return Ok(None);
    }
    let [before, after] =
        prepare_objects(id, None, [&old.object, &new.object], &[]).map_err(object_error(id))?;
    let changes = full_changes(&ListKeys::of(&id.group, &id.kind), &before, &after);
    if changes.is_empty() {
        return Ok(None);
    }
    Ok(Some(ResourceRevisionDiff {
        id: id.clone(),
        api_version: new.api_version.clone(),
        change: ChangeKind::Modified,
        changes,
        source: new.source.clone(),
        from_yaml: text_of(id, &before, texts)?,
        rev_yaml: text_of(id, &after, texts)?,
    }))
}

/// A resource at one commit only: one whole-object change.
fn one_sided(
    id: &ResourceId,
    manifest: &Manifest,
    change: ChangeKind,
    texts: bool,
) -> Result<ResourceRevisionDiff, RevisionDiffError> {
    let [object] = prepare_objects(id, None, [&manifest.object], &[]).map_err(object_error(id))?;
    let yaml = text_of(id, &object, texts)?;
    let added = change == ChangeKind::Added;
    let whole = if added {
        Change::add(FieldPath::root(), object)
    } else {
        Change::remove(FieldPath::root(), object)
    };
    let (from_yaml, rev_yaml) = if added {
        (String::new(), yaml)
    } else {
        (yaml, String::new())
    };
    Ok(ResourceRevisionDiff {
        id: id.clone(),
        api_version: manifest.api_version.clone(),
        change,
        changes: vec![whole],
        source: manifest.source.clone(),
        from_yaml,
        rev_yaml,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops_git::fixture::FixtureRepo;

    fn cm(name: &str, value: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: {value:?}\n"
        )
    }

    fn secret(value_b64: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ndata:\n  password: {value_b64}\n  same: c2FtZQ==\n"
        )
    }

    fn run(fx: &FixtureRepo, from: &str, resources: &[&str]) -> RevisionDiff {
        let opts = RevisionDiffOptions {
            target: Target {
                repo: fx.dir().to_path_buf(),
                namespace: Some("prod".into()),
                ..Target::default()
            },
            from: from.into(),
            resources: resources.iter().map(|r| r.to_string()).collect(),
            texts: true,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(diff_revisions(&opts)).unwrap()
    }

    #[test]
    fn added_modified_removed_with_secrets_masked_and_filters() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", &cm("a", "1"));
        fx.write("b.yaml", &cm("b", "1"));
        fx.write("s.yaml", &secret("b2xkLXB3"));
        fx.commit("first");
        fx.write("a.yaml", &cm("a", "2"));
        fx.git(&["rm", "-q", "b.yaml"]);
        fx.write("c.yaml", &cm("c", "1"));
        fx.write("s.yaml", &secret("bmV3LXB3"));
        fx.commit("second");

        let diff = run(&fx, "HEAD~1", &[]);
        let seen: Vec<(&str, ChangeKind)> = diff
            .resources
            .iter()
            .map(|r| (r.id.name.as_str(), r.change))
            .collect();
        assert_eq!(
            seen,
            [
                ("a", ChangeKind::Modified),
                ("b", ChangeKind::Removed),
                ("c", ChangeKind::Added),
                ("creds", ChangeKind::Modified),
            ]
        );
        assert_eq!(diff.exit_code(), 1);
        assert_eq!(diff.resources[0].id.namespace.as_deref(), Some("prod"));
        let a = &diff.resources[0].changes;
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].path.to_string(), "data.v");
        assert_eq!(a[0].live, Some(Value::from("1")));
        assert_eq!(a[0].desired, Some(Value::from("2")));
        let creds = &diff.resources[3];
        let shown = format!("{:?}{}{}", creds.changes, creds.from_yaml, creds.rev_yaml);
        for value in ["b2xkLXB3", "bmV3LXB3", "c2FtZQ==", "old-pw", "new-pw"] {
            assert!(!shown.contains(value), "{value} in {shown}");
        }
        // Distinct masks: the changed value differs, the unchanged one is no change.
        assert_eq!(creds.changes.len(), 1, "{:?}", creds.changes);
        assert_ne!(creds.changes[0].live, creds.changes[0].desired);

        let only_a = run(&fx, "HEAD~1", &["cm/a"]);
        assert_eq!(only_a.resources.len(), 1);
        assert_eq!(only_a.resources[0].id.name, "a");
        assert_eq!(run(&fx, "HEAD", &[]).exit_code(), 0);
    }

    #[test]
    fn a_unit_that_fails_at_one_side_is_reported_and_left_out() {
        let fx = FixtureRepo::new();
        fx.write("a.yaml", &cm("a", "1"));
        fx.write("b.yaml", &cm("b", "1"));
        fx.commit("first");
        fx.write("a.yaml", "not: [valid\n");
        fx.write("b.yaml", &cm("b", "2"));
        fx.commit("break a, change b");
        let diff = run(&fx, "HEAD~1", &[]);
        assert_eq!(diff.exit_code(), 2);
        assert_eq!(diff.render_errors.len(), 1, "{:?}", diff.render_errors);
        assert!(diff.render_errors[0].contains("a.yaml"));
        let names: Vec<&str> = diff.resources.iter().map(|r| r.id.name.as_str()).collect();
        assert_eq!(names, ["b"]);
    }

    #[test]
    fn an_environment_new_at_rev_is_all_added() {
        let fx = FixtureRepo::new();
        fx.write("README.md", "nothing yet\n");
        fx.commit("first");
        fx.write("env/a.yaml", &cm("a", "1"));
        fx.commit("add the environment");
        let opts = RevisionDiffOptions {
            target: Target {
                repo: fx.dir().to_path_buf(),
                path: "env".into(),
                namespace: Some("prod".into()),
                ..Target::default()
            },
            from: "HEAD~1".into(),
            resources: Vec::new(),
            texts: true,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let diff = runtime.block_on(diff_revisions(&opts)).unwrap();
        assert_eq!(diff.resources.len(), 1);
        assert_eq!(diff.resources[0].change, ChangeKind::Added);
        assert_eq!(diff.exit_code(), 1);
        assert!(
            diff.warnings[0].contains("does not exist"),
            "{:?}",
            diff.warnings
        );
        let both_missing = RevisionDiffOptions {
            from: "HEAD~1".into(),
            target: opts.target.at("HEAD~1"),
            ..opts
        };
        assert!(matches!(
            runtime.block_on(diff_revisions(&both_missing)),
            Err(RevisionDiffError::Render { .. })
        ));
    }
}
