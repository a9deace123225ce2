//! Every page a Vietnamese user opens is in Vietnamese: no English word of the pages' own word
//! table, and no English name of the plant's master data (lines, stations, products, defects,
//! downtime reasons), is left on it. Codes and serials (`MISSING_COMPONENT`, `PH1-0000001`,
//! `OEE`) are not words and pass. Left out: `/api`, the reference drawn from the OpenAPI
//! document, whose descriptions are English only (a known gap).

use std::collections::BTreeSet;
use std::sync::Arc;

use mes::bench::sample_plant::plant_model;
use mes::domain::user::Role;
use mes::present::i18n::Lang;
use mes::web::auth::hash_password;
use serde_json::Value;

use crate::api::TestApi;
use crate::harness::TestDb;
use crate::store::sample_store;

/// The lower-case words of every string in `value`.
fn words_of(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => out.extend(words(s)),
        Value::Array(a) => a.iter().for_each(|v| words_of(v, out)),
        Value::Object(o) => o.values().for_each(|v| words_of(v, out)),
        _ => {}
    }
}

/// Words of a text, lower-case; codes (with a digit, `_` or `-`, or all capitals) are left out.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .filter(|t| t.chars().count() >= 3)
        .filter(|t| !t.chars().any(|c| c.is_ascii_digit() || c == '_' || c == '-'))
        .filter(|t| !t.chars().all(|c| c.is_uppercase()))
        .map(str::to_lowercase)
        .collect()
}

/// `html` without its `<tag …>…</tag>` blocks.
fn without(html: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut kept = String::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        kept.push_str(&rest[..start]);
        rest = rest[start..].find(&close).map_or("", |end| &rest[start + end + close.len()..]);
    }
    kept.push_str(rest);
    kept
}

/// The text a reader sees: no scripts, styles, code (identifiers, commands) or tags; the common
/// entities decoded.
fn visible_text(html: &str) -> String {
    let html = without(&without(&without(html, "script"), "style"), "code");
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&#38;", "&").replace("&amp;", "&").replace("&#34;", "\"").replace("&#39;", "'")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vietnamese_pages_show_no_english_word() {
    // English words: the pages' English words and the plant's English names, less any word the
    // Vietnamese side uses too ("SMT", "camera", "servo").
    let plant = plant_model();
    let mut english = BTreeSet::new();
    words_of(&serde_json::to_value(Lang::En.words()).unwrap(), &mut english);
    let mut vietnamese = BTreeSet::new();
    words_of(&serde_json::to_value(Lang::Vi.words()).unwrap(), &mut vietnamese);
    // Every name of the plant as (English, Vietnamese).
    let names = plant
        .lines
        .iter()
        .map(|l| (&l.name, l.name_vi.as_ref()))
        .chain(plant.lines.iter().flat_map(|l| &l.stations).map(|s| (&s.name, s.name_vi.as_ref())))
        .chain(plant.products.iter().map(|p| (&p.name, p.name_vi.as_ref())))
        .chain(plant.defects.iter().chain(&plant.repair_actions).map(|d| (&d.name, d.name_vi.as_ref())))
        .chain(plant.fault_reasons.iter().map(|r| (&r.reason, Some(&r.name_vi))));
    for (en, vi) in names {
        english.extend(words(en));
        vietnamese.extend(vi.iter().flat_map(|n| words(n)));
    }
    // English words are ASCII ("Tiếng Việt" is on the English pages as the other language).
    let english: BTreeSet<String> = english.difference(&vietnamese).filter(|w| w.is_ascii()).cloned().collect();
    assert!(english.contains("output") && english.contains("bridge"), "{english:?}");

    let db = TestDb::sqlite();
    // Enough phones that some fail a test and are repaired.
    let (store, plant, records) = sample_store(&db, 4, 40, 0).await;
    let repaired = records.iter().find(|r| r.repair_action.is_some()).expect("a repaired phone");
    let store = Arc::new(store);
    let api = TestApi::start(store.clone()).await;
    // A user whose name is no English word, with every page open to them.
    let hash = hash_password("nguyen-van-a").unwrap();
    store.upsert_user("nguyen", &hash, Role::Admin, chrono::Utc::now()).await.unwrap();
    let token = api.login("nguyen", "nguyen-van-a").await;
    let (phone, board) = plant.truth.product_board.iter().next().expect("a phone");
    let reel = plant.truth.board_reels[board].keys().next().expect("a reel").clone();
    store
        .place_hold(
            &mes::domain::hold::HoldTarget::Lot(mes::domain::LotId::parse(reel.clone()).unwrap()),
            "kiểm tra",
            "nguyen",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let pages = [
        "/".to_owned(),
        "/lines/phone-1".to_owned(),
        "/lines/smt-1".to_owned(),
        format!("/trace?q={phone}"),
        format!("/trace?q={reel}"),
        format!("/trace?q={}", repaired.serial),
        "/holds".to_owned(),
        "/kpi?line=phone-1&from=2026-11-22&to=2026-11-26".to_owned(),
        "/kpi?line=smt-1&from=2026-11-22&to=2026-11-26&by=day".to_owned(),
        "/reports".to_owned(),
        "/audit".to_owned(),
        "/api".to_owned(),
    ];
    let page = async |path: &str, lang: &str| {
        let (url, cookie) = (format!("{}{path}", api.base), format!("mes_session={token}; mes_lang={lang}"));
        let (status, body) = tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let mut r = agent.get(&url).header("Cookie", &cookie).call().unwrap();
            (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
        })
        .await
        .unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains(&format!("lang=\"{lang}\"")), "{path} is the page in {lang}");
        body
    };
    let english_left = async |path: &str, lang: &str| {
        words(&visible_text(&page(path, lang).await))
            .into_iter()
            .filter(|w| english.contains(w))
            .collect::<BTreeSet<String>>()
    };
    // The API reference reads in Vietnamese, identifiers kept as code.
    let reference = page("/api", "vi").await;
    assert!(
        reference.contains("Đặt lệnh cách ly (vai trò chất lượng và quản trị): <code>mes hold</code>"),
        "/api in vi"
    );
    // The repair visit says what was done, in the page's language, with the code.
    let action = repaired.repair_action.as_ref().unwrap().as_str();
    let named = plant_model().repair_actions.into_iter().find(|a| a.code == action).expect("a named action");
    for (lang, name) in [("vi", named.name_vi.clone().unwrap()), ("en", named.name.clone())] {
        let body = page(&format!("/trace?q={}", repaired.serial), lang).await;
        assert!(visible_text(&body).contains(&format!("{name} ({action})")), "{lang}: {action} as {name:?}");
    }
    // The check sees English where there is some: the English overview is full of it.
    let control = english_left("/", "en").await;
    assert!(control.len() > 10 && control.contains("output"), "{control:?}");
    let mut found = Vec::new();
    for path in &pages {
        let left = english_left(path, "vi").await;
        if !left.is_empty() {
            found.push(format!("{path}: {left:?}"));
        }
    }
    assert!(found.is_empty(), "English words on Vietnamese pages:\n{}", found.join("\n"));
    let store = api.stop(store).await;
    db.cleanup(store).await;
}
