use std::time::Duration;

use lapin::BasicProperties;
use lapin::options::BasicPublishOptions;
use queues::topology;

use crate::helpers::{amqp_url, broker, delete_queue, ready_count, unique};

#[tokio::test]
async fn declaring_twice_is_harmless() {
    let Some(url) = amqp_url() else { return };
    let (connection, channel) = broker(&url).await;
    let queue = unique("queues-test-");
    let app = unique("app");
    let (exact, below) = (
        format!("message.received.{app}"),
        format!("message.received.{app}.#"),
    );
    for _ in 0..2 {
        topology::declare(&channel).await.unwrap();
        topology::declare_queue(&channel, &queue, &[&exact, &below])
            .await
            .unwrap();
    }
    // The channel survived (no PRECONDITION_FAILED) and both queues exist.
    assert_eq!(ready_count(&channel, &queue).await, 0);
    ready_count(&channel, topology::DEAD_LETTER_QUEUE).await;
    // And again on another connection, as a second depot instance would.
    let (other, other_channel) = broker(&url).await;
    topology::declare_queue(&other_channel, &queue, &[&exact])
        .await
        .unwrap();
    // The bindings route (once each message, whatever the number of declarations).
    for key in [
        exact.clone(),
        format!("{exact}.sub"),
        format!("message.received.other{app}"),
    ] {
        other_channel
            .basic_publish(
                queues::EXCHANGE.into(),
                key.as_str().into(),
                BasicPublishOptions::default(),
                b"{}",
                BasicProperties::default(),
            )
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while ready_count(&channel, &queue).await < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ready_count(&channel, &queue).await, 2);
    delete_queue(&channel, &queue).await;
    other.close(200, "done".into()).await.unwrap();
    connection.close(200, "done".into()).await.unwrap();
}

#[tokio::test]
async fn an_overlong_queue_name_is_an_error_not_a_panic() {
    let Some(url) = amqp_url() else { return };
    let (connection, channel) = broker(&url).await;
    let result = topology::declare_queue(&channel, &"q".repeat(300), &[]).await;
    assert!(matches!(result, Err(queues::Error::TooLong(_))));
    connection.close(200, "done".into()).await.unwrap();
}
