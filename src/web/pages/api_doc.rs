//! The API reference: the OpenAPI document the server serves at `/api/openapi.json`, as a page
//! a person reads behind the login (a browser following the link to the JSON gets a 401, and
//! a reader needs no tool). Drawn from the same document schemathesis checks the server
//! against, so it cannot drift from what the server does; embedded, nothing fetched.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::Value;

use super::super::WebState;
use super::api_doc_vi::vietnamese;
use super::{Chrome, html, page_start};
use crate::present::i18n::Lang;

/// A text of the document cut at its backticks: `(is code, part)`, so `` `line` `` shows as code.
type Said = Vec<(bool, String)>;

/// One operation: method and path with what it says about itself.
struct Operation {
    method: String,
    path: String,
    summary: Said,
    description: Said,
    /// `(name, where, required, description)`.
    parameters: Vec<(String, String, bool, Said)>,
    /// The request body's schema name, if any.
    body: Option<String>,
    /// `(status, description)`.
    responses: Vec<(String, Said)>,
}

#[derive(Template)]
#[template(path = "api_doc.html")]
struct ApiDocPage {
    c: Chrome,
    version: String,
    /// Operations by tag, in the document's order of tags.
    groups: Vec<(String, Vec<Operation>)>,
}

pub(super) async fn api_doc_page(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let (session, zone, lang) = match page_start(&req, &state, false).await {
        Ok(start) => start,
        Err(to_login) => return to_login.answer(),
    };
    let doc = super::super::openapi::document();
    let page = ApiDocPage {
        c: Chrome::new(&req, session.as_ref(), zone, lang.words().api_doc),
        version: text(&doc["info"]["version"]),
        groups: operations(doc, lang),
    };
    html(actix_web::http::StatusCode::OK, page.render())
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The document's text `v` in `lang` (the document is English; see `api_doc_vi`).
fn in_lang(v: &Value, lang: Lang) -> String {
    let english = v.as_str().unwrap_or_default();
    match lang {
        Lang::Vi if !english.is_empty() => vietnamese(english).unwrap_or(english).to_owned(),
        _ => english.to_owned(),
    }
}

/// [`in_lang`], cut at its backticks into text and code.
fn said(v: &Value, lang: Lang) -> Said {
    in_lang(v, lang)
        .split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| (i % 2 == 1, part.to_owned()))
        .collect()
}

/// A [`Said`] as plain text again (tests).
#[cfg(test)]
fn plain(said: &Said) -> String {
    said.iter().map(|(code, part)| if *code { format!("`{part}`") } else { part.clone() }).collect()
}

/// The document's operations grouped by their first tag, groups and operations in path order,
/// their words in `lang`.
fn operations(doc: &Value, lang: Lang) -> Vec<(String, Vec<Operation>)> {
    let mut groups: Vec<(String, Vec<Operation>)> = Vec::new();
    let Some(paths) = doc["paths"].as_object() else { return groups };
    for (path, item) in paths {
        let Some(item) = item.as_object() else { continue };
        for (method, op) in item {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let tag = op["tags"].get(0).map_or_else(|| "other".to_owned(), |t| in_lang(t, lang));
            let parameters = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    (
                        text(&p["name"]),
                        in_lang(&p["in"], lang),
                        p["required"].as_bool().unwrap_or(false),
                        said(&p["description"], lang),
                    )
                })
                .collect();
            let body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .map(|r| r.rsplit('/').next().unwrap_or(r).to_owned());
            let responses = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(status, r)| (status.clone(), said(&r["description"], lang)))
                .collect();
            let operation = Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                summary: said(&op["summary"], lang),
                description: said(&op["description"], lang),
                parameters,
                body,
                responses,
            };
            match groups.iter_mut().find(|(t, _)| *t == tag) {
                Some((_, ops)) => ops.push(operation),
                None => groups.push((tag, vec![operation])),
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_the_served_document_is_on_the_page() {
        let doc = super::super::super::openapi::document();
        let groups = operations(doc, Lang::En);
        let listed: usize = groups.iter().map(|(_, ops)| ops.len()).sum();
        let served: usize = doc["paths"].as_object().unwrap().values().map(|i| i.as_object().unwrap().len()).sum();
        assert_eq!(listed, served, "one entry per method and path");
        let release = groups.iter().flat_map(|(_, ops)| ops).find(|o| o.path == "/api/v1/holds/release").unwrap();
        assert_eq!((release.method.as_str(), release.body.as_deref()), ("POST", Some("ReleaseRequest")));
        assert!(release.responses.iter().any(|(s, _)| s == "400"));
    }

    #[test]
    fn every_text_of_the_served_document_reads_in_vietnamese_and_no_translation_is_stale() {
        let doc = super::super::super::openapi::document();
        let mut texts = std::collections::BTreeSet::new();
        for (tag, ops) in operations(doc, Lang::En) {
            texts.insert(tag);
            for o in ops {
                texts.extend([plain(&o.summary), plain(&o.description)]);
                texts.extend(o.parameters.into_iter().flat_map(|p| [p.1, plain(&p.3)]));
                texts.extend(o.responses.into_iter().map(|r| plain(&r.1)));
            }
        }
        texts.remove("");
        let missing: Vec<&String> = texts.iter().filter(|t| vietnamese(t).is_none()).collect();
        assert!(missing.is_empty(), "no Vietnamese in api_doc_vi for: {missing:#?}");
        let collapsed: std::collections::BTreeSet<String> =
            texts.iter().map(|t| t.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        let stale: Vec<&str> =
            super::super::api_doc_vi::VI.iter().map(|(en, _)| *en).filter(|en| !collapsed.contains(*en)).collect();
        assert!(stale.is_empty(), "translations of texts the document no longer has: {stale:#?}");
        let vi = operations(doc, Lang::Vi);
        let hold =
            vi.iter().flat_map(|(_, ops)| ops).find(|o| o.path == "/api/v1/holds" && o.method == "POST").unwrap();
        assert!(plain(&hold.summary).starts_with("Đặt lệnh cách ly"), "{:?}", hold.summary);
        assert!(hold.summary.contains(&(true, "mes hold".to_owned())), "a command shows as code: {:?}", hold.summary);
    }
}
