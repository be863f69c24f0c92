//! The event queue: ordered by `(time, insertion counter)`, so ties never depend on memory
//! layout or on anything but the order events were scheduled in.
//!
//! The heap holds 16-byte keys; events wait in a slab beside it, so sifting the heap moves a
//! key instead of a whole message.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::ids::SimTime;

/// Bits of a key's low word that hold the slot; the insertion counter takes the rest.
const SLOT_BITS: u32 = 24;
const MAX_SLOTS: usize = 1 << SLOT_BITS;

/// `(time, counter, slot)` packed into one integer whose order is `(time, counter)`: the
/// time in the high 64 bits, then the counter, then the slot. Counters are unique, so the
/// slot never decides, and one integer comparison replaces a tuple comparison in the sifts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key(u128);

impl Key {
    #[inline]
    fn new(at: SimTime, counter: u64, slot: u32) -> Key {
        let low = (counter << SLOT_BITS) | u64::from(slot);
        Key((u128::from(at.as_us()) << 64) | u128::from(low))
    }

    #[inline]
    fn at(self) -> SimTime {
        SimTime((self.0 >> 64) as u64)
    }

    #[inline]
    fn slot(self) -> usize {
        (self.0 as u64 & (MAX_SLOTS as u64 - 1)) as usize
    }
}

/// A deterministic priority queue of events.
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<Key>>,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    counter: u64,
}

impl<E> EventQueue<E> {
    pub fn new() -> EventQueue<E> {
        EventQueue {
            heap: BinaryHeap::with_capacity(1024),
            slots: Vec::with_capacity(1024),
            free: Vec::with_capacity(1024),
            counter: 0,
        }
    }

    /// Events queued.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedule `event` at `at`; among events at the same time, earlier pushes pop first.
    #[inline]
    pub fn push(&mut self, at: SimTime, event: E) {
        let counter = self.counter;
        self.counter += 1;
        assert!(
            counter < 1 << (64 - SLOT_BITS),
            "event queue: insertion counter overflow"
        );
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                assert!(
                    self.slots.len() < MAX_SLOTS,
                    "event queue: more than {MAX_SLOTS} events queued at once"
                );
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        };
        self.heap.push(Reverse(Key::new(at, counter, slot)));
    }

    /// The earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let Reverse(key) = self.heap.pop()?;
        let slot = key.slot();
        let event = self.slots[slot]
            .take()
            .expect("a queued key's slot holds its event");
        self.free.push(slot as u32);
        Some((key.at(), event))
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events pop in time order, and in push order at equal times.
    #[test]
    fn pops_by_time_then_insertion() {
        let mut q = EventQueue::new();
        q.push(SimTime(5), "c");
        q.push(SimTime(1), "a");
        q.push(SimTime(5), "d");
        q.push(SimTime(1), "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }
}
