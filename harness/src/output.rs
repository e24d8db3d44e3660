//! A child's output: its stdout and stderr, read as they come, recorded line by line in the
//! transcript and handed to whoever waits for a line.
//!
//! Two things make this more than a read loop. A child that fills a pipe nobody reads blocks on
//! its next print, and a blocked server looks exactly like a broken one: so a thread drains both
//! pipes at all times. And the transcript must show things in the order they happened: a server
//! prints "accepted client 2" and then answers bob, so by the time bob's answer is read from the
//! socket, that line is already in the server's pipe. Before the transcript records anything
//! else, it settles (`settle`): every pipe's waiting bytes are read and recorded first. A pipe is only
//! ever read under its lock, by the drain thread or by a settle, so nothing read is recorded late.
//!
//! Unix only (poll(2), non-blocking pipes), as is the harness.

use std::io::Read;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::process::LINE_COST;
use crate::transcript::{Dropped, Event, Transcript};

/// Which of a child's streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// One of a child's output pipes, with what has been read of it.
pub(crate) struct Pipe {
    reader: Box<dyn Read + Send>,
    fd: std::os::fd::RawFd,
    stream: Stream,
    who: String,
    /// The start of a line whose newline has not come yet.
    partial: Vec<u8>,
    /// Bytes read so far; past `cap` they are read and dropped.
    seen: usize,
    cap: usize,
    /// Lines recorded so far; past `cap / LINE_COST` the rest is read and dropped.
    lines_seen: usize,
    /// Once a limit is reached: what was read and not recorded since, and the note saying so.
    cut: Option<(String, Dropped)>,
    /// Where each complete line goes; dropped at the end of the stream, which tells the
    /// receiving side that no more lines will come.
    lines: Option<Sender<String>>,
    transcript: Transcript,
}

/// A child's two pipes, shared by its drain thread and every [`settle`].
pub(crate) type Pipes = Arc<[Mutex<Pipe>; 2]>;

impl Pipe {
    pub(crate) fn new(
        reader: impl Read + std::os::fd::AsRawFd + Send + 'static,
        stream: Stream,
        who: &str,
        cap: usize,
        lines: Sender<String>,
        transcript: &Transcript,
    ) -> Pipe {
        let fd = reader.as_raw_fd();
        set_nonblocking(fd);
        Pipe {
            fd,
            reader: Box::new(reader),
            stream,
            who: who.to_string(),
            partial: Vec::new(),
            seen: 0,
            cap,
            lines_seen: 0,
            cut: None,
            lines: Some(lines),
            transcript: transcript.clone(),
        }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.lines.is_none()
    }

    /// Read whatever is waiting in the (non-blocking) pipe and record every complete line.
    /// At the end of the stream, a last line without a newline is recorded too.
    pub(crate) fn pump(&mut self) {
        let mut buf = [0; 64 * 1024];
        while !self.at_end() {
            match self.reader.read(&mut buf) {
                Ok(len @ 1..) => self.take(&buf[..len]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Ok(0) | Err(_) => {
                    let rest = std::mem::take(&mut self.partial);
                    if !rest.is_empty() {
                        self.emit(rest);
                    }
                    self.lines = None;
                }
            }
        }
    }

    /// The most lines recorded of one stream: its byte cap over [`LINE_COST`].
    fn max_lines(&self) -> usize {
        self.cap / LINE_COST
    }

    fn take(&mut self, bytes: &[u8]) {
        if self.cut.is_some() {
            self.drop_bytes(&[bytes]);
            return;
        }
        let room = self.cap.saturating_sub(self.seen);
        let (kept, over) = bytes.split_at(bytes.len().min(room));
        self.seen += kept.len();
        self.partial.extend_from_slice(kept);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            if self.lines_seen == self.max_lines() {
                let rest = std::mem::take(&mut self.partial);
                self.start_cut(format!("more than {} lines", self.max_lines()), &[&rest, over]);
                return;
            }
            let mut line: Vec<u8> = self.partial.drain(..=end).collect();
            while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                line.pop();
            }
            self.emit(line);
        }
        if !over.is_empty() {
            // The byte cap, in the middle of a line: its start is recorded as a line.
            let rest = std::mem::take(&mut self.partial);
            if !rest.is_empty() {
                self.emit(rest);
            }
            self.start_cut(format!("more than {} bytes", self.cap), &[over]);
        }
    }

    /// A limit is reached: from now on everything read is counted and dropped, and one line
    /// (kept up to date) says how much.
    fn start_cut(&mut self, why: String, dropped: &[&[u8]]) {
        let note = format!("(output cut: {why}; the rest is read and not recorded)");
        if let Some(lines) = &self.lines {
            let _ = lines.send(note.clone());
        }
        let mut counts = Dropped::default();
        self.transcript.note(&mut counts, self.line_event(note));
        self.cut = Some((why, counts));
        self.drop_bytes(dropped);
    }

    fn drop_bytes(&mut self, parts: &[&[u8]]) {
        let Some((why, mut counts)) = self.cut.take() else { return };
        for part in parts {
            let newlines = part.iter().filter(|&&b| b == b'\n').count();
            counts.add(newlines as u64, part.len() as u64);
        }
        if counts.bytes > 0 {
            let note = format!(
                "(output cut: {why}; {} more lines ({} bytes) were read and not recorded)",
                counts.events, counts.bytes
            );
            self.transcript.note(&mut counts, self.line_event(note));
        }
        self.cut = Some((why, counts));
    }

    fn line_event(&self, line: String) -> Event {
        let who = self.who.clone();
        match self.stream {
            Stream::Stdout => Event::Stdout { who, line },
            Stream::Stderr => Event::Stderr { who, line },
        }
    }

    fn emit(&mut self, line: Vec<u8>) {
        // Bytes that are not UTF-8 are escaped here, so that a line is text; the characters
        // a terminal acts on are kept (a scenario may look for them) and escaped when shown.
        let line = match String::from_utf8(line) {
            Ok(text) => text,
            Err(err) => crate::style::printable_bytes(err.as_bytes()).into_owned(),
        };
        self.lines_seen += 1;
        self.transcript.record_settled(self.line_event(line.clone()));
        if let Some(lines) = &self.lines {
            // The role may be gone already; its lines are still in the transcript.
            let _ = lines.send(line);
        }
    }
}

fn lock(pipe: &Mutex<Pipe>) -> MutexGuard<'_, Pipe> {
    pipe.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Read and record what waits in each pipe of `pipes`: see the module's doc.
pub(crate) fn settle(pipes: &[Weak<[Mutex<Pipe>; 2]>]) {
    for pipes in pipes.iter().filter_map(Weak::upgrade) {
        for pipe in pipes.iter() {
            lock(pipe).pump();
        }
    }
}

/// Drain both pipes until both have ended, on the calling thread (the role's drain thread).
#[allow(unsafe_code)]
pub(crate) fn drain(pipes: Pipes) {
    use std::os::fd::RawFd;
    let fds: Vec<RawFd> = pipes.iter().map(|pipe| lock(pipe).fd).collect();
    loop {
        let open: Vec<usize> = (0..2).filter(|&i| !lock(&pipes[i]).at_end()).collect();
        if open.is_empty() {
            return;
        }
        let mut polled: Vec<libc::pollfd> =
            open.iter().map(|&i| libc::pollfd { fd: fds[i], events: libc::POLLIN, revents: 0 }).collect();
        // SAFETY: poll(2) reads and writes only the array we pass, whose length we pass with it.
        let ready = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, -1) };
        if ready < 0 {
            continue; // EINTR: look again.
        }
        for (slot, &i) in polled.iter().zip(&open) {
            if slot.revents != 0 {
                lock(&pipes[i]).pump();
            }
        }
    }
}

/// Our end of a pipe reads "nothing yet" instead of waiting; the child's end is unchanged.
#[allow(unsafe_code)]
pub(crate) fn set_nonblocking(fd: std::os::fd::RawFd) {
    // SAFETY: fcntl(2) on a descriptor we own (the pipe stays open as long as `Pipe` holds it),
    // with integer arguments only.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}
