//! Idle, prepare and check handles: callbacks the loop runs at fixed points of every
//! turn, as libuv's (`uv.new_idle`, `uv.new_prepare`, `uv.new_check`).
//!
//! - idle runs before poll, and while any is active, poll does not wait;
//! - prepare runs right before poll;
//! - check runs right after the I/O of the turn (with setImmediate).
//!
//! A started handle is active (it keeps the loop alive) until stopped or closed.

use super::handle::HandleId;
use super::waker::Waker;
use super::Kind;
use super::{LoopState, Task};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    Idle = 0,
    Prepare = 1,
    Check = 2,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Prepare => "prepare",
            Phase::Check => "check",
        }
    }
}

/// An idle, prepare or check handle: its phase, and who it wakes while started (a
/// callback, run each turn, or a coroutine, resumed each turn).
pub struct PhaseHandle {
    pub phase: Phase,
    pub cb: Option<Waker>,
}

impl LoopState {
    /// Starts (or restarts with a new callback) a phase handle.
    pub fn phase_start(&mut self, id: HandleId, cb: Waker) {
        let Some(Kind::Phase(p)) = self.handles.get_mut(id).map(|h| &mut h.kind) else {
            return;
        };
        let phase = p.phase;
        let was = p.cb.replace(cb).is_some();
        if !was {
            self.phases[phase as usize].push(id);
        }
        self.handles.set_active(id, true);
    }

    /// Stops a phase handle (also when it closes).
    pub fn phase_stop(&mut self, id: HandleId) {
        let Some(Kind::Phase(p)) = self.handles.get_mut(id).map(|h| &mut h.kind) else {
            return;
        };
        if p.cb.take().is_some() {
            let phase = p.phase;
            self.phases[phase as usize].retain(|&h| h != id);
        }
        self.handles.set_active(id, false);
    }

    /// The handles started for `phase`, in the order they started.
    pub fn phase_ids(&self, phase: Phase) -> Vec<HandleId> {
        self.phases[phase as usize].clone()
    }

    /// The callback of phase handle `id`, if it is (still) started.
    pub fn phase_task(&self, id: HandleId) -> Option<Task> {
        match self.handles.get(id).map(|h| &h.kind) {
            Some(Kind::Phase(p)) => {
                p.cb.as_ref()
                    .and_then(Waker::share)
                    .map(|w| Task::Wake(w, mlua::MultiValue::new()))
            }
            _ => None,
        }
    }

    /// Active idle handles make poll return at once.
    pub fn idling(&self) -> bool {
        !self.phases[Phase::Idle as usize].is_empty()
    }
}
