//! API errors: one JSON shape, `{"error": "snake_case_code", "message": "…"}`, with the HTTP
//! status that says whose fault it is. A bad parameter is a 400 naming the parameter; nothing a
//! client sends is answered with a 500.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::figures::{FiguresError, ScopeError};
use crate::store::StoreError;

/// Why a request was not answered with data.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter is missing or malformed.
    #[error("{message}")]
    BadRequest {
        /// Stable code, e.g. `bad_parameter`.
        code: &'static str,
        /// What is wrong, naming the parameter.
        message: String,
    },
    /// The thing asked about does not exist.
    #[error("{message}")]
    NotFound {
        /// Stable code, e.g. `line_not_found`.
        code: &'static str,
        /// What was not found.
        message: String,
    },
    /// No valid session or bearer token.
    #[error("log in first: POST /api/v1/auth/login, then send Authorization: Bearer TOKEN")]
    Unauthorized,
    /// Signed in, but the role may not do this (or a CSRF token is missing).
    #[error("{message}")]
    Forbidden {
        /// Why.
        message: String,
    },
    /// The resource does not serve this method.
    #[error("this resource answers {allow} only")]
    MethodNotAllowed {
        /// The methods it serves.
        allow: &'static str,
    },
    /// Too many login attempts from this address.
    #[error("too many login attempts; retry in {retry_after} s")]
    TooManyRequests {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The request asks for more than one request may cost (rows read, bytes answered): 413,
    /// naming the limit.
    #[error("{message}")]
    TooLarge {
        /// Stable code, e.g. `too_much_data`.
        code: &'static str,
        /// What is too large and the limit.
        message: String,
    },
    /// Every slot for costly work is taken and stayed taken: try again shortly.
    #[error("the server is busy with other reports; retry in {retry_after} s")]
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The server could not finish the work (it panicked, or is shutting down).
    #[error("{message}")]
    Unavailable {
        /// What failed.
        message: String,
    },
    /// The store failed: the client did nothing wrong.
    #[error("the store failed: {0}")]
    Store(StoreError),
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code for scripts.
    pub error: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// A malformed or missing parameter.
    pub fn bad(field: &str, message: impl std::fmt::Display) -> Self {
        Self::BadRequest { code: "bad_parameter", message: format!("{field}: {message}") }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::NotFound { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::TooLarge { code, .. } => code,
            ApiError::Busy { .. } => "busy",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Store(_) => "store_unavailable",
        }
    }
}

impl From<ScopeError> for ApiError {
    fn from(e: ScopeError) -> Self {
        Self::bad(e.field, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownLine { line } => {
                Self::NotFound { code: "line_not_found", message: format!("line {line:?} is not registered") }
            }
            // What a client named and the MES never recorded is the client's mistake, not the store's.
            e @ StoreError::UnknownUnit { .. } => Self::NotFound { code: "unit_not_found", message: e.to_string() },
            e @ StoreError::UnknownStation { .. } => {
                Self::NotFound { code: "station_not_found", message: e.to_string() }
            }
            e @ StoreError::UnknownProduct { .. } => {
                Self::NotFound { code: "product_not_found", message: e.to_string() }
            }
            e @ StoreError::UnknownWorkOrder { .. } => {
                Self::NotFound { code: "work_order_not_found", message: e.to_string() }
            }
            e @ StoreError::UnknownUser { .. } => Self::NotFound { code: "user_not_found", message: e.to_string() },
            // Which lot is meant is the client's to say (a part number or supplier).
            e @ StoreError::AmbiguousLot { .. } => Self::BadRequest { code: "ambiguous_lot", message: e.to_string() },
            e @ StoreError::TooMuchData { .. } => Self::TooLarge { code: "too_much_data", message: e.to_string() },
            other => Self::Store(other),
        }
    }
}

impl From<FiguresError> for ApiError {
    fn from(e: FiguresError) -> Self {
        match e {
            FiguresError::Store(s) => s.into(),
            FiguresError::Work(w) => Self::Unavailable { message: w.to_string() },
            FiguresError::UnknownStation { line, station } => {
                Self::NotFound { code: "station_not_found", message: format!("line {line} has no station {station:?}") }
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Busy { .. } | ApiError::Unavailable { .. } | ApiError::Store(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Store(e) = self {
            tracing::error!(error = %e, "API request failed in the store");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::TooManyRequests { retry_after } | ApiError::Busy { retry_after } = self {
            response.insert_header((actix_web::http::header::RETRY_AFTER, retry_after.to_string()));
        }
        if matches!(self, ApiError::Unauthorized) {
            response.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(ErrorBody { error: self.code(), message: self.to_string() })
    }
}
