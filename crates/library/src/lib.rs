//! LibraryManager: the only write gateway to a bae library.
