// SPDX-License-Identifier: GPL-2.0
//! The doorbell page: send doorbells that need no request.
//!
//! A provider that posts work requests through mapped queues still has to
//! tell the device when the send queue has work (rxe: a zero-WR
//! `post_send`). Carrying that as a `Kick` request costs a trip through the
//! command ring and the backend's service thread for every send. With the
//! doorbell page (feature [`FEATURE_DOORBELL_PAGE`]) the frontend sets the
//! QP's bit instead and notifies only if the backend has not yet been told;
//! the backend takes all set bits in its notification handler and rings
//! the real device at once.
//!
//! Layout of the 4096-byte page, as little-endian 64-bit words:
//!
//! - word 0, the summary: bit `g` (0..63) says group `g` may have bits set;
//! - words 1..8: reserved, zero;
//! - group `g` is words `8 + 8g ..= 15 + 8g`; bit `b` of word `8 + 8g + k`
//!   is doorbell `(8g + k) * 64 + b`.
//!
//! A QP's doorbell number is its `user_handle` in `CreateQp`, which must
//! then be below [`MAX_DOORBELLS`]; the backend ignores bits that name no
//! QP of this frontend. Setting: the bit, then the summary bit (both atomic
//! OR); notify iff the summary bit was clear. Taking: swap the summary with
//! zero, then swap each word of each flagged group with zero. A bit set
//! after its word was taken also sets a summary bit the backend has
//! already cleared, so the frontend notifies again: no doorbell is lost.
//!
//! [`FEATURE_DOORBELL_PAGE`]: super::wire::FEATURE_DOORBELL_PAGE

/// Words in the page.
pub const WORDS: usize = 512;
/// First word of the bitmap.
pub const FIRST_WORD: usize = 8;
/// Words per summary bit.
pub const GROUP_WORDS: usize = 8;
/// Summary bits in use.
pub const GROUPS: usize = (WORDS - FIRST_WORD) / GROUP_WORDS;
/// Doorbells one page holds.
pub const MAX_DOORBELLS: u32 = (GROUPS * GROUP_WORDS * 64) as u32;

/// Where doorbell `n` lives: (word index, bit in the word, summary bit).
pub fn locate(n: u32) -> Option<(usize, u32, u32)> {
    if n >= MAX_DOORBELLS {
        return None;
    }
    let word = (n / 64) as usize;
    let group = word / GROUP_WORDS;
    Some((FIRST_WORD + word, n % 64, group as u32))
}

/// The doorbell a (word, bit) pair names, if the word is in the bitmap.
pub fn number(word: usize, bit: u32) -> Option<u32> {
    if !(FIRST_WORD..FIRST_WORD + GROUPS * GROUP_WORDS).contains(&word) || bit >= 64 {
        return None;
    }
    Some(((word - FIRST_WORD) * 64) as u32 + bit)
}

/// The words summary bit `group` covers.
pub fn group_words(group: u32) -> core::ops::Range<usize> {
    let g = group as usize;
    if g >= GROUPS {
        return 0..0;
    }
    FIRST_WORD + g * GROUP_WORDS..FIRST_WORD + (g + 1) * GROUP_WORDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_doorbell_has_one_place_inside_the_page() {
        let mut seen = [[false; 64]; WORDS];
        for n in 0..MAX_DOORBELLS {
            let (w, b, g) = locate(n).unwrap();
            assert!(w < WORDS && w >= FIRST_WORD);
            assert!(group_words(g).contains(&w));
            assert!(!seen[w][b as usize], "doorbell {n} collides");
            seen[w][b as usize] = true;
            assert_eq!(number(w, b), Some(n));
        }
        assert_eq!(locate(MAX_DOORBELLS), None);
        assert_eq!(locate(u32::MAX), None);
        assert!(GROUPS < 64, "the summary is one word");
    }

    #[test]
    fn out_of_range_is_refused() {
        assert_eq!(number(0, 0), None);
        assert_eq!(number(FIRST_WORD - 1, 63), None);
        assert_eq!(number(WORDS, 0), None);
        assert_eq!(number(FIRST_WORD, 64), None);
        assert!(group_words(GROUPS as u32).is_empty());
        assert!(group_words(u32::MAX).is_empty());
    }
}
