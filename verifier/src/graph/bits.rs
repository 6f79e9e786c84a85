//! A fixed-size bit set over port atoms, the edge label of the connectivity graph.

/// A set of indices below a fixed length, stored as 64-bit words.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Bits {
    words: Vec<u64>,
}

impl Bits {
    /// The empty set over `len` indices.
    pub fn empty(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(64)],
        }
    }

    /// The set of every index below `len`.
    pub fn full(len: usize) -> Self {
        let mut bits = Self::empty(len);
        for i in 0..len {
            bits.insert(i);
        }
        bits
    }

    /// A set from its 64-bit words, lowest index first.
    pub fn from_words(words: Vec<u64>) -> Self {
        Self { words }
    }

    pub fn words(&self) -> &[u64] {
        &self.words
    }

    pub fn insert(&mut self, index: usize) {
        if let Some(word) = self.words.get_mut(index / 64) {
            *word |= 1 << (index % 64);
        }
    }

    pub fn contains(&self, index: usize) -> bool {
        self.words
            .get(index / 64)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    pub fn union_with(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    pub fn intersect_with(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    pub fn difference_with(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= !b;
        }
    }

    /// `self & !other`, as a new set.
    pub fn minus(&self, other: &Bits) -> Bits {
        let mut out = self.clone();
        out.difference_with(other);
        out
    }

    /// `self & other`, as a new set.
    pub fn and(&self, other: &Bits) -> Bits {
        let mut out = self.clone();
        out.intersect_with(other);
        out
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(w, word)| {
            (0..64)
                .filter(move |b| word & (1 << b) != 0)
                .map(move |b| w * 64 + b)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_set_operations() {
        let mut a = Bits::empty(130);
        a.insert(1);
        a.insert(129);
        let full = Bits::full(130);
        assert!(full.contains(129));
        assert!(!full.contains(130));
        assert_eq!(full.minus(&a).iter().count(), 128);
        assert_eq!(a.and(&full).iter().collect::<Vec<_>>(), vec![1, 129]);
        assert!(Bits::empty(3).is_empty());
    }
}
