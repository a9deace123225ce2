//! The master data of a plant in one value: what a profile set or the sample generator declares
//! and the store registers before any record arrives.

use serde::{Deserialize, Serialize};

use super::equipment::{Area, Line, Site};
use super::product::{Product, Route, WorkOrder};

/// Site, areas, lines with their stations, products, routes, work orders and the defect
/// catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlantModel {
    /// The site.
    pub site: Site,
    /// Its areas.
    pub areas: Vec<Area>,
    /// Its lines, each with its stations in route order.
    pub lines: Vec<Line>,
    /// Products made.
    pub products: Vec<Product>,
    /// Routes of products on lines.
    pub routes: Vec<Route>,
    /// Work orders.
    pub work_orders: Vec<WorkOrder>,
    /// Readable names of the defect codes the PLCs report.
    #[serde(default)]
    pub defects: Vec<CodeName>,
    /// Readable names of the repair action codes repair benches report.
    #[serde(default)]
    pub repair_actions: Vec<CodeName>,
    /// Downtime reasons with their Vietnamese text.
    #[serde(default)]
    pub fault_reasons: Vec<ReasonName>,
}

/// A downtime reason as PLC profiles name it, with its text on Vietnamese pages: the reason is
/// stored as text with each fault interval, so the text is the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonName {
    /// The reason as recorded ("conveyor jam").
    pub reason: String,
    /// Its Vietnamese text ("kẹt băng tải").
    pub name_vi: String,
}

/// Vietnamese text by recorded reason: what pages and reports look reasons up in.
pub type ReasonNames = std::collections::BTreeMap<String, String>;

/// A code of a catalogue (a defect, a repair action) with its readable name in each language: a
/// PLC reports `MISSING_COMPONENT`; a quality engineer reads "Missing component" / "Thiếu linh kiện".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeName {
    /// The code as PLCs report it.
    pub code: String,
    /// Readable name.
    pub name: String,
    /// Readable name on Vietnamese pages, if one is given.
    #[serde(default)]
    pub name_vi: Option<String>,
}

/// A catalogue by code: what charts and tables look names up in.
pub type CodeNames = std::collections::BTreeMap<String, CodeName>;
