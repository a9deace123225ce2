//! The service as an attacker, an integrator and a careless operator meet it: every request's
//! work and answer bounded (and stopped when the client goes away), no client-made 500s, no
//! open redirects, client mistakes answered as such.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::{As, TestApi};
use crate::harness::TestDb;
use crate::store::sample_store;

/// The requests that took the server down (SPEC issue 13, item 1), and worse.
const UNBOUNDED: &[&str] = &[
    "/api/v1/kpi/yield?line=phone-1&from=1970-01-01&to=2100-01-01&by=day",
    "/api/v1/kpi/yield?line=phone-1&from=1970-01-01&to=2100-01-01&by=shift",
    "/api/v1/kpi/oee?line=phone-1&from=0001-01-01&to=9999-12-31&by=day",
    "/api/v1/kpi/pareto?line=phone-1&from=0001-01-01&to=9999-12-31",
    "/api/v1/kpi/downtime?line=phone-1&from=2026-01-01&to=2026-12-01&by=hour",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_beyond_the_limits_is_refused_with_a_400_naming_the_limit() {
    let db = TestDb::sqlite();
    let (store, _, _) = sample_store(&db, 3, 10, 5).await;
    let api = TestApi::start(Arc::new(store)).await;
    for path in UNBOUNDED {
        let (status, body) = api.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("at most 400 days") || message.contains("at most 2500"),
            "{path}: the answer names the limit: {message}"
        );
    }
    // Within the limits it answers: a year by day, a hundred days by hour.
    for path in [
        "/api/v1/kpi/yield?line=phone-1&from=2026-01-01&to=2026-12-31&by=day",
        "/api/v1/kpi/yield?line=phone-1&from=2026-09-01&to=2026-12-01&by=hour",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}

#[test]
fn the_cli_refuses_the_same_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let ok = Command::new(env!("CARGO_BIN_EXE_mes"))
        .args(["demo", "--history", "--phones", "5", "--tablets", "2", "--data-dir", data])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_mes"))
        .args(["kpi", "yield", "--line", "phone-1", "--from", "1970-01-01", "--to", "2100-01-01", "--by", "day"])
        .args(["--json", "--data-dir", data])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused");
    assert!(stderr.contains("at most 400 days"), "{stderr}");
}

/// The value of a counter with all of `labels` on `/metrics` (0 when absent).
fn counter(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn get_text(url: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    agent.get(url).call().unwrap().body_mut().read_to_string().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_client_goes_away_is_abandoned_and_its_work_stopped() {
    let db = TestDb::sqlite();
    let (store, _, _) = sample_store(&db, 3, 40, 20).await;
    let api = TestApi::start(Arc::new(store)).await;
    let route = "route=\"/api/v1/kpi/yield\"";
    let metrics = format!("{}/metrics", api.base);
    let before = {
        let m = metrics.clone();
        tokio::task::spawn_blocking(move || counter(&get_text(&m), "mes_http_requests_abandoned_total", &[route]))
            .await
            .unwrap()
    };
    let addr = api.base.trim_start_matches("http://").to_owned();
    let token = api.token.clone();
    // A client sends a costly request and hangs up at once. The server must drop it: the
    // count of abandoned requests on that route rises. (Retried: on a fast machine the answer
    // can beat the hang-up.)
    let abandoned = tokio::task::spawn_blocking(move || {
        for _ in 0..20 {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            write!(
                s,
                "GET /api/v1/kpi/yield?line=phone-1&from=2026-09-01&to=2026-12-01&by=hour HTTP/1.1\r\n\
                 Host: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                let now = counter(&get_text(&metrics), "mes_http_requests_abandoned_total", &[route]);
                if now > before {
                    return Some((now, answer.len()));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        None
    })
    .await
    .unwrap();
    let (now, answered_bytes) = abandoned.expect("a request whose client hung up is counted as abandoned");
    assert!(now > before);
    assert_eq!(answered_bytes, 0, "nothing is written to a client that went away");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_switch_redirects_only_to_local_paths_and_never_fails() {
    let db = TestDb::sqlite();
    let api = TestApi::start(Arc::new(db.store().await)).await;
    for (next, to) in [
        ("/%00", "/"),
        ("/%0d%0a", "/"),
        ("/%0d%0aSet-Cookie:%20x=1", "/"),
        ("/%7f", "/"),
        ("/\\evil.example/", "/"),
        ("/%5Cevil.example/", "/"),
        ("/%09/evil.example/", "/"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/%E2%80%AE", "/"),
        ("/lines/phone-1", "/lines/phone-1"),
        ("/trace%3Fq%3DPH1-0000001", "/trace?q=PH1-0000001"),
    ] {
        let (status, location, _) = api.page(&format!("/lang/vi?next={next}"), None, As::Anonymous).await;
        assert_eq!((status, location.as_str()), (303, to), "next={next}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_on_an_unknown_unit_is_a_404_and_one_on_an_unseen_lot_says_so() {
    for db in TestDb::all().await {
        let (store, plant, _) = sample_store(&db, 3, 10, 5).await;
        let store = Arc::new(store);
        let api = TestApi::start(store.clone()).await;
        let who = As::Bearer(api.token.clone());
        let (status, body) =
            api.post("/api/v1/holds", &json!({"serial": "NO-SUCH-UNIT", "reason": "typo"}), who.clone()).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("unit_not_found")), "{}: {body}", db.label());
        assert!(body["message"].as_str().unwrap().contains("NO-SUCH-UNIT"), "names the serial: {body}");

        let (status, body) =
            api.post("/api/v1/holds", &json!({"lot": "LOT-NEVER-SEEN", "reason": "incoming"}), who.clone()).await;
        assert_eq!(status, 201, "{}: {body}", db.label());
        assert_eq!((body["placed"].as_bool(), body["seen"].as_bool()), (Some(true), Some(false)), "{body}");
        assert!(body["warning"].as_str().unwrap().contains("LOT-NEVER-SEEN"), "{body}");

        let reel = plant.truth.reel_boards.keys().next().unwrap().clone();
        let (status, body) = api.post("/api/v1/holds", &json!({"lot": reel, "reason": "suspect"}), who.clone()).await;
        assert_eq!(status, 201, "{}: {body}", db.label());
        assert_eq!((body["seen"].as_bool(), &body["warning"]), (Some(true), &Value::Null), "{body}");
        let (status, body) = api.post("/api/v1/holds", &json!({"lot": reel, "reason": "again"}), who).await;
        assert_eq!((status, body["placed"].as_bool()), (200, Some(false)), "already held: {body}");

        // The page says it too.
        let (cookie, csrf) = api.cookie("quality").await;
        let form = [("csrf", csrf.as_str()), ("action", "place"), ("kind", "lot"), ("id", "LOT-TYPO"), ("reason", "x")];
        let (status, location, _) = api.page("/holds", Some(&form), cookie.clone()).await;
        assert_eq!((status, location.as_str()), (303, "/holds?done=placed-unseen"));
        let (_, _, page) = api.page(&location, None, cookie).await;
        assert!(page.contains("No line has ever recorded this lot"), "the page warns");
        db.cleanup(api.stop(store).await).await;
    }
}

/// Peak resident memory of a process, in KiB (`VmHWM` of /proc/PID/status).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
fn resident_memory_stays_bounded_under_the_requests_that_took_the_server_down() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let mes = || Command::new(env!("CARGO_BIN_EXE_mes"));
    let loaded = mes().args(["demo", "--history", "--phones", "200", "--tablets", "100", "--data-dir", data]).output();
    assert!(loaded.unwrap().status.success());
    let added = mes()
        .args(["user", "add", "audit", "--role", "auditor", "--password-env", "PW", "--data-dir", data])
        .env("PW", "audit-password")
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let mut cmd = mes();
    cmd.args(["serve", "--web-only", "--listen", "127.0.0.1:0", "--data-dir", data]).stderr(Stdio::null());
    let (server, base) = crate::harness::Child::serving(cmd);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut login = agent
        .post(&format!("{base}/api/v1/auth/login"))
        .header("Content-Type", "application/json")
        .send(json!({"username": "audit", "password": "audit-password"}).to_string().as_str())
        .unwrap();
    let token: Value = serde_json::from_str(&login.body_mut().read_to_string().unwrap()).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let baseline = peak_rss_kib(server.0.id());

    // Every refused request of the issue, four clients at once, three rounds; then the largest
    // requests the limits allow.
    let allowed = [
        "/api/v1/kpi/yield?line=phone-1&from=2026-01-01&to=2027-01-01&by=shift",
        "/api/v1/kpi/oee?line=phone-1&from=2026-09-01&to=2026-12-09&by=hour",
        "/api/v1/kpi/yield?line=smt-1&from=2026-09-01&to=2026-12-09&by=hour",
    ];
    std::thread::scope(|s| {
        for _client in 0..4 {
            let (agent, base, token) = (agent.clone(), base.clone(), token.clone());
            s.spawn(move || {
                for _round in 0..3 {
                    for path in UNBOUNDED.iter().chain(allowed.iter()) {
                        let mut answer = agent
                            .get(&format!("{base}{path}"))
                            .header("Authorization", &format!("Bearer {token}"))
                            .call()
                            .unwrap();
                        let status = answer.status().as_u16();
                        let _ = answer.body_mut().with_config().limit(64 * 1024 * 1024).read_to_vec();
                        assert!(matches!(status, 200 | 400 | 413 | 503), "{path}: {status}");
                    }
                }
            });
        }
    });
    let peak = peak_rss_kib(server.0.id());
    eprintln!("resident memory: {} MiB after start, peak {} MiB", baseline / 1024, peak / 1024);
    assert!(peak < 400 * 1024, "peak resident memory {} MiB (started at {} MiB)", peak / 1024, baseline / 1024);
}

/// The status of a request with `Authorization: {scheme} {token}` (body ignored).
async fn status_with(url: String, method: &'static str, authorization: String) -> u16 {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let answer = match method {
            "POST" => agent.post(&url).header("Authorization", &authorization).send_empty(),
            _ => agent.get(&url).header("Authorization", &authorization).call(),
        };
        answer.unwrap().status().as_u16()
    })
    .await
    .unwrap()
}

/// Waits (bounded) until `url` answers `want` to `token`; the last status seen otherwise.
async fn until_status(url: &str, token: &str, want: u16) -> Result<(), u16> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = status_with(url.to_owned(), "GET", format!("Bearer {token}")).await;
        if got == want {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(got);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_changing_a_password_or_disabling_a_user_ends_sessions_in_every_web_process() {
    for db in TestDb::all().await {
        let store = Arc::new(db.store().await);
        let a = TestApi::start(store.clone()).await;
        // A second web process on the same store and key.
        let b = TestApi::start(store.clone()).await;
        let lines = |api: &TestApi| format!("{}/api/v1/lines", api.base);

        // Logout ends that session only, at once here and soon in the other process.
        let (t1, t2) = (a.login("auditor", "auditorauditor").await, a.login("auditor", "auditorauditor").await);
        assert_eq!(until_status(&lines(&b), &t1, 200).await, Ok(()), "{}", db.label());
        let logout = status_with(format!("{}/api/v1/auth/logout", a.base), "POST", format!("Bearer {t1}")).await;
        assert_eq!(logout, 204, "{}", db.label());
        assert_eq!(status_with(lines(&a), "GET", format!("Bearer {t1}")).await, 401, "ended at once where it ended");
        assert_eq!(until_status(&lines(&b), &t1, 401).await, Ok(()), "{}: ended in the other process", db.label());
        assert_eq!(status_with(lines(&b), "GET", format!("Bearer {t2}")).await, 200, "the other session stands");

        // The scheme is case-insensitive.
        for scheme in ["bearer", "BEARER", "Bearer"] {
            assert_eq!(status_with(lines(&a), "GET", format!("{scheme} {t2}")).await, 200, "{scheme}");
        }
        assert_eq!(status_with(lines(&a), "GET", format!("Basic {t2}")).await, 401, "another scheme");

        // A page session ends with the page's logout: the old cookie leads to the login page.
        let (cookie, csrf) = a.cookie("supervisor").await;
        assert_eq!(a.page("/", None, cookie.clone()).await.0, 200);
        let (status, location, _) = a.page("/logout", Some(&[("csrf", csrf.as_str())]), cookie.clone()).await;
        assert_eq!((status, location.as_str()), (303, "/login"));
        let (status, location, _) = a.page("/", None, cookie).await;
        assert_eq!((status, location.as_str()), (303, "/login"), "{}: the old cookie no longer works", db.label());

        // Disabling a user (`mes user disable`) ends every session it has, in every process.
        store.set_user_disabled("auditor", true, chrono::Utc::now()).await.unwrap();
        assert_eq!(until_status(&lines(&a), &t2, 401).await, Ok(()), "{}", db.label());
        assert_eq!(until_status(&lines(&b), &t2, 401).await, Ok(()), "{}", db.label());
        store.set_user_disabled("auditor", false, chrono::Utc::now()).await.unwrap();
        assert_eq!(status_with(lines(&a), "GET", format!("Bearer {t2}")).await, 401, "enabling does not revive it");

        // A password change ends every session of the user and hands out a new one.
        let old = a.login("supervisor", "supervisorsupervisor").await;
        let (status, body) = a
            .post(
                "/api/v1/auth/password",
                &json!({"current_password": "wrong-password", "new_password": "n3w-password"}),
                As::Bearer(old.clone()),
            )
            .await;
        assert_eq!(status, 401, "{}: the current password must be given: {body}", db.label());
        let (status, body) = a
            .post(
                "/api/v1/auth/password",
                &json!({"current_password": "supervisorsupervisor", "new_password": "n3w-password"}),
                As::Bearer(old.clone()),
            )
            .await;
        assert_eq!(status, 200, "{}: {body}", db.label());
        let new = body["token"].as_str().unwrap().to_owned();
        assert_eq!(status_with(lines(&a), "GET", format!("Bearer {old}")).await, 401, "the old session ended");
        assert_eq!(until_status(&lines(&b), &old, 401).await, Ok(()), "{}", db.label());
        assert_eq!(status_with(lines(&b), "GET", format!("Bearer {new}")).await, 200, "the new one works");
        let (status, _) = a
            .post("/api/v1/auth/login", &json!({"username": "supervisor", "password": "n3w-password"}), As::Anonymous)
            .await;
        assert_eq!(status, 200, "{}: the new password logs in", db.label());
        drop(b);
        db.cleanup(a.stop(store).await).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_or_api_route_answers_a_client_mistake_with_a_server_error() {
    let db = TestDb::sqlite();
    let (store, _, _) = sample_store(&db, 3, 5, 2).await;
    let api = TestApi::start(Arc::new(store)).await;
    let (cookie, _) = api.cookie("admin").await;
    let long = "a".repeat(10_000);
    let odd = ["%00", "%ff", "%0d%0a", "%7f", "..%2f..%2f", "%E2%80%AE", "-1", "9999-99-99", "%25", "%", "%zz", &long];
    let templates = [
        "/?x={}",
        "/lines/{}",
        "/trace?q={}",
        "/holds?done={}",
        "/kpi?line={}&from={}&to={}&by={}",
        "/kpi?line=phone-1&from={}",
        "/lang/{}?next={}",
        "/api/v1/lines/{}",
        "/api/v1/lines/{}/detail",
        "/api/v1/units/{}",
        "/api/v1/trace/backward/{}",
        "/api/v1/trace/forward?lot={}",
        "/api/v1/kpi/yield?line={}&station={}&from={}&to={}&by={}",
        "/api/v1/kpi/oee?line=phone-1&from={}",
        "/api/v1/holds?limit={}",
    ];
    for template in templates {
        for value in odd {
            let path = template.replace("{}", value);
            let (status, _, _) = api.page(&path, None, cookie.clone()).await;
            assert!(status < 500, "{path}: {status}");
        }
    }
}

#[test]
fn a_second_demo_in_the_same_folder_continues_the_plant_and_counts_only_what_it_stored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let truth = dir.path().join("truth.jsonl");
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_mes"))
            .args(["demo", "--minutes", "3", "--speed", "60", "--port", "0", "--every", "1"])
            .arg("--data-dir")
            .arg(&data)
            .arg("--ground-truth")
            .arg(&truth)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        // The terminal keeps the summary: details (connects, validations) go to the data folder.
        assert!(!stderr.contains(" INFO "), "no INFO lines on the terminal: {stderr}");
        assert!(stderr.contains("mes-demo.log"), "the terminal names the log: {stderr}");
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run();
    let log = std::fs::read_to_string(data.join("mes-demo.log")).expect("the demo's log in the data folder");
    assert!(log.contains(" INFO ") && log.contains("connected"), "{log}");
    assert!(!first.contains("continuing the plant"), "{first}");
    let second = run();
    assert!(second.contains("continuing the plant recorded there"), "{second}");
    assert!(!second.contains("offered again"), "a new run offers nothing already stored: {second}");
    // The last summary of each run counts what that run committed; together they are the export.
    let counted = |out: &str| -> u64 {
        out.lines()
            .filter(|l| l.contains("drained"))
            .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "records").nth(1)?.parse::<u64>().ok())
            .sum()
    };
    let (a, b) = (counted(&first), counted(&second));
    assert!(a > 20 && b > 20, "each run stores records of its own: {a}, {b}\n{second}");
    let export = Command::new(env!("CARGO_BIN_EXE_mes"))
        .args(["export", "station-results", "--format", "jsonl", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let exported: Vec<plc_contract::StationResultLine> =
        String::from_utf8(export.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(exported.len() as u64, a + b, "every record of both runs is stored once");
    let produced: Vec<plc_contract::StationResultLine> =
        std::fs::read_to_string(&truth).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let key = |l: &plc_contract::StationResultLine| (l.line.clone(), l.station.clone(), l.seq, l.serial.clone());
    let mut want: Vec<_> = produced.iter().map(key).collect();
    let mut got: Vec<_> = exported.iter().map(key).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "the export is both runs' ground truth");
    // The second run's units are new units: no serial of the first run visits a station again.
    let visits: std::collections::BTreeSet<_> =
        exported.iter().map(|l| (l.line.clone(), l.station.clone(), l.serial.clone(), l.seq)).collect();
    assert_eq!(visits.len(), exported.len());
    let epochs: std::collections::BTreeSet<_> = exported.iter().filter_map(|l| l.plc_epoch).collect();
    assert_eq!(epochs.len(), 2, "each run booted its PLCs in an epoch of its own: {epochs:?}");
}
