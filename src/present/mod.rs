//! How figures are shown, the same on the dashboards and in the printed reports: the words and
//! number formats of each language ([`i18n`]) and the charts ([`charts`], drawn by plotters).
//!
//! Must never: read the store or compute a figure; it receives documents from
//! [`crate::figures`] and turns them into words and pictures.

pub mod charts;
pub mod i18n;
