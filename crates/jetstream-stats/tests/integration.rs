//! Integration tests of the statistics crate.

mod apply_fixtures;
mod reference;
mod validity;
