//! `depot demo` against a running service: both seed flows, every check passing.

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_demo_walks_both_flows_and_every_check_passes() {
    let app = spawn_app().await;
    let passed = depot::client::demo::run(&app.state.config).await.unwrap();
    assert!(passed, "the demo reported a failed check (see its output)");
}
