//! Sync: preflight, ordered server-side applies, ApplySet tracking, prune, health waits (SPEC §6).
