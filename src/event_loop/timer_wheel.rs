//! A hierarchical timer wheel: O(1) insert and cancel, FIFO for equal deadlines.
//!
//! Time is counted in whole milliseconds. The wheel has [`LEVELS`] levels of 64 slots.
//! A slot on level `l` covers `64^l` ms, so level 0 holds the timers due in the current
//! 64 ms block one millisecond per slot, level 1 the current 4 s block 64 ms per slot,
//! and so on up to level 5 (about 795 days). A deadline further away is parked in the
//! top level and re-filed whenever its slot comes round.
//!
//! Entries live in a slab and each slot is an intrusive doubly linked list of slab keys,
//! which is what makes both insert (append at the tail) and cancel (unlink) O(1).
//! A bitmap per level says which slots hold anything, so finding the next timer is a
//! `trailing_zeros` per level rather than a scan.
//!
//! When time reaches a slot on a higher level, its entries "cascade": they are filed
//! again, relative to the new time, into a lower level. Cascading can put an old timer
//! behind a newer one with the same deadline, so every entry carries a sequence number
//! and a level-0 slot is sorted by it when it fires (it almost always already is).

use slab::Slab;

const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// The furthest a deadline may be filed ahead of `elapsed`; see `insert`.
const MAX_AHEAD: u64 =
    (1 << (SLOT_BITS * LEVELS as u32)) - (1 << (SLOT_BITS * (LEVELS as u32 - 1)));
const NIL: usize = usize::MAX;

/// A key returned by [`TimerWheel::insert`], needed to cancel the entry. It carries the
/// entry's sequence number, so a key whose entry already fired cannot cancel a later
/// entry that reused the same slab slot.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct EntryKey {
    key: usize,
    seq: u64,
}

struct Entry<T> {
    deadline: u64,
    seq: u64,
    prev: usize,
    next: usize,
    level: u8,
    slot: u8,
    value: T,
}

#[derive(Copy, Clone)]
struct List {
    head: usize,
    tail: usize,
}

pub struct TimerWheel<T> {
    entries: Slab<Entry<T>>,
    slots: [[List; SLOTS]; LEVELS],
    occupied: [u64; LEVELS],
    /// The wheel's notion of "now": every slot before it has been processed.
    elapsed: u64,
    next_seq: u64,
}

impl<T: Copy> Default for TimerWheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy> TimerWheel<T> {
    pub fn new() -> Self {
        TimerWheel {
            entries: Slab::new(),
            slots: [[List {
                head: NIL,
                tail: NIL,
            }; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            elapsed: 0,
            next_seq: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Files `value` to fire at `deadline` (ms). A deadline already past fires at the
    /// next [`poll_expired`](Self::poll_expired).
    pub fn insert(&mut self, deadline: u64, value: T) -> EntryKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.entries.insert(Entry {
            deadline,
            seq,
            prev: NIL,
            next: NIL,
            level: 0,
            slot: 0,
            value,
        });
        self.file(key);
        EntryKey { key, seq }
    }

    /// Removes an entry that has not fired yet. Returns its value, or None if the key
    /// is not (or no longer) in the wheel.
    pub fn cancel(&mut self, key: EntryKey) -> Option<T> {
        if self.entries.get(key.key).is_none_or(|e| e.seq != key.seq) {
            return None;
        }
        self.unlink(key.key);
        Some(self.entries.remove(key.key).value)
    }

    /// The deadline of an entry still in the wheel.
    pub fn deadline(&self, key: EntryKey) -> Option<u64> {
        self.entries
            .get(key.key)
            .filter(|e| e.seq == key.seq)
            .map(|e| e.deadline)
    }

    /// When the next slot falls due: exact for level 0, the start of the slot (a lower
    /// bound, which is safe for a poll timeout) for higher levels.
    pub fn next_expiration(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, at)| at)
    }

    /// Advances the wheel to `now` and appends the values of every entry due by then to
    /// `out`, earliest deadline first and in insertion order for equal deadlines.
    pub fn poll_expired(&mut self, now: u64, out: &mut Vec<T>) {
        let mut batch: Vec<(u64, T)> = Vec::new();
        while let Some((level, slot, at)) = self.next_slot() {
            if at > now {
                break;
            }
            self.elapsed = self.elapsed.max(at);
            let list = std::mem::replace(
                &mut self.slots[level][slot],
                List {
                    head: NIL,
                    tail: NIL,
                },
            );
            self.occupied[level] &= !(1u64 << slot);
            let mut cur = list.head;
            if level == 0 {
                batch.clear();
                while cur != NIL {
                    let e = self.entries.remove(cur);
                    batch.push((e.seq, e.value));
                    cur = e.next;
                }
                if !batch.windows(2).all(|w| w[0].0 < w[1].0) {
                    batch.sort_unstable_by_key(|&(seq, _)| seq);
                }
                out.extend(batch.iter().map(|&(_, v)| v));
            } else {
                // Cascade: re-file each entry relative to the new `elapsed`.
                while cur != NIL {
                    let next = self.entries[cur].next;
                    self.file(cur);
                    cur = next;
                }
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// Puts entry `key` at the tail of the slot its deadline belongs to, seen from `elapsed`.
    fn file(&mut self, key: usize) {
        let deadline = self.entries[key].deadline.max(self.elapsed);
        // Park far deadlines in the top level, one slot behind the current one, so the
        // slot comes round (and re-files them) before the deadline does.
        let placed = deadline.min(self.elapsed + MAX_AHEAD);
        // The level is given by the highest bit in which `placed` and `elapsed` differ.
        let diff = (placed ^ self.elapsed) | (SLOTS as u64 - 1);
        let significant = 63 - diff.leading_zeros();
        let level = ((significant / SLOT_BITS) as usize).min(LEVELS - 1);
        let slot = ((placed >> (SLOT_BITS * level as u32)) as usize) & (SLOTS - 1);

        let list = &mut self.slots[level][slot];
        let tail = list.tail;
        if tail == NIL {
            list.head = key;
        } else {
            self.entries[tail].next = key;
        }
        list.tail = key;
        let e = &mut self.entries[key];
        e.prev = tail;
        e.next = NIL;
        e.level = level as u8;
        e.slot = slot as u8;
        self.occupied[level] |= 1u64 << slot;
    }

    fn unlink(&mut self, key: usize) {
        let (prev, next, level, slot) = {
            let e = &self.entries[key];
            (e.prev, e.next, e.level as usize, e.slot as usize)
        };
        if prev == NIL {
            self.slots[level][slot].head = next;
        } else {
            self.entries[prev].next = next;
        }
        if next == NIL {
            self.slots[level][slot].tail = prev;
        } else {
            self.entries[next].prev = prev;
        }
        if self.slots[level][slot].head == NIL {
            self.occupied[level] &= !(1u64 << slot);
        }
    }

    /// The earliest occupied slot as (level, slot, start time). Every entry on level `l`
    /// lies in the current `64^(l+1)` block but outside the current `64^l` block, so the
    /// lowest non-empty level always holds the earliest entries.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for level in 0..LEVELS {
            let bits = self.occupied[level];
            if bits == 0 {
                continue;
            }
            let shift = SLOT_BITS * level as u32;
            let pos = ((self.elapsed >> shift) as usize) & (SLOTS - 1);
            let slot = (pos + bits.rotate_right(pos as u32).trailing_zeros() as usize) % SLOTS;
            let level_span = 1u64 << (shift + SLOT_BITS);
            let block = self.elapsed & !(level_span - 1);
            let mut at = block + ((slot as u64) << shift);
            if slot < pos {
                // Only the top level wraps: its parked entries sit behind the current slot.
                at += level_span;
            }
            return Some((level, slot, at.max(self.elapsed)));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire_all(w: &mut TimerWheel<u32>, until: u64) -> Vec<(u64, u32)> {
        // Steps the way the event loop does: jump to the next expiration each time.
        let mut fired = Vec::new();
        let mut out = Vec::new();
        while let Some(at) = w.next_expiration() {
            if at > until {
                break;
            }
            w.poll_expired(at, &mut out);
            fired.extend(out.drain(..).map(|v| (at, v)));
        }
        fired
    }

    #[test]
    fn fires_in_deadline_order() {
        let mut w = TimerWheel::new();
        for (i, d) in [500u64, 3, 70, 4100, 64, 0, 1].iter().enumerate() {
            w.insert(*d, i as u32);
        }
        let fired = fire_all(&mut w, u64::MAX);
        let order: Vec<u64> = fired.iter().map(|f| f.0).collect();
        assert_eq!(order, vec![0, 1, 3, 64, 70, 500, 4100]);
        assert!(w.is_empty());
    }

    #[test]
    fn equal_deadlines_fire_fifo_even_across_cascades() {
        let mut w = TimerWheel::new();
        // Filed at time 0 on level 2 ...
        w.insert(5000, 1);
        let mut out = Vec::new();
        w.poll_expired(4990, &mut out);
        assert!(out.is_empty());
        // ... and a later one with the same deadline filed straight into level 0.
        w.insert(5000, 2);
        w.insert(5000, 3);
        w.poll_expired(5000, &mut out);
        assert_eq!(out, vec![1, 2, 3]);
    }

    #[test]
    fn fifo_for_many_equal_deadlines() {
        let mut w = TimerWheel::new();
        for i in 0..1000 {
            w.insert(10_000, i);
        }
        let mut out = Vec::new();
        w.poll_expired(10_000, &mut out);
        assert_eq!(out, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn cancel_is_exact() {
        let mut w = TimerWheel::new();
        let a = w.insert(10, 1);
        let b = w.insert(10, 2);
        let c = w.insert(10, 3);
        assert_eq!(w.cancel(b), Some(2));
        assert_eq!(w.cancel(b), None);
        let mut out = Vec::new();
        w.poll_expired(10, &mut out);
        assert_eq!(out, vec![1, 3]);
        assert_eq!(w.cancel(a), None);
        assert_eq!(w.cancel(c), None);
    }

    #[test]
    fn a_fired_key_cannot_cancel_a_reused_slot() {
        let mut w = TimerWheel::new();
        let a = w.insert(5, 1);
        let mut out = Vec::new();
        w.poll_expired(5, &mut out);
        let b = w.insert(9, 2); // reuses a's slab slot
        assert_eq!(w.cancel(a), None);
        assert_eq!(w.deadline(b), Some(9));
        assert_eq!(w.cancel(b), Some(2));
    }

    #[test]
    fn cancel_head_middle_tail_keeps_list_intact() {
        let mut w = TimerWheel::new();
        let keys: Vec<_> = (0..5).map(|i| w.insert(200, i)).collect();
        w.cancel(keys[0]);
        w.cancel(keys[4]);
        w.cancel(keys[2]);
        let fired: Vec<u32> = fire_all(&mut w, 1000).into_iter().map(|f| f.1).collect();
        assert_eq!(fired, vec![1, 3]);
    }

    #[test]
    fn zero_delay_and_past_deadlines_fire_at_next_poll() {
        let mut w = TimerWheel::new();
        let mut out = Vec::new();
        w.poll_expired(1000, &mut out);
        w.insert(1000, 1); // due now
        w.insert(10, 2); // already past
        assert_eq!(w.next_expiration(), Some(1000));
        w.poll_expired(1000, &mut out);
        assert_eq!(out, vec![1, 2]);
    }

    #[test]
    fn rearm_after_firing() {
        let mut w = TimerWheel::new();
        let mut out = Vec::new();
        let mut now = 0;
        w.insert(now + 7, 9);
        for _ in 0..100 {
            // next_expiration may name a higher-level slot's start (a lower bound):
            // polling there cascades, and the next call names the exact deadline.
            while out.is_empty() {
                now = w.next_expiration().unwrap();
                w.poll_expired(now, &mut out);
            }
            assert_eq!(out.pop(), Some(9));
            w.insert(now + 7, 9);
        }
        assert_eq!(now, 700);
    }

    #[test]
    fn huge_delays_stay_parked_until_due() {
        let mut w = TimerWheel::new();
        let far = 1u64 << 40; // beyond the wheel's range
        w.insert(far, 1);
        w.insert(u64::MAX / 2, 2);
        w.insert(100, 3);
        let mut out = Vec::new();
        w.poll_expired(100, &mut out);
        assert_eq!(out, vec![3]);
        // Jump close to the deadline the way the loop would, re-filing as slots come round.
        let mut steps = 0;
        while let Some(at) = w.next_expiration() {
            if at > far {
                break;
            }
            w.poll_expired(at, &mut out);
            steps += 1;
            assert!(steps < 10_000);
        }
        assert_eq!(out, vec![3, 1]);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn next_expiration_never_overshoots() {
        // A pseudo-random mix: the reported expiration must never be later than the
        // earliest real deadline, or the loop would sleep through a timer.
        let mut w = TimerWheel::new();
        let mut x: u64 = 12345;
        let mut now = 0;
        let mut deadlines = Vec::new();
        let mut out = Vec::new();
        for round in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let d = now + x % 100_000;
            w.insert(d, round);
            deadlines.push(d);
            if round % 3 == 0 {
                let next = w.next_expiration().unwrap();
                let min = *deadlines.iter().min().unwrap();
                assert!(next <= min, "next {next} > earliest {min}");
                now = next;
                w.poll_expired(now, &mut out);
                deadlines.retain(|&d| d > now);
                assert_eq!(w.len(), deadlines.len());
            }
        }
    }
}
