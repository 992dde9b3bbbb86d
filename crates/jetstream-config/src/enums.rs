//! Small closed vocabularies of the config language.

use serde::Serialize;

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used in configs and outputs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parse the config spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The accepted spellings, for error messages.
            pub fn expected() -> String {
                let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                all.join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// The analysis periods, in the reference's enum order (which is also resolution order).
    AnalysisPeriod {
        /// One-day windows.
        Day => "day",
        /// One-week windows.
        Week => "week",
        /// 28-day windows.
        Days28 => "days28",
        /// The whole experiment, computed once after its end.
        Overall => "overall",
        /// The week before enrollment.
        PreenrollmentWeek => "preenrollment_week",
        /// The 28 days before enrollment.
        PreenrollmentDays28 => "preenrollment_days28",
        /// From enrollment through the analysis date, every day once enrollment has ended
        /// (this project's addition; opt-in, last so that the reference's order is kept).
        Cumulative => "cumulative",
    }
}

impl AnalysisPeriod {
    /// The key of the period list in `[metrics]` (`28_day` for [`AnalysisPeriod::Days28`]).
    pub fn config_key(self) -> &'static str {
        match self {
            AnalysisPeriod::Day => "daily",
            AnalysisPeriod::Week => "weekly",
            AnalysisPeriod::Days28 => "28_day",
            AnalysisPeriod::Overall => "overall",
            AnalysisPeriod::PreenrollmentWeek => "preenrollment_weekly",
            AnalysisPeriod::PreenrollmentDays28 => "preenrollment_days28",
            AnalysisPeriod::Cumulative => "cumulative",
        }
    }

    /// The suffix used in table and view names (`daily`, `weekly`, `days28`, ...).
    pub fn table_suffix(self) -> &'static str {
        match self {
            AnalysisPeriod::Day => "daily",
            AnalysisPeriod::Week => "weekly",
            AnalysisPeriod::Days28 => "days28",
            AnalysisPeriod::Overall => "overall",
            AnalysisPeriod::PreenrollmentWeek => "preenrollment_weekly",
            AnalysisPeriod::PreenrollmentDays28 => "preenrollment_days28",
            AnalysisPeriod::Cumulative => "cumulative",
        }
    }

    /// The mozanalysis label (`daily`, `weekly`, `28_day`, ...).
    pub fn mozanalysis_label(self) -> &'static str {
        self.config_key()
    }

    /// Whether this is one of the pre-enrollment periods.
    pub fn is_preenrollment(self) -> bool {
        matches!(
            self,
            AnalysisPeriod::PreenrollmentWeek | AnalysisPeriod::PreenrollmentDays28
        )
    }

    /// Parse a period from its enum value (`week`) or its config key (`weekly`, `28_day`).
    pub fn parse_any(s: &str) -> Option<Self> {
        Self::parse(s).or_else(|| Self::ALL.iter().copied().find(|p| p.config_key() == s))
    }
}

string_enum! {
    /// Which clients a metric is computed over.
    AnalysisBasis {
        /// Every enrolled client.
        Enrollments => "enrollments",
        /// Only clients that saw the treatment.
        Exposures => "exposures",
    }
}

string_enum! {
    /// The unit metrics are aggregated by.
    AnalysisUnit {
        /// Per client.
        Client => "client_id",
        /// Per profile group.
        ProfileGroup => "profile_group_id",
    }
}

string_enum! {
    /// Metric quality level in metric-hub.
    MetricLevel {
        /// Gold.
        Gold => "gold",
        /// Silver.
        Silver => "silver",
        /// Bronze.
        Bronze => "bronze",
    }
}

string_enum! {
    /// The shape of the `experiments` column of a data source.
    ExperimentsColumnType {
        /// `experiments` is a slug → branch map.
        Simple => "simple",
        /// `experiments` is a slug → struct with `branch`.
        Native => "native",
        /// `ping_info.experiments` (Glean).
        Glean => "glean",
        /// `event_extra` JSON with `experiment` and `branch`.
        EventsStream => "events_stream",
    }
}

string_enum! {
    /// How enrollments are queried.
    EnrollmentsQueryType {
        /// Cirrus (server-side) enrollments.
        Cirrus => "cirrus",
        /// Fenix with the legacy fallback.
        FenixFallback => "fenix-fallback",
        /// Normandy events (desktop).
        Normandy => "normandy",
        /// Glean enrollment events.
        GleanEvent => "glean-event",
        /// Background update task.
        BackgroundUpdate => "background-update",
    }
}

string_enum! {
    /// Named exposure-window limits.
    AnalysisWindow {
        /// The start of the analysis window.
        AnalysisWindowStart => "analysis_window_start",
        /// The end of the analysis window.
        AnalysisWindowEnd => "analysis_window_end",
        /// The start of enrollment.
        EnrollmentStart => "enrollment_start",
        /// The end of enrollment.
        EnrollmentEnd => "enrollment_end",
    }
}

string_enum! {
    /// Relationship of a data-source join.
    JoinRelationship {
        /// One to one.
        OneToOne => "one_to_one",
        /// Many to one.
        ManyToOne => "many_to_one",
        /// One to many.
        OneToMany => "one_to_many",
        /// Many to many.
        ManyToMany => "many_to_many",
    }
}

/// An exposure-signal window limit: a day offset or a named limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum WindowLimit {
    /// Days relative to enrollment.
    Days(i64),
    /// A named limit.
    Named(AnalysisWindow),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_spellings() {
        assert_eq!(
            AnalysisPeriod::parse_any("28_day"),
            Some(AnalysisPeriod::Days28)
        );
        assert_eq!(
            AnalysisPeriod::parse_any("days28"),
            Some(AnalysisPeriod::Days28)
        );
        assert_eq!(
            AnalysisPeriod::parse_any("weekly"),
            Some(AnalysisPeriod::Week)
        );
        assert_eq!(AnalysisPeriod::Days28.table_suffix(), "days28");
        assert_eq!(
            AnalysisPeriod::PreenrollmentWeek.table_suffix(),
            "preenrollment_weekly"
        );
        assert_eq!(AnalysisPeriod::parse_any("monthly"), None);
    }
}
