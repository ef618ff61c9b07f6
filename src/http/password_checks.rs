//! Bounds the argon2 password checks: each costs ~19 MiB and tens of milliseconds of one core, so
//! anonymous callers sending many logins at once must not be able to run them all in parallel.
//! Checks run on a few dedicated threads (one per core), so that at most that many argon2 buffers
//! exist at once; a bounded number wait; beyond that
//! a caller is told to come back (503) at once, so that memory stays bounded and the queue stays
//! short enough for a real login to get through in about a second.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

type Job = Box<dyn FnOnce() + Send>;

/// Checks waiting for a worker: priority ones (reps known at their address) go first.
#[derive(Default)]
struct Queue {
    priority: VecDeque<Job>,
    normal: VecDeque<Job>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

pub struct PasswordChecks {
    shared: Arc<Shared>,
    /// One permit per non-priority check allowed to run or wait.
    admitted: Arc<Semaphore>,
}

/// Too many checks already running or waiting.
#[derive(Debug)]
pub struct Busy;

impl PasswordChecks {
    /// `parallel` worker threads (0: one per CPU core), and up to `queued` checks waiting for them.
    pub fn new(parallel: usize, queued: usize) -> PasswordChecks {
        return_big_buffers_to_the_os();
        let parallel = match parallel {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let shared = Arc::new(Shared::default());
        for _ in 0..parallel {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("crmdav-password".into())
                .spawn(move || work(&shared))
                .expect("cannot start a password-check thread");
        }
        PasswordChecks { shared, admitted: Arc::new(Semaphore::new(parallel + queued)) }
    }

    /// A place in the queue: a `priority` check (a login already proven from this address) always
    /// gets one, ahead of the others; others are refused when the queue is full.
    pub fn admit(&self, priority: bool) -> Result<Admission, Busy> {
        let permit = match priority {
            true => None,
            false => Some(self.admitted.clone().try_acquire_owned().map_err(|_| Busy)?),
        };
        Ok(Admission { priority, permit, shared: self.shared.clone() })
    }
}

impl Drop for PasswordChecks {
    fn drop(&mut self) {
        self.shared.queue.lock().expect("password queue lock").closed = true;
        self.shared.ready.notify_all();
    }
}

fn work(shared: &Shared) {
    loop {
        let job = {
            let mut queue = shared.queue.lock().expect("password queue lock");
            loop {
                if let Some(job) = queue.priority.pop_front().or_else(|| queue.normal.pop_front()) {
                    break job;
                }
                if queue.closed {
                    return;
                }
                queue = shared.ready.wait(queue).expect("password queue lock");
            }
        };
        job();
    }
}

/// An argon2 check allocates 19 MiB and frees it. glibc serves such blocks from an arena once its
/// adaptive mmap threshold has grown past them, where they fragment and pile up (hundreds of MiB
/// under a login flood); a fixed threshold keeps them mmapped, returned to the OS on free.
fn return_big_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only sets allocator parameters (under the allocator's own lock).
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        });
    }
}

/// An admitted check, not yet queued.
pub struct Admission {
    priority: bool,
    permit: Option<OwnedSemaphorePermit>,
    shared: Arc<Shared>,
}

impl Admission {
    /// Runs `check` on a password-check thread and waits for its result.
    pub async fn run<T: Send + 'static>(self, check: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
        let (reply, result) = oneshot::channel();
        let permit = self.permit;
        // The permit moves into the job: a caller that goes away does not free its place in the
        // queue while its check is still to run.
        let job: Job = Box::new(move || {
            let _ = reply.send(check());
            drop(permit);
        });
        {
            let mut queue = self.shared.queue.lock().expect("password queue lock");
            match self.priority {
                true => queue.priority.push_back(job),
                false => queue.normal.push_back(job),
            }
        }
        self.shared.ready.notify_one();
        Ok(result.await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_at_most_parallel_and_refuses_beyond_the_queue() {
        let checks = Arc::new(PasswordChecks::new(2, 3));
        let now_running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (checks, now_running, peak) = (checks.clone(), now_running.clone(), peak.clone());
                tokio::spawn(async move {
                    let Ok(admission) = checks.admit(false) else {
                        return false;
                    };
                    admission
                        .run(move || {
                            let n = now_running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(n, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(50));
                            now_running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                        .is_ok()
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(checks.admit(false).is_err(), "queue full");
        let priority = checks.admit(true).expect("a priority check is never refused");
        assert!(priority.run(|| ()).await.is_ok());
        let mut admitted = 0;
        for task in tasks {
            admitted += usize::from(task.await.unwrap());
        }
        assert_eq!(admitted, 5, "2 running + 3 waiting");
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }
}
