//! The BigQuery warehouse against the bqemulator REST emulator (tier `emulators`) and
//! against a fake BigQuery API for fault injection.

mod emulator;
mod faults;
