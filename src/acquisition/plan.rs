//! Modbus read planning, without I/O: which requests fetch a set of tags. Adjacent and nearby
//! addresses of one data space are coalesced into as few requests as the protocol allows
//! (≤ 125 registers or ≤ 2000 bits per read), so a station's status costs one round trip.

use plc_contract::codec::{CodecError, TagValue, decode};
use plc_contract::profile::{Address, RegisterSpace, Tag};

/// Most registers one Modbus read may return (function codes 3 and 4).
pub const MAX_REGISTERS: u16 = 125;
/// Most bits one Modbus read may return (function codes 1 and 2).
pub const MAX_BITS: u16 = 2000;
/// Unused registers a request may span to join two tags: reading a few idle registers costs
/// less than a second round trip. Addresses inside one station's map are readable on the
/// PLCs we meet; a PLC that refuses gaps is read with `0` here.
pub const DEFAULT_MAX_GAP: u16 = 16;

/// One read request and the tags it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBlock {
    /// Data space.
    pub space: RegisterSpace,
    /// First address.
    pub start: u16,
    /// Registers or bits to read.
    pub count: u16,
    /// `(index into the planned tags, offset of the tag in the block)`.
    pub members: Vec<(usize, u16)>,
}

/// Plans reads of `tags` (Modbus tags only; others are skipped) with at most `max_gap` unused
/// addresses bridged inside a block.
pub fn plan_reads(tags: &[&Tag], max_gap: u16) -> Vec<ReadBlock> {
    let mut items: Vec<(RegisterSpace, u16, u16, usize)> = tags
        .iter()
        .enumerate()
        .filter_map(|(k, t)| span(t).map(|(space, index, len)| (space, index, len, k)))
        .collect();
    items.sort_by_key(|(space, index, _, k)| (*space, *index, *k));
    let mut blocks: Vec<ReadBlock> = Vec::new();
    for (space, index, len, k) in items {
        let limit = if space.is_bits() { MAX_BITS } else { MAX_REGISTERS };
        let end = u32::from(index) + u32::from(len);
        if let Some(b) = blocks.last_mut()
            && b.space == space
        {
            let block_end = u32::from(b.start) + u32::from(b.count);
            let joined = end.max(block_end) - u32::from(b.start);
            if u32::from(index) <= block_end + u32::from(max_gap) && joined <= u32::from(limit) {
                b.count = u16::try_from(joined).unwrap_or(limit);
                b.members.push((k, index - b.start));
                continue;
            }
        }
        blocks.push(ReadBlock { space, start: index, count: len, members: vec![(k, 0)] });
    }
    blocks
}

/// Where a tag sits, as far as planning is concerned: its space, first address and size.
type Span = (RegisterSpace, u16, u16);

fn span(tag: &Tag) -> Option<Span> {
    match tag.address {
        Address::Modbus { space, index } => Some((space, index, tag.data_type.registers(tag.length))),
        Address::OpcUa(_) => None,
    }
}

/// Plans already made, per station: a collector reads the same few tag lists (status, status
/// with counters, the record) on every poll, so each is planned once, and found again by
/// comparing the tags' spans, which costs less than sorting and coalescing them anew.
///
/// A plan depends on nothing but its tags' spans, so the station key only narrows the search:
/// the driver keys by the station profile's address (no string to compare, no cold heap line
/// per read). A key that comes back for another station (a profile dropped and another made
/// at its address) at worst misses the cache; the spans still decide which plan serves.
#[derive(Debug)]
pub struct PlanCache {
    max_gap: u16,
    /// Per station key, in first-read order.
    stations: Vec<(StationKey, Vec<CachedPlan>)>,
    /// Where the next station is expected: a collector polls its stations in turn, so it is
    /// the one after the last found (one comparison of keys instead of a search per read).
    next: usize,
}

/// Which station's plans to search (see [`PlanCache`]): any value that stays the same for a
/// station while the cache lives.
pub type StationKey = usize;

/// A planned tag list: the tags' spans and the blocks that read them.
type CachedPlan = (Vec<Option<Span>>, std::sync::Arc<[ReadBlock]>);

/// Tag lists kept per station; a station's polls use three or four.
const PLANS_PER_STATION: usize = 8;

impl PlanCache {
    /// An empty cache planning with at most `max_gap` unused addresses bridged.
    pub fn new(max_gap: u16) -> Self {
        Self { max_gap, stations: Vec::new(), next: 0 }
    }

    /// The plan of `tags` for `station`, made on first use.
    pub fn plan(&mut self, station: StationKey, tags: &[&Tag]) -> std::sync::Arc<[ReadBlock]> {
        let k = match self.stations.get(self.next) {
            Some((key, _)) if *key == station => self.next,
            _ => match self.stations.iter().position(|(key, _)| *key == station) {
                Some(k) => k,
                None => {
                    self.stations.push((station, Vec::new()));
                    self.stations.len() - 1
                }
            },
        };
        self.next = (k + 1) % self.stations.len();
        let plans = &mut self.stations[k].1;
        let same =
            |spans: &[Option<Span>]| spans.len() == tags.len() && spans.iter().zip(tags).all(|(s, t)| *s == span(t));
        if let Some((_, blocks)) = plans.iter().find(|(spans, _)| same(spans)) {
            return blocks.clone();
        }
        let blocks: std::sync::Arc<[ReadBlock]> = plan_reads(tags, self.max_gap).into();
        if plans.len() == PLANS_PER_STATION {
            plans.remove(0);
        }
        plans.push((tags.iter().map(|t| span(t)).collect(), blocks.clone()));
        blocks
    }
}

/// One result per tag, each "not read" until its block is decoded into it.
pub fn undecoded(tags: &[&Tag]) -> Vec<Result<TagValue, CodecError>> {
    tags.iter().map(|t| Err(CodecError::TooShort { data_type: t.data_type, needed: 1, got: 0 })).collect()
}

/// Decodes the tags `block` serves from the words it returned into their places in `out`
/// (the driver decodes each answer as it comes, without keeping the words of every block).
pub fn decode_block(tags: &[&Tag], block: &ReadBlock, data: &[u16], out: &mut [Result<TagValue, CodecError>]) {
    for &(k, offset) in &block.members {
        let (Some(tag), Some(slot)) = (tags.get(k), out.get_mut(k)) else { continue };
        let from = usize::from(offset).min(data.len());
        *slot = decode(&data[from..], tag.data_type, tag.length, tag.byte_order, tag.word_order);
    }
}

#[cfg(test)]
mod tests {
    use plc_contract::codec::{ByteOrder, DataType, WordOrder};

    use super::*;

    /// Decodes every planned tag from the words each block returned, as the driver does block
    /// by block.
    fn decode_blocks(tags: &[&Tag], blocks: &[ReadBlock], words: &[Vec<u16>]) -> Vec<Result<TagValue, CodecError>> {
        let mut out = undecoded(tags);
        for (block, data) in blocks.iter().zip(words) {
            decode_block(tags, block, data, &mut out);
        }
        out
    }

    fn tag(space: RegisterSpace, index: u16, data_type: DataType, length: u16) -> Tag {
        Tag {
            address: Address::Modbus { space, index },
            data_type,
            length,
            scale: 1.0,
            offset: 0.0,
            scan: "default".into(),
            byte_order: ByteOrder::Big,
            word_order: WordOrder::Big,
        }
    }

    const HR: RegisterSpace = RegisterSpace::HoldingRegister;

    #[test]
    fn adjacent_and_near_tags_share_a_request_far_ones_do_not() {
        let a = tag(HR, 12, DataType::U32, 0);
        let b = tag(HR, 0, DataType::U16, 0);
        let c = tag(HR, 16, DataType::String, 16); // 16..32, gap of 2 after `a`
        let d = tag(HR, 300, DataType::U32, 0);
        let e = tag(RegisterSpace::Coil, 5, DataType::Bool, 0);
        let blocks = plan_reads(&[&a, &b, &c, &d, &e], 11);
        assert_eq!(blocks.len(), 3, "{blocks:?}");
        assert_eq!((blocks[0].space, blocks[0].start, blocks[0].count), (RegisterSpace::Coil, 5, 1));
        assert_eq!((blocks[1].start, blocks[1].count), (0, 32));
        assert_eq!(blocks[1].members, vec![(1, 0), (0, 12), (2, 16)]);
        assert_eq!((blocks[2].start, blocks[2].count), (300, 2));
        assert_eq!(plan_reads(&[&a, &b], 10).len(), 2, "a gap of 11 is not bridged with max_gap 10");
    }

    #[test]
    fn a_block_never_exceeds_the_protocol_limit() {
        let tags: Vec<Tag> = (0..40).map(|k| tag(HR, k * 10, DataType::String, 10)).collect();
        let refs: Vec<&Tag> = tags.iter().collect();
        let blocks = plan_reads(&refs, 16);
        assert!(blocks.iter().all(|b| b.count <= MAX_REGISTERS), "{blocks:?}");
        assert_eq!(blocks.iter().map(|b| b.members.len()).sum::<usize>(), 40);
        assert_eq!(blocks.len(), 4, "400 registers need 4 reads of at most 125 (120 used each)");
        let bits: Vec<Tag> = (0..2500).map(|k| tag(RegisterSpace::DiscreteInput, k, DataType::Bool, 0)).collect();
        let refs: Vec<&Tag> = bits.iter().collect();
        let counts: Vec<u16> = plan_reads(&refs, 0).iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![2000, 500]);
    }

    #[test]
    fn a_cached_plan_is_the_plan_of_the_same_spans_and_a_changed_list_is_planned_anew() {
        let a = tag(HR, 0, DataType::U16, 0);
        let b = tag(HR, 12, DataType::U32, 0);
        let far = tag(HR, 300, DataType::U32, 0);
        let mut cache = PlanCache::new(16);
        let first = cache.plan(1, &[&a, &b]);
        assert_eq!(&*first, plan_reads(&[&a, &b], 16).as_slice());
        let b2 = b.clone(); // another tag at the same place plans the same
        assert!(std::sync::Arc::ptr_eq(&first, &cache.plan(1, &[&a, &b2])));
        assert_eq!(&*cache.plan(1, &[&a, &b, &far]), plan_reads(&[&a, &b, &far], 16).as_slice());
        assert_eq!(
            &*cache.plan(1, &[&b, &a]),
            plan_reads(&[&b, &a], 16).as_slice(),
            "order matters: members index the list"
        );
        let moved = tag(HR, 40, DataType::U32, 0);
        assert_eq!(&*cache.plan(2, &[&a, &moved]), plan_reads(&[&a, &moved], 16).as_slice());
        // Each station keeps its plans, found again whichever station was read before.
        assert!(std::sync::Arc::ptr_eq(&first, &cache.plan(1, &[&a, &b])));
        let s2 = cache.plan(2, &[&a, &moved]);
        assert!(std::sync::Arc::ptr_eq(&s2, &cache.plan(2, &[&a, &moved])));
        assert_eq!(&*cache.plan(3, &[&a, &b]), &*first, "a new station after the others plans its own");
    }

    #[test]
    fn blocks_decode_back_to_each_tag_and_a_short_answer_fails_only_its_tags() {
        let seq = tag(HR, 12, DataType::U32, 0);
        let state = tag(HR, 0, DataType::U16, 0);
        let far = tag(HR, 200, DataType::U16, 0);
        let tags = [&seq, &state, &far];
        let blocks = plan_reads(&tags, 16);
        let mut first = vec![0u16; 14];
        first[0] = 2;
        first[12] = 0x0001;
        first[13] = 0x0002;
        let values = decode_blocks(&tags, &blocks, &[first, vec![]]);
        assert_eq!(values[0], Ok(TagValue::Int(0x0001_0002)));
        assert_eq!(values[1], Ok(TagValue::Int(2)));
        assert!(values[2].is_err(), "an empty answer for the far block fails that tag only");
    }
}
