//! Who is asking: passwords (argon2), session tokens (a bearer token for the API, the same
//! token in an HttpOnly, SameSite=Strict cookie for pages), CSRF tokens for cookie-borne
//! writes, and a login rate limit per client address.
//!
//! A token is `base64url(claims).base64url(HMAC-SHA256(key, claims))` naming a session row in
//! the store. The signature turns away forged tokens without touching the store; the row says
//! whether the session still stands: logging out ends it, a password change or a disabled user
//! ends all of the user's, and the user's role is read from the store, not the token. Several
//! web processes sharing one key (the `web-secret.key` file in the data folder) and one store
//! accept each other's sessions and see each other's logouts. A process re-reads a session at
//! most [`SESSION_RECHECK`] after it last did (its own logouts take effect at once), so an
//! ended session stops working everywhere within that. Sessions expire after [`SESSION_HOURS`].
//!
//! Must never: log or echo a password or a token; accept an unsigned, expired or ended session.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::WebState;
use super::error::ApiError;
use crate::domain::user::Role;
use crate::store::{Store, StoreError};

/// How long a login lasts.
pub const SESSION_HOURS: i64 = 12;
/// The session cookie's name.
pub const COOKIE: &str = "mes_session";
/// Login attempts allowed per client address per minute.
pub const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 10;
/// How long a process trusts what it last read of a session before reading it again.
pub const SESSION_RECHECK: Duration = Duration::from_secs(1);
/// Sessions (and login addresses) a process remembers before it forgets the oldest.
const REMEMBERED: usize = 10_000;

/// Hashes a password with argon2id and a fresh salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::PasswordHasher;
    argon2::Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Whether `password` matches the stored PHC `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Claims {
    /// User name.
    u: String,
    /// Role at login (the store's current role is what counts).
    r: Role,
    /// Expiry, Unix seconds.
    exp: i64,
    /// Session id: the row in the store's `sessions`.
    s: String,
}

/// What a process last read of a session.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    /// The user and current role, if the session stood.
    live: Option<(String, Role)>,
}

/// The signing key, the login limiter and the sessions recently read, of a web process.
pub struct Auth {
    mac: Hmac<Sha256>,
    attempts: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    seen: Mutex<HashMap<String, Seen>>,
}

/// A token just issued, and the session it names.
#[derive(Clone)]
pub struct Issued {
    /// The bearer token (and cookie value).
    pub token: String,
    /// The session id to record in the store.
    pub session: String,
    /// When it expires.
    pub expires_at: chrono::DateTime<Utc>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth { key: <secret> }")
    }
}

impl Auth {
    /// With a given key (tests).
    pub fn with_key(key: [u8; 32]) -> Self {
        let mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(&key) {
            Ok(mac) => mac,
            // HMAC accepts keys of any length.
            Err(_) => unreachable!("HMAC refused a 32-byte key"),
        };
        Self { mac, attempts: Mutex::new(HashMap::new()), seen: Mutex::new(HashMap::new()) }
    }

    /// With the key in `path`, made (random, owner-only) on first use so every web process on
    /// this data folder shares it.
    pub fn from_key_file(path: &Path) -> std::io::Result<Self> {
        if let Ok(bytes) = std::fs::read(path)
            && let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice())
        {
            return Ok(Self::with_key(key));
        }
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_private(path, &key)?;
        Ok(Self::with_key(key))
    }

    fn mac(&self, purpose: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(purpose);
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// A token for a new session of `user` with `role`, valid for [`SESSION_HOURS`] (the
    /// session must be recorded in the store before the token is handed out: [`Auth::login`]).
    pub fn issue(&self, user: &str, role: Role) -> Issued {
        let expires_at = Utc::now() + chrono::Duration::hours(SESSION_HOURS);
        let mut id = [0u8; 16];
        rand::fill(&mut id);
        let session = B64.encode(id);
        let claims = Claims { u: user.to_owned(), r: role, exp: expires_at.timestamp(), s: session.clone() };
        let body = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let sig = B64.encode(self.mac(b"session:", body.as_bytes()));
        Issued { token: format!("{body}.{sig}"), session, expires_at }
    }

    /// A new session of `user`, recorded in `store`: its token.
    pub async fn login(&self, store: &Store, user: &str, role: Role) -> Result<Issued, StoreError> {
        let issued = self.issue(user, role);
        store.create_session(&issued.session, user, Utc::now(), issued.expires_at).await?;
        Ok(issued)
    }

    /// What a token claims, if it is signed by this key and not expired (whether its session
    /// still stands is [`Auth::check`]'s question).
    pub fn verify(&self, token: &str) -> Option<Session> {
        let (body, sig) = token.split_once('.')?;
        let sig = B64.decode(sig).ok()?;
        let mut mac = self.mac.clone();
        mac.update(b"session:");
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).ok()?;
        let claims: Claims = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
        (claims.exp > Utc::now().timestamp()).then(|| Session {
            user: claims.u,
            role: claims.r,
            csrf: B64.encode(&self.mac(b"csrf:", body.as_bytes())[..16]),
            from_cookie: false,
            id: claims.s,
        })
    }

    /// The session a token stands for, if it is signed, not expired, and its session still
    /// stands in `store` (read again at most [`SESSION_RECHECK`] after this process last did),
    /// with the user's role as the store has it now.
    pub async fn check(&self, store: &Store, token: &str) -> Option<Session> {
        let claimed = self.verify(token)?;
        let recent = self.lock_seen().get(&claimed.id).filter(|s| s.at.elapsed() < SESSION_RECHECK).cloned();
        let live = match recent {
            Some(seen) => seen.live,
            None => match store.session(&claimed.id).await {
                Ok(row) => {
                    let live = row
                        .filter(|r| r.is_live(Utc::now()) && r.user.username == claimed.user)
                        .map(|r| (r.user.username, r.user.role));
                    self.remember(&claimed.id, live.clone());
                    live
                }
                Err(e) => {
                    // The store is away: what this process last knew stands until it is back.
                    tracing::warn!(error = %e, "cannot read a session; using what was last read");
                    self.lock_seen().get(&claimed.id).and_then(|s| s.live.clone())
                }
            },
        };
        let (user, role) = live?;
        Some(Session { user, role, ..claimed })
    }

    /// Ends `session` (a logout), at once in this process.
    pub async fn logout(&self, store: &Store, session: &Session) -> Result<(), StoreError> {
        self.remember(&session.id, None);
        store.revoke_session(&session.id, "logged out", Utc::now()).await?;
        Ok(())
    }

    /// Forgets what this process read of `user`'s sessions (after a change that ended them),
    /// so they are read again at once.
    pub fn forget_user(&self, user: &str) {
        self.lock_seen().retain(|_, seen| seen.live.as_ref().is_none_or(|(u, _)| u != user));
    }

    fn lock_seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn remember(&self, id: &str, live: Option<(String, Role)>) {
        let mut seen = self.lock_seen();
        if seen.len() >= REMEMBERED {
            seen.retain(|_, s| s.at.elapsed() < SESSION_RECHECK);
            if seen.len() >= REMEMBERED {
                seen.clear();
            }
        }
        seen.insert(id.to_owned(), Seen { at: Instant::now(), live });
    }

    /// Counts a login attempt from `ip`; `Err(seconds to wait)` past the limit.
    pub fn admit_login(&self, ip: IpAddr) -> Result<(), u64> {
        let mut attempts = self.attempts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if attempts.len() >= REMEMBERED {
            attempts.retain(|_, (since, _)| now.duration_since(*since) < Duration::from_secs(60));
        }
        let entry = attempts.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > LOGIN_ATTEMPTS_PER_MINUTE {
            return Err(60u64.saturating_sub(now.duration_since(entry.0).as_secs()).max(1));
        }
        Ok(())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// A signed-in user, from `Authorization: Bearer …` or the session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// User name.
    pub user: String,
    /// Role.
    pub role: Role,
    /// The CSRF token forms of this session must carry.
    pub csrf: String,
    /// Whether it came from the cookie (a write must then carry the CSRF token).
    pub from_cookie: bool,
    /// The session's id in the store.
    pub id: String,
}

impl Session {
    /// Refuses roles that may not place or release holds.
    pub fn require_hold_rights(&self) -> Result<(), ApiError> {
        if self.role.may_hold() {
            Ok(())
        } else {
            Err(ApiError::Forbidden { message: format!("role {} may not place or release holds", self.role.as_str()) })
        }
    }

    /// Refuses roles that may not read the audit ledger.
    pub fn require_audit_rights(&self) -> Result<(), ApiError> {
        if self.role.may_audit() {
            Ok(())
        } else {
            Err(ApiError::Forbidden { message: format!("role {} may not read the audit ledger", self.role.as_str()) })
        }
    }

    /// A cookie-borne write must carry this session's CSRF token (header `X-CSRF-Token` or
    /// form field `csrf`); bearer-token calls are not exposed to CSRF.
    pub fn check_csrf(&self, req: &HttpRequest, form_token: Option<&str>) -> Result<(), ApiError> {
        if !self.from_cookie {
            return Ok(());
        }
        let header = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok());
        match header.or(form_token) {
            Some(t) if constant_time_eq(t.as_bytes(), self.csrf.as_bytes()) => Ok(()),
            _ => Err(ApiError::Forbidden { message: "missing or wrong CSRF token".into() }),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token a request carries and whether it came in the cookie: `Authorization: Bearer …`
/// (the scheme in any case, RFC 9110 §11.1) first, then the session cookie. A request with an
/// `Authorization` header of another scheme carries none.
pub fn token_of(req: &HttpRequest) -> Option<(String, bool)> {
    if let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let (scheme, token) = value.to_str().ok()?.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| (token.trim().to_owned(), false));
    }
    Some((req.cookie(COOKIE)?.value().to_owned(), true))
}

/// The session of a request, if any: a token that is signed, unexpired, and whose session
/// still stands.
pub async fn session_of(req: &HttpRequest) -> Option<Session> {
    let state = req.app_data::<web::Data<WebState>>()?;
    let (token, from_cookie) = token_of(req)?;
    let session = state.auth.check(&state.store, &token).await?;
    Some(Session { from_cookie, ..session })
}

impl FromRequest for Session {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { session_of(&req).await.ok_or(ApiError::Unauthorized) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_their_key_and_unaltered() {
        let auth = Auth::with_key([7; 32]);
        let token = auth.issue("qe1", Role::Quality).token;
        let s = auth.verify(&token).unwrap();
        assert_eq!((s.user.as_str(), s.role), ("qe1", Role::Quality));
        assert_ne!(s.id, auth.verify(&auth.issue("qe1", Role::Quality).token).unwrap().id, "a session per login");
        assert!(Auth::with_key([8; 32]).verify(&token).is_none(), "another key");
        let (body, sig) = token.split_once('.').unwrap();
        let forged = B64.encode(
            serde_json::to_vec(&Claims { u: "qe1".into(), r: Role::Admin, exp: i64::MAX, s: s.id.clone() }).unwrap(),
        );
        assert!(auth.verify(&format!("{forged}.{sig}")).is_none(), "claims changed");
        assert!(auth.verify(body).is_none() && auth.verify("").is_none() && auth.verify("a.b").is_none());
    }

    #[test]
    fn passwords_hash_with_a_salt_and_verify() {
        let a = hash_password("s3cret").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, hash_password("s3cret").unwrap(), "fresh salt each time");
        assert!(verify_password("s3cret", &a));
        assert!(!verify_password("S3cret", &a) && !verify_password("s3cret", "not a hash"));
    }

    #[test]
    fn logins_are_limited_per_address_per_minute() {
        let auth = Auth::with_key([1; 32]);
        let ip: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..LOGIN_ATTEMPTS_PER_MINUTE {
            assert!(auth.admit_login(ip).is_ok());
        }
        assert!(auth.admit_login(ip).is_err());
        assert!(auth.admit_login([127, 0, 0, 2].into()).is_ok(), "another address is not limited");
    }
}
