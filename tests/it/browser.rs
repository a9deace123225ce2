//! The dashboard in a real headless Chromium (Debian's `chromium`), driven over the DevTools
//! protocol: log in through the form, see every line's tile, watch a count rise without a
//! reload while records are committed, switch to Vietnamese, open a line's page, search a
//! phone serial and see its PCBA and reels, and keep the page live across a server restart.
//! Screenshots are saved under `target/screenshots/` for a reviewer. Without Chromium the test
//! says so loudly (and fails under CI, whose `.ci/run` installs it).

use std::io::BufRead;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use mes::bench::sample_plant::PHONE_LINE;
use mes::domain::ids::{LineId, StationId};
use mes::domain::shift::{DEFAULT_TIME_ZONE, ShiftCalendar};
use mes::domain::state::{MachineState, StateInterval};
use mes::domain::user::Role;
use mes::web::auth::{Auth, hash_password};
use mes::web::{Web, WebState};
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;

use crate::harness::TestDb;
use crate::store::sample_store;

pub(crate) fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        std::env::var_os("PATH")?.to_str()?.split(':').map(|d| PathBuf::from(d).join(name)).find(|p| p.exists())
    })
}

/// A headless Chromium with one page, spoken to over its DevTools websocket.
pub(crate) struct Browser {
    child: Child,
    ws: tungstenite::WebSocket<MaybeTlsStream<TcpStream>>,
    next: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub(crate) fn launch(binary: &PathBuf) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--window-size=1920,1080",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut port = None;
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                port = rest.split('/').next().and_then(|p| p.parse::<u16>().ok());
                break;
            }
        }
        let port = port.expect("chromium printed its DevTools address");
        let list = ureq::get(&format!("http://127.0.0.1:{port}/json/list")).call().unwrap().body_mut().read_to_string();
        let targets: Value = serde_json::from_str(&list.unwrap()).unwrap();
        let page = targets.as_array().unwrap().iter().find(|t| t["type"] == "page").expect("a page target");
        let (ws, _) = tungstenite::connect(page["webSocketDebuggerUrl"].as_str().unwrap()).unwrap();
        Self { child, ws, next: 0, _profile: profile }
    }

    /// One DevTools call; events in between are skipped.
    pub(crate) fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params).unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// One DevTools call, its error (the whole reply) returned rather than a panic.
    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next += 1;
        let id = self.next;
        self.ws
            .send(tungstenite::Message::text(json!({ "id": id, "method": method, "params": params }).to_string()))
            .unwrap();
        loop {
            let msg = self.ws.read().unwrap();
            let Ok(text) = msg.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if v["id"] == id {
                return if v["error"].is_null() { Ok(v["result"].clone()) } else { Err(v) };
            }
        }
    }

    fn try_eval(&mut self, expression: &str) -> Result<Value, Value> {
        let r = self.try_call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true }))?;
        Ok(r["result"]["value"].clone())
    }

    pub(crate) fn eval(&mut self, expression: &str) -> Value {
        self.try_eval(expression).unwrap_or_else(|e| panic!("Runtime.evaluate: {e}"))
    }

    /// Waits until `expression` is true, printing the last value of `show` on failure.
    /// An evaluation that fails because the page is navigating away (a click on a link
    /// was just made) is asked again: the page being waited for is the next one.
    pub(crate) fn wait_for(&mut self, expression: &str, show: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last_error = None;
        while Instant::now() < deadline {
            match self.try_eval(expression) {
                Ok(Value::Bool(true)) => return,
                Ok(_) => {}
                Err(e) => last_error = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let last = self.try_eval(show).unwrap_or_else(|e| e);
        panic!("never true: {expression}; last {show} = {last}; last DevTools error: {last_error:?}");
    }

    /// Saves what the screen shows (`full`: the whole page, scrolled parts too).
    pub(crate) fn screenshot_of(&mut self, name: &str, full: bool) {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png", "captureBeyondViewport": full }));
        let bytes = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    pub(crate) fn screenshot(&mut self, name: &str) {
        self.screenshot_of(name, false);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_logs_in_watches_output_rise_live_and_switches_to_vietnamese() {
    let Some(binary) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium is not installed: the browser test cannot run"
        );
        eprintln!("\n*** browser test SKIPPED: chromium is not installed (apt-get install chromium) ***\n");
        return;
    };
    let db = TestDb::sqlite();
    let (store, _, history) = sample_store(&db, 9, 3, 1).await;
    // A phone of the history, its PCBA, and the reels placed on that board.
    let loaded = history
        .iter()
        .find(|r| r.key().line.as_str() == PHONE_LINE && r.key().station.as_str() == "LOAD")
        .expect("a phone was loaded");
    let phone = loaded.serial.to_string();
    let pcba = loaded.consumed[0].item.id().to_owned();
    let reels: Vec<String> = history
        .iter()
        .filter(|r| r.serial.as_str() == pcba)
        .flat_map(|r| r.consumed.iter().map(|c| c.item.id().to_owned()))
        .collect();
    assert!(!reels.is_empty(), "the board {pcba} was placed from reels");
    let store = Arc::new(store);
    let hash = hash_password("supervisor-pw").unwrap();
    store.upsert_user("sup", &hash, Role::Supervisor, chrono::Utc::now()).await.unwrap();
    let serve = |store: Arc<mes::store::Store>, port: u16| {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        // The same key: sessions survive the restart, as they do across web processes.
        let state = WebState::new(store, ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE), Auth::with_key([3; 32]));
        let web = Web::build(listener, state, 1).unwrap();
        let port = web.port();
        let handle = web.handle();
        (port, handle, tokio::spawn(web.run_until_stopped()))
    };
    let (port, handle, server) = serve(store.clone(), 0);
    let base = format!("http://127.0.0.1:{port}");

    let base2 = base.clone();
    let store2 = store.clone();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut b = Browser::launch(&binary);
        b.call("Page.enable", json!({}));
        b.call("Page.navigate", json!({ "url": format!("{base2}/") }));
        // Anonymous: the login page.
        b.wait_for("location.pathname === '/login' && document.readyState === 'complete'", "location.href");
        b.screenshot("login.png");
        b.eval(
            "document.querySelector('[name=username]').value = 'sup';\
             document.querySelector('[name=password]').value = 'supervisor-pw';\
             document.querySelector('form.login').submit(); true",
        );
        b.wait_for(
            "location.pathname === '/' && document.querySelectorAll('.tile').length === 3",
            "document.body.innerText",
        );
        let names = b.eval("Array.from(document.querySelectorAll('.tile')).map(t => t.dataset.line).join(',')");
        assert_eq!(names, "phone-1,smt-1,tablet-1");
        let shown = b.eval("Array.from(document.querySelectorAll('.tile h2 a')).map(a => a.textContent).join()");
        assert_eq!(shown, "Phone final assembly 1,SMT line 1,Tablet final assembly 1");
        let output = "document.querySelector('[data-line=\"phone-1\"] [data-f=output]').textContent";
        assert_eq!(b.eval(output), "0", "nothing packed this shift yet");
        // Mark the page: a reload would lose the mark.
        b.eval("window.__no_reload = 42; true");
        let records = crate::store::packed_now("BROWSER", 4, 77);
        // The lines' states now: phone-1 running but FT in fault, smt-1 running, tablet-1 starved.
        let since = chrono::Utc::now() - chrono::Duration::minutes(7);
        let state = |line: &str, station: &str, state, reason: Option<&str>| StateInterval {
            line: LineId::parse(line).unwrap(),
            station: StationId::parse(station).unwrap(),
            started_at: since,
            ended_at: None,
            plc_code: 0,
            state,
            fault_code: reason.map(|_| 111),
            reason: reason.map(str::to_owned),
        };
        let states = vec![
            state(PHONE_LINE, "LOAD", MachineState::Running, None),
            state(PHONE_LINE, "FT", MachineState::Fault, Some("test fixture contact")),
            state("smt-1", "PNP", MachineState::Running, None),
            state("tablet-1", "LOAD", MachineState::Starved, None),
        ];
        let batch = mes::store::RecordBatch { records, state_intervals: states, ..Default::default() };
        rt.block_on(store2.commit(&batch)).unwrap();
        b.wait_for(&format!("{output} === '4'"), output);
        // The phone line was first watched 7 minutes ago: when the shift began earlier, its plan
        // and OEE say they count from then, in the plant's time.
        let calendar = ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE);
        let shift_start = calendar.locate(chrono::Utc::now()).map(|s| s.start);
        let label = "document.querySelector('[data-line=\"phone-1\"] [data-f=plan_label]').textContent";
        let expected = if shift_start.is_some_and(|s| s < since) {
            let at = since.with_timezone(&calendar.time_zone).format("%H:%M");
            format!("planned since first watched at {at}")
        } else {
            "planned so far this shift".to_owned()
        };
        b.wait_for(&format!("{label} === {}", json!(expected)), label);
        b.wait_for(
            "['down', 'running', 'idle'].join() === Array.from(document.querySelectorAll('.tile')).map(t => t.dataset.status).join()",
            "Array.from(document.querySelectorAll('.tile')).map(t => t.dataset.status).join()",
        );
        let down = b.eval("document.querySelector('[data-line=\"phone-1\"] [data-f=down]').textContent");
        assert!(down.as_str().unwrap_or_default().starts_with("FT: test fixture contact (since "), "{down}");
        let status = b.eval("document.querySelector('[data-line=\"phone-1\"] [data-f=status]').textContent");
        assert_eq!(status, "■ DOWN", "state is written out with its shape, not colour alone");
        // At 3 m: why a line is down is as large as its figures; a line with nothing down shows
        // no "down" colour.
        let mut size = |line: &str, what: &str| {
            b.eval(&format!(
                "parseFloat(getComputedStyle(document.querySelector('[data-line=\"{line}\"] {what}')).fontSize)"
            ))
            .as_f64()
            .unwrap()
        };
        let (reason, figure) = (size("phone-1", "[data-f=down]"), size("phone-1", "[data-f=fpy]"));
        assert!(reason >= figure, "the reason ({reason} px) is at least as large as a figure ({figure} px)");
        let calm = b.eval(
            "Array.from(document.querySelectorAll('.tile')).filter(t => t.dataset.line !== 'phone-1')\
             .map(t => getComputedStyle(t.querySelector('[data-f=down]')).color).join()",
        );
        assert!(!calm.as_str().unwrap().contains("rgb(255, 138, 76)"), "nothing down, no down colour: {calm}");
        assert_eq!(b.eval("window.__no_reload"), 42, "the count rose without a reload");
        b.screenshot("overview-en.png");
        // Vietnamese: words and number format follow.
        b.eval("document.querySelector('a[href^=\"/lang/vi\"]').click(); true");
        b.wait_for(
            "document.documentElement.lang === 'vi' && document.querySelectorAll('.tile').length === 3",
            "document.documentElement.lang",
        );
        let text = b.eval("document.body.innerText").as_str().unwrap_or_default().to_owned();
        assert!(text.contains("Sản lượng") && text.contains("Dây chuyền"), "{text}");
        // Master data in Vietnamese too: the lines' and stations' names from the plant model.
        let tile_names = "Array.from(document.querySelectorAll('.tile h2 a')).map(a => a.textContent).join()";
        assert_eq!(b.eval(tile_names), "Lắp ráp điện thoại 1,Dây chuyền SMT 1,Lắp ráp máy tính bảng 1");
        b.screenshot("overview-vi.png");
        b.eval("location.href = '/lines/phone-1'; true");
        b.wait_for("location.pathname === '/lines/phone-1' && document.querySelectorAll('.route li').length > 0", "location.href");
        let route = b.eval("document.querySelector('.route').innerText").as_str().unwrap_or_default().to_owned();
        for name in ["Nạp bo mạch PCBA", "Lắp màn hình", "Kiểm tra chức năng", "Kiểm tra cuối và đóng gói"] {
            assert!(route.contains(name), "{name} on the Vietnamese route: {route}");
        }
        assert!(!route.contains("Functional test"), "no English station name on the Vietnamese page: {route}");
        assert!(route.contains("lỗi tiếp xúc đồ gá kiểm tra"), "the fault's reason in Vietnamese: {route}");
        assert!(!route.contains("test fixture contact"), "no English reason on the Vietnamese page: {route}");
        b.eval("location.href = '/'; true");
        b.wait_for("location.pathname === '/' && document.querySelectorAll('.tile').length === 3", "location.href");
        b.eval("document.querySelector('a[href^=\"/lang/en\"]').click(); true");
        b.wait_for("document.documentElement.lang === 'en' && document.querySelectorAll('.tile').length === 3", "document.documentElement.lang");

        // The line page: the route in order with each station's state, the charts, the fault.
        b.eval("document.querySelector('.tile[data-line=\"phone-1\"] h2 a').click(); true");
        b.wait_for("location.pathname === '/lines/phone-1' && document.querySelectorAll('.route li').length > 0", "location.href");
        let route = b.eval("Array.from(document.querySelectorAll('.route li')).map(l => l.dataset.station).join()");
        assert_eq!(route, "phone-1/LOAD,phone-1/DISPLAY,phone-1/BATTERY,phone-1/SCREW,phone-1/FT,phone-1/RF,phone-1/PACK");
        let ft = "document.querySelector('[data-station=\"phone-1/FT\"]')";
        assert_eq!(b.eval(&format!("{ft}.dataset.state")), "fault");
        assert_eq!(b.eval(&format!("{ft}.querySelector('[data-f=reason]').textContent")), "test fixture contact");
        assert_eq!(
            b.eval("Array.from(document.querySelectorAll('#charts svg')).map(s => s.getAttribute('aria-label')).join()"),
            "output per hour,machine states",
            "no defects this shift: said in words, not drawn"
        );
        assert_eq!(
            b.eval("document.querySelector('#charts svg[aria-label=\"machine states\"] rect[fill=\"#D55E00\"]') !== null"),
            true,
            "the fault is on the timeline"
        );
        b.screenshot_of("line.png", true);
        // On a 1080p wall screen the whole line page (tile, route, charts, timeline) fits
        // without scrolling.
        let tall = b.eval("document.documentElement.scrollHeight").as_f64().unwrap();
        let wide = b.eval("window.innerWidth").as_f64().unwrap();
        assert!(wide < 1600.0 || tall <= 1080.0, "the line page is {tall} px tall at {wide} px wide");

        // Trace search: the phone's PCBA and the board's reels.
        b.eval("document.querySelector('a[href=\"/trace\"]').click(); true");
        b.wait_for("location.pathname === '/trace' && document.querySelector('[name=q]') !== null", "location.href");
        b.eval(&format!(
            "document.querySelector('[name=q]').value = {}; document.querySelector('form[role=search]').submit(); true",
            json!(phone)
        ));
        b.wait_for("document.querySelector('#tree') !== null", "document.body.innerText");
        let items = b.eval("Array.from(document.querySelectorAll('#tree li')).map(l => l.dataset.item)");
        let items: Vec<String> = items.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        assert_eq!(items[0], phone, "the phone at the root");
        assert!(items.contains(&pcba), "its PCBA {pcba}: {items:?}");
        for reel in &reels {
            assert!(items.contains(reel), "the board's reel {reel}: {items:?}");
        }
        assert!(b.eval("document.querySelectorAll('#visits tr').length").as_u64().unwrap() > 1, "visits listed");
        b.screenshot_of("trace.png", true);

        // Its certificate, from the trace page's link: the report opens as a printable page.
        let certificate = b.eval("document.querySelector('#certificate').getAttribute('href')");
        assert!(certificate.as_str().unwrap().starts_with("/api/v1/reports/trace?serial="), "{certificate}");
        b.eval("location.href = document.querySelector('#certificate').href; true");
        b.wait_for("document.querySelector('[data-f=serial]') !== null", "document.body.innerText");
        assert_eq!(b.eval("document.querySelector('[data-f=serial]').textContent"), json!(phone));
        b.screenshot_of("certificate.png", true);

        // The reports page: pick a shift report, make it; the page says it is working meanwhile.
        b.call("Page.navigate", json!({ "url": format!("{base2}/reports") }));
        b.wait_for("document.querySelector('#report-form') !== null", "document.body.innerText");
        b.eval(
            "const f = document.querySelector('#report-form'); f.kind.value = 'shift'; f.line.value = 'phone-1'; \
             f.querySelector('[type=submit]').click(); true",
        );
        b.wait_for(
            "document.querySelector('#open-report') !== null || document.querySelector('#report-error') !== null",
            "document.body.innerText",
        );
        assert_eq!(b.eval("document.querySelector('#report-error') === null"), true, "{}", b.eval("document.body.innerText"));
        assert!(b.eval("document.querySelectorAll('a.csv').length").as_u64().unwrap() >= 8, "a CSV per table");
        b.screenshot_of("reports.png", true);

        // Back to the overview; the server restarts; the page reconnects by itself.
        b.call("Page.navigate", json!({ "url": format!("{base2}/") }));
        b.wait_for("document.body.dataset.connected === 'yes'", "document.body.dataset.connected");
        b.eval("window.__no_reload = 43; true");
        rt.block_on(handle.stop(true));
        rt.block_on(server).unwrap().unwrap();
        b.wait_for("document.body.dataset.connected === 'no'", "document.body.dataset.connected");
        assert_eq!(b.eval("getComputedStyle(document.getElementById('stale')).display"), "block", "the banner says so");
        let (_, handle, server) = rt.block_on(async { serve(store2.clone(), port) });
        b.wait_for("document.body.dataset.connected === 'yes'", "document.body.dataset.connected");
        let before = b.eval("document.body.dataset.updated");
        rt.block_on(store2.commit(&mes::store::RecordBatch {
            records: crate::store::packed_now("AFTER-RESTART", 2, 78),
            ..Default::default()
        }))
        .unwrap();
        b.wait_for(&format!("{output} === '6'"), output);
        assert_ne!(b.eval("document.body.dataset.updated"), before);
        assert_eq!(b.eval("window.__no_reload"), 43, "live again without a reload");
        assert_eq!(b.eval("getComputedStyle(document.getElementById('stale')).display"), "none");
        rt.block_on(handle.stop(true));
        rt.block_on(server).unwrap().unwrap();
    })
    .await
    .unwrap();
}
