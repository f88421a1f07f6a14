//! How many uploads each account has in progress (`http.max_uploads_per_user`): an upload holds
//! a slot from its accepted credentials until its answer, so one account cannot tie up the
//! server's connections, temp space and form buffers with many slow uploads at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The uploads in progress, per account id.
#[derive(Debug, Default)]
pub(crate) struct UploadSlots {
    in_progress: Mutex<HashMap<i64, u64>>,
}

/// One upload's slot; given back on drop.
#[derive(Debug)]
pub(crate) struct UploadSlot {
    slots: Arc<UploadSlots>,
    user: i64,
}

impl UploadSlots {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<i64, u64>> {
        self.in_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for `user`, or `None` when `max` of theirs are in progress.
    pub(crate) fn take(self: &Arc<Self>, user: i64, max: u64) -> Option<UploadSlot> {
        let mut t = self.table();
        let n = t.entry(user).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(UploadSlot {
            slots: self.clone(),
            user,
        })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut t = self.slots.table();
        if let Some(n) = t.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                t.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_account_has_its_own_slots_and_they_come_back() {
        let s = Arc::new(UploadSlots::default());
        let a1 = s.take(1, 2).expect("first");
        let a2 = s.take(1, 2).expect("second");
        assert!(s.take(1, 2).is_none(), "a third upload of the same account");
        let b = s.take(2, 2).expect("another account is not affected");
        drop(a1);
        let a3 = s.take(1, 2).expect("a finished upload gives its slot back");
        drop((a2, a3, b));
        assert!(
            s.table().is_empty(),
            "nothing kept for accounts with no upload"
        );
    }
}
