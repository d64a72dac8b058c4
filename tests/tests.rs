//! The integration suite: one binary (link time matters on 2 cores), one throwaway
//! PostgreSQL cluster shared by every test, one fresh database per test.

mod common;

mod api;
mod calibration;
mod cli;
mod indexes;
mod report;
mod schema;
mod seeding;
