//! `mart`: data sets, attacks, defenses, training and evaluation of robust models.
pub mod attack;
pub mod defense;
pub mod eval;
pub mod objective;
pub mod report;
