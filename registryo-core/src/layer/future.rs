//! [`ResponseFuture`]: the inner service's answer, or the refusal.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;

pin_project_lite::pin_project! {
    /// The future of [`RequireRegistryToken`].
    #[project = ResponseFutureProj]
    #[allow(missing_docs)]
    pub enum ResponseFuture<F, B> {
        /// The request passed; the inner service answers.
        Inner { #[pin] future: F },
        /// The request was refused with this response.
        Refused { response: Option<Response<B>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ResponseFutureProj::Inner { future } => future.poll(cx),
            ResponseFutureProj::Refused { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}
