//! History of the environment and of one resource (SPEC §5 history, §7 deployed revision).
