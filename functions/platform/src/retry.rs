//! Optimistic concurrency, written once. Every read-decide-write in the handlers follows the same
//! shape: read a row with its version (or whatever the write will be guarded on), decide in the
//! domain crate, write guarded on what was read; a guard that refuses means another request wrote
//! first, so read again and decide again. [`optimistic`] runs that loop with one bound for all.

use crate::{Error, Result};

/// How many times a read-decide-write is tried before the request gives up. Each refusal means a
/// concurrent writer of the same row committed in between; eight in a row is a hot row, not bad
/// luck, and the caller answers with an error rather than spin.
pub const ATTEMPTS: u32 = 8;

/// One attempt's result.
#[derive(Debug)]
pub enum Attempt<T> {
    /// The guarded write went through (or nothing needed writing): this is the answer.
    Done(T),
    /// The guard refused: read again and decide again.
    Again,
}

/// Runs `attempt` (given its 0-based number) until it is [`Attempt::Done`] or has been refused
/// [`ATTEMPTS`] times, then answers `contended()`. An error from an attempt ends the loop.
pub async fn optimistic<T>(
    contended: impl FnOnce() -> Error,
    mut attempt: impl AsyncFnMut(u32) -> Result<Attempt<T>>,
) -> Result<T> {
    for n in 0..ATTEMPTS {
        if let Attempt::Done(value) = attempt(n).await? {
            return Ok(value);
        }
    }
    Err(contended())
}

/// The usual answer when the loop gives up: an internal error naming what stayed contended.
pub fn contended(what: impl std::fmt::Display) -> impl FnOnce() -> Error {
    move || Error::internal(format!("{what} stayed contended after {ATTEMPTS} attempts"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        // The futures here never wait on anything: one poll completes them.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("pending"),
        }
    }

    #[test]
    fn the_first_write_that_goes_through_is_the_answer() {
        let mut seen = Vec::new();
        let out = block_on(optimistic(contended("row"), async |n| {
            seen.push(n);
            Ok(if n == 2 {
                Attempt::Done("written")
            } else {
                Attempt::Again
            })
        }));
        assert_eq!(out.unwrap(), "written");
        assert_eq!(seen, vec![0, 1, 2]);
    }

    #[test]
    fn a_row_that_stays_contended_gives_up_after_the_bound() {
        let mut tries = 0;
        let out: Result<()> = block_on(optimistic(contended("lead x"), async |_| {
            tries += 1;
            Ok(Attempt::Again)
        }));
        assert_eq!(tries, ATTEMPTS);
        match out {
            Err(Error::Internal(i)) => {
                assert_eq!(i.message(), "lead x stayed contended after 8 attempts")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_error_ends_the_loop_at_once() {
        let mut tries = 0;
        let out: Result<()> = block_on(optimistic(contended("row"), async |_| {
            tries += 1;
            Err(Error::internal("d1 down"))
        }));
        assert_eq!(tries, 1);
        assert!(matches!(out, Err(Error::Internal(i)) if i.message() == "d1 down"));
    }
}
