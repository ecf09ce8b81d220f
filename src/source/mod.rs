//! Sources of users: the randomuser API, the built-in generator, JSON lines on stdin, and
//! `auto` (the API when it answers, else the generator). Each yields [`UserRecord`]s in
//! batches; producing them to Kafka is the producer's job.
//!
//! (Being built under issue 4; see the issue notes.)
