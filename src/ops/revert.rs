//! Revert: a commit that undoes another, as git revert makes it (SPEC §6).
