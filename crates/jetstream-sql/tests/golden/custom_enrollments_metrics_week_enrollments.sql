WITH analysis_windows AS (
    (SELECT 0 AS analysis_window_start, 6 AS analysis_window_end)
),
raw_enrollments AS (
    SELECT
        e.*,
        aw.*
    FROM `project.dataset.enrollments_backgroundtaskmessage_notification_release_4pct_en` e
    CROSS JOIN analysis_windows aw
),
exposures AS (
    SELECT * FROM raw_enrollments e
),
enrollments AS (
    SELECT
        e.* EXCEPT (exposure_date, num_exposure_events),
        x.exposure_date,
        x.num_exposure_events
    FROM exposures x
    RIGHT JOIN raw_enrollments e
    USING (analysis_id, branch)
),
metrics AS (
    SELECT
        enrollments.*,
        ds_0.daily_active_users_per_1000_clients_legacy,
        ds_0.client_level_daily_active_users_v2,
        ds_0.retained_dau,
        ds_1.is_default_browser,
        ds_1.qualified_cumulative_days_of_use,
        ds_1.uri_count,
        ds_1.retained,
        ds_1.days_of_use,
        ds_1.active_hours,
        ds_1.clients_daily_has_contradictory_branch,
        ds_1.clients_daily_has_non_enrolled_data,
        ds_2.search_count,
        ds_2.ad_clicks,
        ds_3.notification_clicks
    FROM enrollments
    LEFT JOIN (
    SELECT
        e.analysis_id,
        e.branch,
        e.analysis_window_start,
        e.analysis_window_end,
        e.num_exposure_events,
        e.exposure_date,
        COUNTIF(is_dau) * 1000 AS daily_active_users_per_1000_clients_legacy,
        COUNTIF(is_dau) AS client_level_daily_active_users_v2,
        COALESCE(LOGICAL_OR(is_dau), FALSE) AS retained_dau
    FROM enrollments e
        LEFT JOIN (
    SELECT *
     FROM `moz-fx-data-shared-prod.telemetry.desktop_active_users`
    WHERE is_desktop
) ds
            ON ds.client_id = e.analysis_id
            AND ds.submission_date BETWEEN '2023-05-23' AND '2023-06-07'
            AND ds.submission_date BETWEEN DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_start DAY) AND DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_end DAY)
    GROUP BY
        e.analysis_id,
        e.branch,
        e.num_exposure_events,
        e.exposure_date,
        e.analysis_window_start,
        e.analysis_window_end
    ) ds_0 USING (analysis_id, branch, analysis_window_start, analysis_window_end)
    LEFT JOIN (
    SELECT
        e.analysis_id,
        e.branch,
        e.analysis_window_start,
        e.analysis_window_end,
        e.num_exposure_events,
        e.exposure_date,
        COALESCE(LOGICAL_OR(is_default_browser), FALSE) AS is_default_browser,
        COUNTIF(
    active_hours_sum > 0 AND
    scalar_parent_browser_engagement_total_uri_count_normal_and_private_mode_sum > 0
) AS qualified_cumulative_days_of_use,
        COALESCE(SUM(scalar_parent_browser_engagement_total_uri_count_sum), 0) AS uri_count,
        COALESCE(SUM(pings_aggregated_by_this_row), 0) > 0 AS retained,
        COUNT(submission_date) AS days_of_use,
        COALESCE(SUM(active_hours_sum), 0) AS active_hours,
        COALESCE(LOGICAL_OR(`mozfun.map.get_key`(ds.experiments, 'backgroundtaskmessage-notification-release-4pct-en') != e.branch), FALSE) AS clients_daily_has_contradictory_branch,
        COALESCE(LOGICAL_OR(`mozfun.map.get_key`(ds.experiments, 'backgroundtaskmessage-notification-release-4pct-en') IS NULL), FALSE) AS clients_daily_has_non_enrolled_data
    FROM enrollments e
        LEFT JOIN mozdata.telemetry.clients_daily ds
            ON ds.client_id = e.analysis_id
            AND ds.submission_date BETWEEN '2023-05-23' AND '2023-06-07'
            AND ds.submission_date BETWEEN DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_start DAY) AND DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_end DAY)
            AND (ds.submission_date != e.enrollment_date OR `mozfun.map.get_key`(ds.experiments, 'backgroundtaskmessage-notification-release-4pct-en') IS NOT NULL)
    GROUP BY
        e.analysis_id,
        e.branch,
        e.num_exposure_events,
        e.exposure_date,
        e.analysis_window_start,
        e.analysis_window_end
    ) ds_1 USING (analysis_id, branch, analysis_window_start, analysis_window_end)
    LEFT JOIN (
    SELECT
        e.analysis_id,
        e.branch,
        e.analysis_window_start,
        e.analysis_window_end,
        e.num_exposure_events,
        e.exposure_date,
        COALESCE(SUM(sap), 0) AS search_count,
        COALESCE(SUM(ad_click), 0) AS ad_clicks
    FROM enrollments e
        LEFT JOIN mozdata.search.search_clients_engines_sources_daily ds
            ON ds.client_id = e.analysis_id
            AND ds.submission_date BETWEEN '2023-05-23' AND '2023-06-07'
            AND ds.submission_date BETWEEN DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_start DAY) AND DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_end DAY)
    GROUP BY
        e.analysis_id,
        e.branch,
        e.num_exposure_events,
        e.exposure_date,
        e.analysis_window_start,
        e.analysis_window_end
    ) ds_2 USING (analysis_id, branch, analysis_window_start, analysis_window_end)
    LEFT JOIN (
    SELECT
        e.analysis_id,
        e.branch,
        e.analysis_window_start,
        e.analysis_window_end,
        e.num_exposure_events,
        e.exposure_date,
        COALESCE(LOGICAL_OR(
    event_method = 'system_notification'
    AND event_object = 'toast'
    AND STARTS_WITH(mozfun.map.get_key(event_map_values, 'name'), 'backgroundtaskmessage-notification-release-4pct-en:')
    ), FALSE) AS notification_clicks
    FROM enrollments e
        LEFT JOIN (
    SELECT
        *
    FROM `mozdata.telemetry.events`
    WHERE event_category = 'browser.launched_to_handle'
) ds
            ON ds.client_id = e.analysis_id
            AND ds.submission_date BETWEEN '2023-05-23' AND '2023-06-07'
            AND ds.submission_date BETWEEN DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_start DAY) AND DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_end DAY)
    GROUP BY
        e.analysis_id,
        e.branch,
        e.num_exposure_events,
        e.exposure_date,
        e.analysis_window_start,
        e.analysis_window_end
    ) ds_3 USING (analysis_id, branch, analysis_window_start, analysis_window_end)
)
SELECT * FROM metrics