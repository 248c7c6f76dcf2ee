//! Renewing a session's access token while it is in use. A client renews ahead of the
//! token's `exp` by its own clock, but the service decides by its own: when a call is
//! answered 401 with `error="invalid_token"` (RFC 6750 §3.1: expired, revoked or
//! otherwise invalid), the session renews once and repeats the call once.
//!
//! Renewals are taken in turn: with rotated refresh tokens (RFC 9700 §4.14.2), two
//! renewals racing with the same refresh token would look like a stolen token and
//! revoke the whole login. A call that finds its token already replaced uses the new
//! one instead of renewing again.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};

use super::ClientError;

/// Gets a new access token (a refresh, or client credentials again) and keeps it
/// wherever the application keeps its tokens.
pub trait Renewer: Send + Sync {
    fn renew(&self) -> Pin<Box<dyn Future<Output = Result<String, ClientError>> + Send + '_>>;
}

/// A session's current access token, shared by its clones.
#[derive(Clone)]
pub(super) struct CurrentToken {
    token: Arc<RwLock<String>>,
    renewal: Option<Arc<Renewal>>,
}

struct Renewal {
    renewer: Arc<dyn Renewer>,
    /// One renewal at a time.
    turn: tokio::sync::Mutex<()>,
}

impl CurrentToken {
    pub(super) fn new(token: &str) -> Self {
        Self {
            token: Arc::new(RwLock::new(token.to_owned())),
            renewal: None,
        }
    }

    pub(super) fn renewed_by(mut self, renewer: Arc<dyn Renewer>) -> Self {
        self.renewal = Some(Arc::new(Renewal {
            renewer,
            turn: tokio::sync::Mutex::new(()),
        }));
        self
    }

    pub(super) fn get(&self) -> String {
        self.token
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn can_renew(&self) -> bool {
        self.renewal.is_some()
    }

    /// A token to replace `refused`: the one another call renewed meanwhile, or a new
    /// one from the renewer.
    pub(super) async fn replace(&self, refused: &str) -> Result<String, ClientError> {
        let Some(renewal) = &self.renewal else {
            return Err(ClientError::Renewal(
                "this session cannot renew its token".into(),
            ));
        };
        let _turn = renewal.turn.lock().await;
        let current = self.get();
        if current != refused {
            return Ok(current);
        }
        let fresh = renewal.renewer.renew().await?;
        *self.token.write().unwrap_or_else(PoisonError::into_inner) = fresh.clone();
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Counting(AtomicUsize);

    impl Renewer for Counting {
        fn renew(&self) -> Pin<Box<dyn Future<Output = Result<String, ClientError>> + Send + '_>> {
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(format!("token-{n}"))
            })
        }
    }

    #[tokio::test]
    async fn calls_refused_together_renew_once_and_share_the_new_token() {
        let renewer = Arc::new(Counting(AtomicUsize::new(0)));
        let current = CurrentToken::new("token-0").renewed_by(renewer.clone());
        let (a, b) = tokio::join!(current.replace("token-0"), current.replace("token-0"));
        assert_eq!(a.unwrap(), "token-1");
        assert_eq!(b.unwrap(), "token-1");
        assert_eq!(renewer.0.load(Ordering::SeqCst), 1, "one refresh, not two");
        // A clone sees the new token; refused again, it renews again.
        let clone = current.clone();
        assert_eq!(clone.get(), "token-1");
        assert_eq!(clone.replace("token-1").await.unwrap(), "token-2");
        assert_eq!(current.get(), "token-2");
    }

    #[tokio::test]
    async fn a_session_without_a_renewer_says_so() {
        let current = CurrentToken::new("t");
        assert!(!current.can_renew());
        assert!(matches!(
            current.replace("t").await,
            Err(ClientError::Renewal(_))
        ));
    }
}
