//! GKE and Artifact Registry against a fake Google API.

mod google_apis;
