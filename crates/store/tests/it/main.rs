//! Integration tests of the store on a real SQLite file and a real PostgreSQL server.
//!
//! PostgreSQL comes from `TM_TEST_POSTGRES_URL` (default: the server `.ci/postgres.sh`
//! starts). Tests fail, never skip, when it is unreachable.

mod support;

mod async_api;
mod concurrency;
mod failover;
mod outage;
mod party;
mod peer_state;
mod privacy_groups;
mod raw;
mod security;
mod staging;
mod startup;
mod tessera_ddl;
mod transactions;
