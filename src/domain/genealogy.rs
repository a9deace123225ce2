//! Genealogy: which serials, lots and reels went into which unit, at any depth
//! (reel → PCBA → phone), and the two questions quality engineers ask of it.
//!
//! Backward: "what is in this unit?" — a tree from the unit down to lots and reels.
//! Forward: "which units contain this lot?" — every ancestor at any depth, split into
//! *contains* (a path of certain links) and *possibly contains* (only paths through an
//! ambiguous reel change or splice). The store fetches the edges; the rules live here.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{LineId, RecordSeq, SerialNumber, StationId};
use super::record::{Certainty, ConsumedItem};

/// One genealogy link: `parent` consumed `child` at a station visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GenealogyEdge {
    /// The unit that consumed.
    pub parent: SerialNumber,
    /// What the line calls the consumed item ("pcba", "reel").
    pub kind: String,
    /// The consumed item.
    pub child: ConsumedItem,
    /// Reference designators it fed, when known.
    pub ref_designator: Option<String>,
    /// Known or only possible.
    pub certainty: Certainty,
    /// Line of the consuming visit.
    pub line: LineId,
    /// Station of the consuming visit.
    pub station: StationId,
    /// PLC sequence of the consuming visit.
    pub seq: RecordSeq,
    /// When the consuming visit ended.
    pub at: DateTime<Utc>,
}

/// A node of a backward trace tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TraceNode {
    /// What the parent's line calls this item ("pcba", "reel"); "unit" at the root.
    pub kind: String,
    /// The item.
    pub item: ConsumedItem,
    /// Certainty of the whole path from the root: possible if any link on it is.
    pub certainty: Certainty,
    /// The link that brought it in; `None` at the root.
    pub via: Option<GenealogyEdge>,
    /// Items it consumed in turn (only serialised items have children).
    #[schema(no_recursion)]
    pub children: Vec<TraceNode>,
}

impl TraceNode {
    /// Every item in the tree below and including this node, depth first.
    pub fn items(&self) -> Vec<&ConsumedItem> {
        let mut out = vec![&self.item];
        for child in &self.children {
            out.extend(child.items());
        }
        out
    }
}

/// Builds the backward trace tree of `root` from the edges below it (any superset works; edges
/// not reachable from the root are ignored). A cycle in bad data stops at the repeated unit
/// instead of looping.
pub fn backward_tree(root: &SerialNumber, edges: &[GenealogyEdge]) -> TraceNode {
    let mut by_parent: HashMap<&SerialNumber, Vec<&GenealogyEdge>> = HashMap::new();
    for edge in edges {
        by_parent.entry(&edge.parent).or_default().push(edge);
    }
    for list in by_parent.values_mut() {
        list.sort_by(|a, b| (a.at, &a.station, &a.kind, &a.child).cmp(&(b.at, &b.station, &b.kind, &b.child)));
    }
    let mut path = HashSet::new();
    expand(
        TraceNode {
            kind: "unit".into(),
            item: ConsumedItem::Serial(root.clone()),
            certainty: Certainty::Certain,
            via: None,
            children: Vec::new(),
        },
        &by_parent,
        &mut path,
    )
}

fn expand<'a>(
    mut node: TraceNode,
    by_parent: &HashMap<&'a SerialNumber, Vec<&'a GenealogyEdge>>,
    path: &mut HashSet<SerialNumber>,
) -> TraceNode {
    let ConsumedItem::Serial(serial) = &node.item else { return node };
    if !path.insert(serial.clone()) {
        return node;
    }
    if let Some(edges) = by_parent.get(serial) {
        for edge in edges {
            let certainty = node.certainty.max(edge.certainty);
            let child = TraceNode {
                kind: edge.kind.clone(),
                item: edge.child.clone(),
                certainty,
                via: Some((*edge).clone()),
                children: Vec::new(),
            };
            node.children.push(expand(child, by_parent, path));
        }
    }
    path.remove(serial);
    node
}

/// How a unit found by a forward trace relates to the traced item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Containment {
    /// A path of certain links connects them.
    Contains,
    /// Only paths through a possible link (ambiguous reel change or splice).
    PossiblyContains,
}

/// One unit found by a forward trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForwardHit {
    /// The containing unit.
    pub serial: SerialNumber,
    /// Contains or possibly contains.
    pub containment: Containment,
    /// Levels between it and the traced item (1 = consumed it directly).
    pub depth: u32,
}

/// Every unit that contains `start` at any depth, sorted by serial. Takes the edges above the
/// item (any superset works).
pub fn forward_containment(start: &ConsumedItem, edges: &[GenealogyEdge]) -> Vec<ForwardHit> {
    let mut by_child: HashMap<ConsumedItem, Vec<&GenealogyEdge>> = HashMap::new();
    for edge in edges {
        by_child.entry(edge.child.clone()).or_default().push(edge);
    }
    let reach_all = climb(start, &by_child, false);
    let reach_certain = climb(start, &by_child, true);
    let mut hits: Vec<ForwardHit> = reach_all
        .into_iter()
        .map(|(serial, depth)| {
            let containment =
                if reach_certain.contains_key(&serial) { Containment::Contains } else { Containment::PossiblyContains };
            ForwardHit { serial, containment, depth }
        })
        .collect();
    hits.sort_by(|a, b| a.serial.cmp(&b.serial));
    hits
}

/// Breadth-first climb from an item to every parent, shortest depth first.
fn climb(
    start: &ConsumedItem,
    by_child: &HashMap<ConsumedItem, Vec<&GenealogyEdge>>,
    certain_only: bool,
) -> BTreeMap<SerialNumber, u32> {
    let mut seen: BTreeMap<SerialNumber, u32> = BTreeMap::new();
    let mut queue = VecDeque::from([(start.clone(), 0u32)]);
    while let Some((item, depth)) = queue.pop_front() {
        for edge in by_child.get(&item).into_iter().flatten() {
            if certain_only && edge.certainty != Certainty::Certain {
                continue;
            }
            if seen.contains_key(&edge.parent) {
                continue;
            }
            seen.insert(edge.parent.clone(), depth + 1);
            queue.push_back((ConsumedItem::Serial(edge.parent.clone()), depth + 1));
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::LotId;
    use chrono::TimeZone;

    fn serial(s: &str) -> SerialNumber {
        SerialNumber::parse(s).unwrap()
    }

    fn edge(parent: &str, child: ConsumedItem, certainty: Certainty) -> GenealogyEdge {
        GenealogyEdge {
            parent: serial(parent),
            kind: match child {
                ConsumedItem::Serial(_) => "pcba".into(),
                ConsumedItem::Lot(_) => "reel".into(),
            },
            child,
            ref_designator: None,
            certainty,
            line: LineId::parse("l").unwrap(),
            station: StationId::parse("s").unwrap(),
            seq: RecordSeq(1),
            at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        }
    }

    fn reel(id: &str) -> ConsumedItem {
        ConsumedItem::Lot(LotId::parse(id).unwrap())
    }

    fn board(id: &str) -> ConsumedItem {
        ConsumedItem::Serial(serial(id))
    }

    /// reel R1 → PCB1 (certain) → PH1; reel R1 → PCB2 (possible, reel change) → PH2;
    /// reel R2 → PCB2 (possible) ; PCB3 (no R1) → PH3.
    fn plant() -> Vec<GenealogyEdge> {
        vec![
            edge("PCB1", reel("R1"), Certainty::Certain),
            edge("PCB2", reel("R1"), Certainty::Possible),
            edge("PCB2", reel("R2"), Certainty::Possible),
            edge("PCB3", reel("R2"), Certainty::Certain),
            edge("PH1", board("PCB1"), Certainty::Certain),
            edge("PH2", board("PCB2"), Certainty::Certain),
            edge("PH3", board("PCB3"), Certainty::Certain),
        ]
    }

    #[test]
    fn forward_trace_separates_contains_from_possibly_contains() {
        let hits = forward_containment(&reel("R1"), &plant());
        let got: Vec<(&str, Containment, u32)> =
            hits.iter().map(|h| (h.serial.as_str(), h.containment, h.depth)).collect();
        assert_eq!(
            got,
            vec![
                ("PCB1", Containment::Contains, 1),
                ("PCB2", Containment::PossiblyContains, 1),
                ("PH1", Containment::Contains, 2),
                ("PH2", Containment::PossiblyContains, 2),
            ]
        );
    }

    #[test]
    fn a_certain_path_wins_over_a_possible_one() {
        let mut edges = plant();
        edges.push(edge("PH2", board("PCB1"), Certainty::Certain));
        let hits = forward_containment(&reel("R1"), &edges);
        let ph2 = hits.iter().find(|h| h.serial.as_str() == "PH2").unwrap();
        assert_eq!(ph2.containment, Containment::Contains);
    }

    #[test]
    fn backward_tree_walks_every_level_and_marks_possible_paths() {
        let tree = backward_tree(&serial("PH2"), &plant());
        assert_eq!(tree.children.len(), 1);
        let pcb = &tree.children[0];
        assert_eq!(pcb.item, board("PCB2"));
        assert_eq!(pcb.certainty, Certainty::Certain);
        let reels: Vec<_> = pcb.children.iter().map(|n| (n.item.id(), n.certainty)).collect();
        assert_eq!(reels, vec![("R1", Certainty::Possible), ("R2", Certainty::Possible)]);
        assert_eq!(tree.items().len(), 4);
    }

    #[test]
    fn cycles_in_bad_data_terminate() {
        let edges = vec![edge("A", board("B"), Certainty::Certain), edge("B", board("A"), Certainty::Certain)];
        let tree = backward_tree(&serial("A"), &edges);
        assert_eq!(tree.items().len(), 3, "A → B → A stops at the repeat");
        let hits = forward_containment(&board("A"), &edges);
        assert_eq!(hits.len(), 2);
    }
}
