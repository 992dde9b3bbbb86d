WITH raw_enrollments AS (
    SELECT
        client_id AS analysis_id,
        JSON_VALUE(event_extra, '$.branch') AS branch,
        DATE(MIN(submission_timestamp)) AS enrollment_date,
        COUNT(submission_timestamp) AS num_enrollment_events
    FROM `moz-fx-data-shared-prod.fenix.events_stream`
    WHERE
        client_id IS NOT NULL
        AND DATE(submission_timestamp) BETWEEN '2026-01-05' AND '2026-01-12'
        AND event_category = 'nimbus_events'
        AND JSON_VALUE(event_extra, '$.experiment') = 'no-config-fenix'
        AND event_name = 'enrollment'
        AND sample_id < 100
    GROUP BY ALL
),
segmented_enrollments AS (
    SELECT
        raw_enrollments.*
    FROM raw_enrollments
    
),
exposures AS (
    SELECT
        exposures.analysis_id AS analysis_id,
        exposures.branch,
        DATE(MIN(exposures.submission_date)) AS exposure_date,
        COUNT(exposures.submission_date) AS num_exposure_events
    FROM raw_enrollments re
    LEFT JOIN (
        SELECT
            client_id AS analysis_id,
            JSON_VALUE(event_extra, '$.branch') AS branch,
            DATE(submission_timestamp) AS submission_date
        FROM `moz-fx-data-shared-prod.fenix.events_stream`
        WHERE DATE(submission_timestamp) BETWEEN '2026-01-05' AND '2026-01-12'
            AND event_category = 'nimbus_events'
            AND JSON_VALUE(event_extra, '$.experiment') = 'no-config-fenix'
            AND (event_name = 'expose' OR event_name = 'exposure')
    ) exposures
    ON re.analysis_id = exposures.analysis_id
        AND re.branch = exposures.branch
        AND exposures.submission_date >= re.enrollment_date
    GROUP BY ALL
)
SELECT
    se.*,
    e.* EXCEPT (analysis_id, branch)
FROM segmented_enrollments se
LEFT JOIN exposures e
USING (analysis_id, branch)