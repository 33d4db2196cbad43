//! The terminal UI (SPEC §9): state, actions, reducer, effects, views, keymap, themes.
