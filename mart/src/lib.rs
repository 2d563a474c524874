//! `mart`: data sets, attacks, defenses, training and evaluation of robust models.
pub mod attack;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod data;
pub mod defense;
pub mod device;
pub mod distributed;
pub mod eval;
pub mod objective;
pub mod paper;
pub mod progress;
pub mod report;
pub mod train;
