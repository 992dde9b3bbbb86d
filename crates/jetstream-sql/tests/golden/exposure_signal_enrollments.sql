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
        AND e.event_string_value = '1-click-set-to-default-existing-users'
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
        MIN(ds.submission_date) AS exposure_date,
        COUNT(ds.submission_date) AS num_exposure_events
    FROM raw_enrollments e
    LEFT JOIN (
        SELECT
            client_id AS analysis_id,
            submission_date AS submission_date
        FROM (SELECT *, metrics.uuid.messaging_system_client_id AS client_id,
DATE(submission_timestamp) AS submission_date FROM `moz-fx-data-shared-prod.firefox_desktop.messaging_system` WHERE metrics.string.messaging_system_ping_type = 'spotlight')
        WHERE submission_date BETWEEN DATE_ADD('2026-01-05', INTERVAL 0 DAY) AND DATE_ADD('2026-01-05', INTERVAL 7 DAY)
            AND (
    COALESCE(mozfun.map.get_key(ping_info.experiments, '1-click-set-to-default-existing-users') IS NOT NULL
             AND metrics.text2.messaging_system_message_id = 'FOX_DOODLE_SET_DEFAULT', FALSE)
)
    ) AS ds
    ON ds.analysis_id = e.analysis_id AND ds.submission_date >= e.enrollment_date
    GROUP BY e.analysis_id, e.branch
)
SELECT
    se.*,
    e.* EXCEPT (analysis_id, branch)
FROM segmented_enrollments se
LEFT JOIN exposures e
USING (analysis_id, branch)