//! Which container image analyses an experiment.
//!
//! The reference's rule: an experiment keeps the image that first analysed it, so its results
//! do not change method half-way. "First analysed" is when its enrollments table was first
//! written; the image is the newest one uploaded at or before that time (the oldest image
//! when all are newer). An image tagged `breaking` (a release that changes results for
//! everyone) moves the anchor forward to its upload time. An experiment with no enrollments
//! table yet gets the newest image. `--image-version` pins every experiment instead.
//!
//! The registry is behind [`ImageRegistry`]: Artifact Registry in `jetstream-gke`, a fixed list
//! in tests.

use chrono::{DateTime, Utc};

/// One image of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Pullable reference by digest: `registry/path/name@sha256:…`.
    pub reference: String,
    /// When it was uploaded.
    pub uploaded: DateTime<Utc>,
    /// Its tags (`latest`, `breaking`, …).
    pub tags: Vec<String>,
}

/// A container registry that lists the images of a name.
pub trait ImageRegistry: Send + Sync {
    /// Every image of `name` (`registry/path/name`, no tag or digest).
    fn images(&self, name: &str) -> Result<Vec<Image>, crate::CloudError>;
}

/// The tag that marks a release changing results for every experiment.
pub const BREAKING_TAG: &str = "breaking";

/// The newest image.
pub fn latest(images: &[Image]) -> Option<&Image> {
    images.iter().max_by_key(|i| i.uploaded)
}

/// The image of an experiment whose enrollments were first written at `first_analysed`
/// (`None`: not analysed yet).
pub fn image_for_experiment(
    images: &[Image],
    first_analysed: Option<DateTime<Utc>>,
) -> Option<&Image> {
    let Some(mut anchor) = first_analysed else {
        return latest(images);
    };
    if let Some(breaking) = images
        .iter()
        .filter(|i| i.tags.iter().any(|t| t == BREAKING_TAG))
        .map(|i| i.uploaded)
        .max()
        && breaking > anchor
    {
        anchor = breaking;
    }
    images
        .iter()
        .filter(|i| i.uploaded <= anchor)
        .max_by_key(|i| i.uploaded)
        .or_else(|| images.iter().min_by_key(|i| i.uploaded))
}

/// How the workflow's images are chosen (`--image`, `--image-version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChoice {
    /// Every experiment runs this reference (`name:tag` or `name@sha256:…`).
    Fixed(String),
    /// Every experiment runs the newest image of `name`, by digest (`--image-version latest`).
    Latest(String),
    /// Each experiment runs the image that first analysed it (no `--image-version`).
    PerExperiment(String),
}

impl ImageChoice {
    /// From `--image NAME` and `--image-version` (a tag, `sha256:…`, `latest`, or none).
    pub fn new(name: &str, version: Option<&str>) -> Self {
        match version {
            None => Self::PerExperiment(name.to_string()),
            Some("latest") => Self::Latest(name.to_string()),
            Some(v) if v.starts_with("sha256:") => Self::Fixed(format!("{name}@{v}")),
            Some(tag) => Self::Fixed(format!("{name}:{tag}")),
        }
    }

    /// Whether the registry must be asked.
    pub fn needs_registry(&self) -> bool {
        !matches!(self, Self::Fixed(_))
    }

    /// The image of an experiment first analysed at `first_analysed`; `images` is the
    /// registry's list (ignored for fixed images).
    pub fn resolve(
        &self,
        images: &[Image],
        first_analysed: Option<DateTime<Utc>>,
    ) -> Result<String, String> {
        let chosen = match self {
            Self::Fixed(reference) => return Ok(reference.clone()),
            Self::Latest(name) => latest(images).ok_or(name),
            Self::PerExperiment(name) => image_for_experiment(images, first_analysed).ok_or(name),
        };
        chosen
            .map(|i| i.reference.clone())
            .map_err(|name| format!("the registry has no image {name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn image(digest: &str, y: i32, m: u32, d: u32, tags: &[&str]) -> Image {
        Image {
            reference: format!("gcr.io/p/jetstream@sha256:{digest}"),
            uploaded: Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn at(y: i32, m: u32, d: u32) -> Option<DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap())
    }

    /// The reference's pinned cases (`test_artifacts.py`).
    #[test]
    fn reference_cases() {
        let images = [
            image("8c766a", 2023, 1, 1, &[]),
            image("xxxxx", 2023, 3, 1, &["latest"]),
        ];
        let pick = |imgs: &[Image], t| image_for_experiment(imgs, t).unwrap().reference.clone();
        assert!(pick(&images, at(2023, 1, 1)).ends_with("8c766a"));
        let breaking = [
            image("8c766a", 2023, 1, 1, &[]),
            image("xxxxx", 2023, 3, 1, &["latest", "breaking"]),
        ];
        assert!(pick(&breaking, at(2023, 1, 1)).ends_with("xxxxx"));
        // Not analysed yet: the newest.
        assert!(pick(&images, None).ends_with("xxxxx"));
        // Analysed before every image: the oldest.
        assert!(pick(&images, at(2020, 1, 1)).ends_with("8c766a"));
        // A breaking release older than the experiment changes nothing.
        let old_breaking = [
            image("aaa", 2022, 1, 1, &["breaking"]),
            image("8c766a", 2023, 1, 1, &[]),
            image("xxxxx", 2023, 3, 1, &[]),
        ];
        assert!(pick(&old_breaking, at(2023, 2, 1)).ends_with("8c766a"));
        assert!(image_for_experiment(&[], None).is_none());
    }

    #[test]
    fn choices() {
        let images = [
            image("8c766a", 2023, 1, 1, &[]),
            image("xxxxx", 2023, 3, 1, &[]),
        ];
        let fixed = ImageChoice::new("r/jetstream", Some("v1"));
        assert_eq!(fixed.resolve(&[], None).unwrap(), "r/jetstream:v1");
        assert!(!fixed.needs_registry());
        let digest = ImageChoice::new("r/jetstream", Some("sha256:abc"));
        assert_eq!(digest.resolve(&[], None).unwrap(), "r/jetstream@sha256:abc");
        let latest = ImageChoice::new("gcr.io/p/jetstream", Some("latest"));
        assert!(
            latest
                .resolve(&images, at(2023, 1, 1))
                .unwrap()
                .ends_with("xxxxx")
        );
        let pinned = ImageChoice::new("gcr.io/p/jetstream", None);
        assert!(pinned.needs_registry());
        assert!(
            pinned
                .resolve(&images, at(2023, 1, 2))
                .unwrap()
                .ends_with("8c766a")
        );
        let err = pinned.resolve(&[], None).unwrap_err();
        assert!(err.contains("gcr.io/p/jetstream"), "{err}");
    }
}
