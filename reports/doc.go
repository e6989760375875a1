// Package reports turns a stored run directory into what people and CI
// systems read: a self-contained report.html and a junit.xml.
//
// Rendering is a pure function of the files in the run directory
// (history.jsonl, results.json, config.json and the node logs under nodes/);
// it never looks at live state and never changes an existing file other than
// the two it owns, which it replaces atomically. Everything that comes from a
// history is escaped by html/template or encoding/xml, and the report loads
// nothing from the network: its only style is inline, its plots are inline
// SVG, and it carries no script.
//
// Large histories are drawn downsampled: operations that fall in the same
// pixel column of the same timeline row are merged into one mark, so the size
// of the report grows with the picture, not with the history. Operations that
// witness an anomaly are always drawn on their own, so every witness has a
// mark on the timeline to link to.
package reports
