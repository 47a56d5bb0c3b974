//! The Q2T and ThirdParty side of the transaction manager: send, receive, raw transactions,
//! signed transactions, deletes and queries (node.md §4.1, api.md §3).
