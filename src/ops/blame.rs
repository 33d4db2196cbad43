//! Blame of a resource: git lines to commits, live fields to managers (SPEC §7).
