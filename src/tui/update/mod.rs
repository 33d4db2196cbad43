//! The reducer: `update(&mut State, Action) -> Vec<Effect>`. No I/O here: effects run in the
//! event loop and come back as actions; answers to requests that are no longer current are
//! dropped.

use std::sync::Arc;

use crate::drift::Strategy;
use crate::model::{DriftState, ResourceId};
use crate::ops::status::{ResourceOwner, ResourceStatus, StatusReport};
use crate::output::short_sha;

use super::action::{Action, Effect, RequestId};
use super::state::{
    DetailMode, DiffData, DiffLayout, Input, InputKind, PAGE, Pane, Popup, State, StatusLine,
    Texts, TextsKey,
};

mod dialogs;
mod filter;
mod mark;

pub use dialogs::resource_label;
use dialogs::{ask_revert, ask_sync_all, ask_sync_resource, confirm, planned};
pub use filter::{matches, matches_id, parse_filter};
use filter::{refilter, set_filter};

/// The effects to start with: history walk and first evaluation run side by side, so the
/// first frame waits for neither.
pub fn start(state: &mut State) -> Vec<Effect> {
    let history = state.next_request();
    state.history.request = history;
    let mut effects = vec![Effect::LoadHistory {
        request: history,
        rev: state.location.rev.clone(),
    }];
    effects.extend(evaluate(state, state.location.rev.clone()));
    effects
}

/// Applies `action` to `state`; returns the I/O to run.
pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Quit => {
            state.quit = true;
            Vec::new()
        }
        Action::Back => back(state),
        Action::NextPane => {
            state.focus = match state.focus {
                Pane::History => Pane::Resources,
                Pane::Resources => Pane::Detail,
                Pane::Detail => Pane::History,
            };
            Vec::new()
        }
        Action::PrevPane => {
            state.focus = match state.focus {
                Pane::History => Pane::Detail,
                Pane::Resources => Pane::History,
                Pane::Detail => Pane::Resources,
            };
            Vec::new()
        }
        Action::Up => move_by(state, -1),
        Action::Down => move_by(state, 1),
        Action::PageUp => move_by(state, -(PAGE as isize)),
        Action::PageDown => move_by(state, PAGE as isize),
        Action::Top => move_by(state, isize::MIN / 2),
        Action::Bottom => move_by(state, isize::MAX / 2),
        Action::Enter => enter(state),
        Action::ToggleLayout => {
            state.detail.mode = DetailMode::Diff;
            state.detail.layout = match state.detail.layout {
                DiffLayout::SideBySide => DiffLayout::Unified,
                DiffLayout::Unified => DiffLayout::SideBySide,
            };
            state.detail.scroll = first_change_scroll(state);
            Vec::new()
        }
        Action::ToggleBlame => {
            let live = matches!(state.detail.mode, DetailMode::Blame { live: false });
            state.detail.mode = DetailMode::Blame { live };
            load_detail(state)
        }
        Action::ResourceHistory => {
            state.detail.mode = DetailMode::History;
            load_detail(state)
        }
        Action::ToggleMark => mark::toggle(state),
        Action::Refresh => {
            let mut effects = Vec::new();
            let request = state.next_request();
            state.history.request = request;
            state.history.loading = true;
            state.history.replace = true;
            state.history.error = None;
            effects.push(Effect::LoadHistory {
                request,
                rev: state.location.rev.clone(),
            });
            effects.extend(evaluate(state, state.eval.rev.clone()));
            effects.extend(load_detail(state));
            // The diff's texts are asked for again with the new report, row unchanged or not.
            state.detail.texts.key = None;
            effects.extend(mark::compare(state));
            effects
        }
        Action::Help => {
            state.popup = Some(Popup::Help);
            Vec::new()
        }
        Action::StartFilter => {
            state.input = Some(Input {
                kind: InputKind::Filter,
                text: state.resources.filter.text.clone(),
            });
            Vec::new()
        }
        Action::StartCommand => {
            state.input = Some(Input {
                kind: InputKind::Command,
                text: String::new(),
            });
            Vec::new()
        }
        Action::InputChar(c) => {
            if let Some(input) = &mut state.input {
                input.text.push(c);
                if input.kind == InputKind::Filter {
                    let text = input.text.clone();
                    set_filter(state, &text);
                }
            }
            Vec::new()
        }
        Action::InputBackspace => {
            if let Some(input) = &mut state.input {
                input.text.pop();
                if input.kind == InputKind::Filter {
                    let text = input.text.clone();
                    set_filter(state, &text);
                }
            }
            Vec::new()
        }
        Action::InputSubmit => match state.input.take() {
            Some(Input {
                kind: InputKind::Filter,
                text,
            }) => {
                set_filter(state, &text);
                state.focus = Pane::Resources;
                detail_for_selection(state)
            }
            Some(Input {
                kind: InputKind::Command,
                text,
            }) => command(state, &text),
            None => Vec::new(),
        },
        Action::SyncResource => ask_sync_resource(state),
        Action::SyncAll => ask_sync_all(state),
        Action::RevertCommit => ask_revert(state),
        Action::Confirm => confirm(state, false),
        Action::ConfirmAndSync => confirm(state, true),
        Action::HistoryLoaded {
            request,
            commits,
            head,
            done,
        } => {
            if request != state.history.request {
                return Vec::new();
            }
            state.history.head = Some(head);
            state.history.loading = !done;
            if !state.history.replace {
                state.history.commits.extend(commits);
                return Vec::new();
            }
            // A new walk: keep the selected commit, else select what the Resources pane shows
            // (the first evaluation ran for `--rev` before history arrived) without
            // evaluating again.
            state.history.replace = false;
            let keep = state
                .history
                .pin
                .take()
                .or_else(|| state.selected_commit().map(|c| c.id.clone()))
                .or_else(|| state.eval.report.as_ref().map(|r| r.revision.id.clone()));
            state.history.commits = commits;
            state.history.selected = keep
                .and_then(|id| state.history.commits.iter().position(|c| c.id == id))
                .unwrap_or(0);
            // Under a mark, a selection that moved (a revert's new commit, `:rev`) is compared.
            let selected = state.selected_commit().map(|c| c.id.clone());
            match &state.mark {
                Some(marked) if selected.is_some_and(|id| id != marked.rev) => mark::compare(state),
                _ => Vec::new(),
            }
        }
        Action::HistoryFailed { request, message } => {
            if request == state.history.request {
                state.history.loading = false;
                state.history.error = Some(message.clone());
                state.status = Some(StatusLine {
                    text: message,
                    error: true,
                });
            }
            Vec::new()
        }
        Action::Evaluated {
            request,
            strategy,
            result,
        } => evaluated(state, request, strategy, result),
        Action::LiveChanged { changed } => {
            // A few objects the report shows changed: only their rows are evaluated again
            // (a whole evaluation at 5,000 resources takes seconds and tens of MB).
            if let Some(effect) = evaluate_rows(state, &changed) {
                return vec![effect];
            }
            // Anything else (a new object may be an orphan, a resync may hide anything, many
            // changes): look again at the same commit.
            let rev = state.eval.rev.clone();
            let mut effects = evaluate(state, rev);
            if !matches!(state.detail.mode, DetailMode::Diff) {
                effects.extend(load_detail(state));
            }
            effects
        }
        Action::RowsEvaluated { request, result } => rows_evaluated(state, request, result),
        Action::WriteDone {
            what,
            result,
            new_head,
        } => {
            state.busy = None;
            match result {
                Ok(text) => {
                    state.status = Some(StatusLine {
                        text: format!("{what}: {text}"),
                        error: false,
                    });
                }
                Err(message) => {
                    state.popup = Some(Popup::Message {
                        title: format!("{what} failed"),
                        lines: message.lines().map(str::to_owned).collect(),
                        error: true,
                    });
                }
            }
            let mut effects = Vec::new();
            if new_head.is_some() {
                let request = state.next_request();
                state.history.request = request;
                state.history.loading = true;
                state.history.replace = true;
                state.history.pin = new_head.clone();
                effects.push(Effect::LoadHistory {
                    request,
                    rev: state.location.rev.clone(),
                });
            }
            let rev = new_head.unwrap_or_else(|| state.eval.rev.clone());
            effects.extend(evaluate(state, rev));
            effects
        }
        Action::Planned { request, result } => planned(state, request, result),
        Action::DetailLoaded { request, result } => {
            if request == state.detail.request {
                state.detail.lines = Some(result);
                state.detail.cursor = 0;
                state.detail.scroll = 0;
            }
            Vec::new()
        }
        Action::TextsLoaded {
            request,
            id,
            result,
        } => texts_loaded(state, request, id, result),
        Action::Compared { request, result } => mark::compared(state, request, result),
        Action::Highlighted {
            id,
            live,
            desired,
            syntax,
            colours,
        } => {
            highlighted(state, id, live, desired, syntax, colours);
            Vec::new()
        }
        Action::ThemeLoaded(result) => {
            match result {
                Ok(theme) => {
                    state.status = Some(StatusLine {
                        text: format!("theme {}", theme.name),
                        error: false,
                    });
                    state.theme = *theme;
                    if let Some(diff) = &mut state.detail.diff {
                        Arc::make_mut(diff).highlighted = None;
                    }
                    return highlight(state);
                }
                Err(message) => {
                    state.status = Some(StatusLine {
                        text: message,
                        error: true,
                    })
                }
            }
            Vec::new()
        }
        Action::Error(message) => {
            state.status = Some(StatusLine {
                text: message,
                error: true,
            });
            Vec::new()
        }
    }
}

/// Starts evaluating `rev`: client at once, server to refine. Supersedes any evaluation running.
fn evaluate(state: &mut State, rev: String) -> Vec<Effect> {
    let request = state.next_request();
    state.eval.request = request;
    state.eval.loading = true;
    state.eval.refining = true;
    // The last failure stays until an answer replaces it: the result clears its status line.
    if state.eval.rev != rev {
        state.eval.rev = rev.clone();
    }
    vec![
        Effect::Evaluate {
            request,
            rev: rev.clone(),
            strategy: Strategy::Client,
        },
        Effect::Evaluate {
            request,
            rev,
            strategy: Strategy::Server,
        },
    ]
}

fn evaluated(
    state: &mut State,
    request: u64,
    strategy: Strategy,
    result: Result<Arc<StatusReport>, String>,
) -> Vec<Effect> {
    if request != state.eval.request {
        return Vec::new();
    }
    if strategy == Strategy::Server {
        state.eval.refining = false;
    }
    let report = match result {
        Ok(report) => report,
        Err(message) => {
            let text = match strategy {
                Strategy::Client => {
                    // The runner does not refine a failed first look.
                    state.eval.loading = false;
                    state.eval.refining = false;
                    state.eval.error = Some(message.clone());
                    message
                }
                // A failed refinement keeps the client result.
                Strategy::Server => {
                    format!("server dry-run failed, showing the client comparison: {message}")
                }
            };
            state.status = Some(StatusLine { text, error: true });
            return Vec::new();
        }
    };
    // The server's answer is better; a late client answer must not replace it.
    if strategy == Strategy::Client && state.eval.strategy == Some(Strategy::Server) && {
        state
            .eval
            .report
            .as_ref()
            .is_some_and(|r| r.revision.id == report.revision.id)
            && !state.eval.loading
    } {
        return Vec::new();
    }
    let keep = state.selected_resource().map(|r| r.id.clone());
    let first_report = state.eval.report.is_none();
    if state.location.context.is_empty() {
        state.location.context = report.context.clone();
    }
    state.eval.loading = false;
    // The cluster answers again: the failure in the status bar is over.
    if state.eval.error.take().is_some() && state.status.as_ref().is_some_and(|s| s.error) {
        state.status = None;
    }
    state.eval.strategy = Some(strategy);
    // From here on the commit, not the name: a moving HEAD must not change what is shown.
    state.eval.rev = report.revision.id.clone();
    if report
        .resources
        .iter()
        .all(|r| r.state == DriftState::Synced)
    {
        state.eval.live_commit = Some(report.revision.id.clone());
    } else if let Some(majority) = majority_live_revision(&report) {
        state.eval.live_commit = Some(majority);
    }
    let kinds = kinds_in_play(&report);
    state.eval.report = Some(report);
    refilter(state, keep.as_ref());
    if first_report {
        // Open on the first resource that needs attention.
        select_first_unsynced(state);
    }
    let mut effects = Vec::new();
    if kinds != state.eval.watched {
        state.eval.watched = kinds.clone();
        effects.push(Effect::Watch { kinds });
    }
    effects.extend(detail_for_selection(state));
    effects
}

/// Most rows a live change re-evaluates one by one; more changes evaluate everything.
const LIVE_ROWS: usize = 16;

/// The effect evaluating again the rows of `changed`, when all are rows of the settled report
/// shown (no evaluation running) and there are few; else `None`.
fn evaluate_rows(state: &mut State, changed: &[ResourceId]) -> Option<Effect> {
    let report = state.eval.report.as_ref()?;
    if changed.is_empty()
        || changed.len() > LIVE_ROWS
        || state.eval.loading
        || state.eval.refining
        || report.revision.id != state.eval.rev
    {
        return None;
    }
    let mut rows = Vec::new();
    for id in changed {
        if rows.iter().any(|(known, _, _)| known == id) {
            continue;
        }
        let row = report.resources.iter().find(|r| &r.id == id)?;
        rows.push((row.id.clone(), row.api_version.clone(), row.source.clone()));
    }
    let (rev, strategy) = (
        report.revision.id.clone(),
        state.eval.strategy.unwrap_or(Strategy::Client),
    );
    let request = state.next_request();
    state.eval.request = request;
    Some(Effect::EvaluateRows {
        request,
        rev,
        strategy,
        rows,
    })
}

/// The answer to [`Effect::EvaluateRows`]: the shown report with those rows replaced, in the
/// report's order; on failure, everything is evaluated again.
fn rows_evaluated(
    state: &mut State,
    request: RequestId,
    result: Result<Vec<ResourceStatus>, String>,
) -> Vec<Effect> {
    if request != state.eval.request {
        return Vec::new();
    }
    let (Ok(rows), Some(report), Some(strategy)) =
        (result, &state.eval.report, state.eval.strategy)
    else {
        let rev = state.eval.rev.clone();
        return evaluate(state, rev);
    };
    let mut report = StatusReport::clone(report);
    for mut row in rows {
        if let Some(old) = report.resources.iter_mut().find(|r| r.id == row.id) {
            // One resource evaluated alone does not see the environment's controllers and
            // ApplySet: it keeps the owner (and the revision from the owner) found before.
            if row.owner.is_none() {
                let controller = matches!(old.owner, Some(ResourceOwner::Controller(_)));
                if controller && row.live_revision.is_none() {
                    row.live_revision = old.live_revision.take();
                }
                row.owner = old.owner.take();
            }
            *old = row;
        }
    }
    crate::ops::status::sort_rows(&mut report.resources);
    evaluated(state, request, strategy, Ok(Arc::new(report)))
}

fn select_first_unsynced(state: &mut State) {
    let Some(report) = &state.eval.report else {
        return;
    };
    if let Some(i) = state
        .resources
        .visible
        .iter()
        .position(|&i| report.resources[i].state != DriftState::Synced)
    {
        state.resources.selected = i;
    }
}

/// The `kubectl-gitops.io/revision` most live objects carry: what was synced last.
fn majority_live_revision(report: &StatusReport) -> Option<String> {
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for row in &report.resources {
        if let Some(rev) = &row.live_revision {
            *counts.entry(rev.as_str()).or_insert(0) += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(rev, _)| rev.to_owned())
}

/// (apiVersion, kind, namespace) of every row: what the watch covers.
fn kinds_in_play(report: &StatusReport) -> Vec<(String, String, Option<String>)> {
    let mut kinds: Vec<(String, String, Option<String>)> = report
        .resources
        .iter()
        .filter(|r| r.state != DriftState::Unknown)
        .map(|r| {
            (
                r.api_version.clone(),
                r.id.kind.clone(),
                r.id.namespace.clone(),
            )
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

fn back(state: &mut State) -> Vec<Effect> {
    if state.input.take().is_some() {
        return Vec::new();
    }
    if state.popup.take().is_some() {
        return Vec::new();
    }
    match state.focus {
        Pane::Detail if state.detail.mode != DetailMode::Diff => {
            state.detail.mode = DetailMode::Diff;
            state.detail.scroll = first_change_scroll(state);
        }
        Pane::Detail => state.focus = Pane::Resources,
        Pane::Resources if !state.resources.filter.text.is_empty() => {
            set_filter(state, "");
            return detail_for_selection(state);
        }
        Pane::Resources => state.focus = Pane::History,
        Pane::History => return mark::clear(state),
    }
    Vec::new()
}

fn enter(state: &mut State) -> Vec<Effect> {
    match state.focus {
        Pane::History => {
            state.focus = Pane::Resources;
            Vec::new()
        }
        Pane::Resources => {
            state.focus = Pane::Detail;
            Vec::new()
        }
        Pane::Detail => {
            // On a blame or history line: open its commit in the History pane.
            let commit = match (&state.detail.mode, &state.detail.lines) {
                (DetailMode::Blame { .. } | DetailMode::History, Some(Ok(lines))) => lines
                    .get(state.detail.cursor)
                    .and_then(|l| l.commit.clone()),
                _ => None,
            };
            let Some(commit) = commit else {
                return Vec::new();
            };
            match state.history.commits.iter().position(|c| c.id == commit) {
                Some(i) => {
                    state.history.selected = i;
                    state.focus = Pane::History;
                    state.detail.mode = DetailMode::Diff;
                    let mut effects = evaluate(state, commit);
                    effects.extend(mark::compare(state));
                    effects
                }
                None => {
                    state.status = Some(StatusLine {
                        text: format!("commit {} is not in the loaded history", short_sha(&commit)),
                        error: true,
                    });
                    Vec::new()
                }
            }
        }
    }
}

fn move_by(state: &mut State, delta: isize) -> Vec<Effect> {
    fn moved(current: usize, delta: isize, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        (current as isize)
            .saturating_add(delta)
            .clamp(0, len as isize - 1) as usize
    }
    match state.focus {
        Pane::History => {
            let next = moved(state.history.selected, delta, state.history.commits.len());
            if next == state.history.selected {
                return Vec::new();
            }
            state.history.selected = next;
            let Some(commit) = state.selected_commit().map(|c| c.id.clone()) else {
                return Vec::new();
            };
            let mut effects = evaluate(state, commit);
            effects.extend(load_detail(state));
            effects.extend(mark::compare(state));
            effects
        }
        Pane::Resources if state.mark.is_some() => {
            let len = state.mark.as_ref().map_or(0, |m| m.rows.len());
            let current = state.mark.as_ref().map_or(0, |m| m.selected);
            mark::select(state, moved(current, delta, len))
        }
        Pane::Resources => {
            let next = moved(
                state.resources.selected,
                delta,
                state.resources.visible.len(),
            );
            if next == state.resources.selected {
                return Vec::new();
            }
            state.resources.selected = next;
            detail_for_selection(state)
        }
        Pane::Detail => {
            match state.detail.mode {
                DetailMode::Diff => {
                    let rows = state.detail.diff.as_ref().map_or(0, |d| diff_rows(d));
                    state.detail.scroll = moved(state.detail.scroll, delta, rows.max(1));
                }
                DetailMode::Blame { .. } | DetailMode::History => {
                    let len = match &state.detail.lines {
                        Some(Ok(lines)) => lines.len(),
                        _ => 0,
                    };
                    state.detail.cursor = moved(state.detail.cursor, delta, len);
                }
            }
            Vec::new()
        }
    }
}

/// Context rows kept above the first change when a diff opens.
const LEAD: usize = 3;

/// The scroll that shows the first change of the diff with a little context above it.
fn first_change_scroll(state: &State) -> usize {
    let Some(diff) = &state.detail.diff else {
        return 0;
    };
    let Some(hunk) = diff.hunks.first() else {
        return 0;
    };
    // Row 0 is the hunk header.
    let row = match state.detail.layout {
        DiffLayout::Unified => hunk
            .lines
            .iter()
            .position(|l| l.kind != crate::diff::LineKind::Context),
        DiffLayout::SideBySide => crate::diff::side_by_side(hunk).iter().position(|r| {
            r.left
                .is_none_or(|l| l.kind != crate::diff::LineKind::Context)
                || r.right
                    .is_none_or(|l| l.kind != crate::diff::LineKind::Context)
        }),
    };
    (row.unwrap_or(0) + 1).saturating_sub(LEAD)
}

/// Rows of the diff view: the hunks' lines plus a header per hunk.
pub fn diff_rows(diff: &DiffData) -> usize {
    diff.hunks
        .iter()
        .map(|h| h.lines.len() + 1)
        .sum::<usize>()
        .max(if diff.hunks.is_empty() {
            diff.desired.lines().count().max(diff.live.lines().count())
        } else {
            0
        })
}

/// Shows the diff of the selected resource and reloads blame/history if shown. Rows carrying
/// their texts (a report made with texts) show them at once; the UI's evaluations leave texts
/// out, so their texts are asked for, for the selected row alone.
fn detail_for_selection(state: &mut State) -> Vec<Effect> {
    if state.mark.is_some() {
        return mark::detail(state);
    }
    let row = state.selected_resource();
    let Some(row) = row.filter(|r| r.live_yaml.is_none() && r.desired_yaml.is_none()) else {
        state.detail.texts = Texts::default();
        return diff_from_row(state);
    };
    let key = TextsKey {
        id: row.id.clone(),
        rev: state.shown_revision(),
        strategy: row.strategy,
        resource_version: row.live_resource_version.clone(),
        state: row.state,
    };
    if state.detail.texts.key.as_ref() == Some(&key) {
        return Vec::new();
    }
    let (id, api_version, source) = (row.id.clone(), row.api_version.clone(), row.source.clone());
    let same_resource = state.detail.diff.as_ref().is_some_and(|d| d.id == key.id);
    let request = state.next_request();
    state.detail.texts = Texts {
        key: Some(key),
        request,
        loading: true,
        error: None,
    };
    let mut effects = Vec::new();
    if !same_resource {
        // Another resource: its diff shows once its texts arrive, a loading line meanwhile.
        state.detail.diff = None;
        state.detail.scroll = 0;
        effects.extend(load_detail(state));
    }
    effects.push(Effect::LoadTexts {
        request,
        rev: state.shown_revision(),
        strategy: state.eval.strategy.unwrap_or(Strategy::Client),
        id,
        api_version,
        source,
    });
    effects
}

/// The answer to [`Effect::LoadTexts`]: the diff, unless the selection moved on meanwhile.
fn texts_loaded(
    state: &mut State,
    request: RequestId,
    id: ResourceId,
    result: Result<(String, String), String>,
) -> Vec<Effect> {
    if request != state.detail.texts.request || !state.detail.texts.loading {
        return Vec::new();
    }
    state.detail.texts.loading = false;
    match result {
        Ok((live, desired)) => show_diff(state, id, live, desired),
        Err(message) => {
            state.detail.texts.error = Some(message);
            state.detail.diff = None;
            Vec::new()
        }
    }
}

/// Shows `live` → `desired` for `id`, keeping the scroll when it is the resource shown.
fn show_diff(state: &mut State, id: ResourceId, live: String, desired: String) -> Vec<Effect> {
    let unchanged = state
        .detail
        .diff
        .as_ref()
        .is_some_and(|d| d.id == id && d.live == live && d.desired == desired);
    if unchanged {
        return Vec::new();
    }
    let same_resource = state.detail.diff.as_ref().is_some_and(|d| d.id == id);
    state.detail.diff = Some(Arc::new(DiffData {
        id,
        hunks: crate::diff::hunks(&live, &desired, super::state::DIFF_CONTEXT),
        live,
        desired,
        highlighted: None,
    }));
    if !same_resource {
        state.detail.scroll = first_change_scroll(state);
    }
    highlight(state)
}

/// The diff from the texts the selected row carries.
fn diff_from_row(state: &mut State) -> Vec<Effect> {
    let row = state.selected_resource();
    let unchanged = match (row, &state.detail.diff) {
        (Some(row), Some(diff)) => {
            diff.id == row.id
                && row.live_yaml.as_deref().unwrap_or("") == diff.live
                && row.desired_yaml.as_deref().unwrap_or("") == diff.desired
        }
        (None, None) => true,
        _ => false,
    };
    if unchanged {
        return Vec::new();
    }
    let same_resource = matches!((row, &state.detail.diff), (Some(r), Some(d)) if d.id == r.id);
    state.detail.diff = row.map(|row| {
        let live = row.live_yaml.clone().unwrap_or_default();
        let desired = row.desired_yaml.clone().unwrap_or_default();
        Arc::new(DiffData {
            id: row.id.clone(),
            hunks: crate::diff::hunks(&live, &desired, super::state::DIFF_CONTEXT),
            live,
            desired,
            highlighted: None,
        })
    });
    let mut effects = highlight(state);
    if !same_resource {
        state.detail.scroll = first_change_scroll(state);
        effects.extend(load_detail(state));
    }
    effects
}

/// Asks for the syntax colours of the shown diff when the theme has a syntax theme.
fn highlight(state: &State) -> Vec<Effect> {
    match (&state.detail.diff, &state.theme.syntax) {
        (Some(diff), Some(syntax)) => vec![Effect::Highlight {
            id: diff.id.clone(),
            live: diff.live.clone(),
            desired: diff.desired.clone(),
            syntax: syntax.clone(),
        }],
        _ => Vec::new(),
    }
}

fn highlighted(
    state: &mut State,
    id: ResourceId,
    live: String,
    desired: String,
    syntax: String,
    colours: (crate::highlight::Highlighted, crate::highlight::Highlighted),
) {
    let current = state
        .detail
        .diff
        .as_ref()
        .is_some_and(|d| d.id == id && d.live == live && d.desired == desired)
        && state.theme.syntax.as_deref() == Some(syntax.as_str());
    if !current {
        return;
    }
    if let Some(diff) = &mut state.detail.diff {
        Arc::make_mut(diff).highlighted = Some(colours);
    }
}

/// Asks for blame or history lines when the detail pane shows them.
fn load_detail(state: &mut State) -> Vec<Effect> {
    let Some(id) = state.detail_resource().cloned() else {
        state.detail.lines = None;
        return Vec::new();
    };
    let rev = state.shown_revision();
    match state.detail.mode {
        DetailMode::Diff => Vec::new(),
        DetailMode::Blame { live } => {
            let request = state.next_request();
            state.detail.request = request;
            state.detail.lines = None;
            vec![Effect::Blame {
                request,
                rev,
                id,
                live,
            }]
        }
        DetailMode::History => {
            let request = state.next_request();
            state.detail.request = request;
            state.detail.lines = None;
            vec![Effect::ResourceHistory { request, rev, id }]
        }
    }
}

fn command(state: &mut State, text: &str) -> Vec<Effect> {
    let mut words = text.split_whitespace();
    let name = words.next().unwrap_or("");
    let argument = words.collect::<Vec<_>>().join(" ");
    let need = |what: &str| format!(":{name} needs {what}, e.g. :{name} {}", example(name));
    match name {
        "" => Vec::new(),
        "q" | "quit" => {
            state.quit = true;
            Vec::new()
        }
        "ctx" | "context" if !argument.is_empty() => {
            state.location.context = argument.clone();
            let mut effects = vec![Effect::SetContext(argument)];
            state.eval.watched.clear();
            effects.extend(evaluate(state, state.eval.rev.clone()));
            effects
        }
        "ns" | "namespace" if !argument.is_empty() => {
            state.location.namespace = Some(argument.clone());
            let mut effects = vec![Effect::SetNamespace(argument)];
            effects.extend(evaluate(state, state.eval.rev.clone()));
            effects
        }
        "rev" | "revision" if !argument.is_empty() => {
            state.location.rev = argument.clone();
            let request = state.next_request();
            state.history = super::state::History {
                loading: true,
                replace: true,
                request,
                ..Default::default()
            };
            let mut effects = vec![Effect::LoadHistory {
                request,
                rev: argument.clone(),
            }];
            effects.extend(evaluate(state, argument));
            effects
        }
        "theme" if !argument.is_empty() => vec![Effect::LoadTheme(argument)],
        "ctx" | "context" | "ns" | "namespace" | "rev" | "revision" | "theme" => {
            state.status = Some(StatusLine {
                text: need("an argument"),
                error: true,
            });
            Vec::new()
        }
        other => {
            state.status = Some(StatusLine {
                text: format!("unknown command :{other}; try :ctx, :ns, :rev, :theme or :q"),
                error: true,
            });
            Vec::new()
        }
    }
}

fn example(command: &str) -> &'static str {
    match command {
        "ctx" | "context" => "kind-prod",
        "ns" | "namespace" => "default",
        "rev" | "revision" => "HEAD~3",
        _ => "light",
    }
}
