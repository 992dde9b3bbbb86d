WITH raw_enrollments AS (
    SELECT
        e.client_id AS analysis_id,
        `mozfun.map.get_key`(e.event_map_values, 'branch') AS branch,
        MIN(e.submission_date) AS enrollment_date,
        COUNT(e.submission_date) AS num_enrollment_events
    FROM `moz-fx-data-shared-prod.telemetry.events` e
    WHERE
        e.event_category = 'normandy'
        AND e.event_method = 'enroll'
        AND e.submission_date BETWEEN '2026-01-05' AND '2026-01-12'
        AND e.event_string_value = 'no-config-desktop'
        AND e.sample_id < 100
    GROUP BY ALL
),
segmented_enrollments AS (
    SELECT
        raw_enrollments.*
    FROM raw_enrollments
    
),
exposures AS (
    SELECT
        e.analysis_id,
        e.branch,
        MIN(e.submission_date) AS exposure_date,
        COUNT(e.submission_date) AS num_exposure_events
    FROM raw_enrollments re
    LEFT JOIN (
        SELECT
            client_id AS analysis_id,
            `mozfun.map.get_key`(event_map_values, 'branchSlug') AS branch,
            submission_date
        FROM `moz-fx-data-shared-prod.telemetry.events`
        WHERE event_category = 'normandy'
            AND (event_method = 'exposure' OR event_method = 'expose')
            AND submission_date BETWEEN '2026-01-05' AND '2026-01-12'
            AND event_string_value = 'no-config-desktop'
    ) e
    ON re.analysis_id = e.analysis_id
        AND re.branch = e.branch
        AND e.submission_date >= re.enrollment_date
    GROUP BY ALL
)
SELECT
    se.*,
    e.* EXCEPT (analysis_id, branch)
FROM segmented_enrollments se
LEFT JOIN exposures e
USING (analysis_id, branch)