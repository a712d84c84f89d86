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

/// Blocks SIGPIPE in the calling thread (a worker). `sendfile(2)` has no
/// MSG_NOSIGNAL: without this, a client that goes away in the middle of a
/// file would kill a C program that keeps SIGPIPE's default action. Only
/// the library's own threads change; the process's disposition does not.
#[cfg(all(unix, not(target_os = "espidf")))]
pub(crate) fn block_sigpipe() {
    // SAFETY: `set` is a valid sigset_t initialised by sigemptyset before
    // use; a null old-set pointer is allowed.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// ESP-IDF has no SIGPIPE.
#[cfg(not(all(unix, not(target_os = "espidf"))))]
pub(crate) fn block_sigpipe() {}

/// `send(2)` with `MSG_MORE | MSG_NOSIGNAL`: the bytes wait in the socket
/// for what follows (a `sendfile`), so a response head and its file's
/// first bytes leave in the same segments. Non-blocking sockets only.
#[cfg(target_os = "linux")]
pub(crate) fn send_more(fd: i32, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes for the call; a bad
    // descriptor is reported as an error.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_MORE | libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Elsewhere the head is written as usual.
#[cfg(not(target_os = "linux"))]
pub(crate) fn send_more(_fd: i32, _buf: &[u8]) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// What `statx` says of a file's identity and version: enough to tell
/// whether a path still leads to a file opened before, unchanged.
#[cfg(target_os = "linux")]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
}

#[cfg(target_os = "linux")]
impl FileStamp {
    /// The stamp of an open file's metadata (`dev` encoded as std does,
    /// with `makedev`).
    pub(crate) fn of(meta: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec() as u32),
            ctime: (meta.ctime(), meta.ctime_nsec() as u32),
        }
    }
}

/// `statx(2)` of `path`, following links: one syscall, no copy of the
/// path and none of the fields a [`FileStamp`] does not hold.
#[cfg(target_os = "linux")]
pub(crate) fn stamp(path: &std::ffi::CStr) -> io::Result<FileStamp> {
    let mut buf = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: `path` is NUL-terminated and `buf` is writable for one
    // `struct statx`, both for the whole call.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_STATX_SYNC_AS_STAT,
            libc::STATX_BASIC_STATS,
            buf.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: all-zero bytes are a valid `struct statx` (integers only),
    // and the call filled it.
    let b = unsafe { buf.assume_init() };
    Ok(FileStamp {
        dev: libc::makedev(b.stx_dev_major, b.stx_dev_minor),
        ino: b.stx_ino,
        size: b.stx_size,
        mtime: (b.stx_mtime.tv_sec, b.stx_mtime.tv_nsec),
        ctime: (b.stx_ctime.tv_sec, b.stx_ctime.tv_nsec),
    })
}

/// Sets or clears `TCP_CORK` on a TCP socket: while set, the kernel sends
/// only full segments; clearing it sends what is held.
#[cfg(target_os = "linux")]
pub(crate) fn set_cork(fd: i32, on: bool) -> io::Result<()> {
    let v = libc::c_int::from(on);
    // SAFETY: `v` outlives the call and its size is passed; a bad
    // descriptor or a socket that is not TCP is reported as an error.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Elsewhere nothing is corked.
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_cork(_fd: i32, _on: bool) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// `openat2(2)` for reading, with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`:
/// opens `rel` under the folder `dir` (a file or a folder; never blocking
/// on a FIFO, never taking a terminal), following symbolic links only while
/// they stay under `dir`. The kernel checks this during the one lookup, so
/// nothing can be swapped between a check and the open. Fails with `EXDEV`
/// for a lookup that would leave `dir` (an absolute link, a link that climbs
/// out), and with `ENOSYS` (before Linux 5.6) or `EPERM` (a seccomp filter)
/// where the call is not there.
#[cfg(target_os = "linux")]
pub(crate) fn open_beneath(dir: std::os::fd::BorrowedFd<'_>, rel: &std::ffi::CStr) -> io::Result<std::fs::File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    /// The kernel's `struct open_how`, first version (24 bytes; the size
    /// passed tells the kernel which version it is). libc's is
    /// non-exhaustive.
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `dir` is an open descriptor for the call; `rel` is
    // NUL-terminated; `how` is a valid open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            rel.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor openat2 just returned, owned by nothing else.
    Ok(unsafe { std::fs::File::from_raw_fd(fd as i32) })
}

/// Without `sendfile(2)` (ESP-IDF, other systems) callers copy through a
/// buffer instead.
#[cfg(not(target_os = "linux"))]
pub(crate) fn sendfile(_out_fd: i32, _in_fd: i32, _offset: &mut u64, _count: usize) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(mr_epoll)]
pub(crate) use linux::{accept4, accept_queue_len, Epoll, EventFd};

/// epoll, eventfd, accept4 and the accept queue: what the edge-triggered worker loop
/// (`crate::rt::edge`) needs, one syscall per call.
#[cfg(mr_epoll)]
mod linux {
    use std::io;
    use std::net::{SocketAddr, TcpStream};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    /// An epoll instance.
    #[derive(Debug)]
    pub(crate) struct Epoll(OwnedFd);

    impl Epoll {
        pub(crate) fn new() -> io::Result<Epoll> {
            // SAFETY: no pointers; the result is checked before use.
            let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
            // SAFETY: `fd` was just created and is owned by nothing else.
            Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
        }

        /// Adds `fd` with interest `events`; events report `data`.
        pub(crate) fn add(&self, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
            let mut ev = libc::epoll_event { events, u64: data };
            // SAFETY: `ev` is a valid epoll_event for the call; a bad `fd`
            // is reported as an error, not undefined behaviour.
            cvt(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
            Ok(())
        }

        /// Waits up to `timeout_ms` (-1: no limit) and fills `events` (up
        /// to its capacity). An interrupted wait returns no events.
        pub(crate) fn wait(&self, events: &mut Vec<libc::epoll_event>, timeout_ms: i32) -> io::Result<usize> {
            events.clear();
            let cap = libc::c_int::try_from(events.capacity()).unwrap_or(libc::c_int::MAX);
            // SAFETY: the kernel writes at most `cap` events into the
            // vector's spare capacity, and we expose only the `n` written.
            let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), cap, timeout_ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                return if e.kind() == io::ErrorKind::Interrupted {
                    Ok(0)
                } else {
                    Err(e)
                };
            }
            // SAFETY: epoll_wait initialised the first `n` (<= cap) entries.
            unsafe { events.set_len(n as usize) };
            Ok(n as usize)
        }
    }

    /// A non-blocking eventfd: how other threads wake a sleeping worker.
    #[derive(Debug)]
    pub(crate) struct EventFd(OwnedFd);

    impl EventFd {
        pub(crate) fn new() -> io::Result<EventFd> {
            // SAFETY: no pointers; the result is checked before use.
            let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
            // SAFETY: `fd` was just created and is owned by nothing else.
            Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
        }

        pub(crate) fn fd(&self) -> RawFd {
            self.0.as_raw_fd()
        }

        /// Adds one to the counter, making the descriptor readable.
        pub(crate) fn signal(&self) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a valid u64. A full counter
            // (EAGAIN) still leaves the descriptor readable, so the error
            // is not needed.
            unsafe { libc::write(self.fd(), (&one as *const u64).cast(), 8) };
        }

        /// Resets the counter.
        pub(crate) fn drain(&self) {
            let mut n: u64 = 0;
            // SAFETY: reads 8 bytes into a valid u64; EAGAIN (already
            // zero) is fine.
            unsafe { libc::read(self.fd(), (&mut n as *mut u64).cast(), 8) };
        }
    }

    /// `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`: a connection ready
    /// for the worker loop in one syscall.
    pub(crate) fn accept4(listener: RawFd) -> io::Result<(TcpStream, Option<SocketAddr>)> {
        // SAFETY: the closure gets valid storage and length pointers from
        // socket2, which accept4 fills in.
        let (fd, addr) = unsafe {
            socket2::SockAddr::try_init(|storage, len| {
                cvt(libc::accept4(
                    listener,
                    storage.cast(),
                    len,
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                ))
            })
        }?;
        // SAFETY: accept4 returned a new descriptor owned by nothing else.
        let stream = unsafe { TcpStream::from_raw_fd(fd) };
        Ok((stream, addr.as_socket()))
    }

    /// How many connections wait in the accept queue of the listening TCP
    /// socket `listener` (`TCP_INFO`'s `tcpi_unacked`, which Linux sets to
    /// the queue's length for a listener). A check costs ~0.2 µs here; an
    /// `accept4` that finds the queue empty ~1.5 µs, because the kernel
    /// makes the new socket and file before it looks.
    pub(crate) fn accept_queue_len(listener: RawFd) -> io::Result<u32> {
        // SAFETY: tcp_info is plain old data; all zeroes is a valid value.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: `info` and `len` are valid for writes of `len` bytes, and
        // the kernel writes at most that many.
        cvt(unsafe {
            libc::getsockopt(
                listener,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&raw mut info).cast(),
                &mut len,
            )
        })?;
        // TCP_LISTEN from the kernel's tcp_states.h (not in libc for Linux).
        const TCP_LISTEN: u8 = 10;
        if info.tcpi_state != TCP_LISTEN {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        Ok(info.tcpi_unacked)
    }
}
