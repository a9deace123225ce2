//! The JSON API over real HTTP on 127.0.0.1:0, on each backend: it answers what the CLI and
//! the store answer, refuses bad parameters with a 400 that names them (never a 500), and its
//! OpenAPI document describes every route it serves.

use std::sync::Arc;

use chrono::Duration;
use mes::bench::sample_plant::{PHONE_LINE, SMT_LINE};
use mes::domain::LineId;
use mes::domain::shift::{DEFAULT_TIME_ZONE, ShiftCalendar};
use mes::domain::user::Role;
use mes::figures::{self, Scope};
use mes::store::Store;
use mes::web::auth::{Auth, hash_password};
use mes::web::{Web, WebState};
use serde_json::Value;

use crate::harness::TestDb;
use crate::store::{sample_store, start};

/// A web front on a free loopback port over `store`, with one user per role (password = the
/// role's name twice); stopped on drop (or by [`TestApi::stop`], which waits until it has let
/// go of the store). Requests carry the quality engineer's token unless they say otherwise.
pub(crate) struct TestApi {
    pub(crate) base: String,
    handle: actix_web::dev::ServerHandle,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub(crate) token: String,
}

/// How a request authenticates.
#[derive(Clone)]
pub(crate) enum As {
    Anonymous,
    Bearer(String),
    Cookie(String, Option<String>),
}

impl TestApi {
    pub(crate) async fn start(store: Arc<Store>) -> Self {
        Self::start_with_ledger(store, None).await
    }

    /// The same, holding the plant's ledger key `ledger` (the audit pages verify and bundle).
    pub(crate) async fn start_with_ledger(store: Arc<Store>, ledger: Option<mes::domain::ledger::NoteSigner>) -> Self {
        Self::start_with_reports(store, ledger, None).await
    }

    /// The same, with reports read from and written under `data_dir`.
    pub(crate) async fn start_with_reports(
        store: Arc<Store>,
        ledger: Option<mes::domain::ledger::NoteSigner>,
        data_dir: Option<std::path::PathBuf>,
    ) -> Self {
        for role in [Role::Supervisor, Role::Quality, Role::Auditor, Role::Admin] {
            let name = role.as_str();
            let hash = hash_password(&format!("{name}{name}")).unwrap();
            store.upsert_user(name, &hash, role, chrono::Utc::now()).await.unwrap();
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let calendar = ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE);
        let auth = Auth::with_key([42; 32]);
        let reports = match data_dir {
            Some(data_dir) => mes::web::reports::ReportSetup { data_dir, ..Default::default() },
            None => mes::web::reports::ReportSetup::default(),
        };
        let state = WebState { ledger: ledger.map(Arc::new), reports, ..WebState::new(store, calendar, auth) };
        let web = Web::build(listener, state, 1).unwrap();
        let base = format!("http://127.0.0.1:{}", web.port());
        let handle = web.handle();
        let task = Some(tokio::spawn(web.run_until_stopped()));
        let mut api = Self { base, handle, task, token: String::new() };
        api.token = api.login("quality", "qualityquality").await;
        api
    }

    /// A bearer token for `user`.
    pub(crate) async fn login(&self, user: &str, password: &str) -> String {
        let (status, body) = self
            .post("/api/v1/auth/login", &serde_json::json!({ "username": user, "password": password }), As::Anonymous)
            .await;
        assert_eq!(status, 200, "login {user}: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        self.request("GET", path, None, As::Bearer(self.token.clone())).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value, who: As) -> (u16, Value) {
        self.request("POST", path, Some(body.to_string()), who).await
    }

    /// Any request: status and JSON body (every answer, errors included, is JSON).
    pub(crate) async fn request(&self, method: &str, path: &str, body: Option<String>, who: As) -> (u16, Value) {
        fn with_auth<B>(r: ureq::RequestBuilder<B>, who: &As) -> ureq::RequestBuilder<B> {
            match who {
                As::Anonymous => r,
                As::Bearer(t) => r.header("Authorization", &format!("Bearer {t}")),
                As::Cookie(t, csrf) => {
                    let r = r.header("Cookie", &format!("mes_session={t}"));
                    match csrf {
                        Some(c) => r.header("X-CSRF-Token", c),
                        None => r,
                    }
                }
            }
        }
        let url = format!("{}{path}", self.base);
        let method = method.to_owned();
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let result = match body {
                None => with_auth(agent.get(&url), &who).call(),
                Some(b) => {
                    with_auth(agent.post(&url), &who).header("Content-Type", "application/json").send(b.as_str())
                }
            };
            let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap();
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {status} not JSON ({e}): {text}"));
            (status, json)
        })
        .await
        .unwrap()
    }

    /// A page: status, `Location` (redirects are not followed) and body text. `form` is sent
    /// as `application/x-www-form-urlencoded`.
    pub(crate) async fn page(&self, path: &str, form: Option<&[(&str, &str)]>, who: As) -> (u16, String, String) {
        let url = format!("{}{path}", self.base);
        let cookie = match &who {
            As::Cookie(t, _) => Some(format!("mes_session={t}")),
            _ => None,
        };
        let form: Option<Vec<(String, String)>> =
            form.map(|f| f.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent =
                ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
            let result = match form {
                None => {
                    let r = agent.get(&url);
                    match &cookie {
                        Some(c) => r.header("Cookie", c).call(),
                        None => r.call(),
                    }
                }
                Some(fields) => {
                    let r = agent.post(&url);
                    let r = match &cookie {
                        Some(c) => r.header("Cookie", c),
                        None => r,
                    };
                    r.send_form(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                }
            };
            let mut response = result.unwrap_or_else(|e| panic!("{url}: {e}"));
            let status = response.status().as_u16();
            let location =
                response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            (status, location, response.body_mut().read_to_string().unwrap_or_default())
        })
        .await
        .unwrap()
    }

    /// A GET's status and raw body bytes (for answers whose exact bytes matter).
    pub(crate) async fn bytes(&self, path: &str, token: &str) -> (u16, Vec<u8>) {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let mut response = agent.get(&url).header("Authorization", &auth).call().unwrap();
            let status = response.status().as_u16();
            (status, response.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap())
        })
        .await
        .unwrap()
    }

    /// A cookie session for `user` and its CSRF token.
    pub(crate) async fn cookie(&self, user: &str) -> (As, String) {
        let token = self.login(user, &format!("{user}{user}")).await;
        let csrf = Auth::with_key([42; 32]).verify(&token).unwrap().csrf;
        (As::Cookie(token, Some(csrf.clone())), csrf)
    }

    /// Stops the server and hands back the store once its workers have let go of it.
    pub(crate) async fn stop(mut self, store: Arc<Store>) -> Store {
        self.handle.stop(true).await;
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        // Worker threads drop their app (and its store handle) just after the server ends.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut store = store;
        loop {
            match Arc::try_unwrap(store) {
                Ok(s) => return s,
                Err(back) if std::time::Instant::now() < deadline => {
                    store = back;
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Err(back) => panic!("the web still holds the store ({} handles)", Arc::strong_count(&back)),
            }
        }
    }
}

impl Drop for TestApi {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

fn period() -> (String, String) {
    let from = start() - Duration::hours(1);
    (from.to_rfc3339(), (from + Duration::days(3)).to_rfc3339())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_what_the_cli_and_the_store_answer() {
    for db in TestDb::all().await {
        let (store, _, records) = sample_store(&db, 3, 20, 10).await;
        let store = Arc::new(store);
        let api = TestApi::start(store.clone()).await;
        let (from, to) = period();
        let calendar = ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE);
        let scope = |by| Scope {
            line: LineId::parse(PHONE_LINE).unwrap(),
            station: None,
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
            by,
        };
        let q = |extra: &str| format!("?line={PHONE_LINE}&from={}&to={}{extra}", urlencode(&from), urlencode(&to));

        let (status, body) = api.get(&format!("/api/v1/kpi/yield{}", q(""))).await;
        assert_eq!(status, 200, "{}: {body}", db.label());
        assert_eq!(body, figures::yields(&store, &calendar, &scope(None)).await.unwrap().to_json(), "{}", db.label());
        assert!(body["stations"].as_array().is_some_and(|s| !s.is_empty()), "{body}");
        let (status, body) = api.get(&format!("/api/v1/kpi/yield{}", q("&by=shift"))).await;
        assert_eq!(status, 200);
        let by_shift = figures::yields(&store, &calendar, &scope(Some(mes::domain::kpi::Grain::Shift))).await.unwrap();
        assert_eq!(body, by_shift.to_json(), "{}", db.label());
        assert_eq!(body["buckets"].as_array().map(Vec::len), Some(by_shift.slices.len()));
        let (status, body) = api.get(&format!("/api/v1/kpi/pareto{}", q(""))).await;
        assert_eq!(status, 200);
        assert_eq!(body, figures::pareto(&store, &calendar, &scope(None)).await.unwrap().to_json());
        for kpi in ["oee", "downtime"] {
            let (status, body) = api.get(&format!("/api/v1/kpi/{kpi}{}", q(""))).await;
            assert_eq!(status, 200, "{kpi}: {body}");
            assert_eq!(body["line"], PHONE_LINE);
            assert!(body["stations"].as_array().is_some_and(|s| !s.is_empty()), "{kpi}: {body}");
        }

        let (status, lines) = api.get("/api/v1/lines").await;
        assert_eq!(status, 200);
        let codes: Vec<&str> = lines.as_array().unwrap().iter().filter_map(|l| l["id"].as_str()).collect();
        assert_eq!(codes, ["phone-1", "smt-1", "tablet-1"]);
        let (status, smt) = api.get(&format!("/api/v1/lines/{SMT_LINE}")).await;
        assert_eq!(status, 200);
        assert_eq!(smt["stations"][0]["id"], "PRINT", "{smt}");

        // A packed phone: its backward trace is the store's, and names its PCBA; the PCBA's
        // forward trace finds the phone.
        let phone = records.iter().rev().find(|r| r.line.as_str() == PHONE_LINE).unwrap();
        let serial = phone.serial.as_str();
        let (status, trace) = api.get(&format!("/api/v1/trace/backward/{}", urlencode(serial))).await;
        assert_eq!(status, 200, "{trace}");
        let expected = store.backward_trace(&phone.serial).await.unwrap().unwrap();
        assert_eq!(trace, serde_json::to_value(&expected).unwrap());
        let pcba = expected.units.keys().find(|s| s.as_str() != serial).expect("the phone contains a PCBA").clone();
        let (status, forward) = api.get(&format!("/api/v1/trace/forward?serial={}", urlencode(&pcba))).await;
        assert_eq!(status, 200, "{forward}");
        assert!(forward["units"].as_array().unwrap().iter().any(|u| u["hit"]["serial"] == serial), "{forward}");
        let (status, unit) = api.get(&format!("/api/v1/units/{}", urlencode(serial))).await;
        assert_eq!(status, 200);
        assert_eq!(unit["unit"]["serial"], serial, "{unit}");
        let (status, holds) = api.get("/api/v1/holds").await;
        assert_eq!((status, holds), (200, Value::Array(Vec::new())));
        let store = api.stop(store).await;
        db.cleanup(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_answer_400_naming_them_and_unknown_things_404() {
    let db = TestDb::sqlite();
    let (store, _, _) = sample_store(&db, 4, 3, 1).await;
    let api = TestApi::start(Arc::new(store)).await;
    let cases: [(&str, u16, &str, &str); 14] = [
        ("/api/v1/kpi/yield", 400, "bad_parameter", "line: is required"),
        ("/api/v1/kpi/oee?line=phone%201", 400, "bad_parameter", "line: line \"phone 1\" may only"),
        ("/api/v1/kpi/yield?line=phone-1&from=yesterday", 400, "bad_parameter", "from: \"yesterday\" is not a time"),
        ("/api/v1/kpi/yield?line=phone-1&from=2026-11-24&to=2026-11-23", 400, "bad_parameter", "from: "),
        ("/api/v1/kpi/pareto?line=phone-1&by=week", 400, "bad_parameter", "by: \"week\" is not one of"),
        (
            "/api/v1/kpi/yield?line=phone-1&from=2020-01-01&to=2026-01-01&by=hour",
            400,
            "bad_parameter",
            "at most 400 days",
        ),
        ("/api/v1/kpi/downtime?line=phone-1&line=smt-1", 400, "bad_parameter", "query: "),
        ("/api/v1/kpi/yield?line=phone-9", 404, "line_not_found", "line \"phone-9\" is not registered"),
        ("/api/v1/kpi/oee?line=phone-1&station=OVEN", 404, "station_not_found", "has no station \"OVEN\""),
        ("/api/v1/trace/forward", 400, "bad_parameter", "give exactly one of lot and serial"),
        ("/api/v1/trace/forward?lot=R1&serial=S1", 400, "bad_parameter", "give exactly one"),
        ("/api/v1/units/%20padded", 400, "bad_parameter", "serial: serial \" padded\" contains white space"),
        ("/api/v1/trace/backward/NO-SUCH-UNIT", 404, "unit_not_found", "\"NO-SUCH-UNIT\" is unknown"),
        ("/api/v2/everything", 404, "not_found", "no such resource: /api/v2/everything"),
    ];
    for (path, status, code, message) in cases {
        let (got, body) = api.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["error"], code, "{path}: {body}");
        let text = body["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{path}: {text:?} does not contain {message:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let db = TestDb::sqlite();
    let api = TestApi::start(Arc::new(db.store().await)).await;
    let (status, doc) = api.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{doc}");
    let paths: Vec<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    for expected in [
        "/api/v1/lines",
        "/api/v1/lines/{line}",
        "/api/v1/lines/{line}/detail",
        "/api/v1/units/{serial}",
        "/api/v1/trace/backward/{serial}",
        "/api/v1/trace/forward",
        "/api/v1/kpi/yield",
        "/api/v1/kpi/oee",
        "/api/v1/kpi/pareto",
        "/api/v1/kpi/downtime",
        "/api/v1/holds",
        "/api/v1/audit/entries",
        "/api/v1/audit/entries/{seq}",
        "/api/v1/audit/checkpoint",
        "/api/v1/audit/consistency",
        "/api/v1/audit/verification",
        "/api/v1/audit/bundle",
        "/api/v1/reports",
    ] {
        assert!(paths.contains(&expected), "{expected} missing from {paths:?}");
        // And the route is really served (a 404 here would mean the document lies).
        let concrete = expected.replace("{line}", PHONE_LINE).replace("{serial}", "X").replace("{seq}", "0");
        let (status, body) = api.get(&concrete).await;
        assert!(body["error"] != "not_found", "{concrete}: {status} {body}");
    }
    assert_eq!(paths.len(), 25, "{paths:?}");
    assert!(paths.contains(&"/api/v1/reports/{kind}") && paths.contains(&"/api/v1/reports/files/{name}"), "{paths:?}");
    assert!(paths.contains(&"/api/v1/auth/login") && paths.contains(&"/api/v1/holds/release"), "{paths:?}");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object(), "{}", doc["components"]);
    let params: Vec<&str> = doc["paths"]["/api/v1/kpi/oee"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(params, ["line", "station", "from", "to", "by"]);
    for schema in ["OeeFigures", "YieldFigures", "TimeElements", "ErrorBody", "Line"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "schema {schema} missing");
    }
}

/// Percent-encodes a query or path value.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_are_refused_everywhere_but_login() {
    let db = TestDb::sqlite();
    let api = TestApi::start(Arc::new(db.store().await)).await;
    for path in [
        "/api/v1/lines",
        "/api/v1/lines/phone-1",
        "/api/v1/units/X",
        "/api/v1/trace/backward/X",
        "/api/v1/trace/forward?lot=R",
        "/api/v1/kpi/yield?line=phone-1",
        "/api/v1/kpi/oee?line=phone-1",
        "/api/v1/kpi/pareto?line=phone-1",
        "/api/v1/kpi/downtime?line=phone-1",
        "/api/v1/holds",
        "/api/openapi.json",
    ] {
        let (status, body) = api.request("GET", path, None, As::Anonymous).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")), "{path}: {body}");
        let (status, _) = api.request("GET", path, None, As::Bearer("forged.token".into())).await;
        assert_eq!(status, 401, "{path} with a forged token");
    }
    let (status, body) =
        api.post("/api/v1/holds", &serde_json::json!({ "lot": "R1", "reason": "x" }), As::Anonymous).await;
    assert_eq!(status, 401, "{body}");
    // Wrong password, unknown user, malformed body.
    let wrong = serde_json::json!({ "username": "quality", "password": "nope" });
    let (status, body) = api.post("/api/v1/auth/login", &wrong, As::Anonymous).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")), "{body}");
    let ghost = serde_json::json!({ "username": "ghost", "password": "x" });
    assert_eq!(api.post("/api/v1/auth/login", &ghost, As::Anonymous).await.0, 401);
    let (status, body) = api.post("/api/v1/auth/login", &serde_json::json!({ "user": "quality" }), As::Anonymous).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_parameter")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_quality_and_admin_place_holds_and_cookie_writes_need_the_csrf_token() {
    let db = TestDb::sqlite();
    let (store, plant, _) = sample_store(&db, 5, 4, 0).await;
    let store = Arc::new(store);
    let api = TestApi::start(store.clone()).await;
    let (reel, _) = plant.truth.reel_boards.iter().next().expect("a reel");
    let hold = serde_json::json!({ "lot": reel, "reason": "solder paste lot recalled" });
    for (user, expected) in [("auditor", 403), ("supervisor", 403)] {
        let token = api.login(user, &format!("{user}{user}")).await;
        let (status, body) = api.post("/api/v1/holds", &hold, As::Bearer(token)).await;
        assert_eq!((status, body["error"].as_str()), (expected, Some("forbidden")), "{user}: {body}");
    }
    assert!(store.holds(100).await.unwrap().is_empty(), "nothing was held by a refused request");
    // A session cookie without the CSRF token is refused; with it, the hold is placed.
    let token = api.login("admin", "adminadmin").await;
    let (status, body) = api.post("/api/v1/holds", &hold, As::Cookie(token.clone(), None)).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("CSRF"), "{body}");
    let csrf = Auth::with_key([42; 32]).verify(&token).unwrap().csrf;
    let (status, body) = api.post("/api/v1/holds", &hold, As::Cookie(token, Some(csrf))).await;
    assert_eq!((status, body["placed"].as_bool()), (201, Some(true)), "{body}");
    let (status, body) = api.post("/api/v1/holds", &hold, As::Bearer(api.token.clone())).await;
    assert_eq!((status, body["placed"].as_bool()), (200, Some(false)), "already held: {body}");
    let (status, holds) = api.get("/api/v1/holds").await;
    assert_eq!(status, 200);
    assert_eq!(holds[0]["placed_by"], "admin", "{holds}");
    // A missing reason and two targets are the client's mistakes.
    let (status, body) =
        api.post("/api/v1/holds", &serde_json::json!({ "lot": reel }), As::Bearer(api.token.clone())).await;
    assert!(status == 400 && body["message"].as_str().is_some_and(|m| m.starts_with("reason: is required")), "{body}");
    let both = serde_json::json!({ "lot": reel, "serial": "S", "reason": "x" });
    assert_eq!(api.post("/api/v1/holds", &both, As::Bearer(api.token.clone())).await.0, 400);
    // A release must say why, like the hold.
    let (status, body) =
        api.post("/api/v1/holds/release", &serde_json::json!({ "lot": reel }), As::Bearer(api.token.clone())).await;
    assert!(status == 400 && body["message"].as_str().is_some_and(|m| m.starts_with("reason: is required")), "{body}");
    let release = serde_json::json!({ "lot": reel, "reason": "re-tested: within limits" });
    let (status, body) = api.post("/api/v1/holds/release", &release, As::Bearer(api.token.clone())).await;
    assert_eq!((status, body["released"].as_u64()), (200, Some(1)), "{body}");
    let (_, holds) = api.get("/api/v1/holds").await;
    assert_eq!(holds[0]["released"]["reason"], "re-tested: within limits", "{holds}");
    let store = api.stop(store).await;
    db.cleanup(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_rate_limited_per_address() {
    let db = TestDb::sqlite();
    let api = TestApi::start(Arc::new(db.store().await)).await;
    // The harness logged in once already; the limit counts every attempt, good or bad.
    let wrong = serde_json::json!({ "username": "quality", "password": "nope" });
    let mut statuses = Vec::new();
    for _ in 0..mes::web::auth::LOGIN_ATTEMPTS_PER_MINUTE {
        statuses.push(api.post("/api/v1/auth/login", &wrong, As::Anonymous).await.0);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), statuses.len() - 1, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let good = serde_json::json!({ "username": "quality", "password": "qualityquality" });
    let (status, body) = api.post("/api/v1/auth/login", &good, As::Anonymous).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("too_many_requests")),
        "even a good password waits: {body}"
    );
}

/// Reads server-sent events from `url` until `done` accepts a summary (or 20 s pass).
fn wait_for_event(url: &str, token: Option<&str>, done: impl Fn(&Value) -> bool) -> Result<Value, String> {
    use std::io::BufRead;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(20)))
        .build()
        .into();
    let mut request = agent.get(url);
    if let Some(t) = token {
        request = request.header("Authorization", &format!("Bearer {t}"));
    }
    let response = request.call().map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status().as_u16()));
    }
    let reader = std::io::BufReader::new(response.into_body().into_reader());
    let mut last = Value::Null;
    for line in reader.lines() {
        let line = line.map_err(|e| format!("{e}; last summary {last}"))?;
        if let Some(data) = line.strip_prefix("data: ") {
            last = serde_json::from_str(data).map_err(|e| e.to_string())?;
            if done(&last) {
                return Ok(last);
            }
        }
    }
    Err(format!("stream ended; last summary {last}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_and_live_events_follow_what_is_committed() {
    for db in TestDb::all().await {
        let (store, plant, _) = sample_store(&db, 8, 2, 0).await;
        let store = Arc::new(store);
        let api = TestApi::start(store.clone()).await;
        let (status, summary) = api.get("/api/v1/summary").await;
        assert_eq!(status, 200, "{summary}");
        let lines: Vec<&str> = summary.as_array().unwrap().iter().filter_map(|l| l["line"].as_str()).collect();
        assert_eq!(lines, ["phone-1", "smt-1", "tablet-1"], "{summary}");
        // Anonymous: no events (no kiosk mode).
        let url = format!("{}/events", api.base);
        let anonymous = tokio::task::spawn_blocking({
            let url = url.clone();
            move || wait_for_event(&url, None, |_| true)
        });
        assert_eq!(anonymous.await.unwrap().unwrap_err(), "status 401");
        // Three phones packed now: a connected client sees this shift's output rise to 3.
        let token = api.token.clone();
        let watcher = tokio::task::spawn_blocking(move || {
            wait_for_event(&url, Some(&token), |s| {
                s.as_array().is_some_and(|l| l.iter().any(|l| l["line"] == PHONE_LINE && l["output"] == 3))
            })
        });
        let records = crate::store::packed_now("LIVE", 3, 9);
        store.commit(&mes::store::RecordBatch { records, ..Default::default() }).await.unwrap();
        let seen = watcher.await.unwrap().unwrap_or_else(|e| panic!("{}: {e}", db.label()));
        let phone = seen.as_array().unwrap().iter().find(|l| l["line"] == PHONE_LINE).unwrap();
        assert!(phone["shift"].is_string(), "{phone}");
        let (_, summary) = api.get("/api/v1/summary").await;
        assert!(summary.as_array().unwrap().iter().any(|l| l["line"] == PHONE_LINE && l["output"] == 3), "{summary}");
        // A hold on a reel: every line that saw a unit containing it counts them at once.
        let (reel, _) = plant.truth.reel_boards.iter().next().expect("a reel");
        let hold = serde_json::json!({ "lot": reel, "reason": "paste recall" });
        assert_eq!(api.post("/api/v1/holds", &hold, As::Bearer(api.token.clone())).await.0, 201);
        let expected = store.held_units_by_line().await.unwrap();
        assert!(
            expected.get(PHONE_LINE).is_some_and(|n| *n > 0) && expected.get(SMT_LINE).is_some_and(|n| *n > 0),
            "{expected:?}"
        );
        let url = format!("{}/events", api.base);
        let token = api.token.clone();
        let held = tokio::task::spawn_blocking(move || {
            wait_for_event(&url, Some(&token), |s| {
                s.as_array().is_some_and(|ls| {
                    ls.iter().all(|l| {
                        l["held_units"].as_u64()
                            == Some(expected.get(l["line"].as_str().unwrap()).copied().unwrap_or(0))
                    })
                })
            })
        });
        held.await.unwrap().unwrap_or_else(|e| panic!("{}: held units on the tiles: {e}", db.label()));
        let store = api.stop(store).await;
        db.cleanup(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_without_a_login() {
    let db = TestDb::sqlite();
    let api = TestApi::start(Arc::new(db.store().await)).await;
    assert_eq!(api.request("GET", "/healthz", None, As::Anonymous).await, (200, serde_json::json!({ "status": "ok" })));
    let (status, body) = api.request("GET", "/readyz", None, As::Anonymous).await;
    assert_eq!((status, body["database"].as_str()), (200, Some("reachable")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiosk_mode_shows_the_overview_and_its_events_to_anyone_and_nothing_else() {
    let db = TestDb::sqlite();
    let (store, _, _) = sample_store(&db, 2, 2, 0).await;
    let store = Arc::new(store);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let state = WebState {
        kiosk: true,
        ..WebState::new(store.clone(), ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE), Auth::with_key([5; 32]))
    };
    let web = Web::build(listener, state, 1).unwrap();
    let base = format!("http://127.0.0.1:{}", web.port());
    let handle = web.handle();
    let server = tokio::spawn(web.run_until_stopped());
    let page = {
        let url = format!("{base}/");
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let mut r = agent.get(&url).call().unwrap();
            (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
        })
        .await
        .unwrap()
    };
    assert_eq!(page.0, 200, "the overview is readable without a login");
    assert!(page.1.contains("data-line=\"phone-1\"") && page.1.contains("kiosk"), "{}", page.1);
    assert!(!page.1.contains("action=\"/logout\""), "a kiosk has nothing to log out of");
    let events = tokio::task::spawn_blocking({
        let url = format!("{base}/events");
        move || wait_for_event(&url, None, |s| s.as_array().is_some_and(|l| l.len() == 3))
    });
    assert!(events.await.unwrap().is_ok(), "events flow without a login in kiosk mode");
    let pages_base = base.clone();
    // The API and every write still need a login.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let (summary, hold) = tokio::task::spawn_blocking(move || {
        let summary = agent.get(&format!("{base}/api/v1/summary")).call().unwrap().status().as_u16();
        let hold = agent
            .post(&format!("{base}/api/v1/holds"))
            .header("Content-Type", "application/json")
            .send(r#"{"lot":"R1","reason":"x"}"#)
            .unwrap()
            .status()
            .as_u16();
        (summary, hold)
    })
    .await
    .unwrap();
    assert_eq!((summary, hold), (401, 401));
    // Line pages are wall-screen pages too; trace, holds and KPI need a login.
    let pages = tokio::task::spawn_blocking({
        let base = pages_base;
        move || {
            let agent: ureq::Agent =
                ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
            ["/lines/phone-1", "/trace?q=X", "/holds", "/kpi"]
                .map(|p| agent.get(&format!("{base}{p}")).call().unwrap().status().as_u16())
        }
    });
    assert_eq!(pages.await.unwrap(), [200, 303, 303, 303]);
    handle.stop(true).await;
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_session_and_answer_mistakes_with_the_apis_status() {
    let db = TestDb::sqlite();
    let (store, plant, _) = sample_store(&db, 4, 6, 0).await;
    let store = Arc::new(store);
    let api = TestApi::start(store.clone()).await;
    for path in ["/", "/lines/phone-1", "/trace?q=X", "/holds", "/kpi?line=phone-1", "/api"] {
        let (status, location, _) = api.page(path, None, As::Anonymous).await;
        assert_eq!((status, location.as_str()), (303, "/login"), "{path}");
    }
    let (status, _, login) = api.page("/login", None, As::Anonymous).await;
    assert!(status == 200 && login.contains("its reference is at /api"), "the login page says where the API is");
    let (status, _, script) = api.page("/assets/live.js", None, As::Anonymous).await;
    assert!(status == 200 && script.contains("EventSource"), "the live script is served from the binary");
    let (who, _) = api.cookie("supervisor").await;
    let (status, _, line) = api.page("/lines/phone-1", None, who.clone()).await;
    assert_eq!(status, 200, "{line}");
    for station in ["LOAD", "DISPLAY", "BATTERY", "SCREW", "FT", "RF", "PACK"] {
        assert!(line.contains(&format!("data-station=\"phone-1/{station}\"")), "{station} on the route");
    }
    assert!(line.contains("aria-label=\"output per hour\"") && line.contains("aria-label=\"machine states\""));
    assert!(line.contains("collected by another process"), "no collector in this process: said, not hidden");
    // A phone, its board and one of the board's reels.
    let (phone, board) = plant.truth.product_board.iter().next().expect("a phone");
    let (status, _, trace) = api.page(&format!("/trace?q={}", urlencode(phone)), None, who.clone()).await;
    assert_eq!(status, 200);
    assert!(trace.contains(&format!("data-item=\"{board}\"")), "the board is in the phone's tree");
    // Visits are events: shown to the second (plant time), so visits a minute apart differ.
    let with_seconds = |page: &str| {
        page.as_bytes().windows(19).any(|w| {
            w.iter().enumerate().all(|(k, b)| match k {
                4 | 7 => *b == b'-',
                10 => *b == b' ',
                13 | 16 => *b == b':',
                _ => b.is_ascii_digit(),
            })
        })
    };
    assert!(with_seconds(&trace), "visit times to the second: {trace}");
    let reel = plant.truth.board_reels[board].keys().next().expect("a reel");
    assert!(trace.contains(&format!("data-item=\"{reel}\"")), "the reel is in the tree");
    let (status, _, up) = api.page(&format!("/trace?q={}", urlencode(reel)), None, who.clone()).await;
    assert_eq!(status, 200);
    assert!(
        up.contains("id=\"lot\"") && up.contains(&format!(">{phone}</a>")),
        "the reel's forward trace lists the phone"
    );
    // Counted by product and status above the list (a reel reaches thousands of units).
    assert!(up.contains("id=\"reach\""), "{up}");
    let (status, _, kpi) = api.page("/kpi?line=phone-1&from=2026-11-22&to=2026-11-26", None, who.clone()).await;
    assert_eq!(status, 200, "{kpi}");
    assert!(kpi.contains("id=\"yield\"") && kpi.contains("id=\"oee\""), "{kpi}");
    // The API reference, readable in a browser behind the login, from the served document.
    let (status, _, reference) = api.page("/api", None, who.clone()).await;
    assert_eq!(status, 200, "{reference}");
    assert!(reference.contains("data-op=\"POST /api/v1/holds/release\"") && reference.contains("ReleaseRequest"));
    assert!(reference.contains("href=\"/api/openapi.json\""), "{reference}");
    // With no period asked for, the page opens on the shift running now (its preset's start).
    let (status, _, current) = api.page("/kpi?line=phone-1", None, who.clone()).await;
    assert_eq!(status, 200, "{current}");
    let shift_from = current.split("href=\"/kpi?line=phone-1&#38;from=").nth(1).and_then(|s| s.split("&#38;").next());
    let shift_from = shift_from.unwrap_or_else(|| panic!("the shift preset: {current}"));
    let shown = shift_from.replace('T', " ");
    assert!(current.contains(&format!("name=\"from\" value=\"{shown}\"")), "{shown}: {current}");
    // In Vietnamese the fields are day first, and what they show is read back.
    let As::Cookie(token, _) = &who else { unreachable!() };
    let vi_page = |path: String| {
        let (url, cookie) = (format!("{}{path}", api.base), format!("mes_session={token}; mes_lang=vi"));
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let mut r = agent.get(&url).header("Cookie", &cookie).call().unwrap();
            (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
        })
    };
    let (status, vi) = vi_page("/kpi?line=phone-1&from=2026-11-22T06:00&to=2026-11-23T06:00".into()).await.unwrap();
    assert!(status == 200 && vi.contains("name=\"from\" value=\"22/11/2026 06:00\""), "{vi}");
    assert!(vi.contains("placeholder=\"DD/MM/YYYY HH:MM\""), "{vi}");
    let (status, back) =
        vi_page("/kpi?line=phone-1&from=22%2F11%2F2026%2006%3A00&to=23%2F11%2F2026%2006%3A00".into()).await.unwrap();
    assert!(status == 200 && back.contains("name=\"to\" value=\"23/11/2026 06:00\""), "{back}");
    // Problems in words, as the CLI says them, not the API's JSON.
    assert!(kpi.contains("has no ideal cycle time") && !kpi.contains("problem&#34;"), "{kpi}");
    let (status, _, sliced) =
        api.page("/kpi?line=phone-1&from=2026-11-22&to=2026-11-26&by=day", None, who.clone()).await;
    assert!(status == 200 && sliced.contains("id=\"slices\""), "{sliced}");
    // Each slice with its range in plant time; a past period has no running slice.
    assert!(sliced.contains("2026-11-22 00:00 – 00:00") && !sliced.contains("class=\"partial\""), "{sliced}");
    // Each slice with its plan beside its output (no ideal cycle times in this plant: "—").
    let header = sliced.split("id=\"slices\"").nth(1).and_then(|t| t.split("</tr>").next()).unwrap_or_default();
    assert!(header.contains(">Output<") && header.contains(">Plan<"), "{header}");
    let (status, _, now) = api.page("/kpi?line=phone-1&by=shift", None, who.clone()).await;
    assert!(status == 200 && now.contains("class=\"partial\"") && now.contains("· running, partial</td>"), "{now}");
    for (path, expected, says) in [
        ("/lines/nope", 404, "nope"),
        ("/trace?q=NEVER-SEEN", 404, "NEVER-SEEN"),
        ("/kpi?line=phone-1&from=yesterday", 400, "from:"),
        ("/kpi?line=phone-1&by=week", 400, "by:"),
        ("/kpi?line=nope", 404, "nope"),
    ] {
        let (status, _, body) = api.page(path, None, who.clone()).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body.contains(says), "{path} says what is wrong: {body}");
    }
    // An unknown address: a page for a browser, in its language; JSON for the API and others.
    let As::Cookie(token, _) = &who else { unreachable!() };
    let ask = |path: &str, accept: &'static str, lang: &'static str| {
        let (url, cookie) = (format!("{}{path}", api.base), format!("mes_session={token}; mes_lang={lang}"));
        async move {
            tokio::task::spawn_blocking(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let mut r = agent.get(&url).header("Accept", accept).header("Cookie", &cookie).call().unwrap();
                let kind = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                (r.status().as_u16(), kind, r.body_mut().read_to_string().unwrap())
            })
            .await
            .unwrap()
        }
    };
    let browser = "text/html,application/xhtml+xml,*/*;q=0.8";
    let (status, kind, body) = ask("/no-such-page", browser, "en").await;
    assert!(status == 404 && kind.starts_with("text/html"), "{status} {kind}");
    assert!(body.contains("There is no page at /no-such-page") && body.contains("<nav"), "{body}");
    let (status, _, body) = ask("/no-such-page", browser, "vi").await;
    assert!(status == 404 && body.contains("Không có trang nào tại địa chỉ /no-such-page"), "{body}");
    let (status, kind, _) = ask("/api/v1/no-such", browser, "en").await;
    assert!(status == 404 && kind.starts_with("application/json"), "the API answers JSON: {kind}");
    let (status, kind, _) = ask("/no-such-page", "application/json", "en").await;
    assert!(status == 404 && kind.starts_with("application/json"), "{kind}");
    let (status, detail) = api.get("/api/v1/lines/phone-1/detail").await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["stations"].as_array().map(Vec::len), Some(7), "{detail}");
    assert_eq!(api.get("/api/v1/lines/nope/detail").await.0, 404);
    let store = api.stop(store).await;
    db.cleanup(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holds_page_lets_quality_place_and_release_with_the_csrf_token_and_no_one_else() {
    let db = TestDb::sqlite();
    let (store, plant, _) = sample_store(&db, 5, 4, 0).await;
    let store = Arc::new(store);
    let api = TestApi::start(store.clone()).await;
    let (reel, _) = plant.truth.reel_boards.iter().next().expect("a reel");
    let (auditor, auditor_csrf) = api.cookie("auditor").await;
    let (status, _, page) = api.page("/holds", None, auditor.clone()).await;
    assert!(status == 200 && !page.contains("id=\"place\"") && page.contains("can view holds"), "{page}");
    let place = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("action", "place".into()),
            ("kind", "lot".into()),
            ("id", reel.clone()),
            ("reason", "paste recall".into()),
        ]
    };
    let post = |who: As, fields: Vec<(&'static str, String)>| {
        let api = &api;
        async move {
            let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            api.page("/holds", Some(&refs), who).await
        }
    };
    let (status, _, body) = post(auditor, place(&auditor_csrf)).await;
    assert_eq!(status, 403, "the auditor may not hold: {body}");
    let (quality, csrf) = api.cookie("quality").await;
    let (status, _, body) = post(quality.clone(), place("not-the-token")).await;
    assert!(status == 403 && body.contains("CSRF"), "{status} {body}");
    assert!(store.holds(100).await.unwrap().is_empty(), "nothing held by refused forms");
    // The form first shows what the hold would catch, by line and status, and places nothing.
    let preview = [place(&csrf), vec![("action", "preview".into())]].concat();
    let preview: Vec<(&'static str, String)> =
        preview.into_iter().filter(|(k, v)| *k != "action" || v == "preview").collect();
    let (status, _, body) = post(quality.clone(), preview).await;
    assert_eq!(status, 200, "{body}");
    let lot = mes::domain::record::ConsumedItem::Lot(mes::domain::LotId::parse(reel.clone()).unwrap());
    let reached = store.forward_trace(&lot).await.unwrap().unwrap().units;
    assert!(!reached.is_empty());
    let heading = format!("This hold will catch {} units: Lot / reel {reel} (paste recall)", reached.len());
    assert!(body.contains(&heading), "{body}");
    for line in reached.iter().filter_map(|u| u.last_seen.as_ref()).map(|s| s.line.to_string()) {
        assert!(body.contains(&format!("data-reach-line=\"{line}\"")), "{line} named: {body}");
    }
    assert!(body.contains("name=\"action\" value=\"place\"") && body.contains("Place the hold"), "{body}");
    assert!(store.holds(100).await.unwrap().is_empty(), "a preview places nothing");
    let (status, location, _) = post(quality.clone(), place(&csrf)).await;
    assert_eq!((status, location.as_str()), (303, "/holds?done=placed"));
    let (status, _, page) = api.page("/holds?done=placed", None, quality.clone()).await;
    assert!(
        status == 200 && page.contains("Hold placed.") && page.contains(&format!("data-hold=\"{reel}\"")),
        "{page}"
    );
    // Units packed before the hold was placed are listed for a recall, every one of them.
    let lot = mes::domain::record::ConsumedItem::Lot(mes::domain::LotId::parse(reel.clone()).unwrap());
    let traced = store.forward_trace(&lot).await.unwrap().unwrap().units;
    let packed: Vec<&str> = traced
        .iter()
        .filter(|u| u.status == mes::domain::unit::UnitStatus::Packed)
        .map(|u| u.hit.serial.as_str())
        .collect();
    assert!(!packed.is_empty(), "the sample packs units made with the reel");
    let listed = page.split("id=\"packed\"").nth(1).unwrap_or_else(|| panic!("no packed list: {page}"));
    for serial in &packed {
        assert!(listed.contains(&format!(">{serial}</a>")), "{serial} packed under the hold is listed: {listed}");
    }
    assert!(page.contains(&format!("recall before shipping ({})</h2>", packed.len())), "counted: {page}");
    let bad = vec![
        ("csrf", csrf.clone()),
        ("action", "place".into()),
        ("kind", "pallet".into()),
        ("id", "P1".into()),
        ("reason", "x".into()),
    ];
    let (status, _, body) = post(quality.clone(), bad).await;
    assert!(status == 400 && body.contains("kind"), "{status} {body}");
    let release =
        vec![("csrf", csrf.clone()), ("action", "release".into()), ("kind", "lot".into()), ("id", reel.clone())];
    let (status, _, body) = post(quality.clone(), release.clone()).await;
    assert!(status == 400 && body.contains("reason"), "a release without a reason is refused: {status} {body}");
    let release = [release, vec![("reason", "supplier 8D closed".into())]].concat();
    let (status, location, _) = post(quality, release).await;
    assert_eq!((status, location.as_str()), (303, "/holds?done=released-1"));
    let holds = store.holds(100).await.unwrap();
    assert_eq!(holds.len(), 1);
    let released = holds[0].released.as_ref().map(|r| (r.by.as_str(), r.reason.as_deref()));
    assert_eq!(released, Some(("quality", Some("supplier 8D closed"))));
    let store = api.stop(store).await;
    db.cleanup(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_for_a_local_scraper() {
    let db = TestDb::sqlite();
    let api = TestApi::start(Arc::new(db.store().await)).await;
    assert_eq!(api.get("/api/v1/units/METRICS-SERIAL-1").await.0, 404);
    let (status, _, text) = api.page("/metrics", None, As::Anonymous).await;
    assert_eq!(status, 200, "a scraper on this machine needs no login");
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("mes_http_requests_total{")
                && l.contains("route=\"/api/v1/units/{serial}\"")
                && l.contains("status=\"404\"")
        })
        .unwrap_or_else(|| panic!("the request is counted by route pattern: {text}"));
    assert!(line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() >= 1.0, "{line}");
    assert!(!text.contains("METRICS-SERIAL-1"), "no label per serial");
    assert!(text.contains("mes_http_request_seconds_bucket{"), "latency is a histogram: {text}");
    assert!(text.contains("# HELP mes_http_requests_total"), "metrics are described: {text}");
}

/// A line first watched halfway into the running shift (its collector started late): the tile's
/// plan and OEE count from then, and say so, instead of showing the unwatched part as lost. A
/// line watched from before the shift counts from the shift's start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_oee_count_from_when_watching_began_in_the_shift() {
    use mes::domain::state::{MachineState, StateInterval};
    for db in TestDb::all().await {
        let (store, _, _) = sample_store(&db, 12, 1, 0).await;
        // The profiles' ideal cycle times (the generated plant has none): the plan needs them.
        let mut model = mes::bench::sample_plant::plant_model();
        for (l, line) in model.lines.iter_mut().enumerate() {
            for (i, s) in line.stations.iter_mut().enumerate() {
                s.ideal_cycle_ms = Some(20_000 + 1_000 * (l as u32 + i as u32));
            }
        }
        store.register_plant(&model).await.unwrap();
        let calendar = ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE);
        let now = chrono::Utc::now();
        let Some(shift) = calendar.locate(now) else { panic!("the three-shift calendar covers every instant") };
        // Truncated to what both backends store (microseconds).
        let mid = chrono::DurationRound::duration_trunc(shift.start + (now - shift.start) / 2, Duration::seconds(1))
            .unwrap()
            .max(shift.start + Duration::milliseconds(1));
        let open = |line: &str, station: &mes::domain::ids::StationId, since| StateInterval {
            line: LineId::parse(line).unwrap(),
            station: station.clone(),
            started_at: since,
            ended_at: None,
            plc_code: 1,
            state: MachineState::Running,
            fault_code: None,
            reason: None,
        };
        let steps = |stations: Vec<mes::domain::equipment::Station>| -> Vec<_> {
            stations.into_iter().filter(|s| s.kind != mes::domain::equipment::StationKind::Repair).collect()
        };
        let phone = steps(store.line_stations(PHONE_LINE).await.unwrap());
        let smt = steps(store.line_stations(SMT_LINE).await.unwrap());
        let mut states: Vec<StateInterval> = phone.iter().map(|s| open(PHONE_LINE, &s.id, mid)).collect();
        states.extend(smt.iter().map(|s| open(SMT_LINE, &s.id, shift.start - Duration::minutes(5))));
        store.commit(&mes::store::RecordBatch { state_intervals: states, ..Default::default() }).await.unwrap();
        let lines = figures::line_summaries(&store, &calendar, now, &Default::default()).await.unwrap();
        let line = |code: &str| lines.iter().find(|l| l.line.as_str() == code).unwrap();
        let planned_ms = |from| {
            calendar
                .planned_windows(from, now)
                .iter()
                .map(|(s, e)| (*e.min(&now) - *s.max(&from)).num_milliseconds().max(0))
                .sum::<i64>()
        };
        let slowest = |steps: &[mes::domain::equipment::Station]| {
            i64::from(steps.iter().filter_map(|s| s.ideal_cycle_ms).max().unwrap())
        };
        let p = line(PHONE_LINE);
        assert_eq!(p.watched_from, Some(mid), "{}", db.label());
        assert_eq!(p.plan, Some((planned_ms(mid) / slowest(&phone)) as u64), "{}: plan from {mid}", db.label());
        assert_eq!(p.unrecorded, (planned_ms(mid) > 0).then_some(0.0), "{}: nothing unwatched since {mid}", db.label());
        let s = line(SMT_LINE);
        assert_eq!(s.watched_from, None, "{}: watched from before the shift", db.label());
        assert_eq!(s.plan, Some((planned_ms(shift.start) / slowest(&smt)) as u64), "{}", db.label());
        db.cleanup(store).await;
    }
}

/// `mes serve --web-only --kiosk` on `url` and a free loopback port, with its base address.
fn web_only_process(url: &str, data_dir: &std::path::Path) -> (crate::harness::Child, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mes"));
    cmd.args(["serve", "--web-only", "--kiosk", "--listen", "127.0.0.1:0", "--database-url", url])
        .arg("--data-dir")
        .arg(data_dir)
        .stderr(std::process::Stdio::null());
    let (child, base) = crate::harness::Child::serving(cmd);
    // Its first summary is published once it listens (and has read the store).
    let events = format!("{base}/events");
    wait_for_event(&events, None, |_| true).unwrap();
    (child, base)
}

/// On PostgreSQL every web process hears every commit of any process (LISTEN/NOTIFY sent in
/// the committing transaction) instead of polling the store; after its listening connection is
/// cut it catches up on what it missed, and a restarted web process picks up where the store is.
/// Two web processes, two committing processes' worth of connections (two stores).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_web_process_hears_every_commit_on_postgresql_and_catches_up_after_a_cut_or_a_restart() {
    use crate::collect::{fetch_text, plain_sample, sample, wait_until};
    for db in TestDb::all().await {
        if db.label() == "sqlite" {
            continue; // one process per SQLite store: the live view polls it
        }
        let (first, _, _) = sample_store(&db, 8, 2, 0).await;
        let second = db.store().await; // connections of their own, as another collector's
        let dir = tempfile::tempdir().unwrap();
        let url = db.url().to_owned();
        let spawn = |name: &str| {
            let (url, data) = (url.clone(), dir.path().join(name));
            tokio::task::spawn_blocking(move || web_only_process(&url, &data))
        };
        let (mut webs, mut bases) = (Vec::new(), Vec::new());
        for name in ["web-1", "web-2"] {
            let (child, base) = spawn(name).await.unwrap();
            webs.push(child);
            bases.push(base);
        }
        let wakeups = async |base: &str, cause: &str| {
            let (_, metrics) = fetch_text(base, "/metrics").await;
            sample(&metrics, "mes_live_wakeups_total", &[&format!("cause=\"{cause}\"")]).unwrap_or(0.0)
        };
        // Every web process has woken for `cause` at least `n` times.
        let each_woken = async |bases: &[String], cause: &str, n: f64| {
            for base in bases {
                wait_until(
                    &format!("{n} wake-ups for {cause} at {base}"),
                    std::time::Duration::from_secs(10),
                    async || wakeups(base, cause).await >= n,
                )
                .await;
            }
        };
        // Every web process's events, until the phone line's output reaches `n`.
        let all_show = |bases: &[String], n: u64| {
            let watchers: Vec<_> = bases
                .iter()
                .map(|base| {
                    let url = format!("{base}/events");
                    tokio::task::spawn_blocking(move || {
                        wait_for_event(&url, None, |s| {
                            s.as_array().is_some_and(|l| l.iter().any(|l| l["line"] == PHONE_LINE && l["output"] == n))
                        })
                    })
                })
                .collect();
            watchers
        };
        let commit = async |store: &Store, prefix: &str, epoch: u32| {
            let records = crate::store::packed_now(prefix, 3, epoch);
            store.commit(&mes::store::RecordBatch { records, ..Default::default() }).await.unwrap();
        };
        let settle = async |watchers: Vec<tokio::task::JoinHandle<Result<Value, String>>>, what: &str| {
            for (k, w) in watchers.into_iter().enumerate() {
                w.await.unwrap().unwrap_or_else(|e| panic!("web process {}: {what}: {e}", k + 1));
            }
        };

        // Committed through either store, heard by both web processes, by notification.
        let watchers = all_show(&bases, 3);
        commit(&first, "LIVE", 9).await;
        settle(watchers, "a commit through the first store").await;
        let watchers = all_show(&bases, 6);
        commit(&second, "OTHER", 10).await;
        settle(watchers, "a commit through the second store").await;
        each_woken(&bases, "notify", 2.0).await;
        for base in &bases {
            assert_eq!(wakeups(base, "poll").await, 0.0, "on PostgreSQL the live view does not poll");
            // Both summaries showing a new commit say how late it reached them (seconds, same clock).
            let (_, metrics) = fetch_text(base, "/metrics").await;
            let shown = plain_sample(&metrics, "mes_live_commit_to_publish_seconds_count").unwrap_or(0.0);
            let late = plain_sample(&metrics, "mes_live_commit_to_publish_seconds_sum").unwrap_or(f64::MAX);
            assert!(shown >= 2.0 && late / shown < 5.0, "{base}: {shown} commits shown, {late} s in all: {metrics}");
        }

        // Their listening connections cut: they listen again and catch up on what they missed.
        let cut = sea_orm::sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
        );
        let mut conn = <sea_orm::sqlx::PgConnection as sea_orm::sqlx::Connection>::connect(db.url()).await.unwrap();
        assert_eq!(cut.execute(&mut conn).await.unwrap().rows_affected(), 2, "one listening connection each");
        let watchers = all_show(&bases, 9);
        commit(&first, "AGAIN", 11).await;
        settle(watchers, "a commit after the cut").await;
        each_woken(&bases, "resumed", 1.0).await;

        // The second web process restarted: it shows what was committed while it was away,
        // then what comes next.
        drop(webs.pop());
        bases.pop();
        commit(&second, "AWAY", 12).await;
        let (child, base) = spawn("web-2").await.unwrap();
        webs.push(child);
        bases.push(base);
        let watchers = all_show(&bases, 15);
        commit(&first, "BACK", 13).await;
        settle(watchers, "a commit after the restart").await;
        drop(webs);
        drop(second);
        db.cleanup(first).await;
    }
}

/// A lot code that two materials print (the phone's and the tablet's battery lots) is never
/// resolved by guessing: the API answers 400 `ambiguous_lot` naming both materials, the trace
/// page offers one link per lot, the holds form names both; with a part number each is its own
/// lot, traced and held alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lot_code_of_two_materials_is_chosen_by_the_engineer_never_guessed() {
    use mes::bench::sample_plant::TABLET_LINE;
    use mes::domain::{LotId, Material};
    use mes::store::RecordBatch;
    let db = TestDb::sqlite();
    let store = db.store().await;
    store.register_plant(&mes::bench::sample_plant::plant_model()).await.unwrap();
    let code = "BATTERY-LOT-L00001";
    let lot = |part: &str| LotId::parse(code).unwrap().of(Material::new(part, "Sunwoda Bac Giang").unwrap());
    let records = vec![
        crate::store::consuming(PHONE_LINE, "BATTERY", 1, "PH-1", "battery_lot", lot("BAT-LI-4500")),
        crate::store::consuming(TABLET_LINE, "BATTERY", 1, "TB-1", "battery_lot", lot("BAT-LI-8000")),
    ];
    store.commit(&RecordBatch { records, ..Default::default() }).await.unwrap();
    let store = Arc::new(store);
    let api = TestApi::start(store.clone()).await;

    let (status, body) = api.get(&format!("/api/v1/trace/forward?lot={code}")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("ambiguous_lot")), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("BAT-LI-4500") && message.contains("BAT-LI-8000"), "both named: {message}");
    let (status, body) = api.get(&format!("/api/v1/trace/forward?lot={code}&part_number=BAT-LI-8000")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["item"]["id"]["part_number"], "BAT-LI-8000", "answered with its material: {body}");
    assert_eq!(body["item"]["id"]["supplier"], "Sunwoda Bac Giang", "{body}");
    let units: Vec<&str> =
        body["units"].as_array().unwrap().iter().filter_map(|u| u["hit"]["serial"].as_str()).collect();
    assert_eq!(units, ["TB-1"], "{body}");

    let hold = serde_json::json!({ "lot": code, "reason": "cell swelling" });
    let (status, body) = api.post("/api/v1/holds", &hold, As::Bearer(api.token.clone())).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("ambiguous_lot")), "{body}");
    assert!(store.holds(10).await.unwrap().is_empty(), "nothing held by a guess");
    let hold = serde_json::json!({ "lot": code, "part_number": "BAT-LI-8000", "reason": "cell swelling" });
    let (status, body) = api.post("/api/v1/holds", &hold, As::Bearer(api.token.clone())).await;
    assert_eq!((status, body["placed"].as_bool()), (201, Some(true)), "{body}");
    let (_, holds) = api.get("/api/v1/holds").await;
    assert_eq!(holds[0]["target"]["id"]["part_number"], "BAT-LI-8000", "{holds}");

    // The trace page offers each lot of the code, each link naming its material.
    let (quality, csrf) = api.cookie("quality").await;
    let (status, _, page) = api.page(&format!("/trace?q={code}"), None, quality.clone()).await;
    assert_eq!(status, 200, "{page}");
    let choices = page.split("id=\"lot-choices\"").nth(1).unwrap_or_else(|| panic!("no choices: {page}"));
    for part in ["BAT-LI-4500", "BAT-LI-8000"] {
        let link = format!("part={part}&#38;supplier=Sunwoda%20Bac%20Giang\">{code} — {part} · Sunwoda Bac Giang</a>");
        assert!(choices.contains(&link), "{part}: {choices}");
    }
    let (status, _, page) = api.page(&format!("/trace?q={code}&part=BAT-LI-4500"), None, quality.clone()).await;
    assert!(status == 200 && page.contains("BAT-LI-4500 · Sunwoda Bac Giang") && page.contains("PH-1"), "{page}");
    assert!(!page.contains("TB-1"), "the phone's lot reaches no tablet: {page}");

    // The holds form names both materials rather than holding either.
    let preview = [
        ("csrf", csrf.clone()),
        ("action", "preview".to_owned()),
        ("kind", "lot".to_owned()),
        ("id", code.to_owned()),
        ("reason", "x".to_owned()),
    ];
    let refs: Vec<(&str, &str)> = preview.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, page) = api.page("/holds", Some(&refs), quality).await;
    assert!(status == 400 && page.contains("BAT-LI-4500") && page.contains("BAT-LI-8000"), "{status} {page}");
    let store = api.stop(store).await;
    db.cleanup(store).await;
}
