//! Handles ("luv_handles"): everything the loop watches lives in one slab.
//!
//! A handle's slab key doubles as its mio `Token`, so a readiness event leads straight
//! to its handle. Keys are reused after a handle is freed, so the id that Lua holds is
//! the pair (key, generation): a stale id whose slot was reused fails the generation
//! check instead of reaching somebody else's socket.
//!
//! The slab is generic over what a handle holds (`K`): the loop's `Kind` (mod.rs),
//! which names every kind, so that this file and the kinds' own files need not know
//! each other.

use slab::Slab;

use super::waker::LuaRef;

/// What Lua holds: a slab key plus the generation the slot had when the handle was made.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandleId {
    pub key: usize,
    pub gen: u32,
}

pub struct Handle<K> {
    pub gen: u32,
    /// Active handles keep the loop alive (when referenced); see `Handles::set_active`.
    active: bool,
    referenced: bool,
    pub closing: bool,
    pub close_cb: Option<LuaRef>,
    pub kind: K,
}

/// The slab of handles plus the count that decides whether the loop is alive.
pub struct Handles<K> {
    slab: Slab<Handle<K>>,
    next_gen: u32,
    active_refs: usize,
}

impl<K> Default for Handles<K> {
    fn default() -> Self {
        Handles {
            slab: Slab::new(),
            next_gen: 1,
            active_refs: 0,
        }
    }
}

impl<K> Handles<K> {
    pub fn insert(&mut self, kind: K) -> HandleId {
        let gen = self.next_gen;
        self.next_gen = self.next_gen.wrapping_add(1).max(1);
        let key = self.slab.insert(Handle {
            gen,
            active: false,
            referenced: true,
            closing: false,
            close_cb: None,
            kind,
        });
        HandleId { key, gen }
    }

    /// The live (not closing) handle with this id, if there is one.
    pub fn get(&self, id: HandleId) -> Option<&Handle<K>> {
        self.slab
            .get(id.key)
            .filter(|h| h.gen == id.gen && !h.closing)
    }

    pub fn get_mut(&mut self, id: HandleId) -> Option<&mut Handle<K>> {
        self.slab
            .get_mut(id.key)
            .filter(|h| h.gen == id.gen && !h.closing)
    }

    /// Like `get`, but also finds a handle that is closing (for is_closing and friends).
    pub fn get_any(&self, id: HandleId) -> Option<&Handle<K>> {
        self.slab.get(id.key).filter(|h| h.gen == id.gen)
    }

    /// The handle registered under a mio token, with its id.
    pub fn by_token(&self, key: usize) -> Option<HandleId> {
        self.slab
            .get(key)
            .filter(|h| !h.closing)
            .map(|h| HandleId { key, gen: h.gen })
    }

    /// The one place the alive count changes: a handle counts while active and referenced.
    pub fn set_active(&mut self, id: HandleId, active: bool) {
        if let Some(h) = self.slab.get_mut(id.key).filter(|h| h.gen == id.gen) {
            if h.active != active {
                h.active = active;
                if h.referenced {
                    if active {
                        self.active_refs += 1;
                    } else {
                        self.active_refs -= 1;
                    }
                }
            }
        }
    }

    pub fn set_ref(&mut self, id: HandleId, referenced: bool) {
        if let Some(h) = self.slab.get_mut(id.key).filter(|h| h.gen == id.gen) {
            if h.referenced != referenced {
                h.referenced = referenced;
                if h.active {
                    if referenced {
                        self.active_refs += 1;
                    } else {
                        self.active_refs -= 1;
                    }
                }
            }
        }
    }

    pub fn is_active(&self, id: HandleId) -> bool {
        self.get(id).is_some_and(|h| h.active)
    }

    pub fn has_ref(&self, id: HandleId) -> bool {
        self.get_any(id).is_some_and(|h| h.referenced)
    }

    pub fn active_refs(&self) -> usize {
        self.active_refs
    }

    /// Marks a handle closing (it stops counting as active). Returns false if it was
    /// already closing or gone.
    pub fn mark_closing(&mut self, id: HandleId, cb: Option<LuaRef>) -> bool {
        if self.get(id).is_none() {
            return false;
        }
        self.set_active(id, false);
        let h = &mut self.slab[id.key];
        h.closing = true;
        h.close_cb = cb;
        true
    }

    /// Frees the slot of a closing handle (the closing phase), returning it.
    pub fn remove(&mut self, id: HandleId) -> Option<Handle<K>> {
        if self.slab.get(id.key).is_some_and(|h| h.gen == id.gen) {
            Some(self.slab.remove(id.key))
        } else {
            None
        }
    }

    /// Ids of every handle, closing ones included, for `uv.walk`.
    pub fn ids(&self) -> Vec<HandleId> {
        self.slab
            .iter()
            .map(|(key, h)| HandleId { key, gen: h.gen })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_id_cannot_reach_a_reused_slot() {
        let mut hs = Handles::<()>::default();
        let a = hs.insert(());
        assert!(hs.mark_closing(a, None));
        assert!(hs.get(a).is_none(), "a closing handle is not live");
        assert!(hs.get_any(a).is_some());
        hs.remove(a).unwrap();
        let b = hs.insert(());
        assert_eq!(a.key, b.key, "the slab reuses the slot");
        assert_ne!(a.gen, b.gen);
        assert!(hs.get(a).is_none());
        assert!(hs.get_any(a).is_none());
        assert!(hs.remove(a).is_none());
        assert!(hs.get(b).is_some());
    }

    #[test]
    fn alive_count_follows_active_and_ref() {
        let mut hs = Handles::<()>::default();
        let a = hs.insert(());
        assert_eq!(hs.active_refs(), 0);
        hs.set_active(a, true);
        hs.set_active(a, true);
        assert_eq!(hs.active_refs(), 1);
        hs.set_ref(a, false);
        assert_eq!(hs.active_refs(), 0);
        hs.set_active(a, false);
        hs.set_ref(a, true);
        assert_eq!(hs.active_refs(), 0);
        hs.set_active(a, true);
        assert_eq!(hs.active_refs(), 1);
        hs.mark_closing(a, None);
        assert_eq!(hs.active_refs(), 0);
        assert!(!hs.mark_closing(a, None), "closing twice is refused");
    }
}
