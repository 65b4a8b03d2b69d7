//! Pseudo-terminals for `tty` containers: opening a pair, sizing it, and making the
//! slave the controlling terminal of a spawned process.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::runtime::TerminalSize;

/// Opens a new pseudo-terminal: (master, slave).
pub(super) fn open() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    // SAFETY: openpty writes two descriptors into the given ints; the name, termios and
    // winsize pointers may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openpty succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) })
}

/// Sets the terminal's size (the resize channel's message).
pub(super) fn set_size(master: &OwnedFd, size: TerminalSize) {
    let ws = libc::winsize {
        ws_row: size.height,
        ws_col: size.width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which outlives the call.
    unsafe {
        libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
    }
}

/// In a forked child before exec: a new session whose controlling terminal is the
/// child's stdin (the pty's slave).
///
/// # Safety
/// Call only in `pre_exec`; it makes only async-signal-safe calls.
pub(super) unsafe fn become_session_leader() -> std::io::Result<()> {
    if libc::setsid() < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
