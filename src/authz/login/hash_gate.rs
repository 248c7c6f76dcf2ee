//! Bounds the password checks (Argon2id: 19 MiB and tens of milliseconds each), so
//! that a flood of logins cannot take the memory or the blocking pool.

use tokio::sync::{Semaphore, SemaphorePermit};

/// Bounds the Argon2 checks (19 MiB and tens of milliseconds each): `limit` run at
/// once, as many more wait their turn, and any further attempt is refused at once.
pub struct HashGate {
    admitted: Semaphore,
    hashing: Semaphore,
}

impl HashGate {
    pub fn new(limit: u32) -> Self {
        let limit = limit.max(1) as usize;
        Self {
            admitted: Semaphore::new(2 * limit),
            hashing: Semaphore::new(limit),
        }
    }

    /// A place in the line, or none when the line is full.
    pub fn admit(&self) -> Option<SemaphorePermit<'_>> {
        self.admitted.try_acquire().ok()
    }

    /// Runs the password check when its turn comes.
    pub async fn verify_password(
        &self,
        password: String,
        hash: Option<String>,
    ) -> anyhow::Result<bool> {
        let _turn = self.hashing.acquire().await?;
        // Argon2id is slow by design: off the async executor.
        Ok(tokio::task::spawn_blocking(move || {
            crate::people::credentials::verify_password(&password, hash.as_deref())
        })
        .await?)
    }
}
