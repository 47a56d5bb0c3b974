//! The Q2T and ThirdParty APIs (api.md §3, §4): types and typed clients.
