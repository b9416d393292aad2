//! Integration tests: the real `vpn-inventory` binary against the API simulator over real
//! HTTP on loopback, into a fresh database per test.

#[macro_use]
mod support;

mod change_authors;
mod cli;
mod concurrency;
mod drift;
mod drift_random;
mod drift_ux;
mod exact_values;
mod failures;
mod fetch_ahead;
mod forget;
mod hardening;
mod layering;
mod lock_waits;
mod logs;
mod long_ids;
mod metrics;
mod overlap;
mod points;
mod policy_check;
mod projects;
mod queryable;
mod readers;
mod readme;
mod removals;
mod reports;
mod resume;
mod retries;
mod review;
mod round_trip;
mod schema;
mod schema_22;
mod schema_dump;
mod served_hashes;
mod shared_work;
mod sync;
mod ties;
mod traces_api;
