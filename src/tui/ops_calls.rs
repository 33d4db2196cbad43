//! The use cases the UI's effects call (ops::sync, ops::revert, ops::blame, ops::history and
//! the history walk), each turned into what the reducer needs: lines for a dialog or the
//! detail pane, a one-line result. Blocking ones run on blocking threads; none touches state.

use gitops_core::Target;
use std::path::Path;
use std::sync::mpsc::Sender;

use crate::model::{CommitInfo, ResourceId};
use crate::ops::blame::{BlameError, BlameOptions, blame};
use crate::ops::history::{ChangeKind, HistoryOpsError, HistoryOptions, history};
use crate::ops::rev_diff::{
    RevisionDiff, RevisionDiffError, RevisionDiffOptions, Texts, diff_revisions,
};
use crate::ops::revert::{RevertError, RevertOptions, revert, summary_line};
use crate::ops::status::StatusOptions;
use crate::ops::sync::{
    ResourceResult, SyncAction, SyncError, SyncOptions, SyncOutcome, SyncPlan, execute, plan,
};
use crate::output::short_sha;
use gitops_core::browse::{EnvironmentCommits, revert_preview};
use gitops_core::live::{ClusterClient, ClusterError};

use super::action::{Action, DetailLine, RequestId};
use super::update::resource_label;

/// The first history chunk is sent after this many commits, so the pane fills at once.
const FIRST_CHUNK: usize = 40;

/// Later chunks.
const CHUNK: usize = 1000;

/// Why a use case the UI called failed. The UI shows it through `Display`, where the
/// reducer keeps it as the message of a dialog, the status bar or the detail pane.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The sync could not be planned.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The blame failed.
    #[error(transparent)]
    Blame(#[from] BlameError),
    /// The history could not be walked.
    #[error(transparent)]
    History(#[from] HistoryOpsError),
    /// The revert was refused or failed.
    #[error(transparent)]
    Revert(#[from] RevertError),
    /// The two commits could not be compared.
    #[error(transparent)]
    RevisionDiff(#[from] RevisionDiffError),
    /// The cluster could not be reached.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The sync's preflight refused: one line per problem, nothing written.
    #[error("{}", .0.join("\n"))]
    Refused(Vec<String>),
    /// Writes of the sync failed: one line per failure.
    #[error("{}", .0.join("\n"))]
    WritesFailed(Vec<String>),
    /// The task running the call stopped before it finished.
    #[error("{what} stopped: {source}")]
    Stopped {
        /// What was running, e.g. `sync`.
        what: &'static str,
        /// Why the task ended.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// RESOURCE as kubectl writes it (`Deployment.apps/web`) and its namespace.
fn resource_arg(id: &ResourceId) -> (String, Option<String>) {
    (
        format!("{}/{}", id.group_kind(), id.name),
        id.namespace.clone(),
    )
}

/// The sync options for `rev` restricted to `only` (all when `None`).
pub fn sync_options(base: &StatusOptions, rev: &str, only: Option<Vec<ResourceId>>) -> SyncOptions {
    SyncOptions {
        target: base.target.at(rev),
        only: only.unwrap_or_default(),
        ..SyncOptions::default()
    }
}

/// Plans a sync; the dialog lines say exactly what will change, or why nothing can.
pub async fn plan_sync(
    cluster: &ClusterClient,
    opts: &SyncOptions,
) -> Result<(SyncPlan, Vec<String>), CallError> {
    let plan = plan(cluster, opts).await?;
    if !plan.failures.is_empty() {
        let mut lines = vec!["Preflight failed: nothing will be written.".to_owned()];
        for failure in &plan.failures {
            match &failure.id {
                Some(id) => lines.push(format!("{}: {}", resource_label(id), failure.message)),
                None => lines.push(failure.message.clone()),
            }
        }
        return Err(CallError::Refused(lines));
    }
    let lines = plan_lines(&plan);
    Ok((plan, lines))
}

/// The dialog lines of a plan: target, counts, each change with the fields taken over.
pub fn plan_lines(plan: &SyncPlan) -> Vec<String> {
    let target = format!(
        "git@{} \"{}\"",
        short_sha(&plan.revision.id),
        plan.revision.summary
    );
    let mut lines = vec![if plan.is_rollback() {
        format!(
            "ROLLBACK: apply {target} — not HEAD {} — to {}:",
            short_sha(&plan.head.id),
            plan.context
        )
    } else {
        format!("Apply {target} to {} (server-side apply):", plan.context)
    }];
    lines.push(format!(
        "{} to create, {} to configure, {} unchanged",
        plan.count(SyncAction::Create),
        plan.count(SyncAction::Configure),
        plan.count(SyncAction::Unchanged)
    ));
    for resource in &plan.resources {
        let label = resource_label(&resource.id);
        if let (true, Some(owner)) = (resource.handed, &resource.owner)
            && resource.action != SyncAction::Unchanged
        {
            lines.push(format!("  > {owner} is asked to reconcile {label}"));
            continue;
        }
        match resource.action {
            SyncAction::Unchanged => continue,
            SyncAction::Create => lines.push(format!("  + create {label}")),
            SyncAction::Configure if resource.fields.is_empty() => lines.push(format!(
                "  ~ configure {label} (ownership and tracking only)"
            )),
            SyncAction::Configure => lines.push(format!(
                "  ~ configure {label}: {}",
                resource.fields.join(", ")
            )),
        }
        for taken in &resource.taken_over {
            lines.push(format!(
                "      takes over {} from {}",
                taken.path, taken.manager
            ));
        }
        for note in &resource.notes {
            lines.push(format!("      {note}"));
        }
    }
    // Writing beside a controller (SPEC §11): what each is asked, or how it is suspended.
    for request in &plan.controllers {
        lines.push(format!("{}: {}", request.owner, request.describe(false)));
        if let Some(resume) = &request.resume {
            lines.push(format!("      resume it with: {resume}"));
        }
    }
    if plan.changes() == 0 {
        lines.push("Nothing would change.".into());
    }
    lines
}

/// The UI shows the result when the sync is done, not each resource as it finishes.
fn no_progress(_done: usize, _total: usize, _row: &ResourceResult) {}

/// Runs a plan; the result line counts what happened, or lists what failed. The execution
/// future is not `Send` (closures over borrowed plan items), so it runs on a blocking thread
/// driven by `handle`.
pub async fn run_sync(
    handle: tokio::runtime::Handle,
    cluster: ClusterClient,
    plan: std::sync::Arc<SyncPlan>,
) -> Result<String, CallError> {
    let result = tokio::task::spawn_blocking(move || {
        handle.block_on(execute(&cluster, &plan, &no_progress))
    })
    .await
    .map_err(|source| CallError::Stopped {
        what: "sync",
        source,
    })?;
    let count = |outcome: SyncOutcome| {
        result
            .resources
            .iter()
            .filter(|r| r.result == outcome)
            .count()
    };
    if result.exit_code() != 0 {
        let mut lines: Vec<String> = result
            .errors
            .iter()
            .map(|failure| match &failure.id {
                Some(id) => format!("{}: {}", resource_label(id), failure.message),
                None => failure.message.clone(),
            })
            .collect();
        lines.extend(
            result
                .resources
                .iter()
                .filter(|r| matches!(r.result, SyncOutcome::Failed | SyncOutcome::Skipped))
                .map(|r| {
                    format!(
                        "{} {}: {}",
                        resource_label(&r.id),
                        if r.result == SyncOutcome::Failed {
                            "failed"
                        } else {
                            "skipped"
                        },
                        r.error
                            .as_deref()
                            .unwrap_or("an earlier step failed; sync again to finish")
                    )
                }),
        );
        return Err(CallError::WritesFailed(lines));
    }
    Ok(format!(
        "{} created, {} configured, {} unchanged at {}",
        count(SyncOutcome::Created),
        count(SyncOutcome::Configured),
        count(SyncOutcome::Unchanged),
        short_sha(&result.revision.id)
    ))
}

/// What reverting `commit` changes: its resource changes, undone. Blocking.
pub fn revert_lines(base: &StatusOptions, commit: &str) -> Result<Vec<String>, CallError> {
    let preview = revert_preview(&base.target, commit)?;
    let info = &preview.commit;
    let mut lines = vec![
        format!(
            "Make a new commit on the current branch that undoes {} \"{}\"",
            short_sha(&info.id),
            info.summary
        ),
        format!(
            "  by {} <{}>, {}; message: Revert \"{}\"",
            info.author, info.email, info.time, info.summary
        ),
    ];
    if preview.changes.is_empty() {
        lines.push("It changed no resource of this environment.".into());
    } else {
        lines.push("In git afterwards:".into());
        for change in &preview.changes {
            let label = resource_label(&change.id);
            lines.push(match change.change {
                ChangeKind::Added => format!("  - {label} is removed"),
                ChangeKind::Modified => format!("  ~ {label} goes back to its previous version"),
                ChangeKind::Removed => format!("  + {label} comes back"),
            });
        }
    }
    lines.push("The work tree must be clean; nothing is pushed (git push afterwards).".into());
    Ok(lines)
}

/// Reverts `commit`; returns the result line and the new commit. Blocking.
pub fn run_revert(repo: &Path, commit: &str) -> Result<(String, Option<String>), CallError> {
    let outcome = revert(
        repo,
        &RevertOptions {
            commit: commit.to_owned(),
            ..RevertOptions::default()
        },
    )?;
    Ok((summary_line(&outcome), outcome.commit.map(|c| c.id)))
}

fn date(time: &str) -> &str {
    time.get(..10).unwrap_or(time)
}

fn commit_gutter(commit: &CommitInfo) -> String {
    format!(
        "{} {} {}",
        short_sha(&commit.id),
        commit.author,
        date(&commit.time)
    )
}

/// The environment at `from` (the mark) against it at `rev`, as `diff --from <from> --rev
/// <rev>` compares them: rendered at both commits, Secrets masked, both texts kept for the
/// Detail pane. No cluster.
pub async fn compare_revisions(
    base: &StatusOptions,
    from: &str,
    rev: &str,
) -> Result<RevisionDiff, CallError> {
    Ok(diff_revisions(&RevisionDiffOptions {
        target: base.target.at(rev),
        from: from.to_owned(),
        resources: Vec::new(),
        texts: Texts::Full,
        cache: true,
    })
    .await?)
}

/// Blame lines of `id` at `rev` (git, or live) for the detail pane.
pub async fn blame_lines(
    base: &StatusOptions,
    rev: &str,
    id: &ResourceId,
    live: bool,
) -> Result<Vec<DetailLine>, CallError> {
    let (resource, namespace) = resource_arg(id);
    let report = blame(&BlameOptions {
        target: Target {
            namespace: namespace.or_else(|| base.target.namespace.clone()),
            ..base.target.at(rev)
        },
        resource,
        live,
        offline: false,
    })
    .await?;
    Ok(report
        .lines
        .into_iter()
        .map(|line| {
            let gutter = match (&line.commit, &line.live) {
                (Some(commit), _) => commit_gutter(commit),
                (None, Some(writer)) => format!(
                    "{} {}",
                    writer.manager,
                    writer.time.as_deref().map(date).unwrap_or("")
                ),
                (None, None) => String::new(),
            };
            let mut text = line.text;
            if !live
                && let Some(writer) = &line.live
                && let Some(value) = &writer.value
            {
                text.push_str(&format!("   # live: {value} ({})", writer.manager));
            }
            DetailLine {
                gutter,
                text,
                mark: line.drift.map(|d| d.mark()).unwrap_or(' '),
                commit: line.commit.map(|c| c.id),
            }
        })
        .collect())
}

/// The commits that changed `id`, newest first, for the detail pane.
pub async fn resource_history_lines(
    base: &StatusOptions,
    rev: &str,
    id: &ResourceId,
) -> Result<Vec<DetailLine>, CallError> {
    let (resource, namespace) = resource_arg(id);
    let found = history(&HistoryOptions {
        target: Target {
            namespace: namespace.or_else(|| base.target.namespace.clone()),
            ..base.target.at(rev)
        },
        resource: Some(resource),
        limit: None,
        patch: false,
        // The live mark needs the whole history's evaluation; the pane shows git's story.
        offline: true,
        use_cache: true,
        exiting: false,
        stream: None,
    })
    .await?;
    Ok(found
        .commits
        .into_iter()
        .map(|entry| {
            let change = entry
                .changes
                .iter()
                .find(|c| &c.id == id)
                .or(entry.changes.first())
                .map(|c| c.change.letter())
                .unwrap_or(' ');
            DetailLine {
                gutter: commit_gutter(&entry.commit),
                text: format!("{change} {}", entry.commit.summary),
                mark: if entry.head { '*' } else { ' ' },
                commit: Some(entry.commit.id),
            }
        })
        .collect())
}

/// Streams the first-parent commits from the target's revision that changed the environment,
/// newest first, in chunks (the walk cache under the git dir makes a second start instant).
/// Blocking.
pub fn walk_history(
    target: &Target,
    request: RequestId,
    send: &dyn Fn(Action),
    still_current: &dyn Fn() -> bool,
) -> Result<(), CallError> {
    let mut commits = EnvironmentCommits::start(target, true)?;
    let head = commits.head().to_owned();
    let mut chunk: Vec<CommitInfo> = Vec::new();
    let mut sent_first = false;
    for info in commits.by_ref() {
        if !still_current() {
            return Ok(());
        }
        chunk.push(info?);
        let limit = if sent_first { CHUNK } else { FIRST_CHUNK };
        if chunk.len() >= limit {
            sent_first = true;
            send(Action::HistoryLoaded {
                request,
                commits: std::mem::take(&mut chunk),
                head: head.clone(),
                done: false,
            });
        }
    }
    commits.finish();
    send(Action::HistoryLoaded {
        request,
        commits: chunk,
        head,
        done: true,
    });
    Ok(())
}

/// Sends to the UI thread (a closed channel means the UI is gone: nothing to do).
pub fn sender(tx: Sender<super::runtime::Msg>) -> impl Fn(Action) {
    move |action| {
        let _ = tx.send(super::runtime::Msg::Action(action));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_failed_writes_show_one_line_each() {
        let refused = CallError::Refused(vec![
            "Preflight failed: nothing will be written.".into(),
            "ConfigMap/a: bad".into(),
        ]);
        assert_eq!(
            refused.to_string(),
            "Preflight failed: nothing will be written.\nConfigMap/a: bad"
        );
        let failed = CallError::WritesFailed(vec!["Deployment/web failed: 409".into()]);
        assert_eq!(failed.to_string(), "Deployment/web failed: 409");
    }

    #[tokio::test]
    async fn a_stopped_task_says_what_stopped_and_keeps_why() {
        let source = tokio::spawn(std::future::pending::<()>());
        source.abort();
        let source = source.await.unwrap_err();
        let error = CallError::Stopped {
            what: "sync",
            source,
        };
        assert!(error.to_string().starts_with("sync stopped: "), "{error}");
        assert!(std::error::Error::source(&error).is_some());
    }
}
