//! Sending on a TCP stream, and noticing when the other side stops taking our bytes.
//!
//! TCP has flow control: the receiver's kernel advertises how much room its receive buffer has
//! left, and ours sends no more than that. When the other side's program does not read, its
//! receive buffer fills, then our send buffer fills, and `write` blocks until it reads. A
//! program blocked in `write` can do nothing else: it cannot even notice that its user wants
//! to give up.

use std::io::{self, ErrorKind, Write};
use std::net::TcpStream;

use socket2::SockRef;

/// Write all of `bytes`, as `write_all` does; but when the kernel will not take them all at
/// once (our send buffer is full: the other side is not reading, or not fast enough),
/// call `stalled` before waiting for room. The stream itself stays blocking.
pub fn write_all_or_notice_stall(stream: &TcpStream, bytes: &[u8], stalled: impl FnOnce()) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        // MSG_DONTWAIT makes this one send non-blocking: it takes what fits, or fails with
        // WouldBlock, instead of waiting for room.
        match SockRef::from(stream).send_with_flags(rest, libc::MSG_DONTWAIT) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(sent) => rest = &rest[sent..],
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                stalled();
                return (&*stream).write_all(rest);
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::{Shutdown, TcpListener};

    use super::*;

    /// A reader that reads nothing: once the buffers are full the write stalls, and a
    /// shutdown from another thread ends the blocked write with an error.
    #[test]
    fn a_peer_that_does_not_read_stalls_the_write_and_shutdown_ends_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_never_reads, _) = listener.accept().unwrap();
        let hang_up = stream.try_clone().unwrap();
        let mut stalled = false;
        // More than Linux lets both buffers grow to (tcp_wmem, tcp_rmem): 64 MiB.
        let written = write_all_or_notice_stall(&stream, &vec![b'x'; 64 << 20], || {
            stalled = true;
            // As the chat's keyboard does: from another thread, while this one writes.
            std::thread::spawn(move || hang_up.shutdown(Shutdown::Both).unwrap());
        });
        assert!(stalled);
        assert!(written.is_err());
    }

    /// A small write to a peer with room is sent at once, with no stall.
    #[test]
    fn a_write_that_fits_does_not_stall() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_peer, _) = listener.accept().unwrap();
        write_all_or_notice_stall(&stream, b"hello\n", || panic!("six bytes stalled")).unwrap();
    }
}
