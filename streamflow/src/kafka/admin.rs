//! Creating topics (for examples, tests and set-up scripts), without an async runtime.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::client_config;
use crate::error::{Error, Result};

/// Creates `topic` with `partitions` partitions (replication 1) on the brokers at
/// `bootstrap_servers`, unless it exists already. Waits at most `timeout` (a string, a
/// `std::time::Duration` or a [`Duration`](crate::Duration)).
///
/// ```no_run
/// streamflow::kafka::create_topic("127.0.0.1:9092", "lines", 3, std::time::Duration::from_secs(10))?;
/// streamflow::kafka::create_topic("127.0.0.1:9092", "counts", 3, "10 seconds")?;
/// # Ok::<(), streamflow::Error>(())
/// ```
pub fn create_topic(
    bootstrap_servers: &str,
    topic: &str,
    partitions: i32,
    timeout: impl crate::IntoDuration,
) -> Result<()> {
    let timeout = timeout.into_duration()?.to_std();
    let failed = |message: String| Error::Source {
        source_name: format!("kafka admin {bootstrap_servers}"),
        message,
    };
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap_servers)
        .create()
        .map_err(|e| Error::InvalidConfig(format!("kafka admin: settings refused: {e}")))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results = block_on(admin.create_topics([&new], &options))
        .map_err(|e| failed(format!("creating topic {topic}: {e}")))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(failed(format!("creating topic {name}: {code}"))),
        }
    }
    Ok(())
}

/// Runs `future` to completion on this thread (the admin client's futures are completed by
/// librdkafka's own threads).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}
