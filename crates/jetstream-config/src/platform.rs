//! Platforms jetstream analyses (the reference's `platform_config.toml`).

use crate::enums::EnrollmentsQueryType;

/// One supported application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    /// Experimenter `appName`, also the definitions file stem and outcomes folder.
    pub app_name: &'static str,
    /// Experimenter `appId`.
    pub app_id: &'static str,
    /// How enrollments are queried unless an experiment config overrides it.
    pub enrollments_query_type: EnrollmentsQueryType,
    /// Whether daily runs analyse experiments of this platform (`monitor_cirrus` is disabled in
    /// the reference, but its configs can still be validated).
    pub enabled: bool,
}

/// Every platform, enabled ones first.
pub const PLATFORMS: &[Platform] = &[
    Platform {
        app_name: "firefox_desktop",
        app_id: "firefox-desktop",
        enrollments_query_type: EnrollmentsQueryType::Normandy,
        enabled: true,
    },
    Platform {
        app_name: "fenix",
        app_id: "fenix",
        enrollments_query_type: EnrollmentsQueryType::GleanEvent,
        enabled: true,
    },
    Platform {
        app_name: "focus_android",
        app_id: "org.mozilla.focus",
        enrollments_query_type: EnrollmentsQueryType::GleanEvent,
        enabled: true,
    },
    Platform {
        app_name: "klar_android",
        app_id: "org.mozilla.klar",
        enrollments_query_type: EnrollmentsQueryType::GleanEvent,
        enabled: true,
    },
    Platform {
        app_name: "firefox_ios",
        app_id: "org.mozilla.ios.FirefoxBeta",
        enrollments_query_type: EnrollmentsQueryType::GleanEvent,
        enabled: true,
    },
    Platform {
        app_name: "focus_ios",
        app_id: "org.mozilla.ios.Focus",
        enrollments_query_type: EnrollmentsQueryType::GleanEvent,
        enabled: true,
    },
    Platform {
        app_name: "klar_ios",
        app_id: "org.mozilla.ios.Klar",
        enrollments_query_type: EnrollmentsQueryType::GleanEvent,
        enabled: true,
    },
    Platform {
        app_name: "monitor_cirrus",
        app_id: "monitor.cirrus",
        enrollments_query_type: EnrollmentsQueryType::Cirrus,
        enabled: false,
    },
];

/// Look up a platform by app name.
pub fn platform(app_name: &str) -> Option<&'static Platform> {
    PLATFORMS.iter().find(|p| p.app_name == app_name)
}

/// The BigQuery dataset of an app id: `re.sub(r"[^a-zA-Z0-9]", "_", app_id).lower()`.
pub fn app_dataset(app_id: &str) -> String {
    app_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets() {
        assert_eq!(app_dataset("org.mozilla.klar"), "org_mozilla_klar");
        assert_eq!(app_dataset("firefox-desktop"), "firefox_desktop");
        assert_eq!(platform("fenix").unwrap().app_id, "fenix");
    }
}
