//! The baseline for the HTTP load benchmark: a bare axum JSON reply, on the same axum, tokio
//! and hyper as `registryo serve`.
//!
//! Run it: `cargo run --release -p registryo-benches --bin bare-axum -- 127.0.0.1:5999`
//! (`benches/http-load.sh` starts it for you).

use axum::routing::get;
use axum::{Json, Router};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5999".to_owned());
    let app = Router::new().route(
        "/",
        get(|| async { Json(serde_json::json!({"status": "ok"})) }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bare axum on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
