//! The API reference: the OpenAPI document the server serves at `/api/openapi.json`, as a page
//! a person reads behind the login (a browser following the link to the JSON gets a 401, and
//! a reader needs no tool). Drawn from the same document schemathesis checks the server
//! against, so it cannot drift from what the server does; embedded, nothing fetched.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::Value;

use super::super::WebState;
use super::{Chrome, html, page_start};

/// One operation: method and path with what it says about itself.
struct Operation {
    method: String,
    path: String,
    summary: String,
    description: String,
    /// `(name, where, required, description)`.
    parameters: Vec<(String, String, bool, String)>,
    /// The request body's schema name, if any.
    body: Option<String>,
    /// `(status, description)`.
    responses: Vec<(String, String)>,
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
        groups: operations(doc),
    };
    html(actix_web::http::StatusCode::OK, page.render())
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The document's operations grouped by their first tag, groups and operations in path order.
fn operations(doc: &Value) -> Vec<(String, Vec<Operation>)> {
    let mut groups: Vec<(String, Vec<Operation>)> = Vec::new();
    let Some(paths) = doc["paths"].as_object() else { return groups };
    for (path, item) in paths {
        let Some(item) = item.as_object() else { continue };
        for (method, op) in item {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let tag = op["tags"].get(0).map_or_else(|| "other".to_owned(), text);
            let parameters = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    (
                        text(&p["name"]),
                        text(&p["in"]),
                        p["required"].as_bool().unwrap_or(false),
                        text(&p["description"]),
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
                .map(|(status, r)| (status.clone(), text(&r["description"])))
                .collect();
            let operation = Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                summary: text(&op["summary"]),
                description: text(&op["description"]),
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
        let groups = operations(doc);
        let listed: usize = groups.iter().map(|(_, ops)| ops.len()).sum();
        let served: usize = doc["paths"].as_object().unwrap().values().map(|i| i.as_object().unwrap().len()).sum();
        assert_eq!(listed, served, "one entry per method and path");
        let release = groups.iter().flat_map(|(_, ops)| ops).find(|o| o.path == "/api/v1/holds/release").unwrap();
        assert_eq!((release.method.as_str(), release.body.as_deref()), ("POST", Some("ReleaseRequest")));
        assert!(release.responses.iter().any(|(s, _)| s == "400"));
    }
}
