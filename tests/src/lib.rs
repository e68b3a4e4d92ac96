//! Cross-crate integration tests of bulwark live in `tests/` beside this file; this library
//! holds what they share.
