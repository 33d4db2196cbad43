//! Every view and dialog drawn on ratatui's TestBackend at 80×24 (stacked panes) and 160×48
//! (side by side), snapshotted with insta; each built-in theme drawn and its colours checked.

mod tui_fixture;

use kubectl_gitops::drift::Strategy;
use kubectl_gitops::model::DriftState;
use kubectl_gitops::tui::action::{Action, DetailLine, Effect};
use kubectl_gitops::tui::state::{Pane, State};
use kubectl_gitops::tui::theme::Theme;
use kubectl_gitops::tui::update::update;
use kubectl_gitops::tui::view::state_symbol;
use ratatui::style::Color;
use tui_fixture::{SHAS, draw, fresh, loaded, report};

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn theme(name: &str) -> Theme {
    Theme::builtin(name).unwrap()
}

/// Snapshots `state` at both sizes as `<name>_<w>x<h>`.
fn snapshot_both(name: &str, state: &State) {
    for (w, h) in SIZES {
        let terminal = draw(state, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
    }
}

fn typed(state: &mut State, start: Action, text: &str) {
    update(state, start);
    for c in text.chars() {
        update(state, Action::InputChar(c));
    }
}

#[test]
fn loading_before_anything_arrives() {
    let (state, _) = fresh(false, theme("dark"));
    snapshot_both("loading", &state);
}

#[test]
fn main_view_side_by_side_diff() {
    let state = loaded(false, theme("dark"));
    snapshot_both("main_side_by_side", &state);
}

#[test]
fn main_view_unified_diff_in_detail() {
    let mut state = loaded(false, theme("light"));
    update(&mut state, Action::ToggleLayout);
    update(&mut state, Action::NextPane);
    update(&mut state, Action::NextPane);
    assert_eq!(state.focus, Pane::Detail);
    snapshot_both("unified_detail", &state);
}

#[test]
fn refining_with_client_result_and_a_missing_resource() {
    let (mut state, effects) = fresh(false, theme("high-contrast"));
    update(
        &mut state,
        Action::Evaluated {
            request: tui_fixture::eval_request(&effects),
            strategy: Strategy::Client,
            result: Ok(report(0, Strategy::Client)),
        },
    );
    update(&mut state, Action::NextPane);
    update(&mut state, Action::Down);
    snapshot_both("missing_resource_refining", &state);
}

#[test]
fn help_popup() {
    let mut state = loaded(false, theme("dark"));
    update(&mut state, Action::Help);
    snapshot_both("help", &state);
}

#[test]
fn help_popup_read_only() {
    let mut state = loaded(true, theme("dark"));
    update(&mut state, Action::Help);
    let terminal = draw(&state, 160, 48);
    insta::assert_snapshot!("help_read_only_160x48", terminal.backend());
}

#[test]
fn confirm_sync_resource_planning_then_planned() {
    let mut state = loaded(false, theme("high-contrast"));
    let effects = update(&mut state, Action::SyncResource);
    snapshot_both("confirm_sync_resource_planning", &state);
    let Some(Effect::PlanSync { request, .. }) = effects.first().cloned() else {
        panic!("{effects:?}")
    };
    update(
        &mut state,
        Action::Planned {
            request,
            result: Ok(vec![
                "Apply git@c3c3c3c to Deployment.apps web -n shop (field manager kubectl-gitops):"
                    .into(),
                "  configure Deployment.apps web -n shop".into(),
                "      spec.replicas (taken over from kubectl)".into(),
            ]),
        },
    );
    snapshot_both("confirm_sync_resource", &state);
}

#[test]
fn confirm_rollback() {
    let mut state = loaded(false, theme("dark"));
    tui_fixture::at_older_commit(&mut state);
    update(&mut state, Action::SyncAll);
    snapshot_both("confirm_rollback", &state);
}

#[test]
fn confirm_revert() {
    let mut state = loaded(false, theme("light"));
    update(&mut state, Action::Down);
    update(&mut state, Action::RevertCommit);
    snapshot_both("confirm_revert", &state);
}

#[test]
fn filter_line_while_typing() {
    let mut state = loaded(false, theme("dark"));
    typed(&mut state, Action::StartFilter, "kind:configmap");
    snapshot_both("filter_typing", &state);
}

#[test]
fn command_line_while_typing() {
    let mut state = loaded(false, theme("dark"));
    typed(&mut state, Action::StartCommand, "rev HEAD~2");
    snapshot_both("command_typing", &state);
}

#[test]
fn error_popup_after_a_failed_write() {
    let mut state = loaded(false, theme("dark"));
    update(
        &mut state,
        Action::WriteDone {
            what: "sync".into(),
            result: Err(
                "apply apps/v1 Deployment shop/web: admission webhook denied the request".into(),
            ),
            new_head: None,
        },
    );
    snapshot_both("error_popup", &state);
}

#[test]
fn read_only_status_bar_and_refusal() {
    let mut state = loaded(true, theme("dark"));
    let terminal = draw(&state, 160, 48);
    insta::assert_snapshot!("read_only_160x48", terminal.backend());
    update(&mut state, Action::SyncResource);
    let terminal = draw(&state, 80, 24);
    insta::assert_snapshot!("read_only_refused_80x24", terminal.backend());
}

#[test]
fn blame_lines() {
    let mut state = loaded(false, theme("dark"));
    let effects = update(&mut state, Action::ToggleBlame);
    let Some(Effect::Blame { request, .. }) = effects.first().cloned() else {
        panic!("{effects:?}")
    };
    let line = |sha: &str, text: &str, mark: char| DetailLine {
        gutter: format!(
            "{} Ada Example 2026-01-0{}",
            &sha[..7],
            if sha == SHAS[0] { 3 } else { 1 }
        ),
        text: text.into(),
        mark,
        commit: Some(sha.into()),
    };
    update(
        &mut state,
        Action::DetailLoaded {
            request,
            result: Ok(vec![
                line(SHAS[2], "apiVersion: apps/v1", ' '),
                line(SHAS[2], "kind: Deployment", ' '),
                line(
                    SHAS[0],
                    "  replicas: 2        # live 5 (kubectl-scale, 2026-01-04)",
                    '~',
                ),
            ]),
        },
    );
    update(&mut state, Action::NextPane);
    update(&mut state, Action::NextPane);
    snapshot_both("blame", &state);
}

#[test]
fn history_walk_error() {
    let (mut state, effects) = fresh(false, theme("dark"));
    update(
        &mut state,
        Action::HistoryFailed {
            request: tui_fixture::history_request(&effects),
            message: "unknown revision \"nope\" in /repo; pass a commit, branch or tag".into(),
        },
    );
    update(
        &mut state,
        Action::Evaluated {
            request: tui_fixture::eval_request(&effects),
            strategy: Strategy::Client,
            result: Err("cannot reach the cluster at https://127.0.0.1:1: connection refused (kubeconfig /k, context c); check the context or pass --kubeconfig".into()),
        },
    );
    snapshot_both("errors", &state);
}

#[test]
fn every_builtin_theme_colours_states_and_diff_from_its_keys() {
    for name in ["dark", "light", "high-contrast"] {
        let state = loaded(false, theme(name));
        let terminal = draw(&state, 160, 48);
        let buffer = terminal.backend().buffer();
        let t = &state.theme;
        // The state symbol of each row is in its state's colour.
        for state_kind in [DriftState::Synced, DriftState::Drifted, DriftState::Missing] {
            let symbol = state_symbol(state_kind);
            let label = format!("{state_kind:?}");
            let cell = (0..buffer.area.height)
                .flat_map(|y| (0..buffer.area.width).map(move |x| (x, y)))
                .find(|&(x, y)| {
                    x + 2 + (label.len() as u16) < buffer.area.width
                        && buffer[(x, y)].symbol() == symbol
                        && (x + 2..x + 2 + label.len() as u16)
                            .map(|x| buffer[(x, y)].symbol())
                            .collect::<String>()
                            == label
                })
                .unwrap_or_else(|| panic!("{name}: no {label} row"));
            assert_eq!(
                buffer[cell].fg,
                t.state(state_kind).fg.unwrap(),
                "{name} {label}"
            );
        }
        // The removed `replicas: 5` line has the removed background, its `5` the emphasis.
        let (x, y) = (0..buffer.area.height)
            .flat_map(|y| (0..buffer.area.width).map(move |x| (x, y)))
            .find(|&(x, y)| {
                x + 11 < buffer.area.width
                    && (x..x + 11)
                        .map(|x| buffer[(x, y)].symbol())
                        .collect::<String>()
                        == "replicas: 5"
            })
            .unwrap_or_else(|| panic!("{name}: no removed line"));
        assert_eq!(buffer[(x, y)].bg, t.diff_removed.bg.unwrap(), "{name}");
        assert_eq!(
            buffer[(x + 10, y)].bg,
            t.diff_removed_emphasis.bg.unwrap(),
            "{name}"
        );
        // Syntax colours come from the syntect theme: the key is not in the plain text colour.
        assert_ne!(buffer[(x, y)].fg, Color::Reset, "{name}: YAML highlighted");
    }
}

#[test]
fn no_color_draws_without_colours() {
    let state = loaded(false, Theme::monochrome());
    let terminal = draw(&state, 160, 48);
    let buffer = terminal.backend().buffer();
    for cell in buffer.content() {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
    }
    insta::assert_snapshot!("no_color_160x48", terminal.backend());
}

#[test]
fn a_marked_commit_lists_what_changed_and_diffs_the_two_commits() {
    // Just marked: the mark is the selected commit, nothing compared yet.
    let mut state = loaded(false, theme("dark"));
    update(&mut state, Action::ToggleMark);
    let screen = tui_fixture::screen(&state);
    assert!(screen.contains("mark c3c3c3c"), "{screen}");
    assert!(
        screen.contains("select another commit in History"),
        "{screen}"
    );

    // Compared with the older commit: the changed resources, removed first, and the first
    // one's rendered diff, mark on the left, selected commit on the right.
    let state = tui_fixture::marked(false, theme("dark"), Vec::new());
    let screen = tui_fixture::screen(&state);
    for text in [
        "Resources c3c3c3c → b2b2b2b",
        "- Removed  ConfigMap  shop/legacy",
        "~ Modified Deployment shop/web",
        "+ Added    ConfigMap  shop/settings",
        "Diff git@c3c3c3c → git@b2b2b2b · ConfigMap legacy -n shop",
        "MODE: old",
    ] {
        assert!(screen.contains(text), "{text}:\n{screen}");
    }
    snapshot_both("marked", &state);

    // A unit that did not render is a row of its own, first, its message in the Detail pane.
    let state = tui_fixture::marked(
        false,
        theme("dark"),
        vec!["at b2b2b2b: envs/shop/broken.yaml:3: did not parse".into()],
    );
    snapshot_both("marked_render_error", &state);
}

/// A row whose file or owner did not render (a HelmRelease whose chart cannot be fetched): the
/// Resources pane marks it, the Detail pane says the error above the comparison that could
/// still be made (issue #16).
#[test]
fn a_render_error_shows_on_its_rows() {
    let (mut state, effects) = fresh(false, theme("dark"));
    let mut with_error = (*report(0, Strategy::Server)).clone();
    let message = "apps/web.yaml:1: HelmRelease shop/web: cannot get chart web * from \
                   https://charts.example.com (render once with the repository reachable)";
    for row in &mut with_error.resources {
        if row.id.kind == "Deployment" {
            row.render_error = Some(message.to_owned());
        }
    }
    let effects_after = update(
        &mut state,
        Action::Evaluated {
            request: tui_fixture::eval_request(&effects),
            strategy: Strategy::Server,
            result: Ok(std::sync::Arc::new(with_error)),
        },
    );
    tui_fixture::highlight(&mut state, &effects_after);
    let screen = tui_fixture::screen(&state);
    assert!(screen.contains("~ Drifted  ! Deployment"), "{screen}");
    assert!(screen.contains("✓ Synced     ConfigMap"), "{screen}");
    assert!(
        screen.contains("render error: apps/web.yaml:1: HelmRelease"),
        "{screen}"
    );
    snapshot_both("render_error_rows", &state);
}
