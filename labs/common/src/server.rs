//! What the labs' servers do the same way when the machine, not a peer, sets the limit: say
//! who can reach them, keep accepting when the process is out of file descriptors, and give
//! each client a thread, or a refusal when no thread can be had.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Say on stderr who can reach a server bound to `addr`, unless it is loopback (this machine
/// only, the labs' default). Call it right after the ready line.
pub fn say_who_can_reach(addr: SocketAddr) {
    if addr.ip().is_loopback() {
        return;
    }
    let port = addr.port();
    if addr.ip().is_unspecified() {
        eprintln!(
            "note: bound to every interface ({}): other machines can reach this server on port \
             {port}; --bind 127.0.0.1:{port} keeps it on this machine",
            addr.ip()
        );
    } else {
        eprintln!(
            "note: bound to {addr}, not loopback: other machines on that network can reach this \
             server; --bind 127.0.0.1:{port} keeps it on this machine"
        );
    }
}

/// The first pause after a failed accept, and the longest: each failure in a row doubles it.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// A listener's connections, one after another, for ever, like std's `incoming()`, but an
/// accept that fails makes it pause instead of trying again at once.
///
/// Why pause? The usual failure is EMFILE, "Too many open files": every socket is a file
/// descriptor, and the process may hold only so many (`ulimit -n`, RLIMIT_NOFILE; ENFILE is the
/// same for the whole system). On Linux accept needs a new descriptor before it takes the
/// connection out of the queue, so when there is none the connection stays queued, the
/// listening socket stays readable, and the next accept fails at once, and the next: a loop
/// that retries straight away spins at 100% CPU and logs each failure, hundreds of thousands
/// of lines a second. Nothing changes until some client leaves and frees a descriptor, so
/// the loop waits: 10 ms, then twice as long each time, up to a second. It says so once when
/// the trouble starts and once when accepting works again. Meanwhile the clients already
/// connected are served as usual, and new ones wait in the queue (or, once it is full, their
/// SYNs go unanswered and their kernel tries again).
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

/// See [`Incoming`].
pub fn incoming(listener: &TcpListener) -> Incoming<'_> {
    Incoming { listener }
}

impl Incoming<'_> {
    /// The next connection and the client's address; waits for as long as accept fails.
    pub fn accept(&mut self) -> (TcpStream, SocketAddr) {
        let mut pause = FIRST_PAUSE;
        let mut trouble: Option<(Instant, u32)> = None;
        loop {
            match self.listener.accept() {
                Ok(connection) => {
                    if let Some((since, failures)) = trouble {
                        eprintln!(
                            "accepting again, after {failures} failed tries in {:.1}s",
                            since.elapsed().as_secs_f64()
                        );
                    }
                    return connection;
                }
                Err(error) => {
                    let (_, failures) = trouble.get_or_insert_with(|| {
                        eprintln!(
                            "accept failed: {error}; trying again after a pause (up to {}s) until \
                             it works; the clients already connected are still served",
                            LONGEST_PAUSE.as_secs()
                        );
                        (Instant::now(), 0)
                    });
                    *failures += 1;
                    thread::sleep(pause);
                    pause = (pause * 2).min(LONGEST_PAUSE);
                }
            }
        }
    }
}

impl Iterator for Incoming<'_> {
    type Item = TcpStream;

    /// Never `None`, and never an error: a failed accept is waited out (see [`Incoming`]).
    fn next(&mut self) -> Option<TcpStream> {
        Some(self.accept().0)
    }
}

/// Run `serve(connection)` on a thread of its own; when no thread can be created, give the
/// connection back with the reason, so that the caller can tell that one client why.
///
/// A thread is not free: on Linux each one counts against the user's process limit
/// (`ulimit -u`, RLIMIT_NPROC, or a container's pids.max) and needs memory for its stack.
/// `std::thread::spawn` panics when it gets none, and in an accept loop that panic ends the
/// whole server, every connected client with it; `thread::Builder::spawn` returns the error
/// instead.
///
/// The connection reaches the thread through a channel, not inside the closure: when the
/// thread cannot be created, the closure is dropped with everything it holds, and a
/// connection moved into it would be closed without a word.
pub fn spawn_or_give_back<T: Send + 'static>(
    connection: T,
    serve: impl FnOnce(T) + Send + 'static,
) -> Result<(), (T, io::Error)> {
    let (hand_over, handed) = mpsc::channel::<T>();
    let spawned = thread::Builder::new().spawn(move || {
        if let Ok(connection) = handed.recv() {
            serve(connection);
        }
    });
    match spawned {
        Ok(_) => {
            // Cannot fail: the new thread keeps the receiving end until it has received.
            let _ = hand_over.send(connection);
            Ok(())
        }
        Err(error) => Err((connection, error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spawned_thread_gets_the_connection() {
        let (done, result) = mpsc::channel();
        assert!(spawn_or_give_back(7, move |n| done.send(n * 6).unwrap()).is_ok());
        assert_eq!(result.recv_timeout(Duration::from_secs(5)), Ok(42));
    }

    #[test]
    fn accepting_hands_out_connections_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let first = TcpStream::connect(addr).unwrap();
        let second = TcpStream::connect(addr).unwrap();
        let mut accepted = incoming(&listener);
        assert_eq!(accepted.accept().1, first.local_addr().unwrap());
        assert_eq!(accepted.next().unwrap().peer_addr().unwrap(), second.local_addr().unwrap());
    }
}
