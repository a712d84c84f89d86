//! Server settings, with the defaults documented in the C header.

use std::time::Duration;

/// Everything `server_set_*` configures.
#[derive(Debug, Clone)]
pub struct Config {
    /// Worker threads running the executor (0 is replaced by the CPU count).
    pub workers: usize,
    pub max_connections: usize,
    /// Connections one client address may hold open (0: no limit).
    pub max_connections_per_ip: usize,
    /// At the cap, close the longest-idle keep-alive connection to admit a
    /// new one (esp_http_server's "LRU purge").
    pub lru_purge: bool,
    /// Request line + header fields, in bytes.
    pub max_header_bytes: usize,
    /// Header field lines.
    pub max_headers: usize,
    /// What the library buffers for `req_body` / `req_form_value`.
    pub max_body_bytes: usize,
    /// Total time for a request head, from its first byte.
    pub header_timeout: Duration,
    /// Wait for the next request on a kept-alive connection (and for the
    /// first byte on a new one).
    pub idle_timeout: Duration,
    /// Longest time the peer may take no data while we write.
    pub write_timeout: Duration,
    /// Longest time the peer may send no body bytes while we read a body.
    pub body_timeout: Duration,
    /// Unread request body bytes drained so a connection can be reused;
    /// beyond this it is closed instead.
    pub drain_limit: u64,
    /// Stack size of the worker and stop threads in bytes (0: the
    /// platform's default, which firmware usually wants to override).
    pub stack_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 0,
            max_connections: 512,
            max_connections_per_ip: 0,
            lru_purge: true,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_body_bytes: 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            drain_limit: 64 * 1024,
            stack_size: 0,
        }
    }
}

impl Config {
    /// Workers actually started.
    pub(crate) fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }

    /// A thread builder with the configured stack size.
    pub(crate) fn thread(&self, name: String) -> std::thread::Builder {
        let b = std::thread::Builder::new().name(name);
        if self.stack_size > 0 {
            b.stack_size(self.stack_size)
        } else {
            b
        }
    }
}
