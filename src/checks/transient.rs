//! Which failures of a one-shot check are worth trying again, and the retry loop. A check
//! reads a live stack that may be busy (a Cassandra read timing out while the stream job
//! writes, a Kafka group coordinator moving): those reads are tried again within the check's
//! budget. A failure that another try cannot fix (a missing table or topic, bad credentials,
//! a server that refuses connections) fails at once, so its fix is shown without a wait.

use super::CheckError;
use rdkafka::types::RDKafkaErrorCode;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use std::future::Future;
use std::time::Duration;

/// One failed try of a check: its error, and whether another try may succeed.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: CheckError,
    pub transient: bool,
}

impl Failure {
    pub fn permanent(error: CheckError) -> Self {
        Failure {
            error,
            transient: false,
        }
    }
}

/// Whether a CQL read may succeed when tried again: a coordinator's read timeout or read
/// failure (`A non-timeout error during a read request`), too few replicas for now, an
/// overloaded or bootstrapping node, a broken connection or a client timeout. Not: an
/// invalid query (a missing keyspace or table), bad credentials, a syntax error.
pub fn is_transient_cql(error: &ExecutionError) -> bool {
    match error {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => matches!(
            db,
            DbError::ReadTimeout { .. }
                | DbError::ReadFailure { .. }
                | DbError::Unavailable { .. }
                | DbError::Overloaded
                | DbError::IsBootstrapping
                | DbError::ServerError
                | DbError::RateLimitReached { .. }
        ),
        ExecutionError::LastAttemptError(RequestAttemptError::BrokenConnectionError(_))
        | ExecutionError::ConnectionPoolError(_)
        | ExecutionError::RequestTimeout(_)
        | ExecutionError::EmptyPlan => true,
        _ => false,
    }
}

/// Whether a Kafka request of the lag check may succeed when tried again: a coordinator
/// still loading or moving, a partition leader being elected, a request that timed out
/// while the broker answers. A broker that refuses connections, a missing topic or a failed
/// authentication is not.
pub fn is_transient_kafka(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::CoordinatorLoadInProgress
            | C::CoordinatorNotAvailable
            | C::NotCoordinator
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::RequestTimedOut
            | C::NotEnoughReplicas
            | C::RebalanceInProgress
            | C::PreferredLeaderNotAvailable
            | C::KafkaStorageError
            | C::FencedLeaderEpoch
            | C::UnknownLeaderEpoch
            | C::OffsetNotAvailable
    )
}

/// Tries `attempt` until it succeeds, fails for good, or `budget` has passed since the
/// first try (then the last transient error is returned). Waits `first_delay` before the
/// first retry, doubling up to 2 s.
pub(crate) async fn retrying<T, F, Fut>(
    budget: Duration,
    first_delay: Duration,
    mut attempt: F,
) -> Result<T, CheckError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let started = tokio::time::Instant::now();
    let mut delay = first_delay;
    let mut tries = 1u32;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(failure) if failure.transient && started.elapsed() + delay < budget => {
                tracing::debug!(tries, error = %failure.error, retry_in_ms = delay.as_millis() as u64, "check failed transiently, trying again");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                tries += 1;
            }
            Err(failure) => return Err(failure.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scylla::statement::Consistency;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn db(error: DbError) -> ExecutionError {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(error, "server says".into()))
    }

    #[test]
    fn busy_reads_are_transient() {
        for e in [
            DbError::ReadTimeout {
                consistency: Consistency::One,
                received: 0,
                required: 1,
                data_present: false,
            },
            DbError::ReadFailure {
                consistency: Consistency::One,
                received: 0,
                required: 1,
                numfailures: 1,
                data_present: false,
            },
            DbError::Unavailable {
                consistency: Consistency::One,
                required: 1,
                alive: 0,
            },
            DbError::Overloaded,
            DbError::IsBootstrapping,
        ] {
            assert!(is_transient_cql(&db(e.clone())), "{e:?}");
        }
        assert!(is_transient_cql(&ExecutionError::RequestTimeout(
            Duration::from_secs(1)
        )));
    }

    #[test]
    fn a_missing_table_or_bad_credentials_are_not() {
        for e in [
            DbError::Invalid,
            DbError::Unauthorized,
            DbError::AuthenticationError,
            DbError::SyntaxError,
            DbError::ConfigError,
        ] {
            assert!(!is_transient_cql(&db(e.clone())), "{e:?}");
        }
    }

    #[test]
    fn kafka_codes_are_classified() {
        use RDKafkaErrorCode as C;
        for c in [
            C::CoordinatorLoadInProgress,
            C::NotCoordinator,
            C::RequestTimedOut,
            C::LeaderNotAvailable,
        ] {
            assert!(is_transient_kafka(c), "{c:?}");
        }
        for c in [
            C::UnknownTopicOrPartition,
            C::BrokerTransportFailure,
            C::AllBrokersDown,
            C::Authentication,
            C::SaslAuthenticationFailed,
            C::TopicAuthorizationFailed,
            C::GroupAuthorizationFailed,
        ] {
            assert!(!is_transient_kafka(c), "{c:?}");
        }
    }

    fn failure(transient: bool) -> Failure {
        Failure {
            error: CheckError::Cancelled,
            transient,
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let tries = AtomicU32::new(0);
        let result = retrying(
            Duration::from_secs(10),
            Duration::from_millis(1),
            || async {
                match tries.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(failure(true)),
                    _ => Ok(7),
                }
            },
        )
        .await;
        assert_eq!(result.ok(), Some(7));
        assert_eq!(tries.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_permanent_failure_is_not_retried() {
        let tries = AtomicU32::new(0);
        let result: Result<(), _> = retrying(
            Duration::from_secs(10),
            Duration::from_millis(1),
            || async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err(failure(false))
            },
        )
        .await;
        assert!(result.is_err());
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn transient_failures_stop_at_the_budget() {
        let tries = AtomicU32::new(0);
        let result: Result<(), _> = retrying(
            Duration::from_millis(50),
            Duration::from_millis(1),
            || async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err(failure(true))
            },
        )
        .await;
        assert!(result.is_err(), "gives up once the budget is spent");
        assert!(tries.load(Ordering::SeqCst) > 1, "tried again first");
    }
}
