//! One scheduler loop per database: an exclusive `flock` on `<database>.lock`, held while
//! the loop runs and released by the OS if the process dies (so a crash never leaves a
//! stale lock behind).

use super::SchedulerError;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::Path;

/// The held lock; dropping it unlocks.
pub struct SchedulerLock {
    _lock: Flock<File>,
}

pub fn acquire(database: &Path) -> Result<SchedulerLock, SchedulerError> {
    let mut path = database.as_os_str().to_owned();
    path.push(".lock");
    let path = std::path::PathBuf::from(path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| SchedulerError::Lock {
            path: path.display().to_string(),
            source,
        })?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(SchedulerLock { _lock: lock }),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(SchedulerError::Locked {
            path: database.display().to_string(),
        }),
        Err((_, errno)) => Err(SchedulerError::Lock {
            path: path.display().to_string(),
            source: std::io::Error::from(errno),
        }),
    }
}
