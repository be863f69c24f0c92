//! The event queue: ordered by `(time, insertion counter)`, so ties never depend on memory
//! layout or on anything but the order events were scheduled in.
//!
//! The heap holds small keys; events wait in a slab beside it, so sifting the heap moves 24
//! bytes instead of a whole message.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::ids::SimTime;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    at: SimTime,
    counter: u64,
    slot: u32,
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    /// Reversed, so the max-heap pops the earliest `(at, counter)` first. Counters are unique,
    /// so the slot never decides.
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.counter).cmp(&(self.at, self.counter))
    }
}

/// A deterministic priority queue of events.
pub struct EventQueue<E> {
    heap: BinaryHeap<Key>,
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

    /// Schedule `event` at `at`; among events at the same time, earlier pushes pop first.
    #[inline]
    pub fn push(&mut self, at: SimTime, event: E) {
        let counter = self.counter;
        self.counter += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 queued events");
                self.slots.push(Some(event));
                slot
            }
        };
        self.heap.push(Key { at, counter, slot });
    }

    /// The earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let key = self.heap.pop()?;
        let event = self.slots[key.slot as usize]
            .take()
            .expect("a queued key's slot holds its event");
        self.free.push(key.slot);
        Some((key.at, event))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
