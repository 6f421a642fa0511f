//! Turns at SQLite's single write lock, handed out by Tandem rather than by SQLite.
//!
//! SQLite lets one connection write at a time; a writer that finds the lock taken sleeps in its
//! busy handler (1, 2, 5, 10, 15, 20, 25... ms) and so waits far longer than the lock is held.
//! Here every write of the store first takes a turn on one lane, then uses the one writer
//! connection. Turns go in order of arrival, except that an urgent writer (a webhook whose
//! provider is waiting for our answer) goes before the others (the job worker's
//! writes, people's edits): the answer a provider waits for is never queued behind processing
//! that can lag.
//! On PostgreSQL, which has row locks, a turn is taken at once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::oneshot;

/// How long a writer waits for its turn before giving up, as SQLite's busy timeout did.
const TURN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Urgency {
    Normal,
    Urgent,
}

#[derive(Debug, Default)]
struct State {
    taken: bool,
    urgent: VecDeque<oneshot::Sender<Turn>>,
    normal: VecDeque<oneshot::Sender<Turn>>,
}

/// The lane of one SQLite database; `None` inside [`WriteLane`] on PostgreSQL.
#[derive(Debug)]
struct Lane {
    state: Mutex<State>,
    pool: AnyPool,
}

#[derive(Debug, Clone)]
pub(crate) struct WriteLane {
    lane: Option<Arc<Lane>>,
    pool: AnyPool,
    timeout: Duration,
}

/// The right to write until dropped; derefs to the pool that writes go to.
#[derive(Debug)]
pub(crate) struct Turn {
    lane: Option<Arc<Lane>>,
    pool: AnyPool,
}

impl WriteLane {
    /// One lane in front of `pool` (SQLite's single writer connection).
    pub(crate) fn serialised(pool: AnyPool) -> Self {
        Self { lane: Some(Arc::new(Lane { state: Mutex::new(State::default()), pool: pool.clone() })), pool, timeout: TURN_TIMEOUT }
    }

    /// No lane: the database orders its writers itself.
    pub(crate) fn concurrent(pool: AnyPool) -> Self {
        Self { lane: None, pool, timeout: TURN_TIMEOUT }
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Waits for this writer's turn.
    pub(crate) async fn turn(&self, urgency: Urgency) -> Result<Turn, sqlx::Error> {
        let Some(lane) = &self.lane else {
            return Ok(Turn { lane: None, pool: self.pool.clone() });
        };
        let waiting = {
            let mut state = lane.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if !state.taken {
                state.taken = true;
                return Ok(Turn { lane: Some(lane.clone()), pool: self.pool.clone() });
            }
            let (tx, rx) = oneshot::channel();
            match urgency {
                Urgency::Urgent => state.urgent.push_back(tx),
                Urgency::Normal => state.normal.push_back(tx),
            }
            rx
        };
        // A turn handed over just as the wait times out is dropped with the receiver, which
        // passes it on: the lane is never left taken by nobody.
        match tokio::time::timeout(self.timeout, waiting).await {
            Ok(Ok(turn)) => Ok(turn),
            Ok(Err(_)) | Err(_) => Err(sqlx::Error::PoolTimedOut),
        }
    }
}

impl Lane {
    /// Hands the lane to the next writer (urgent ones first), or frees it.
    fn pass(self: Arc<Self>) {
        loop {
            let next = {
                let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                match state.urgent.pop_front().or_else(|| state.normal.pop_front()) {
                    Some(next) => next,
                    None => {
                        state.taken = false;
                        return;
                    }
                }
            };
            let turn = Turn { lane: Some(self.clone()), pool: self.pool.clone() };
            match next.send(turn) {
                Ok(()) => return,
                // That writer stopped waiting: its turn must not pass the lane on a second time.
                Err(mut unclaimed) => unclaimed.lane = None,
            }
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(lane) = self.lane.take() {
            lane.pass();
        }
    }
}

impl std::ops::Deref for Turn {
    type Target = AnyPool;
    fn deref(&self) -> &AnyPool {
        &self.pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lane() -> WriteLane {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        WriteLane::serialised(pool)
    }

    #[tokio::test]
    async fn urgent_writers_go_before_the_writers_already_waiting() {
        let lane = lane().await;
        let first = lane.turn(Urgency::Normal).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, urgency) in [("normal 1", Urgency::Normal), ("normal 2", Urgency::Normal), ("urgent", Urgency::Urgent)] {
            let (lane, order) = (lane.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _turn = lane.turn(urgency).await.unwrap();
                order.lock().unwrap().push(name);
            }));
            tokio::time::sleep(Duration::from_millis(20)).await; // queued in this order
        }
        drop(first);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["urgent", "normal 1", "normal 2"]);
    }

    #[tokio::test]
    async fn a_writer_that_gave_up_does_not_keep_the_lane() {
        let lane = WriteLane { timeout: Duration::from_millis(50), ..lane().await };
        let held = lane.turn(Urgency::Normal).await.unwrap();
        let gave_up = lane.turn(Urgency::Normal).await;
        assert!(matches!(gave_up, Err(sqlx::Error::PoolTimedOut)), "{gave_up:?}");
        drop(held);
        // The lane is free again: the next writer gets it at once.
        tokio::time::timeout(Duration::from_millis(10), lane.turn(Urgency::Normal)).await.unwrap().unwrap();
    }
}
