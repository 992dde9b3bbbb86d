//! jetstream-gcp against emulators and mock servers.

mod bigquery;
mod faults;
mod gcs;
mod google_apis;
