//! UDP handles: datagrams in and out of one socket.
//!
//! Reading: when the socket turns readable, a coroutine waiting in `try_recv` is
//! woken (it retries), then a `recv_start` callback gets every datagram until
//! WouldBlock (edge-triggered), each as (nil, data, { ip, port, family }, flags).
//! Writing: a send goes to the kernel at once when nothing is queued before it;
//! otherwise, or when the socket is full, it waits in the queue, sent in order when
//! the socket turns writable. A send completes when its datagram is handed to the
//! kernel.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use super::errors::Failure;
use super::stream::Completion;
use super::waker::{LuaRef, Waker};

/// One datagram waiting to be sent.
pub struct SendReq {
    pub data: Vec<u8>,
    /// None on a connected socket.
    pub to: Option<SocketAddr>,
    pub waker: Option<Waker>,
}

#[derive(Default)]
pub struct Udp {
    /// None until bound (a send binds to an ephemeral port first).
    pub socket: Option<mio::net::UdpSocket>,
    pub recv_cb: Option<LuaRef>,
    /// A coroutine waiting in `try_recv`.
    pub recv_waiter: Option<Waker>,
    pub sends: VecDeque<SendReq>,
}

/// What one receive, without waiting, gave.
pub enum Recv {
    Datagram(usize, SocketAddr),
    WouldBlock,
    Failed(io::Error),
}

impl Udp {
    /// Active (keeping the loop alive) while receiving or sending.
    pub fn wants_events(&self) -> bool {
        self.recv_cb.is_some() || self.recv_waiter.is_some() || !self.sends.is_empty()
    }

    /// Receives one datagram into `buf`.
    pub fn recv_once(&mut self, buf: &mut [u8]) -> Recv {
        let Some(s) = &self.socket else {
            return Recv::Failed(io::Error::from_raw_os_error(libc::EBADF));
        };
        loop {
            match s.recv_from(buf) {
                Ok((n, from)) => return Recv::Datagram(n, from),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Recv::WouldBlock,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Recv::Failed(e),
            }
        }
    }

    /// Sends `data` now if nothing is queued before it, else queues it. Ok(true): sent
    /// now (the waker is handed back); Ok(false): queued.
    pub fn send(
        &mut self,
        data: &[u8],
        to: Option<SocketAddr>,
        waker: Option<Waker>,
    ) -> io::Result<(bool, Option<Waker>)> {
        let Some(s) = &self.socket else {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        };
        if self.sends.is_empty() {
            match send_one(s, data, to) {
                Ok(()) => return Ok((true, waker)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        self.sends.push_back(SendReq {
            data: data.to_vec(),
            to,
            waker,
        });
        Ok((false, None))
    }

    /// Sends the queued datagrams until WouldBlock. Returns the finished requests.
    pub fn flush(&mut self) -> Vec<Completion> {
        let mut done = Vec::new();
        let Some(s) = &self.socket else {
            return done;
        };
        while let Some(req) = self.sends.front() {
            let res = send_one(s, &req.data, req.to);
            if matches!(&res, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                break;
            }
            let req = self.sends.pop_front().expect("front exists");
            let failure = res.err().map(|e| Failure::from_io(&e));
            done.extend(req.waker.map(|w| (w, failure)));
        }
        done
    }

    /// Closing: everybody waiting, for the loop to tell them ECANCELED.
    pub fn take_waiters(&mut self, registry: &mio::Registry, out: &mut Vec<Waker>) {
        if let Some(s) = &mut self.socket {
            let _ = registry.deregister(s);
        }
        self.recv_cb = None;
        out.extend(self.recv_waiter.take());
        out.extend(self.sends.drain(..).filter_map(|r| r.waker));
    }

    /// Bytes queued to send (`udp_get_send_queue_size`).
    pub fn queued_bytes(&self) -> usize {
        self.sends.iter().map(|r| r.data.len()).sum()
    }
}

fn send_one(s: &mio::net::UdpSocket, data: &[u8], to: Option<SocketAddr>) -> io::Result<()> {
    loop {
        let res = match to {
            Some(addr) => s.send_to(data, addr),
            None => s.send(data),
        };
        match res {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other.map(drop),
        }
    }
}
