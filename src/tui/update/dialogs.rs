//! The write dialogs: refusing writes (read-only, busy), asking to sync a resource, the whole
//! environment or a revert, the planned changes, and the confirmation.

use crate::drift::ChangeOp;
use crate::model::{DriftState, ResourceId};
use crate::ops::status::ResourceStatus;
use crate::output::short_sha;

use crate::tui::action::{Effect, RequestId};
use crate::tui::state::{Confirm, Pending, Popup, State, StatusLine};

/// Lines a confirmation lists before it summarizes the rest.
const CONFIRM_LINES: usize = 14;

pub(super) fn refuse_read_only(state: &mut State) -> bool {
    if state.read_only {
        state.status = Some(StatusLine {
            text: "read-only: writes (s, S, R) are disabled; restart without --read-only".into(),
            error: true,
        });
    }
    state.read_only
}

pub(super) fn refuse_busy(state: &mut State) -> bool {
    if let Some(what) = &state.busy {
        state.status = Some(StatusLine {
            text: format!("{what} is still running; wait for it to finish"),
            error: true,
        });
        return true;
    }
    false
}

/// `git@abc1234 "summary"` for dialogs.
pub(super) fn commit_label(state: &State, rev: &str) -> String {
    let summary = state
        .history
        .commits
        .iter()
        .find(|c| c.id == rev)
        .or_else(|| {
            state
                .eval
                .report
                .as_ref()
                .map(|r| &r.revision)
                .filter(|c| c.id == rev)
        })
        .map(|c| format!(" \"{}\"", c.summary))
        .unwrap_or_default();
    format!("{}{summary}", short_sha(rev))
}

/// `Deployment.apps web -n prod`.
pub fn resource_label(id: &ResourceId) -> String {
    match &id.namespace {
        Some(ns) => format!("{} {} -n {ns}", id.group_kind(), id.name),
        None => format!("{} {}", id.group_kind(), id.name),
    }
}

/// What a sync does to one resource, one line per change.
pub(super) fn change_lines(row: &ResourceStatus) -> Vec<String> {
    match row.state {
        DriftState::Missing => vec![format!("  + create {}", resource_label(&row.id))],
        DriftState::Orphaned => vec![format!(
            "  (orphan {} is kept: prune it with `sync --prune`)",
            resource_label(&row.id)
        )],
        DriftState::Unknown | DriftState::Error => vec![format!(
            "  ! {}: {}",
            resource_label(&row.id),
            row.error.as_deref().unwrap_or("cannot be evaluated")
        )],
        DriftState::Synced => vec![format!("  = {} unchanged", resource_label(&row.id))],
        DriftState::Drifted => {
            let mut lines = vec![format!("  ~ {}", resource_label(&row.id))];
            if row.changes.is_empty() {
                lines.extend(row.fields.iter().map(|f| format!("      {f}")));
            }
            for change in &row.changes {
                let value = |v: &Option<serde_json::Value>| {
                    v.as_ref().map(compact).unwrap_or_else(|| "∅".into())
                };
                lines.push(match change.op {
                    ChangeOp::Add => {
                        format!("      {}: set {}", change.path, value(&change.desired))
                    }
                    ChangeOp::Remove => {
                        format!(
                            "      {}: remove (was {})",
                            change.path,
                            value(&change.live)
                        )
                    }
                    ChangeOp::Replace => format!(
                        "      {}: {} → {}",
                        change.path,
                        value(&change.live),
                        value(&change.desired)
                    ),
                });
            }
            lines
        }
    }
}

pub(super) fn compact(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(39).collect::<String>())
    } else {
        text
    }
}

pub(super) fn ask_sync_resource(state: &mut State) -> Vec<Effect> {
    if refuse_read_only(state) || refuse_busy(state) {
        return Vec::new();
    }
    let row = match sync_row(state) {
        Ok(row) => row,
        Err(text) => {
            state.status = Some(StatusLine { text, error: true });
            return Vec::new();
        }
    };
    let row = &row;
    let rev = state.shown_revision();
    let mut lines = vec![format!(
        "Apply {} at git@{} (server-side apply, field manager kubectl-gitops):",
        resource_label(&row.id),
        commit_label(state, &rev)
    )];
    lines.extend(change_lines(row));
    if row.state == DriftState::Synced {
        lines.push("Nothing would change.".into());
    }
    let id = row.id.clone();
    let request = open_confirm(
        state,
        format!("Sync {}", resource_label(&id)),
        Pending::SyncResource {
            rev: rev.clone(),
            id: id.clone(),
        },
        lines,
        PLANNING,
    );
    vec![Effect::PlanSync {
        request,
        rev,
        resources: Some(vec![id]),
    }]
}

/// The row `s` syncs: the selected one; under a mark, the selected changed resource's row at
/// the selected commit (a resource the selected commit removed has none).
fn sync_row(state: &State) -> Result<ResourceStatus, String> {
    let Some(mark) = &state.mark else {
        return state
            .selected_resource()
            .cloned()
            .ok_or_else(|| "no resource selected: pick one in the Resources pane".to_owned());
    };
    let Some(changed) = mark.selected_resource() else {
        return Err("no resource selected: pick a changed resource in the Resources pane".into());
    };
    state
        .eval
        .report
        .as_ref()
        .and_then(|report| report.resources.iter().find(|r| r.id == changed.id))
        .cloned()
        .ok_or_else(|| {
            format!(
                "{} is not in the environment at {}: nothing to sync",
                resource_label(&changed.id),
                short_sha(&state.shown_revision())
            )
        })
}

pub(super) fn ask_sync_all(state: &mut State) -> Vec<Effect> {
    if refuse_read_only(state) || refuse_busy(state) {
        return Vec::new();
    }
    let Some(report) = state.eval.report.clone() else {
        state.status = Some(StatusLine {
            text: "nothing evaluated yet: wait for the Resources pane".into(),
            error: true,
        });
        return Vec::new();
    };
    let rev = report.revision.id.clone();
    let rollback = state.is_older_than_head(&rev);
    let summary = report.summary();
    let count = |s: DriftState| summary.get(&s).copied().unwrap_or(0);
    let mut lines = vec![
        if rollback {
            format!(
                "ROLLBACK: apply git@{} — older than HEAD {} — to the cluster:",
                commit_label(state, &rev),
                state.history.head.as_deref().map(short_sha).unwrap_or("?")
            )
        } else {
            format!("Apply git@{} to the cluster:", commit_label(state, &rev))
        },
        format!(
            "{} to create, {} to change, {} unchanged{}",
            count(DriftState::Missing),
            count(DriftState::Drifted),
            count(DriftState::Synced),
            match count(DriftState::Orphaned) {
                0 => String::new(),
                n => format!(", {n} orphaned kept"),
            }
        ),
    ];
    for row in report
        .resources
        .iter()
        .filter(|r| r.state != DriftState::Synced)
    {
        lines.extend(change_lines(row));
    }
    let title = if rollback {
        format!("Roll back to {}", short_sha(&rev))
    } else {
        format!("Sync all to {}", short_sha(&rev))
    };
    let request = open_confirm(
        state,
        title,
        Pending::SyncAll { rev: rev.clone() },
        lines,
        PLANNING,
    );
    vec![Effect::PlanSync {
        request,
        rev,
        resources: None,
    }]
}

pub(super) fn ask_revert(state: &mut State) -> Vec<Effect> {
    if refuse_read_only(state) || refuse_busy(state) {
        return Vec::new();
    }
    let Some(commit) = state.selected_commit().cloned() else {
        state.status = Some(StatusLine {
            text: "no commit selected: pick one in the History pane".into(),
            error: true,
        });
        return Vec::new();
    };
    let lines = vec![
        format!(
            "Make a new commit on the current branch that undoes {} \"{}\"",
            short_sha(&commit.id),
            commit.summary
        ),
        format!("  by {} <{}>, {}", commit.author, commit.email, commit.time),
        format!("Message: Revert \"{}\"", commit.summary),
        "The work tree must be clean; nothing is pushed (run git push after).".into(),
    ];
    let request = open_confirm(
        state,
        format!("Revert {}", short_sha(&commit.id)),
        Pending::Revert {
            commit: commit.id.clone(),
        },
        lines,
        "finding the changes it undoes…",
    );
    vec![Effect::PlanRevert {
        request,
        commit: commit.id,
    }]
}

/// Opens the confirmation of `pending`: not ready until the plan request it returns answers
/// ([`planned`]), `prompt` saying meanwhile what is being found out.
fn open_confirm(
    state: &mut State,
    title: String,
    pending: Pending,
    lines: Vec<String>,
    prompt: &str,
) -> RequestId {
    let request = state.next_request();
    state.popup = Some(Popup::Confirm(Confirm {
        title,
        pending,
        lines: truncate(lines),
        prompt: prompt.into(),
        request,
        ready: false,
    }));
    request
}

pub(super) fn truncate(mut lines: Vec<String>) -> Vec<String> {
    if lines.len() > CONFIRM_LINES {
        let more = lines.len() - (CONFIRM_LINES - 1);
        lines.truncate(CONFIRM_LINES - 1);
        lines.push(format!("  … and {more} more lines"));
    }
    lines
}

/// The prompt while a sync plan is being made.
const PLANNING: &str = "planning: server-side dry-run of every object… (n cancels)";

/// Fills the open confirmation with the exact changes.
pub(super) fn planned(
    state: &mut State,
    request: RequestId,
    result: Result<Vec<String>, String>,
) -> Vec<Effect> {
    let Some(Popup::Confirm(confirm)) = &mut state.popup else {
        return Vec::new();
    };
    if confirm.request != request {
        return Vec::new();
    }
    match result {
        Ok(lines) => {
            confirm.lines = truncate(lines);
            confirm.ready = true;
            confirm.prompt = match confirm.pending {
                Pending::Revert { .. } => "y revert · a revert and sync · n cancel",
                _ => "y sync · n cancel",
            }
            .into();
        }
        Err(message) => {
            let title = format!("{} cannot run", confirm.title);
            state.popup = Some(Popup::Message {
                title,
                lines: message.lines().map(str::to_owned).collect(),
                error: true,
            });
        }
    }
    Vec::new()
}

pub(super) fn confirm(state: &mut State, then_sync: bool) -> Vec<Effect> {
    if let Some(Popup::Confirm(confirm)) = &state.popup
        && !confirm.ready
    {
        state.status = Some(StatusLine {
            text: "still finding out what will change; answer once the dialog lists it".into(),
            error: false,
        });
        return Vec::new();
    }
    let Some(Popup::Confirm(confirm)) = state.popup.take() else {
        return Vec::new();
    };
    // Answers are checked again: the dialog may have opened before a `--read-only` restart
    // of the state in tests, and a write must never slip through.
    if refuse_read_only(state) {
        return Vec::new();
    }
    match confirm.pending {
        Pending::SyncResource { rev, id } => {
            state.busy = Some("sync".into());
            state.status = Some(StatusLine {
                text: format!("syncing {}…", resource_label(&id)),
                error: false,
            });
            vec![Effect::Sync {
                plan: confirm.request,
                rev,
                resources: Some(vec![id]),
            }]
        }
        Pending::SyncAll { rev } => {
            state.busy = Some("sync".into());
            state.status = Some(StatusLine {
                text: format!("syncing all to {}…", short_sha(&rev)),
                error: false,
            });
            vec![Effect::Sync {
                plan: confirm.request,
                rev,
                resources: None,
            }]
        }
        Pending::Revert { commit } => {
            state.busy = Some("revert".into());
            state.status = Some(StatusLine {
                text: format!("reverting {}…", short_sha(&commit)),
                error: false,
            });
            vec![Effect::Revert { commit, then_sync }]
        }
    }
}
