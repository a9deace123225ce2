//! The printable reports as users make them with `mes report`: every figure checked against
//! `mes kpi --json` (from the CSV, not the HTML), templates edited without a rebuild, and the
//! HTML printed at A4 by a real headless Chromium.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::Utc;
use mes::bench::sample_plant::plant_model;
use serde_json::{Value, json};

use crate::browser::{Browser, chromium};
use crate::harness::TestDb;

fn mes(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mes")).args(args).output().expect("the mes binary runs")
}

fn ok(args: &[String]) -> String {
    let out = mes(args);
    assert!(out.status.success(), "mes {args:?} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn args(words: &[&str], store: &[String]) -> Vec<String> {
    words.iter().map(|s| (*s).to_owned()).chain(store.iter().cloned()).collect()
}

/// `--data-dir DIR` for SQLite, `--database-url URL` for PostgreSQL.
fn store_args(db: &TestDb) -> Vec<String> {
    match db.dir() {
        Some(dir) => vec!["--data-dir".into(), dir.join("data").display().to_string()],
        None => vec!["--database-url".into(), db.url().to_owned()],
    }
}

/// A CSV the report wrote: header keys and rows, after checking the byte-order mark.
fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "{}: UTF-8 with a byte-order mark", path.display());
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let keys: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    reader.records().map(|r| keys.iter().cloned().zip(r.unwrap().iter().map(str::to_owned)).collect()).collect()
}

/// The report's file ending in `suffix`, from the paths it printed.
fn file(printed: &str, suffix: &str) -> PathBuf {
    printed
        .lines()
        .find(|l| l.ends_with(suffix))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no {suffix} in {printed}"))
}

/// A CSV cell against a JSON figure: the same number (or both absent).
fn same(cell: &str, figure: &Value, what: &str) {
    match figure {
        Value::Null => assert_eq!(cell, "", "{what}: no data"),
        Value::Number(n) => {
            let parsed: f64 = cell.parse().unwrap_or_else(|_| panic!("{what}: {cell:?} is not a number"));
            assert_eq!(parsed, n.as_f64().unwrap(), "{what}");
        }
        Value::String(s) => assert_eq!(cell, s, "{what}"),
        other => panic!("{what}: unexpected {other}"),
    }
}

#[tokio::test]
async fn every_figure_of_the_shift_and_yield_reports_is_the_one_kpi_gives() {
    for db in TestDb::all().await {
        let store = store_args(&db);
        ok(&args(&["demo", "--history", "--seed", "5", "--phones", "60", "--tablets", "20"], &store));
        // A period that has ended (the history runs up to now): no figure depends on the clock.
        let from = (Utc::now() - chrono::Duration::days(2)).to_rfc3339();
        let to = (Utc::now() - chrono::Duration::minutes(30)).to_rfc3339();
        let out = tempfile::tempdir().unwrap();
        let out_dir = out.path().display().to_string();
        let printed = ok(&args(
            &[
                "report",
                "shift",
                "--line",
                "phone-1",
                "--from",
                &from,
                "--to",
                &to,
                "--format",
                "html,csv,png",
                "--out",
                &out_dir,
                "--lang",
                "vi",
            ],
            &store,
        ));
        let kpi = |kind: &str, by: Option<&str>| -> Value {
            let mut words = vec!["kpi", kind, "--line", "phone-1", "--from", &from, "--to", &to, "--json"];
            if let Some(by) = by {
                words.extend(["--by", by]);
            }
            serde_json::from_str(&ok(&args(&words, &store))).unwrap()
        };
        let (yields, oee, pareto, downtime) =
            (kpi("yield", None), kpi("oee", None), kpi("pareto", None), kpi("downtime", None));
        let label = db.label();

        let stations = read_csv(&file(&printed, ".stations.csv"));
        let json_stations = yields["stations"].as_array().unwrap();
        assert_eq!(stations.len(), json_stations.len(), "{label}");
        assert!(
            json_stations.iter().any(|s| s["first_visits"].as_u64().unwrap() > 0),
            "{label}: the period has production"
        );
        for (row, s) in stations.iter().zip(json_stations) {
            assert_eq!(row["station"], s["station"].as_str().unwrap());
            for key in ["first_visits", "first_pass", "fpy", "units", "final_pass", "final_yield", "visits", "defects"]
            {
                same(&row[key], &s[key], &format!("{label} {} {key}", row["station"]));
            }
            let retest = yields["retest"].as_array().unwrap().iter().find(|r| r["station"] == s["station"]).unwrap();
            for key in ["first_fail", "retest_pass", "retest_yield"] {
                same(&row[key], &retest[key], &format!("{label} {} {key}", row["station"]));
            }
        }
        assert!(
            yields["retest"].as_array().unwrap().iter().any(|r| r["retest_pass"].as_u64().unwrap() > 0),
            "{label}: some first failures were recovered by a retest"
        );
        let line = &read_csv(&file(&printed, ".line_yield.csv"))[0];
        same(&line["rty"], &yields["rty"], "rty");
        for key in ["units", "scrapped", "scrap_rate", "defects", "opportunities", "dpmo"] {
            same(&line[key], &yields["line_yield"][key], &format!("{label} line {key}"));
        }
        let oee_rows = read_csv(&file(&printed, ".oee.csv"));
        let json_oee: Vec<&Value> = oee["stations"].as_array().unwrap().iter().chain([&oee["line_oee"]]).collect();
        assert_eq!(oee_rows.len(), json_oee.len());
        for (row, f) in oee_rows.iter().zip(json_oee) {
            for key in ["availability", "effectiveness", "quality", "oee"] {
                same(&row[key], &f[key], &format!("{label} {} {key}", row["station"]));
            }
            for key in ["pbt_ms", "apt_ms", "adot_ms", "adet_ms", "unrecorded_ms"] {
                same(&row[key], &f["time"][key], &format!("{label} {} {key}", row["station"]));
            }
            for key in ["pq", "gq", "rq", "sq"] {
                same(&row[key], &f["quantities"][key], &format!("{label} {} {key}", row["station"]));
            }
        }
        let defects = read_csv(&file(&printed, ".defects.csv"));
        let json_defects = pareto["defects"].as_array().unwrap();
        assert_eq!(defects.len(), json_defects.len(), "{label}");
        assert!(!defects.is_empty(), "{label}: the history has defects");
        for (row, d) in defects.iter().zip(json_defects) {
            for key in ["code", "count", "share", "cumulative"] {
                same(&row[key], &d[key], &format!("{label} defect {key}"));
            }
        }
        let reasons = read_csv(&file(&printed, ".downtime.csv"));
        let json_reasons: Vec<(String, Value)> = downtime["stations"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["by_reason"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| (s["station"].as_str().unwrap().to_owned(), r.clone()))
            })
            .collect();
        assert_eq!(reasons.len(), json_reasons.len(), "{label}");
        // The report is in Vietnamese: each recorded reason in the plant's Vietnamese text.
        let vi: BTreeMap<String, String> =
            plant_model().fault_reasons.into_iter().map(|r| (r.reason, r.name_vi)).collect();
        for (row, (station, r)) in reasons.iter().zip(&json_reasons) {
            assert_eq!(&row["station"], station);
            let recorded = r[0].as_str().unwrap();
            let translated = vi.get(recorded).unwrap_or_else(|| panic!("{recorded:?} has a Vietnamese text"));
            assert_eq!(&row["reason"], translated, "reason");
            same(&row["stops"], &r[1], "stops");
            same(&row["seconds"], &r[2], "seconds");
        }
        // Output per hour: the last step's final passes of each hour, as `--by hour` gives them.
        let hours = kpi("yield", Some("hour"));
        let hourly = read_csv(&file(&printed, ".hourly.csv"));
        let by_hour: BTreeMap<String, u64> = hours["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["from"].as_str().unwrap().to_owned(),
                    b["stations"].as_array().unwrap().last().unwrap()["final_pass"].as_u64().unwrap(),
                )
            })
            .collect();
        assert!(hourly.iter().any(|h| h["output"] != "0"), "{label}: output in some hour");
        for h in &hourly {
            let from: chrono::DateTime<Utc> = h["from"].parse().unwrap();
            let key = by_hour.keys().find(|k| k.parse::<chrono::DateTime<Utc>>().unwrap() == from);
            let want = key.map_or(0, |k| by_hour[k]);
            assert_eq!(h["output"].parse::<u64>().unwrap(), want, "{label}: hour {}", h["hour"]);
        }
        let counters = read_csv(&file(&printed, ".counters.csv"));
        for (row, c) in counters.iter().zip(yields["counters"].as_array().unwrap()) {
            for key in ["records", "counted_in", "difference"] {
                same(&row[key], &c[key], &format!("{label} counters {key}"));
            }
        }

        // The HTML is in Vietnamese, its charts well-formed SVG; the PNGs decode.
        let html = std::fs::read_to_string(file(&printed, ".html")).unwrap();
        assert!(html.contains("Báo cáo ca") && html.contains("Sản lượng theo giờ so với kế hoạch"), "{label}");
        let svgs: Vec<&str> = html.split("<svg ").skip(1).map(|s| &s[..s.find("</svg>").unwrap() + 6]).collect();
        assert!(svgs.len() >= 3, "{label}: hourly, timeline, defects: {}", svgs.len());
        for svg in svgs {
            roxmltree::Document::parse(&format!("<svg {svg}"))
                .unwrap_or_else(|e| panic!("{label}: SVG not well-formed: {e}"));
        }
        for png in printed.lines().filter(|l| l.ends_with(".png")) {
            image::open(png).unwrap_or_else(|e| panic!("{png}: {e}"));
        }

        // The yield report's trend per shift is `mes kpi yield --by shift`, slice by slice.
        let printed = ok(&args(
            &[
                "report", "yield", "--line", "phone-1", "--from", &from, "--to", &to, "--by", "shift", "--format",
                "csv", "--out", &out_dir,
            ],
            &store,
        ));
        let by_shift = kpi("yield", Some("shift"));
        let trend = read_csv(&file(&printed, ".trend.csv"));
        let buckets = by_shift["buckets"].as_array().unwrap();
        assert_eq!(trend.len(), buckets.len(), "{label}");
        for (row, b) in trend.iter().zip(buckets) {
            same(&row["label"], &b["label"], "label");
            same(&row["rty"], &b["rty"], &format!("{label} {} rty", row["label"]));
            same(&row["units"], &b["line_yield"]["units"], "units");
            same(&row["dpmo"], &b["line_yield"]["dpmo"], "dpmo");
        }
        let stations = read_csv(&file(&printed, ".stations.csv"));
        for (row, s) in stations.iter().zip(yields["stations"].as_array().unwrap()) {
            same(&row["fpy"], &s["fpy"], "yield report fpy");
        }
    }
}

#[tokio::test]
async fn a_trace_certificate_lists_what_the_trace_has_and_an_audit_report_shows_a_correction() {
    let db = TestDb::sqlite();
    let store = store_args(&db);
    ok(&args(&["demo", "--history", "--seed", "3", "--phones", "20", "--tablets", "0"], &store));
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().display().to_string();
    let trace: Value = serde_json::from_str(&ok(&args(&["trace", "PH1-0000002", "--json"], &store))).unwrap();
    ok(&args(&["hold", "--serial", "PH1-0000002", "--reason", "cosmetic check"], &store));
    let printed = ok(&args(&["report", "trace", "--serial", "PH1-0000002", "--out", &out_dir], &store));
    let visits = read_csv(&file(&printed, ".visits.csv"));
    let want: usize = trace["units"].as_object().unwrap().values().map(|u| u["visits"].as_array().unwrap().len()).sum();
    assert_eq!(visits.len(), want, "every visit of the phone and of its PCBA");
    assert!(visits.iter().any(|v| v["serial"].starts_with("PCB-")), "its board's SMT visits");
    let components = read_csv(&file(&printed, ".components.csv"));
    let mut items = Vec::new();
    fn walk(node: &Value, out: &mut Vec<String>) {
        for c in node["children"].as_array().unwrap() {
            out.push(c["item"]["id"].as_str().unwrap().to_owned());
            walk(c, out);
        }
    }
    walk(&trace["tree"], &mut items);
    assert_eq!(components.iter().map(|c| c["item"].clone()).collect::<Vec<_>>(), items);
    let holds = read_csv(&file(&printed, ".holds.csv"));
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0]["reason"], "cosmetic check");
    let html = std::fs::read_to_string(file(&printed, ".html")).unwrap();
    assert!(html.contains("does not conform") && html.contains("unit PH1-0000002"), "a held unit does not conform");
    assert!(html.contains("Not closed into the audit ledger yet."));

    // Close, correct, then the audit report: raw, corrected and the difference.
    ok(&args(&["audit", "close"], &store));
    let entries: Value = serde_json::from_str(&ok(&args(&["audit", "verify", "--json"], &store))).unwrap();
    assert_eq!(entries["clean"], true, "{entries}");
    // The whole history, whatever the time of day: the default period (today in plant time) may
    // hold no closed shift yet, and the phones of an 8-hour history may all fall in the shift
    // still running; the SMT line records from the history's start, so the shift boundary inside
    // the 8 hours always closes one of its periods.
    let (from, to) = ((Utc::now() - chrono::Duration::days(3)).to_rfc3339(), Utc::now().to_rfc3339());
    let period = ["--from", from.as_str(), "--to", to.as_str()];
    let listed = ok(&args(
        &[&["report", "audit", "--line", "smt-1", "--format", "csv", "--out", &out_dir][..], &period[..]].concat(),
        &store,
    ));
    let figures = read_csv(&file(&listed, ".figures.csv"));
    let first =
        figures.iter().find(|f| f["figure"] == "units_out" && f["raw"] != "0").expect("a period with output").clone();
    let raw: i64 = first["raw"].parse().unwrap();
    ok(&args(
        &[
            "audit",
            "correct",
            "--entry",
            &first["entry"],
            "--set",
            &format!("/output/units_out={}", raw - 3),
            "--reason",
            "recount",
            "--by",
            "qe",
        ],
        &store,
    ));
    let printed =
        ok(&args(&[&["report", "audit", "--line", "smt-1", "--out", &out_dir][..], &period[..]].concat(), &store));
    let figures = read_csv(&file(&printed, ".figures.csv"));
    let row = figures.iter().find(|f| f["figure"] == "units_out" && f["entry"] == first["entry"]).unwrap();
    assert_eq!(
        (row["raw"].as_str(), row["corrected"].parse::<i64>().unwrap(), row["difference"].as_str()),
        (first["raw"].as_str(), raw - 3, "-3")
    );
    let html = std::fs::read_to_string(file(&printed, ".html")).unwrap();
    let key = ok(&args(&["audit", "key"], &store));
    let fingerprint = key.split_whitespace().find(|w| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit()));
    if let Some(fp) = fingerprint {
        assert!(html.contains(fp), "the key's fingerprint is printed: {key}");
    }
    assert!(html.contains("mes audit verify --bundle ledger-bundle.json --key "), "the offline verify command");

    // Once the shift the phone was packed in is closed, the certificate carries the ledger entry
    // with its inclusion proof; while that shift still runs, it says it is not closed. Which of
    // the two depends on the time of day the history ends at: a shift boundary may fall between
    // the first phones and this one, so the period asked for is the instant it was packed.
    let visits = trace["units"]["PH1-0000002"]["visits"].as_array().unwrap();
    let packed: chrono::DateTime<Utc> = visits.last().unwrap()["record"]["ended_at"].as_str().unwrap().parse().unwrap();
    let (packed_from, packed_to) = (packed.to_rfc3339(), (packed + chrono::Duration::milliseconds(1)).to_rfc3339());
    let phone_closed = mes(&args(
        &[
            "report",
            "audit",
            "--line",
            "phone-1",
            "--format",
            "csv",
            "--out",
            &out_dir,
            "--from",
            &packed_from,
            "--to",
            &packed_to,
        ],
        &store,
    ));
    let printed =
        ok(&args(&["report", "trace", "--serial", "PH1-0000002", "--format", "html", "--out", &out_dir], &store));
    let html = std::fs::read_to_string(file(&printed, ".html")).unwrap();
    if phone_closed.status.success() {
        assert!(html.contains("Inclusion proof") && !html.contains("Not closed into the audit ledger yet."), "{html}");
    } else {
        assert!(String::from_utf8_lossy(&phone_closed.stderr).contains("no closed period"));
        assert!(html.contains("Not closed into the audit ledger yet.") && !html.contains("Inclusion proof"), "{html}");
    }

    let bad = mes(&args(&["report", "trace", "--serial", "NOPE-1", "--out", &out_dir], &store));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no unit NOPE-1"));
    let bad = mes(&args(&["report", "shift", "--line", "phone-9", "--out", &out_dir], &store));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("line: no line \"phone-9\""),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let bad =
        mes(&args(&["report", "shift", "--line", "phone-1", "--shift", "2026-12-04 Z", "--out", &out_dir], &store));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no shift \"2026-12-04 Z\" in the calendar"));
}

#[tokio::test]
async fn an_edited_template_takes_effect_without_a_rebuild_and_a_broken_one_names_file_and_line() {
    let db = TestDb::sqlite();
    let store = store_args(&db);
    ok(&args(&["demo", "--history", "--seed", "2", "--phones", "10", "--tablets", "0"], &store));
    let out = tempfile::tempdir().unwrap();
    let templates = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports").join("shift.html");
    let text = std::fs::read_to_string(&shipped).unwrap();
    let edited = text.replace(
        "{% block body %}",
        "{% block body %}<p id=\"plant-note\">Nhà máy Thanh Hóa — {{ report.line.code }}</p>",
    );
    std::fs::write(templates.path().join("shift.html"), edited).unwrap();
    let from = (Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let common = |t: &Path| -> Vec<String> {
        args(
            &[
                "report",
                "shift",
                "--line",
                "phone-1",
                "--from",
                &from,
                "--format",
                "html",
                "--out",
                &out.path().display().to_string(),
                "--templates",
                &t.display().to_string(),
            ],
            &store,
        )
    };
    let printed = ok(&common(templates.path()));
    let html = std::fs::read_to_string(file(&printed, ".html")).unwrap();
    assert!(html.contains("<p id=\"plant-note\">Nhà máy Thanh Hóa — phone-1</p>"), "the edit shows");
    assert!(html.contains("@page"), "the rest comes from the built-in base");

    std::fs::write(
        templates.path().join("shift.html"),
        "{% extends \"base.html\" %}\n{% block body %}\n<p>{{ report.line.code }</p>\n{% endblock %}\n",
    )
    .unwrap();
    let broken = mes(&common(templates.path()));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(!broken.status.success());
    assert!(stderr.contains(&format!("{}:3: syntax error", templates.path().join("shift.html").display())), "{stderr}");
}

#[tokio::test]
async fn a_shift_report_prints_on_a4_in_chromium_with_headers_and_vietnamese_intact() {
    let Some(binary) = chromium() else {
        assert!(std::env::var_os("CI").is_none(), "CI is set but chromium is not installed: the print test cannot run");
        eprintln!("\n*** report print test SKIPPED: chromium is not installed ***\n");
        return;
    };
    let db = TestDb::sqlite();
    let store = store_args(&db);
    ok(&args(&["demo", "--history", "--seed", "4", "--phones", "80", "--tablets", "0"], &store));
    let out = tempfile::tempdir().unwrap();
    let printed = ok(&args(
        &[
            "report",
            "shift",
            "--line",
            "phone-1",
            "--from",
            &(Utc::now() - chrono::Duration::hours(12)).to_rfc3339(),
            "--format",
            "html",
            "--out",
            &out.path().display().to_string(),
            "--lang",
            "vi",
        ],
        &store,
    ));
    let html = file(&printed, ".html");
    let mut b = Browser::launch(&binary);
    b.call("Page.enable", json!({}));
    b.call("Page.navigate", json!({ "url": format!("file://{}", html.display()) }));
    b.wait_for(
        "document.readyState === 'complete' && document.querySelector('svg.chart') !== null",
        "document.readyState",
    );
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 794, "height": 1123, "deviceScaleFactor": 1, "mobile": false }),
    );
    b.screenshot_of("report-shift-vi.png", true);
    assert_eq!(b.eval("document.documentElement.lang"), "vi");
    // No table is wider than the A4 text area (190 mm ≈ 718 px at 96 dpi).
    let widest = b.eval(
        "Math.max(...Array.from(document.querySelectorAll('table, svg')).map(t => t.getBoundingClientRect().width))",
    );
    assert!(widest.as_f64().unwrap() <= 720.0, "widest block {widest} px");
    let pdf = b.call("Page.printToPDF", json!({ "preferCSSPageSize": true, "printBackground": true }));
    let bytes = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode(pdf["data"].as_str().unwrap()).unwrap()
    };
    let path = out.path().join("shift.pdf");
    std::fs::write(&path, &bytes).unwrap();
    let info = Command::new("pdfinfo").arg(&path).output().expect("pdfinfo (poppler-utils) is installed");
    let info = String::from_utf8_lossy(&info.stdout).to_string();
    let pages: u32 = info.lines().find_map(|l| l.strip_prefix("Pages:")).unwrap().trim().parse().unwrap();
    assert!((2..=12).contains(&pages), "{pages} pages: {info}");
    assert!(info.contains("(A4)"), "A4: {info}");
    let text = Command::new("pdftotext").args(["-layout"]).arg(&path).arg("-").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(text.contains("Báo cáo ca") && text.contains("Hiệu suất theo trạm"), "Vietnamese intact: {text}");
    let footers = text.matches(&format!("Trang {pages} / {pages}")).count();
    assert_eq!(footers, 1, "page numbers on every page, the last once: {text}");
    assert!(text.matches("Trang 1 / ").count() == 1);
    assert!(text.matches("Lắp ráp điện thoại 1 (phone-1)").count() as u32 >= pages, "the line on every page");
}

#[tokio::test]
async fn the_server_writes_each_ended_shifts_report_and_each_closed_periods_audit_report_once() {
    use mes::reports::auto::AutoReports;
    let db = TestDb::sqlite();
    let store_flags = store_args(&db);
    let data = db.dir().unwrap().join("data");
    // Started 30 hours ago, every shift of the history has ended, whatever the time of day.
    let start = (Utc::now() - chrono::Duration::hours(30)).to_rfc3339();
    ok(&args(
        &["demo", "--history", "--seed", "6", "--phones", "30", "--tablets", "10", "--start", &start],
        &store_flags,
    ));
    ok(&args(&["audit", "close"], &store_flags));
    let store = mes::store::Store::open(&mes::store::sqlite_url(&data.join("mes.sqlite"))).await.unwrap();
    let config = mes::config::Config { data_dir: data.clone(), ..Default::default() };
    let mut reporter = AutoReports::new(config.clone(), mes::reports::Templates::default());
    let now = Utc::now();
    let written = reporter.round(&store, now).await.unwrap();
    let html: Vec<String> = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // Which shifts had production, per line, from the store itself.
    let calendar = &config.calendar;
    let mut want = Vec::new();
    for line in ["phone-1", "smt-1", "tablet-1"] {
        let exported = ok(&args(&["export", "station-results", "--line", line, "--format", "jsonl"], &store_flags));
        let mut shifts = std::collections::BTreeSet::new();
        for l in exported.lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            let at: chrono::DateTime<Utc> = v["produced_at"].as_str().unwrap().parse().unwrap();
            let s = calendar.locate(at).unwrap();
            if s.end <= now - config.audit.grace {
                shifts.insert(format!("shift-{line}-{}-{}.html", s.date, s.name));
            }
        }
        want.extend(shifts);
    }
    let closed: Vec<String> = html.iter().filter(|h| h.starts_with("audit-")).cloned().collect();
    let mut got: Vec<String> = html.iter().filter(|h| h.starts_with("shift-")).cloned().collect();
    got.sort();
    want.sort();
    assert!(!want.is_empty(), "the history has ended shifts");
    assert_eq!(got, want, "one report per ended shift with production");
    let entries: Value = serde_json::from_str(&ok(&args(&["audit", "verify", "--json"], &store_flags))).unwrap();
    assert!(!closed.is_empty(), "an audit report per closed period: {entries}");
    for h in &html {
        assert!(data.join("reports").join(h).is_file());
    }
    // Once each: the next round finds nothing new, and neither does a restarted reporter.
    assert!(reporter.round(&store, now).await.unwrap().is_empty());
    let mut restarted = AutoReports::new(config, mes::reports::Templates::default());
    assert!(restarted.round(&store, now).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_served_by_the_api_and_the_reports_page_with_the_same_figures() {
    use crate::api::{As, TestApi};
    let db = TestDb::sqlite();
    let flags = store_args(&db);
    let data = db.dir().unwrap().join("data");
    let start = (Utc::now() - chrono::Duration::hours(30)).to_rfc3339();
    ok(&args(&["demo", "--history", "--seed", "8", "--phones", "40", "--tablets", "0", "--start", &start], &flags));
    ok(&args(&["audit", "close"], &flags));
    let store =
        std::sync::Arc::new(mes::store::Store::open(&mes::store::sqlite_url(&data.join("mes.sqlite"))).await.unwrap());
    let config = mes::config::Config { data_dir: data.clone(), ..Default::default() };
    let written = mes::reports::auto::AutoReports::new(config, mes::reports::Templates::default())
        .round(&store, Utc::now())
        .await
        .unwrap();
    assert!(!written.is_empty());
    let api = TestApi::start_with_reports(store.clone(), None, Some(data.clone())).await;
    let quality = api.login("quality", "qualityquality").await;
    let auditor = api.login("auditor", "auditorauditor").await;

    // The written reports: audit reports only for those who may read the ledger.
    let (status, listed) = api.request("GET", "/api/v1/reports", None, As::Bearer(quality.clone())).await;
    assert_eq!(status, 200, "{listed}");
    let names = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_owned()).collect()
    };
    let seen = names(&listed);
    assert!(seen.iter().any(|n| n.starts_with("shift-") && n.ends_with(".html")), "{seen:?}");
    assert!(!seen.iter().any(|n| n.starts_with("audit-")), "{seen:?}");
    let (_, all) = api.request("GET", "/api/v1/reports", None, As::Bearer(auditor.clone())).await;
    let audit_file = names(&all).into_iter().find(|n| n.starts_with("audit-")).expect("an audit report");
    let shift_file = seen.iter().find(|n| n.ends_with(".html")).unwrap();
    let (status, body) = api.bytes(&format!("/api/v1/reports/files/{shift_file}"), &quality).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(body).unwrap().contains("@page"));
    for (path, token) in [
        (format!("/api/v1/reports/files/{audit_file}"), &quality),
        ("/api/v1/reports/files/..%2Fmes.sqlite".to_owned(), &auditor),
        ("/api/v1/reports/files/mes.sqlite".to_owned(), &auditor),
    ] {
        assert_eq!(api.bytes(&path, token).await.0, 404, "{path}");
    }

    // On demand: a table as CSV is the API's own figure.
    let from = urlencode(&(Utc::now() - chrono::Duration::days(2)).to_rfc3339());
    let to = urlencode(&(Utc::now() - chrono::Duration::minutes(10)).to_rfc3339());
    let scope = format!("line=phone-1&from={from}&to={to}");
    let (status, csv) = api.bytes(&format!("/api/v1/reports/shift?{scope}&format=csv&table=stations"), &quality).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&csv));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.csv"), &csv).unwrap();
    let rows = read_csv(&dir.path().join("s.csv"));
    let (_, kpi) = api.request("GET", &format!("/api/v1/kpi/yield?{scope}"), None, As::Bearer(quality.clone())).await;
    for (row, s) in rows.iter().zip(kpi["stations"].as_array().unwrap()) {
        for key in ["first_visits", "fpy", "final_yield", "defects"] {
            same(&row[key], &s[key], &format!("API {} {key}", row["station"]));
        }
    }
    let (status, png) = api.bytes(&format!("/api/v1/reports/shift?{scope}&format=png&chart=timeline"), &quality).await;
    assert_eq!(status, 200);
    image::load_from_memory(&png).unwrap();
    let (status, html) = api.bytes(&format!("/api/v1/reports/yield?{scope}&lang=vi"), &quality).await;
    assert_eq!(status, 200);
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("Báo cáo hiệu suất chất lượng"));
    // Defects by their catalogue names in the report's language, with the code.
    let named = [
        "Lỗi âm thanh (FT_AUDIO)",
        "Lỗi camera (FT_CAMERA)",
        "Lỗi cảm ứng (FT_TOUCH)",
        "Công suất RF thấp (RF_POWER_LOW)",
    ];
    assert!(named.iter().any(|n| html.contains(n)), "Vietnamese defect names on the Pareto: {html}");
    assert!(html.contains("Tên lỗi") && !html.contains("Audio test failed"), "the defect table names them too: {html}");
    for (path, want) in [
        ("/api/v1/reports/audit".to_owned(), 403),
        ("/api/v1/reports/shift?from=2026-01-01".to_owned(), 400),
        (format!("/api/v1/reports/shift?{scope}&format=csv"), 400),
        (format!("/api/v1/reports/shift?{scope}&format=csv&table=nope"), 404),
        ("/api/v1/reports/trace?serial=NOPE".to_owned(), 404),
        ("/api/v1/reports/weekly".to_owned(), 404),
        ("/api/v1/reports/yield?line=phone-1&from=2020-01-01&to=2026-01-01".to_owned(), 400),
    ] {
        let (status, body) = api.bytes(&path, &quality).await;
        assert_eq!(status, want, "{path}: {}", String::from_utf8_lossy(&body));
    }
    assert_eq!(api.bytes("/api/v1/reports/audit", &auditor).await.0, 200);

    // The page: pick, make, then links to the HTML, each CSV and PNG; the trace page links the
    // certificate.
    let (cookie, _) = api.cookie("supervisor").await;
    let (status, _, page) =
        api.page(&format!("/reports?kind=shift&line=phone-1&from={from}&to={to}&lang=en"), None, cookie.clone()).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("id=\"open-report\"") && page.contains("table=stations") && page.contains(&seen[0]),
        "{page}"
    );
    assert!(!page.contains("value=\"audit\""), "a supervisor is not offered the audit report");
    let (_, _, page) = api.page("/reports?kind=shift&line=phone-1&shift=2026-12-04+Z", None, cookie.clone()).await;
    assert!(page.contains("id=\"report-error\"") && page.contains("no shift"), "{page}");
    let (_, _, trace) = api.page("/trace?q=PH1-0000001", None, cookie).await;
    assert!(trace.contains("/api/v1/reports/trace?serial=PH1-0000001"), "{trace}");
    api.stop(store).await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// With the `pdf` feature: every report as PDF/A-2b rendered in process (typst), fonts
/// embedded, the Vietnamese words intact in the PDF's text, A4 pages numbered.
#[cfg(feature = "pdf")]
#[tokio::test]
async fn every_report_renders_in_process_as_pdf_a_with_vietnamese_intact() {
    let db = TestDb::sqlite();
    let store = store_args(&db);
    // Started 30 hours ago, the history's shifts have all ended and the audit report has entries.
    let start = (Utc::now() - chrono::Duration::hours(30)).to_rfc3339();
    ok(&args(&["demo", "--history", "--seed", "4", "--phones", "40", "--tablets", "0", "--start", &start], &store));
    ok(&args(&["audit", "close"], &store));
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().display().to_string();
    let from = start.clone();
    for (kind, extra, word) in [
        ("shift", vec!["--line", "phone-1", "--from", from.as_str()], "Báo cáo ca"),
        ("yield", vec!["--line", "phone-1", "--from", from.as_str()], "Báo cáo hiệu suất chất lượng"),
        ("trace", vec!["--serial", "PH1-0000001"], "Giấy chứng nhận hợp chuẩn"),
        ("audit", vec![], "Báo cáo kiểm toán sản lượng"),
    ] {
        let mut words = vec!["report", kind, "--format", "pdf", "--lang", "vi", "--out", &dir];
        words.extend(extra);
        let printed = ok(&args(&words, &store));
        let pdf = file(&printed, ".pdf");
        let bytes = std::fs::read(&pdf).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("pdfaid:part") && text.contains("pdfaid:conformance"), "{kind}: PDF/A metadata");
        let info = Command::new("pdfinfo").arg(&pdf).output().expect("pdfinfo (poppler-utils) is installed");
        let info = String::from_utf8_lossy(&info.stdout).to_string();
        assert!(info.contains("(A4)"), "{kind}: {info}");
        let fonts = Command::new("pdffonts").arg(&pdf).output().unwrap();
        let fonts = String::from_utf8_lossy(&fonts.stdout).to_string();
        // pdffonts: name, type, encoding, then emb sub uni object generation.
        let embedded = fonts.lines().skip(2).all(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            t.len() >= 5 && t[t.len() - 5] == "yes"
        });
        assert!(fonts.contains("DejaVuSans") && embedded, "{kind}: fonts embedded: {fonts}");
        let pages: u32 = info.lines().find_map(|l| l.strip_prefix("Pages:")).unwrap().trim().parse().unwrap();
        let plain = Command::new("pdftotext").arg(&pdf).arg("-").output().unwrap();
        let plain = String::from_utf8_lossy(&plain.stdout).to_string();
        assert!(plain.contains(word), "{kind}: Vietnamese intact: {plain}");
        assert!(plain.contains(&format!("Trang {pages} / {pages}")), "{kind}: numbered pages: {plain}");
    }
}

/// Without the `pdf` feature, asking for a PDF says how to get one.
#[cfg(not(feature = "pdf"))]
#[test]
fn without_the_pdf_feature_a_pdf_request_says_how_to_get_one() {
    let out = mes(&["report".into(), "trace".into(), "--serial".into(), "X".into(), "--format".into(), "pdf".into()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--features pdf"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
