//! The dashboard in a real headless Chromium (Debian's `chromium`), driven over the DevTools
//! protocol: log in through the form, see every line's tile, watch a count rise without a
//! reload while records are committed, switch to Vietnamese. Screenshots are saved under
//! `target/screenshots/` for a reviewer. Without Chromium the test says so loudly (and fails
//! under CI, whose `.ci/run` installs it).

use std::io::BufRead;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use mes::domain::ids::{LineId, PlcEpoch, RecordSeq, SerialNumber, StationId};
use mes::domain::record::{RecordKey, UnitRecord, Verdict};
use mes::domain::shift::{DEFAULT_TIME_ZONE, ShiftCalendar};
use mes::domain::state::{MachineState, StateInterval};
use mes::domain::user::Role;
use mes::sample_plant::PHONE_LINE;
use mes::web::auth::{Auth, hash_password};
use mes::web::{Web, WebState};
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;

use crate::harness::TestDb;
use crate::store::sample_store;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        std::env::var_os("PATH")?.to_str()?.split(':').map(|d| PathBuf::from(d).join(name)).find(|p| p.exists())
    })
}

/// A headless Chromium with one page, spoken to over its DevTools websocket.
struct Browser {
    child: Child,
    ws: tungstenite::WebSocket<MaybeTlsStream<TcpStream>>,
    next: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch(binary: &PathBuf) -> Self {
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
    fn call(&mut self, method: &str, params: Value) -> Value {
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
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true }));
        r["result"]["value"].clone()
    }

    /// Waits until `expression` is true, printing the last value of `show` on failure.
    fn wait_for(&mut self, expression: &str, show: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.eval(expression) == Value::Bool(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("never true: {expression}; last {show} = {}", self.eval(show));
    }

    fn screenshot(&mut self, name: &str) {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let bytes = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
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
    let (store, _, _) = sample_store(&db, 9, 3, 1).await;
    let store = Arc::new(store);
    let hash = hash_password("supervisor-pw").unwrap();
    store.upsert_user("sup", &hash, Role::Supervisor, chrono::Utc::now()).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let state = WebState::new(store.clone(), ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE), Auth::with_key([3; 32]));
    let web = Web::build(listener, state, 1).unwrap();
    let base = format!("http://127.0.0.1:{}", web.port());
    let handle = web.handle();
    let server = tokio::spawn(web.run_until_stopped());

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
        let output = "document.querySelector('[data-line=\"phone-1\"] [data-f=output]').textContent";
        assert_eq!(b.eval(output), "0", "nothing packed this shift yet");
        // Mark the page: a reload would lose the mark.
        b.eval("window.__no_reload = 42; true");
        let records: Vec<UnitRecord> = (1..=4)
            .map(|k| {
                let key = RecordKey {
                    line: LineId::parse(PHONE_LINE).unwrap(),
                    station: StationId::parse("PACK").unwrap(),
                    epoch: PlcEpoch(77),
                    seq: RecordSeq(k),
                };
                UnitRecord::new(
                    key,
                    SerialNumber::parse(format!("BROWSER-{k}")).unwrap(),
                    Verdict::Pass,
                    chrono::Utc::now(),
                )
            })
            .collect();
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
        b.wait_for(
            "['down', 'running', 'idle'].join() === Array.from(document.querySelectorAll('.tile')).map(t => t.dataset.status).join()",
            "Array.from(document.querySelectorAll('.tile')).map(t => t.dataset.status).join()",
        );
        let down = b.eval("document.querySelector('[data-line=\"phone-1\"] [data-f=down]').textContent");
        assert!(down.as_str().unwrap_or_default().starts_with("FT: test fixture contact (since "), "{down}");
        let status = b.eval("document.querySelector('[data-line=\"phone-1\"] [data-f=status]').textContent");
        assert_eq!(status, "■ DOWN", "state is written out with its shape, not colour alone");
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
        b.screenshot("overview-vi.png");
    })
    .await
    .unwrap();
    handle.stop(true).await;
    server.await.unwrap().unwrap();
}
