//! `GET /api/v1/feeds` (scope `admin`): the scheduled feeds and their
//! status ([`crate::feeds`]). Read from the running scheduler; a server
//! whose scheduler is not up yet answers from the config and state file.

use super::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::{json_response, Body};
use hyper::{Response, StatusCode};

/// `GET /api/v1/feeds` → `{"data":[{name, url, format, interval, enabled,
/// confidence, tags, tlp, transport, auth, client_certificate, max_bytes,
/// timeout, status:{…}}], "count":n}` (see [`crate::feeds::status::FeedStatus`]).
pub async fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let cfg = ctx.state.config();
    let v = blocking(move || {
        Ok(match crate::feeds::registry() {
            Some(s) => s.status_json(),
            None => crate::feeds::status_view(
                &cfg.feeds,
                &crate::feeds::status::StateFile::load(&cfg.storage.data_dir),
            ),
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &v))
}
