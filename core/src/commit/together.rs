//! Work that arrives together, done together: the requests waiting are
//! taken as one batch whenever one of a few lanes is free, and handed to
//! one function that does them all (one statement for many, on PostgreSQL).
//! Alone, a request is done at once, by a batch of one; under load, those
//! that arrive while every lane is busy go together in the next. Each
//! caller is answered with its own result.

use std::future::Future;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

struct Item<I, O> {
    input: I,
    answer: oneshot::Sender<anyhow::Result<O>>,
}

/// A queue of `I`s, each answered with an `O`.
pub struct Together<I, O> {
    queue: mpsc::Sender<Item<I, O>>,
    what: &'static str,
}

impl<I, O> Clone for Together<I, O> {
    fn clone(&self) -> Self {
        Together {
            queue: self.queue.clone(),
            what: self.what,
        }
    }
}

impl<I, O> std::fmt::Debug for Together<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Together({})", self.what)
    }
}

impl<I: Send + 'static, O: Send + 'static> Together<I, O> {
    /// Starts the task that takes the batches (it ends when the last handle
    /// is dropped): at most `max` requests a batch, `lanes` batches at once.
    /// `run` is given a batch and answers each of its requests, in order.
    pub fn start<F, Fut>(what: &'static str, lanes: usize, max: usize, run: F) -> Together<I, O>
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<anyhow::Result<O>>> + Send + 'static,
    {
        let (queue, waiting) = mpsc::channel(4 * max);
        tokio::spawn(take_in_turn(waiting, lanes, max, Arc::new(run)));
        Together { queue, what }
    }

    /// Does `input` with the others waiting; answers once its batch is done.
    pub async fn ask(&self, input: I) -> anyhow::Result<O> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send(Item { input, answer })
            .await
            .map_err(|_| anyhow::anyhow!("the {} have stopped", self.what))?;
        answered
            .await
            .map_err(|_| anyhow::anyhow!("the {} stopped before answering", self.what))?
    }

    /// Requests waiting for a lane.
    pub fn waiting(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

/// Takes what is waiting, up to `max`, whenever a lane is free.
async fn take_in_turn<I, O, F, Fut>(
    mut waiting: mpsc::Receiver<Item<I, O>>,
    lanes: usize,
    max: usize,
    run: Arc<F>,
) where
    I: Send + 'static,
    O: Send + 'static,
    F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<anyhow::Result<O>>> + Send + 'static,
{
    let lanes = Arc::new(Semaphore::new(lanes.max(1)));
    let mut batch = Vec::with_capacity(max);
    loop {
        let Ok(lane) = lanes.clone().acquire_owned().await else {
            return;
        };
        if waiting.recv_many(&mut batch, max).await == 0 {
            return;
        }
        let (inputs, answers): (Vec<I>, Vec<_>) = batch
            .drain(..)
            .map(|item| (item.input, item.answer))
            .unzip();
        let run = run.clone();
        tokio::spawn(async move {
            let mut results = run(inputs).await.into_iter();
            for answer in answers {
                let result = results
                    .next()
                    .unwrap_or_else(|| Err(anyhow::anyhow!("the batch left this request out")));
                let _ = answer.send(result);
            }
            drop(lane);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn requests_waiting_for_a_lane_go_together_and_each_gets_its_answer() {
        let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (release, held) = tokio::sync::watch::channel(false);
        let seen = batches.clone();
        let doubled = Together::start("doublers", 1, 8, move |inputs: Vec<u32>| {
            seen.lock().expect("lock").push(inputs.len());
            let mut held = held.clone();
            async move {
                // The first batch holds the only lane until released.
                let _ = held.wait_for(|go| *go).await;
                inputs
                    .into_iter()
                    .map(|n| {
                        anyhow::ensure!(n != 7, "no sevens");
                        Ok(n * 2)
                    })
                    .collect()
            }
        });
        let first = tokio::spawn({
            let d = doubled.clone();
            async move { d.ask(1).await }
        });
        while batches.lock().expect("lock").is_empty() {
            tokio::task::yield_now().await;
        }
        let rest: Vec<_> = (2..=20)
            .map(|n| {
                let d = doubled.clone();
                tokio::spawn(async move { d.ask(n).await })
            })
            .collect();
        while doubled.waiting() < 19 {
            tokio::task::yield_now().await;
        }
        release.send(true).expect("release");
        assert_eq!(first.await.expect("task").expect("answer"), 2);
        for (n, task) in (2..=20).zip(rest) {
            match task.await.expect("task") {
                Ok(v) => assert_eq!(v, n * 2),
                Err(e) => assert_eq!((n, e.to_string()), (7, "no sevens".to_owned())),
            }
        }
        assert_eq!(
            *batches.lock().expect("lock"),
            vec![1, 8, 8, 3],
            "one alone, then those waiting, eight at most"
        );
    }

    #[tokio::test]
    async fn a_batch_that_answers_too_few_fails_the_rest_and_never_hangs() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let short = Together::start("short", 2, 4, move |inputs: Vec<u32>| {
            counted.fetch_add(1, Ordering::Relaxed);
            async move { inputs.into_iter().skip(1).map(Ok).collect() }
        });
        // A batch of one answered nothing.
        assert!(short.ask(5).await.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
}
