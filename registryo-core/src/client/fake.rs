//! A scripted registry for unit tests: a closure from request to response, and a request log.

use std::future::Ready;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_service::Service;

use super::RegistryError;

type Handler = dyn Fn(&Request<Bytes>) -> Response<Bytes> + Send + Sync;

/// Answers with `handler`; keeps every request it saw.
#[derive(Clone)]
pub(crate) struct Fake {
    handler: Arc<Handler>,
    pub(crate) seen: Arc<Mutex<Vec<Request<Bytes>>>>,
}

impl Fake {
    pub(crate) fn new(
        handler: impl Fn(&Request<Bytes>) -> Response<Bytes> + Send + Sync + 'static,
    ) -> Fake {
        Fake {
            handler: Arc::new(handler),
            seen: Arc::default(),
        }
    }
}

impl Service<Request<Bytes>> for Fake {
    type Response = Response<Bytes>;
    type Error = RegistryError;
    type Future = Ready<Result<Response<Bytes>, RegistryError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), RegistryError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let resp = (self.handler)(&req);
        self.seen.lock().unwrap().push(req);
        std::future::ready(Ok(resp))
    }
}

/// A response with `status`, `headers` and `body`.
pub(crate) fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Bytes> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::from(body.to_owned())).unwrap()
}
