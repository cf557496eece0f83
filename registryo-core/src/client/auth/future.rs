//! The response future of [`RegistryAuth`](super::RegistryAuth).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;

use crate::client::error::RegistryError;

type Inner = Pin<Box<dyn Future<Output = Result<Response<Bytes>, RegistryError>> + Send>>;

/// The future of an authenticated request: one or two round trips to the registry.
pub struct ResponseFuture {
    inner: Inner,
}

impl ResponseFuture {
    pub(crate) fn new(
        future: impl Future<Output = Result<Response<Bytes>, RegistryError>> + Send + 'static,
    ) -> ResponseFuture {
        ResponseFuture {
            inner: Box::pin(future),
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Bytes>, RegistryError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
