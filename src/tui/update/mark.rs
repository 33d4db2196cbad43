//! The mark (SPEC §9, `m`): a commit the selected one is compared with, as `diff --from <mark>
//! --rev <selected>` compares them. Setting, moving against and clearing the mark, the
//! comparison's answer (dropped when it is for an older mark/selection pair), its rows in the
//! Resources pane and the selected one's diff in the Detail pane.

use std::sync::Arc;

use crate::model::ResourceId;
use crate::ops::rev_diff::RevisionDiff;

use super::filter::matches_id;
use super::{detail_for_selection, load_detail, show_diff};
use crate::tui::action::{Effect, RequestId};
use crate::tui::state::{Mark, MarkRow, State, StatusLine, Texts, change_rank};

/// `m`: marks the selected commit, or clears the mark when it is the selected commit.
pub(super) fn toggle(state: &mut State) -> Vec<Effect> {
    let Some(commit) = state.selected_commit().map(|c| c.id.clone()) else {
        state.status = Some(StatusLine {
            text: "no commit to mark yet: wait for the History pane".into(),
            error: true,
        });
        return Vec::new();
    };
    if state.mark.as_ref().is_some_and(|m| m.commit == commit) {
        return clear(state);
    }
    state.mark = Some(Mark {
        commit,
        ..Mark::default()
    });
    // The live diff's texts still on their way are not wanted any more.
    state.detail.texts = Texts::default();
    state.detail.diff = None;
    state.detail.scroll = 0;
    compare(state)
}

/// Clears the mark: the Resources and Detail panes show the selected commit against live again.
pub(super) fn clear(state: &mut State) -> Vec<Effect> {
    if state.mark.take().is_none() {
        return Vec::new();
    }
    state.detail.texts = Texts::default();
    state.detail.diff = None;
    state.detail.scroll = 0;
    detail_for_selection(state)
}

/// Compares the mark with the selected commit, unless that is the comparison shown or being
/// made. The rows shown stay until the answer replaces them (the pane says it is comparing).
pub(super) fn compare(state: &mut State) -> Vec<Effect> {
    let Some(rev) = state.selected_commit().map(|c| c.id.clone()) else {
        return Vec::new();
    };
    let request = state.next_request();
    let Some(mark) = &mut state.mark else {
        return Vec::new();
    };
    mark.rev = rev.clone();
    mark.error = None;
    if mark.on_itself() {
        mark.loading = false;
        mark.diff = None;
        mark.rows.clear();
        mark.selected = 0;
        return detail(state);
    }
    mark.request = request;
    mark.loading = true;
    vec![Effect::CompareRevisions {
        request,
        from: mark.commit.clone(),
        rev,
    }]
}

/// The answer to [`Effect::CompareRevisions`]: the rows and the selected one's diff, unless
/// the mark or the selection moved on meanwhile.
pub(super) fn compared(
    state: &mut State,
    request: RequestId,
    result: Result<Arc<RevisionDiff>, String>,
) -> Vec<Effect> {
    let Some(mark) = &mut state.mark else {
        return Vec::new();
    };
    if request != mark.request || !mark.loading {
        return Vec::new();
    }
    mark.loading = false;
    match result {
        Ok(diff) => {
            let keep = mark.selected_resource().map(|r| r.id.clone());
            mark.diff = Some(diff);
            refilter(state, keep.as_ref());
        }
        Err(message) => {
            mark.error = Some(message);
            mark.diff = None;
            mark.rows.clear();
            mark.selected = 0;
        }
    }
    detail(state)
}

/// Recomputes the rows under the mark from the filter: render errors first, then the changed
/// resources by [`change_rank`] (the comparison's kind, namespace, name order within each);
/// keeps `keep` selected when it is still there.
pub(super) fn refilter(state: &mut State, keep: Option<&ResourceId>) {
    let filter = &state.resources.filter;
    let Some(mark) = &mut state.mark else {
        return;
    };
    let Some(diff) = &mark.diff else {
        mark.rows.clear();
        mark.selected = 0;
        return;
    };
    let mut changed: Vec<usize> = diff
        .resources
        .iter()
        .enumerate()
        .filter(|(_, r)| matches_id(filter, &r.id))
        .map(|(i, _)| i)
        .collect();
    changed.sort_by_key(|&i| change_rank(diff.resources[i].change));
    mark.rows = (0..diff.render_errors.len())
        .map(MarkRow::RenderError)
        .chain(changed.into_iter().map(MarkRow::Changed))
        .collect();
    let found = keep.and_then(|id| {
        mark.rows
            .iter()
            .position(|&row| mark.resource(row).is_some_and(|r| &r.id == id))
    });
    mark.selected = match found {
        Some(i) => i,
        None => mark.selected.min(mark.rows.len().saturating_sub(1)),
    };
}

/// Moves the selection among the rows under the mark.
pub(super) fn select(state: &mut State, next: usize) -> Vec<Effect> {
    let Some(mark) = &mut state.mark else {
        return Vec::new();
    };
    if next == mark.selected {
        return Vec::new();
    }
    mark.selected = next;
    detail(state)
}

/// The Detail pane under the mark: the selected resource at the mark (old) against the
/// selected commit (new), from the comparison's texts; nothing for a render error row.
pub(super) fn detail(state: &mut State) -> Vec<Effect> {
    state.detail.texts = Texts::default();
    let selected = state.mark.as_ref().and_then(|m| {
        m.selected_resource()
            .map(|r| (r.id.clone(), r.from_yaml.clone(), r.rev_yaml.clone()))
    });
    let Some((id, old, new)) = selected else {
        state.detail.diff = None;
        return load_detail(state);
    };
    let same_resource = state.detail.diff.as_ref().is_some_and(|d| d.id == id);
    let mut effects = show_diff(state, id, old, new);
    if !same_resource {
        effects.extend(load_detail(state));
    }
    effects
}
