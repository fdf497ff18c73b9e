//! Background tasks driven by `hz`: active expiry (and later: eviction
//! catch-up, stats sampling).

use ferrocache_redis::Server;
use std::sync::Arc;

/// Start the background thread.
pub fn start(server: Arc<Server>) {
    let _ = std::thread::Builder::new()
        .name("cron".into())
        .spawn(move || loop {
            if server.shutdown.load(std::sync::atomic::Ordering::Acquire) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        });
}
