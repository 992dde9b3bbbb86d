WITH analysis_windows AS (
    (SELECT 0 AS analysis_window_start, 27 AS analysis_window_end)
),
raw_enrollments AS (
    SELECT
        e.*,
        aw.*
    FROM `project.dataset.enrollments_no_config_fenix` e
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
        ds_0.client_level_daily_active_users_v2,
        ds_0.baseline_v2_has_contradictory_branch,
        ds_0.baseline_v2_has_non_enrolled_data,
        ds_1.days_of_use,
        ds_1.active_hours,
        ds_1.baseline_has_contradictory_branch,
        ds_1.baseline_has_non_enrolled_data,
        ds_2.total_uri_count,
        ds_2.metrics_has_contradictory_branch,
        ds_2.metrics_has_non_enrolled_data,
        ds_3.tagged_follow_on_searches,
        ds_3.searches_with_ads,
        ds_3.search_count,
        ds_3.organic_searches,
        ds_3.tagged_search_count,
        ds_3.serp_ad_clicks,
        ds_3.mobile_search_clients_engines_sources_daily_has_contradictory_branch,
        ds_3.mobile_search_clients_engines_sources_daily_has_non_enrolled_data
    FROM enrollments
    LEFT JOIN (
    SELECT
        e.analysis_id,
        e.branch,
        e.analysis_window_start,
        e.analysis_window_end,
        e.num_exposure_events,
        e.exposure_date,
            COUNT(DISTINCT CASE WHEN metrics.timespan.glean_baseline_duration.value > 0
                         AND LOWER(metadata.isp.name) != 'browserstack'
                        THEN client_info.client_id
                        ELSE NULL END) AS client_level_daily_active_users_v2,
        COALESCE(LOGICAL_OR(`mozfun.map.get_key`(ds.ping_info.experiments, 'no-config-fenix').branch != e.branch), FALSE) AS baseline_v2_has_contradictory_branch,
        COALESCE(LOGICAL_OR(`mozfun.map.get_key`(ds.ping_info.experiments, 'no-config-fenix').branch IS NULL), FALSE) AS baseline_v2_has_non_enrolled_data
    FROM enrollments e
        LEFT JOIN (
    SELECT
        p.*,
        DATE(p.submission_timestamp) AS submission_date
    FROM `moz-fx-data-shared-prod.fenix.baseline` p
) ds
            ON ds.client_info.client_id = e.analysis_id
            AND ds.submission_date BETWEEN '2026-01-05' AND '2026-02-08'
            AND ds.submission_date BETWEEN DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_start DAY) AND DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_end DAY)
            AND (ds.submission_date != e.enrollment_date OR `mozfun.map.get_key`(ds.ping_info.experiments, 'no-config-fenix').branch IS NOT NULL)
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
        COUNT(DISTINCT DATE(submission_timestamp)) AS days_of_use,
        COALESCE(SUM(metrics.timespan.glean_baseline_duration.value), 0) / 3600.0 AS active_hours,
        COALESCE(LOGICAL_OR(`mozfun.map.get_key`(ds.ping_info.experiments, 'no-config-fenix').branch != e.branch), FALSE) AS baseline_has_contradictory_branch,
        COALESCE(LOGICAL_OR(`mozfun.map.get_key`(ds.ping_info.experiments, 'no-config-fenix').branch IS NULL), FALSE) AS baseline_has_non_enrolled_data
    FROM enrollments e
        LEFT JOIN (
    SELECT
        p.*,
        DATE(p.submission_timestamp) AS submission_date
    FROM `moz-fx-data-shared-prod.fenix.baseline` p
) ds
            ON ds.client_info.client_id = e.analysis_id
            AND ds.submission_date BETWEEN '2026-01-05' AND '2026-02-08'
            AND ds.submission_date BETWEEN DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_start DAY) AND DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_end DAY)
            AND (ds.submission_date != e.enrollment_date OR `mozfun.map.get_key`(ds.ping_info.experiments, 'no-config-fenix').branch IS NOT NULL)
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
        COALESCE(SUM(metrics.counter.events_normal_and_private_uri_count), 0) AS total_uri_count,
        COALESCE(LOGICAL_OR(`mozfun.map.get_key`(ds.ping_info.experiments, 'no-config-fenix').branch != e.branch), FALSE) AS metrics_has_contradictory_branch,
        COALESCE(LOGICAL_OR(`mozfun.map.get_key`(ds.ping_info.experiments, 'no-config-fenix').branch IS NULL), FALSE) AS metrics_has_non_enrolled_data
    FROM enrollments e
        LEFT JOIN (
    SELECT
        p.*,
        DATE(p.submission_timestamp) AS submission_date
    FROM `moz-fx-data-shared-prod.fenix.metrics` p
) ds
            ON ds.client_info.client_id = e.analysis_id
            AND ds.submission_date BETWEEN '2026-01-05' AND '2026-02-08'
            AND ds.submission_date BETWEEN DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_start DAY) AND DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_end DAY)
            AND (ds.submission_date != e.enrollment_date OR `mozfun.map.get_key`(ds.ping_info.experiments, 'no-config-fenix').branch IS NOT NULL)
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
        COALESCE(SUM(tagged_follow_on), 0) AS tagged_follow_on_searches,
        COALESCE(SUM(search_with_ads), 0) AS searches_with_ads,
        COALESCE(SUM(search_count), 0) AS search_count,
        COALESCE(SUM(organic), 0) AS organic_searches,
        COALESCE(SUM(tagged_sap), 0) AS tagged_search_count,
        COALESCE(SUM(ad_click), 0) AS serp_ad_clicks,
        COALESCE(LOGICAL_OR(`mozfun.map.get_key`(ds.experiments, 'no-config-fenix') != e.branch), FALSE) AS mobile_search_clients_engines_sources_daily_has_contradictory_branch,
        COALESCE(LOGICAL_OR(`mozfun.map.get_key`(ds.experiments, 'no-config-fenix') IS NULL), FALSE) AS mobile_search_clients_engines_sources_daily_has_non_enrolled_data
    FROM enrollments e
        LEFT JOIN (
    SELECT *
    FROM `mozdata.search.mobile_search_clients_engines_sources_daily`
    WHERE normalized_app_name_os = 'Firefox Android'
) ds
            ON ds.client_id = e.analysis_id
            AND ds.submission_date BETWEEN '2026-01-05' AND '2026-02-08'
            AND ds.submission_date BETWEEN DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_start DAY) AND DATE_ADD(e.enrollment_date, INTERVAL e.analysis_window_end DAY)
            AND (ds.submission_date != e.enrollment_date OR `mozfun.map.get_key`(ds.experiments, 'no-config-fenix') IS NOT NULL)
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