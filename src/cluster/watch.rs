//! Watches of the kinds in play into reflector stores, for the UI's live view.
