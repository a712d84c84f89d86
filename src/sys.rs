//! Syscall wrappers: the only `unsafe` outside `src/ffi/`.

use std::io;

/// `sendfile(2)`: copies up to `count` bytes from `in_fd` at `*offset` to
/// the socket `out_fd` inside the kernel, and advances `*offset`. On a
/// non-blocking socket with a full send buffer it fails with `WouldBlock`.
#[cfg(target_os = "linux")]
pub(crate) fn sendfile(out_fd: i32, in_fd: i32, offset: &mut u64, count: usize) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(*offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both descriptors are open for the duration of the call (the
    // caller holds the socket and the file); `off` is a valid, exclusive
    // pointer to an off_t.
    let n = unsafe { libc::sendfile(out_fd, in_fd, &mut off, count) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    *offset = off as u64;
    Ok(n as usize)
}

/// Without `sendfile(2)` (ESP-IDF, other systems) callers copy through a
/// buffer instead.
#[cfg(not(target_os = "linux"))]
pub(crate) fn sendfile(_out_fd: i32, _in_fd: i32, _offset: &mut u64, _count: usize) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}
