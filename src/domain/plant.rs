//! The master data of a plant in one value: what a profile set or the sample generator declares
//! and the store registers before any record arrives.

use serde::{Deserialize, Serialize};

use super::equipment::{Area, Line, Site};
use super::product::{Product, Route, WorkOrder};

/// Site, areas, lines with their stations, products, routes and work orders.
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
}
