//! In-process tests of the loop: a Lua state with a minimal worker of the tests' own
//! (the pooled coroutines' protocol of lua_lib/init.lua, without lua_lib), driven
//! through `LoopState`'s methods as the bindings drive it.

use std::cell::RefCell;
use std::io::Read;
use std::rc::Rc;
use std::sync::Mutex;

use mlua::{Function, MultiValue, Thread, Value};

use super::phases::{Phase, PhaseHandle};
use super::scheduler::{done_marker, run_marker};
use super::stream::{Stream, Transport};
use super::waker::Waker;
use super::Kind;
use super::{EventLoop, Hooks, LoopState, Task};

/// These tests run one at a time: one of them lowers the process's descriptor limit
/// for a moment, and every loop opens descriptors (epoll's, at least).
static FDS: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    FDS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A loop with a worker that runs (RUN, fn, n, args) as init.lua's does, and an
/// `uncaught` hook that records errors in the global `errors`.
fn event_loop() -> EventLoop {
    let lua = crate::runtime::new_state();
    let state = Rc::new(RefCell::new(LoopState::new().unwrap()));
    let (worker, uncaught): (Function, Function) = lua
        .load(
            r#"
            local DONE, RUN = ...
            errors = {}
            local function worker(run, fn, n, a, b, c)
              while true do
                if run == RUN then
                  if n == 0 then fn()
                  elseif n == 1 then fn(a)
                  elseif n == 2 then fn(a, b)
                  elseif n == 3 then fn(a, b, c)
                  else fn(unpack(a, 1, n)) end
                end
                run, fn, n, a, b, c = coroutine.yield(DONE)
              end
            end
            return worker, function(msg) errors[#errors + 1] = msg end
            "#,
        )
        .call((
            Value::LightUserData(done_marker()),
            Value::LightUserData(run_marker()),
        ))
        .unwrap();
    EventLoop::new(lua, state, Hooks { worker, uncaught }).unwrap()
}

/// A callback waker for `f`, and the Lua function that records its calls in the
/// global list `name`.
fn recorder(ev: &EventLoop, name: &str, tag: &str) -> Waker {
    let f: Function = ev
        .lua
        .load(format!(
            "{name} = {name} or {{}}; return function(...) table.insert({name}, {{ '{tag}', ... }}) end"
        ))
        .eval()
        .unwrap();
    Waker::Callback(Rc::new(ev.lua.create_registry_value(f).unwrap()))
}

/// The tags recorded in global list `name`, in order.
fn recorded(ev: &EventLoop, name: &str) -> Vec<String> {
    let list: Option<mlua::Table> = ev.lua.globals().get(name).unwrap();
    list.map(|l| {
        l.sequence_values::<mlua::Table>()
            .map(|t| t.unwrap().get::<String>(1).unwrap())
            .collect()
    })
    .unwrap_or_default()
}

#[test]
fn phases_run_in_libuv_order() {
    let _fds = one_at_a_time();
    let ev = event_loop();
    let ids: Vec<_> = [Phase::Idle, Phase::Prepare, Phase::Check]
        .into_iter()
        .map(|phase| {
            let mut st = ev.state.borrow_mut();
            let id = st
                .handles
                .insert(Kind::Phase(PhaseHandle { phase, cb: None }));
            drop(st);
            let w = recorder(&ev, "seen", phase.name());
            ev.state.borrow_mut().phase_start(id, w);
            id
        })
        .collect();
    // A timer due at once, and setImmediate's queue.
    let timer = ev
        .state
        .borrow_mut()
        .handles
        .insert(Kind::Timer(Default::default()));
    let w = recorder(&ev, "seen", "timer");
    {
        let mut st = ev.state.borrow_mut();
        if let Some(Kind::Timer(t)) = st.handles.get_mut(timer).map(|h| &mut h.kind) {
            t.waker = Some(w);
        }
        st.arm_timer(timer, 0);
    }
    let imm = recorder(&ev, "seen", "immediate");
    ev.state
        .borrow_mut()
        .immediates
        .push_back(Task::Wake(imm, MultiValue::new()));
    // Stop after the first turn: the check handle's callback closes them all.
    let check_id = ids[2];
    let st = ev.state.clone();
    let stop = ev
        .lua
        .create_function(move |_, ()| {
            let mut st = st.borrow_mut();
            for &id in &ids {
                st.close(id, None);
            }
            Ok(())
        })
        .unwrap();
    ev.lua.globals().set("stop", stop).unwrap();
    let check: Function = ev
        .lua
        .load("return function() table.insert(seen, { 'check' }) stop() end")
        .eval()
        .unwrap();
    let check = Waker::Callback(Rc::new(ev.lua.create_registry_value(check).unwrap()));
    ev.state.borrow_mut().phase_start(check_id, check);
    ev.run().unwrap();
    let errors: mlua::Table = ev.lua.globals().get("errors").unwrap();
    assert_eq!(errors.raw_len(), 0, "{:?}", errors.get::<Option<String>>(1));
    assert_eq!(
        recorded(&ev, "seen"),
        ["timer", "idle", "prepare", "immediate", "check"],
        "timers, idle, prepare, (poll), setImmediate, check"
    );
}

#[test]
fn equal_deadlines_fire_in_order_and_a_cancel_during_the_run_holds() {
    let _fds = one_at_a_time();
    let ev = event_loop();
    let timers: Vec<_> = (0..3)
        .map(|_| {
            ev.state
                .borrow_mut()
                .handles
                .insert(Kind::Timer(Default::default()))
        })
        .collect();
    for (i, &id) in timers.iter().enumerate() {
        let w = recorder(&ev, "fired", &format!("t{i}"));
        let mut st = ev.state.borrow_mut();
        if let Some(Kind::Timer(t)) = st.handles.get_mut(id).map(|h| &mut h.kind) {
            t.waker = Some(w);
        }
        st.arm_timer(id, 5);
    }
    // t0's callback also stops t2, due in the same batch.
    let st = ev.state.clone();
    let third = timers[2];
    let cancel = ev
        .lua
        .create_function(move |_, ()| {
            st.borrow_mut().disarm_timer(third);
            Ok(())
        })
        .unwrap();
    ev.lua.globals().set("cancel", cancel).unwrap();
    let w: Function = ev
        .lua
        .load("return function() table.insert(fired, { 't0' }) cancel() end")
        .eval()
        .unwrap();
    if let Some(Kind::Timer(t)) = ev
        .state
        .borrow_mut()
        .handles
        .get_mut(timers[0])
        .map(|h| &mut h.kind)
    {
        t.waker = Some(Waker::Callback(Rc::new(
            ev.lua.create_registry_value(w).unwrap(),
        )));
    }
    ev.run().unwrap();
    assert_eq!(recorded(&ev, "fired"), ["t0", "t1"]);
}

/// A connected pair of TCP sockets: ours (a stream handle in the loop) and the peer.
fn stream_pair(ev: &EventLoop) -> (super::handle::HandleId, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    let mut st = ev.state.borrow_mut();
    let id = st
        .handles
        .insert(Kind::Stream(Box::new(Stream::new("tcp"))));
    let mut s = mio::net::TcpStream::from_std(server);
    st.poll
        .registry()
        .register(
            &mut s,
            mio::Token(id.key),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        )
        .unwrap();
    st.stream(id).unwrap().transport = Transport::Tcp(s);
    (id, client)
}

#[test]
fn backpressure_the_queue_tells_the_truth_and_an_empty_write_waits_for_it() {
    let _fds = one_at_a_time();
    let ev = event_loop();
    let (id, mut peer) = stream_pair(&ev);
    let big = vec![b'x'; 32 << 20];
    let queued = {
        let w = recorder(&ev, "writes", "big");
        ev.state
            .borrow_mut()
            .stream_write(id, &[&big], Some(w), false)
            .unwrap()
    };
    let queued = queued.expect("a peer that does not read leaves some queued");
    assert!(queued > 0 && queued < big.len());
    assert_eq!(
        ev.state.borrow_mut().stream(id).unwrap().queued_bytes(),
        queued
    );
    // An empty write with data queued before it is queued too, not done.
    let w = recorder(&ev, "writes", "empty");
    let empty = ev
        .state
        .borrow_mut()
        .stream_write::<&[u8]>(id, &[], Some(w), false)
        .unwrap();
    assert_eq!(empty, Some(queued));
    // The peer reads it all (on a thread); the loop flushes; both complete, in order.
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0; 1 << 16];
        let mut total = 0;
        while total < 32 << 20 {
            total += peer.read(&mut buf).unwrap();
        }
        peer
    });
    let st = ev.state.clone();
    // Close the handle once both writes are done, so that the loop ends.
    let close = ev
        .lua
        .create_function(move |lua, ()| {
            let writes: mlua::Table = lua.globals().get("writes")?;
            if writes.raw_len() == 2 {
                st.borrow_mut().close(id, None);
            }
            Ok(())
        })
        .unwrap();
    ev.lua.globals().set("maybe_close", close).unwrap();
    ev.lua
        .load("local t = setmetatable(writes or {}, { __newindex = function(t, k, v) rawset(t, k, v) maybe_close() end }) writes = t")
        .exec()
        .unwrap();
    ev.run().unwrap();
    let _peer = reader.join().unwrap();
    assert_eq!(recorded(&ev, "writes"), ["big", "empty"]);
}

#[test]
fn close_after_flush_sends_everything_queued_then_closes() {
    let _fds = one_at_a_time();
    let ev = event_loop();
    let (id, mut peer) = stream_pair(&ev);
    // More than the socket buffers hold, so that the close has to wait for the flush.
    let big = vec![b'y'; 8 << 20];
    {
        let mut st = ev.state.borrow_mut();
        let queued = st.stream_write(id, &[&big], None, false).unwrap();
        assert!(
            queued.is_some(),
            "a peer that does not read leaves some queued"
        );
        st.close_after_flush(id);
        assert!(st.stream(id).is_some(), "still open while bytes are queued");
    }
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap(); // ends at the FIN the close sends
        got
    });
    ev.run().unwrap();
    let got = reader.join().unwrap();
    assert_eq!(got.len(), big.len());
    assert!(got.iter().all(|&b| b == b'y'));
    assert!(
        ev.state.borrow_mut().stream(id).is_none(),
        "closed once flushed"
    );
    // With nothing queued it closes at once.
    let (id2, _peer2) = stream_pair(&ev);
    ev.state.borrow_mut().close_after_flush(id2);
    assert!(ev.state.borrow_mut().stream(id2).is_none());
}

#[test]
fn close_during_io_cancels_every_pending_request_with_ecanceled() {
    let _fds = one_at_a_time();
    let ev = event_loop();
    let (id, mut peer) = stream_pair(&ev);
    let big = vec![b'x'; 32 << 20];
    let w = recorder(&ev, "done", "write");
    assert!(ev
        .state
        .borrow_mut()
        .stream_write(id, &[&big], Some(w), false)
        .unwrap()
        .is_some());
    let w = recorder(&ev, "done", "shutdown");
    ev.state.borrow_mut().stream(id).unwrap().shutdown = Some(Some(w));
    // A coroutine waiting to read.
    let co: Thread = ev
        .lua
        .create_thread(
            ev.lua
                .load("function(err, code) read_result = { err, code } end")
                .eval()
                .unwrap(),
        )
        .unwrap();
    ev.state.borrow_mut().stream(id).unwrap().read_waiter =
        Some(Waker::Thread(ev.lua.create_registry_value(co).unwrap()));
    assert!(ev.state.borrow_mut().close(id, None));
    assert!(
        !ev.state.borrow_mut().close(id, None),
        "a second close is refused quietly"
    );
    ev.run().unwrap();
    let done: mlua::Table = ev.lua.globals().get("done").unwrap();
    for i in 1..=2 {
        // A callback hears luv's error name alone.
        let call: mlua::Table = done.get(i).unwrap();
        assert_eq!(call.get::<String>(2).unwrap(), "ECANCELED");
        assert!(call.get::<Value>(3).unwrap().is_nil());
    }
    let read: mlua::Table = ev.lua.globals().get("read_result").unwrap();
    assert_eq!(read.get::<String>(2).unwrap(), "ECANCELED");
    // The socket is closed: the peer sees the end (after what reached it).
    peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut sink = Vec::new();
    let _ = peer.read_to_end(&mut sink);
    assert!(sink.len() < big.len());
}

#[test]
fn out_of_descriptors_accept_sheds_waiting_connections_and_recovers() {
    let _fds = one_at_a_time();
    let ev = event_loop();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let id = {
        let mut st = ev.state.borrow_mut();
        let id = st
            .handles
            .insert(Kind::Stream(Box::new(Stream::new("tcp"))));
        st.stream(id).unwrap().transport =
            Transport::TcpListener(mio::net::TcpListener::from_std(listener));
        st.reserve_spare_fd();
        id
    };
    let clients: Vec<_> = (0..5)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    // No descriptor left but the spare: accept fails with EMFILE. (The limit bounds
    // descriptor numbers: it is set to the lowest one free.)
    let open = {
        use std::os::fd::AsRawFd;
        std::fs::File::open("/dev/null").unwrap().as_raw_fd() as u64
    };
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reads and sets this process's limit (restored below).
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut old);
        let low = libc::rlimit {
            rlim_cur: open,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &low), 0);
    }
    let accepted = ev.state.borrow_mut().accept_all(id);
    // SAFETY: as above.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
    assert_eq!(accepted, 0, "no descriptor for any of them");
    // The waiting connections were shed (accepted and closed): each client sees its
    // end, and the listener's queue is empty, so new connections come through.
    for mut c in clients {
        c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut b = [0u8; 1];
        let shed = match c.read(&mut b) {
            Ok(0) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            Ok(_) => false,
        };
        assert!(shed, "a waiting connection was closed, not left hanging");
    }
    let _late = std::net::TcpStream::connect(addr).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(ev.state.borrow_mut().accept_all(id), 1, "accepts again");
    let mut st = ev.state.borrow_mut();
    st.close(id, None);
}

#[test]
fn pool_completions_wake_the_loop() {
    let _fds = one_at_a_time();
    let ev = event_loop();
    let w = recorder(&ev, "pool", "done");
    ev.state
        .borrow_mut()
        .submit(
            || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                21 * 2
            },
            |lua, n: i32| mlua::IntoLuaMulti::into_lua_multi(n, lua),
            w,
        )
        .unwrap();
    let started = std::time::Instant::now();
    // Nothing else keeps the loop alive: the pending request does, and its
    // completion wakes poll (which otherwise waits forever).
    ev.run().unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(50));
    let pool: mlua::Table = ev.lua.globals().get("pool").unwrap();
    let first: mlua::Table = pool.get(1).unwrap();
    assert_eq!(first.get::<i64>(2).unwrap(), 42);
}

#[test]
fn a_callback_gets_exactly_its_arguments() {
    let _fds = one_at_a_time();
    // The worker takes up to three arguments as parameters and more as a list
    // (init.lua): each way, the callback sees its own count and values, nils
    // included.
    let ev = event_loop();
    let f: Function = ev
        .lua
        .load("function(...) seen = { n = select('#', ...), ... } end")
        .eval()
        .unwrap();
    for n in 0..6 {
        let args: Vec<Value> = (0..n)
            .map(|i| {
                if i == 1 {
                    Value::Nil
                } else {
                    Value::Integer(i as i64 + 10)
                }
            })
            .collect();
        ev.call(f.clone(), MultiValue::from_vec(args)).unwrap();
        let seen: mlua::Table = ev.lua.globals().get("seen").unwrap();
        assert_eq!(seen.get::<usize>("n").unwrap(), n, "count of {n} arguments");
        for i in 0..n {
            let v: Option<i64> = seen.raw_get(i + 1).unwrap();
            assert_eq!(
                v,
                (i != 1).then_some(i as i64 + 10),
                "argument {} of {n}",
                i + 1
            );
        }
    }
    // The same coroutine served them all, from the pool.
    assert_eq!(ev.state.borrow().pool.len(), 1);
}

#[test]
fn a_callback_that_waited_is_resumed_by_its_key_and_its_coroutine_pooled() {
    let _fds = one_at_a_time();
    let ev = event_loop();
    let f: Function = ev
        .lua
        .load("function() waiting = coroutine.running(); coroutine.yield(); resumed = true end")
        .eval()
        .unwrap();
    ev.call(f, MultiValue::new()).unwrap();
    // Suspended in its callback: not back in the pool.
    assert_eq!(ev.state.borrow().pool.len(), 0);
    let co: Thread = ev.lua.globals().get("waiting").unwrap();
    let key = ev.lua.create_registry_value(co).unwrap();
    ev.run_one(Task::Wake(Waker::Thread(key), MultiValue::new()))
        .unwrap();
    assert!(ev.lua.globals().get::<bool>("resumed").unwrap());
    // Its callback over, the coroutine went back to the pool.
    assert_eq!(ev.state.borrow().pool.len(), 1);
    // A wake for a coroutine that has finished is stale: nothing runs.
    let done = ev
        .lua
        .create_thread(ev.lua.load("function() end").eval().unwrap())
        .unwrap();
    done.resume::<()>(()).unwrap();
    let key = ev.lua.create_registry_value(done).unwrap();
    ev.run_one(Task::Wake(Waker::Thread(key), MultiValue::new()))
        .unwrap();
    assert_eq!(ev.state.borrow().pool.len(), 1);
}
