//! The GCS sink against fake-gcs-server (tier `emulators`) and against a fake GCS API for
//! fault injection.

mod gcs;
