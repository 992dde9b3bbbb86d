//! `report`: the page of a simulated experiment in headless Chromium (Debian's package, which
//! `cargo xtask test` installs and names in `JETSTREAM_CHROMIUM`).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::jetstream;
use super::run::scratch;

fn ok(args: &[&str]) -> String {
    super::reference::ok(jetstream(args), &format!("jetstream {args:?}"))
}

/// Chromium's path: `JETSTREAM_CHROMIUM`, else `chromium` on the PATH. Missing, the test
/// fails: it is never skipped.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("JETSTREAM_CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
        .expect(
            "Chromium not found: run the tests with `cargo xtask test` (it installs Debian's \
             chromium) or set JETSTREAM_CHROMIUM",
        )
}

/// A screenshot of `page` at `width`×`height` CSS pixels, and what the page wrote to the
/// console (every console line: errors, warnings, blocked loads).
fn screenshot(page: &Path, width: u32, height: u32, png: &Path) -> Vec<String> {
    let profile = png.with_extension("profile");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success() && png.is_file(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect()
}

/// (width, height, share of pixels that are not the background, distinct colours).
fn ink(png: &Path) -> (u32, u32, f64, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png).expect("open screenshot"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let background = pixels[pixels.len() - 1];
    let inked = pixels.iter().filter(|p| p[..3] != background[..3]).count();
    let mut colours: Vec<[u8; 3]> = pixels.iter().map(|p| [p[0], p[1], p[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    (
        info.width,
        info.height,
        inked as f64 / pixels.len() as f64,
        colours.len(),
    )
}

/// 2,000 simulated clients (and `extra` simulate options) in a scratch folder `name`: the
/// folder, the `duckdb:` warehouse and the recipes file.
fn simulated(name: &str, extra: &[&str]) -> (jetstream_test_support::Scratch, String, PathBuf) {
    let dir = scratch(name);
    let db = format!("duckdb:{}", dir.join("db.duckdb").display());
    let recipes = dir.join("experiments.json");
    let mut args = vec![
        "simulate",
        "--warehouse",
        &db,
        "--experiments-file",
        recipes.to_str().unwrap(),
        "--clients",
        "2000",
    ];
    args.extend_from_slice(extra);
    ok(&args);
    (dir, db, recipes)
}

#[test]
#[ignore = "chromium: needs headless Chromium (cargo xtask test installs Debian's chromium)"]
fn the_screenshot_checks_can_fail() {
    // a page with a script error and a blocked image: both reach the console
    let dir = scratch("report-controls");
    let bad = dir.join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" \
         content=\"default-src 'none'; script-src 'unsafe-inline'\"></head><body>\
         <img src=\"https://example.com/x.png\"><script>noSuchFunction();</script></body></html>",
    )
    .unwrap();
    let console = screenshot(&bad, 390, 300, &dir.join("bad.png"));
    assert!(
        console.iter().any(|l| l.contains("noSuchFunction")),
        "{console:?}"
    );
    assert!(
        console
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "{console:?}"
    );
    // a blank page is blank
    let blank = dir.join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    assert!(screenshot(&blank, 390, 300, &dir.join("blank.png")).is_empty());
    let (_, _, share, colours) = ink(&dir.join("blank.png"));
    assert!(share == 0.0 && colours == 1, "{share} {colours}");
}

#[test]
#[ignore = "chromium: needs headless Chromium (cargo xtask test installs Debian's chromium)"]
#[allow(clippy::print_stderr)] // the measured screenshots, for the run's log
fn the_report_of_a_simulated_experiment_renders_on_a_phone_and_a_wide_screen() {
    let (dir, db, recipes) = simulated(
        "report",
        &["--seed", "7", "--effect", "active_hours_sum=0.3"],
    );
    // daily windows of active hours (a time course), and its distributions overall
    let config = dir.join("jetstream/jetstream-sim-two-branches.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let (head, rest) = text.split_once("\noverall = [").expect("an overall list");
    let text = format!(
        "{}\noverall = [\"active_hours_distribution\", {rest}\n{}",
        head.replacen("[metrics]\n", "[metrics]\ndaily = [\"active_hours\"]\n", 1),
        r#"[metrics.active_hours_distribution]
data_source = "sim_clients_daily"
select_expression = "COALESCE(SUM(active_hours_sum), 0)"
friendly_name = "Active hours (distribution)"
[metrics.active_hours_distribution.statistics.kernel_density_estimate]
[metrics.active_hours_distribution.statistics.empirical_cdf]
"#
    );
    std::fs::write(&config, text).unwrap();
    let slug = "jetstream-sim-two-branches";
    let common = [
        "--warehouse",
        &db,
        "--experiments-file",
        recipes.to_str().unwrap(),
        "--config-repo",
        dir.to_str().unwrap(),
        "--experiment-slug",
        slug,
    ];
    let mut rerun = vec!["rerun", "--until", "2026-01-28", "--output-dir"];
    let exports = dir.join("out");
    rerun.push(exports.to_str().unwrap());
    rerun.extend(common);
    let out = ok(&rerun);
    assert!(out.contains("0 failures"), "{out}");
    let page = dir.join("pages/report.html");
    let mut report = vec!["report", "-o", page.to_str().unwrap()];
    report.extend(common);
    let out = ok(&report);
    assert!(out.contains("wrote"), "{out}");

    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<h1>jetstream-sim-two-branches</h1>"));
    assert!(html.contains("Headline: <b>Overall (the whole experiment)</b>"));
    assert!(html.contains("relative difference to control, by day</figcaption>"));
    assert!(html.contains("kernel density estimate per branch</figcaption>"));
    assert!(html.contains("empirical cdf per branch</figcaption>"));
    assert!(html.contains("Before enrollment (pre-enrollment week)"));
    // the planted +30% on active hours is found, and read as better
    assert!(
        html.contains(r#"<span class="chip better">treatment: +"#),
        "no better chip"
    );
    // the simulator's balanced assignment is not a mismatch
    assert!(html.contains("consistent with the configured ratios"));
    assert!(!html.contains("Sample ratio mismatch"));

    for (name, width, height) in [("phone", 390, 844), ("desktop", 1280, 900)] {
        let png = dir.join(format!("report-{name}.png"));
        let console = screenshot(&page, width, height, &png);
        assert!(
            console.is_empty(),
            "console output at {name} width: {console:?}"
        );
        let (w, h, share, colours) = ink(&png);
        assert_eq!((w, h), (width, height), "{name}");
        assert!(
            share > 0.03 && colours > 20,
            "{name} screenshot looks blank: {:.1}% inked, {colours} colours ({})",
            share * 100.0,
            png.display()
        );
        eprintln!(
            "{name}: {} ({w}×{h}, {:.1}% inked, {colours} colours)",
            png.display(),
            share * 100.0
        );
    }
}

/// `preview`: a dummy experiment over the simulated desktop population, its days analysed in
/// the scratch dataset, its report written; a second preview starts from scratch.
#[test]
fn a_preview_of_the_simulated_population_writes_its_report() {
    let (dir, db, recipes) = simulated("preview", &["--seed", "11"]);
    // the simulated data source filters on its experiments column: the preview drops that
    let config = dir.join("preview.toml");
    std::fs::write(
        &config,
        r#"[metrics]
daily = ["active_hours"]

[data_sources.sim_clients_daily]
from_expression = "mozdata.telemetry.clients_daily"
experiments_column_type = "simple"

[metrics.active_hours]
data_source = "sim_clients_daily"
select_expression = "COALESCE(SUM(active_hours_sum), 0)"
friendly_name = "Active hours"
bigger_is_better = true
[metrics.active_hours.statistics.bootstrap_mean]
"#,
    )
    .unwrap();
    let page = dir.join("preview.html");
    let args = [
        "preview",
        "--warehouse",
        &db,
        "--experiments-file",
        recipes.to_str().unwrap(),
        "--config-repo",
        dir.to_str().unwrap(),
        "--config-file",
        config.to_str().unwrap(),
        "--experiment-slug",
        "population-check",
        "--generate-population",
        "--population-sample-size",
        "50",
        "--start-date",
        "2026-01-20",
        "--end-date",
        "2026-01-22",
        "-o",
        page.to_str().unwrap(),
    ];
    let out = ok(&args);
    assert!(
        out.contains(
            "previewing population-check (a dummy experiment) on 2026-01-20..2026-01-22, \
             enrolled 2026-01-17..2026-01-19, population sample_id < 50"
        ),
        "{out}"
    );
    assert!(out.contains("0 failures"), "{out}");
    assert!(out.contains(&format!("wrote {}", page.display())), "{out}");

    // the tables are in the scratch dataset `tmp`; about half the clients (sample_id < 50)
    // that were active on the enrollment days, split by the hash about evenly
    let q = |sql: &str| ok(&["query", "--warehouse", &db, sql]);
    let counts = q(
        "SELECT branch, COUNT(*) AS n, MIN(enrollment_date) AS first, \
         MAX(enrollment_date) AS last FROM tmp.enrollments_population_check \
         GROUP BY branch ORDER BY branch",
    );
    let rows: Vec<Vec<&str>> = counts
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{counts}");
    assert_eq!(
        (rows[0][0], rows[1][0]),
        ("control", "treatment"),
        "{counts}"
    );
    let n: Vec<u64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let total = n[0] + n[1];
    assert!((400..=1000).contains(&total), "{counts}");
    assert!(n[0].abs_diff(n[1]) * 5 < total, "uneven split: {counts}");
    assert!(
        rows.iter()
            .all(|r| r[2] >= "2026-01-17" && r[3] <= "2026-01-19"),
        "{counts}"
    );
    // everyone of the generated population is exposed (active after enrolling)
    let exposed = q("SELECT COUNTIF(num_exposure_events > 0) AS exposed \
         FROM tmp.enrollments_population_check");
    assert_eq!(
        exposed.lines().nth(1).unwrap().parse::<u64>().unwrap(),
        total,
        "{exposed}"
    );
    let stats = q(
        "SELECT COUNT(*) FROM tmp.statistics_population_check_daily \
         WHERE metric = 'active_hours' AND statistic = 'mean'",
    );
    let stat_rows: u64 = stats.lines().nth(1).unwrap().parse().unwrap();
    assert!(stat_rows > 0, "{stats}");

    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<h1>population-check</h1>"), "no title");
    assert!(html.contains("Active hours"), "no metric card");
    assert!(
        html.contains("consistent with the configured ratios"),
        "no SRM check"
    );

    // a second preview deletes the first one's tables and logs before it runs
    let out = ok(&args);
    assert!(out.contains("0 failures"), "{out}");
    let again = q(
        "SELECT COUNT(*) FROM tmp.statistics_population_check_daily \
         WHERE metric = 'active_hours' AND statistic = 'mean'",
    );
    assert_eq!(again, stats);
}
